"""The trainer's callbacks: evaluation, checkpoints, metrics, periodic samples and progress."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from charlm.checkpoint import disk_error, save_checkpoint
from charlm.errors import check_int
from charlm.sampler import sample
from charlm.trainer import Callback, Trainer, evaluate

# Stops after which the weights must not be trusted: nothing is evaluated or saved, the last checkpoint stays.
UNSAFE_STOPS = ("diverged", "aborted", "failed")


class Evaluator(Callback):
    """Loss on the whole validation split every ``interval`` iterations and once at the end."""

    def __init__(self, interval: int) -> None:
        self.interval = interval

    def _run(self, trainer: Trainer) -> None:
        st, cfg = trainer.state, trainer.config
        st.val_loss = evaluate(trainer.model, trainer.splits["val"], cfg.batch_size, cfg.seq_length,
                               trainer.device, dist=trainer.dist)
        st.best_val_loss = st.val_loss if st.best_val_loss is None else min(st.best_val_loss, st.val_loss)
        st.val_losses.append((st.iteration, st.val_loss))
        trainer.fire("on_evaluate")

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.has_validation and trainer.state.iteration % self.interval == 0:
            self._run(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        st = trainer.state
        already = st.val_losses and st.val_losses[-1][0] == st.iteration
        if trainer.has_validation and st.stop_reason not in UNSAFE_STOPS and st.iteration > 0 and not already:
            self._run(trainer)


class Checkpointer(Callback):
    """``last`` after every evaluation and at the end; ``best`` whenever validation loss improves.

    A diverged or aborted run writes nothing, so the last good checkpoint stays on disk.
    """

    def __init__(self, out_dir: str | Path, info: dict[str, Any] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.info = info or {}
        self.saved_at: tuple[int, str | None] | None = None  # (iteration, stop reason) of the last save

    def _info(self, trainer: Trainer) -> dict[str, Any]:
        st = trainer.state
        return {**self.info, "train_config": trainer.config.to_dict(), "iteration": st.iteration,
                "epoch": st.epoch, "train_loss": st.train_loss, "val_loss": st.val_loss,
                "best_val_loss": st.best_val_loss, "elapsed_seconds": st.elapsed, "device": str(trainer.device),
                "stop_reason": st.stop_reason, "precision": trainer.precision, "world_size": trainer.dist.world_size}

    def _save(self, trainer: Trainer, names: Sequence[str]) -> None:
        info, state = self._info(trainer), trainer.state_dict()  # every rank: state_dict gathers all streams
        if not trainer.is_main:
            self.saved_at = (trainer.state.iteration, trainer.state.stop_reason)
            return
        for name in names:
            save_checkpoint(self.out_dir / name, trainer.model, trainer.vocab, info, state)
        self.saved_at = (trainer.state.iteration, trainer.state.stop_reason)

    def on_evaluate(self, trainer: Trainer) -> None:
        st = trainer.state
        improved = st.val_loss is not None and st.val_loss <= st.best_val_loss
        self._save(trainer, ("last", "best") if improved else ("last",))

    def on_train_end(self, trainer: Trainer) -> None:
        st = trainer.state
        if st.stop_reason in UNSAFE_STOPS or st.iteration == 0 or self.saved_at == (st.iteration, st.stop_reason):
            return
        # Without a validation split there is no "best": the final weights are the ones to sample from.
        self._save(trainer, ("last",) if trainer.has_validation else ("last", "best"))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl; a line that does not parse (the torn last line a full disk or a power
    loss leaves) is dropped, since the checkpoint, not this log, is the run's state."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("iteration"), int):
            records.append(record)
    return records


class MetricsLogger(Callback):
    """Append one JSON line per logged step and evaluation to ``metrics.jsonl`` (plottable, tail-able)."""

    def __init__(self, path: str | Path, interval: int = 10) -> None:
        self.path = Path(path)
        self.interval = interval

    def on_train_start(self, trainer: Trainer) -> None:
        # A resumed run continues the file; lines written after the checkpoint it resumes from are dropped.
        resumed_at = trainer.state.iteration
        kept = [r for r in read_metrics(self.path) if r.get("iteration", 0) <= resumed_at] if resumed_at > 0 else []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        except OSError as err:
            raise disk_error(err, self.path) from None

    def _write(self, record: dict[str, Any]) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as err:
            raise disk_error(err, self.path) from None

    def on_step_end(self, trainer: Trainer) -> None:
        st = trainer.state
        if st.iteration % self.interval == 0:
            self._write({"event": "train", "iteration": st.iteration, "epoch": round(st.epoch, 4),
                         "loss": st.train_loss, "lr": st.learning_rate, "chars_per_second": round(st.chars_per_second),
                         "elapsed": round(st.elapsed, 3), "time": time.time()})

    def on_evaluate(self, trainer: Trainer) -> None:
        st = trainer.state
        self._write({"event": "val", "iteration": st.iteration, "epoch": round(st.epoch, 4), "val_loss": st.val_loss,
                     "best_val_loss": st.best_val_loss, "elapsed": round(st.elapsed, 3), "time": time.time()})


class SampleEvery(Callback):
    """Samples while training, every ``interval`` iterations or at the given iterations (the evolution table).

    Sampling draws from its own seeded generator, so it never changes the training run's random stream.
    """

    def __init__(self, interval: int | None = None, at: Sequence[int] = (), length: int = 200,
                 temperature: float = 1.0, prime: str = "", seed: int = 0,
                 printer: Callable[[str], None] | None = None) -> None:
        if interval is not None:
            check_int("sample_every", interval, 1)
        self.interval, self.at = interval, set(at)
        self.length, self.temperature, self.prime, self.seed = length, temperature, prime, seed
        self.printer = printer
        self.samples: list[tuple[int, str]] = []

    def on_step_end(self, trainer: Trainer) -> None:
        it = trainer.state.iteration
        if it in self.at or (self.interval and it % self.interval == 0):
            text = sample(trainer.model, trainer.vocab, self.length, self.temperature, self.prime, seed=self.seed)[0]
            self.samples.append((it, text))
            if self.printer:
                self.printer(f"--- sample at iteration {it} ---\n{text}")


def _total_iterations(trainer: Trainer) -> int | None:
    cfg = trainer.config
    limits = [cfg.max_iters] if cfg.max_iters is not None else []
    if cfg.max_epochs is not None:
        limits.append(math.ceil(cfg.max_epochs * trainer.iters_per_epoch))
    return min(limits) if limits else None


class Progress(Callback):
    """The one progress printer: a tqdm bar for people, or plain lines for logs and headless notebook runs.

    ``style="bar"``: iteration, loss, val loss, chars/s and ETA (``notebook=None`` lets ``tqdm.auto`` pick Jupyter's
    widget); with only a time limit the bar counts seconds, so its ETA is still right. ``style="lines"``: a line
    every ``every`` iterations (default: about ``lines`` lines over the run's limit, and at least every
    limit/``lines`` seconds), one per evaluation, and one when training stops.
    """

    def __init__(self, style: Literal["bar", "lines"] = "bar", every: int | None = None, lines: int = 10,
                 notebook: bool | None = None, printer: Callable[[str], None] = print) -> None:
        self.style, self.every, self.lines, self.notebook, self.printer = style, every, lines, notebook, printer
        self.bar: Any = None
        self.by_time = False
        self.every_seconds, self.last_time = math.inf, 0.0

    def on_train_start(self, trainer: Trainer) -> None:
        cfg, total = trainer.config, _total_iterations(trainer)
        if self.style == "lines":
            if self.every is None:
                self.every = max(1, total // self.lines) if total else None
                self.every_seconds = (cfg.max_seconds or 60) / self.lines
            self.last_time = trainer.state.elapsed
            self.printer(f"training {trainer.model.num_parameters():,} parameters on {trainer.device}, "
                         f"{trainer.iters_per_epoch:,} iterations per epoch; limits: "
                         + ", ".join(f"{k}={getattr(cfg, k)}" for k in ("max_iters", "max_epochs", "max_seconds")
                                     if getattr(cfg, k) is not None))
            return
        if self.notebook is None:
            from tqdm.auto import tqdm
        elif self.notebook:
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        self.by_time = total is None
        if self.by_time:
            self.bar = tqdm(total=cfg.max_seconds, unit="s", desc="train", file=sys.stderr,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]")
        else:
            self.bar = tqdm(total=total, initial=trainer.state.iteration, unit="it", desc="train", file=sys.stderr)

    def on_step_end(self, trainer: Trainer) -> None:
        st = trainer.state
        if self.bar is None:
            due = bool(self.every) and st.iteration % self.every == 0
            if due or st.elapsed - self.last_time >= self.every_seconds:
                self.last_time = st.elapsed
                self.printer(f"iter {st.iteration:>6} epoch {st.epoch:6.2f}  loss {st.train_loss:.3f}  "
                             f"lr {st.learning_rate:.2e}  {st.chars_per_second:,.0f} chars/s  {st.elapsed:5.0f} s")
            return
        if st.iteration % 10:
            return
        self.bar.update((min(st.elapsed, self.bar.total) if self.by_time else st.iteration) - self.bar.n)
        val = f"{st.val_loss:.3f}" if st.val_loss is not None else "-"
        self.bar.set_postfix_str(f"it {st.iteration} loss {st.train_loss:.3f} val {val} {st.chars_per_second:,.0f} chars/s",
                                 refresh=False)

    def on_evaluate(self, trainer: Trainer) -> None:
        st = trainer.state
        if self.bar is None:
            self.printer(f"iter {st.iteration:>6} val loss {st.val_loss:.4f} nats/char (best {st.best_val_loss:.4f})")

    def on_train_end(self, trainer: Trainer) -> None:
        st = trainer.state
        if self.bar is not None:
            self.bar.close()
        else:
            self.printer(f"stopped ({st.stop_reason}) after {st.iteration:,} iterations, {st.elapsed:.1f} s of steps")
