"""The post's Wikipedia and Linux cells: trace the models notebooks 04 and 06 trained, when their runs exist.

The post found its best-known cells in a Wikipedia model (one on inside URLs, one inside ``[[ ]]``) and the
paper in the Linux model (inside comments, bracket depth). Notebook 09 trains on War and Peace; when the
same reproduction (or a ``checkpoint_dir``) holds the 04 and 06 runs, their cells are searched here too, on
the validation split of the very text each model trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from charlm import datasets
from charlm.analysis.display import Shown, Table
from charlm.analysis.viz.cells import CellRanking, rank_cells
from charlm.analysis.viz.labels import property_labels
from charlm.analysis.viz.tracing import Trace, excerpt, trace
from charlm.checkpoint import load_checkpoint
from charlm.config import RunInfo
from charlm.data import split_ids
from charlm.errors import CharlmError
from charlm.run import text_fingerprint

# The properties each model's cells are searched for: the post's (URL, [[ ]]) and the paper's (comment, depth).
SEARCHES: dict[str, tuple[str, ...]] = {"04_wikipedia": ("in_url", "in_wiki_link", "bracket_depth"),
                                        "06_linux": ("in_comment", "bracket_depth", "brace_depth")}


@dataclass
class OtherRun:
    section: str
    path: Path
    trace: Trace
    ranking: CellRanking
    labels: dict[str, np.ndarray]


def find_runs(output_dir: str | Path, checkpoint_dir: str | Path | None = None,
              sections: tuple[str, ...] = tuple(SEARCHES)) -> dict[str, Path]:
    """{section: run folder} for each section whose run is in ``<output_dir>/runs`` or ``<checkpoint_dir>``."""
    found = {}
    for section in sections:
        for base in (Path(output_dir) / "runs", Path(checkpoint_dir) if checkpoint_dir else None):
            if base is not None and any((base / section / kind).is_dir() for kind in ("best", "last")):
                found[section] = base / section
                break
    return found


def held_out_text(info: RunInfo, mirror: str | None = None) -> str:
    """The validation split of the text a checkpoint trained on (its data set, cut to the characters it saw)."""
    data = info.data
    if data is None or not data.source or not data.chars:
        raise CharlmError("the checkpoint does not name the data set it trained on; trace it with viz.trace instead")
    text = datasets.path(data.source, mirror=mirror, progress=False).read_text(encoding="utf-8")[:data.chars]
    if text_fingerprint(text) != data.sha256:
        raise CharlmError(f"the {data.source} text here differs from the one the checkpoint trained on")
    val = split_ids(range(len(text)), data.fractions)["val"]  # type: ignore[arg-type]
    return text[val.start:val.stop]


def trace_run(section: str, path: str | Path, chars: int, mirror: str | None = None) -> OtherRun:
    """Trace ``chars`` held-out characters through the run's best checkpoint and search its cells."""
    ckpt = load_checkpoint(path)
    text = excerpt(held_out_text(ckpt.info, mirror), chars)
    tr = trace(ckpt.model, ckpt.vocab, text, top_k=5)
    labels = {k: v for k, v in property_labels(tr.text).items() if k in SEARCHES.get(section, ())}
    return OtherRun(section, Path(path), tr, rank_cells(tr, labels), labels)


def search_table(runs: Mapping[str, OtherRun], output_dir: str | Path) -> Shown:
    """One row per model and property: its best cell on held-out text against chance, or why it was skipped."""
    if not runs:
        message = (f"no Wikipedia or Linux run in {Path(output_dir) / 'runs'} or the checkpoint_dir: run notebooks "
                   "04 and 06 first (python -m charlm.reproduce runs them in order), or pass checkpoint_dir")
        return Shown(f"<p>{message}</p>", message, [])
    rows = []
    for name, run in runs.items():
        best = run.ranking.best()
        for prop in SEARCHES.get(name, ()):
            r = best.get(prop)
            rows.append({"model": name, "property": prop, "best cell": r.name if r else None,
                         "held-out score": r.score if r else None, "chance": r.chance if r else None,
                         "beats chance": bool(r and r.lift > 0.05),
                         "note": "" if r else run.ranking.skipped.get(prop, "not scored")})
    return Table(rows, "the post's Wikipedia and Linux cells, searched for on held-out text", align="left")


# What the post (Wikipedia) and the paper (Linux) said each cell does, for the claims rows.
_CLAIMS = {
    ("04_wikipedia", "in_url"): ("seems to get very excited about URLs and turns off outside of the URLs", "post"),
    ("04_wikipedia", "in_wiki_link"): ("gets very excited when the RNN is inside the [[ ]] markdown environment and "
                                       "turns off outside of it", "post"),
    ("06_linux", "in_comment"): ("(the paper) a cell that turns on inside comments", "paper"),
    ("06_linux", "bracket_depth"): ("(the paper) a cell that tracks the depth of nested brackets", "paper"),
}


def claim_rows(rows: list[dict[str, Any]], min_balanced_accuracy: float = 0.8,
               min_correlation: float = 0.5) -> list[dict[str, Any]]:
    """Claims rows for the cells that were scored: held above the interpretability bar and chance, partly when
    only above chance, not otherwise. Properties too rare in the traced text give no row."""
    from charlm.analysis.claims import PAPER, POST, claim

    out = []
    for r in rows:
        said = _CLAIMS.get((r["model"], r["property"]))
        if said is None or r["best cell"] is None:
            continue
        bar = min_correlation if r["property"].endswith("_depth") else min_balanced_accuracy
        verdict = "held" if r["beats chance"] and r["held-out score"] >= bar else ("partly" if r["beats chance"] else "not")
        ours = (f"{r['model']}: {r['best cell']} scores {r['held-out score']:.3f} on held-out text "
                f"(chance {r['chance']:.3f})")
        out.append(claim(f"{r['model'][3:]} model: {said[0]}", ours, verdict, POST if said[1] == "post" else PAPER))
    return out
