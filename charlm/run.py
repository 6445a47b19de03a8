"""One call from text to a trained, checkpointed model: what the CLI and the notebooks use."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch

from charlm.callbacks import Checkpointer, Evaluator, MetricsLogger, Progress, SampleEvery
from charlm.checkpoint import LOCK, RunDirectory, find_checkpoint, load_checkpoint, read_info
from charlm.data import split_ids
from charlm.device import distributed_from_env
from charlm.errors import CharlmError, check_keys
from charlm.model import CharRNN, ModelConfig
from charlm.trainer import Callback, Trainer, TrainConfig, TrainState, evaluate
from charlm.vocab import Vocab

# bar: tqdm; notebook: its Jupyter widget; log: a line every eval_interval/10; lines: about ten lines a run
ProgressStyle = Literal["bar", "notebook", "log", "lines", "none"]
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
    loaded_from: Path | None = None  # the checkpoint this result was loaded from (load_run), None when trained
    signal: int | None = None  # the signal (SIGINT, SIGTERM, SIGHUP) that stopped training, if one did

    @property
    def val_loss(self) -> float | None:
        return self.state.best_val_loss

    @property
    def n_params(self) -> int:
        return self.model.num_parameters()

    @property
    def device(self) -> str:
        """Where the model sits, named for a results table: 'cpu', or 'cuda (NVIDIA H100 ...)'."""
        dev = next(self.model.parameters()).device
        return f"cuda ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else dev.type

    def test_loss(self) -> float | None:
        """Loss on the test split with the weights in hand (the best checkpoint's, when one was written)."""
        if len(self.splits.get("test", ())) < 2:
            return None
        cfg = self.train_config
        return evaluate(self.model, self.splits["test"], cfg.batch_size, cfg.seq_length)


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _progress_callbacks(progress: ProgressStyle, log_interval: int) -> list[Callback]:
    if progress == "none":
        return []
    if progress == "log":
        return [Progress("lines", every=log_interval)]
    if progress == "lines":
        return [Progress("lines")]
    return [Progress("bar", notebook=progress == "notebook")]


def train(text: str, out_dir: str | Path | None = None, model: ModelConfig | dict[str, Any] | None = None,
          config: TrainConfig | None = None, *, fractions: tuple[float, float, float] = (0.90, 0.05, 0.05),
          resume: bool = False, overwrite: bool = False, overrides: dict[str, Any] | None = None,
          progress: ProgressStyle = "bar", sample_every: int | None = None, sample_at: Sequence[int] = (),
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
    if not distributed_from_env().is_main:  # under torchrun rank 0 owns (locks, claims, writes) the run directory
        return _train(text, Path(out_dir), fresh, fractions, progress, sampler, callbacks, source, overrides)
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
           fractions: tuple[float, float, float], progress: ProgressStyle, sampler: SampleEvery | None,
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
    splits = split_ids(vocab.encode(text, dtype=vocab.compact_dtype), fractions)  # 1 byte a character up to 256
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
                       sampler.samples if sampler else [], signal=trainer.stop_signal)
    if out is not None and (out / "best").exists() and trainer.has_validation:
        result.model = load_checkpoint(out, device=trainer.device, prefer="best").model
    return result


def free_run_dir(base: str | Path, text: str, model: dict[str, Any], config: TrainConfig,
                 fractions: Sequence[float], source: str | None = None) -> tuple[Path, bool]:
    """Where a run of these settings goes without touching any other: ``base``, else ``base.2``, ``.3`` ...; and
    whether that folder already holds a finished run of exactly these settings (training is seeded, so loading it
    gives what training again would). Notebooks use it so that a rerun never deletes a run."""
    settings = {"model": ModelConfig(len(Vocab.from_text(text)), **model).to_dict(), "train_config": config.to_dict(),
                "data": {"sha256": text_fingerprint(text), "chars": len(text), "fractions": list(fractions),
                         "source": source}}
    base = Path(base)
    run_dir, n = base, 1
    while run_dir.exists():
        try:
            info = read_info(run_dir, prefer="last")
        except CharlmError:
            info = {}
        saved = {"model": info.get("model"), "train_config": info.get("train_config"), "data": info.get("data")}
        if saved == settings and info.get("stop_reason") in ("max_iters", "max_epochs", "max_seconds"):
            return run_dir, True
        n += 1
        run_dir = base.with_name(f"{base.name}.{n}")
    return run_dir, False


def load_run(path: str | Path, text: str, fractions: Sequence[float] | None = None,
             device: str | torch.device = "auto") -> RunResult:
    """A finished run rebuilt from its directory: the best weights, the loss curve its last checkpoint saved, and
    ``text`` cut as the run cut it (or by ``fractions``). Raises CharlmError when the text does not fit the vocabulary."""
    best = load_checkpoint(path, device=device)
    info = best.info
    try:
        saved = load_checkpoint(best.path.parent if best.path.name in ("best", "last") else best.path, device="cpu",
                                prefer="last", with_trainer_state=True).trainer_state or {}
        state = TrainState(**saved["train_state"])
        state.val_losses = [tuple(pair) for pair in state.val_losses]  # type: ignore[misc]
    except CharlmError:  # a checkpoint copied without trainer.pt: the summary its config.json keeps
        state = TrainState(iteration=int(info.get("iteration") or 0), best_val_loss=info.get("best_val_loss"),
                           elapsed=float(info.get("elapsed_seconds") or 0.0))
    state.stop_reason = "loaded checkpoint"
    fractions = tuple(fractions or info.get("data", {}).get("fractions") or (0.90, 0.05, 0.05))
    try:
        ids = best.vocab.encode(text, what="this text", dtype=best.vocab.compact_dtype)
    except CharlmError as err:
        raise CharlmError(f"checkpoint {best.path} does not fit this text: {err}") from None
    config = TrainConfig.from_dict({k: v for k, v in info.get("train_config", {}).items()
                                    if k in TrainConfig.__dataclass_fields__})
    return RunResult(best.model, best.vocab, state, split_ids(ids, fractions), best.path.parent, config,  # type: ignore[arg-type]
                     state.elapsed, loaded_from=best.path)
