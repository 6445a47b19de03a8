"""09 neurons: looking inside the War and Peace model, and the post's Wikipedia and Linux cells.

The post's last sections show (a) text coloured by one cell's activation (a cell that switches on inside
quotes, one that counts the position in a line) and (b) under each character the model's top five guesses
for the next one. Here those two views on held-out text, every cell scored against simple properties of the
text (:mod:`charlm.analysis.viz`, fitted on one half and scored on the other, against the search's chance
level), the counting baseline beside the LSTM as the paper set it, and the cells of the models notebooks 04
(Wikipedia: URLs, ``[[ ]]``) and 06 (Linux: comments, bracket depth) trained, where their runs exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from charlm.analysis import viz
from charlm.analysis.display import Shown, Table
from charlm.analysis.viz import CellRanking, NgramComparison, Trace
from charlm.paper import results
from charlm.paper.claims import PAPER, POST, claim
from charlm.paper.notebook import Corpus, Section, load_trained
from charlm.run import RunResult

# --------------------------------------------------------------------------- the two views, the cell search


def trace_held_out(run: RunResult, corpus: Corpus, chars: int) -> Trace:
    """``chars`` characters of the validation split, from a paragraph start, through the model (top-5 guesses)."""
    return viz.trace(run.model, run.vocab, viz.excerpt(corpus.split("val"), chars), top_k=5)


def topk_view(tr: Trace, stop: int) -> viz.Html:
    """The post's view (b): the model's five guesses under each of the first ``stop`` characters."""
    return viz.topk_html(tr, stop=stop)


def search_cells(tr: Trace) -> tuple[dict[str, np.ndarray], CellRanking]:
    """The properties of the traced text, and every unit scored against each on held-out text."""
    labels = viz.property_labels(tr.text)
    return labels, viz.rank_cells(tr, labels)


def best_cells_view(tr: Trace, ranking: CellRanking, labels: Mapping[str, np.ndarray], length: int) -> viz.Html:
    """The post's view (a) for each property's best cell, over ``length`` held-out characters."""
    return viz.best_cells_html(tr, ranking, labels, length)


def heatmap(tr: Trace, ranking: CellRanking, labels: Mapping[str, np.ndarray], length: int, path: Any = None) -> Any:
    """The best-ranked units of the most telling layer over ``length`` held-out characters (saved to ``path``)."""
    return viz.ranked_heatmap(tr, ranking, length, path=path, labels=labels)


def interpretable_sentence(ranking: CellRanking, min_balanced_accuracy: float = 0.8, min_correlation: float = 0.5) -> str:
    """The post's "about 5%" beside the share of cells that pass our bar on held-out text."""
    found = ranking.interpretable(min_balanced_accuracy, min_correlation, kind="cell")
    return (f"{found['count']} of {found['total']} cells ({100 * found['share']:.1f}%) track some property on held-out "
            f"text (balanced accuracy >= {min_balanced_accuracy} or correlation >= {min_correlation}, and above "
            f"chance); the post estimated about 5%. The bar is ours, so the share is comparable only in size.")


