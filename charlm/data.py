"""Splits and the batcher of char-rnn (util/CharSplitLMMinibatchLoader.lua).

A split is viewed as ``batch_size`` contiguous streams laid side by side; each batch is the next ``seq_length``
characters of every stream. Row b of batch i+1 continues row b of batch i, so the hidden state the model ends
a batch with is the right state to start the next one with: truncated backpropagation through time.

How a text is cut into train/val/test is a :class:`charlm.split.Split` (its docstring states the rules); here a
text's ids cut by one (:class:`SplitIds`) become the training batcher's streams and the held-out batches.

The streams are views of the ids as given, in their own type (a corpus is encoded to
``Vocab.compact_dtype``: one byte per character for up to 256 characters); a batch becomes int64, what the
embedding takes, only when it is handed out, so a corpus costs its compact ids and nothing more per character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from charlm.errors import CharlmError, check_int
# The split's rule lives in charlm.split (no torch); its names are charlm.data's too, where the engine always had them.
from charlm.split import (DEFAULT_FRACTIONS, DEFAULT_SPLIT, SPLIT_KINDS, SPLIT_NAMES, Piece, Split,  # noqa: F401
                          check_fractions, split_ids)


def _as_streams(ids: np.ndarray, end: int) -> torch.Tensor:
    """``ids[:end]`` as a tensor sharing their memory (integer ids of any width are kept as they are)."""
    data = np.asarray(ids[:end])
    if data.dtype.kind not in "iu":
        data = data.astype(np.int64)  # e.g. a list of ints or a range: small inputs of tests and tools
    return torch.from_numpy(np.ascontiguousarray(data))


@dataclass
class StreamBatcher:
    """Batches of (inputs, targets), each (batch_size, seq_length), walking ``batch_size`` contiguous streams.

    ``shard(rank, world)`` keeps a subset of the streams, so data-parallel workers can each carry the hidden
    state of their own streams.
    """

    x: torch.Tensor  # (B, n_batches * T): row b is stream b, in the ids' own (compact) type
    y: torch.Tensor  # (B, n_batches * T): x shifted by one character (a view of the same memory)
    seq_length: int
    cursor: int = 0  # index of the next batch within the epoch
    epoch: int = 0  # completed passes over the split

    @classmethod
    def from_ids(cls, ids: np.ndarray, batch_size: int, seq_length: int, split: str = "train") -> "StreamBatcher":
        if batch_size < 1 or seq_length < 1:
            raise CharlmError(f"batch_size ({batch_size}) and seq_length ({seq_length}) must be at least 1")
        needed = batch_size * seq_length + 1
        n_batches = (len(ids) - 1) // (batch_size * seq_length)
        if n_batches < 1:
            raise CharlmError(
                f"the {split} split has {len(ids):,} characters but one batch needs {needed:,} "
                f"(batch_size {batch_size} x seq_length {seq_length} + 1); lower --batch-size or --seq-length, "
                f"or give more text"
            )
        stream_len = n_batches * seq_length
        used = batch_size * stream_len
        data = _as_streams(ids, used + 1)
        return cls(x=data[:used].view(batch_size, stream_len), y=data[1 : used + 1].view(batch_size, stream_len),
                   seq_length=seq_length)

    @property
    def batch_size(self) -> int:
        return self.x.shape[0]

    def __len__(self) -> int:
        return self.x.shape[1] // self.seq_length

    def batch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``i`` as int64 (B, T) inputs and targets (a copy of B x T ids; int64 ids are not copied)."""
        cols = slice(i * self.seq_length, (i + 1) * self.seq_length)
        return self.x[:, cols].long(), self.y[:, cols].long()

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """The next batch and whether it starts a new pass (then the carried state must be reset)."""
        starts_epoch = self.cursor == 0
        xb, yb = self.batch(self.cursor)
        self.cursor += 1
        if self.cursor == len(self):
            self.cursor = 0
            self.epoch += 1
        return xb, yb, starts_epoch

    def __iter__(self):
        """One pass over the split in order, independent of the cursor (used for evaluation)."""
        return (self.batch(i) for i in range(len(self)))

    def shard(self, rank: int, world_size: int) -> "StreamBatcher":
        if not 0 <= rank < world_size or self.batch_size % world_size:
            raise CharlmError(f"cannot split {self.batch_size} streams into {world_size} equal shards")
        rows = slice(rank, None, world_size)
        return StreamBatcher(self.x[rows], self.y[rows], self.seq_length, self.cursor, self.epoch)

    def to(self, device: torch.device) -> "StreamBatcher":
        """The same batcher with its streams on ``device``: on a GPU the split is copied once, not every batch."""
        if self.x.device == device:
            return self
        return StreamBatcher(self.x.to(device), self.y.to(device), self.seq_length, self.cursor, self.epoch)

    def state_dict(self) -> dict[str, int]:
        return {"cursor": self.cursor, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if not 0 <= state["cursor"] < len(self):
            raise CharlmError("the checkpoint's batch position does not fit this text; resume on the same file")
        self.cursor, self.epoch = int(state["cursor"]), int(state["epoch"])


@dataclass
class EvalBatches:
    """Every target of a held-out split, as (inputs, targets) batches to run in order with the state carried.

    Contiguous: the split is laid out as ``batch_size`` contiguous streams like StreamBatcher, but nothing is
    dropped: the last batch of the streams may be shorter than ``seq_length``, and the few characters left over
    after the last stream come as a final one-row batch that continues that stream (so it takes the state's last
    row). Striped: the rows are the stripes, and ``warm`` holds the text before each stripe in its row, read
    first (:meth:`warmup`) and never scored.
    """

    x: torch.Tensor  # (B, S): row b is stream b, in the ids' own (compact) type; batches are handed out as int64
    y: torch.Tensor  # (B, S)
    tail_x: torch.Tensor  # (1, R), R < B: the characters after the last stream
    tail_y: torch.Tensor  # (1, R)
    seq_length: int
    warm: torch.Tensor | None = None  # (B, W): read before the streams to set their state, never scored

    @property
    def batch_size(self) -> int:
        return self.x.shape[0]

    @property
    def num_targets(self) -> int:
        return self.y.numel() + self.tail_y.numel()

    def shard(self, rank: int, world_size: int) -> "EvalBatches":
        """Every world_size-th stream, as StreamBatcher.shard: the tail goes with the last stream's owner."""
        if not 0 <= rank < world_size or self.batch_size % world_size:
            raise CharlmError(f"cannot split {self.batch_size} streams into {world_size} equal shards")
        rows = slice(rank, None, world_size)
        owns_tail = rank == (self.batch_size - 1) % world_size
        tail_x, tail_y = (self.tail_x, self.tail_y) if owns_tail else (self.tail_x[:, :0], self.tail_y[:, :0])
        return EvalBatches(self.x[rows], self.y[rows], tail_x, tail_y, self.seq_length,
                           None if self.warm is None else self.warm[rows])

    def to(self, device: torch.device) -> "EvalBatches":
        return EvalBatches(self.x.to(device), self.y.to(device), self.tail_x.to(device), self.tail_y.to(device),
                           self.seq_length, None if self.warm is None else self.warm.to(device))

    def warmup(self):
        """The text before each stream, as int64 input batches (B, <= seq_length), to run before scoring."""
        width = 0 if self.warm is None else self.warm.shape[1]
        for start in range(0, width, self.seq_length):
            yield self.warm[:, start : start + self.seq_length].long()  # type: ignore[index]

    def __iter__(self):
        for start in range(0, self.x.shape[1], self.seq_length):
            yield self.x[:, start : start + self.seq_length].long(), self.y[:, start : start + self.seq_length].long()
        if self.tail_y.numel():
            yield self.tail_x.long(), self.tail_y.long()


def check_eval_args(batch_size: int, seq_length: int) -> tuple[int, int]:
    """The one check of evaluation's batch shape (``charlm eval``, ``evaluate`` and training's validation)."""
    return check_int("batch_size", batch_size, 1), check_int("seq_length", seq_length, 1)


def eval_batcher(ids: np.ndarray, batch_size: int, seq_length: int, split: str = "val") -> EvalBatches:
    """Batches scoring every character of a held-out split after the first; splits smaller than a batch use
    fewer streams, so that each stream is at least ``seq_length`` long when the split allows."""
    batch_size, seq_length = check_eval_args(batch_size, seq_length)
    if len(ids) < 2:
        raise CharlmError(f"the {split} split has {len(ids)} characters, too few to evaluate; give more text")
    targets = len(ids) - 1
    streams = max(1, min(batch_size, targets // seq_length))
    stream_len = targets // streams
    used = streams * stream_len
    data = _as_streams(ids, len(ids))
    return EvalBatches(x=data[:used].view(streams, stream_len), y=data[1 : used + 1].view(streams, stream_len),
                       tail_x=data[used:-1].view(1, -1), tail_y=data[used + 1 :].view(1, -1),
                       seq_length=min(seq_length, stream_len))


# --------------------------------------------------------------------------- a text's ids, cut by a Split


class SplitIds:
    """A text's ids cut by a :class:`Split`: the training streams (``train_batcher``) and what a pass over a
    held-out split scores (``held_out``, ``scored``)."""

    split: Split

    def train_batcher(self, batch_size: int, seq_length: int) -> StreamBatcher:
        raise NotImplementedError

    def held_out(self, name: str, batch_size: int, seq_length: int) -> EvalBatches:
        raise NotImplementedError

    def scored(self, name: str) -> int:
        """How many characters a pass over split ``name`` scores (0: the split is empty)."""
        raise NotImplementedError


class ContiguousIds(SplitIds):
    """Contiguous parts, each its own array (``parts``): the train part is the batcher's streams, a held-out
    part is scored after its first character, as :func:`eval_batcher` lays it out."""

    def __init__(self, parts: Mapping[str, np.ndarray], split: Split = DEFAULT_SPLIT) -> None:
        self.parts = dict(parts)
        self.split = split

    def train_batcher(self, batch_size: int, seq_length: int) -> StreamBatcher:
        return StreamBatcher.from_ids(self.parts["train"], batch_size, seq_length, "train")

    def held_out(self, name: str, batch_size: int, seq_length: int) -> EvalBatches:
        return eval_batcher(self.parts[name], batch_size, seq_length, name)

    def scored(self, name: str) -> int:
        return max(0, len(self.parts.get(name, ())) - 1)


class StripedIds(SplitIds):
    """The ids laid out in the striped split's rows (views of the ids, no copy): the training columns are the
    batcher's streams, a held-out split is its stripes, each warmed up on the text before it in its row."""

    def __init__(self, ids: np.ndarray, split: Split) -> None:
        self.split = split
        self.columns = split.columns(len(ids))
        rows, self.chunk = split.shape()
        row_length = self.columns["test"][1]
        used = rows * row_length
        data = _as_streams(ids, used + 1)
        self.x = data[:used].view(rows, row_length)
        self.y = data[1 : used + 1].view(rows, row_length)  # every input's target: the next character of the text

    def _check_rows(self, batch_size: int, what: str) -> None:
        if batch_size != self.x.shape[0]:
            raise CharlmError(f"the striped split has {self.x.shape[0]} rows but the {what} asks for batches of "
                              f"{batch_size}; give the split's rows as --batch-size")

    def train_batcher(self, batch_size: int, seq_length: int) -> StreamBatcher:
        self._check_rows(batch_size, "training")
        c0, c1 = self.columns["train"]
        if c1 - c0 < seq_length:
            raise CharlmError(f"the striped split leaves each row {c1 - c0:,} training characters, fewer than one "
                              f"sequence of {seq_length}; raise the train fraction, or give more text")
        return StreamBatcher(self.x[:, c0:c1], self.y[:, c0:c1], seq_length)

    def held_out(self, name: str, batch_size: int, seq_length: int, warmup: int | None = None) -> EvalBatches:
        """Split ``name``'s stripes, after ``warmup`` characters of the text before each in its row (default one
        chunk). The stripes are the batch's rows whatever ``batch_size`` says; ``seq_length`` only sets how much
        is run at a time (the state is carried, so it changes no loss)."""
        c0, c1 = self.columns[name]
        width = min(self.chunk if warmup is None else check_int("warmup", warmup, 0), c0)
        empty = self.x[:1, :0]
        return EvalBatches(self.x[:, c0:c1], self.y[:, c0:c1], empty, empty, check_int("seq_length", seq_length, 1),
                           self.x[:, c0 - width : c0])

    def scored(self, name: str) -> int:
        c0, c1 = self.columns.get(name, (0, 0))
        return self.x.shape[0] * (c1 - c0)


def cut(ids: np.ndarray, split: Split) -> SplitIds:
    """The ids of a text cut by ``split``: what training batches and evaluation scores."""
    if not split.striped:
        return ContiguousIds(split_ids(ids, split.fractions), split)
    return StripedIds(ids, split)


def as_split_ids(splits: "SplitIds | Mapping[str, np.ndarray]") -> SplitIds:
    """A SplitIds, or contiguous parts given as arrays ({"train": ids, "val": ...}) taken as they are."""
    return splits if isinstance(splits, SplitIds) else ContiguousIds(splits)
