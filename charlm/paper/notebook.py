"""What the section notebooks call, so that their cells hold no logic of their own.

A notebook's life, in these helpers::

    sec = setup("03_shakespeare", profile, output_dir, checkpoint=..., checkpoint_dir=..., mirror=..., seed=...)
    corpus = sec.corpus()                 # the data set (or its slice), loudly flagged when partial
    run = sec.train(corpus)               # a charlm.run.RunResult: trained into <output_dir>/runs/<profile>/<section>/
    show_losses(run, corpus, sec)         # the loss curve, saved beside the results as PNG
    texts = generate(run, n, length)      # samples; measure them with charlm.analysis.textstats
    sec.record(run, corpus, texts, extra) # the section's results record (charlm.paper.results), and a summary

A notebook never deletes a run: rerun with the same settings it loads the finished run it finds (training is
seeded, so that is what training again would give), and with other settings it trains into a new folder beside it.

Displays are objects with both an HTML and a plain-text form (``Shown``, in :mod:`charlm.analysis.display`, whose
``table``, ``side_by_side`` and ``show_samples`` the notebooks call from here): the last expression of a cell
renders as a table in Jupyter, and as readable text in a log. Figures are drawn with matplotlib, shown
once, and saved under ``<output_dir>/figures/``. Measurements and figures that belong to one section only
(the helo diagram, closure counts, name novelty) are in :mod:`charlm.paper.sections`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import torch

from charlm import datasets
from charlm.analysis import display, textstats
from charlm.analysis.display import Shown, loss_figure, show, show_figure, stack, table, warning
from charlm.checkpoint import read_info
from charlm.data import split_ids
from charlm.device import machine_description
from charlm.errors import CharlmError, check_keys
from charlm.model import ModelConfig
from charlm.paper import presets, results
from charlm.run import RunResult, free_run_dir, load_run, text_fingerprint, train
from charlm.sampler import sample
from charlm.trainer import TrainConfig, evaluate

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


def _held_out_losses(run: RunResult) -> tuple[float, float | None, bool]:
    """(val, test, val_is_train): losses with the run's batch shape; a text without a validation split (helo) is
    scored on its training split. A run's best_val_loss is already the validation loss of the weights in hand."""
    cfg, splits = run.train_config, run.splits
    if len(splits["val"]) < 2:
        train_ids = splits["train"]
        return evaluate(run.model, train_ids, cfg.batch_size, min(cfg.seq_length, len(train_ids) - 1)), None, True
    val = run.val_loss if run.val_loss is not None else evaluate(run.model, splits["val"], cfg.batch_size, cfg.seq_length)
    return val, run.test_loss(), False


