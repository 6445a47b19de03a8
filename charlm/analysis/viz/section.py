"""What the neurons notebook (09) does with the views and scores: save them, record them, check its claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from charlm.analysis.display import Table
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


def lstm_vs_ngram(comparison: NgramComparison) -> tuple[str, dict[str, Any]]:
    """The paper's point, said plainly: does the LSTM beat the highest-order n-gram on the same text? A loss is
    reported as a negative result, not raised."""
    from charlm.analysis.claims import PAPER, claim

    grams = [r for r in comparison.rows if r["model"] != "LSTM" and r.get("order")]
    if not grams:
        return "no n-gram was fitted", claim("the LSTM beats a 20-gram", "no n-gram fitted", "not", PAPER)
    top = max(grams, key=lambda r: r["order"])
    best = comparison.best_ngram
    lstm = comparison.lstm_loss
    beats_top, beats_best = lstm < top["val_loss"], lstm < best["val_loss"]
    sentence = (f"At this profile the LSTM {'beats' if beats_top else 'does not beat'} the {top['order']}-gram: "
                f"{lstm:.3f} vs {top['val_loss']:.3f} nats/char on the same validation text "
                f"({'better' if beats_top else 'worse'} by {abs(top['val_loss'] - lstm):.3f}); the best n-gram "
                f"(order {best['order']}, {best['val_loss']:.3f}) is {'behind' if beats_best else 'ahead of'} it. "
                + ("Published on this data set (whole text, test split): "
                   + "; ".join(f"{r['model']}: {r['test loss (nats/char)']:g}" for r in comparison.published) + ". "
                   if comparison.published else "")
                + "Our n-grams are interpolated Kneser-Ney, a stronger baseline than the unsmoothed maximum-likelihood "
                "counts of Goldberg's 2015 reply.")
    verdict = "held" if beats_top and beats_best else ("partly" if beats_top else "not")
    return sentence, claim(f"the LSTM beats the {top['order']}-gram, as in the paper", sentence, verdict, PAPER,
                           lstm=lstm, ngram=top["val_loss"], order=top["order"])


def claims(ranking: CellRanking, comparison: NgramComparison, html_files: Mapping[str, str],
           min_margin: float = 0.05) -> Table:
    """What the section should show, checked: each row says whether it held (``ok``); a claim that fails is a
    negative result in the table, not an error. A saved page that does not parse is a bug and raises."""
    rows = []
    for name, path in html_files.items():
        check_html(Path(path))
        rows.append({"claim": f"{Path(path).name} is well-formed HTML", "value": "parsed", "ok": True})
    high = [r for r in comparison.rows if r["order"] is not None and r["order"] >= 5]
    uni = comparison.unigram_loss
    ok = bool(high) and uni is not None and min(r["val_loss"] for r in high) < uni
    rows.append({"claim": "an n-gram of order 5+ beats the unigram", "ok": ok,
                 "value": f"{min(r['val_loss'] for r in high):.3f} < {uni:.3f}" if high and uni is not None else "n/a"})
    sentence, row = lstm_vs_ngram(comparison)
    rows.append({"claim": "the LSTM beats the highest-order n-gram", "ok": row["verdict"] != "not",
                 "value": f"{row.get('lstm', float('nan')):.3f} vs {row.get('ngram', float('nan')):.3f}"})
    quote = ranking.best().get("in_quotes")
    ok_q = quote is not None and quote.score > 0.5 + min_margin and quote.lift > min_margin
    rows.append({"claim": f"the best quote cell beats chance by {min_margin}", "ok": ok_q,
                 "value": (f"{quote.score:.3f} vs chance {quote.chance:.3f} ({quote.name})" if quote is not None
                           else ranking.skipped.get("in_quotes", "not scored"))})
    failed = [r["claim"] for r in rows if not r["ok"]]
    footer = ("negative results at this size: " + "; ".join(failed)) if failed else "every check held"
    return Table(rows, "checked", footer, align="left")


def claim_rows(checks: Table, comparison: NgramComparison, ranking: CellRanking) -> list[dict[str, Any]]:
    """The section's rows for results.md: the LSTM against the n-gram, and the quote cell against chance."""
    from charlm.analysis.claims import POST, claim

    rows = [lstm_vs_ngram(comparison)[1]]
    quote = next(r for r in checks.rows if r["claim"].startswith("the best quote cell"))
    rows.append(claim("one of its cells gradually tuned itself during training to become a quote detection cell",
                      f"best quote cell on held-out text: {quote['value']}", "held" if quote["ok"] else "not", POST))
    interp = ranking.interpretable(kind="cell")
    share = interp.get("share")
    if share is not None:
        rows.append(claim("about 5% of [cells] turn out to have learned quite interesting and interpretible algorithms",
                          f"{100 * share:.1f}% of cells pass the bar", "held" if 0.025 <= share <= 0.10 else
                          ("partly" if share > 0 else "not"), POST, share=share))
    return rows


def interpretable_sentence(ranking: CellRanking, min_balanced_accuracy: float = 0.8, min_correlation: float = 0.5) -> str:
    """The post's "about 5%" beside the share of cells that pass our bar on held-out text."""
    found = ranking.interpretable(min_balanced_accuracy, min_correlation, kind="cell")
    return (f"{found['count']} of {found['total']} cells ({100 * found['share']:.1f}%) track some property on held-out "
            f"text (balanced accuracy >= {min_balanced_accuracy} or correlation >= {min_correlation}, and above "
            f"chance); the post estimated about 5%. The bar is ours, so the share is comparable only in size.")


def combined_view(tr: Trace, ranking: CellRanking, prop: str = "in_quotes", stop: int | None = None) -> Any:
    """The post's combined picture: the text coloured by the best cell for ``prop`` (or, if that property was
    not scored, the best cell of any), with the model's top-5 guesses under each character."""
    from charlm.analysis.viz.views import topk_html

    best = ranking.best()
    chosen = best.get(prop) or max(best.values(), key=lambda r: r.lift, default=None)
    if chosen is None:
        return topk_html(tr, stop=stop)
    return topk_html(tr, stop=stop, cell=(chosen.layer, chosen.unit, chosen.kind),
                     title=f"text coloured by {chosen.name} (best for {chosen.property}), top-5 guesses below")


def topk_sentence(tr: Trace) -> str:
    """How often the character that came was the model's first guess, or among its top k, and how sure it was."""
    ids = np.array([tr.vocab.index(ch) for ch in tr.text[1:]])  # (T-1,) what came after each position
    guesses = tr.topk_ids[:-1]  # (T-1, k): guesses made after text[:t+1] for text[t+1]
    first = float((guesses[:, 0] == ids).mean())
    in_top = float((guesses == ids[:, None]).any(axis=1).mean())
    confident = float((tr.topk_probs[:-1, 0] > 0.9).mean())
    return (f"Over {len(tr) - 1:,} held-out characters the one that came was the model's first guess "
            f"{100 * first:.0f}% of the time and among its top {guesses.shape[1]} {100 * in_top:.0f}%; it was more than "
            f"90% sure of its first guess at {100 * confident:.0f}% of positions (the post: stretches where "
            "\"the model is extremely confident about the next letter\").")
