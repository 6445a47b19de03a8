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

A notebook finds another section's run the same way it finds its own: ``sec.sibling("04_wikipedia").latest_run()``
(09 traces 04's and 06's models so), never by building the path again.

Displays are objects with both an HTML and a plain-text form (``Shown``, in :mod:`charlm.analysis.display`; the
notebooks call ``table``, ``show``, ``show_figure``, ``stack``, ``show_samples`` and ``say`` from here): the last
expression of a cell renders as a table in Jupyter, and as readable text in a log. Figures are drawn with
matplotlib, shown once, and saved under ``<output_dir>/figures/``. What belongs to one section only (the helo
diagram, closure counts, name novelty, the cell search on other runs) is in that section's module,
:mod:`charlm.paper.sections`, and what several sections use to set samples beside held-out text is here
(``reference_pieces``, ``closure_table``, ``scale_note``). The temperature slider comes two ways: live,
``temperature_explorer`` (a widget: it needs a kernel), and drawn in advance, ``static_temperature_explorer`` (plain
HTML that works in the book and in a saved notebook).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from charlm import datasets
from charlm.analysis import textstats
from charlm.analysis.display import Shown, esc, loss_figure, rows_of_text, show, show_figure, stack, table, warning
from charlm.checkpoint import find_checkpoint, read_info
from charlm.config import DataInfo
from charlm.data import ContiguousIds
from charlm.split import Split
from charlm.device import machine_description
from charlm.errors import CharlmError, check_int, check_keys
from charlm.model import ModelConfig
from charlm.paper import presets, results
from charlm.paper.claims import Claim
from charlm.run import RunResult, free_run_dir, load_run, text_fingerprint, train
from charlm.sampler import sample
from charlm.trainer import TrainConfig, evaluate

# --------------------------------------------------------------------------- data


# How much of the text before a stretch Corpus.pieces hands over as its context: more than any model here reads
# (an n-gram its order - 1 characters, the LSTM's warm-up one chunk, a trace the run's sequence length).
CONTEXT_CHARS = 2000


@dataclass
class Corpus:
    name: str  # the data set actually used
    text: str  # what the model trains and is evaluated on (the whole set or its first max_chars)
    meta: dict[str, Any]
    split_spec: Split  # how the text is cut: contiguous fractions, or char-rnn's stripes (complete: rows and chunk)
    partial: bool  # not the whole data set the published figures used
    subset: str  # what part, when partial
    notes: list[str] = field(default_factory=list)
    split_note: str = ""  # said wherever the split is shown, e.g. that its fractions are our assumption

    @cached_property
    def unigram_entropy(self) -> float:
        """Loss of the best model that ignores context: a model that learned anything is well below it."""
        return textstats.unigram_entropy(self.text)

    def split(self, name: str) -> str:
        """The characters split ``name`` scores, as charlm.data cuts the ids for training: a contiguous split's
        stretch, or a striped split's stripes joined in text order (fine for counting words or fitting an
        n-gram, which then sees a few junctions that are not in the text; to score a stripe after the text
        before it, use :meth:`pieces`)."""
        return "".join(self.text[p.start : p.end] for p in self.split_spec.pieces(len(self.text))[name])

    def pieces(self, name: str, context_chars: int = CONTEXT_CHARS) -> list[tuple[str, str]]:
        """Split ``name`` as (context, text) pairs: each stretch it scores (a stripe, or the contiguous split) and
        up to ``context_chars`` of the text before it in its row (striped) or in the text (contiguous)."""
        return [(self.text[max(p.context, p.start - context_chars) : p.start], self.text[p.start : p.end])
                for p in self.split_spec.pieces(len(self.text))[name]]

    def stretches(self, name: str) -> list[str]:
        """The texts of split ``name``'s stretches (a striped split's stripes), each on its own."""
        return [self.text[p.start : p.end] for p in self.split_spec.pieces(len(self.text))[name]]

    @property
    def split_label(self) -> str:
        """'90/5/5' or 'striped 100x100, 80/10/10', what results compares with the published splits."""
        label = self.split_spec.label
        return label + (" of the bytes" if self.meta.get("splits", {}).get("by") == "byte" else "")


