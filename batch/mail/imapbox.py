"""The members' mailbox over IMAP: list unread messages, read one without marking it, and only
then mark it handled (seen, or moved) or set it aside.

Reading uses BODY.PEEK so nothing is marked by looking: a message becomes \\Seen (or leaves the
folder) only when the caller says its attachments are safely on disk.
"""
from __future__ import annotations

import base64
import imaplib
import re
import ssl
from contextlib import contextmanager
from typing import Iterator

from ..config import Mail

TIMEOUT_SECONDS = 60


class MailError(Exception):
    """The mail server could not be used (connection, login, folder); the message is Chinese."""


def utf7_mailbox(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3), quoted: "已处理" → "&XfJZBFQG-"."""
    out, pending = [], ""
    for ch in name + "\0":
        if ch != "\0" and not (" " <= ch <= "~"):
            pending += ch
            continue
        if pending:
            raw = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + raw.replace("/", ",") + "-")
            pending = ""
        if ch != "\0":
            out.append("&-" if ch == "&" else ch)
    text = "".join(out).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


class Mailbox:
    """An open, logged-in IMAP session on one selected folder.

    UIDs are kept as the server's bytes and passed to imaplib decoded: they are ASCII digits,
    and imaplib encodes a str argument back to exactly those bytes."""

    def __init__(self, client: imaplib.IMAP4, mail: Mail):
        self.client = client
        self.mail = mail
        self.capabilities = self._capabilities()

    def _capabilities(self) -> frozenset[str]:
        _typ, data = self.client.capability()
        words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
        return frozenset(words.upper().split())

    def supports(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    def unseen(self) -> list[bytes]:
        """UIDs of the messages nobody has handled yet, oldest first."""
        _typ, data = self._ok(self.client.uid("SEARCH", "UNSEEN"), "查找未读邮件")
        return sorted((data[0] or b"").split(), key=int)

    def size(self, uid: bytes) -> int:
        _typ, data = self._ok(self.client.uid("FETCH", uid.decode(), "(RFC822.SIZE)"),
                              "读取邮件大小")
        found = re.search(rb"RFC822\.SIZE (\d+)", b" ".join(d for d in data if isinstance(d, bytes)))
        return int(found.group(1)) if found else 0

    def read(self, uid: bytes, headers_only: bool = False) -> bytes:
        """The message's bytes, without setting \\Seen."""
        section = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        _typ, data = self._ok(self.client.uid("FETCH", uid.decode(), f"({section})"),
                              "读取邮件")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                return item[1]
        raise MailError(f"邮件 UID {uid.decode()} 已不存在")

    def handled(self, uid: bytes) -> None:
        """Its attachments are on disk: mark it seen, or move it to the processed folder."""
        self._finish(uid, self.mail.imap_processed_folder, r"(\Seen)")

    def set_aside(self, uid: bytes) -> None:
        """Refused: move it to the rejected folder, or mark it seen and flagged so it is not taken
        again and staff can still find it (flagged) in the mailbox."""
        self._finish(uid, self.mail.imap_rejected_folder, r"(\Seen \Flagged)")

    def _finish(self, uid: bytes, folder: str, flags: str) -> None:
        self._ok(self.client.uid("STORE", uid.decode(), "+FLAGS.SILENT", flags), "标记邮件")
        if folder:
            self._move(uid, folder)

    def _move(self, uid: bytes, folder: str) -> None:
        """MOVE when the server has it, else COPY, \\Deleted and an expunge of that one message
        (UID EXPUNGE with UIDPLUS; a plain EXPUNGE otherwise)."""
        target = utf7_mailbox(folder)
        self.client.create(target)               # "already exists" is fine
        if self.supports("MOVE"):
            self._ok(self.client.uid("MOVE", uid.decode(), target), f"移动邮件到 {folder}")
            return
        self._ok(self.client.uid("COPY", uid.decode(), target), f"复制邮件到 {folder}")
        self._ok(self.client.uid("STORE", uid.decode(), "+FLAGS.SILENT", r"(\Deleted)"),
                 "标记删除")
        if self.supports("UIDPLUS"):
            self._ok(self.client.uid("EXPUNGE", uid.decode()), "清除已移动邮件")
        else:
            self._ok(self.client.expunge(), "清除已移动邮件")

    @staticmethod
    def _ok(response, doing: str):
        typ, data = response
        if typ != "OK":
            detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            raise MailError(f"{doing}失败：{detail}")
        return typ, data


def _client(mail: Mail) -> imaplib.IMAP4:
    if mail.imap_security not in ("tls", "starttls", "none"):
        raise MailError(f"imap_security 应为 tls、starttls 或 none，而不是「{mail.imap_security}」")
    if mail.imap_security == "tls":
        return imaplib.IMAP4_SSL(mail.imap_host, mail.imap_port,
                                 ssl_context=ssl.create_default_context(), timeout=TIMEOUT_SECONDS)
    client = imaplib.IMAP4(mail.imap_host, mail.imap_port, timeout=TIMEOUT_SECONDS)
    if mail.imap_security == "starttls":
        try:
            client.starttls(ssl_context=ssl.create_default_context())
        except (OSError, imaplib.IMAP4.error):
            client.shutdown()
            raise
    return client


@contextmanager
def open_mailbox(mail: Mail, password: str) -> Iterator[Mailbox]:
    """Connect, log in and select the folder; always log out. Server trouble is a MailError."""
    try:
        client = _client(mail)
    except (OSError, imaplib.IMAP4.error, ssl.SSLError) as error:
        raise MailError(f"无法连接收件服务器 {mail.imap_host}:{mail.imap_port}：{error}") from error
    try:
        try:
            client.login(mail.imap_user, password)
        except imaplib.IMAP4.error as error:
            raise MailError(f"收件服务器登录失败（用户 {mail.imap_user}）：{error}") from error
        Mailbox._ok(client.select(utf7_mailbox(mail.imap_folder)), f"打开文件夹 {mail.imap_folder}")
        yield Mailbox(client, mail)
    finally:
        _close(client)


def _close(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (OSError, imaplib.IMAP4.error):
        pass
