"""Streaming file work: transcoding to UTF-8, BOM/CRLF clean-up, hashing and character counting."""

from __future__ import annotations

import codecs
import hashlib
import shutil
from pathlib import Path
from typing import BinaryIO, Sequence

from charlm.errors import CharlmError

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"


def _copy(raw: Path, out: Path) -> list[str]:
    shutil.copyfile(raw, out)
    return []


def _strip_bom_crlf(raw: Path, out: Path) -> list[str]:
    """Gutenberg text: drop the byte-order mark (it would be a 'character' to the model) and CRLF line ends."""
    notes: list[str] = []
    with open(raw, "rb") as f, open(out, "wb") as w:
        head = f.read(len(BOM))
        if head == BOM:
            notes.append("leading UTF-8 byte-order mark removed")
        else:
            f.seek(0)
        carry, crlf = b"", 0
        while chunk := f.read(CHUNK):
            chunk = carry + chunk
            # A CR at a chunk's end may pair with the next chunk's LF.
            carry, chunk = (b"\r", chunk[:-1]) if chunk.endswith(b"\r") else (b"", chunk)
            crlf += chunk.count(b"\r\n")
            w.write(chunk.replace(b"\r\n", b"\n"))
        w.write(carry)
    if crlf:
        notes.append(f"{crlf} CRLF line ends converted to LF")
    return notes


def _cut(chunk: bytes, pos: int, marks: Sequence[int], i: int) -> tuple[list[bytes], int]:
    """Split a chunk at the marks (absolute byte offsets) that fall inside it."""
    pieces, start = [], 0
    while i < len(marks) and marks[i] <= pos + len(chunk):
        pieces.append(chunk[start:marks[i] - pos])
        start = marks[i] - pos
        i += 1
    pieces.append(chunk[start:])
    return pieces, i


def transcode_utf8(raw: Path, out: Path, marks: Sequence[int] = ()) -> tuple[int, list[int]]:
    """Write raw as valid UTF-8 (invalid bytes become U+FFFD).

    Returns how many invalid sequences were replaced, and the character offsets at the source byte
    offsets ``marks`` (so a byte-defined split survives replacements that change byte lengths).
    """
    dec = codecs.getincrementaldecoder("utf-8")("replace")
    pos = chars = i = out_fffd = raw_fffd = 0
    at: list[int] = []
    tail = b""
    with open(raw, "rb") as f, open(out, "wb") as w:
        while chunk := f.read(CHUNK):
            raw_fffd += (tail + chunk).count(b"\xef\xbf\xbd")
            tail = chunk[-2:]
            pieces, i_next = _cut(chunk, pos, marks, i)
            for n, piece in enumerate(pieces):
                text = dec.decode(piece)
                chars += len(text)
                out_fffd += text.count("\ufffd")
                w.write(text.encode("utf-8"))
                if n < len(pieces) - 1:
                    at.append(chars)
            i, pos = i_next, pos + len(chunk)
        text = dec.decode(b"", final=True)
        chars += len(text)
        out_fffd += text.count("\ufffd")
        w.write(text.encode("utf-8"))
    at.extend([chars] * (len(marks) - len(at)))
    return out_fffd - raw_fffd, at


def _transcode(raw: Path, out: Path) -> list[str]:
    replaced, _ = transcode_utf8(raw, out)
    return [f"{replaced} invalid UTF-8 sequences replaced with U+FFFD"] if replaced else []


def scan(path: Path, byte_marks: Sequence[int] = ()) -> tuple[str, int, int, list[int]]:
    """sha256, bytes, characters of a UTF-8 file and the character offsets at ``byte_marks``."""
    sha = hashlib.sha256()
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    pos = chars = i = 0
    at: list[int] = []
    with open(path, "rb") as f:
        try:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
                pieces, i_next = _cut(chunk, pos, byte_marks, i)
                for n, piece in enumerate(pieces):
                    chars += len(dec.decode(piece))
                    if n < len(pieces) - 1:
                        at.append(chars)
                i, pos = i_next, pos + len(chunk)
            chars += len(dec.decode(b"", final=True))
        except UnicodeDecodeError as err:
            raise CharlmError(f"{path} is not valid UTF-8 near byte {pos + err.start}; run again with --force") from err
    at.extend([chars] * (len(byte_marks) - len(at)))
    return sha.hexdigest(), pos, chars, at


def digests(source: BinaryIO, sink: BinaryIO | None = None) -> tuple[str, str, int]:
    """sha256, md5 and size of a stream, copied into sink on the way when one is given."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    while chunk := source.read(CHUNK):
        sha.update(chunk)
        md5.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


def file_digests(path: Path) -> tuple[str, str, int]:
    with open(path, "rb") as f:
        return digests(f)


def file_sha256(path: Path) -> str:
    return file_digests(path)[0]


def copy_hashed(source: BinaryIO, dest: Path) -> tuple[str, str, int]:
    """Stream a decompressing reader into dest; return the sha256, md5 and size of what was written."""
    with open(dest, "wb") as sink:
        return digests(source, sink)
