"""The results record each notebook writes in its last cell, and the summary table built from them.

A notebook's ``Section.record`` builds one :class:`Record` and :func:`record` writes it to
``<out_dir>/results/<section>.json``; :func:`load_all` reads them back as Records (:meth:`Record.from_json`,
which also reads records written before claims were a typed field). :func:`write_summary` turns every record
into ``<out_dir>/results.md`` (a table, the published figures beside ours, the post's claims with our numbers,
a few lines of sample per section) and ``<out_dir>/results.json``.

Published figures (:data:`PUBLISHED`) carry the setup they were measured in, and a record carries its own (the
text's sha256, how it was split, what it measured), so :func:`compare` computes whether the two are comparable,
with the reasons and the gap, rather than being told.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from charlm import __version__
from charlm.analysis.textstats import bits
from charlm.errors import CharlmError
from charlm.paper.claims import Claim
from charlm.split import Split

RESULTS_SUBDIR = "results"

# Published figures next to which ours are shown. Each carries the setup it was measured in, so that whether ours
# measures the same thing is computed (:func:`compare`), never typed:
#   data     the charlm.datasets names of the texts it may stand beside: the first is their own file, the others
#            another file of the same text (War and Peace from Project Gutenberg beside char-rnn's file)
#   file     their file, in words; sha256: the sha256 of its text as charlm prepares it (None: not known here)
#   split    how they cut it: "contiguous" (train, then validation, then test) or "striped" (char-rnn's loader:
#            batch_size rows, each cut into seq_length chunks, the last chunks of every row held out); None: not given
#   fractions  the split's proportions where the source gives them ("96/4 of the bytes"), compared with the record's
#            extra["split"]; None: not given, or not checked here (the paper's could not be retrieved: issue 16)
#   measure  what the figure is, one of MEASURES: where a record keeps ours
#   context  how much text before each scored character the model saw: "carried" (the state carried along the
#            held-out text, as char-rnn's and our evaluation do) or a window length (a Transformer's block);
#            None where it does not apply (an n-gram, a share of names)
_KJF2015 = "Karpathy, Johnson & Fei-Fei (2015), Visualizing and Understanding Recurrent Networks, arXiv:1506.02078"
WARPEACE_INPUT_SHA256 = "b0fc81c399971eaf738c8be89809e6a0d95c151749112b04f06b6af648d8a39f"  # MANIFEST.tsv's, prepared
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # char-rnn's input.txt
_CHAR_RNN_WP = "char-rnn's warpeace_input.txt"
_LINUX = "the whole Linux 4.0 source tree, concatenated"
PUBLISHED: dict[str, dict[str, Any]] = {
    "graves2013_enwik8": {
        "data": ["wikipedia"], "file": "enwik8 (10^8 bytes of Wikipedia)", "sha256": None,
        "split": "contiguous", "fractions": "96/4 of the bytes", "measure": "test_loss", "context": "carried",
        "value": 1.67, "unit": "bits/char", "cite": "Graves 2013",
        "what": "LSTM, static eval. on the held-out last 4M bytes (the paper's 'validation')",
        "source": "Graves (2013), Generating Sequences With Recurrent Neural Networks, arXiv:1308.0850, Table 2",
    },
    # char-rnn's warpeace_input.txt is the paper's file (charlm.datasets: warpeace_input); the Gutenberg edition
    # (warandpeace) is another text and has no published figure.
    "kjf2015_lstm_warandpeace": {
        "data": ["warpeace_input", "warandpeace"], "file": _CHAR_RNN_WP, "sha256": WARPEACE_INPUT_SHA256,
        "split": "striped", "fractions": None, "measure": "test_loss", "context": "carried",
        "value": 1.077, "unit": "nats/char", "cite": "Karpathy et al. 2015", "source": _KJF2015,
        "what": "the paper's best model, test set",
    },
    "kjf2015_20gram_warandpeace": {
        "data": ["warpeace_input", "warandpeace"], "file": _CHAR_RNN_WP, "sha256": WARPEACE_INPUT_SHA256,
        "split": "striped", "fractions": None, "measure": "ngram20_test_loss", "context": None,
        "value": 1.195, "unit": "nats/char", "cite": "Karpathy et al. 2015", "source": _KJF2015,
        "what": "20-gram baseline, test set",
    },
    "kjf2015_lstm_linux": {
        "data": ["linux"], "file": _LINUX, "sha256": None,
        "split": "striped", "fractions": None, "measure": "test_loss", "context": "carried",
        "value": 0.84, "unit": "nats/char", "cite": "Karpathy et al. 2015", "source": _KJF2015,
        "what": "the paper's best model, test set",
    },
    "kjf2015_20gram_linux": {
        "data": ["linux"], "file": _LINUX, "sha256": None,
        "split": "striped", "fractions": None, "measure": "ngram20_test_loss", "context": None,
        "value": 0.889, "unit": "nats/char", "cite": "Karpathy et al. 2015", "source": _KJF2015,
        "what": "20-gram baseline, test set",
    },
    "nanogpt_shakespeare_char": {
        "data": ["tinyshakespeare"], "file": "char-rnn's tinyshakespeare input.txt", "sha256": TINYSHAKESPEARE_SHA256,
        "split": "contiguous", "fractions": "90/10", "measure": "last_tenth_loss", "context": 256,
        "value": 1.4697, "unit": "nats/char", "cite": "nanoGPT",
        "what": "6-layer char-level GPT baseline, validation loss on the last 10% (a Transformer, for scale)",
        "source": "Karpathy, nanoGPT README, shakespeare_char baseline (github.com/karpathy/nanoGPT)",
    },
    "karpathy2015_names": {
        "data": ["names"], "file": "the CMU AI repository's names list (8000 names)", "sha256": None,
        "split": None, "fractions": None, "measure": "novel_rate", "context": None,
        "value": 0.90, "unit": "fraction", "cite": "Karpathy 2015",
        "what": "share of sampled names not in the training data (the post's '90% don't')",
        "source": "Karpathy (2015), The Unreasonable Effectiveness of Recurrent Neural Networks, "
                  "section 'Generating Baby Names' ('90% don't')",
    },
}

# Each measure in words (a reason names it when it is missing). Where a record keeps ours: test_loss the field,
# novel_rate extra["novel_rate"], the others extra[<measure>]: ngram20_test_loss our 20-gram on the test split
# (the same split as the LSTM's test loss), last_tenth_loss the model's loss on the last 10% of the text when it
# trained on the first 90% (nanoGPT's validation split). _STAND_INS: what stands in for a measure in records made
# before it was measured, and why that is only indicative.
MEASURES: dict[str, str] = {
    "test_loss": "test loss",
    "ngram20_test_loss": "our 20-gram on the test split",
    "last_tenth_loss": "our loss on the last 10%",
    "novel_rate": "share of new names",
}
_STAND_INS = {"test_loss": ("val_loss", "our validation vs their test figure"),
              "ngram20_test_loss": ("ngram20_loss", "our 20-gram on the validation split vs theirs on the test split")}

# How much of a sample the summary shows.
SAMPLE_LINES = 12
SAMPLE_LINE_CHARS = 160


@dataclass
class Record:
    """One section's measured results: built by ``Section.record``, written by :func:`record`."""

    section: str  # the notebook's name, e.g. "03_shakespeare"
    dataset: str  # the charlm.datasets name of the text used
    model: dict[str, Any]  # ModelConfig fields and n_params
    params: dict[str, Any]  # training settings worth showing
    train_seconds: float
    device: str
    val_loss: float  # nats/char
    test_loss: float | None
    samples: list[str]
    precision: str | None = None  # what the model trained in, resolved (fp32, tf32, bf16, fp16), never "auto"
    data_sha256: str | None = None  # of the text trained and measured on (the characters, UTF-8)
    split: Split | None = None  # how that text was cut (kind, fractions; striped: rows and chunk)
    best_iteration: int | None = None  # val_loss and test_loss are of this iteration's weights (model selection)
    claims: list[Claim] = field(default_factory=list)  # the post's claims this section judged
    extra: dict[str, Any] = field(default_factory=dict)  # section-specific measurements
    partial_data: bool = False  # only part of the data set the published figures used
    data_subset: str = ""  # what part
    notes: str = ""
    machine: str = ""  # processor and core count (charlm.device.machine_description)
    torch_version: str = ""
    recorded_at: str = field(  # when the record was made: every copy of it (file, notebook output) says the same
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    notebook_seconds: float | None = None  # the whole notebook's wall time, as charlm.reproduce measured it
    charlm_version: str = __version__  # of the charlm that made the record

    def __post_init__(self) -> None:
        for name in ("val_loss", "test_loss", "train_seconds"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise CharlmError(f"results: {name} of {self.section} is {value}; training diverged or did not run - "
                                  "fix it before recording")

    @property
    def split_method(self) -> str:
        """"contiguous" or "striped": records made before the split was recorded were all cut contiguously."""
        return self.split.kind if self.split is not None else "contiguous"

    @property
    def val_bits(self) -> float:
        return bits(self.val_loss)

    @property
    def test_bits(self) -> float | None:
        return None if self.test_loss is None else bits(self.test_loss)

    def to_json(self) -> dict[str, Any]:
        """The record as written, bits/char beside nats/char."""
        # Shallow: measurements in extra serialise themselves (as_dict) when written.
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "claims": [c.to_json() for c in self.claims], "val_bits": self.val_bits,
                "test_bits": self.test_bits, "split": self.split.to_json() if self.split is not None else None}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "a record") -> Record:
        """The Record :meth:`to_json` wrote. A record written before claims were typed (no "claims" field) has
        them in ``extra``, a measure's "claim" or "claims"; they are read from there (:meth:`Claim.from_legacy`)."""
        if not isinstance(data, dict):
            raise CharlmError(f"results: {where} is not a results record; rerun its notebook or delete the file")
        values = {k: v for k, v in data.items() if k not in ("val_bits", "test_bits")}  # derived, not stored
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        missing = [name for name in _REQUIRED if name not in values]
        if unknown or missing:
            raise CharlmError(f"results: {where} has " + (f"unknown field(s) {unknown}" if unknown else "")
                              + (" and " if unknown and missing else "") + (f"no {missing}" if missing else "")
                              + "; rerun its notebook or delete the file")
        if values.get("split") is not None:
            try:
                values["split"] = Split.from_json(values["split"])
            except CharlmError as err:
                raise CharlmError(f"results: {where}: {err}; rerun its notebook or delete the file") from None
        if "claims" in values:
            values["claims"] = [Claim.from_json(c, f"a claim of {where}") for c in values["claims"]]
        else:
            values["claims"] = [Claim.from_legacy(c) for c in _legacy_claims(values.get("extra") or {})]
        return cls(**values)