@dataclass
class Section:
    name: str  # the notebook's file name without .ipynb: its presets, results record and files are named so
    preset: presets.Preset
    output_dir: Path
    checkpoint: Path | None
    mirror: str | None
    seed: int
    overrides: dict[str, Any]

    @property
    def runs_dir(self) -> Path:
        return self.output_dir / "runs" / self.preset.profile

    def figure_path(self, what: str) -> Path:
        return self.output_dir / "figures" / f"{self.name}_{what}.png"

    def corpus(self) -> Corpus:
        p = self.preset
        corpus = load_corpus(p.datasets, self.mirror, p.max_chars, p.fractions)
        show(describe(corpus))
        return corpus

    def train(self, corpus: Corpus, sample_at: Sequence[int] = (), sample_length: int = 200) -> RunResult:
        """Train this section's model on ``corpus``, or load the checkpoint given to the notebook, or the finished
        run of the same settings that an earlier execution left."""
        if self.checkpoint is not None:
            return self._load(corpus, self.checkpoint)
        model_fields = {k: v for k, v in self.overrides.items() if k in ModelConfig.__dataclass_fields__}
        config = self.preset.train_config(self.seed, {k: v for k, v in self.overrides.items() if k not in model_fields})
        model = {**self.preset.model, **model_fields}
        run_dir, finished = free_run_dir(self.runs_dir / self.name, corpus.text, model, config, corpus.fractions,
                                         corpus.name)
        if finished:
            show(warning(f"{self._relative(run_dir)} holds a finished run with these settings: loading it instead of "
                         "training (move it away to train afresh)"))
            return self._load(corpus, run_dir)
        print(f"training into {run_dir.relative_to(self.output_dir)}")
        result = train(corpus.text, run_dir, model, config, fractions=corpus.fractions, progress="lines",
                       sample_at=sample_at, sample_length=sample_length, source=corpus.name)
        if result.samples:
            (run_dir / "samples.json").write_text(json.dumps(result.samples, ensure_ascii=False), encoding="utf-8")
        return result

    def _load(self, corpus: Corpus, path: Path) -> RunResult:
        data = read_info(path, prefer="last").data
        same_text = data is not None and data.sha256 == text_fingerprint(corpus.text)
        if not same_text:
            show(warning(f"checkpoint {path} was trained on another text than this {corpus.name} "
                         f"({len(corpus.text):,} chars): its validation split may overlap what it trained on"))
        fractions = data.fractions if same_text else tuple(corpus.fractions)  # type: ignore[union-attr]
        if fractions != tuple(corpus.fractions):
            # The baselines and measures beside the LSTM cut the text by corpus.fractions: they must cut it as
            # the checkpoint's run did, or its training text would count as held out.
            corpus.notes.append(f"split {corpus.split_label} replaced by the checkpoint's "
                                f"{'/'.join(f'{100 * f:.3g}' for f in fractions)}")
            corpus.fractions = fractions  # type: ignore[assignment]
            show(warning(corpus.notes[-1]))
        run = load_run(path, corpus.text, fractions)
        samples_file = run.out_dir / "samples.json" if run.out_dir else None
        if samples_file is not None and samples_file.is_file():
            run.samples = [tuple(s) for s in json.loads(samples_file.read_text(encoding="utf-8"))]
        print(f"loaded {run.loaded_from} (iteration {run.state.iteration}): no training in this run")
        return run

    def record(self, run: RunResult, corpus: Corpus, samples: Sequence[str], extra: dict[str, Any] | None = None,
               notes: str = "") -> Shown:
        """Write the section's results record and show it beside the published figures."""
        cfg, st = run.train_config, run.state
        val, test, val_is_train = _held_out_losses(run)
        params = {"profile": self.preset.profile, "batch_size": cfg.batch_size, "seq_length": cfg.seq_length,
                  "learning_rate": cfg.learning_rate, "dropout": run.model.config.dropout, "iterations": st.iteration,
                  "stop": st.stop_reason, "seed": cfg.seed,
                  **{k: getattr(cfg, k) for k in ("max_iters", "max_epochs", "max_seconds") if getattr(cfg, k) is not None}}
        all_notes = [n for n in (notes, *corpus.notes) if n]
        if run.loaded_from is not None:
            all_notes.append(f"loaded from checkpoint {self._relative(run.loaded_from)}; train_seconds is that run's")
        if val_is_train:
            all_notes.append("no validation split: val_loss is the loss on the training text")
        rec = results.Record(
            section=self.name, dataset=corpus.name, model={**run.model.config.to_dict(), "n_params": run.n_params},
            params=params, train_seconds=st.elapsed, device=run.device, val_loss=val, test_loss=test,
            samples=list(samples), partial_data=corpus.partial, data_subset=corpus.subset, notes=" ".join(all_notes),
            machine=machine_description(), torch_version=torch.__version__,
            extra={"split": corpus.split_label, "unigram_entropy": corpus.unigram_entropy, "chars": len(corpus.text),
                   "torch_threads": torch.get_num_threads(), **(extra or {})})
        path, written = results.record(rec, self.output_dir), rec.to_json()
        rows = [{"measure": "validation loss", "nats/char": val, "bits/char": textstats.bits(val)},
                {"measure": "test loss", "nats/char": test, "bits/char": None if test is None else textstats.bits(test)},
                {"measure": "unigram entropy of the text", "nats/char": corpus.unigram_entropy,
                 "bits/char": textstats.bits(corpus.unigram_entropy)}]
        shown = [table(rows, f"{self.name}: {corpus.name}, {run.n_params:,} parameters, {st.elapsed:.0f} s "
                             f"on {run.device}; recorded in {self._relative(path)}")]
        published = [{"published figure": f"{c['what']} ({c['cite']})", "theirs": f"{c['published']:g} {c['unit']}",
                      "ours": None if c["ours"] is None else f"{c['ours']:.4g} {c['ours_unit']}",
                      "comparable?": c["status"] + (f": {'; '.join(c['reasons'])}" if c["reasons"] else "")}
                     for c in results.published_for(written)]
        if published:
            shown.append(table(published, "beside the published figures"))
        if corpus.partial:
            shown.insert(0, warning(f"PARTIAL DATA: {corpus.subset}"))
        return stack(shown, written)

    def _relative(self, path: Path) -> str:
        """``path`` as the outputs folder's readers see it: relative to it, never this machine's absolute path."""
        try:
            return str(Path(path).resolve().relative_to(self.output_dir.parent))
        except ValueError:
            return str(path)


