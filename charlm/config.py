"""A run's settings (TrainConfig) and its record (RunInfo, what a checkpoint's config.json holds).

Both are checked where they are built: a TrainConfig from the CLI, the Python API or a notebook, a RunInfo from a
config.json that may have been edited by hand. A mistake is one CharlmError line, never a traceback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from charlm.data import DEFAULT_SPLIT, Split, check_fractions
from charlm.device import PRECISIONS
from charlm.errors import CharlmError, check_float, check_int, check_keys
from charlm.model import ModelConfig
from charlm.vocab import Vocab

OPTIMIZERS = ("adam", "rmsprop")
# norm: scale all gradients so their global norm is at most grad_clip (PyTorch's clip_grad_norm_);
# value: clamp each gradient element to [-grad_clip, grad_clip], as char-rnn's train.lua does.
GRAD_CLIP_MODES = ("norm", "value")
# Why training stopped. The limits and "interrupted" (a signal or request_stop) leave trusted weights; after the
# others the last checkpoint is kept and nothing is saved.
LIMIT_STOPS = ("max_iters", "max_epochs", "max_seconds")
UNSAFE_STOPS = ("diverged", "aborted", "failed")


def _choices(values: tuple[str, ...]) -> dict[str, Any]:
    """Field metadata the CLI turns into argparse choices: one tuple is both the option's choices and the check."""
    return {"choices": values}


@dataclass
class TrainConfig:
    # char-rnn's defaults, under char-rnn's names.
    batch_size: int = 50
    seq_length: int = 50
    learning_rate: float = 2e-3
    optimizer: str = field(default="adam", metadata=_choices(OPTIMIZERS))
    learning_rate_decay: float = 0.97  # multiply the rate by this every epoch ...
    learning_rate_decay_after: int = 10  # ... from this epoch on
    decay_rate: float = 0.95  # RMSProp's smoothing (char-rnn's -decay_rate; torch's alpha)
    grad_clip: float = 5.0  # 0 disables
    grad_clip_mode: str = field(default="norm", metadata=_choices(GRAD_CLIP_MODES))
    # Initial weights of a new run: 0 keeps PyTorch's; char-rnn draws every parameter uniformly from +-0.08.
    init_range: float = 0.0
    # LSTM only: the forget gates' input bias at the start (char-rnn sets 1); None keeps the initialiser's.
    forget_bias: float | None = None
    max_epochs: float | None = None
    max_iters: int | None = None
    max_seconds: float | None = None
    eval_interval: int = 1000  # iterations between evaluations on the validation split
    log_interval: int = 10
    seed: int = 123
    device: str = "auto"
    # auto: bf16 on CPUs with native bf16 units, else fp32 (charlm.device.resolve_precision); tf32: CUDA only
    precision: str = field(default="auto", metadata=_choices(PRECISIONS))
    explode_factor: float = 3.0  # stop when loss exceeds this times the first loss (char-rnn's guard)

    def __post_init__(self) -> None:
        # The one place training settings are checked: the CLI, the Python API and the notebooks all build one.
        for f in fields(self):
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) not in allowed:
                raise CharlmError(f"unknown {f.name} {getattr(self, f.name)!r}; choose one of {', '.join(allowed)}")
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        self.seq_length = check_int("seq_length", self.seq_length, 1)
        self.learning_rate = check_float("learning_rate", self.learning_rate, 0.0, above=True)
        self.learning_rate_decay = check_float("learning_rate_decay", self.learning_rate_decay, 0.0, above=True,
                                               maximum=1.0)
        self.learning_rate_decay_after = check_int("learning_rate_decay_after", self.learning_rate_decay_after, 0)
        self.decay_rate = check_float("decay_rate", self.decay_rate, 0.0, maximum=1.0)
        self.grad_clip = check_float("grad_clip", self.grad_clip, 0.0)
        self.init_range = check_float("init_range", self.init_range, 0.0)
        if self.forget_bias is not None:
            self.forget_bias = check_float("forget_bias", self.forget_bias)
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


@dataclass(frozen=True)
class DataInfo:
    """The text a run trained on: its fingerprint and length, how it was cut, and where it came from."""

    sha256: str
    chars: int
    split: Split = DEFAULT_SPLIT
    source: str | None = None  # a data set name or a file path

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "chars": self.chars, "split": self.split.to_json(), "source": self.source}

    @classmethod
    def from_json(cls, raw: Any) -> "DataInfo":
        """Also reads a record written before the split was typed: its ``fractions`` cut contiguously."""
        if not isinstance(raw, dict):
            raise CharlmError(f"data is {raw!r}, not a table")
        if not isinstance(raw.get("sha256"), str):
            raise CharlmError(f"data.sha256 is {raw.get('sha256')!r}, not a hash")
        source = raw.get("source")
        if source is not None and not isinstance(source, str):
            raise CharlmError(f"data.source is {source!r}, not a name")
        try:
            split = Split.from_json(raw["split"]) if "split" in raw else Split(
                "contiguous", check_fractions(raw.get("fractions", DEFAULT_SPLIT.fractions)))
        except CharlmError as err:
            raise CharlmError(f"data.{'split' if 'split' in raw else 'fractions'}: {err}") from None
        return cls(raw["sha256"], check_int("data.chars", raw.get("chars"), 0), split, source)


