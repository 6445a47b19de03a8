"""What the section notebooks call, so that their cells hold no logic of their own.

A notebook's life, in these helpers::

    sec = setup("03_shakespeare", profile, output_dir, checkpoint=..., checkpoint_dir=..., mirror=..., seed=...)
    corpus = sec.corpus()                 # the data set (or its slice), loudly flagged when partial
    run = sec.train(corpus)               # trains into <output_dir>/runs/<section>/, or loads a checkpoint
    show_losses(run, corpus)              # the loss curve, saved beside the results as PNG
    texts = generate(run, n, length)      # samples; measure them with charlm.analysis.textstats
    sec.record(run, corpus, texts, extra) # the section's results record (charlm.paper.results), and a summary

Displays are objects with both an HTML and a plain-text form (``Shown``, in :mod:`charlm.analysis.display`, whose
``table``, ``side_by_side`` and ``show_samples`` the notebooks call from here): the last expression of a cell
renders as a table in Jupyter, and as readable text in a log. Figures are drawn with matplotlib, shown
once, and saved under ``<output_dir>/figures/``. Measurements and figures that belong to one section only
(the helo diagram, closure counts, name novelty) are in :mod:`charlm.paper.sections`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from charlm import datasets
from charlm.analysis import display, textstats
from charlm.paper import profiles, results
from charlm.checkpoint import load_checkpoint
from charlm.data import split_ids
from charlm.analysis.display import Shown, show, show_figure, stack, table, warning
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.run import text_fingerprint, train
from charlm.sampler import sample
from charlm.trainer import Callback, Trainer, evaluate
from charlm.vocab import Vocab

# Re-exported: the notebooks call nb.show_samples, nb.side_by_side and nb.published_losses.
show_samples, side_by_side = display.show_samples, display.side_by_side
published_losses = results.published_losses

# --------------------------------------------------------------------------- data


@dataclass
class Corpus:
    name: str  # the data set actually used
    text: str  # what the model trains and is evaluated on (the whole set or its first max_chars)
    meta: dict[str, Any]
    fractions: tuple[float, float, float]
    partial: bool  # not the whole data set the published figures used
    subset: str  # what part, when partial
    notes: list[str] = field(default_factory=list)

    @cached_property
    def unigram_entropy(self) -> float:
        """Loss of the best model that ignores context: a model that learned anything is well below it."""
        return textstats.unigram_entropy(self.text)

    def split(self, name: str) -> str:
        """The text of one split, cut exactly as charlm.data.split_ids cuts the ids for training."""
        start, end = split_bounds(len(self.text), self.fractions)[name]
        return self.text[start:end]

    @property
    def split_label(self) -> str:
        """'90/5/5' style, what results compares with the published splits."""
        label = "/".join(f"{100 * f:.3g}" for f in self.fractions)
        return label + (" of the bytes" if self.meta.get("splits", {}).get("by") == "byte" else "")


def split_bounds(n: int, fractions: Sequence[float]) -> dict[str, tuple[int, int]]:
    """[start, end) of each split of n characters: split_ids itself cuts range(n), so no array of n ids is made."""
    return {name: (r.start, r.stop) for name, r in split_ids(range(n), tuple(fractions)).items()}  # type: ignore[arg-type]


def _own_fractions(meta: dict[str, Any]) -> tuple[float, float, float]:
    s, n = meta["splits"], meta["chars"]
    return (s["train"][1] / n, (s["val"][1] - s["val"][0]) / n, (s["test"][1] - s["test"][0]) / n)


def load_corpus(names: str | Sequence[str], mirror: str | None = None, max_chars: int | None = None,
                fractions: Sequence[float] | None = None) -> Corpus:
    """The first of ``names`` that can be prepared (mirror honoured), cut to ``max_chars`` if given."""
    names = [names] if isinstance(names, str) else list(names)
    notes: list[str] = []
    for i, name in enumerate(names):
        try:
            path = datasets.path(name, mirror=mirror, progress=False)
            break
        except CharlmError as err:
            if i == len(names) - 1:
                raise
            notes.append(f"{name} could not be prepared ({err}); using {names[i + 1]} instead")
    text, meta = path.read_text(encoding="utf-8"), datasets.meta(name)
    subsets = []
    if meta.get("partial"):
        subsets.append(meta.get("note") or "partial data set")
    if name == "linux" and meta.get("variant") != "full":
        subsets.append("include/linux/, kernel/, mm/ of Linux 4.0 (the post: the whole tree)")
    frac = tuple(fractions) if fractions is not None else _own_fractions(meta)
    if max_chars is not None and len(text) > max_chars:
        subsets.append(f"first {max_chars:,} of {len(text):,} characters")
        text = text[:max_chars]
        if fractions is None:
            frac = tuple(meta["splits"]["fractions"])
    return Corpus(name, text, meta, frac, bool(subsets), "; ".join(subsets), notes)  # type: ignore[arg-type]


def describe(corpus: Corpus) -> Shown:
    """What was loaded, with the partial-data and fallback warnings up front."""
    parts = [warning(n) for n in corpus.notes]
    if corpus.partial:
        parts.append(warning(f"PARTIAL DATA: {corpus.subset}. Losses are not comparable with published figures."))
    rows = [{"data set": corpus.name, "characters": f"{len(corpus.text):,}", "vocabulary": len(set(corpus.text)),
             "split": corpus.split_label, "unigram entropy (nats/char)": corpus.unigram_entropy,
             "source": corpus.meta.get("source", "")}]
    return stack([*parts, table(rows, corpus.meta.get("title", corpus.name))], corpus, sep="\n")


# --------------------------------------------------------------------------- training or loading


@dataclass
class Trained:
    """A trained (or loaded) model with what the notebook shows about it."""

    model: CharRNN
    vocab: Vocab
    splits: dict[str, np.ndarray]
    train_config: dict[str, Any]
    train_losses: list[tuple[int, float]]  # (iteration, loss)
    val_losses: list[tuple[int, float]]
    samples: list[tuple[int, str]]  # made while training (sample_at)
    train_seconds: float
    iterations: int
    stop_reason: str | None
    val_loss: float
    test_loss: float | None
    run_dir: Path | None
    loaded_from: Path | None = None
    val_is_train: bool = False  # the text has no validation split (helo): losses are on the training text

    @property
    def device(self) -> str:
        dev = next(self.model.parameters()).device
        return f"cuda ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else dev.type

    @property
    def n_params(self) -> int:
        return self.model.num_parameters()


class LogProgress(Callback):
    """About ``lines`` plain progress lines per run (papermill-friendly: no live bar), plus each evaluation."""

    def __init__(self, lines: int = 10, printer: Callable[[str], None] = print) -> None:
        self.lines, self.printer = lines, printer
        self.every_iters: int | None = None
        self.every_seconds, self.last_time = 0.0, 0.0

    def on_train_start(self, trainer: Trainer) -> None:
        cfg, per_epoch = trainer.config, trainer.iters_per_epoch
        limits = [cfg.max_iters] if cfg.max_iters else []
        if cfg.max_epochs:
            limits.append(int(cfg.max_epochs * per_epoch))
        if limits:
            self.every_iters = max(1, min(limits) // self.lines)
        self.every_seconds = (cfg.max_seconds or 60) / self.lines
        self.printer(f"training {trainer.model.num_parameters():,} parameters on {trainer.device}, "
                     f"{per_epoch:,} iterations per epoch; limits: "
                     + ", ".join(f"{k}={getattr(cfg, k)}" for k in ("max_iters", "max_epochs", "max_seconds")
                                 if getattr(cfg, k) is not None))

    def on_step_end(self, trainer: Trainer) -> None:
        st = trainer.state
        due = (st.iteration % self.every_iters == 0) if self.every_iters else False
        if due or st.elapsed - self.last_time >= self.every_seconds:
            self.last_time = st.elapsed
            self.printer(f"iter {st.iteration:>6} epoch {st.epoch:6.2f}  loss {st.train_loss:.3f}  "
                         f"{st.chars_per_second:,.0f} chars/s  {st.elapsed:5.0f} s")

    def on_evaluate(self, trainer: Trainer) -> None:
        st = trainer.state
        self.printer(f"iter {st.iteration:>6} val loss {st.val_loss:.4f} nats/char (best {st.best_val_loss:.4f})")

    def on_train_end(self, trainer: Trainer) -> None:
        st = trainer.state
        self.printer(f"stopped ({st.stop_reason}) after {st.iteration:,} iterations, {st.elapsed:.1f} s of steps")


_RUN_FILES = {"last", "best", "metrics.jsonl", "samples.json"}


def _clear_run_dir(run_dir: Path) -> None:
    """A rerun trains afresh: remove the previous run of this section, but only if it is one."""
    if not run_dir.exists():
        return
    foreign = [p.name for p in run_dir.iterdir() if p.name.split(".")[0] not in {n.split(".")[0] for n in _RUN_FILES}]
    if foreign:
        raise CharlmError(f"{run_dir} holds files a training run did not write ({', '.join(sorted(foreign)[:3])}); "
                          "move them away or choose another output_dir")
    shutil.rmtree(run_dir)


def _metrics(run_dir: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    train_l, val_l = [], []
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                if rec.get("event") == "train":
                    train_l.append((rec["iteration"], rec["loss"]))
                elif rec.get("event") == "val":
                    val_l.append((rec["iteration"], rec["val_loss"]))
    return train_l, val_l


def _evaluate_splits(model: CharRNN, splits: dict[str, np.ndarray], cfg: dict[str, Any],
                     val: float | None = None) -> tuple[float, float | None, bool]:
    """val and test loss (float32, as every reported loss) with the batch shape of the training config ``cfg``;
    ``val``, when training already measured it for these weights, is not measured again. A text without a
    validation split (helo) is scored on its training split."""
    batch, seq = cfg.get("batch_size", 50), cfg.get("seq_length", 50)
    if len(splits["val"]) >= 2:
        test = evaluate(model, splits["test"], batch, seq) if len(splits["test"]) >= 2 else None
        return val if val is not None else evaluate(model, splits["val"], batch, seq), test, False
    return evaluate(model, splits["train"], batch, min(seq, len(splits["train"]) - 1)), None, True


@dataclass
class Section:
    name: str  # the notebook's file name without .ipynb: the results record's section
    profile: profiles.Profile
    output_dir: Path
    checkpoint: Path | None
    mirror: str | None
    seed: int
    overrides: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return self.output_dir / "runs" / self.name

    def figure_path(self, what: str) -> Path:
        return self.output_dir / "figures" / f"{self.name}_{what}.png"

    def corpus(self) -> Corpus:
        p = self.profile
        corpus = load_corpus(p.datasets, self.mirror, p.max_chars, p.fractions)
        show(describe(corpus))
        return corpus

    def train(self, corpus: Corpus, sample_at: Sequence[int] = (), sample_length: int = 200) -> Trained:
        """Train this section's model on ``corpus`` (or load the checkpoint given to the notebook: a checkpoint
        trained on this text with other split fractions sets ``corpus.fractions`` to its own)."""
        if self.checkpoint is not None:
            return self._load(corpus)
        model_fields = {k: v for k, v in self.overrides.items() if k in ModelConfig.__dataclass_fields__}
        config = self.profile.train_config(self.seed, {k: v for k, v in self.overrides.items() if k not in model_fields})
        _clear_run_dir(self.run_dir)
        result = train(corpus.text, self.run_dir, {**self.profile.model, **model_fields}, config,
                       fractions=corpus.fractions, progress="none", sample_at=sample_at, sample_length=sample_length,
                       callbacks=[LogProgress()], source=corpus.name)
        if result.samples:
            (self.run_dir / "samples.json").write_text(json.dumps(result.samples, ensure_ascii=False), encoding="utf-8")
        st = result.state
        # result.model holds the best checkpoint's weights, whose validation loss is the run's best_val_loss.
        val, test, on_train = _evaluate_splits(result.model, result.splits, config.to_dict(), result.val_loss)
        return Trained(result.model, result.vocab, result.splits, config.to_dict(),
                       [(i + 1, loss) for i, loss in enumerate(st.train_losses)], list(st.val_losses), result.samples,
                       result.wall_seconds, st.iteration, st.stop_reason, val, test, self.run_dir, val_is_train=on_train)

    def _load(self, corpus: Corpus) -> Trained:
        ckpt = load_checkpoint(self.checkpoint)
        data = ckpt.info.get("data", {})
        same_text = data.get("sha256") == text_fingerprint(corpus.text)
        if not same_text:
            show(warning(f"checkpoint {ckpt.path} was trained on another text than this {corpus.name} "
                             f"({len(corpus.text):,} chars): its validation split may overlap what it trained on"))
        fractions = tuple(data["fractions"]) if same_text and data.get("fractions") else corpus.fractions
        if fractions != tuple(corpus.fractions):
            # The baselines and measures beside the LSTM cut the text by corpus.fractions: they must cut it as
            # the checkpoint's run did, or its training text would count as held out.
            corpus.notes.append(f"split {corpus.split_label} replaced by the checkpoint's "
                                f"{'/'.join(f'{100 * f:.3g}' for f in fractions)}")
            corpus.fractions = fractions  # type: ignore[assignment]
            show(warning(corpus.notes[-1]))
        try:
            ids = ckpt.vocab.encode(corpus.text, what=f"the {corpus.name} text")
        except CharlmError as err:
            raise CharlmError(f"checkpoint {ckpt.path} does not fit this data set: {err}") from None
        splits = split_ids(ids, fractions)
        cfg = ckpt.info.get("train_config", {})
        val, test, on_train = _evaluate_splits(ckpt.model, splits, cfg)
        run_dir = ckpt.path.parent
        train_l, val_l = _metrics(run_dir)
        samples_file = run_dir / "samples.json"
        samples = [tuple(s) for s in json.loads(samples_file.read_text(encoding="utf-8"))] if samples_file.is_file() else []
        print(f"loaded {ckpt.path} (iteration {ckpt.info.get('iteration')}): no training in this run")
        return Trained(ckpt.model, ckpt.vocab, splits, cfg, train_l, val_l, samples,  # type: ignore[arg-type]
                       float(ckpt.info.get("elapsed_seconds") or 0.0), int(ckpt.info.get("iteration") or 0),
                       "loaded checkpoint", val, test, run_dir, loaded_from=ckpt.path, val_is_train=on_train)

    def record(self, run: Trained, corpus: Corpus, samples: Sequence[str], extra: dict[str, Any] | None = None,
               notes: str = "") -> Shown:
        """Write the section's results record and show it beside the published figures."""
        cfg = run.train_config
        params = {"profile": self.profile.name, "batch_size": cfg.get("batch_size"), "seq_length": cfg.get("seq_length"),
                  "learning_rate": cfg.get("learning_rate"), "dropout": run.model.config.dropout,
                  "iterations": run.iterations, "stop": run.stop_reason, "seed": cfg.get("seed"),
                  **{k: cfg[k] for k in ("max_iters", "max_epochs", "max_seconds") if cfg.get(k) is not None}}
        all_notes = [n for n in (notes, *corpus.notes) if n]
        if run.loaded_from is not None:
            all_notes.append(f"loaded from checkpoint {run.loaded_from}; train_seconds is that run's")
        if run.val_is_train:
            all_notes.append("no validation split: val_loss is the loss on the training text")
        metrics = {
            "dataset": corpus.name, "model": {**run.model.config.to_dict(), "n_params": run.n_params},
            "params": params, "train_seconds": run.train_seconds, "device": run.device, "val_loss": run.val_loss,
            "test_loss": run.test_loss, "samples": list(samples),
            "extra": {"split": corpus.split_label, "unigram_entropy": corpus.unigram_entropy,
                      "chars": len(corpus.text), "checkpoint": str(run.loaded_from) if run.loaded_from else None,
                      "torch_threads": torch.get_num_threads(),
                      **(extra or {})},
            "partial_data": corpus.partial, "data_subset": corpus.subset, "notes": " ".join(all_notes),
        }
        path = results.record(self.name, metrics, self.output_dir)
        rec = json.loads(path.read_text(encoding="utf-8"))
        rows = [{"measure": "validation loss", "nats/char": rec["val_loss"], "bits/char": rec["val_bits"]},
                {"measure": "test loss", "nats/char": rec["test_loss"], "bits/char": rec["test_bits"]},
                {"measure": "unigram entropy of the text", "nats/char": corpus.unigram_entropy,
                 "bits/char": textstats.bits(corpus.unigram_entropy)}]
        shown = [table(rows, f"{self.name}: {corpus.name}, {run.n_params:,} parameters, {run.train_seconds:.0f} s "
                             f"on {run.device}; recorded in {path}")]
        published = [{"published figure": f"{c['what']} ({c['cite']})", "theirs": f"{c['published']:g} {c['unit']}",
                      "ours": None if c["ours"] is None else f"{c['ours']:.4g} {c['ours_unit']}",
                      "comparable?": c["status"] + (f": {'; '.join(c['reasons'])}" if c["reasons"] else "")}
                     for c in results.published_for(rec)]
        if published:
            shown.append(table(published, "beside the published figures"))
        if corpus.partial:
            shown.insert(0, warning(f"PARTIAL DATA: {corpus.subset}"))
        return stack(shown, rec)


