"""Per-section presets: what each notebook trains and samples, at three sizes of the same experiment.

One TOML file per section in ``presets/``, named like its notebook (``03_shakespeare.toml``), with each profile
spelled out in full, like nanoGPT's config files: plain data that nothing executes or merges, so a reader finds a
notebook's model and training settings in one place. The profiles:

    smoke  tiny models on data slices, counted in iterations: every notebook in minutes on 2 CPU cores (CI)
    cpu    the best a laptop CPU gets in about ten minutes of training per section
    paper  the post's hyper-parameters where it gives them, on a GPU
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from charlm.errors import CharlmError, check_float, check_int, check_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PROFILES: tuple[str, ...] = ("smoke", "cpu", "paper")
PRESETS_DIR = Path(__file__).with_name("presets")


@dataclass(frozen=True)
class Preset:
    """One section's settings for one profile, as its TOML table says."""

    section: str  # the notebook's name, e.g. "03_shakespeare": results records and file names use it too
    profile: str  # smoke | cpu | paper
    datasets: tuple[str, ...]  # data sets to try in order (the first that can be prepared is used)
    model: dict[str, Any]  # charlm.model.ModelConfig fields (no vocab_size)
    train: dict[str, Any]  # charlm.trainer.TrainConfig fields
    max_chars: int | None = None  # use only the first max_chars characters
    fractions: tuple[float, float, float] | None = None  # None: the data set's own split
    split: str = "contiguous"  # or "striped": char-rnn's rows (batch_size) x chunks (seq_length) of the fractions
    split_note: str = ""  # said beside the split in the notebook and the record (e.g. that the fractions are ours)
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default
    sample_length: int = 500
    num_samples: int = 3
    temperatures: tuple[float, ...] = (0.2, 0.5, 1.0, 1.5)
    prime: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # what only this section's notebook reads

    @property
    def dataset(self) -> str:
        return self.datasets[0]

    def split_spec(self, overrides: dict[str, Any] | None = None):
        """The charlm.data.Split this preset cuts its text by (a striped one takes its rows and chunk from the
        batch shape, with ``overrides`` applied); None: the data set's own split."""
        from charlm.data import Split  # imported late: reading presets needs no torch

        if self.split == "striped":
            shape = {**self.train, **(overrides or {})}
            return Split("striped", self.fractions, shape.get("batch_size"), shape.get("seq_length"))  # type: ignore[arg-type]
        return Split("contiguous", self.fractions) if self.fractions is not None else None

    def train_config(self, seed: int | None = None, overrides: dict[str, Any] | None = None):
        """The TrainConfig of this preset, with the notebook's seed and any overrides applied."""
        from charlm.trainer import TrainConfig  # imported late: reading presets needs no torch

        values = {**self.train, **(overrides or {}), **({"seed": seed} if seed is not None else {})}
        return TrainConfig.from_dict(values)  # unknown keys: an error listing the valid ones


