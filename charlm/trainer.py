"""The training loop: truncated BPTT over contiguous streams, with everything else done by callbacks.

As in minGPT's trainer, the loop only steps the optimizer and tells callbacks what happened; evaluation,
samples, checkpoints, metrics and progress are callbacks (charlm/callbacks.py).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import torch

from charlm.data import StreamBatcher, eval_batcher
from charlm.device import (PRECISIONS, Distributed, autocast, configure_threads, full_float32, init_distributed,
                           needs_grad_scaler, resolve_precision, set_matmul_precision)
from charlm.errors import CharlmError, check_float, check_int, check_keys
from charlm.model import CharRNN, State, last_rows
from charlm.vocab import Vocab


@dataclass
class TrainConfig:
    # char-rnn's defaults, under char-rnn's names.
    batch_size: int = 50
    seq_length: int = 50
    learning_rate: float = 2e-3
    optimizer: Literal["adam", "rmsprop"] = "adam"
    learning_rate_decay: float = 0.97  # multiply the rate by this every epoch ...
    learning_rate_decay_after: int = 10  # ... from this epoch on
    decay_rate: float = 0.95  # RMSProp's smoothing (char-rnn's -decay_rate)
    grad_clip: float = 5.0  # clip the global gradient norm; 0 disables
    max_epochs: float | None = None
    max_iters: int | None = None
    max_seconds: float | None = None
    eval_interval: int = 1000  # iterations between evaluations on the validation split
    log_interval: int = 10
    seed: int = 123
    device: str = "auto"
    # auto: bf16 on CPUs with native bf16 units, TF32 on CUDA, else fp32 (charlm.device.resolve_precision)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    explode_factor: float = 3.0  # stop when loss exceeds this times the first loss (char-rnn's guard)

    def __post_init__(self) -> None:
        # The one place training settings are checked: the CLI, the Python API and the notebooks all build one.
        if self.optimizer not in ("adam", "rmsprop"):
            raise CharlmError(f"unknown optimizer '{self.optimizer}'; choose adam or rmsprop")
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        self.seq_length = check_int("seq_length", self.seq_length, 1)
        self.learning_rate = check_float("learning_rate", self.learning_rate, 0.0, above=True)
        self.learning_rate_decay = check_float("learning_rate_decay", self.learning_rate_decay, 0.0, above=True,
                                               maximum=1.0)
        self.learning_rate_decay_after = check_int("learning_rate_decay_after", self.learning_rate_decay_after, 0)
        self.decay_rate = check_float("decay_rate", self.decay_rate, 0.0, maximum=1.0)
        self.grad_clip = check_float("grad_clip", self.grad_clip, 0.0)
        if self.max_epochs is not None:
            self.max_epochs = check_float("max_epochs", self.max_epochs, 0.0, above=True)
        if self.max_iters is not None:
            self.max_iters = check_int("max_iters", self.max_iters, 1)
        if self.max_seconds is not None:
            self.max_seconds = check_float("max_seconds", self.max_seconds, 0.0, above=True)
        self.eval_interval = check_int("eval_interval", self.eval_interval, 1)
        self.log_interval = check_int("log_interval", self.log_interval, 1)
        self.seed = check_int("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.device, str) or not self.device:
            raise CharlmError(f"device {self.device!r} must be auto, cpu, cuda or cuda:N")
        self.explode_factor = check_float("explode_factor", self.explode_factor, 1.0, above=True)
        if self.max_epochs is None and self.max_iters is None and self.max_seconds is None:
            self.max_epochs = 50  # char-rnn's default
        if self.precision not in PRECISIONS:
            raise CharlmError(f"unknown precision '{self.precision}'; choose one of {', '.join(PRECISIONS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        if "bf16" in values:  # checkpoints before --precision: bf16 was on by default
            bf16 = values["bf16"]
            values = {k: v for k, v in values.items() if k != "bf16"}
            values.setdefault("precision", "auto" if bf16 else "fp32")
        check_keys("training setting(s)", values, cls.__dataclass_fields__)
        return cls(**values)


@dataclass
class TrainState:
    """What callbacks read; everything here is plain data."""

    iteration: int = 0  # optimizer steps taken
    epoch: float = 0.0
    train_loss: float = math.nan  # of the last step, nats/char
    first_loss: float | None = None
    val_loss: float | None = None  # of the last evaluation
    best_val_loss: float | None = None
    learning_rate: float = 0.0
    elapsed: float = 0.0  # seconds of training, summed over resumed runs
    chars_per_second: float = 0.0
    stop_reason: str | None = None
    train_losses: list[float] = field(default_factory=list)  # loss of step i+1 at index i
    val_losses: list[tuple[int, float]] = field(default_factory=list)  # (iteration, val loss)


class Callback:
    """Hooks the trainer calls; override what you need. ``trainer.request_stop(reason)`` ends training."""

    def on_train_start(self, trainer: "Trainer") -> None: ...
    def on_step_end(self, trainer: "Trainer") -> None: ...
    def on_evaluate(self, trainer: "Trainer") -> None: ...
    def on_train_end(self, trainer: "Trainer") -> None: ...


def learning_rate_at(config: TrainConfig, epoch_index: int) -> float:
    """char-rnn's schedule: constant, then times learning_rate_decay per epoch from learning_rate_decay_after."""
    decays = max(0, epoch_index - config.learning_rate_decay_after + 1)
    return config.learning_rate * config.learning_rate_decay ** decays