def combined_view(tr: Trace, ranking: CellRanking, prop: str = "in_quotes", stop: int | None = None) -> Any:
    """The post's combined picture: the text coloured by the best cell for ``prop`` (or, if that property was
    not scored, the best cell of any), with the model's top-5 guesses under each character."""
    best = ranking.best()
    chosen = best.get(prop) or max(best.values(), key=lambda r: r.lift, default=None)
    if chosen is None:
        return viz.topk_html(tr, stop=stop)
    return viz.topk_html(tr, stop=stop, cell=(chosen.layer, chosen.unit, chosen.kind),
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


# --------------------------------------------------------------------------- the n-gram baseline

PUBLISHED_TITLE = "published (Karpathy, Johnson & Fei-Fei 2015, test split, whole text, 80/10/10)"


def ngram_comparison(run: RunResult, corpus: Corpus, lstm_sample: str, orders: Any, sample_orders: Any,
                     sample_length: int, seed: int = 0) -> NgramComparison:
    """Kneser-Ney n-grams of each order fitted on the training split beside the LSTM on the validation split,
    with the paper's figures on this data set."""
    return viz.ngram_comparison(corpus.split("train"), corpus.split("val"), run.val_loss, orders, dataset=corpus.name,
                                published=results.published_losses(corpus.name), published_title=PUBLISHED_TITLE,
                                lstm_sample=lstm_sample, sample_orders=sample_orders, sample_length=sample_length,
                                seed=seed)


def lstm_vs_ngram(comparison: NgramComparison) -> tuple[str, dict[str, Any]]:
    """The paper's point, said plainly: does the LSTM beat the highest-order n-gram on the same text? A loss is
    reported as a negative result, not raised."""
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


# --------------------------------------------------------------------------- saved, checked, recorded


def save_views(views: Mapping[str, str], sec: Section) -> dict[str, str]:
    """Save each view as a page beside the section's figures (``<figures>/<section>_<name>.html``): {name: path}."""
    return {name: str(viz.save_html(fragment, sec.figure_path(name).with_suffix(".html"), f"{sec.name}: {name}"))
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


def checks(ranking: CellRanking, comparison: NgramComparison, html_files: Mapping[str, str],
           min_margin: float = 0.05) -> Table:
    """What the section should show, checked: each row says whether it held (``ok``); a claim that fails is a
    negative result in the table, not an error. A saved page that does not parse is a bug and raises."""
    rows = []
    for name, path in html_files.items():
        viz.check_html(Path(path))
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


# --------------------------------------------------------------------------- 04's and 06's cells

# The properties each model's cells are searched for, and what the post (Wikipedia) or the paper (Linux) said a
# cell of that model does; a property with no words here is searched and shown, without a claim row.
SEARCHES: dict[str, tuple[str, ...]] = {
    "04_wikipedia": ("in_url", "in_wiki_link", "in_www", "bracket_depth"),
    "06_linux": ("in_comment", "in_quotes", "in_if_condition", "bracket_depth", "brace_depth"),
}
_CLAIMS = {
    ("04_wikipedia", "in_url"): ("seems to get very excited about URLs and turns off outside of the URLs", POST),
    ("04_wikipedia", "in_wiki_link"): ("gets very excited when the RNN is inside the [[ ]] markdown environment and "
                                       "turns off outside of it", POST),
    ("04_wikipedia", "in_www"): ("relatively silent but sharply turns off right after the first \"w\" in the "
                                 "\"www\" sequence", POST),
    ("06_linux", "in_comment"): ("(the paper) a cell that turns on inside comments", PAPER),
    ("06_linux", "in_quotes"): ("(the paper) a cell that turns on inside quotes (strings)", PAPER),
    ("06_linux", "in_if_condition"): ("(the paper) a cell that activates inside if statements", PAPER),
    ("06_linux", "bracket_depth"): ("(the paper) a cell that tracks the depth of nested brackets", PAPER),
}
# A best cell beats chance when its held-out score is this far above the search's chance level.
BEATS_CHANCE = 0.05


@dataclass
class OtherRun:
    section: str
    path: Path
    trace: Trace
    ranking: CellRanking
    labels: dict[str, np.ndarray]


def other_runs(sec: Section, chars: int) -> dict[str, OtherRun]:
    """04's and 06's runs where their notebooks write them in this reproduction (or in its checkpoint_dir), each
    traced on ``chars`` characters of its own validation split and its cells searched."""
    found = {}
    for name in SEARCHES:
        path = sec.sibling(name).latest_run()
        if path is not None:
            found[name] = trace_run(name, path, chars, sec.mirror)
    return found


def trace_run(section: str, path: str | Path, chars: int, mirror: str | None = None) -> OtherRun:
    """Trace ``chars`` held-out characters (of the text the run trained on) through its best weights and search
    its cells for the section's properties."""
    run, corpus = load_trained(path, mirror)
    tr = viz.trace(run.model, run.vocab, viz.excerpt(corpus.split("val"), chars), top_k=5)
    labels = {k: v for k, v in viz.property_labels(tr.text).items() if k in SEARCHES.get(section, ())}
    return OtherRun(section, Path(path), tr, viz.rank_cells(tr, labels), labels)


def search_table(runs: Mapping[str, OtherRun], sec: Section) -> Shown:
    """One row per model and property: its best cell on held-out text against chance, or why it was skipped."""
    if not runs:
        message = (f"no Wikipedia or Linux run in {sec._relative(sec.runs_dir)} or the checkpoint_dir: run notebooks "
                   "04 and 06 first (python -m charlm.reproduce runs them in order), or pass checkpoint_dir")
        return Shown(f"<p>{message}</p>", message, [])
    rows = []
    for name, run in runs.items():
        best = run.ranking.best()
        for prop in SEARCHES.get(name, ()):
            r = best.get(prop)
            rows.append({"model": name, "property": prop, "best cell": r.name if r else None,
                         "held-out score": r.score if r else None, "chance": r.chance if r else None,
                         "beats chance": bool(r and r.lift > BEATS_CHANCE),
                         "note": "" if r else run.ranking.skipped.get(prop, "not scored")})
    return Table(rows, "the post's Wikipedia and Linux cells, searched for on held-out text", align="left")


def other_claim_rows(rows: list[dict[str, Any]], min_balanced_accuracy: float = 0.8,
                     min_correlation: float = 0.5) -> list[dict[str, Any]]:
    """Claims rows for the cells that were scored: held above the interpretability bar and chance, partly when
    only above chance, not otherwise. Properties too rare in the traced text give no row."""
    out = []
    for r in rows:
        said = _CLAIMS.get((r["model"], r["property"]))
        if said is None or r["best cell"] is None:
            continue
        bar = min_correlation if r["property"].endswith("_depth") else min_balanced_accuracy
        verdict = "held" if r["beats chance"] and r["held-out score"] >= bar else ("partly" if r["beats chance"] else "not")
        ours = (f"{r['model']}: {r['best cell']} scores {r['held-out score']:.3f} on held-out text "
                f"(chance {r['chance']:.3f})")
        out.append(claim(f"{r['model'][3:]} model: {said[0]}", ours, verdict, said[1]))
    return out