_REQUIRED = ("section", "dataset", "model", "params", "train_seconds", "device", "val_loss", "test_loss", "samples")


def _legacy_claims(extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The claim dicts of a record written before claims were typed: ``extra["claims"]`` and each measure's
    ``"claim"`` or ``"claims"``, in that order, each once."""
    found = [dict(c) for c in extra.get("claims") or []]
    for value in extra.values():
        if isinstance(value, dict):
            nested = [value["claim"]] if isinstance(value.get("claim"), dict) else list(value.get("claims") or [])
            found += [dict(c) for c in nested if isinstance(c, dict) and dict(c) not in found]
    return found


def _jsonable(value: Any) -> Any:
    """json.dumps default: numpy/torch scalars, arrays, dataclasses (textstats results), tuples, paths."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and os.replace, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dumps(obj: Any, where: str) -> str:
    try:
        return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=_jsonable) + "\n"
    except ValueError:
        raise CharlmError(f"results: {where} contains NaN or infinity; replace it with None or a finite value") from None
    except TypeError as err:
        raise CharlmError(f"results: {where} holds something that is not JSON ({err}); "
                          "convert it to numbers, strings, lists or dicts") from None


def record(rec: Record, out_dir: str | Path = "outputs") -> Path:
    """Write ``<out_dir>/results/<section>.json`` atomically; return its path."""
    path = Path(out_dir) / RESULTS_SUBDIR / f"{rec.section}.json"
    _atomic_write(path, _dumps(rec.to_json(), f"the record for {rec.section!r}"))
    return path