def setup(section: str, profile: str | None = None, output_dir: str = "../outputs", checkpoint: str | None = None,
          checkpoint_dir: str | None = None, mirror: str | None = None, seed: int = 123,
          overrides: dict[str, Any] | None = None) -> Section:
    """Resolve the notebook's parameters: profile (None: paper with CUDA, else cpu), checkpoint, threads.

    ``overrides`` may change TrainConfig or ModelConfig fields, and ``threads`` (torch's CPU threads).
    """
    prof = profiles.get(section, profile)
    overrides = dict(overrides or {})
    threads = overrides.pop("threads", prof.threads)
    if threads:
        torch.set_num_threads(int(threads))
    ckpt = Path(checkpoint).expanduser() if checkpoint else None
    if ckpt is None and checkpoint_dir:
        candidate = Path(checkpoint_dir).expanduser() / section
        if candidate.exists():
            ckpt = candidate
        else:
            show(warning(f"no checkpoint for {section} in {checkpoint_dir}: training instead"))
    sec = Section(section, prof, Path(output_dir).expanduser().resolve(), ckpt, mirror, seed, overrides)
    m, t = prof.model, prof.train
    print(f"{section}: profile {prof.name}; {m['model'].upper()} {m['num_layers']}x{m['rnn_size']} dropout "
          f"{m.get('dropout', 0)}; batch {t['batch_size']} x seq {t['seq_length']}; "
          + (f"loading {ckpt}" if ckpt else f"training into {sec.run_dir}") + f"; seed {seed}")
    return sec


