"""Per-section presets for the notebooks: one table, three sizes of the same experiment.

Each notebook takes a ``profile`` parameter and asks ``get(section, profile)`` for its model, training
settings, data slice and sample sizes, so the same code runs in seconds (``smoke``), in about ten minutes
on a laptop (``cpu``) or at the post's sizes on a GPU (``paper``). Like nanoGPT's config files, but plain
data: nothing here is executed.

    smoke  tiny models on data slices: every notebook together in under 10 minutes on 2 CPU cores (CI runs
           this). Still has to learn: validation loss well below the text's unigram entropy.
    cpu    the best a laptop CPU gets in about 10 minutes of training per section (max_seconds=600).
    paper  the post's hyper-parameters where it gives them, on a GPU (sizes and times in the comments).

Where the post does not say (dropout, learning rate, how long), the choice is ours and says so.
``TRAIN_DEFAULTS`` below apply to every entry unless the entry overrides them; ``train`` holds
:class:`charlm.trainer.TrainConfig` fields and ``model`` the fields of :class:`charlm.model.ModelConfig`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from charlm.errors import CharlmError

PROFILES: tuple[str, ...] = ("smoke", "cpu", "paper")

# TrainConfig fields shared by all entries; char-rnn's Adam-era defaults with a per-epoch decay.
TRAIN_DEFAULTS: dict[str, Any] = {"optimizer": "adam", "learning_rate": 2e-3, "grad_clip": 5.0, "log_interval": 10}


def _lstm(layers: int, size: int, dropout: float = 0.0) -> dict[str, Any]:
    return {"model": "lstm", "num_layers": layers, "rnn_size": size, "dropout": dropout, "embedding_size": 0}


# The smoke profile's common shape: one 128-unit LSTM on the first million characters, 1,800 iterations
# (about 35 s on one core of the CI machine). Counted in iterations, not seconds, so that what CI checks
# does not depend on how busy the machine is; max_seconds is only a cap for a much slower machine.
# One thread: small LSTMs run no faster on two, and on a shared 2-core runner a second thread that waits
# for a busy core can make every step 10-100x slower.
_SMOKE = {"model": _lstm(1, 128), "max_chars": 1_000_000, "threads": 1,
          "train": {"batch_size": 32, "seq_length": 64, "learning_rate": 3e-3, "max_iters": 1800, "max_seconds": 120,
                    "eval_interval": 400}}
# The cpu profile's common shape: a 2x256 LSTM (about 0.8M parameters) for 10 minutes. One thread here too:
# measured on 2 cores with another job running, 2 threads made 1,056 steps of tiny Shakespeare in 600 s
# (val 1.616 nats/char), 1 thread 1,960 steps (val 1.480). On an idle many-core machine
# overrides={"threads": 4} may be faster.
_CPU = {"model": _lstm(2, 256), "threads": 1,
        "train": {"batch_size": 50, "seq_length": 100, "max_seconds": 600, "eval_interval": 500}}

SECTIONS: dict[str, dict[str, Any]] = {
    # The post's toy: vocabulary h, e, l, o, a vanilla RNN with 3 hidden units, one training sequence.
    # The same in every profile (it trains in a second); no decay, since each iteration is a whole epoch.
    "helo": {
        "dataset": "helo", "fractions": (1.0, 0.0, 0.0),
        "all": {"model": {"model": "rnn", "num_layers": 1, "rnn_size": 3, "dropout": 0.0, "embedding_size": 0},
                "train": {"batch_size": 1, "seq_length": 4, "learning_rate": 0.05, "learning_rate_decay": 1.0,
                          "max_iters": 300, "eval_interval": 10**9, "grad_clip": 0.0},
                "threads": 1, "sample_length": 4},
    },
    # Paul Graham's essays (2.7 MB). Post: 2-layer LSTM, 512 hidden nodes (~3.5M params), dropout 0.5,
    # batch 100, seq 100. It trained "a few hours"; 50 epochs (char-rnn's default) is our reading.
    "paul_graham": {
        "dataset": "paulgraham", "temperatures": (0.2, 0.5, 0.8, 1.0, 1.5), "prime": "The ",
        "smoke": {**_SMOKE, "sample_length": 300},
        "cpu": {**_CPU, "sample_length": 1000},
        "paper": {"model": _lstm(2, 512, 0.5), "sample_length": 2000,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 50, "eval_interval": 500}},
    },
    # Shakespeare. Post: 3-layer, 512 hidden, on all the works (4.4 MB, "shakespeare"), which the offline
    # mirror lacks: paper prefers it and falls back to tiny Shakespeare (1.1 MB), saying so. Dropout is not
    # given; 0.5 is ours (3x512 overfits 1.1 MB quickly without it). n-gram order for the baseline beside it.
    "shakespeare": {
        "dataset": ("tinyshakespeare",), "ngram_order": 5,
        "smoke": {**_SMOKE, "sample_length": 400, "ngram_order": 5},
        "cpu": {**_CPU, "model": _lstm(2, 256, 0.2), "sample_length": 1500, "ngram_order": 7},
        "paper": {"dataset": ("shakespeare", "tinyshakespeare"), "model": _lstm(3, 512, 0.5),
                  "sample_length": 3000, "ngram_order": 9,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 50, "eval_interval": 500}},
    },
    # enwik8 (100 MB of Wikipedia XML); offline only its first 10^6 bytes (partial: said loudly). The post
    # gives no size; the reading is 3 layers, ~10M params: 3x700 LSTM. Dropout 0.25 is ours. Unlike
    # the other sections the input is a learned embedding, not one-hot: Wikipedia has thousands of distinct
    # characters (720 in enwik6 alone), and one-hot inputs would put most of the parameters and time there.
    # Paper: 4 epochs of enwik8 (~36k iterations); on enwik6 that is only a few hundred.
    "wikipedia": {
        "dataset": "wikipedia", "prime": "<page>\n    <title>",
        "smoke": {**_SMOKE, "model": {**_SMOKE["model"], "embedding_size": 64}, "sample_length": 500, "num_samples": 4},
        "cpu": {**_CPU, "model": {**_CPU["model"], "embedding_size": 64}, "sample_length": 1500, "num_samples": 6},
        "paper": {"model": {**_lstm(3, 700, 0.25), "embedding_size": 128}, "sample_length": 3000, "num_samples": 10,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 4, "eval_interval": 1000}},
    },
    # The Stacks project's LaTeX (27.6 MB here; the post's snapshot was 16 MB). "Multilayer LSTM": 3x700 is
    # our reading, as for Wikipedia. Paper: 5 epochs (~14k iterations).
    "latex": {
        "dataset": "latex", "prime": "\\begin{",
        "smoke": {**_SMOKE, "sample_length": 600, "num_samples": 4},
        "cpu": {**_CPU, "sample_length": 2000, "num_samples": 6},
        "paper": {"model": _lstm(3, 700, 0.25), "sample_length": 3000, "num_samples": 10,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 5, "eval_interval": 1000}},
    },
    # Linux kernel C. Post: 3-layer LSTM, ~10M params (3x700 here: 10.4M with a ~100-char vocabulary), on the
    # whole 474 MB tree; the mirror has include/linux, kernel/ and mm/ (20 MB). Split 80/10/10 as Karpathy,
    # Johnson & Fei-Fei (2015), whose best LSTM reached 0.84 nats/char on the whole tree. Paper: 10 epochs.
    "linux": {
        "dataset": "linux", "fractions": (0.8, 0.1, 0.1), "prime": "static int ",
        "smoke": {**_SMOKE, "sample_length": 600, "num_samples": 4},
        "cpu": {**_CPU, "sample_length": 2000, "num_samples": 6},
        "paper": {"model": _lstm(3, 700, 0.25), "sample_length": 3000, "num_samples": 10,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 10, "eval_interval": 1000}},
    },
    # 8k names, one a line (56 kB). The post gives no model; ours: small, dropout against memorising.
    # num_names: how many sampled names the novelty share is measured on.
    "names": {
        "dataset": "names", "num_names": 500,
        "smoke": {**_SMOKE, "model": _lstm(1, 128, 0.2), "max_chars": None, "num_names": 300,
                  "train": {**_SMOKE["train"], "seq_length": 32, "max_iters": 1200, "max_seconds": 60,
                            "eval_interval": 200}},
        "cpu": {"model": _lstm(2, 128, 0.3), "num_names": 1000, "threads": 1,
                "train": {"batch_size": 32, "seq_length": 50, "max_seconds": 300, "eval_interval": 200}},
        "paper": {"model": _lstm(2, 256, 0.5), "num_names": 2000,
                  "train": {"batch_size": 50, "seq_length": 50, "max_epochs": 100, "eval_interval": 100}},
    },
    # War and Peace (3.2 MB): samples at the iterations of the post's table, then training goes on to the
    # profile's limit. Split 80/10/10 as Karpathy, Johnson & Fei-Fei (2015): best LSTM 1.077 nats/char.
    # Paper: 3x512 (their largest LSTM), dropout 0.5 (ours), batch 100, seq 100, 50 epochs (~13k iterations).
    "evolution": {
        "dataset": "warandpeace", "fractions": (0.8, 0.1, 0.1), "sample_at": (100, 300, 500, 700, 1200, 2000),
        "smoke": {**_SMOKE, "model": _lstm(1, 128), "sample_length": 200,
                  "train": {"batch_size": 32, "seq_length": 32, "learning_rate": 3e-3, "max_iters": 2000,
                            "max_seconds": 120, "eval_interval": 500}},
        "cpu": {**_CPU, "sample_length": 300, "train": {**_CPU["train"], "eval_interval": 250}},
        "paper": {"model": _lstm(3, 512, 0.5), "sample_length": 500,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 50, "eval_interval": 500}},
    },
    # Looking inside the model (charlm.analysis.viz). War and Peace, split 80/10/10 as Karpathy, Johnson & Fei-Fei (2015):
    # its “quotes” and ~70-character lines are the post's quote and line-position cells. trace_chars: held-out
    # characters traced; view_chars, topk_chars, heatmap_chars: how much of them each view shows; ngram_orders:
    # the counting baseline beside the LSTM, ngram_sample_orders: the orders sampled.
    "neurons": {
        "dataset": "warandpeace", "fractions": (0.8, 0.1, 0.1),
        "trace_chars": 6000, "view_chars": 1200, "topk_chars": 400, "heatmap_chars": 80,
        "ngram_orders": (1, 2, 3, 4, 5, 6, 8, 10, 15, 20), "ngram_sample_orders": (3, 5, 10),
        "smoke": {**_SMOKE, "max_chars": 500_000, "sample_length": 300, "num_samples": 2,
                  "trace_chars": 6000, "ngram_orders": (1, 2, 3, 4, 5, 7, 10, 20),
                  "train": {**_SMOKE["train"], "max_iters": 1300, "max_seconds": 90, "eval_interval": 100_000}},
        "cpu": {**_CPU, "sample_length": 500, "trace_chars": 20_000},
        "paper": {"model": _lstm(3, 512, 0.5), "sample_length": 1000, "trace_chars": 20_000,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 50, "eval_interval": 500}},
    },
    # ---- notebook 10 (issue 11, part B): the companion paper's comparisons. Karpathy, Johnson & Fei-Fei
    # (2015) trained RNN, GRU and LSTM at 1-3 layers with matched parameter counts on War and Peace and Linux
    # (their Table 1) and measured gate saturation (their Figure 3). Grid: every (data set, cell, depth) gets
    # the parameter count of an LSTM of lstm_size units at that depth (charlm.analysis.comparison), and
    # grid_train, the same for all, so each model sees the same characters. The section's own run (the record's
    # model) is the profile's LSTM. gate_chars: held-out characters the gates are measured on.
    # smoke: 6 tiny 2-layer models on 200k-character slices, ~20 s (no depth comparison). cpu: 18 models,
    # lstm_size 128, 1,000 iterations each: about 20 minutes of steps, an estimate (not yet timed end to end):
    # the 18 models' steps timed at 66 minutes with the 2-core machine at load average 10, and 8 minutes when
    # scaled by parameters x characters from the 2x256 throughput above (small models use a core less well).
    # paper: 3x512 as their largest LSTM, 10 epochs each.
    "comparison": {
        "dataset": "warandpeace", "other_dataset": "linux", "fractions": (0.8, 0.1, 0.1),
        "kinds": ("rnn", "gru", "lstm"), "depths": (1, 2, 3), "gate_chars": 4000,
        "smoke": {**_SMOKE, "model": _lstm(1, 64), "max_chars": 200_000, "sample_length": 200, "num_samples": 1,
                  "lstm_size": 24, "depths": (2,), "gate_chars": 2000,
                  "train": {**_SMOKE["train"], "max_iters": 300, "max_seconds": 60, "eval_interval": 300},
                  "grid_train": {"batch_size": 16, "seq_length": 32, "learning_rate": 1e-2, "max_iters": 120,
                                 "eval_interval": 120, "log_interval": 40}},
        "cpu": {**_CPU, "model": _lstm(3, 128), "max_chars": 2_000_000, "sample_length": 500, "lstm_size": 128,
                "train": {"batch_size": 32, "seq_length": 64, "max_iters": 1000, "eval_interval": 500},
                "grid_train": {"batch_size": 32, "seq_length": 64, "learning_rate": 2e-3, "max_iters": 1000,
                               "eval_interval": 500, "log_interval": 100}},
        "paper": {"model": _lstm(3, 512), "sample_length": 1000, "lstm_size": 512,
                  "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 10, "eval_interval": 1000},
                  "grid_train": {"batch_size": 100, "seq_length": 100, "max_epochs": 10, "eval_interval": 1000}},
    },
}


@dataclass(frozen=True)
class Profile:
    """Everything a notebook needs to know about its size."""

    section: str
    name: str  # smoke | cpu | paper
    datasets: tuple[str, ...]  # data sets to try in order (the first that can be prepared is used)
    model: dict[str, Any]  # ModelConfig fields (no vocab_size)
    train: dict[str, Any]  # TrainConfig fields
    max_chars: int | None = None  # use only the first max_chars characters (smoke)
    fractions: tuple[float, float, float] | None = None  # None: the data set's own split (meta.json)
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default
    sample_length: int = 500
    num_samples: int = 3
    temperatures: tuple[float, ...] = (0.2, 0.5, 1.0, 1.5)
    prime: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # section-specific: ngram_order, sample_at, num_names

    @property
    def dataset(self) -> str:
        return self.datasets[0]

    def train_config(self, seed: int | None = None, overrides: dict[str, Any] | None = None):
        """The TrainConfig of this profile, with the notebook's seed and any overrides applied."""
        from charlm.trainer import TrainConfig  # imported late: reading the table needs no torch

        values = {**TRAIN_DEFAULTS, **self.train, **(overrides or {})}
        if seed is not None:
            values["seed"] = seed
        unknown = sorted(set(values) - set(TrainConfig.__dataclass_fields__))
        if unknown:
            raise CharlmError(f"profile {self.section}/{self.name}: unknown training setting(s) {', '.join(unknown)}")
        return TrainConfig(**values)