def read(path: Path) -> Record:
    """The record written at ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CharlmError(f"results: cannot read {path} ({err}); rerun its notebook or delete the file") from None
    return Record.from_json(data, str(path))


def add_fields(path: Path, **values: Any) -> None:
    """Add measurements made outside the notebook (its wall time) to a written record."""
    unknown = sorted(set(values) - {f.name for f in fields(Record)})
    if unknown:
        raise CharlmError(f"results: a record has no field(s) {unknown}")
    _atomic_write(path, _dumps(replace(read(path), **values).to_json(), f"the record {path.name}"))


def load_all(out_dir: str | Path = "outputs") -> list[Record]:
    """Every record under ``<out_dir>/results``, sorted by section."""
    records = [read(path) for path in sorted((Path(out_dir) / RESULTS_SUBDIR).glob("*.json"))]
    return sorted(records, key=lambda r: r.section)


# --------------------------------------------------------------------------- comparison with published figures


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _novel_rate(extra: Mapping[str, Any]) -> float | None:
    value = extra.get("novel_rate")
    if value is None and isinstance(extra.get("novelty"), Mapping):
        value = extra["novelty"].get("rate")
    return None if value is None else float(value)


def _ours(rec: Record, measure: str) -> tuple[float | None, str]:
    """Our figure for ``measure`` (nats/char, or a share), and why it is only a stand-in ("" when it is the
    measure itself): a record made before a measure existed offers the nearest one it has."""
    if measure == "test_loss":
        value = rec.test_loss
    elif measure == "novel_rate":
        value = _novel_rate(rec.extra)
    else:
        value = rec.extra.get(measure)
    if value is None and measure in _STAND_INS:
        name, why = _STAND_INS[measure]
        stand_in = rec.val_loss if name == "val_loss" else rec.extra.get(name)
        if stand_in is not None:
            return float(stand_in), why
    return (None if value is None else float(value)), ""


# The split a measure is made on where the measure fixes it (the last tenth: trained on the first 90%, scored on
# the rest), else the record's own extra["split"].
_SPLIT_OF_MEASURE = {"last_tenth_loss": "90/10"}


def compare(rec: Record, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Our number next to a published one, the gap, and whether they measure the same thing, with the reasons.

    status is "comparable" only when the file (its sha256), the split procedure (and its fractions, where the
    source gives them) and the measure (with the context each character is scored with) all match the published
    setup; "not comparable" when we measured on part of the data or did not measure it at all; otherwise
    "indicative": the same text in another file, another split, a stand-in measure, or a setup we cannot check.
    """
    ours, stand_in = _ours(rec, entry["measure"])
    ours_unit = "fraction" if entry["unit"] == "fraction" else "nats/char"
    if ours is not None and entry["unit"] == "bits/char":
        ours, ours_unit = bits(ours), "bits/char"
    blocking: list[str] = []
    if rec.partial_data:
        blocking.append("partial data" + (f": {rec.data_subset}" if rec.data_subset else ""))
    if ours is None:
        blocking.append(f"{MEASURES[entry['measure']]} not recorded")
    reasons: list[str] = []
    # the file
    if rec.dataset != entry["data"][0]:
        reasons.append(f"another file of the same text (ours {rec.dataset}, theirs {entry['file']})")
    elif entry["sha256"] is None:
        reasons.append(f"their file's sha256 is not known here ({entry['file']})")
    elif not rec.data_sha256:
        reasons.append("our text's sha256 not recorded")
    elif rec.data_sha256 != entry["sha256"]:
        reasons.append(f"our {rec.dataset} text is not theirs (sha256 {rec.data_sha256[:12]}, theirs "
                       f"{entry['sha256'][:12]})")
    # the split
    method = rec.split_method
    label = _SPLIT_OF_MEASURE.get(entry["measure"]) or rec.extra.get("split")
    caveat = ""  # what the rule does not weigh but a reader should see
    if entry["split"] is None:
        reasons.append("their split is not given")
    elif method != entry["split"]:
        reasons.append(f"another split (ours {method}" + (f" {label}" if label else "") + f", theirs {entry['split']})")
    elif entry["fractions"]:
        if label is None or _normalise(str(label)) != _normalise(entry["fractions"]):
            reasons.append(f"other fractions (ours {label or 'not recorded'}, theirs {entry['fractions']})")
    elif label:  # the same procedure, with fractions the source omits
        caveat = f"their fractions are not given; ours {label}"
    # the measure
    if stand_in:
        reasons.append(stand_in)
    if isinstance(entry["context"], int):
        reasons.append(f"their loss averages windows of {entry['context']} characters (each scored after at most "
                       f"{entry['context'] - 1} before it); ours carries the state along the whole text")
    status = "not comparable" if blocking else "indicative" if reasons else "comparable"
    return {"ours": ours, "ours_unit": ours_unit, "published": entry["value"], "unit": entry["unit"],
            "gap": None if ours is None else ours - entry["value"], "measure": entry["measure"],
            "what": entry["what"], "cite": entry["cite"], "source": entry["source"], "status": status,
            "reasons": blocking + reasons, "caveat": "" if blocking else caveat}