def _own_fractions(meta: dict[str, Any]) -> tuple[float, float, float]:
    s, n = meta["splits"], meta["chars"]
    return (s["train"][1] / n, (s["val"][1] - s["val"][0]) / n, (s["test"][1] - s["test"][0]) / n)


def load_corpus(names: str | Sequence[str], mirror: str | None = None, max_chars: int | None = None,
                fractions: Sequence[float] | None = None, split: Split | None = None) -> Corpus:
    """The first of ``names`` that can be prepared (mirror honoured), cut to ``max_chars`` if given, and split by
    ``split`` (a complete Split), or contiguously by ``fractions``, or else by the data set's own split."""
    if split is not None and fractions is not None:
        raise CharlmError("give load_corpus a split or its fractions, not both")
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
    sliced = max_chars is not None and len(text) > max_chars
    if sliced:
        subsets.append(f"first {max_chars:,} of {len(text):,} characters")
        text = text[:max_chars]
    if split is not None:
        spec = split
    elif fractions is not None:
        spec = Split("contiguous", tuple(fractions))  # type: ignore[arg-type]
    else:  # the data set's own split: its shares of a slice, its own boundaries of the whole text
        spec = Split("contiguous", tuple(meta["splits"]["fractions"]) if sliced else _own_fractions(meta))
    spec.pieces(len(text))  # a striped split that does not fit the text is refused here, before any training
    return Corpus(name, text, meta, spec, bool(subsets), "; ".join(subsets), notes)


def describe(corpus: Corpus) -> Shown:
    """What was loaded, with the partial-data and fallback warnings up front."""
    parts = [warning(n) for n in corpus.notes]
    if corpus.partial:
        parts.append(warning(f"PARTIAL DATA: {corpus.subset}. Losses are not comparable with published figures."))
    split = corpus.split_label + (f" ({corpus.split_note})" if corpus.split_note else "")
    rows = [{"data set": corpus.name, "characters": f"{len(corpus.text):,}", "vocabulary": len(set(corpus.text)),
             "split": split, "unigram entropy (nats/char)": corpus.unigram_entropy,
             "source": corpus.meta.get("source", "")}]
    return stack([*parts, table(rows, corpus.meta.get("title", corpus.name))], corpus, sep="\n")


# --------------------------------------------------------------------------- training or loading


def last_tenth_loss(run: RunResult, corpus: Corpus) -> float | None:
    """The run's loss on the last 10% of its text as nanoGPT cuts it (``text[int(0.9 * n):]``: its validation split
    of tiny Shakespeare, our validation and test splits together), scored as validation is (the run's batch shape,
    the state carried along each stream). None unless the run trained on the first 90% (contiguous, 0.9), since
    only then is that 10% held out."""
    n, spec = len(corpus.text), corpus.split_spec
    # a data set's own split states its fractions from its cut, to a few parts per million
    if spec.kind != "contiguous" or abs(spec.fractions[0] - 0.9) > 1e-4 or not isinstance(run.splits, ContiguousIds):
        return None
    parts = run.splits.parts
    if abs(len(parts["train"]) - 0.9 * n) > 1:  # the run trained on another cut than the corpus states
        return None
    tail = np.concatenate([parts["train"][int(0.9 * n):], parts["val"], parts["test"]])
    if len(tail) != n - int(0.9 * n):  # the splits do not reach the end of the text
        return None
    cfg = run.train_config
    return evaluate(run.model, tail, cfg.batch_size, cfg.seq_length)


