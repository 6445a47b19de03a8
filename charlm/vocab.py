"""Reading text files and the character vocabulary.

The vocabulary is made of Unicode characters, not bytes: char-rnn split UTF-8 into bytes, so its models could
emit half a character and its users met that constantly with accented or Chinese text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from charlm.errors import CharlmError


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

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """Map text to int64 ids; a character outside the vocabulary is an error that names it."""
        # Vectorised through code points: a 100 MB corpus encodes in about a second.
        try:
            codepoints = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError as err:  # a lone surrogate: how Python passes on an invalid byte in argv
            raise CharlmError(f"{what} holds an invalid character at position {err.start} (an undecodable byte "
                              f"{text[err.start]!r}); give it as valid UTF-8") from None
        ids = np.searchsorted(self._codepoints, codepoints)
        ids_clipped = np.minimum(ids, len(self.chars) - 1)
        unknown = self._codepoints[ids_clipped] != codepoints
        if unknown.any():
            pos = int(np.argmax(unknown))
            char = text[pos]
            raise CharlmError(
                f"{what} contains {char!r} (U+{ord(char):04X}) at position {pos}, a character the model never saw "
                f"in training; remove it or use only characters of its {len(self)}-character vocabulary"
            )
        return ids_clipped.astype(np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return "".join(self.chars[int(i)] for i in ids)
