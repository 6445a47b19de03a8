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
from charlm.checkpoint import find_checkpoint, load_checkpoint
from charlm.data import split_ids
from charlm.device import distributed_from_env
from charlm.errors import CharlmError
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

    @property
    def val_loss(self) -> float | None:
        return self.state.best_val_loss

    def test_loss(self) -> float | None:
        """Loss on the test split with the weights in hand (the best checkpoint's, when one was written)."""
        if len(self.splits.get("test", ())) < 2:
            return None
        cfg = self.train_config
        return evaluate(self.model, self.splits["test"], cfg.batch_size, cfg.seq_length)


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
          resume: bool = False, overrides: dict[str, Any] | None = None, progress: Progress = "bar",
          sample_every: int | None = None, sample_at: Sequence[int] = (), sample_length: int = 200,
          callbacks: Sequence[Callback] = (), source: str | None = None) -> RunResult:
    """Train a CharRNN on ``text`` (cut into contiguous train/val/test by ``fractions``).

    ``model`` is a ModelConfig or its fields without vocab_size. With ``out_dir``, checkpoints (last, best) and
    metrics.jsonl are written there; ``resume=True`` continues the run found there, with ``overrides`` applied
    to its training config (e.g. a larger max_iters).
    """
    out = Path(out_dir) if out_dir is not None else None
    checkpoint = None
    if resume:
        if out is None:
            raise CharlmError("resuming needs the run's --out directory")
        checkpoint = load_checkpoint(find_checkpoint(out, prefer="last"), prefer="last", with_trainer_state=True)
        if checkpoint.info.get("data", {}).get("sha256") != text_fingerprint(text):
            raise CharlmError(f"{out} was trained on a different text; resume with the same file, or start a new --out")
        saved = dict(checkpoint.info["train_config"])
        if overrides and any(k in overrides for k in LIMITS):
            saved.update(dict.fromkeys(LIMITS))  # a new limit replaces the run's limits rather than adding to them
        config = TrainConfig.from_dict({**saved, **(overrides or {})})
        fractions = tuple(checkpoint.info["data"]["fractions"])  # type: ignore[assignment]
        vocab, net = checkpoint.vocab, checkpoint.model
    else:
        if out is not None and (out / "last").exists():
            raise CharlmError(f"{out} already holds a training run; pass --resume to continue it, or choose another --out")
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
        torch.manual_seed(config.seed)  # the initial weights are part of what a seed reproduces
        net = CharRNN(model_config)
    splits = split_ids(vocab.encode(text), fractions)
    sampler = SampleEvery(interval=sample_every, at=sample_at, length=sample_length) if (sample_every or sample_at) else None
    # Under torchrun every rank evaluates its share and gathers checkpoint state; only rank 0 writes and prints.
    main_process = distributed_from_env().is_main
    all_callbacks: list[Callback] = [Evaluator(config.eval_interval)]
    if out is not None:
        info = {"data": {"sha256": text_fingerprint(text), "chars": len(text), "fractions": list(fractions),
                         "source": source}}
        all_callbacks += [Checkpointer(out, info)]
        all_callbacks += [MetricsLogger(out / "metrics.jsonl", config.log_interval)] if main_process else []
    if main_process:
        all_callbacks += [c for c in (sampler,) if c] + _progress_callbacks(progress, max(config.eval_interval // 10, 1))
    all_callbacks += list(callbacks)
    trainer = Trainer(net, vocab, splits, config, all_callbacks)
    if checkpoint is not None:
        trainer.load_state_dict(checkpoint.trainer_state)
    started = time.perf_counter()
    state = trainer.fit()
    result = RunResult(trainer.model, vocab, state, splits, out, config, time.perf_counter() - started,
                       sampler.samples if sampler else [])
    if out is not None and (out / "best").exists() and trainer.has_validation:
        result.model = load_checkpoint(out, device=trainer.device, prefer="best").model
    return result