def gap_text(c: Mapping[str, Any]) -> str:
    """'ours 1.245, theirs 1.077 nats/char: +0.168' (ours minus theirs), or what we lack."""
    theirs = f"theirs {c['published']:g} {c['unit']}"
    if c["ours"] is None:
        return f"{theirs}; ours not measured"
    return f"ours {c['ours']:.3f}, {theirs}: {c['gap']:+.3f}"


def status_text(c: Mapping[str, Any]) -> str:
    return (c["status"] + (f": {'; '.join(c['reasons'])}" if c["reasons"] else "")
            + (f" ({c['caveat']})" if c.get("caveat") else ""))


def published_losses(dataset: str) -> list[dict[str, Any]]:
    """Karpathy, Johnson & Fei-Fei's test losses on ``dataset`` (their file or another of the same text), as rows
    for the n-gram comparison's table."""
    return [{"model": e["what"], "test loss (nats/char)": e["value"], "bits/char": bits(e["value"]), "source": e["cite"]}
            for key, e in PUBLISHED.items() if key.startswith("kjf2015_") and dataset in e["data"]]


def published_for(rec: Record) -> list[dict[str, Any]]:
    """Comparisons with every published figure that may stand beside this record's text."""
    return [{"key": key, **compare(rec, entry)} for key, entry in PUBLISHED.items() if rec.dataset in entry["data"]]


