"""What the neurons notebook (09) does with the views and scores: save them, record them, check its claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from charlm.analysis.display import Table
from charlm.errors import CharlmError
from charlm.analysis.viz.baseline import NgramComparison
from charlm.analysis.viz.cells import CellRanking
from charlm.analysis.viz.tracing import Trace
from charlm.analysis.viz.views import check_html, save_html


def save_views(views: Mapping[str, str], folder: str | Path, prefix: str = "09_neurons") -> dict[str, str]:
    """Save each view as ``<folder>/<prefix>_<name>.html`` and return {name: path}; ``claims`` parses them."""
    return {name: str(save_html(fragment, Path(folder) / f"{prefix}_{name}.html", f"{prefix}: {name}"))
            for name, fragment in views.items()}


def record_extra(tr: Trace, ranking: CellRanking, comparison: NgramComparison, html_files: Mapping[str, str],
                 checks: Table | None = None) -> dict[str, Any]:
    """What the neurons section adds to its results record."""
    return {
        "trace": {"chars": len(tr), "loss": tr.loss, "held_out_from": ranking.split},
        "best_cells": {p: r.as_dict() for p, r in ranking.best().items()},
        "skipped_properties": dict(ranking.skipped),
        "interpretable": {k: {key: v for key, v in ranking.interpretable(kind=k).items() if key != "units"}
                          for k in tr.kinds},
        "ngram": comparison.as_dict(),
        # results.PUBLISHED sets the paper's 20-gram beside this one (our validation split).
        "ngram20_loss": comparison.loss_of_order(20),
        "html": dict(html_files),
        "checks": checks.rows if checks is not None else [],
    }


def claims(ranking: CellRanking, comparison: NgramComparison, html_files: Mapping[str, str],
           min_margin: float = 0.05) -> Table:
    """What the section must show, checked: raises CharlmError naming the first claim that fails."""
    rows = []
    for name, path in html_files.items():
        check_html(Path(path))
        rows.append({"claim": f"{Path(path).name} is well-formed HTML", "value": "parsed", "ok": True})
    high = [r for r in comparison.rows if r["order"] is not None and r["order"] >= 5]
    uni = comparison.unigram_loss
    ok = bool(high) and uni is not None and min(r["val_loss"] for r in high) < uni
    rows.append({"claim": "an n-gram of order 5+ beats the unigram", "ok": ok,
                 "value": f"{min(r['val_loss'] for r in high):.3f} < {uni:.3f}" if high and uni is not None else "n/a"})
    quote = ranking.best().get("in_quotes")
    ok_q = quote is not None and quote.score > 0.5 + min_margin and quote.lift > min_margin
    rows.append({"claim": f"the best quote cell beats chance by {min_margin}", "ok": ok_q,
                 "value": (f"{quote.score:.3f} vs chance {quote.chance:.3f} ({quote.name})" if quote is not None
                           else ranking.skipped.get("in_quotes", "not scored"))})
    failed = [r["claim"] for r in rows if not r["ok"]]
    if failed:
        raise CharlmError(f"the neurons section does not show what it should: {'; '.join(failed)}")
    return Table(rows, "checked", align="left")