def sections() -> list[str]:
    """Every section that has presets, in notebook order."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def load(section: str, profile: str | None = None) -> Preset:
    """The preset of ``section`` (a notebook's name) for ``profile`` (None: :func:`default_profile`).

    Every value is checked here, where the preset is built, by the same checks the configs use: a mistake in a
    TOML file is one line naming the file, the table and the setting, before any data is read or a model built.
    """
    name = profile or default_profile()
    if name not in PROFILES:
        raise CharlmError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    path = PRESETS_DIR / f"{section}.toml"
    if not path.is_file():
        raise CharlmError(f"no presets for section {section!r}; known: {', '.join(sections())}")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise CharlmError(f"cannot read {path} ({err}); fix the file or restore it from git") from None
    if not isinstance(document.get(name), dict):
        raise CharlmError(f"{path.name} has no [{name}] table (it has {', '.join(map(repr, document)) or 'none'}); "
                          f"each preset file spells out [{'], ['.join(PROFILES)}]")
    table = dict(document[name])
    check_keys(f"key(s) in {path.name} [{name}]:", table, {f.name for f in fields(Preset)} - {"section", "profile"})
    _check(table, path.name, name)
    for key in ("datasets", "fractions", "temperatures"):
        if key in table:
            table[key] = tuple(table[key])
    return Preset(section=section, profile=name, **table)


@contextmanager
def _where(place: str) -> Iterator[None]:
    """Prefix a check's one-line message with the file and table it is about."""
    try:
        yield
    except CharlmError as err:
        raise CharlmError(f"{place}: {err}") from None


def _check(table: dict[str, Any], file: str, profile: str) -> None:
    """Refuse what a notebook would trip over later, naming the file and the table."""
    from charlm.datasets import NAMES
    from charlm.model import ModelConfig  # imported here: checking a preset's configs needs torch's modules
    from charlm.trainer import TrainConfig

    with _where(f"{file} [{profile}]"):
        for key in ("datasets", "model", "train"):
            if key not in table:
                raise CharlmError(f"{key!r} is missing" + ("" if key == "datasets" else
                                  f" (the [{profile}.{key}] table)"))
        names = table["datasets"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise CharlmError(f"datasets = {names!r}; give a list of at least one data set name, e.g. [\"names\"]")
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            raise CharlmError(f"unknown data set(s) {', '.join(map(repr, unknown))}; known: {', '.join(NAMES)}")
        for key in ("model", "train"):
            if not isinstance(table[key], dict):
                raise CharlmError(f"{key} = {table[key]!r}; it must be a table of settings")
        if "vocab_size" in table["model"]:
            raise CharlmError("model.vocab_size is the text's, not a setting; delete it")
        if table.get("threads") is not None:
            check_int("threads", table["threads"], 1)  # 0 is not "torch's default": leave the key out for that
        if table.get("max_chars") is not None:
            check_int("max_chars", table["max_chars"], 1)
        for key in ("sample_length", "num_samples"):
            if key in table:
                check_int(key, table[key], 1)
        fractions = table.get("fractions")
        if fractions is not None:
            if not isinstance(fractions, list) or len(fractions) != 3:
                raise CharlmError(f"fractions = {fractions!r}; give three numbers: train, validation, test")
            for f in fractions:
                check_float("fractions", f, 0.0, maximum=1.0)
            if not 0.0 < sum(fractions) <= 1.0 + 1e-9:
                raise CharlmError(f"fractions {fractions} sum to {sum(fractions):g}; they must sum to at most 1")
        split = table.get("split", "contiguous")
        if split not in ("contiguous", "striped"):
            raise CharlmError(f"split = {split!r}; choose \"contiguous\" or \"striped\" (char-rnn's)")
        if split == "striped" and fractions is None:
            raise CharlmError("split = \"striped\" needs its fractions (train, validation, test), e.g. [0.8, 0.1, 0.1]")
        temperatures = table.get("temperatures", [1.0])
        if not isinstance(temperatures, list) or not temperatures:
            raise CharlmError(f"temperatures = {temperatures!r}; give a list of numbers above 0")
        for t in temperatures:
            check_float("temperatures", t, 0.0, above=True)
        if not isinstance(table.get("prime", ""), str):
            raise CharlmError(f"prime = {table['prime']!r}; it must be a string")
        if not isinstance(table.get("split_note", ""), str):
            raise CharlmError(f"split_note = {table['split_note']!r}; it must be a string")
        if not isinstance(table.get("extra", {}), dict):
            raise CharlmError(f"extra = {table['extra']!r}; it must be a table")
    # The configs' own checks, so that a preset is refused exactly as the CLI would refuse the same setting.
    with _where(f"{file} [{profile}.model]"):
        ModelConfig.from_dict({"vocab_size": 1, **table["model"]})
    with _where(f"{file} [{profile}.train]"):
        train = TrainConfig.from_dict(table["train"])
    if table.get("split") == "striped":
        from charlm.data import Split

        with _where(f"{file} [{profile}]"):
            Split("striped", table["fractions"], train.batch_size, train.seq_length)


def default_profile() -> str:
    """'paper' where CUDA is present, else 'cpu'."""
    import torch

    return "paper" if torch.cuda.is_available() else "cpu"


def table() -> list[dict[str, Any]]:
    """One row per section and profile: the README's table of profiles."""
    rows = []
    for section in sections():
        for name in PROFILES:
            p = load(section, name)
            m, t = p.model, p.train
            limit = ", ".join(f"{k}={t[k]}" for k in ("max_iters", "max_epochs", "max_seconds") if t.get(k) is not None)
            rows.append({"section": section, "profile": name, "dataset": " or ".join(p.datasets),
                         "model": f"{m['model']} {m['num_layers']}x{m['rnn_size']}, dropout {m['dropout']}",
                         "batch": f"{t['batch_size']}x{t['seq_length']}", "limit": limit,
                         "data": f"first {p.max_chars:,} chars" if p.max_chars else "all"})
    return rows