# --------------------------------------------------------------------------- summary


def _cell(text: str) -> str:
    """A Markdown table cell: one line; pipes and backticks escaped so they can't split the row or open code."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _count(n: int) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return str(n)


def _model_text(model: Mapping[str, Any]) -> str:
    kind = str(model.get("model") or model.get("type") or "?").upper()
    layers, size = model.get("num_layers"), model.get("rnn_size")
    shape = f" {layers}×{size}" if layers is not None and size is not None else ""
    n = model.get("n_params")
    return f"{kind}{shape}" + (f", {_count(n)} params" if isinstance(n, int) else "")


def _params_text(params: Mapping[str, Any], limit: int = 6) -> str:
    items = [f"{k}={v}" for k, v in params.items() if not isinstance(v, (dict, list))]
    return ", ".join(items[:limit]) + (", …" if len(items) > limit else "")


def _loss_text(nats: float | None) -> str:
    return "—" if nats is None else f"{nats:.3f} ({bits(nats):.3f})"


def _dataset_text(rec: Record) -> str:
    if not rec.partial_data:
        return rec.dataset
    return f"**{rec.dataset} ({rec.data_subset or 'partial data'}) ⚠ PARTIAL DATA**"


def _published_text(comparisons: list[dict[str, Any]]) -> str:
    parts = [f"{gap_text(c)} ({c['what']}; {c['cite']}) — {status_text(c)}" for c in comparisons]
    return "<br>".join(_cell(p) for p in parts) if parts else "none published"


def _sample_excerpt(sample: str) -> str:
    """The first lines of a sample, each cut to a readable width, control characters made visible."""
    lines = sample.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    shown = []
    for line in lines[:SAMPLE_LINES]:
        line = "".join(ch if ch == "\t" or ch.isprintable() else "\ufffd" for ch in line)
        shown.append(line if len(line) <= SAMPLE_LINE_CHARS else line[:SAMPLE_LINE_CHARS] + " …")
    if len(lines) > SAMPLE_LINES:
        shown.append(f"… ({len(lines) - SAMPLE_LINES} more lines)")
    return "\n".join(shown)


def _fenced(text: str) -> str:
    """A fenced block that text cannot close: the fence is longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _said(claim: Claim) -> str:
    """The claim as a table cell shows it: the post's words in quotes, or ours marked so, linked to the source.
    Brackets, emphasis marks and ``<`` are escaped too, so that a quote's own ``[`` (the post's "brackets {[") cannot
    end the link text, nor its ``*`` or ``_`` make emphasis."""
    text = re.sub(r"([\[\]*_<])", r"\\\1", _cell(claim.said))
    return f"[“{text}”]({claim.link})" if claim.quoted else f"in our words: [{text}]({claim.link})"


def _rule(claim: Claim) -> str:
    return (claim.rule or "not recorded") + (f" (n = {claim.n:,})" if claim.n is not None else "")