@torch.no_grad()
def evaluate(model: CharRNN, ids: np.ndarray, batch_size: int = 50, seq_length: int = 50,
             device: torch.device | None = None, *, dist: Distributed | None = None) -> float:
    """Mean loss in nats/char over every character of a split after the first, state carried as in training.

    Always in float32, whatever precision the model trained in, so a reported loss does not depend on the
    device. Under torchrun each rank scores its share of
    the streams and the sums are all-reduced.
    """
    device = device or next(model.parameters()).device
    dist = dist or Distributed()
    batcher = eval_batcher(ids, batch_size, seq_length)
    sharded = dist.enabled and batcher.batch_size % dist.world_size == 0
    if sharded:
        batcher = batcher.shard(dist.rank, dist.world_size)
    batcher = batcher.to(device)
    was_training = model.training
    model.eval()
    total, state = torch.zeros((), dtype=torch.float64, device=device), None
    with full_float32(device):  # even when called inside an autocast region or after TF32 was allowed
        for xb, yb in batcher:
            if state is not None and xb.shape[0] < batcher.batch_size:
                state = last_rows(state, xb.shape[0])  # the tail batch continues the last stream
            _, loss, state = model(xb, state, yb)
            total += loss.double() * yb.numel()
    model.train(was_training)
    sums = torch.stack([total.cpu(), torch.tensor(float(batcher.num_targets), dtype=torch.float64)])  # (loss sum, chars)
    if sharded:
        sums = dist.all_reduce(sums.to(device)).cpu()
    return float(sums[0] / sums[1])


