"""How a text is cut into train/val/test: the rule (:class:`Split`), and what each split scores (:class:`Piece`).

A :class:`Split` is one of two kinds:

    contiguous   the first fractions[0] of the characters train, the next fractions[1] validate, the next
                 fractions[2] test (the project's default, DEFAULT_SPLIT)
    striped      char-rnn's: the text is laid out as ``rows`` rows (char-rnn: batch_size) and each row cut into
                 chunks of ``chunk`` characters (char-rnn: seq_length); the first chunks of every row train,
                 the next validate, the last test, so validation and test are ``rows`` stripes spread over
                 the whole text

The rules of the striped split, char-rnn's where it has one:

* The text is cut to the largest multiple of rows x chunk that leaves one character after it (char-rnn cuts to
  the largest multiple and wraps the last target round to the first character; we keep the true next one).
  Row b holds the inputs [b L, (b + 1) L), L = chunks x chunk. The target of every input is the character after
  it in the text, so the targets of a row's last training chunk run into its first validation chunk by one
  character, as in char-rnn.
* A split scores the targets of its inputs: the characters [b L + c0 + 1, b L + c1 + 1) of row b for its
  columns [c0, c1). Every character after the first is scored by exactly one split.
* Chunks per row: ``floor(chunks x fractions[0])`` train and ``floor(chunks x fractions[1])`` validate, the rest
  test; with fractions[2] = 0 the rest validates (char-rnn's special case). The fractions must sum to 1.
* Training: the training stripes are the batch's streams, so row b of every batch is row b of the text and
  an epoch is the training chunks in order: char-rnn's batches.
* Evaluation: each stripe is scored with its state carried along it, started from the text before it in its
  row: the model first reads the ``warmup`` characters before the stripe (default one chunk, the chunk before
  it), unscored, from a zero state (char-rnn starts every validation pass from a zero state). A baseline scores
  each stripe after the same preceding text (:class:`Piece`; the n-gram's ``loss_pieces``).

This module knows nothing of tensors (reading a preset or a results record needs no torch); charlm.data's
``cut`` lays a text's ids out by a Split for training and evaluation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from charlm.errors import CharlmError, check_float, check_int

SPLIT_NAMES = ("train", "val", "test")
# The project's split when a data set has no standard one: the first 90% trains, the next 5% validates, the rest tests.
DEFAULT_FRACTIONS = (0.90, 0.05, 0.05)
SPLIT_KINDS = ("contiguous", "striped")


def check_fractions(fractions: Any) -> tuple[float, float, float]:
    """Three split fractions as floats, or a CharlmError (the one check, before a run directory is touched)."""
    if isinstance(fractions, (str, bytes)) or not hasattr(fractions, "__len__") or len(fractions) != 3:
        raise CharlmError(f"split fractions {fractions!r} must be three numbers (train, val, test)")
    values = tuple(check_float(f"{name}_frac", value, 0.0) for name, value in zip(SPLIT_NAMES, fractions))
    if not 0.0 < sum(values) <= 1.0 + 1e-9:
        raise CharlmError(f"split fractions {values} must be three non-negative numbers summing to at most 1")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class Piece:
    """A stretch of a text scored as one: the characters [start, end), each predicted from the text before it.
    [context, start) is what precedes the stretch in its row (striped) or in the text (contiguous): a model
    reads it first and scores none of it."""

    context: int
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Split:
    """How a text is cut into train/val/test (the module's docstring states the rules of each kind).

    A striped split is complete when it knows its ``rows`` and ``chunk``; ``for_batches`` completes it from a
    run's batch shape (rows = batch_size, chunk = seq_length, as char-rnn) and refuses a shape it does not fit.
    """

    kind: str = "contiguous"
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    rows: int | None = None  # striped: the text laid out as this many rows (char-rnn's batch_size)
    chunk: int | None = None  # striped: each row cut into chunks of this many characters (char-rnn's seq_length)

    def __post_init__(self) -> None:
        if self.kind not in SPLIT_KINDS:
            raise CharlmError(f"unknown split {self.kind!r}; choose one of {', '.join(SPLIT_KINDS)}")
        # To 12 decimals, so that a test share computed as 1 - (0.8 + 0.1) is the 0.1 a preset writes.
        object.__setattr__(self, "fractions", tuple(round(f, 12) for f in check_fractions(self.fractions)))
        if self.kind == "contiguous":
            if self.rows is not None or self.chunk is not None:
                raise CharlmError("a contiguous split has no rows or chunk; leave them out, or choose the striped split")
            return
        for name in ("rows", "chunk"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_int(f"split {name}", getattr(self, name), 1))
        if abs(sum(self.fractions) - 1.0) > 1e-6:
            raise CharlmError(f"the striped split's fractions {list(self.fractions)} sum to {sum(self.fractions):g}; "
                              f"they must sum to 1 (its test split is the rest of every row, as char-rnn's)")

    @property
    def striped(self) -> bool:
        return self.kind == "striped"

    def for_batches(self, batch_size: int, seq_length: int) -> "Split":
        """This split for a run of ``batch_size`` x ``seq_length`` batches: a striped split's training stripes are
        the batch's streams, so its rows are the batch size and its chunk the sequence length."""
        if not self.striped:
            return self
        rows = batch_size if self.rows is None else self.rows
        chunk = seq_length if self.chunk is None else self.chunk
        if (rows, chunk) != (batch_size, seq_length):
            raise CharlmError(f"the striped split of {rows} rows x {chunk} does not fit batches of {batch_size} x "
                              f"{seq_length}: its rows are the batch size and its chunk the sequence length; give "
                              f"the same --batch-size and --seq-length")
        return Split(self.kind, self.fractions, rows, chunk)

    @property
    def label(self) -> str:
        """'80/10/10', or 'striped 100x100, 80/10/10' (rows x chunk): how a record names the split."""
        shares = "/".join(f"{100 * f:.3g}" for f in self.fractions)
        if not self.striped:
            return shares
        shape = f" {self.rows}x{self.chunk}" if self.rows is not None and self.chunk is not None else ""
        return f"striped{shape}, {shares}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "fractions": list(self.fractions), "rows": self.rows, "chunk": self.chunk}

    @classmethod
    def from_json(cls, raw: Any) -> "Split":
        if not isinstance(raw, Mapping):
            raise CharlmError(f"split is {raw!r}, not a table")
        unknown = sorted(set(raw) - {"kind", "fractions", "rows", "chunk"})
        if unknown:
            raise CharlmError(f"split has unknown key(s) {unknown}")
        return cls(raw.get("kind", "contiguous"), raw.get("fractions", DEFAULT_FRACTIONS), raw.get("rows"),
                   raw.get("chunk"))

    # --- the striped layout -------------------------------------------------------------------------------
    def chunk_counts(self, n: int) -> tuple[int, int, int]:
        """Chunks per row of each split (train, val, test) for a text of ``n`` characters."""
        rows, chunk = self.shape()
        per_row = (n - 1) // (rows * chunk)
        if per_row < 1:
            raise CharlmError(f"the striped split of {rows} rows x {chunk} needs at least {rows * chunk + 1:,} "
                              f"characters and the text has {n:,}; lower --batch-size or --seq-length, or give more text")
        f_train, f_val, f_test = self.fractions
        n_train = math.floor(per_row * f_train)
        if f_test < 1e-9:  # char-rnn: no test split wanted, the rest validates
            return n_train, per_row - n_train, 0
        n_val = math.floor(per_row * f_val)
        return n_train, n_val, per_row - n_train - n_val

    def shape(self) -> tuple[int, int]:
        if self.rows is None or self.chunk is None:
            raise CharlmError("the striped split needs its rows and chunk (the batch size and sequence length); "
                              "complete it with Split.for_batches(batch_size, seq_length)")
        return self.rows, self.chunk

    def columns(self, n: int) -> dict[str, tuple[int, int]]:
        """[c0, c1) input columns of each split within a row."""
        _, chunk = self.shape()
        n_train, n_val, n_test = self.chunk_counts(n)
        marks = [chunk * m for m in itertools.accumulate((0, n_train, n_val, n_test))]
        return {name: (marks[i], marks[i + 1]) for i, name in enumerate(SPLIT_NAMES)}

    # --- cutting ---------------------------------------------------------------------------------------------
    def pieces(self, n: int) -> dict[str, list[Piece]]:
        """Each split of a text of ``n`` characters as the stretches it scores: one per row for a striped split
        (its stripes, in text order), one for a contiguous split (scored after all the text before it)."""
        if not self.striped:
            bounds = split_ids(range(n), self.fractions)  # type: ignore[arg-type]
            return {name: [Piece(0, r.start, r.stop)] if len(r) else [] for name, r in bounds.items()}
        rows, _ = self.shape()
        row_length = sum(c1 - c0 for c0, c1 in self.columns(n).values())
        return {name: [Piece(b * row_length, b * row_length + c0 + 1, b * row_length + c1 + 1)
                       for b in range(rows)] if c1 > c0 else []
                for name, (c0, c1) in self.columns(n).items()}


DEFAULT_SPLIT = Split()


def split_ids(ids: Sequence[Any], fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> dict[str, Any]:
    """Cut a sequence (an array of ids, or range(n) for the bounds alone) into contiguous train/val/test parts of
    the same type (no shuffling: the text's order is its structure)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not 0.0 < sum(fractions) <= 1.0 + 1e-9:
        raise CharlmError(f"split fractions {fractions} must be three non-negative numbers summing to at most 1")
    n = len(ids)
    train_end = int(round(n * fractions[0]))
    val_end = train_end + int(round(n * fractions[1]))
    test_end = min(n, val_end + int(round(n * fractions[2])))
    return {"train": ids[:train_end], "val": ids[train_end:val_end], "test": ids[val_end:test_end]}
