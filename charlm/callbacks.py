"""The trainer's watchers: periodic samples and progress (evaluation, checkpoints and metrics are the loop's own)."""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Literal, Sequence

from charlm.errors import check_int
from charlm.sampler import sample
from charlm.trainer import Callback, Trainer


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