# --------------------------------------------------------------------------- the loss curve, samples


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def loss_figure(run: Trained, corpus: Corpus | None = None, baselines: dict[str, float] | None = None,
                marks: Sequence[int] = (), ax: Any = None) -> Any:
    """Training loss (smoothed) and validation loss against iterations, with reference lines."""
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    if run.train_losses:
        it, loss = (np.array(v) for v in zip(*run.train_losses))
        w = max(1, len(loss) // 50)
        ax.plot(it, loss, color="#9ecae1", lw=0.8, label="train (each step)")
        if w > 1:
            ax.plot(it[w - 1:], _smooth(loss, w), color="#3182bd", lw=1.8, label=f"train (mean of {w})")
    if run.val_losses:
        vi, vl = zip(*run.val_losses)
        ax.plot(vi, vl, "o-", color="#e6550d", lw=1.5, label="validation")
    lines = {**({"unigram entropy": corpus.unigram_entropy} if corpus else {}), **(baselines or {})}
    for (label, value), style in zip(lines.items(), ("--", ":", "-.", (0, (5, 1)))):
        ax.axhline(value, color="gray", ls=style, lw=1, label=f"{label} ({value:.2f})")
    for m in marks:
        ax.axvline(m, color="#31a354", lw=0.8, alpha=0.6)
    if corpus is not None and run.train_losses:
        # The first steps sit far above everything else; keep the interesting range readable.
        top = max([1.3 * corpus.unigram_entropy, *(v for _, v in run.val_losses)])
        ax.set_ylim(top=min(top, max(v for _, v in run.train_losses) * 1.02))
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure




def show_losses(run: Trained, corpus: Corpus | None = None, section: Section | None = None,
                baselines: dict[str, float] | None = None, marks: Sequence[int] = (), title: str = "") -> None:
    fig = loss_figure(run, corpus, baselines, marks)
    fig.axes[0].set_title(title or (f"{section.name}: loss" if section else "loss"))
    show_figure(fig, section.figure_path("loss") if section else None)


def generate(run: Trained, n: int = 1, length: int = 500, temperature: float = 1.0, prime: str = "",
             seed: int | None = 0) -> list[str]:
    """``n`` samples of ``length`` new characters (prime included), drawn together."""
    return sample(run.model, run.vocab, length, temperature, prime, seed=seed, num_samples=n)
