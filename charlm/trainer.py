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
from charlm.device import autocast, resolve_device
from charlm.errors import CharlmError, check_float, check_int, check_keys
from charlm.model import CharRNN, State, detach_state, last_rows
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
    bf16: bool = True  # autocast on CUDA only
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
        if not isinstance(self.bf16, bool):
            raise CharlmError(f"bf16 must be true or false, not {self.bf16!r}")
        self.explode_factor = check_float("explode_factor", self.explode_factor, 1.0, above=True)
        if self.max_epochs is None and self.max_iters is None and self.max_seconds is None:
            self.max_epochs = 50  # char-rnn's default

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
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
             device: torch.device | None = None, use_bf16: bool = True) -> float:
    """Mean loss in nats/char over every character of a split after the first, state carried as in training."""
    device = device or next(model.parameters()).device
    batcher = eval_batcher(ids, batch_size, seq_length)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for xb, yb in batcher:
        if state is not None and xb.shape[0] < batcher.batch_size:
            state = last_rows(state, xb.shape[0])  # the tail batch continues the last stream
        with autocast(device, use_bf16):
            _, loss, state = model(xb.to(device), state, yb.to(device))
        total += loss.item() * yb.numel()
        count += yb.numel()
    model.train(was_training)
    return total / count


class Trainer:
    def __init__(self, model: CharRNN, vocab: Vocab, splits: dict[str, np.ndarray], config: TrainConfig,
                 callbacks: Sequence[Callback] = ()) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.vocab = vocab
        self.splits = splits
        self.callbacks = list(callbacks)
        self.batcher = StreamBatcher.from_ids(splits["train"], config.batch_size, config.seq_length, "train")
        self.optimizer = self._make_optimizer()
        self.state = TrainState(learning_rate=config.learning_rate)
        self.carried: State | None = None  # hidden state handed from one batch to the next
        self._stop_reason: str | None = None
        self.stop_signal: int | None = None  # the signal that asked training to stop, if one did
        torch.manual_seed(config.seed)

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

    def request_stop(self, reason: str) -> None:
        self._stop_reason = reason

    def fire(self, hook: str) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self)

    # --- resume ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "batcher": self.batcher.state_dict(),
            "carried": self.carried,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "train_state": asdict(self.state),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.batcher.load_state_dict(saved["batcher"])
        carried = saved["carried"]
        self.carried = tuple(carried) if isinstance(carried, (tuple, list)) else carried
        torch.set_rng_state(saved["rng_cpu"].cpu())
        if torch.cuda.is_available() and saved["rng_cuda"]:
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng_cuda"]])
        self.state = TrainState(**saved["train_state"])
        self.state.val_losses = [tuple(pair) for pair in self.state.val_losses]
        self.state.stop_reason = None

    # --- the loop -------------------------------------------------------------------------------------------
    def _should_stop(self) -> str | None:
        cfg, st = self.config, self.state
        if cfg.max_iters is not None and st.iteration >= cfg.max_iters:
            return "max_iters"
        if cfg.max_epochs is not None and st.iteration >= math.ceil(cfg.max_epochs * self.iters_per_epoch):
            return "max_epochs"
        if cfg.max_seconds is not None and st.elapsed >= cfg.max_seconds:
            return "max_seconds"
        return self._stop_reason

    def train_step(self) -> float:
        cfg = self.config
        xb, yb, new_epoch = self.batcher.next_batch()
        if new_epoch:
            self.carried = None  # streams restart at their beginnings
        lr = learning_rate_at(cfg, self.state.iteration // self.iters_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        with autocast(self.device, cfg.bf16):
            _, loss, state = self.model(xb.to(self.device, non_blocking=True), self.carried,
                                        yb.to(self.device, non_blocking=True))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.carried = detach_state(state)
        self.state.learning_rate = lr
        return loss.item()

    def fit(self) -> TrainState:
        """Train until a limit is reached, a stop signal arrives (Ctrl-C, SIGTERM, SIGHUP), or the loss diverges;
        callbacks see each event."""
        st, cfg = self.state, self.config
        self.fire("on_train_start")
        with _StopOnSignal(self):
            try:
                while (reason := self._should_stop()) is None:
                    start = time.perf_counter()
                    loss = self.train_step()
                    seconds = time.perf_counter() - start
                    if not math.isfinite(loss) or (st.first_loss is not None and loss > cfg.explode_factor * st.first_loss):
                        st.stop_reason = "diverged"
                        raise CharlmError(
                            f"training loss {'is NaN' if math.isnan(loss) else f'exploded to {loss:.3g}'} at iteration "
                            f"{st.iteration + 1}; the last checkpoint is kept. Lower --learning-rate or --grad-clip"
                        )
                    st.first_loss = loss if st.first_loss is None else st.first_loss
                    st.iteration += 1
                    st.epoch = st.iteration / self.iters_per_epoch
                    st.train_loss = loss
                    st.train_losses.append(loss)
                    st.elapsed += seconds
                    st.chars_per_second = self.batcher.batch_size * cfg.seq_length / max(seconds, 1e-9)
                    self.fire("on_step_end")
                st.stop_reason = reason
            except CharlmError:
                st.stop_reason = st.stop_reason or "failed"  # e.g. a checkpoint could not be written
                raise
            except BaseException:
                st.stop_reason = "aborted"  # a second Ctrl-C or an error mid-step: the weights may be half-updated
                raise
            finally:
                self.fire("on_train_end")
        return st


# Signals that ask a trainer to stop: Ctrl-C, and what `timeout`, Slurm, `docker stop`, a closed terminal and a
# notebook kernel shutdown send. SIGHUP does not exist on Windows.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _StopOnSignal:
    """Turn the first Ctrl-C, SIGTERM or SIGHUP into a stop request honoured between steps, so the checkpoint
    written on the way out is consistent (a signal inside optimizer.step would leave half-updated weights).
    ``trainer.stop_signal`` records which; a second signal gets the previous handlers and interrupts at once."""

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
            self.previous = {signum: signal.signal(signum, self._handler) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            self._restore()
