"""fetch_mail: unread messages → workbooks in inbox/<member id>/, the rest answered and set aside.

Each message is finished before the next: its workbooks saved (see save.py), then marked seen or
moved. A crash in between leaves it unread, so the next fetch takes it again; its fixed file names
and the pipeline's duplicate check keep it from counting twice. A refused message never reaches
the inbox: it is moved to the rejected folder (or marked seen and flagged, so staff can find it
and it is not taken again) and the sender gets a reply saying why, unless the mail was automatic.
"""
from __future__ import annotations

import imaplib
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Mapping

from ..config import Config, Mail
from ..home import Home
from ..params import Params
from .imapbox import Mailbox, MailError, open_mailbox
from .journal import Journal
from .message import MailIn, Refusal, judge, read_message
from .save import SavedFile, save_attachment
from .smtp import FlushResult, flush, sender_of
from .texts import refusal_reply

log = logging.getLogger("batch.mail")
HEADER_ONLY_FACTOR = 4          # a message over 4 × the attachment limit is not even downloaded
REASON_TEXT = {"unknown_sender": "发件人未登记", "no_workbook": "没有报送表附件",
               "oversized": "附件过大"}


@dataclass(frozen=True, slots=True)
class RefusedMail:
    sender: str
    subject: str
    message_id: str
    reason: str               # unknown_sender / no_workbook / oversized
    detail: str
    replied: bool             # a reply was queued (not for automatic mail or a repeated sender)


@dataclass(frozen=True)
class FetchReport:
    saved: tuple[SavedFile, ...] = ()
    refused: tuple[RefusedMail, ...] = ()
    left: int = 0                          # messages left unread after an error, for next time
    errors: tuple[str, ...] = ()
    replies: FlushResult = field(default_factory=FlushResult)

    @property
    def exit_code(self) -> int:
        """0 all taken, 1 some messages refused, 2 the mailbox could not be read completely."""
        return 2 if self.errors else 1 if self.refused else 0

    def summary(self) -> str:
        lines = [f"收取邮件：保存报送文件 {len(self.saved)} 个，未受理邮件 {len(self.refused)} 封"]
        for s in self.saved:
            again = "，此前已保存" if s.already_there else ""
            lines.append(f"  已存入 inbox/{s.name}（来自 {s.sender}{again}）")
        for r in self.refused:
            why = REASON_TEXT.get(r.reason, r.reason) + ("，已回复说明" if r.replied else "")
            lines.append(f"  未受理：{r.sender or '（无发件人）'}《{r.subject}》— {why}")
        if self.replies.waiting:
            lines.append(f"  回复邮件 {len(self.replies.waiting)} 封暂存待发，下次运行重试")
        lines += [f"  错误：{e}" for e in self.errors]
        if self.left:
            lines.append(f"  {self.left} 封邮件未处理完，保持未读，下次收取时重试")
        return "\n".join(lines)


@dataclass
class _Night:
    """What one fetch needs and what it found so far."""
    home: Home
    mail: Mail
    params: Params
    journal: Journal
    saved: list[SavedFile] = field(default_factory=list)
    refused: list[RefusedMail] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    replied_to: set[str] = field(default_factory=set)
    left: int = 0


def fetch_mail(home: Home, config: Config, params: Params, *,
               environ: Mapping[str, str] | None = None) -> FetchReport:
    """Take every unread message of the configured folder once; never raises for server trouble
    (it is reported, and the messages stay unread for the next fetch)."""
    environ = os.environ if environ is None else environ
    mail = config.mail
    night = _Night(home, mail, params, Journal(home.root))
    password = environ.get(mail.imap_password_env, "")
    if password:
        _read_mailbox(night, password)
    else:
        night.errors.append(f"未设置环境变量 {mail.imap_password_env}（收件邮箱的密码），未收取邮件")
    replies = flush(night.journal, mail, environ)
    return FetchReport(tuple(night.saved), tuple(night.refused), night.left,
                       tuple(night.errors), replies)


def _read_mailbox(night: _Night, password: str) -> None:
    try:
        with open_mailbox(night.mail, password) as box:
            for uid in box.unseen():
                _take(box, uid, night)
    except (MailError, imaplib.IMAP4.error, OSError) as error:
        night.errors.append(str(error))
        log.error("收取邮件中断：%s", error)


def _take(box: Mailbox, uid: bytes, night: _Night) -> None:
    limit = night.mail.max_attachment_bytes
    too_big = box.size(uid) > HEADER_ONLY_FACTOR * limit + (1 << 20)
    mail = read_message(box.read(uid, headers_only=too_big))
    refusal = judge(mail, night.params, limit, oversized_message=too_big)
    if refusal is not None:
        _refuse(box, uid, mail, refusal, night)
        return
    member = night.params.member_by_email(mail.sender)
    assert member is not None               # judge() refused senders who are not members
    try:
        saved = [save_attachment(night.home.inbox, night.journal, mail, attachment,
                                 member.member_id) for attachment in mail.workbooks]
    except (OSError, sqlite3.Error) as error:        # disk full, journal locked: next time
        night.errors.append(f"保存 {mail.sender}《{mail.subject}》的附件失败：{error}")
        night.left += 1
        log.error("保存附件失败，邮件保持未读：%s", error)
        return
    box.handled(uid)
    night.saved.extend(saved)
    log.info("收到 %s 的报送：%s", mail.sender, ", ".join(s.name for s in saved))


def _refuse(box: Mailbox, uid: bytes, mail: MailIn, refusal: Refusal, night: _Night) -> None:
    """Queue the reply first (keyed by message, so a re-fetch does not answer twice), then set
    the message aside."""
    replied = _should_reply(mail, night)
    if replied:
        reply = refusal_reply(mail, refusal, sender_of(night.mail), night.mail.max_attachment_bytes)
        night.journal.enqueue(f"reply:{mail.key}", mail.sender, str(reply["Subject"]),
                              reply.as_bytes(policy=reply.policy.clone(linesep="\r\n")))
        night.replied_to.add(mail.sender)
    box.set_aside(uid)
    night.refused.append(RefusedMail(mail.sender, mail.subject, mail.message_id, refusal.reason,
                                     refusal.detail, replied))
    log.warning("未受理邮件 %s《%s》：%s", mail.sender, mail.subject, refusal.reason)


def _should_reply(mail: MailIn, night: _Night) -> bool:
    """Never answer automatic mail, ourselves, or the same address twice in one fetch (loops);
    and only when we can send at all."""
    own = sender_of(night.mail).lower()
    return bool(night.mail.send_enabled and own and mail.sender and not mail.automatic
                and mail.sender != own and mail.sender not in night.replied_to)
