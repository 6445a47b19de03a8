"""What a data set is: its Source (where it comes from, how input.txt is made), split policy, and builder types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from charlm.datasets.http import Expected, HttpOptions


@dataclass(frozen=True)
class Splits:
    """How to cut train/val/test: fractions of the characters, or of the bytes (enwik8's convention)."""

    fractions: tuple[float, float, float]
    by: str  # "char" | "byte"
    convention: str


# charlm's default (char-rnn used 0.95/0.05/0): a held-out test split, so test losses can sit beside published ones.
DEFAULT_SPLITS = Splits((0.90, 0.05, 0.05), "char", "contiguous: first 90% of the characters train, next 5% val, last 5% test")
ENWIK8_SPLITS = Splits((0.9, 0.05, 0.05), "byte", "enwik8 standard: first 90% of the bytes train, next 5% val, last 5% test (90M/5M/5M)")
HELO_SPLITS = Splits((1.0, 0.0, 0.0), "char", "toy example: the whole string is the one training sequence")


@dataclass(frozen=True)
class Context:
    """Everything a builder may use; passed in so builders read no global state."""

    workdir: Path  # scratch space for downloads; survives a failure so a .part can resume
    http: HttpOptions
    progress: bool
    full: bool
    say: Callable[[str], None]


@dataclass(frozen=True)
class Built:
    """What a builder reports besides the text it wrote."""

    source: str
    source_sha256: str | None
    verified_against: str
    notes: tuple[str, ...] = ()
    partial: bool = False
    char_marks: tuple[int, int] | None = None  # train/val and val/test cuts, overriding Splits
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One data set: where it comes from and how its input.txt is made."""

    name: str
    title: str
    url: str
    licence: str
    build: Callable[["Source", Context, Path], Built]  # network (or builtin) path: writes input text to the Path
    transform: Callable[[Path, Path], list[str]]  # verified raw file -> input text; returns notes for meta
    mirror_name: str | None = None  # row of the mirror's MANIFEST.tsv
    expected: Expected = Expected()  # pinned checks of the downloaded (or unzipped) source
    splits: Splits = DEFAULT_SPLITS
    mirror_note: str = ""
    mirror_partial: bool = False
    # Bumped when how input.txt is made changes: a copy prepared by an older recipe is prepared again.
    recipe: int = 1
    text_sha256: str | None = None  # pinned hash of the prepared input.txt itself, whatever path made it
