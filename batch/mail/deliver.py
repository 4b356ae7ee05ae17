"""deliver_receipts: after a run, each receipt goes back to the address its filing came from.

The sender is found in the journal by the file's sha256 (the run moved the file and may have
renamed it). A filing that did not come by e-mail (staff drop, member folder) is left alone.
Each receipt is queued once (keyed by run and receipt) and its journal record marked answered,
then the queue is flushed; what the server does not take now waits for the next call. Nothing
escapes from here: mail must never fail or block the nightly batch.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Mapping

from ..config import Config
from ..home import Home
from ..outcome import FilingOutcome, RunOutcome
from .journal import Journal
from .smtp import FlushResult, flush, sender_of
from .texts import receipt_message

log = logging.getLogger("batch.mail")


@dataclass(frozen=True)
class DeliveryReport:
    queued: tuple[str, ...] = ()           # receipts queued by this call: "收件人：主题"
    not_by_mail: tuple[str, ...] = ()      # filings that did not come by e-mail (inbox names)
    errors: tuple[str, ...] = ()
    flushed: FlushResult = field(default_factory=FlushResult)

    @property
    def sent(self) -> tuple[str, ...]:
        return tuple(self.flushed.sent)

    @property
    def waiting(self) -> tuple[str, ...]:
        """Still in the queue (server down or "try later"): retried on the next call."""
        return tuple(self.flushed.waiting)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(self.flushed.failed)

    def summary(self) -> str:
        lines = [f"回执邮件：本次排队 {len(self.queued)} 封，已发送 {len(self.sent)} 封，"
                 f"待重试 {len(self.waiting)} 封，被拒收 {len(self.failed)} 封"]
        lines += [f"  错误：{e}" for e in (*self.errors, *self.flushed.errors)]
        return "\n".join(lines)


def deliver_receipts(home: Home, config: Config, run: RunOutcome | None, *,
                     environ: Mapping[str, str] | None = None) -> DeliveryReport:
    """Queue this run's receipts for the members who e-mailed their filings, then send everything
    queued (this run's and earlier failures; ``run`` None only retries the queue). Logs and
    reports problems, never raises."""
    try:
        return _deliver(home, config, run, os.environ if environ is None else environ)
    except Exception as error:      # any bug or surprise here must not take the batch down
        log.exception("回执邮件处理出错")
        return DeliveryReport(errors=(f"回执邮件处理出错：{error!r}",))


def _deliver(home: Home, config: Config, run: RunOutcome | None,
             environ: Mapping[str, str]) -> DeliveryReport:
    mail = config.mail
    if not (mail.send_enabled and sender_of(mail)):
        return DeliveryReport(errors=("未配置发件服务器或发件地址（reguarantee.toml [mail] "
                                      "smtp_host、sender），回执未通过邮件发送",))
    journal = Journal(home.root)
    queued, not_by_mail, errors = (_queue_run(home, journal, run, sender_of(mail))
                                   if run is not None else ([], [], []))
    return DeliveryReport(tuple(queued), tuple(not_by_mail), tuple(errors),
                          flush(journal, mail, environ))


def _queue_run(home: Home, journal: Journal, run: RunOutcome,
               sender: str) -> tuple[list[str], list[str], list[str]]:
    """Each filing's receipt queued for whoever e-mailed it: (queued, not by mail, errors)."""
    queued: list[str] = []
    not_by_mail: list[str] = []
    errors: list[str] = []
    for filing in run.filings:
        try:
            label = _queue_receipt(home, journal, run, filing, sender)
        except OSError as error:
            errors.append(f"{filing.path} 的回执无法读取：{error}")
            log.error("回执无法读取：%s：%s", filing.path, error)
            continue
        (queued if label else not_by_mail).append(label or filing.path)
    return queued, not_by_mail, errors


def _queue_receipt(home: Home, journal: Journal, run: RunOutcome, filing: FilingOutcome,
                   sender: str) -> str:
    """Queue one filing's receipt; "" when the filing did not come by mail (or was answered)."""
    saved = journal.unanswered(filing.filing.sha256, filing.path)
    if saved is None or not filing.receipt:
        return ""
    receipt = home.outbox / run.run_id / filing.receipt
    name = PurePosixPath(filing.receipt).name
    msg = receipt_message(filing, saved, run, receipt.read_bytes(), name, sender)
    subject = str(msg["Subject"])
    journal.enqueue(f"receipt:{run.run_id}/{filing.receipt}", saved.sender, subject,
                    msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
    journal.answered(saved, run.run_id)
    return f"{saved.sender}：{subject}"
