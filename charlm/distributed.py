"""Several processes (torchrun): this process's place in the job, and every collective the trainer uses.

Launched alone, a process is rank 0 of a world of 1 and every method here is the identity, so the trainer reads
the same with or without torchrun. Under torchrun each rank owns every world_size-th of the batch's streams
(``shard``); gradients are averaged by DistributedDataParallel (``wrap``); stop decisions are agreed at each loss
read (``agree``, since clocks and signals differ between ranks); the carried state is gathered in the
single-process row order for checkpoints (``gather_rows``) and split again on resume (``own_rows``). Only rank 0
writes files. A collective that fails because another process died raises ``PeerLost``, one line, so that rank 0
can still save what it holds.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator, TypeVar

import torch

from charlm.device import resolve_device
from charlm.errors import CharlmError
from charlm.model import State

Shardable = TypeVar("Shardable")


class PeerLost(CharlmError):
    """Another process of the torchrun job stopped (killed, or crashed) while this one waited on it."""


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job; rank 0 of world 1 when run alone."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files (checkpoints, metrics, samples) and prints: rank 0."""
        return self.rank == 0

    @contextlib.contextmanager
    def collective(self) -> Iterator[None]:
        """Turn a collective's failure (gloo: "Connection closed by peer"; NCCL: a watchdog error) into PeerLost.
        Alone, nothing can fail this way and errors pass through."""
        try:
            yield
        except RuntimeError as err:  # torch.distributed's errors (DistBackendError, DistNetworkError) derive from it
            if not self.enabled:
                raise
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            raise PeerLost(f"another process of the torchrun job stopped ({first}); rank {self.rank} stops too. "
                           f"Resume with torchrun ... --resume at the same --nproc_per_node") from None

    def all_reduce(self, values: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Sum (or max) a tensor over all ranks in place; the identity for one process."""
        if self.enabled:
            import torch.distributed as dist

            with self.collective():
                dist.all_reduce(values, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return values

    def all_gather(self, value: torch.Tensor) -> list[torch.Tensor]:
        if not self.enabled:
            return [value]
        import torch.distributed as dist

        gathered = [torch.empty_like(value) for _ in range(self.world_size)]
        with self.collective():
            dist.all_gather(gathered, value.contiguous())
        return gathered

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            with self.collective():
                dist.barrier()

    def agree(self, elapsed: float, stop_asked: bool, device: torch.device) -> tuple[float, bool]:
        """The job's training time (the slowest rank's) and whether any rank was asked to stop."""
        if not self.enabled:
            return elapsed, stop_asked
        values = self.all_reduce(torch.tensor([elapsed, float(stop_asked)], dtype=torch.float64, device=device),
                                 op="max").cpu()
        return float(values[0]), bool(values[1] > 0)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over ranks (each rank's loss is over its own streams, all of equal size)."""
        return self.all_reduce(values) / self.world_size if self.enabled else values

    def shard(self, batches: Shardable) -> Shardable:
        """This rank's streams of a StreamBatcher or EvalBatches (every world_size-th row)."""
        return batches.shard(self.rank, self.world_size) if self.enabled else batches  # type: ignore[attr-defined]

    def can_shard(self, streams: int) -> bool:
        return self.enabled and streams % self.world_size == 0

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module to train: DistributedDataParallel averaging gradients over ranks, or the model itself."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def gather_rows(self, state: State | None) -> State | None:
        """Every rank's carried state, (L, B/world, H) each, as the (L, B, H) of one process (row i of rank r is
        global row i*world + r). Every rank must call it."""
        if state is None or not self.enabled:
            return state

        def gather(part: torch.Tensor) -> torch.Tensor:
            stacked = torch.stack(self.all_gather(part), dim=2)  # (L, B/world, world, H)
            return stacked.reshape(part.shape[0], -1, part.shape[2])

        return tuple(gather(s) for s in state) if isinstance(state, tuple) else gather(state)  # type: ignore[return-value]

    def own_rows(self, part: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a saved (L, B, H) state."""
        return part[:, self.rank :: self.world_size] if self.enabled else part

    def finish(self) -> None:
        """Leave the process group (every rank is done: training ended on a barrier)."""
        if self.enabled:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()


SINGLE = Distributed()


def from_env(environ: dict[str, str] | None = None) -> Distributed:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (absent: one process)."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise CharlmError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers; launch with torchrun") from None
    if world < 1 or not 0 <= rank < world:
        raise CharlmError(f"RANK {rank} does not fit WORLD_SIZE {world}; launch with torchrun")
    return Distributed(rank, world, local)


def job_device(device_name: str, group: Distributed) -> torch.device:
    """The device this rank trains on: under torchrun, CUDA means the GPU of its local rank. Checked only, nothing
    is set, so a refused setting is refused before anything is written."""
    device = resolve_device(device_name)
    if group.enabled and device.type == "mps":
        raise CharlmError("torchrun with --device mps is not supported; use one process on Apple silicon")
    if group.enabled and device.type == "cuda":
        return torch.device("cuda", group.local_rank)
    return device


def join(group: Distributed, device: torch.device) -> None:
    """Join the torchrun job, if any: NCCL on CUDA (one GPU per local rank), gloo on CPU. Process-wide: the caller
    (charlm.run.train) does it, not the trainer."""
    if not group.enabled:
        return
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        with group.collective():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
