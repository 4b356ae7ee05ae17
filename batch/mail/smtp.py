"""Sending: everything goes through the queue in the journal, then the queue is flushed.

A message is queued first and sent second, so a server that is down, slow or says "try later"
(4xx) costs nothing: the message waits for the next flush. Only a permanent refusal (5xx for the
recipient or the message) stops the retries. Nothing here raises: the batch must never fail or
wait on mail.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from typing import Mapping

from ..config import Mail
from .journal import Journal, Outgoing

log = logging.getLogger("batch.mail")
TIMEOUT_SECONDS = 60


@dataclass
class FlushResult:
    sent: list[str] = field(default_factory=list)       # "recipient：subject"
    failed: list[str] = field(default_factory=list)     # refused for good
    waiting: list[str] = field(default_factory=list)    # still queued for the next try
    errors: list[str] = field(default_factory=list)


def sender_of(mail: Mail) -> str:
    """Our From: address: the configured sender, else the SMTP login."""
    return mail.sender or mail.smtp_user


def _connect(mail: Mail, password: str) -> smtplib.SMTP:
    if mail.smtp_security not in ("tls", "starttls", "none"):
        raise ValueError(f"smtp_security 应为 tls、starttls 或 none，而不是「{mail.smtp_security}」")
    context = ssl.create_default_context()
    if mail.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(mail.smtp_host, mail.smtp_port,
                                              timeout=TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=TIMEOUT_SECONDS)
    try:
        if mail.smtp_security == "starttls":
            smtp.starttls(context=context)
        if mail.smtp_user:
            smtp.login(mail.smtp_user, password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def flush(journal: Journal, mail: Mail, environ: Mapping[str, str]) -> FlushResult:
    """Try every queued message once, oldest first, over one connection."""
    result = FlushResult()
    queue = journal.queued()
    if not queue:
        return result
    sender = sender_of(mail)
    if not mail.send_enabled or not sender:
        result.waiting = [_label(item) for item in queue]
        result.errors.append("未配置发件服务器或发件地址（reguarantee.toml [mail] smtp_host、"
                             "sender），邮件暂存待发")
        return result
    try:
        smtp = _connect(mail, environ.get(mail.smtp_password_env, ""))
    except (OSError, smtplib.SMTPException, ValueError) as error:
        where = f"{mail.smtp_host}:{mail.smtp_port}"
        _all_wait(journal, queue, result, f"无法连接发件服务器 {where}：{error}")
        return result
    try:
        for item in queue:
            _send_one(smtp, journal, item, sender, result)
    finally:
        _quit(smtp)
    return result


def _send_one(smtp: smtplib.SMTP, journal: Journal, item: Outgoing, sender: str,
              result: FlushResult) -> None:
    try:
        refused = smtp.sendmail(sender, [item.recipient], item.message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _msg in error.recipients.values()]
        _failed(journal, item, result, f"收件人被拒绝：{error.recipients}", all(c >= 500 for c in codes))
        return
    except smtplib.SMTPSenderRefused as error:       # our own address: a setting to fix, retry
        _failed(journal, item, result, f"发件地址被拒绝：{error.smtp_code} {error.smtp_error!r}", False)
        return
    except smtplib.SMTPResponseException as error:
        text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) \
            else str(error.smtp_error)
        _failed(journal, item, result, f"{error.smtp_code} {text}", error.smtp_code >= 500)
        return
    except (OSError, smtplib.SMTPException) as error:
        _failed(journal, item, result, str(error), False)
        return
    if refused:
        _failed(journal, item, result, f"收件人被拒绝：{refused}", True)
        return
    journal.sent(item)
    result.sent.append(_label(item))
    log.info("已发送邮件：%s", _label(item))


def _failed(journal: Journal, item: Outgoing, result: FlushResult, error: str,
            permanent: bool) -> None:
    journal.attempt_failed(item, error, permanent)
    (result.failed if permanent else result.waiting).append(_label(item))
    result.errors.append(f"{_label(item)}：{error}")
    log.warning("邮件%s：%s：%s", "被拒收" if permanent else "发送失败，下次重试", _label(item), error)


def _all_wait(journal: Journal, queue: list[Outgoing], result: FlushResult, error: str) -> None:
    for item in queue:
        journal.attempt_failed(item, error, permanent=False)
        result.waiting.append(_label(item))
    result.errors.append(error)
    log.warning("%s；%d 封邮件暂存待发", error, len(queue))


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _label(item: Outgoing) -> str:
    return f"{item.recipient}：{item.subject}"
