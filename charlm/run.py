"""One call from text to a trained, checkpointed model: what the CLI and the notebooks use."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch

from charlm.callbacks import Checkpointer, Evaluator, LogLines, MetricsLogger, ProgressBar, SampleEvery
from charlm.checkpoint import LOCK, RunDirectory, find_checkpoint, load_checkpoint
from charlm.data import split_ids
from charlm.errors import CharlmError, check_keys
from charlm.model import CharRNN, ModelConfig
from charlm.trainer import Callback, Trainer, TrainConfig, TrainState, evaluate
from charlm.vocab import Vocab

Progress = Literal["bar", "notebook", "log", "none"]
LIMITS = ("max_epochs", "max_iters", "max_seconds")  # totals over the whole run, resumed parts included


@dataclass
class RunResult:
    model: CharRNN
    vocab: Vocab
    state: TrainState
    splits: dict[str, np.ndarray]
    out_dir: Path | None
    train_config: TrainConfig
    wall_seconds: float
    samples: list[tuple[int, str]] = field(default_factory=list)  # (iteration, text) from SampleEvery
    signal: int | None = None  # the signal (SIGINT, SIGTERM, SIGHUP) that stopped training, if one did

    @property
    def val_loss(self) -> float | None:
        return self.state.best_val_loss

    def test_loss(self) -> float | None:
        """Loss on the test split with the weights in hand (the best checkpoint's, when one was written)."""
        if len(self.splits.get("test", ())) < 2:
            return None
        cfg = self.train_config
        return evaluate(self.model, self.splits["test"], cfg.batch_size, cfg.seq_length, use_bf16=cfg.bf16)


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _progress_callbacks(progress: Progress, log_interval: int) -> list[Callback]:
    if progress == "bar":
        return [ProgressBar(notebook=False)]
    if progress == "notebook":
        return [ProgressBar(notebook=True)]
    if progress == "log":
        return [LogLines(interval=log_interval)]
    return []


def train(text: str, out_dir: str | Path | None = None, model: ModelConfig | dict[str, Any] | None = None,
          config: TrainConfig | None = None, *, fractions: tuple[float, float, float] = (0.90, 0.05, 0.05),
          resume: bool = False, overwrite: bool = False, overrides: dict[str, Any] | None = None,
          progress: Progress = "bar", sample_every: int | None = None, sample_at: Sequence[int] = (),
          sample_length: int = 200, callbacks: Sequence[Callback] = (), source: str | None = None) -> RunResult:
    """Train a CharRNN on ``text`` (cut into contiguous train/val/test by ``fractions``).

    ``model`` is a ModelConfig or its fields without vocab_size. With ``out_dir``, checkpoints (last, best) and
    metrics.jsonl are written there, under a lock no second trainer can take; ``resume=True`` continues the run
    found there, with ``overrides`` applied to its training config (e.g. a larger max_iters). A directory that
    holds an earlier run is replaced only with ``overwrite=True``; one holding anything else, never.
    """
    if overrides:
        check_keys("override(s)", overrides, TrainConfig.__dataclass_fields__)
    # A new run's settings are checked before the run directory is touched.
    fresh = None if resume else _new_run(text, model, config, overrides)
    sampler = (SampleEvery(interval=sample_every, at=sample_at, length=sample_length)
               if sample_every is not None or sample_at else None)
    if out_dir is None:
        if resume:
            raise CharlmError("resuming needs the run's --out directory")
        return _train(text, None, fresh, fractions, progress, sampler, callbacks, source)
    if not str(out_dir).strip():
        raise CharlmError("--out is empty; give the run directory to write checkpoints to")
    # Nothing is created in a folder that is not ours, nor in one with no run to resume (not even train.lock).
    if resume and not (Path(out_dir) / LOCK).exists():
        find_checkpoint(out_dir, prefer="last")
    else:
        RunDirectory(out_dir).refuse_foreign()
    with RunDirectory(out_dir) as run_dir:
        if not resume:
            run_dir.claim_for_new_run(overwrite)
        return _train(text, run_dir.path, fresh, fractions, progress, sampler, callbacks, source, overrides)


def _new_run(text: str, model: ModelConfig | dict[str, Any] | None, config: TrainConfig | None,
             overrides: dict[str, Any] | None) -> tuple[Vocab, ModelConfig, TrainConfig]:
    vocab = Vocab.from_text(text)
    if isinstance(model, ModelConfig):
        if model.vocab_size != len(vocab):
            raise CharlmError(f"the model config's vocab_size {model.vocab_size} differs from the text's {len(vocab)}")
        model_config = model
    else:
        model_config = ModelConfig(vocab_size=len(vocab), **(model or {}))
    config = config or TrainConfig()
    if overrides:
        config = TrainConfig.from_dict({**config.to_dict(), **overrides})
    return vocab, model_config, config


def _train(text: str, out: Path | None, fresh: tuple[Vocab, ModelConfig, TrainConfig] | None,
           fractions: tuple[float, float, float], progress: Progress, sampler: SampleEvery | None,
           callbacks: Sequence[Callback], source: str | None, overrides: dict[str, Any] | None = None) -> RunResult:
    """Train a new run (``fresh``: its vocabulary and configs) or, without it, resume the one in ``out``."""
    checkpoint = None
    if fresh is None:
        checkpoint = load_checkpoint(find_checkpoint(out, prefer="last"), prefer="last", with_trainer_state=True)
        if checkpoint.info.get("data", {}).get("sha256") != text_fingerprint(text):
            raise CharlmError(f"{out} was trained on a different text; resume with the same file, or start a new --out")
        # Settings an older charlm saved and this one no longer has are dropped; the user's overrides are checked.
        saved = {k: v for k, v in checkpoint.info["train_config"].items() if k in TrainConfig.__dataclass_fields__}
        if overrides and any(k in overrides for k in LIMITS):
            saved.update(dict.fromkeys(LIMITS))  # a new limit replaces the run's limits rather than adding to them
        config = TrainConfig.from_dict({**saved, **(overrides or {})})
        fractions = tuple(checkpoint.info["data"]["fractions"])  # type: ignore[assignment]
        vocab, net = checkpoint.vocab, checkpoint.model
    else:
        vocab, model_config, config = fresh
        torch.manual_seed(config.seed)  # the initial weights are part of what a seed reproduces
        net = CharRNN(model_config)
    splits = split_ids(vocab.encode(text), fractions)
    all_callbacks: list[Callback] = [Evaluator(config.eval_interval)]
    if out is not None:
        info = {"data": {"sha256": text_fingerprint(text), "chars": len(text), "fractions": list(fractions),
                         "source": source}}
        all_callbacks += [Checkpointer(out, info), MetricsLogger(out / "metrics.jsonl", config.log_interval)]
    all_callbacks += [c for c in (sampler,) if c] + _progress_callbacks(progress, max(config.eval_interval // 10, 1))
    all_callbacks += list(callbacks)
    trainer = Trainer(net, vocab, splits, config, all_callbacks)
    if checkpoint is not None:
        trainer.load_state_dict(checkpoint.trainer_state)
    started = time.perf_counter()
    state = trainer.fit()
    result = RunResult(trainer.model, vocab, state, splits, out, config, time.perf_counter() - started,
                       sampler.samples if sampler else [], trainer.stop_signal)
    if out is not None and (out / "best").exists() and trainer.has_validation:
        result.model = load_checkpoint(out, device=trainer.device, prefer="best").model
    return result