_FIELDS = ("model", "train", "max_chars", "fractions", "threads", "sample_length", "num_samples", "temperatures",
           "prime")


def section_key(section: str) -> str:
    """'03_shakespeare' or 'shakespeare' -> 'shakespeare' (notebooks pass their file name)."""
    key = re.sub(r"^\d+_", "", section)
    if key not in SECTIONS:
        raise CharlmError(f"no profiles for section {section!r}; known: {', '.join(SECTIONS)}")
    return key


def get(section: str, profile: str | None = None) -> Profile:
    """The preset of ``section`` for ``profile`` (None: :func:`default_profile`)."""
    key = section_key(section)
    name = profile or default_profile()
    if name not in PROFILES:
        raise CharlmError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    entry = copy.deepcopy(SECTIONS[key])
    base = {k: v for k, v in entry.items() if k not in PROFILES and k != "all"}
    values = {**base, **entry.get("all", {}), **entry.get(name, {})}  # section, then all profiles, then this one
    datasets = values.pop("dataset")
    extra = {k: v for k, v in values.items() if k not in _FIELDS}
    chosen = {k: values[k] for k in _FIELDS if k in values}
    return Profile(section=key, name=name, datasets=(datasets,) if isinstance(datasets, str) else tuple(datasets),
                   extra=extra, **chosen)


def default_profile() -> str:
    """'paper' where CUDA is present, else 'cpu'."""
    import torch

    return "paper" if torch.cuda.is_available() else "cpu"


def table() -> list[dict[str, Any]]:
    """One row per section and profile: what the README's table of profiles shows."""
    rows = []
    for key in SECTIONS:
        for name in PROFILES:
            p = get(key, name)
            m, t = p.model, p.train
            limit = ", ".join(f"{k}={t[k]}" for k in ("max_iters", "max_epochs", "max_seconds") if t.get(k) is not None)
            rows.append({"section": key, "profile": name, "dataset": " or ".join(p.datasets),
                         "model": f"{m['model']} {m['num_layers']}x{m['rnn_size']}, dropout {m.get('dropout', 0)}",
                         "batch": f"{t['batch_size']}x{t['seq_length']}", "limit": limit,
                         "data": f"first {p.max_chars:,} chars" if p.max_chars else "all"})
    return rows