def _optional_float(name: str, value: Any) -> float | None:
    """A loss or time from JSON: None, a number, or NaN (json writes NaN for a diverged loss)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CharlmError(f"{name} is {value!r}, not a number")
    return float(value)


def _optional_int(name: str, value: Any) -> int | None:
    return None if value is None else check_int(name, value, 0)


@dataclass
class RunInfo:
    """What a checkpoint's config.json says about its run, besides the format tag and the weights' hash.

    ``val_loss`` is of the last validation pass, at ``val_iteration``: when a stop signal skipped the final pass,
    ``val_iteration`` < ``iteration`` (``validated`` is False). ``best_val_loss`` is the lowest validation loss,
    reached at ``best_iteration``: the weights in ``best/``. A checkpoint written outside training (a bare model)
    has no train_config and no data.
    """

    model: ModelConfig
    vocab: Vocab
    train_config: TrainConfig | None = None
    data: DataInfo | None = None
    iteration: int = 0
    epoch: float = 0.0
    train_loss: float | None = None  # of the last step
    val_loss: float | None = None
    val_iteration: int | None = None
    best_val_loss: float | None = None
    best_iteration: int | None = None
    elapsed_seconds: float = 0.0
    device: str | None = None  # where it trained, e.g. "cpu" or "cuda:0"
    precision: str | None = None  # resolved: fp32, tf32, bf16 or fp16, never "auto"
    world_size: int = 1
    stop_reason: str | None = None

    @property
    def validated(self) -> bool:
        """Whether val_loss is of the weights saved with this record (no validation pass was skipped)."""
        return self.val_iteration is not None and self.val_iteration == self.iteration

    def to_json(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["model"] = self.model.to_dict()
        values["vocab"] = self.vocab.to_list()
        values["train_config"] = self.train_config.to_dict() if self.train_config is not None else None
        values["data"] = self.data.to_json() if self.data is not None else None
        return values

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "RunInfo":
        """The record in a config.json's dict, checked field by field; a CharlmError names the first bad one.

        Keys the format adds (format, version, weights_sha256) and keys of fields an older charlm wrote are
        ignored; a training setting an older charlm had and this one does not is dropped, as on resume."""
        if not isinstance(raw.get("model"), dict) or not isinstance(raw.get("vocab"), list):
            raise CharlmError("it lacks its model or vocab entry")
        if not all(isinstance(c, str) for c in raw["vocab"]):
            raise CharlmError("its vocab lists something other than characters")
        model, vocab = ModelConfig.from_dict(raw["model"]), Vocab.from_list(raw["vocab"])
        if len(vocab) != model.vocab_size:
            raise CharlmError(f"it lists {len(vocab)} characters but the model has vocab_size {model.vocab_size}")
        train_config = raw.get("train_config")
        if train_config is not None:
            if not isinstance(train_config, dict):
                raise CharlmError(f"train_config is {train_config!r}, not a table of settings")
            train_config = TrainConfig.from_dict({k: v for k, v in train_config.items()
                                                  if k in TrainConfig.__dataclass_fields__ or k == "bf16"})
        data = DataInfo.from_json(raw["data"]) if raw.get("data") is not None else None
        for name in ("device", "precision", "stop_reason"):
            if raw.get(name) is not None and not isinstance(raw[name], str):
                raise CharlmError(f"{name} is {raw[name]!r}, not a name")
        return cls(model, vocab, train_config, data,
                   iteration=check_int("iteration", raw.get("iteration", 0), 0),
                   epoch=_optional_float("epoch", raw.get("epoch")) or 0.0,
                   train_loss=_optional_float("train_loss", raw.get("train_loss")),
                   val_loss=_optional_float("val_loss", raw.get("val_loss")),
                   val_iteration=_optional_int("val_iteration", raw.get("val_iteration")),
                   best_val_loss=_optional_float("best_val_loss", raw.get("best_val_loss")),
                   best_iteration=_optional_int("best_iteration", raw.get("best_iteration")),
                   elapsed_seconds=_optional_float("elapsed_seconds", raw.get("elapsed_seconds")) or 0.0,
                   device=raw.get("device"), precision=raw.get("precision"),
                   world_size=check_int("world_size", raw.get("world_size", 1), 1),
                   stop_reason=raw.get("stop_reason"))

    @property
    def finished(self) -> bool:
        """Whether training ran to one of its limits (not interrupted, not failed)."""
        return self.stop_reason in LIMIT_STOPS
