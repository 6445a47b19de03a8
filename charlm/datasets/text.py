"""File work: transcoding to UTF-8, BOM/CRLF clean-up, Gutenberg boilerplate, shuffled lines, hashing, counting."""

from __future__ import annotations

import codecs
import hashlib
import re
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


# Project Gutenberg frames every e-text with these two lines (old files say THIS, newer ones THE); what is
# before the first is its header, what is after the second its licence.
GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG EBOOK[^\n]*\n", re.MULTILINE | re.IGNORECASE)
GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG EBOOK", re.MULTILINE | re.IGNORECASE)
# The closing credit some editions put just above the END marker ("End of the Project Gutenberg EBook of ...").
GUTENBERG_CLOSING = re.compile(r"^End of (?:the )?Project Gutenberg[^\n]*\s*\Z", re.MULTILINE | re.IGNORECASE)
BLANK_LINES = re.compile(r"(?:[ \t]*\n)*")  # used with match(text, pos): anchored at pos


def gutenberg_body(text: str) -> tuple[str, int, int]:
    """The e-text between Project Gutenberg's START and END markers, and how many characters were cut before/after.

    Cut: everything up to and including the ``*** START OF ...`` line; everything from the ``*** END OF ...`` line
    on; the ``End of (the) Project Gutenberg ...`` line right above the END marker; the blank lines that border
    the text. What is left ends with exactly one line end.
    """
    start, end = GUTENBERG_START.search(text), GUTENBERG_END.search(text)
    if start is None or end is None or end.start() < start.end():
        missing = "'*** START OF ... PROJECT GUTENBERG EBOOK'" if start is None else "'*** END OF ... PROJECT GUTENBERG EBOOK'"
        raise CharlmError(f"no {missing} line in this Project Gutenberg file; its format changed, please report it")
    stop = end.start()
    closing = GUTENBERG_CLOSING.search(text, start.end(), stop)
    if closing:
        stop = closing.start()
    head = BLANK_LINES.match(text, start.end()).end()  # type: ignore[union-attr]  (matches the empty string too)
    kept = text[head:stop].rstrip()
    return kept + "\n", head, len(text) - head - len(kept)


def _read_utf8(raw: Path) -> str:
    try:
        return raw.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise CharlmError(f"{raw.name} is not valid UTF-8 near byte {err.start}; the source changed, please report it") from None


def _gutenberg(raw: Path, out: Path) -> list[str]:
    """A Project Gutenberg e-text: BOM and CRLF as ``_strip_bom_crlf``, then only the text between its markers."""
    notes = _strip_bom_crlf(raw, out)
    body, before, after = gutenberg_body(_read_utf8(out))
    out.write_text(body, encoding="utf-8", newline="\n")
    return notes + [f"Project Gutenberg header ({before:,} chars: all through the '*** START OF' line) and licence "
                    f"({after:,} chars: all from the 'End of the Project Gutenberg' or '*** END OF' line on) cut"]


def _char_rnn_text(raw: Path, out: Path) -> list[str]:
    """char-rnn's text files as served with a BOM and CRLF: both removed, and line ends at the very end of the file
    (where copies differ) dropped, so every copy of the same text prepares to the same bytes."""
    notes = _strip_bom_crlf(raw, out)
    text = _read_utf8(out)
    body = text.rstrip()
    if len(body) < len(text):
        notes.append(f"{len(text) - len(body)} trailing whitespace characters at the end of the file dropped")
    out.write_text(body, encoding="utf-8", newline="\n")
    return notes


# The names corpus shuffle: line i (0-based, in the source's order) goes where sha256(f"{seed}:{i}") sorts. Defined
# by sha256 alone, so the same on every Python and numpy version.
NAMES_SHUFFLE_SEED = 2015


def shuffled_lines(lines: Sequence[str], seed: int = NAMES_SHUFFLE_SEED) -> list[str]:
    """``lines`` in the seeded order above (a permutation: nothing is added, dropped or merged)."""
    order = sorted(range(len(lines)), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    return [lines[i] for i in order]


def _shuffle_names(raw: Path, out: Path) -> list[str]:
    lines = _read_utf8(raw).splitlines()
    out.write_text("".join(f"{line}\n" for line in shuffled_lines(lines)), encoding="utf-8", newline="\n")
    return [f"{len(lines)} lines shuffled (line i goes where sha256('{NAMES_SHUFFLE_SEED}:i') sorts), so that "
            "the contiguous splits are not alphabetical runs"]


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
