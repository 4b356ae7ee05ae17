"""Zip members assembled from raw deflate segments, so a bulk sheet is compressed where its rows
are rendered (the 明细 rows in the worker processes, during the night) and the main process, on
the night's critical path, only copies compressed bytes into the zip.

A segment is raw deflate that ends with a full flush: byte-aligned, without a final block and
without a back-reference to anything before its own start, so segments from separate compressors
concatenate into one valid stream; a member ends with its tail compressed to the final block.
A zip member also needs the CRC-32 of what it inflates to: each segment's is kept with its
length and combined (zlib's ``crc32_combine``, which Python's zlib lacks). zipfile has no call
for writing a member that is already compressed: ``write_member`` writes the local header as
``ZipFile.mkdir`` does and registers the member; zipfile writes the central directory (zip64
where a size needs it) on close, as for every other member.

Deflating is done by ISA-L (python-isal's ``isal_zlib``, zlib's calls and streams): at level 1 it
compresses our sheet XML ~3.5× faster than zlib at its fastest level, and a little smaller (a
receipt row costs ~1 µs instead of ~3.5); zlib inflates what it writes, so nothing reading the
workbooks changes. CRC-32s are ISA-L's too (the same numbers, ~5× faster).
"""
from __future__ import annotations

import shutil
import struct
import time
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterable

from isal import isal_zlib

LEVEL = 1                           # ISA-L's levels are 0-3; 1 is as fast as 0 and smaller
PART_HEAD = struct.Struct("<IQ")    # a part file: the CRC-32 and length of what it inflates to
COPY_BUFFER = 1 << 20


def _compressor():
    """Raw deflate (a zip member has no zlib header or trailer), at the workbook's level."""
    return isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)


class Deflated:
    """Bytes written to ``file`` as raw deflate segments, with the CRC-32 and the length of all
    the bytes so far (what the zip member needs once they are inflated)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.crc = self.size = 0
        self.compressor = _compressor()
        self.pending = False        # bytes written since the last segment ended

    def write(self, data: bytes) -> None:
        if not data:                # an empty flush would still end a segment
            return
        self.crc = isal_zlib.crc32(data, self.crc)
        self.size += len(data)
        self.file.write(self.compressor.compress(data))
        self.pending = True

    def seal(self) -> None:
        """End the current segment: a full flush, so a part may follow and the compressor go on
        without reaching back past it."""
        if self.pending:
            self.file.write(self.compressor.flush(isal_zlib.Z_FULL_FLUSH))
            self.pending = False

    def append(self, part: Path) -> None:
        """A part file (``write_part``, from another process) after what was written so far,
        copied as it is."""
        self.seal()
        with open(part, "rb") as source:
            crc, size = PART_HEAD.unpack(source.read(PART_HEAD.size))
            shutil.copyfileobj(source, self.file, COPY_BUFFER)
        self.crc = crc32_combine(self.crc, crc, size)
        self.size += size

    def close(self) -> None:
        self.file.close()


def write_part(path: Path, pieces: Iterable[bytes]) -> None:
    """``pieces`` deflated to ``path`` for ``Deflated.append``: their CRC-32 and length, then
    one segment (the header is filled in last, once both are known)."""
    with open(path, "wb") as out:
        out.write(bytes(PART_HEAD.size))
        part = Deflated(out)
        for data in pieces:
            part.write(data)
        part.seal()
        out.seek(0)
        out.write(PART_HEAD.pack(part.crc, part.size))


def write_member(z: zipfile.ZipFile, name: str, head: bytes, body: Deflated, tail: bytes) -> None:
    """A member of ``z``: ``head``, the bytes ``body`` deflated, ``tail``. Only the head and the
    tail are compressed here; the body is copied; its CRC-32 is combined, not recomputed."""
    body.seal()
    first, last = _deflate(head, isal_zlib.Z_FULL_FLUSH), _deflate(tail, isal_zlib.Z_FINISH)
    body_length = body.file.seek(0, 2)
    info = zipfile.ZipInfo(name, time.localtime()[:6])
    info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o600 << 16
    info.CRC = isal_zlib.crc32(tail, crc32_combine(isal_zlib.crc32(head), body.crc, body.size))
    info.file_size = len(head) + body.size + len(tail)
    info.compress_size = len(first) + body_length + len(last)
    assert z.fp is not None                     # an open ZipFile (only close() drops its file)
    z.fp.seek(z.start_dir)
    info.header_offset = z.start_dir
    z.fp.write(info.FileHeader())               # zip64 extra when a size needs it
    z.fp.write(first)
    body.file.seek(0)
    shutil.copyfileobj(body.file, z.fp, COPY_BUFFER)
    z.fp.write(last)
    z.start_dir = z.fp.tell()
    z.filelist.append(info)
    z.NameToInfo[name] = info


def _deflate(data: bytes, flush: int) -> bytes:
    """``data`` as a segment of its own (``Z_FULL_FLUSH``) or a stream's end (``Z_FINISH``)."""
    compressor = _compressor()
    return compressor.compress(data) + compressor.flush(flush)


# ---- CRC-32 of two runs of bytes from theirs: GF(2) polynomials, bit 31 the x^0 term --------

POLY = 0xEDB88320


def _multiply(a: int, b: int) -> int:
    """a(x)·b(x) modulo CRC-32's polynomial."""
    product = 0
    while a:
        if a & 0x80000000:
            product ^= b
        a = (a << 1) & 0xFFFFFFFF
        b = (b >> 1) ^ POLY if b & 1 else b >> 1
    return product


def _powers() -> list[int]:
    """x^(2^k) for k = 0..31, each the square of the one before; x^(2^32) is x again."""
    powers = [1 << 30]                                  # x^1
    while len(powers) < 32:
        powers.append(_multiply(powers[-1], powers[-1]))
    return powers


X_2K = _powers()


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A+B from A's CRC, B's CRC and B's length: A's shifted past 8·length2 zero
    bits (multiplied by x^(8·length2)), added to B's. zlib's method, without zlib's C."""
    shift, k = 1 << 31, 3                                 # x^0; 8·length2 = length2·2^3
    while length2:
        if length2 & 1:
            shift = _multiply(X_2K[k & 31], shift)
        length2 >>= 1
        k += 1
    return _multiply(shift, crc1) ^ crc2