def _held_out_losses(run: RunResult) -> tuple[float, float | None, bool]:
    """(val, test, val_is_train): losses as the run's evaluation scores them (a striped split: each stripe after
    the text before it); a text without a validation split (helo) is scored on its training split. A run's
    best_val_loss is already the validation loss of the weights in hand."""
    cfg, splits = run.train_config, run.splits
    if splits.scored("val") < 1:
        seq_length = min(cfg.seq_length, splits.scored("train"))
        return evaluate(run.model, splits.held_out("train", cfg.batch_size, seq_length)), None, True
    val = run.val_loss if run.val_loss is not None else run.held_out_loss("val")
    return val, run.test_loss(), False  # type: ignore[return-value]


@dataclass
class Section:
    name: str  # the notebook's file name without .ipynb: its presets, results record and files are named so
    preset: presets.Preset
    output_dir: Path
    checkpoint: Path | None  # the run to load instead of training, if the notebook was given one
    mirror: str | None
    seed: int
    overrides: dict[str, Any]
    checkpoint_dir: Path | None = None  # where the notebook looks for <checkpoint_dir>/<section> to load
    chars_limit: int | None = None  # the notebook's max_chars override (None: the preset's)

    @property
    def max_chars(self) -> int | None:
        """How much of each data set this section uses: the notebook's override, else its preset's."""
        return self.chars_limit if self.chars_limit is not None else self.preset.max_chars

    @property
    def runs_dir(self) -> Path:
        """Every section's runs of this profile: one folder per section (and per other settings, .2, .3 ...)."""
        return self.output_dir / "runs" / self.preset.profile

    @property
    def run_dir(self) -> Path:
        """Where this section trains: the first of ``run_dir``, ``run_dir.2`` ... free for its settings."""
        return self.runs_dir / self.name

    def sibling(self, name: str) -> Section:
        """Another section of the same reproduction: the same profile, outputs, data mirror and checkpoint_dir."""
        return Section(name, presets.load(name, self.preset.profile), self.output_dir,
                       _checkpoint_in(self.checkpoint_dir, name), self.mirror, self.seed, {}, self.checkpoint_dir)

    def latest_run(self) -> Path | None:
        """The run this section's notebook loads (its checkpoint) or last wrote (the newest of its run folders that
        holds a checkpoint), or None when it has not run."""
        if self.checkpoint is not None:
            return self.checkpoint
        written = []
        for folder in [self.run_dir, *self.runs_dir.glob(f"{self.name}.*")]:
            try:
                written.append((find_checkpoint(folder, prefer="last").stat().st_mtime, folder))
            except (CharlmError, OSError):
                continue
        return max(written)[1] if written else None

    def figure_path(self, what: str) -> Path:
        return self.output_dir / "figures" / f"{self.name}_{what}.png"

    def corpus(self) -> Corpus:
        p = self.preset
        corpus = load_corpus(p.datasets, self.mirror, self.max_chars, split=p.split_spec(self.overrides))
        corpus.split_note = p.split_note
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
        run_dir, finished = free_run_dir(self.run_dir, corpus.text, model, config, corpus.split_spec, corpus.name)
        if finished:
            show(warning(f"{self._relative(run_dir)} holds a finished run with these settings: loading it instead of "
                         "training (move it away to train afresh)"))
            return self._load(corpus, run_dir)
        print(f"training into {run_dir.relative_to(self.output_dir)}")
        result = train(corpus.text, run_dir, model, config, split=corpus.split_spec, progress="lines",
                       sample_at=sample_at, sample_length=sample_length, source=corpus.name)
        if result.samples:
            (run_dir / "samples.json").write_text(json.dumps(result.samples, ensure_ascii=False), encoding="utf-8")
        return result

    def _load(self, corpus: Corpus, path: Path) -> RunResult:
        data = trained_on(path)
        same_text = data is not None and data.sha256 == text_fingerprint(corpus.text)
        if not same_text:
            show(warning(f"checkpoint {path} was trained on another text than this {corpus.name} "
                         f"({len(corpus.text):,} chars): its validation split may overlap what it trained on"))
        split = data.split if same_text else corpus.split_spec  # type: ignore[union-attr]
        if split != corpus.split_spec:
            # The baselines and measures beside the LSTM cut the text by corpus.split_spec: they must cut it as
            # the checkpoint's run did, or its training text would count as held out.
            corpus.notes.append(f"split {corpus.split_label} replaced by the checkpoint's {split.label}")
            corpus.split_spec = split
            show(warning(corpus.notes[-1]))
        run = load_run(path, corpus.text, split)
        samples_file = run.out_dir / "samples.json" if run.out_dir else None
        if samples_file is not None and samples_file.is_file():
            run.samples = [tuple(s) for s in json.loads(samples_file.read_text(encoding="utf-8"))]
        print(f"loaded {run.loaded_from} (iteration {run.state.iteration}): no training in this run")
        return run

    def record(self, run: RunResult, corpus: Corpus, samples: Sequence[str], extra: dict[str, Any] | None = None,
               claims: Sequence[Claim] = (), notes: str = "") -> Shown:
        """Write the section's results record (its measurements in ``extra``, the post's claims it judged in
        ``claims``) and show it beside the published figures."""
        cfg, st = run.train_config, run.state
        val, test, val_is_train = _held_out_losses(run)
        params = {"profile": self.preset.profile, "batch_size": cfg.batch_size, "seq_length": cfg.seq_length,
                  "learning_rate": cfg.learning_rate, "optimizer": cfg.optimizer, "grad_clip": cfg.grad_clip,
                  "grad_clip_mode": cfg.grad_clip_mode, "init_range": cfg.init_range,
                  "dropout": run.model.config.dropout, "iterations": st.iteration, "stop": st.stop_reason,
                  "seed": cfg.seed,
                  **{k: getattr(cfg, k) for k in ("max_iters", "max_epochs", "max_seconds") if getattr(cfg, k) is not None}}
        all_notes = [n for n in (notes, *corpus.notes) if n]
        if corpus.split_note:
            all_notes.append(f"Split {corpus.split_label}: {corpus.split_note}.")
        if run.loaded_from is not None:
            all_notes.append(f"Loaded from checkpoint {self._relative(run.loaded_from)}; train_seconds is that run's.")
        if val_is_train:
            all_notes.append("No validation split: val_loss is the loss on the training text.")
        elif run.best_iteration is not None:
            all_notes.append(f"Model selection: val_loss and test_loss are of the best-validation weights, those of "
                             f"iteration {run.best_iteration} of {st.iteration}.")
        rec = results.Record(
            section=self.name, dataset=corpus.name, model={**run.model.config.to_dict(), "n_params": run.n_params},
            params=params, train_seconds=st.elapsed, device=run.device, precision=run.precision,
            data_sha256=text_fingerprint(corpus.text), split=corpus.split_spec,
            best_iteration=None if val_is_train else run.best_iteration, val_loss=val, test_loss=test,
            samples=list(samples), claims=list(claims), partial_data=corpus.partial, data_subset=corpus.subset,
            notes=" ".join(all_notes),
            machine=machine_description(), torch_version=torch.__version__,
            extra={"split": corpus.split_label, "unigram_entropy": corpus.unigram_entropy, "chars": len(corpus.text),
                   "torch_threads": torch.get_num_threads(), **(extra or {})})
        path = results.record(rec, self.output_dir)
        rows = [{"measure": "validation loss", "nats/char": val, "bits/char": textstats.bits(val)},
                {"measure": "test loss", "nats/char": test, "bits/char": None if test is None else textstats.bits(test)},
                {"measure": "unigram entropy of the text", "nats/char": corpus.unigram_entropy,
                 "bits/char": textstats.bits(corpus.unigram_entropy)}]
        shown = [table(rows, f"{self.name}: {corpus.name}, {run.n_params:,} parameters, {st.elapsed:.0f} s "
                             f"on {run.device}; recorded in {self._relative(path)}")]
        published = [{"published figure": f"{c['what']} ({c['cite']})", "theirs": f"{c['published']:g} {c['unit']}",
                      "ours": None if c["ours"] is None else f"{c['ours']:.4g} {c['ours_unit']}",
                      "gap (ours - theirs)": None if c["gap"] is None else f"{c['gap']:+.3f}",
                      "comparable?": results.status_text(c)} for c in results.published_for(rec)]
        if published:
            shown.append(table(published, "beside the published figures"))
        if corpus.partial:
            shown.insert(0, warning(f"PARTIAL DATA: {corpus.subset}"))
        return stack(shown, rec.to_json())

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

    ``overrides`` may change TrainConfig or ModelConfig fields, ``threads`` (torch's CPU threads) and
    ``max_chars`` (use only the first N characters of each data set: a quick try, flagged as partial data).
    """
    preset = presets.load(section, profile)
    overrides = dict(overrides or {})
    check_keys("override(s)", overrides, {*TrainConfig.__dataclass_fields__, *ModelConfig.__dataclass_fields__,
                                          "threads", "max_chars"} - {"vocab_size"})
    chars_limit = overrides.pop("max_chars", None)
    if chars_limit is not None:
        chars_limit = check_int("max_chars", chars_limit, 1)
    threads = overrides.pop("threads", preset.threads)
    if threads:
        torch.set_num_threads(int(threads))
    folder = Path(checkpoint_dir).expanduser() if checkpoint_dir else None
    ckpt = Path(checkpoint).expanduser() if checkpoint else _checkpoint_in(folder, section)
    if ckpt is None and folder is not None:
        show(warning(f"no checkpoint for {section} in {checkpoint_dir}: training instead"))
    sec = Section(section, preset, Path(output_dir).expanduser().resolve(), ckpt, mirror, seed, overrides, folder,
                  chars_limit)
    m, t = preset.model, preset.train
    print(f"{section}: profile {preset.profile}; {m['model'].upper()} {m['num_layers']}x{m['rnn_size']} dropout "
          f"{m['dropout']}; batch {t['batch_size']} x seq {t['seq_length']}; "
          + (f"loading {ckpt}" if ckpt else f"runs in {sec._relative(sec.runs_dir)}") + f"; seed {seed}")
    return sec


def _checkpoint_in(checkpoint_dir: Path | None, section: str) -> Path | None:
    """``<checkpoint_dir>/<section>`` where it exists: the run a notebook given ``checkpoint_dir`` loads."""
    candidate = checkpoint_dir / section if checkpoint_dir is not None else None
    return candidate if candidate is not None and candidate.exists() else None


# --------------------------------------------------------------------------- a run's own record of its text


def trained_on(path: str | Path) -> DataInfo | None:
    """What a run's checkpoint says it trained on (data set ``source``, ``chars``, ``sha256``, ``fractions``), or
    None when it does not say. The one place this layer reads a checkpoint's metadata."""
    return read_info(path, prefer="last").data


def load_trained(path: str | Path, mirror: str | None = None) -> tuple[RunResult, Corpus]:
    """A run and the text it trained on, rebuilt from what its checkpoint says: its data set cut to the
    characters it saw, split as it was split."""
    data = trained_on(path)
    if data is None or not data.source or not data.chars:
        raise CharlmError(f"{path}: the checkpoint does not name the data set it trained on; load it with "
                          "charlm.run.load_run and the text instead")
    corpus = load_corpus(data.source, mirror, data.chars, split=data.split)
    if text_fingerprint(corpus.text) != data.sha256:
        raise CharlmError(f"the {data.source} text here differs from the one the checkpoint trained on ({path}); "
                          "prepare the same data set (python data/download.py) or pass the text yourself")
    return load_run(path, corpus.text, corpus.split_spec), corpus


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


def show_samples(samples: Sequence[str], title: str = "samples") -> Shown:
    """The samples one under another, numbered."""
    return rows_of_text([(f"sample {i + 1}", s) for i, s in enumerate(samples)], title)


def say(sentence: str) -> Shown:
    """A computed sentence as a cell's output: a paragraph in Jupyter, the text in a log."""
    return Shown(f"<p><b>What to look for:</b> {esc(sentence)}</p>", sentence, sentence)


def temperature_explorer(run: RunResult, length: int = 300, prime: str = "", seed: int | None = None) -> Any:
    """The live temperature slider (charlm.analysis.widgets) on this run's model."""
    from charlm.analysis.widgets import temperature_explorer as explorer

    return explorer(run.model, run.vocab, length=length, prime=prime, seed=seed)


def static_temperature_explorer(run: RunResult, length: int = 300, prime: str = "", seed: int = 0) -> Any:
    """The temperature slider for readers without a kernel (the book, a saved notebook): this run's samples drawn
    now at about ten temperatures with one seed, in plain HTML whose slider shows one at a time
    (charlm.analysis.widgets.static_temperature_explorer)."""
    from charlm.analysis.widgets import static_temperature_explorer as explorer

    return explorer(run.model, run.vocab, length=length, prime=prime, seed=seed)


# --------------------------------------------------------------------------- samples beside real text
# Every count on samples is made on pieces of held-out text of the same lengths too, because a count only means
# something beside what real text scores under the same rule (a random cut through a LaTeX file leaves
# environments unclosed too).


def reference_pieces(text: str, samples: Sequence[str], start: str = "") -> list[str]:
    """Pieces of real text with the lengths of the samples: the yardstick for every count.

    With ``start`` (the samples' prime) each piece begins where the real text has it, as the samples do;
    without, or where the text has too few, consecutive pieces.
    """
    pieces, pos = [], 0
    for s in samples:
        at = text.find(start, pos) if start else -1
        begin = at if at >= 0 else pos
        piece = text[begin:begin + len(s)]
        if not piece:
            break
        pieces.append(piece)
        pos = begin + len(piece)
    return pieces


def closure_table(rows_of: dict[str, tuple[dict, dict]], title: str) -> Shown:
    """Pooled closure counts (textstats.pool) of the samples beside real text's, one row per construct."""
    rows = []
    for label, (ours, real) in rows_of.items():
        rows.append({"construct": label, "samples: closed right": ours["rate"], "samples: attempts": ours["attempts"],
                     "mismatched": ours["mismatched"], "unclosed": ours["unclosed"], "stray": ours["stray"],
                     "real text: closed right": real["rate"]})
    return table(rows, title)


def scale_note(run: RunResult, corpus: Corpus, post_chars: int, post_batch: int = 100, post_seq: int = 100) -> Shown:
    """How our data set and our iterations compare with the post's: an iteration is batch x seq characters."""
    cfg, chars = run.train_config, len(corpus.text)
    per_iter, post_per_iter = cfg.batch_size * cfg.seq_length, post_batch * post_seq
    text = (f"Our {corpus.name} text is {chars / 1e6:.1f} MB of characters; the post's was about "
            f"{post_chars / 1e6:g} MB. One iteration here is a batch of {cfg.batch_size} sequences of {cfg.seq_length} "
            f"characters ({per_iter:,} characters); the post's was {post_batch} x {post_seq} ({post_per_iter:,}), so "
            f"our iteration 100 has seen {100 * per_iter:,} characters where the post's had seen {100 * post_per_iter:,}.")
    return Shown(f"<p>{esc(text)}</p>", text, {"chars": chars, "post_chars": post_chars, "chars_per_iteration": per_iter,
                                               "post_chars_per_iteration": post_per_iter})
