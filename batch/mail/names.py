"""Attachment file names: decoded as the sender meant them, then made safe to put on our disk.

Mail clients in China write file names every which way: RFC 2231 (`filename*=UTF-8''%E4…`, also
with GBK), RFC 2047 encoded words inside or outside quotes, GB2312 labels on GBK text, raw 8-bit
UTF-8 or GBK bytes, a multi-byte character split across two encoded words. The standard library
gets most but not all of these right (it drops unquoted encoded words, and shows GBK bytes as �),
so the raw header is read here, and the library's answer is only the fallback.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import quopri
import re
import unicodedata
import urllib.parse
from email.message import Message

MAX_STEM_BYTES = 150            # the saved name stays well under the usual 255-byte limit
FALLBACK_STEM = "附件"
_GB_LABELS = {"gb2312", "gb_2312-80", "gbk", "x-gbk", "cp936", "euc-cn", "x-euc-cn", "gb18030",
              "csgb2312", "chinese", "hz-gb-2312"}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.S)
_UNSAFE = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)$", re.I)


def codec(charset: str) -> str:
    """Python codec for a MIME charset label; every GB label reads as GB18030, its superset,
    because clients label GBK (and GB18030) text as GB2312."""
    label = charset.strip().lower().split("*")[0]          # RFC 2231 language suffix: utf-8*zh
    return "gb18030" if label in _GB_LABELS else label


def decode_bytes(data: bytes, charset: str = "") -> str:
    """Text from bytes in a declared or guessed charset: the label, then UTF-8, then GB18030."""
    for candidate in (codec(charset) if charset else "", "utf-8", "gb18030"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")


def decode_words(text: str) -> str:
    """RFC 2047 encoded words, with adjacent words of one charset joined before decoding (a
    character may be split between them) and the whitespace between encoded words dropped."""
    out: list[str] = []
    chunk, chunk_charset, last_end = b"", "", 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[last_end:match.start()]
        charset, data = match.group(1), _word_bytes(match.group(2), match.group(3))
        adjacent = bool(chunk) and not between.strip()
        if adjacent and charset.lower() == chunk_charset.lower():
            chunk += data
        else:
            if chunk:
                out.append(decode_bytes(chunk, chunk_charset))
            out.append("" if adjacent else between)
            chunk, chunk_charset = data, charset
        last_end = match.end()
    if chunk:
        out.append(decode_bytes(chunk, chunk_charset))
    out.append(text[last_end:])
    return "".join(out)


def _word_bytes(kind: str, payload: str) -> bytes:
    if kind in "bB":
        try:
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            return payload.encode("ascii", "replace")
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)


def _raw_text(value: str) -> str:
    """A header value as parsed from bytes (8-bit bytes kept as surrogates) back to real text."""
    return decode_bytes(value.encode("ascii", "surrogateescape")) if _has_surrogates(value) else value


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def header_params(value: str) -> dict[str, str]:
    """`key=value` parameters of a Content-Type/-Disposition header, unquoted, keys lower-cased."""
    unfolded = re.sub(r"\r?\n[ \t]", " ", value)
    params: dict[str, str] = {}
    for key, raw in _PARAM.findall(unfolded):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(key.lower(), raw)
    return params


def _param_value(params: dict[str, str], key: str) -> str | None:
    """One parameter: RFC 2231 (extended, possibly continued) first, then the plain form."""
    if f"{key}*" in params or f"{key}*0*" in params or f"{key}*0" in params:
        return _rfc2231(params, key)
    plain = params.get(key)
    return None if plain is None else decode_words(_raw_text(plain))


def _rfc2231(params: dict[str, str], key: str) -> str:
    if f"{key}*" in params:
        pieces = [(params[f"{key}*"], True)]
    else:
        pieces, n = [], 0
        while f"{key}*{n}*" in params or f"{key}*{n}" in params:
            extended = f"{key}*{n}*" in params
            pieces.append((params[f"{key}*{n}*" if extended else f"{key}*{n}"], extended))
            n += 1
    charset, data = "", b""
    for index, (piece, extended) in enumerate(pieces):
        if index == 0 and extended and piece.count("'") >= 2:
            charset, _language, piece = piece.split("'", 2)
        raw = piece.encode("ascii", "surrogateescape")
        data += urllib.parse.unquote_to_bytes(raw) if extended else raw
    return decode_bytes(data, charset)


def attachment_name(part: Message) -> str | None:
    """The file name the sender gave a MIME part, decoded; None when it has none."""
    headers = {k.lower(): str(v) for k, v in part.raw_items()}
    for header, key in (("content-disposition", "filename"), ("content-type", "name")):
        if header in headers:
            found = _param_value(header_params(headers[header]), key)
            if found:
                return unicodedata.normalize("NFC", found.strip())
    try:
        fallback = part.get_filename()
    except (ValueError, LookupError, TypeError):   # a header the library itself cannot parse
        fallback = None
    return unicodedata.normalize("NFC", fallback.strip()) if fallback else None


def safe_name(name: str) -> str:
    """A plain file name: no folders, no control characters, no leading dots, no reserved
    characters or device names, bounded length; the extension kept, lower-cased."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE.sub("_", base).strip().rstrip(". ")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip().lstrip(".~$").strip(" .") or FALLBACK_STEM   # no hidden or lock names
    if _WINDOWS_DEVICES.match(stem):
        stem = f"_{stem}"
    while len(stem.encode("utf-8")) > MAX_STEM_BYTES:
        stem = stem[:-1]
    return f"{stem}.{suffix.lower()}" if suffix else stem


def tagged_name(name: str, message_key: str, part: int) -> str:
    """The saved name for one attachment of one message: its safe name plus a short tag made from
    (message, part), so fetching the same message again gives the same name and two messages that
    both carry "报送表.xlsx" do not collide."""
    tag = hashlib.sha256(f"{message_key}\0{part}".encode("utf-8")).hexdigest()[:8]
    stem, dot, suffix = safe_name(name).rpartition(".")
    return f"{stem}_{tag}.{suffix}" if dot else f"{safe_name(name)}_{tag}"
