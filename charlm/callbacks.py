"""The trainer's callbacks: evaluation, checkpoints, metrics, periodic samples and progress."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from charlm.checkpoint import save_checkpoint
from charlm.sampler import sample
from charlm.trainer import Callback, Trainer, evaluate

# Stops after which the weights must not be trusted: nothing is evaluated or saved, the last checkpoint stays.
UNSAFE_STOPS = ("diverged", "aborted")


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
        self.saved_at: int | None = None

    def _info(self, trainer: Trainer) -> dict[str, Any]:
        st = trainer.state
        return {**self.info, "train_config": trainer.config.to_dict(), "iteration": st.iteration,
                "epoch": st.epoch, "train_loss": st.train_loss, "val_loss": st.val_loss,
                "best_val_loss": st.best_val_loss, "elapsed_seconds": st.elapsed, "device": str(trainer.device),
                "precision": trainer.precision, "world_size": trainer.dist.world_size}

    def _save(self, trainer: Trainer, names: Sequence[str]) -> None:
        info, state = self._info(trainer), trainer.state_dict()  # every rank: state_dict gathers all streams
        if not trainer.is_main:
            self.saved_at = trainer.state.iteration
            return
        for name in names:
            save_checkpoint(self.out_dir / name, trainer.model, trainer.vocab, info, state)
        self.saved_at = trainer.state.iteration

    def on_evaluate(self, trainer: Trainer) -> None:
        st = trainer.state
        improved = st.val_loss is not None and st.val_loss <= st.best_val_loss
        self._save(trainer, ("last", "best") if improved else ("last",))

    def on_train_end(self, trainer: Trainer) -> None:
        st = trainer.state
        if st.stop_reason in UNSAFE_STOPS or st.iteration == 0 or self.saved_at == st.iteration:
            return
        # Without a validation split there is no "best": the final weights are the ones to sample from.
        self._save(trainer, ("last",) if trainer.has_validation else ("last", "best"))


class MetricsLogger(Callback):
    """Append one JSON line per logged step and evaluation to ``metrics.jsonl`` (plottable, tail-able)."""

    def __init__(self, path: str | Path, interval: int = 10) -> None:
        self.path = Path(path)
        self.interval = interval

    def on_train_start(self, trainer: Trainer) -> None:
        # A resumed run continues the file; lines written after the checkpoint it resumes from are dropped.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        resumed_at = trainer.state.iteration
        kept = []
        if self.path.exists() and resumed_at > 0:
            kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line)["iteration"] <= resumed_at]
        self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def _write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

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


class ProgressBar(Callback):
    """tqdm bar with iteration, loss, val loss, chars/s and ETA; ``tqdm.auto`` picks the notebook widget in Jupyter.

    With only a time limit the bar counts seconds, so its ETA is still right.
    """

    def __init__(self, notebook: bool | None = None, refresh: int = 10) -> None:
        self.notebook = notebook
        self.refresh = refresh
        self.bar: Any = None
        self.by_time = False

    def on_train_start(self, trainer: Trainer) -> None:
        if self.notebook is None:
            from tqdm.auto import tqdm
        elif self.notebook:
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        total = _total_iterations(trainer)
        self.by_time = total is None
        if self.by_time:
            self.bar = tqdm(total=trainer.config.max_seconds, unit="s", desc="train", file=sys.stderr,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]")
        else:
            self.bar = tqdm(total=total, initial=trainer.state.iteration, unit="it", desc="train", file=sys.stderr)

    def on_step_end(self, trainer: Trainer) -> None:
        st = trainer.state
        if st.iteration % self.refresh:
            return
        if self.by_time:
            self.bar.update(min(st.elapsed, self.bar.total) - self.bar.n)
        else:
            self.bar.update(st.iteration - self.bar.n)
        val = f"{st.val_loss:.3f}" if st.val_loss is not None else "-"
        self.bar.set_postfix_str(f"it {st.iteration} loss {st.train_loss:.3f} val {val} {st.chars_per_second:,.0f} chars/s",
                                 refresh=False)

    def on_train_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()


class LogLines(Callback):
    """Plain progress lines, for logs and headless notebook runs where a live bar would only add noise."""

    def __init__(self, interval: int = 100, printer: Callable[[str], None] = print) -> None:
        self.interval, self.printer = interval, printer

    def on_step_end(self, trainer: Trainer) -> None:
        st = trainer.state
        if st.iteration % self.interval == 0:
            self.printer(f"iter {st.iteration} (epoch {st.epoch:.2f}) loss {st.train_loss:.4f} "
                         f"lr {st.learning_rate:.2e} {st.chars_per_second:,.0f} chars/s")

    def on_evaluate(self, trainer: Trainer) -> None:
        st = trainer.state
        self.printer(f"iter {st.iteration} val loss {st.val_loss:.4f} nats/char (best {st.best_val_loss:.4f})")