def summary_rows(records: Sequence[Record]) -> list[dict[str, Any]]:
    """One machine-readable row per record, what results.json holds: the record as written and the published
    figures beside it."""
    return [{**rec.to_json(), "published": published_for(rec)} for rec in records]


def render_markdown(records: Sequence[Record], not_done: Mapping[str, str] | None = None) -> str:
    """The summary; ``not_done`` (section -> what happened: failed, interrupted) is said first, and those
    sections have no record, so no earlier run's numbers stand in for them."""
    out = ["# Results", ""]
    if not_done:
        out += ["> **Not done:** " + "; ".join(f"{_cell(name)}: {_cell(what)}" for name, what in sorted(not_done.items()))
                + ". No numbers are shown for these until they run again.", ""]
    if not records:
        out += ["No results recorded yet: run `python -m charlm.reproduce`.", ""]
        return "\n".join(out)
    partial = [r.section for r in records if r.partial_data]
    if partial:
        out += [f"> **Warning: partial data** in {', '.join(partial)}: those losses are not comparable with "
                "published figures.", ""]
    out += ["Losses are cross-entropy in nats/char, bits/char in parentheses.", "",
            "| Section | Data set | Model | Key params | Train time | Device | Val | Test | Published |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        cells = [_cell(r.section), _cell(_dataset_text(r)), _cell(_model_text(r.model)), _cell(_params_text(r.params)),
                 _cell(_duration(r.train_seconds)), _cell(r.device), _loss_text(r.val_loss), _loss_text(r.test_loss),
                 _published_text(published_for(r))]
        out.append("| " + " | ".join(cells) + " |")
    if any(r.claims for r in records):
        out += ["", "## The post's claims, measured", "", "Verdicts hold at each section's profile size only.", "",
                "| Section | The post | Ours | Verdict | Rule |", "|---|---|---|---|---|"]
        for r in records:
            for c in r.claims:
                out.append(f"| {_cell(r.section)} | {_said(c)} | {_cell(c.ours)} | {_cell(c.verdict)} | "
                           f"{_cell(_rule(c))} |")
    out += ["", "## Samples", ""]
    for r in records:
        out += [f"### {r.section} ({r.dataset})", ""]
        if r.notes:
            out += [" ".join(r.notes.split()), ""]
        out += [_fenced(_sample_excerpt(r.samples[0] if r.samples else "")), ""]
    out += ["## The run", "", "Where and how long: training time as the trainer counted it, and the whole "
            "notebook's wall time as `charlm.reproduce` measured it.", "",
            "| Section | Device | Precision | Machine | Torch threads | torch | Training | Notebook (wall) |",
            "|---|---|---|---|---|---|---|---|"]
    for r in records:
        cells = [r.section, r.device, r.precision or "not recorded", r.machine or "?",
                 str(r.extra.get("torch_threads", "?")), r.torch_version or "?", _duration(r.train_seconds),
                 _duration(r.notebook_seconds)]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def write_summary(out_dir: str | Path = "outputs", not_done: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """Write ``<out_dir>/results.md`` and ``<out_dir>/results.json`` from every record, and the sections that
    failed or were interrupted (``not_done``, section -> what happened); return both paths."""
    out = Path(out_dir)
    records = load_all(out)
    md_path, json_path = out / "results.md", out / "results.json"
    _atomic_write(md_path, render_markdown(records, not_done))
    _atomic_write(json_path, _dumps({"sections": summary_rows(records), "not_done": dict(not_done or {}),
                                     "published": PUBLISHED}, "the summary"))
    return md_path, json_path


def profile_runs(outputs: str | Path) -> list[Path]:
    """The folders under ``outputs`` that hold a summarised run (``outputs/cpu``, ``outputs/paper``), sorted."""
    outputs = Path(outputs)
    return sorted(d for d in outputs.iterdir() if (d / "results.json").is_file()) if outputs.is_dir() else []


def terminal_table(records: Sequence[Record]) -> str:
    """A compact plain-text table for the end of a reproduction run."""
    header = ("section", "dataset", "val nats (bits)", "test nats (bits)", "time", "device")
    body = [(r.section, r.dataset + (" [PARTIAL]" if r.partial_data else ""), _loss_text(r.val_loss),
             _loss_text(r.test_loss), _duration(r.train_seconds), r.device) for r in records]
    widths = [max(len(str(row[i])) for row in (header, *body)) for i in range(len(header))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in (header, *body))
