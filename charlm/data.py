"""Splits and the batcher of char-rnn (util/CharSplitLMMinibatchLoader.lua).

A split is viewed as ``batch_size`` contiguous streams laid side by side; each batch is the next ``seq_length``
characters of every stream. Row b of batch i+1 continues row b of batch i, so the hidden state the model ends
a batch with is the right state to start the next one with: truncated backpropagation through time.

The streams are views of the ids as given, in their own type (a corpus is encoded to
``Vocab.compact_dtype``: one byte per character for up to 256 characters); a batch becomes int64, what the
embedding takes, only when it is handed out, so a corpus costs its compact ids and nothing more per character.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from charlm.errors import CharlmError, check_int

SPLIT_NAMES = ("train", "val", "test")
# The project's split when a data set has no standard one: the first 90% trains, the next 5% validates, the rest tests.
DEFAULT_FRACTIONS = (0.90, 0.05, 0.05)


def _as_streams(ids: np.ndarray, end: int) -> torch.Tensor:
    """``ids[:end]`` as a tensor sharing their memory (integer ids of any width are kept as they are)."""
    data = np.asarray(ids[:end])
    if data.dtype.kind not in "iu":
        data = data.astype(np.int64)  # e.g. a list of ints or a range: small inputs of tests and tools
    return torch.from_numpy(np.ascontiguousarray(data))


def split_ids(ids: np.ndarray, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> dict[str, np.ndarray]:
    """Cut a sequence into contiguous train/val/test parts (no shuffling: the text's order is its structure)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not 0.0 < sum(fractions) <= 1.0 + 1e-9:
        raise CharlmError(f"split fractions {fractions} must be three non-negative numbers summing to at most 1")
    n = len(ids)
    train_end = int(round(n * fractions[0]))
    val_end = train_end + int(round(n * fractions[1]))
    test_end = min(n, val_end + int(round(n * fractions[2])))
    return {"train": ids[:train_end], "val": ids[train_end:val_end], "test": ids[val_end:test_end]}


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
    """Every character of a held-out split, as (inputs, targets) batches to run in order with the state carried.

    The split is laid out as ``batch_size`` contiguous streams like StreamBatcher, but nothing is dropped: the
    last batch of the streams may be shorter than ``seq_length``, and the few characters left over after the
    last stream come as a final one-row batch that continues that stream (so it takes the state's last row).
    """

    x: torch.Tensor  # (B, S): row b is stream b, in the ids' own (compact) type; batches are handed out as int64
    y: torch.Tensor  # (B, S)
    tail_x: torch.Tensor  # (1, R), R < B: the characters after the last stream
    tail_y: torch.Tensor  # (1, R)
    seq_length: int

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
        return EvalBatches(self.x[rows], self.y[rows], tail_x, tail_y, self.seq_length)

    def to(self, device: torch.device) -> "EvalBatches":
        return EvalBatches(self.x.to(device), self.y.to(device), self.tail_x.to(device), self.tail_y.to(device),
                           self.seq_length)

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
