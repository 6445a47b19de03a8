"""The training loop: truncated BPTT over contiguous streams, in the order char-rnn's train.lua and nanoGPT's
train.py run it.

    every iteration       one optimizer step (its loss stays on the device)
    every log_interval    read the losses: NaN and explosion checks, a metrics.jsonl line, stop agreement
    every eval_interval   validate, then save last/ (and best/ when validation improved)
    at the end            validate once more (not after a stop signal: it saves at once) and save

Evaluation, checkpoints and metrics are the loop's own code; callbacks only watch (progress, samples, user hooks).
Process-wide torch settings (threads, TF32, the seed, torchrun's process group) are the caller's: charlm.run.train.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from charlm.checkpoint import METRICS, MetricsLog, save_checkpoint
from charlm.config import UNSAFE_STOPS, DataInfo, RunInfo, TrainConfig
from charlm.data import EvalBatches, SplitIds, as_split_ids, eval_batcher
from charlm.device import autocast, full_float32, needs_grad_scaler, resolve_device, resolve_precision
from charlm.distributed import SINGLE, Distributed, PeerLost
from charlm.errors import CharlmError
from charlm.model import CharRNN, State, last_rows
from charlm.vocab import Vocab

__all__ = ["Callback", "TrainConfig", "TrainState", "Trainer", "evaluate", "learning_rate_at"]


@dataclass
class TrainState:
    """What callbacks read; everything here is plain data."""

    iteration: int = 0  # optimizer steps taken
    epoch: float = 0.0
    train_loss: float = math.nan  # of the last step, nats/char
    first_loss: float | None = None
    val_loss: float | None = None  # of the last validation pass ...
    val_iteration: int | None = None  # ... run at this iteration
    best_val_loss: float | None = None
    best_iteration: int | None = None  # where best_val_loss was reached: the weights in best/
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
def _evaluate(model: CharRNN, batches: EvalBatches, device: torch.device, group: Distributed,
              stop: Callable[[], bool] | None = None) -> float | None:
    """evaluate(); None when ``stop()`` turned true between two batches (the pass was abandoned)."""
    sharded = group.can_shard(batches.batch_size)
    batches = (group.shard(batches) if sharded else batches).to(device)
    was_training = model.training
    model.eval()
    total, state = torch.zeros((), dtype=torch.float64, device=device), None
    try:
        with full_float32(device):  # even when called inside an autocast region or after TF32 was allowed
            for xb in batches.warmup():  # a stripe's preceding text: it sets the state, it is not scored
                if stop is not None and stop():
                    return None
                _, _, state = model(xb, state)
            for xb, yb in batches:
                if stop is not None and stop():
                    return None
                if state is not None and xb.shape[0] < batches.batch_size:
                    state = last_rows(state, xb.shape[0])  # the tail batch continues the last stream
                _, loss, state = model(xb, state, yb)
                total += loss.double() * yb.numel()
    finally:
        model.train(was_training)
    sums = torch.stack([total.cpu(), torch.tensor(float(batches.num_targets), dtype=torch.float64)])  # (loss sum, chars)
    if sharded:
        sums = group.all_reduce(sums.to(device)).cpu()
    return float(sums[0] / sums[1])


def evaluate(model: CharRNN, ids: np.ndarray | EvalBatches, batch_size: int = 50, seq_length: int = 50,
             device: torch.device | None = None, *, dist: Distributed | None = None) -> float:
    """Mean loss in nats/char over every character of a text after the first (``ids``, laid out as
    ``batch_size`` streams), or over what held-out batches score (a split's ``SplitIds.held_out``: a striped
    split's stripes, each after the text before it), state carried as in training.

    Always in float32, whatever precision the model trained in, so a reported loss does not depend on the
    device. Under torchrun each rank scores its share of the streams and the sums are all-reduced.
    """
    device = device or next(model.parameters()).device
    batches = ids if isinstance(ids, EvalBatches) else eval_batcher(ids, batch_size, seq_length)
    return _evaluate(model, batches, device, dist or SINGLE)  # type: ignore[return-value]


class Trainer:
    """Trains ``model`` on the training split of ``splits`` (a text cut by a Split, or contiguous parts given as
    arrays, ``{"train": ids, "val": ids}``); with ``out_dir``, rank 0 writes checkpoints and metrics.jsonl there.

    ``device`` and ``precision`` default to resolving ``config``'s; ``group`` is this process's place in a torchrun
    job (charlm.distributed), which the caller has joined. ``data`` describes the text, for the checkpoints' record.
    """

    def __init__(self, model: CharRNN, vocab: Vocab, splits: SplitIds | dict[str, np.ndarray], config: TrainConfig,
                 callbacks: Sequence[Callback] = (), *, device: torch.device | None = None,
                 precision: str | None = None, group: Distributed = SINGLE, out_dir: str | Path | None = None,
                 data: DataInfo | None = None) -> None:
        self.config = config
        self.group = group
        self.device = device if device is not None else resolve_device(config.device)
        self.precision = precision or resolve_precision(config.precision, self.device)
        self.model = model.to(self.device)
        self.vocab = vocab
        self.splits = as_split_ids(splits)
        self.callbacks = list(callbacks)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.data = data
        if config.batch_size % group.world_size:
            raise CharlmError(f"batch size {config.batch_size} does not split into {group.world_size} processes; "
                              f"choose a --batch-size divisible by torchrun's --nproc_per_node")
        batcher = self.splits.train_batcher(config.batch_size, config.seq_length)
        # Each rank owns every world_size-th stream, so the global batch is the one a single process trains on.
        self.batcher = group.shard(batcher).to(self.device)
        self.network = group.wrap(self.model, self.device)
        self.optimizer = self._make_optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=needs_grad_scaler(self.device, self.precision))
        self.state = TrainState(learning_rate=config.learning_rate)
        self.carried: State | None = None  # hidden state handed from one batch to the next, float32, this rank's streams
        self.metrics = MetricsLog(self.out_dir / METRICS) if self.out_dir is not None and group.is_main else None
        self.best_weights: dict[str, torch.Tensor] | None = None  # without out_dir: the best/ weights, in memory
        self.stop_signal: int | None = None  # the signal that asked training to stop, if one did
        self._stop_reason: str | None = None  # asked by request_stop or a signal, on this rank
        self._agreed_stop: str | None = None  # under torchrun: the stop all ranks agreed on at the last read
        self._unread: list[torch.Tensor] = []  # losses of the steps since the last read, on the device
        self._rate_mark = (0, 0.0)  # (iteration, elapsed) at the last read, for chars/s over the interval
        self._saved: tuple[int, str | None] | None = None  # (iteration, stop reason) of the last save

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
        return self.splits.scored("val") > 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes files (checkpoints, metrics, samples): rank 0, or the only process."""
        return self.group.is_main

    def request_stop(self, reason: str) -> None:
        self._stop_reason = reason

    def fire(self, hook: str) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self)

    # --- the loop -------------------------------------------------------------------------------------------
    def fit(self) -> TrainState:
        """Train until a limit is reached, a stop signal arrives (Ctrl-C, SIGTERM, SIGHUP), or the loss diverges."""
        st, cfg = self.state, self.config
        self._rate_mark = (st.iteration, st.elapsed)
        with _StopOnSignal(self):
            if self.metrics is not None:  # under the signal guard: a Ctrl-C now waits for the rewrite to finish
                self.metrics.continue_at(st.iteration)
            try:
                self.fire("on_train_start")
                while (reason := self._should_stop()) is None:
                    start = time.perf_counter()
                    self._unread.append(self.train_step())
                    st.iteration += 1
                    st.epoch = st.iteration / self.iters_per_epoch
                    logged = st.iteration % cfg.log_interval == 0
                    if logged:
                        self.read_losses()  # on a GPU this waits for the queued steps: their time counts too
                    st.elapsed += time.perf_counter() - start
                    if logged:
                        self._log_step()
                    if st.iteration % cfg.eval_interval == 0 and self.has_validation:
                        self.read_losses()  # a diverged model is never validated or saved
                        if self.validate():  # False: a stop signal cut the pass short, and the end saves
                            self.save()
                    self.fire("on_step_end")
                self.read_losses()
                st.stop_reason = reason
                self._finish()
            except PeerLost:
                st.stop_reason = "peer_lost"
                self._save_alone()
                raise
            except CharlmError:
                st.stop_reason = st.stop_reason or "failed"  # e.g. a checkpoint could not be written
                raise
            except BaseException:
                st.stop_reason = "aborted"  # a second Ctrl-C or an error mid-step: the weights may be half-updated
                raise
            finally:
                self.fire("on_train_end")
        self.group.barrier()  # rank 0 has written its checkpoints before any rank reads them
        return st

    def _should_stop(self) -> str | None:
        cfg, st = self.config, self.state
        if cfg.max_iters is not None and st.iteration >= cfg.max_iters:
            return "max_iters"
        if cfg.max_epochs is not None and st.iteration >= math.ceil(cfg.max_epochs * self.iters_per_epoch):
            return "max_epochs"
        if self.group.enabled:  # clocks and signals differ between ranks: act only on what all agreed at a read
            return self._agreed_stop
        if cfg.max_seconds is not None and st.elapsed >= cfg.max_seconds:
            return "max_seconds"
        return self._stop_reason

    def train_step(self) -> torch.Tensor:
        """One optimizer step; returns the loss as a tensor on the device (reading it would wait for the step)."""
        cfg = self.config
        position = self.batcher.state_dict()
        xb, yb, new_epoch = self.batcher.next_batch()
        if new_epoch:
            self.carried = None  # streams restart at their beginnings
        lr = learning_rate_at(cfg, self.state.iteration // self.iters_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.network.train()
        try:
            with self.group.collective():  # DistributedDataParallel averages gradients inside backward()
                with autocast(self.device, self.precision):
                    _, loss, state = self.network(xb, self.carried, yb)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
        except PeerLost:
            self.batcher.load_state_dict(position)  # the step did not happen: its batch is the next one again
            raise
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            if cfg.grad_clip_mode == "value":  # char-rnn: grad_params:clamp(-grad_clip, grad_clip)
                torch.nn.utils.clip_grad_value_(self.model.parameters(), cfg.grad_clip)
            else:
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
        st.elapsed, asked = self.group.agree(st.elapsed, self._stop_reason is not None, self.device)
        timed_out = cfg.max_seconds is not None and st.elapsed >= cfg.max_seconds
        self._agreed_stop = ((self._stop_reason or "interrupted") if asked else None) or \
            ("max_seconds" if timed_out else None)
        if not self._unread:
            return
        losses = self.group.mean(torch.stack(self._unread).float()).tolist()  # the steps since the last read
        self._unread = []
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

    def _log_step(self) -> None:
        st = self.state
        if self.metrics is not None:
            self.metrics.append({"event": "train", "iteration": st.iteration, "epoch": round(st.epoch, 4),
                                 "loss": st.train_loss, "lr": st.learning_rate,
                                 "chars_per_second": round(st.chars_per_second), "elapsed": round(st.elapsed, 3),
                                 "time": time.time()})

    def validate(self) -> bool:
        """Loss on the whole validation split; the best so far is remembered with its iteration. Returns False,
        recording nothing, when a stop signal arrives during the pass (one process: a pass over a large split
        takes seconds, and `docker stop` or Slurm allow only a few; under torchrun every rank finishes it)."""
        st, cfg = self.state, self.config
        stop = None if self.group.enabled else (lambda: self.stop_signal is not None)
        loss = _evaluate(self.model, self.splits.held_out("val", cfg.batch_size, cfg.seq_length), self.device,
                         self.group, stop)
        if loss is None:
            return False
        st.val_loss, st.val_iteration = loss, st.iteration
        st.val_losses.append((st.iteration, loss))
        if st.best_val_loss is None or loss <= st.best_val_loss:
            st.best_val_loss, st.best_iteration = loss, st.iteration
        if self.metrics is not None:
            self.metrics.append({"event": "val", "iteration": st.iteration, "epoch": round(st.epoch, 4),
                                 "val_loss": loss, "best_val_loss": st.best_val_loss, "elapsed": round(st.elapsed, 3),
                                 "time": time.time()})
        self.fire("on_evaluate")
        return True

    def _finish(self) -> None:
        """After a safe stop: validate the final weights (unless interrupted: the stop must be quick) and save."""
        st = self.state
        if st.iteration == 0 or st.stop_reason in UNSAFE_STOPS:
            return
        if st.stop_reason != "interrupted" and self.has_validation and st.val_iteration != st.iteration:
            self.validate()
        if self._saved != (st.iteration, st.stop_reason):
            self.save()

    # --- checkpoints ----------------------------------------------------------------------------------------
    def run_info(self) -> RunInfo:
        """The record every checkpoint of this run carries (its config.json): the one place it is built."""
        st = self.state
        return RunInfo(self.model.config, self.vocab, self.config, self.data, iteration=st.iteration, epoch=st.epoch,
                       train_loss=st.train_loss if math.isfinite(st.train_loss) else None, val_loss=st.val_loss,
                       val_iteration=st.val_iteration, best_val_loss=st.best_val_loss, best_iteration=st.best_iteration,
                       elapsed_seconds=st.elapsed, device=str(self.device), precision=self.precision,
                       world_size=self.group.world_size, stop_reason=st.stop_reason)

    def save(self) -> None:
        """Write last/ from the state in hand, and best/ when this iteration's validation is the best so far (or,
        without a validation split, always: the final weights are then the ones to sample from). Losses must
        have been read. Every rank calls it (the carried state is gathered); rank 0 writes."""
        st = self.state
        names = ("last", "best") if not self.has_validation or st.best_iteration == st.iteration else ("last",)
        self._saved = (st.iteration, st.stop_reason)
        if self.out_dir is None:  # the same on every rank
            if "best" in names:
                self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return
        trainer_state = self.state_dict()
        if not self.group.is_main:
            return
        info = self.run_info()
        for name in names:
            save_checkpoint(self.out_dir / name, self.model, info, trainer_state)

    def _save_alone(self) -> None:
        """Another rank died: rank 0 writes last/ from what it holds, without collectives. The weights and
        optimizer are those of the last complete step (the same on every rank); the losses of steps not yet
        averaged are rank 0's own; the carried state of the other ranks' streams is gone, so none is saved and
        a resume restarts every stream's state, as at an epoch's start."""
        st = self.state
        if self.out_dir is None or not self.group.is_main or st.iteration == 0:
            return
        own = torch.stack(self._unread).float().tolist() if self._unread else []
        self._unread = []
        st.train_losses.extend(own)
        st.train_loss = st.train_losses[-1] if st.train_losses else st.train_loss
        self.carried = None
        save_checkpoint(self.out_dir / "last", self.model, self.run_info(), self.state_dict())

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: plain data, no losses read here. Under torchrun every rank must call it (it
        gathers the carried state of all streams, in the single-process row order); only rank 0 writes it."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "batcher": self.batcher.state_dict(),
            "carried": self.group.gather_rows(self.carried),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "scaler": self.scaler.state_dict(),
            "train_state": asdict(self.state),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue from a checkpoint's trainer.pt; one that does not fit this run is a CharlmError."""
        try:
            state = TrainState(**saved["train_state"])
            self.optimizer.load_state_dict(saved["optimizer"])
            for param, moments in self.optimizer.state.items():  # torch checks the count of tensors, not shapes
                if any(torch.is_tensor(m) and m.dim() and m.shape != param.shape for m in moments.values()):
                    raise ValueError("optimizer state of another shape")
            self.batcher.load_state_dict(saved["batcher"])
            carried = saved["carried"]
            if carried is not None:
                carried = tuple(self._own(s) for s in carried) if isinstance(carried, (tuple, list)) else self._own(carried)
            rng_cpu, rng_cuda, scaler = saved["rng_cpu"], saved["rng_cuda"], saved.get("scaler")
        except CharlmError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
            raise CharlmError(f"the checkpoint's trainer state does not fit this run ({type(err).__name__}); it was "
                              f"copied from another run or damaged: resume from another checkpoint or start a new run") from None
        if scaler:
            self.scaler.load_state_dict(scaler)
        self.carried = carried
        torch.set_rng_state(rng_cpu.cpu())
        if torch.cuda.is_available() and rng_cuda:
            torch.cuda.set_rng_state_all([s.cpu() for s in rng_cuda])
        self.state = state
        self.state.val_losses = [tuple(pair) for pair in self.state.val_losses]  # type: ignore[misc]
        self.state.stop_reason = None
        self._rate_mark = (self.state.iteration, self.state.elapsed)

    def _own(self, part: torch.Tensor) -> torch.Tensor:
        """A saved (L, B, H) carried state -> this rank's streams, float32 on its device."""
        if part.shape[1] != self.config.batch_size:
            raise CharlmError(f"the checkpoint carries {part.shape[1]} streams but the batch size is "
                              f"{self.config.batch_size}; resume with the run's --batch-size")
        if part.shape != (self.model.config.num_layers, self.config.batch_size, self.model.config.rnn_size):
            raise ValueError("carried state of another model")
        return self.group.own_rows(part).float().to(self.device)


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