class Trainer:
    def __init__(self, model: CharRNN, vocab: Vocab, splits: dict[str, np.ndarray], config: TrainConfig,
                 callbacks: Sequence[Callback] = ()) -> None:
        configure_threads()
        self.config = config
        self.dist, self.device = init_distributed(config.device)  # one process unless launched by torchrun
        self.precision = resolve_precision(config.precision, self.device)
        set_matmul_precision(self.device, self.precision)
        self.model = model.to(self.device)
        self.vocab = vocab
        self.splits = splits
        self.callbacks = list(callbacks)
        if config.batch_size % self.dist.world_size:
            raise CharlmError(f"batch size {config.batch_size} does not split into {self.dist.world_size} processes; "
                              f"choose a --batch-size divisible by torchrun's --nproc_per_node")
        batcher = StreamBatcher.from_ids(splits["train"], config.batch_size, config.seq_length, "train")
        # Each rank owns every world_size-th stream, so the global batch is the one a single process trains on.
        self.batcher = batcher.shard(self.dist.rank, self.dist.world_size).to(self.device)
        self.network = self._wrap(self.model)
        self.optimizer = self._make_optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=needs_grad_scaler(self.device, self.precision))
        self.state = TrainState(learning_rate=config.learning_rate)
        self.carried: State | None = None  # hidden state handed from one batch to the next, float32, this rank's streams
        self._stop_reason: str | None = None
        self.stop_signal: int | None = None  # the signal that asked training to stop, if one did
        self._unread: list[torch.Tensor] = []  # losses of the steps since the last read, on the device
        self._agreed_stop: str | None = None  # under torchrun: the stop request all ranks agreed on at the last read
        self._rate_mark = (0, 0.0)  # (iteration, elapsed) at the last read, for chars/s over the interval
        torch.manual_seed(config.seed)

    def _wrap(self, model: CharRNN) -> torch.nn.Module:
        if not self.dist.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = self.model.parameters()
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.config.learning_rate, alpha=self.config.decay_rate, eps=1e-8)
        return torch.optim.Adam(params, lr=self.config.learning_rate)

    @property
    def iters_per_epoch(self) -> int:
        return len(self.batcher)

    @property
    def has_validation(self) -> bool:
        return len(self.splits.get("val", ())) >= 2

    @property
    def is_main(self) -> bool:
        """Whether this process writes files (checkpoints, metrics, samples): rank 0, or the only process."""
        return self.dist.is_main

    def request_stop(self, reason: str) -> None:
        self._stop_reason = reason

    def fire(self, hook: str) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self)

    # --- resume ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What resuming needs. Under torchrun every rank must call it (it gathers the carried state of all
        streams, in the single-process row order); only rank 0 writes it."""
        self.read_losses()
        return {
            "optimizer": self.optimizer.state_dict(),
            "batcher": self.batcher.state_dict(),
            "carried": self._gather_carried(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "scaler": self.scaler.state_dict(),
            "train_state": asdict(self.state),
        }

    def _gather_carried(self) -> State | None:
        if self.carried is None or not self.dist.enabled:
            return self.carried

        def gather(part: torch.Tensor) -> torch.Tensor:  # (L, B/world, H) on each rank -> (L, B, H)
            stacked = torch.stack(self.dist.all_gather(part), dim=2)  # (L, B/world, world, H)
            return stacked.reshape(part.shape[0], -1, part.shape[2])  # local row i of rank r is global row i*world + r

        return tuple(gather(s) for s in self.carried) if isinstance(self.carried, tuple) else gather(self.carried)

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.batcher.load_state_dict(saved["batcher"])
        if saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        carried = saved["carried"]
        rows = slice(self.dist.rank, None, self.dist.world_size)

        def own(part: torch.Tensor) -> torch.Tensor:  # (L, B, H) -> this rank's streams, float32 on its device
            if part.shape[1] != self.config.batch_size:
                raise CharlmError(f"the checkpoint carries {part.shape[1]} streams but the batch size is "
                                  f"{self.config.batch_size}; resume with the run's --batch-size")
            return part[:, rows].float().to(self.device)

        if carried is not None:
            carried = tuple(own(s) for s in carried) if isinstance(carried, (tuple, list)) else own(carried)
        self.carried = carried
        torch.set_rng_state(saved["rng_cpu"].cpu())
        if torch.cuda.is_available() and saved["rng_cuda"]:
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng_cuda"]])
        self.state = TrainState(**saved["train_state"])
        self.state.val_losses = [tuple(pair) for pair in self.state.val_losses]
        self.state.stop_reason = None
        self._rate_mark = (self.state.iteration, self.state.elapsed)

    # --- the loop -------------------------------------------------------------------------------------------
    def _should_stop(self) -> str | None:
        cfg, st = self.config, self.state
        if cfg.max_iters is not None and st.iteration >= cfg.max_iters:
            return "max_iters"
        if cfg.max_epochs is not None and st.iteration >= math.ceil(cfg.max_epochs * self.iters_per_epoch):
            return "max_epochs"
        if self.dist.enabled:  # clocks and signals differ between ranks: act only on what all agreed at a read
            return self._agreed_stop
        if cfg.max_seconds is not None and st.elapsed >= cfg.max_seconds:
            return "max_seconds"
        return self._stop_reason

    def train_step(self) -> torch.Tensor:
        """One optimizer step; returns the loss as a tensor on the device (reading it would wait for the step)."""
        cfg = self.config
        xb, yb, new_epoch = self.batcher.next_batch()
        if new_epoch:
            self.carried = None  # streams restart at their beginnings
        lr = learning_rate_at(cfg, self.state.iteration // self.iters_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.network.train()
        with autocast(self.device, self.precision):
            _, loss, state = self.network(xb, self.carried, yb)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        # Carried state in float32 whatever the autocast dtype, so checkpoints and evaluation never see bf16/fp16.
        self.carried = tuple(s.detach().float() for s in state) if isinstance(state, tuple) else state.detach().float()
        self.state.learning_rate = lr
        return loss.detach()

    def read_losses(self) -> None:
        """Bring the unread losses to the host (one sync per log_interval steps, not one per step), averaged over
        ranks; check them for NaN and explosion; under torchrun agree on time and stop requests."""
        st, cfg = self.state, self.config
        if self.dist.enabled:
            stop = torch.tensor([st.elapsed, float(self._stop_reason is not None)], dtype=torch.float64,
                                device=self.device)
            stop = self.dist.all_reduce(stop, op="max").cpu()
            st.elapsed = float(stop[0])
            timed_out = cfg.max_seconds is not None and st.elapsed >= cfg.max_seconds
            asked = (self._stop_reason or "interrupted") if stop[1] > 0 else None
            self._agreed_stop = asked or ("max_seconds" if timed_out else None)
        if not self._unread:
            return
        losses = torch.stack(self._unread).float()  # (steps since the last read,)
        self._unread = []
        losses = (self.dist.all_reduce(losses) / self.dist.world_size).tolist()
        first_iteration = st.iteration - len(losses) + 1
        for offset, loss in enumerate(losses):
            st.first_loss = loss if st.first_loss is None else st.first_loss
            if not math.isfinite(loss) or loss > cfg.explode_factor * st.first_loss:
                st.stop_reason = "diverged"
                raise CharlmError(
                    f"training loss {'is NaN' if math.isnan(loss) else f'exploded to {loss:.3g}'} at iteration "
                    f"{first_iteration + offset}; the last checkpoint is kept. Lower --learning-rate or --grad-clip"
                )
        st.train_losses.extend(losses)
        st.train_loss = losses[-1]
        steps, seconds = st.iteration - self._rate_mark[0], st.elapsed - self._rate_mark[1]
        if steps > 0 and seconds > 0:
            st.chars_per_second = steps * cfg.batch_size * cfg.seq_length / seconds
        self._rate_mark = (st.iteration, st.elapsed)

    def fit(self) -> TrainState:
        """Train until a limit is reached, a stop signal arrives (Ctrl-C, SIGTERM, SIGHUP), or the loss diverges;
        callbacks see each event."""
        st, cfg = self.state, self.config
        self._rate_mark = (st.iteration, st.elapsed)
        self.fire("on_train_start")
        with _StopOnSignal(self):
            try:
                while (reason := self._should_stop()) is None:
                    start = time.perf_counter()
                    self._unread.append(self.train_step())
                    st.iteration += 1
                    st.epoch = st.iteration / self.iters_per_epoch
                    st.elapsed += time.perf_counter() - start
                    if st.iteration % cfg.log_interval == 0:
                        start = time.perf_counter()
                        self.read_losses()  # on a GPU this waits for the queued steps: their time counts too
                        st.elapsed += time.perf_counter() - start
                    self.fire("on_step_end")
                self.read_losses()
                st.stop_reason = reason
            except CharlmError:
                st.stop_reason = st.stop_reason or "failed"  # e.g. a checkpoint could not be written
                raise
            except BaseException:
                st.stop_reason = "aborted"  # a second Ctrl-C or an error mid-step: the weights may be half-updated
                raise
            finally:
                self.fire("on_train_end")
        self.dist.barrier()  # rank 0 has written its checkpoints before any rank reads them
        return st


# Signals that ask a trainer to stop: Ctrl-C, and what `timeout`, Slurm, `docker stop`, a closed terminal and a
# notebook kernel shutdown send. SIGHUP does not exist on Windows.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _StopOnSignal:
    """Turn the first Ctrl-C, SIGTERM or SIGHUP into a stop request honoured between steps, so the checkpoint
    written on the way out is consistent (a signal inside optimizer.step would leave half-updated weights).
    ``trainer.stop_signal`` records which; a second signal gets the previous handlers and interrupts at once.
    A signal the process was started ignoring stays ignored: ``nohup`` ignores SIGHUP and a shell's background
    job ignores SIGINT, and a trainer started so must not stop when the terminal closes."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.previous: dict[int, Any] = {}
        self.active = threading.current_thread() is threading.main_thread()

    def _handler(self, signum: int, frame: Any) -> None:
        self.trainer.stop_signal = signum
        self.trainer.request_stop("interrupted")
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def __enter__(self) -> "_StopOnSignal":
        if self.active:
            self.previous = {signum: signal.signal(signum, self._handler) for signum in STOP_SIGNALS
                             if signal.getsignal(signum) is not signal.SIG_IGN}
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            self._restore()
