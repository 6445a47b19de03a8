"""One call from text to a trained, checkpointed model: what the CLI and the notebooks use.

``train`` checks everything a run needs (settings, device, precision, split, that one batch fits) before it
touches the run directory, applies the process-wide torch settings (threads, TF32, the seed, torchrun's process
group), then locks the directory and runs the Trainer.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import torch

from charlm import distributed
from charlm.callbacks import Progress, SampleEvery
from charlm.checkpoint import Checkpoint, RunDirectory, find_checkpoint, load_checkpoint, read_info
from charlm.config import LIMIT_STOPS, DataInfo, TrainConfig
from charlm.data import DEFAULT_SPLIT, Split, SplitIds, check_fractions, cut
from charlm.device import configure_threads, resolve_precision, set_matmul_precision
from charlm.errors import CharlmError, check_keys
from charlm.model import CharRNN, ModelConfig
from charlm.trainer import Callback, Trainer, TrainState, evaluate
from charlm.vocab import Vocab

# bar: tqdm; notebook: its Jupyter widget; log: a line every eval_interval/10; lines: about ten lines a run
ProgressStyle = Literal["bar", "notebook", "log", "lines", "none"]
LIMITS = LIMIT_STOPS  # totals over the whole run, resumed parts included
# What --resume may change, and why the rest may not: they are built into the state the run continues from.
RESUMABLE = (*LIMITS, "device", "precision", "eval_interval", "log_interval", "explode_factor")
_FIXED_BECAUSE = {
    "batch_size": "the saved batch position and carried hidden state are laid out for it",
    "seq_length": "the saved batch position counts windows of it",
    "seed": "the random state continues from the checkpoint, not from the seed",
    "init_range": "the weights were initialised when the run began",
    "forget_bias": "the weights were initialised when the run began",
}


@dataclass
class RunResult:
    model: CharRNN
    vocab: Vocab
    state: TrainState
    splits: SplitIds  # the text's ids, cut as the run cut them
    out_dir: Path | None
    train_config: TrainConfig
    wall_seconds: float
    samples: list[tuple[int, str]] = field(default_factory=list)  # (iteration, text) from SampleEvery
    loaded_from: Path | None = None  # the checkpoint this result was loaded from (load_run), None when trained
    signal: int | None = None  # the signal (SIGINT, SIGTERM, SIGHUP) that stopped training, if one did
    precision: str | None = None  # resolved (fp32, tf32, bf16, fp16): what the run trained in

    @property
    def val_loss(self) -> float | None:
        """The lowest validation loss: of the weights in ``model`` (reached at ``best_iteration``)."""
        return self.state.best_val_loss

    @property
    def best_iteration(self) -> int | None:
        """The iteration whose weights ``model`` holds when the run validated (model selection by validation
        loss, as char-rnn's users sampled from the best checkpoint); None when no validation pass ran, and
        ``model`` then holds the last weights."""
        return self.state.best_iteration

    @property
    def n_params(self) -> int:
        return self.model.num_parameters()

    @property
    def device(self) -> str:
        """Where the model sits, named for a results table: 'cpu', or 'cuda (NVIDIA H100 ...)'."""
        dev = next(self.model.parameters()).device
        return f"cuda ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else dev.type

    def test_loss(self) -> float | None:
        """Loss on the test split of the best-validation weights, those of iteration ``best_iteration`` (the
        last weights only when no validation pass ran): the test split never chooses the model it scores."""
        return self.held_out_loss("test")

    def held_out_loss(self, name: str) -> float | None:
        """Loss of ``model`` on split ``name`` as evaluation scores it (a striped split: each stripe after the
        text before it in its row), None when the split is empty."""
        if self.splits.scored(name) < 1:
            return None
        cfg = self.train_config
        return evaluate(self.model, self.splits.held_out(name, cfg.batch_size, cfg.seq_length))


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_info(text: str, split: Split, source: str | None = None) -> DataInfo:
    """The record of the text a run trains on: what a resume and free_run_dir compare."""
    return DataInfo(text_fingerprint(text), len(text), split, source)


def split_of(split: Split | None = None, fractions: Sequence[float] | None = None) -> Split:
    """The split a caller asked for: a Split, or ``fractions`` as a contiguous one (not both); the default when
    neither is given."""
    if split is not None and fractions is not None:
        raise CharlmError("give the split or its fractions, not both: the fractions are the split's own")
    if split is not None:
        if not isinstance(split, Split):
            raise CharlmError(f"split is {split!r}; give a charlm.data.Split")
        return split
    return Split("contiguous", check_fractions(fractions)) if fractions is not None else DEFAULT_SPLIT


def _progress_callbacks(progress: ProgressStyle, log_interval: int) -> list[Callback]:
    if progress == "none":
        return []
    if progress == "log":
        return [Progress("lines", every=log_interval)]
    if progress == "lines":
        return [Progress("lines")]
    return [Progress("bar", notebook=progress == "notebook")]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def resumed_config(saved: TrainConfig, overrides: dict[str, Any] | None) -> TrainConfig:
    """The run's own settings with the changes --resume allows (limits, device, precision, intervals); any
    other setting given with a different value is a CharlmError saying why it cannot change."""
    changed = {k: v for k, v in (overrides or {}).items() if getattr(saved, k) != v}
    for name in sorted(changed):
        if name not in RESUMABLE:
            why = _FIXED_BECAUSE.get(name, "the optimizer's state and schedule continue from the checkpoint")
            raise CharlmError(f"{_flag(name)} cannot change on --resume ({why}; the run has {getattr(saved, name)!r}); "
                              f"leave it out, or start a new --out to train with {changed[name]!r}")
    values = saved.to_dict()
    if any(k in (overrides or {}) for k in LIMITS):
        values.update(dict.fromkeys(LIMITS))  # a new limit replaces the run's limits rather than adding to them
    values.update(overrides or {})
    return TrainConfig.from_dict(values)


@dataclass
class _Plan:
    """Everything a run needs, checked before its directory is touched."""

    vocab: Vocab
    model: CharRNN
    config: TrainConfig
    data: DataInfo
    checkpoint: Checkpoint | None  # the one resumed


def _plan_new(text: str, model: ModelConfig | dict[str, Any] | None, config: TrainConfig | None,
              overrides: dict[str, Any] | None, split: Split, source: str | None) -> _Plan:
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
    data = data_info(text, split.for_batches(config.batch_size, config.seq_length), source)
    return _Plan(vocab, initial_model(model_config, config), config, data, None)


def initial_model(model_config: ModelConfig, config: TrainConfig) -> CharRNN:
    """The weights a new run starts from: drawn from the run's seed (the initial weights are part of what a seed
    reproduces), by PyTorch's initialisers or char-rnn's (``init_range``, ``forget_bias``)."""
    torch.manual_seed(config.seed)
    return CharRNN(model_config).initialise(config.init_range, config.forget_bias)


def _plan_resume(text: str, out: Path, model: ModelConfig | dict[str, Any] | None, config: TrainConfig | None,
                 overrides: dict[str, Any] | None, split: Split | None) -> _Plan:
    checkpoint = load_checkpoint(find_checkpoint(out, prefer="last"), device="cpu", prefer="last",
                                 with_trainer_state=True)
    info = checkpoint.info
    if info.train_config is None or info.data is None:
        raise CharlmError(f"{checkpoint.path} was not written by `charlm train`, so it cannot be resumed; start a new run")
    if info.data.sha256 != text_fingerprint(text):
        raise CharlmError(f"{out} was trained on a different text; resume with the same file, or start a new --out")
    if config is not None:
        raise CharlmError("resume=True continues the run's own TrainConfig; pass changes as overrides={...}")
    given = model.to_dict() if isinstance(model, ModelConfig) else dict(model or {})
    check_keys("model setting(s)", given, ModelConfig.__dataclass_fields__)
    for name, value in sorted(given.items()):
        if getattr(info.model, name) != value:
            raise CharlmError(f"{_flag(name)} cannot change on --resume (the checkpoint's model has "
                              f"{getattr(info.model, name)!r}); leave it out, or start a new --out")
    run_config = info.train_config
    if split is not None and split.for_batches(run_config.batch_size, run_config.seq_length) != info.data.split:
        raise CharlmError(f"the split cannot change on --resume (the run was cut {info.data.split.label}); leave "
                          f"--split, --train-frac and --val-frac out, or start a new --out")
    return _Plan(checkpoint.vocab, checkpoint.model, resumed_config(info.train_config, overrides), info.data, checkpoint)


def train(text: str, out_dir: str | Path | None = None, model: ModelConfig | dict[str, Any] | None = None,
          config: TrainConfig | None = None, *, split: Split | None = None, fractions: Sequence[float] | None = None,
          resume: bool = False,
          overwrite: bool = False, overrides: dict[str, Any] | None = None, progress: ProgressStyle = "bar",
          sample_every: int | None = None, sample_at: Sequence[int] = (), sample_length: int = 200,
          callbacks: Sequence[Callback] = (), source: str | None = None) -> RunResult:
    """Train a CharRNN on ``text``, cut into train/val/test by ``split`` (charlm.data.Split; ``fractions`` is
    short for a contiguous split; default: contiguous 90/5/5). A striped split takes its rows and chunk from the
    batch shape.

    ``model`` is a ModelConfig or its fields without vocab_size. With ``out_dir``, checkpoints (last, best) and
    metrics.jsonl are written there, under a lock no second trainer can take; ``resume=True`` continues the run
    found there with ``overrides`` applied to its settings: limits, device, precision and intervals apply, other
    changes are refused (as are a different model or split). A directory that holds an earlier run is replaced
    only with ``overwrite=True``; one holding anything else, never. Nothing is written before every setting has
    been checked.
    """
    if overrides:
        check_keys("override(s)", overrides, TrainConfig.__dataclass_fields__)
    if out_dir is not None and not str(out_dir).strip():
        raise CharlmError("--out is empty; give the run directory to write checkpoints to")
    if resume and out_dir is None:
        raise CharlmError("resuming needs the run's --out directory")
    out = Path(out_dir) if out_dir is not None else None
    group = distributed.from_env()
    if out is not None and group.is_main:
        RunDirectory(out).refuse_if_in_use()  # the answer a second trainer needs, before anything else
    if resume:
        asked = split_of(split, fractions) if split is not None or fractions is not None else None
        plan = _plan_resume(text, out, model, config, overrides, asked)  # type: ignore[arg-type]
    else:
        plan = _plan_new(text, model, config, overrides, split_of(split, fractions), source)
    cfg = plan.config
    device = distributed.job_device(cfg.device, group)
    precision = resolve_precision(cfg.precision, device)
    splits = cut(plan.vocab.encode(text, dtype=plan.vocab.compact_dtype), plan.data.split)  # 1 byte a character up to 256
    if out is not None and group.is_main:  # read-only: a folder that is not ours is refused before any work
        RunDirectory(out).refuse_unowned(allow_other_files=resume)

    # Process-wide settings, the caller's to make (the Trainer changes none).
    configure_threads()
    set_matmul_precision(device, precision)
    distributed.join(group, device)
    sampler = (SampleEvery(interval=sample_every, at=sample_at, length=sample_length)
               if (sample_every is not None or sample_at) and group.is_main else None)
    watchers: list[Callback] = [sampler] if sampler else []
    if group.is_main:  # under torchrun rank 0 prints; every rank trains, evaluates its share and gathers state
        watchers += _progress_callbacks(progress, max(cfg.eval_interval // 10, 1))
    trainer = Trainer(plan.model, plan.vocab, splits, cfg, [*watchers, *callbacks], device=device,
                      precision=precision, group=group, out_dir=out, data=plan.data)  # checks that a batch fits
    if plan.checkpoint is not None:
        trainer.load_state_dict(plan.checkpoint.trainer_state)  # type: ignore[arg-type]
    else:
        torch.manual_seed(cfg.seed)  # dropout masks depend on the seed alone, not on how the weights were drawn
    started = time.perf_counter()
    if out is None or not group.is_main:  # under torchrun rank 0 owns (locks, claims, writes) the run directory
        state = trainer.fit()
    else:
        with RunDirectory(out) as run_dir:
            if plan.checkpoint is None:
                run_dir.claim_for_new_run(overwrite)
            elif read_info(out, prefer="last") != plan.checkpoint.info:
                raise CharlmError(f"{out} changed while this trainer started (another trainer wrote it); run the "
                                  f"command again")
            state = trainer.fit()
    result = RunResult(trainer.model, plan.vocab, state, splits, out, cfg, time.perf_counter() - started,
                       sampler.samples if sampler else [], signal=trainer.stop_signal, precision=precision)
    if trainer.has_validation:  # model selection: the weights of the best validation loss, when a pass ran
        if out is not None and (out / "best").is_dir():
            result.model = load_checkpoint(out, device=trainer.device, prefer="best").model
        elif trainer.best_weights is not None:
            result.model.load_state_dict(trainer.best_weights)
            result.model.eval()
    group.finish()
    return result


def free_run_dir(base: str | Path, text: str, model: dict[str, Any], config: TrainConfig,
                 split: Split, source: str | None = None) -> tuple[Path, bool]:
    """Where a run of these settings goes without touching any other: ``base``, else ``base.2``, ``.3`` ...; and
    whether that folder already holds a finished run of exactly these settings (training is seeded, so loading it
    gives what training again would). Notebooks use it so that a rerun never deletes a run."""
    wanted_model = ModelConfig(len(Vocab.from_text(text)), **model)
    wanted_data = data_info(text, split.for_batches(config.batch_size, config.seq_length), source)
    base = Path(base)
    run_dir, n = base, 1
    while run_dir.exists():
        try:
            info = read_info(run_dir, prefer="last")
        except CharlmError:
            info = None
        if info is not None and info.finished and (info.model, info.train_config, info.data) == \
                (wanted_model, config, wanted_data):
            return run_dir, True
        n += 1
        run_dir = base.with_name(f"{base.name}.{n}")
    return run_dir, False


def load_run(path: str | Path, text: str, split: Split | None = None,
             device: str | torch.device = "auto") -> RunResult:
    """A finished run rebuilt from its directory: the best weights, the loss curve its last checkpoint saved, and
    ``text`` cut as the run cut it (or by ``split``). Raises CharlmError when the text does not fit the vocabulary."""
    best = load_checkpoint(path, device=device)
    info = best.info
    try:
        saved = load_checkpoint(best.path.parent if best.path.name in ("best", "last") else best.path, device="cpu",
                                prefer="last", with_trainer_state=True).trainer_state or {}
        state = TrainState(**saved["train_state"])
        state.val_losses = [tuple(pair) for pair in state.val_losses]  # type: ignore[misc]
    except (CharlmError, KeyError, TypeError):  # a checkpoint copied without trainer.pt: config.json's summary
        state = TrainState(iteration=info.iteration, best_val_loss=info.best_val_loss,
                           best_iteration=info.best_iteration, elapsed=info.elapsed_seconds)
    state.stop_reason = "loaded checkpoint"
    config = info.train_config or TrainConfig()
    split = (split or (info.data.split if info.data else DEFAULT_SPLIT)).for_batches(config.batch_size,
                                                                                     config.seq_length)
    try:
        ids = best.vocab.encode(text, what="this text", dtype=best.vocab.compact_dtype)
    except CharlmError as err:
        raise CharlmError(f"checkpoint {best.path} does not fit this text: {err}") from None
    return RunResult(best.model, best.vocab, state, cut(ids, split), best.path.parent, config, state.elapsed,
                     loaded_from=best.path, precision=info.precision)
