"""Reading text files and the character vocabulary.

The vocabulary is made of Unicode characters, not bytes: char-rnn split UTF-8 into bytes, so its models could
emit half a character and its users met that constantly with accented or Chinese text.

A corpus is held as compact ids: ``Vocab.compact_dtype`` is the smallest type that holds every id (uint8 up to
256 characters, uint16 up to 65,536), and encoding works through the text a chunk at a time, so turning a text
into ids needs the ids and a few megabytes, never a UTF-32 copy or int64 ids of the whole corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from charlm.errors import CharlmError

ENCODE_CHUNK = 1 << 20  # characters per step of encoding: its temporaries stay a few MB at any corpus size


def compact_dtype(n_symbols: int) -> np.dtype:
    """The smallest integer type holding ids 0..n_symbols-1 (torch has all three: uint8, uint16, int32)."""
    if n_symbols <= 2**8:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16 if n_symbols <= 2**16 else np.int32)


def lookup_chunks(text: str, sorted_points: np.ndarray, what: str = "text"):
    """Yield ``(start, pos, known)`` for consecutive chunks of ``text``: ``pos`` the index of each character's code
    point in ``sorted_points`` (clipped), ``known`` whether it is there. The one vectorised text-to-index walk of
    the vocabulary and the n-gram; a lone surrogate (how Python passes on an undecodable byte) is an error."""
    for start in range(0, len(text), ENCODE_CHUNK):
        piece = text[start : start + ENCODE_CHUNK]
        try:
            points = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError as err:
            at = start + err.start
            raise CharlmError(f"{what} holds an invalid character at position {at} (an undecodable byte "
                              f"{text[at]!r}); give it as valid UTF-8") from None
        pos = np.minimum(np.searchsorted(sorted_points, points), len(sorted_points) - 1)
        yield start, pos, sorted_points[pos] == points


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a whole text file, or raise a one-line CharlmError saying what is wrong and how to fix it."""
    file = Path(path)
    if not file.exists():
        raise CharlmError(f"{file}: no such file; check the path")
    if file.is_dir():
        raise CharlmError(f"{file} is a directory; give the path of a text file")
    data = file.read_bytes()
    if not data:
        raise CharlmError(f"{file} is empty; give a text file to train on")
    try:
        text = data.decode(encoding)
    except LookupError:
        raise CharlmError(f"unknown encoding '{encoding}'; pass a Python codec name such as utf-8 or latin-1") from None
    except UnicodeDecodeError as err:
        bad = data[err.start : err.start + 1].hex()
        raise CharlmError(
            f"{file} is not valid {encoding}: byte 0x{bad} at offset {err.start}; "
            f"if it is text in another encoding pass --encoding (e.g. --encoding latin-1)"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise CharlmError(
            f"{file} looks binary (NUL character at offset {nul}); give a text file, "
            f"or pass --encoding if it is text in another encoding (e.g. utf-16)"
        )
    # A UTF-8 byte-order mark is an encoding artefact, not text the model should learn to write.
    return text.removeprefix("\ufeff")


@dataclass(frozen=True)
class Vocab:
    """The sorted characters of a text; index i stands for chars[i]."""

    chars: tuple[str, ...]
    _stoi: dict[str, int] = field(init=False, repr=False, compare=False)
    _codepoints: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chars:
            raise CharlmError("the vocabulary is empty; give a non-empty text")
        if any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise CharlmError("a vocabulary must list distinct single characters; the checkpoint's vocab is damaged")
        object.__setattr__(self, "chars", tuple(sorted(self.chars)))
        object.__setattr__(self, "_stoi", {c: i for i, c in enumerate(self.chars)})
        object.__setattr__(self, "_codepoints", np.array([ord(c) for c in self.chars], dtype=np.uint32))

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        if not text:
            raise CharlmError("cannot build a vocabulary from empty text; give a non-empty text")
        return cls(tuple(set(text)))

    @classmethod
    def from_list(cls, chars: Iterable[str]) -> "Vocab":
        return cls(tuple(chars))

    def to_list(self) -> list[str]:
        return list(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._stoi

    def index(self, char: str) -> int:
        return self._stoi[char]

    @property
    def compact_dtype(self) -> np.dtype:
        """The smallest integer type holding this vocabulary's ids: what a corpus is stored as."""
        return compact_dtype(len(self))

    def encode(self, text: str, what: str = "text", dtype: np.dtype | type = np.int64) -> np.ndarray:
        """Map text to ids of ``dtype`` (``compact_dtype`` for a corpus); a character outside the vocabulary is an
        error that names it and its position."""
        # Vectorised through code points a chunk at a time: a 100 MB corpus encodes in about a second.
        ids = np.empty(len(text), dtype=dtype)
        for start, pos, known in lookup_chunks(text, self._codepoints, what):
            if not known.all():
                at = start + int(np.argmin(known))
                char = text[at]
                raise CharlmError(
                    f"{what} contains {char!r} (U+{ord(char):04X}) at position {at}, a character the model never "
                    f"saw in training; remove it or use only characters of its {len(self)}-character vocabulary"
                )
            ids[start : start + len(pos)] = pos
        return ids

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return "".join(self.chars[int(i)] for i in ids)