def setup(section: str, profile: str | None = None, output_dir: str = "../outputs", checkpoint: str | None = None,
          checkpoint_dir: str | None = None, mirror: str | None = None, seed: int = 123,
          overrides: dict[str, Any] | None = None) -> Section:
    """Resolve the notebook's parameters: profile (None: paper with CUDA, else cpu), checkpoint, threads.

    ``overrides`` may change TrainConfig or ModelConfig fields, and ``threads`` (torch's CPU threads).
    """
    preset = presets.load(section, profile)
    overrides = dict(overrides or {})
    check_keys("override(s)", overrides, {*TrainConfig.__dataclass_fields__, *ModelConfig.__dataclass_fields__,
                                          "threads"} - {"vocab_size"})
    threads = overrides.pop("threads", preset.threads)
    if threads:
        torch.set_num_threads(int(threads))
    ckpt = Path(checkpoint).expanduser() if checkpoint else None
    if ckpt is None and checkpoint_dir:
        candidate = Path(checkpoint_dir).expanduser() / section
        if candidate.exists():
            ckpt = candidate
        else:
            show(warning(f"no checkpoint for {section} in {checkpoint_dir}: training instead"))
    sec = Section(section, preset, Path(output_dir).expanduser().resolve(), ckpt, mirror, seed, overrides)
    m, t = preset.model, preset.train
    print(f"{section}: profile {preset.profile}; {m['model'].upper()} {m['num_layers']}x{m['rnn_size']} dropout "
          f"{m['dropout']}; batch {t['batch_size']} x seq {t['seq_length']}; "
          + (f"loading {ckpt}" if ckpt else f"runs in {sec._relative(sec.runs_dir)}") + f"; seed {seed}")
    return sec


# --------------------------------------------------------------------------- the loss curve, samples


def show_losses(run: RunResult, corpus: Corpus | None = None, section: Section | None = None,
                baselines: dict[str, float] | None = None, marks: Sequence[int] = (), title: str = "") -> None:
    fig = loss_figure(run, references(corpus, baselines), marks)
    fig.axes[0].set_title(title or (f"{section.name}: loss" if section else "loss"))
    show_figure(fig, section.figure_path("loss") if section else None)


def references(corpus: Corpus | None, baselines: dict[str, float] | None = None) -> dict[str, float]:
    """The lines a loss curve is read against: the text's unigram entropy first, then any baselines."""
    return {**({"unigram entropy": corpus.unigram_entropy} if corpus else {}), **(baselines or {})}


def generate(run: RunResult, n: int = 1, length: int = 500, temperature: float = 1.0, prime: str = "",
             seed: int | None = 0) -> list[str]:
    """``n`` samples of ``length`` new characters (prime included), drawn together."""
    return sample(run.model, run.vocab, length, temperature, prime, seed=seed, num_samples=n)
