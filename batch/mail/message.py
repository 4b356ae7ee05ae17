"""One received message, read and judged: who sent it, which workbooks it carries, and whether we
take them (a member's address, at least one workbook, none too large) or refuse it with a reason.

Pure functions of the message bytes and the reference data, so every rule is testable without a
server.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from ..intake import ACCEPTED_SUFFIXES
from ..params import Params
from .names import attachment_name, decode_bytes, decode_words

UNKNOWN_SENDER = "unknown_sender"
NO_WORKBOOK = "no_workbook"
OVERSIZED = "oversized"

AUTO_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "no-reply", "noreply",
                              "do-not-reply", "donotreply"})
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})


@dataclass(frozen=True, slots=True)
class Attachment:
    part: int                 # position among the message's parts: with the message, a stable key
    name: str                 # as the sender named it, decoded
    data: bytes


@dataclass(frozen=True, slots=True)
class MailIn:
    key: str                  # Message-ID, or a digest of the bytes when there is none
    message_id: str           # "" when the message has none
    sender: str               # From address, lower-cased; "" when there is no single address
    subject: str
    automatic: bool           # bounce, auto-reply, list mail: never answered
    workbooks: tuple[Attachment, ...]
    sent: float | None = None  # the Date header as a timestamp, when it has a readable one


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str               # UNKNOWN_SENDER / NO_WORKBOOK / OVERSIZED
    detail: str = ""          # e.g. the oversized attachment's name


def read_message(raw: bytes) -> MailIn:
    """Parse the bytes once; every header read defensively (a broken header is just absent)."""
    msg = message_from_bytes(raw, policy=policy.default)
    message_id = _header(msg, "Message-ID").strip()
    return MailIn(key=message_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
                  message_id=message_id, sender=sender_address(msg),
                  subject=_header(msg, "Subject").strip(), automatic=is_automatic(msg),
                  workbooks=tuple(workbooks(msg)), sent=_sent(msg))


def _sent(msg: Message) -> float | None:
    try:
        return parsedate_to_datetime(_header(msg, "Date")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _header(msg: Message, name: str, decode: bool = True) -> str:
    """A header as text; raw 8-bit and odd encoded words decoded the way file names are."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return decode_words(_unfold(value)) if decode else _unfold(value)
    return ""


def _unfold(value: str) -> str:
    text = value.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ").strip()
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_bytes(text.encode("ascii", "surrogateescape"))
    return text


def sender_address(msg: Message) -> str:
    """The one From address, lower-cased; "" for none or several (we cannot tell who filed).
    Parsed before any decoding, so an encoded display name cannot smuggle in an address."""
    addresses = [addr for _name, addr in getaddresses([_header(msg, "From", decode=False)])
                 if "@" in addr]
    return addresses[0].strip().lower() if len(addresses) == 1 else ""


def is_automatic(msg: Message) -> bool:
    """Mail no person wrote (RFC 3834 Auto-Submitted, bounces, lists, out-of-office): answering
    it could start a mail loop."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if _header(msg, "Precedence").lower() in BULK_PRECEDENCE:
        return True
    if any(_header(msg, h) for h in ("List-Id", "X-Autoreply", "X-Autorespond")):
        return True
    return_path = [k for k, _ in msg.raw_items() if k.lower() == "return-path"]
    if return_path and _header(msg, "Return-Path").strip(" <>") == "":
        return True
    local = sender_address(msg).split("@")[0]
    return local in AUTO_LOCAL_PARTS


def workbooks(msg: Message):
    """Every leaf part whose file name has a workbook extension, in order; other attachments
    (a signature logo, a PDF cover letter) are ignored, and so is a message forwarded as an
    attachment (a bounce quotes the original): only what the sender attached counts."""
    for index, part in enumerate(_leaves(msg)):
        name = attachment_name(part)
        if not name or "." + name.rpartition(".")[2].lower() not in ACCEPTED_SUFFIXES:
            continue
        data = part.get_payload(decode=True) or b""
        yield Attachment(index, name, data)


def _leaves(part: Message):
    if part.get_content_type() == "message/rfc822":
        return
    if part.is_multipart():
        for child in part.get_payload():
            assert isinstance(child, Message)   # the parser makes a multipart's parts Messages
            yield from _leaves(child)
    else:
        yield part


def judge(mail: MailIn, params: Params, max_bytes: int,
          oversized_message: bool = False) -> Refusal | None:
    """None when the workbooks are to be taken, else why not (nothing of the message is kept).
    ``oversized_message``: the whole message was too large to download, only its header read."""
    if not mail.sender or params.member_by_email(mail.sender) is None:
        return Refusal(UNKNOWN_SENDER, mail.sender)
    if oversized_message:
        return Refusal(OVERSIZED)
    if not mail.workbooks:
        return Refusal(NO_WORKBOOK)
    for attachment in mail.workbooks:
        if len(attachment.data) > max_bytes:
            return Refusal(OVERSIZED, attachment.name)
    return None
