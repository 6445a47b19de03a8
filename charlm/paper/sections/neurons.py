"""09 neurons: looking inside the War and Peace model, and the post's Wikipedia and Linux cells.

The post's last sections show (a) text coloured by one cell's activation (a cell that switches on inside
quotes, one that counts the position in a line) and (b) under each character the model's top five guesses
for the next one. Here those two views on held-out text, every cell scored against simple properties of the
text (:mod:`charlm.analysis.viz`, fitted on one half and scored on the other, against the search's chance
level), the counting baseline beside the LSTM as the paper set it, and the cells of the models notebooks 04
(Wikipedia: URLs, ``[[ ]]``) and 06 (Linux: comments, bracket depth) trained, where their runs exist.

The War and Peace model is 08's run (:func:`evolution_run`): the post's evolution and neuron figures come from one
model, so this section trains nothing. Its text is char-rnn's file cut by char-rnn's striped split; every
measure respects the stripes: the held-out text is traced one stripe at a time, each after the text before it
in its row, and the n-grams score each stripe after that same text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from charlm.analysis import viz
from charlm.analysis.display import Shown, Table, show, warning
from charlm.analysis.viz import CellRanking, NgramComparison, Trace
from charlm.checkpoint import read_info
from charlm.errors import CharlmError
from charlm.paper import results
from charlm.paper.claims import PAPER, POST, Claim, Measured, Said, enough, judged, rule
from charlm.paper.notebook import Corpus, Section, describe, load_trained
from charlm.run import RunResult

# --------------------------------------------------------------------------- what the post says, and the rules

_NEURONS = POST + "#visualizing-the-predictions-and-the-neuron-firings-in-the-rnn"
# Our bar for a unit that tracks a property on held-out text (and beats the search's chance level too).
MIN_BALANCED_ACCURACY, MIN_CORRELATION = 0.8, 0.5
# A best cell beats chance when its held-out score is this far above the search's chance level.
BEATS_CHANCE = 0.05

QUOTE_CELL = Said("one of its cells gradually tuned itself during training to become a quote detection cell", _NEURONS)
# The best quote cell's held-out balanced accuracy must beat 0.5 and the search's chance level by this much.
QUOTE_MARGIN = 0.05
MIN_QUOTATIONS = 10  # quotations that open in the held-out half of the trace

LINE_CELL = Said("a cell tracks the position in the line, growing with each character and resetting at the newline "
                 "(the paper's Figure 2)", PAPER, quoted=False)
# The best line-position cell's held-out correlation: held at MIN_CORRELATION, partly at LINE_PARTLY (each above the
# search's chance level by BEATS_CHANCE).
LINE_PARTLY = 0.3
MIN_LINES = 50  # lines that end in the held-out half of the trace

FIVE_PERCENT = Said("about 5% of them turn out to have learned quite interesting and interpretible algorithms",
                    _NEURONS)
# "About 5%": held for a share of cells passing our bar within a factor 2 of 5%, partly within a factor 4.
FIVE_PERCENT_LOW, FIVE_PERCENT_HIGH = 0.025, 0.10
FIVE_PERCENT_PARTLY_LOW, FIVE_PERCENT_PARTLY_HIGH = 0.0125, 0.20
MIN_CELLS = 100  # LSTM cells searched

BEATS_NGRAM = Said("the LSTM reaches a lower loss than a 20-gram model on the same text", PAPER, quoted=False)
MIN_VAL_CHARS = 10_000  # validation characters both models are scored on
NGRAM_RULE = rule("the LSTM's validation loss is below the highest-order n-gram's and the best n-gram's",
                  "below the highest-order one's only", MIN_VAL_CHARS, "validation characters")

# --------------------------------------------------------------------------- the model: 08's run

EVOLUTION = "08_evolution"


def evolution_run(sec: Section) -> tuple[RunResult, Corpus]:
    """The War and Peace model this section looks inside, and the text it trained on, cut as it was: 08's run in
    this reproduction (or in its checkpoint_dir), or the checkpoint given to this notebook. A CharlmError naming
    the command that runs 08 when there is none."""
    path = sec.checkpoint or sec.sibling(EVOLUTION).latest_run()
    if path is None:
        raise CharlmError(f"09 looks inside 08's War and Peace model and there is no run of 08 in "
                          f"{sec.runs_dir}: run notebook 08 first (python -m charlm.reproduce --profile "
                          f"{sec.preset.profile} --only 08 --output {sec.output_dir}), or pass checkpoint_dir")
    run, corpus = load_trained(path, sec.mirror)
    if corpus.split_spec == sec.preset.split_spec():  # the split the preset states its note for
        corpus.split_note = sec.preset.split_note
    info = read_info(path, prefer="last")
    if not info.finished:
        show(warning(f"{sec._relative(path)} stopped before its limit ({info.stop_reason or 'still training'}, "
                     f"iteration {info.iteration}): this is the model as it was then"))
    show(describe(corpus))
    print(f"looking inside {sec._relative(path)}: {run.model.config.model.upper()} {run.model.config.num_layers}x"
          f"{run.model.config.rnn_size}, best validation at iteration {run.best_iteration} of {info.iteration}; "
          f"no training in this notebook")
    return run, corpus


# --------------------------------------------------------------------------- the two views, the cell search


def trace_held_out(run: RunResult, corpus: Corpus, chars: int) -> Trace:
    """About ``chars`` characters of the validation split through the model (top-5 guesses): its stripes in
    text order, each from a paragraph start, after the run's sequence length of the text before it, so no
    traced stretch crosses a stripe boundary (a contiguous split is one stripe)."""
    pieces = viz.excerpts(corpus.pieces("val"), chars, context_chars=run.train_config.seq_length)
    return viz.trace_pieces(run.model, run.vocab, pieces, top_k=5)


def topk_view(tr: Trace, stop: int) -> viz.Html:
    """The post's view (b): the model's five guesses under each of the first ``stop`` characters of the first
    traced stretch."""
    return viz.topk_html(tr, stop=min(stop, tr.pieces()[0][1]))


def search_cells(tr: Trace) -> tuple[dict[str, np.ndarray], CellRanking]:
    """The properties of the traced text (each traced stretch labelled on its own), and every unit scored
    against each on held-out text."""
    labels = viz.property_labels(tr.text, tr.starts)
    return labels, viz.rank_cells(tr, labels)


def best_cells_view(tr: Trace, ranking: CellRanking, labels: Mapping[str, np.ndarray], length: int) -> viz.Html:
    """The post's view (a) for each property's best cell, over ``length`` held-out characters."""
    return viz.best_cells_html(tr, ranking, labels, length)


def heatmap(tr: Trace, ranking: CellRanking, labels: Mapping[str, np.ndarray], length: int, path: Any = None) -> Any:
    """The best-ranked units of the most telling layer over ``length`` held-out characters (saved to ``path``)."""
    return viz.ranked_heatmap(tr, ranking, length, path=path, labels=labels)


def interpretable_sentence(ranking: CellRanking) -> str:
    """The post's "about 5%" beside the share of cells that pass our bar on held-out text."""
    found = ranking.interpretable(MIN_BALANCED_ACCURACY, MIN_CORRELATION, kind="cell")
    return (f"{found['count']} of {found['total']} cells ({100 * found['share']:.1f}%) track some property on held-out "
            f"text (balanced accuracy >= {MIN_BALANCED_ACCURACY} or correlation >= {MIN_CORRELATION}, and above "
            f"chance); the post estimated about 5%. The bar is ours, so the share is comparable only in size.")


def combined_view(tr: Trace, ranking: CellRanking, prop: str = "in_quotes", stop: int | None = None) -> Any:
    """The post's combined picture: the text coloured by the best cell for ``prop`` (or, if that property was
    not scored, the best cell of any), with the model's top-5 guesses under each character."""
    best = ranking.best()
    chosen = best.get(prop) or max(best.values(), key=lambda r: r.lift, default=None)
    if chosen is None:
        return viz.topk_html(tr, stop=stop)
    stop = tr.pieces()[0][1] if stop is None else min(stop, tr.pieces()[0][1])
    return viz.topk_html(tr, stop=stop, cell=(chosen.layer, chosen.unit, chosen.kind),
                     title=f"text coloured by {chosen.name} (best for {chosen.property}), top-5 guesses below")


# "the model is extremely confident about the next letter": more sure of its first guess than this.
EXTREMELY_CONFIDENT = 0.9


def topk_shares(tr: Trace) -> dict[str, Any]:
    """Over the traced positions whose next character was traced too (not a stretch's last): how often the one
    that came was the model's first guess, or among its top k, and how often it was more than
    EXTREMELY_CONFIDENT sure of its first guess."""
    followed = tr.followed()[:-1]  # position t, guessing text[t+1]
    ids = np.array([tr.vocab.index(ch) for ch in tr.text[1:]])[followed]  # what came after each position
    guesses = tr.topk_ids[:-1][followed]  # guesses made after text[:t+1] for text[t+1]
    return {"positions": len(ids), "k": guesses.shape[1], "first": float((guesses[:, 0] == ids).mean()),
            "in_top": float((guesses == ids[:, None]).any(axis=1).mean()),
            "confident": float((tr.topk_probs[:-1][followed, 0] > EXTREMELY_CONFIDENT).mean())}


def topk_sentence(tr: Trace) -> str:
    """:func:`topk_shares` said in a sentence beside the post's words."""
    m = topk_shares(tr)
    return (f"Over {m['positions']:,} held-out characters the one that came was the model's first guess "
            f"{100 * m['first']:.0f}% of the time and among its top {m['k']} {100 * m['in_top']:.0f}%; it was more than "
            f"{100 * EXTREMELY_CONFIDENT:.0f}% sure of its first guess at {100 * m['confident']:.0f}% of positions (the "
            "post: stretches where \"the model is extremely confident about the next letter\").")


# --------------------------------------------------------------------------- the n-gram baseline

PUBLISHED_TITLE = ("published (Karpathy, Johnson & Fei-Fei 2015): test loss on char-rnn's War and Peace file, "
                   "their split")
# The paper's two figures on War and Peace that 09 sets ours beside (charlm.paper.results.PUBLISHED).
PAPER_BEST, PAPER_20GRAM = "kjf2015_lstm_warandpeace", "kjf2015_20gram_warandpeace"


def ngram_comparison(run: RunResult, corpus: Corpus, lstm_sample: str, orders: Any, sample_orders: Any,
                     sample_length: int, seed: int = 0) -> NgramComparison:
    """Kneser-Ney n-grams of each order fitted on the training split (a striped split's training stripes
    joined) beside the LSTM, on the same validation and test splits as the LSTM: each stripe scored after the
    text before it in its row, as the LSTM's evaluation does; with the paper's figures on this data set."""
    return viz.ngram_comparison(corpus.split("train"), corpus.pieces("val"), run.val_loss, orders,
                                test=corpus.pieces("test"), lstm_test_loss=run.test_loss(), dataset=corpus.name,
                                published=results.published_losses(corpus.name), published_title=PUBLISHED_TITLE,
                                lstm_sample=lstm_sample, sample_orders=sample_orders, sample_length=sample_length,
                                seed=seed)


def paper_table(comparison: NgramComparison, corpus: Corpus) -> Table:
    """Our LSTM and our 20-gram, validation and test, beside the paper's best model and its 20-gram (test
    figures), each with its gap: our test loss minus theirs."""
    rows = []
    for ours, (key, what) in (("LSTM", (PAPER_BEST, "the paper's best model")),
                              ("20-gram", (PAPER_20GRAM, "the paper's 20-gram"))):
        if ours == "LSTM":
            val, test = comparison.lstm_loss, comparison.lstm_test_loss
        else:
            val, test = comparison.loss_of_order(20), comparison.loss_of_order(20, "test")
        theirs = results.PUBLISHED[key]["value"]
        rows.append({"ours": f"our {ours}", "val (nats/char)": val, "test (nats/char)": test,
                     "theirs": what, "their test (nats/char)": theirs,
                     "gap (test, ours - theirs)": None if test is None else test - theirs})
    return Table(rows, f"beside the paper's figures: our {corpus.name}, {corpus.split_label}",
                 f"Their split of the file is not known here; ours ({corpus.split_label}) is our assumption. Our LSTM "
                 "and our 20-gram are scored on the same stretches, each after the text before it.", align="left")


def lstm_vs_ngram(comparison: NgramComparison, val_chars: int | None = None) -> tuple[str, Claim]:
    """The paper's point, said plainly: does the LSTM beat the highest-order n-gram on the same text (``val_chars``
    characters of it)? A loss is reported as a negative result, not raised. The claim's number is the n-gram's loss
    minus the LSTM's."""
    grams = [r for r in comparison.rows if r["model"] != "LSTM" and r.get("order")]
    if not grams:
        return "no n-gram was fitted", Claim.of(BEATS_NGRAM, "no n-gram fitted", "not", NGRAM_RULE, None, val_chars)
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
    if val_chars is not None:
        verdict = enough(verdict, val_chars, MIN_VAL_CHARS)
    return sentence, Claim.of(BEATS_NGRAM, sentence, verdict, NGRAM_RULE, top["val_loss"] - lstm, val_chars)


# --------------------------------------------------------------------------- saved, checked, recorded


# What the page shows of each view: a top-k view weighs about 1.3 kB a character in HTML, so the page shows an
# excerpt and links the whole view, saved as a page under figures/ (the preset's topk_chars and view_chars).
PAGE_CHARS = 160  # characters of a top-k or combined view
CELLS_PAGE_CHARS = 300  # characters of each best cell's stretch


def on_page(whole: str, excerpt: Shown, sec: Section, name: str) -> Shown:
    """``excerpt`` on the page, ``whole`` saved as ``<figures>/<section>_<name>.html`` and linked under it."""
    path = Path(save_views({name: whole}, sec)[name])
    href = path.relative_to(sec.output_dir).as_posix()
    link = (f"the whole view, {len(whole) / 1e3:,.0f} kB: {href}")
    return Shown(f"{excerpt.html}<p><small><a href='{html.escape(href)}'>the whole view</a> ({len(whole) / 1e3:,.0f} "
                 f"kB, saved as {html.escape(href)})</small></p>", f"{excerpt.plain}\n{link}", {"file": str(path)})


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
        # results.PUBLISHED sets the paper's 20-gram beside ngram20_test_loss (our test split, as theirs).
        "ngram20_loss": comparison.loss_of_order(20),  # our validation split
        "ngram20_test_loss": comparison.loss_of_order(20, "test"),
        "html": dict(html_files),
        "checks": checks.rows if checks is not None else [],
    }


def checks(ranking: CellRanking, comparison: NgramComparison, html_files: Mapping[str, str]) -> Table:
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
    beats = lstm_vs_ngram(comparison)[1]
    top = max((r for r in comparison.rows if r["model"] != "LSTM" and r.get("order")), key=lambda r: r["order"],
              default=None)
    rows.append({"claim": "the LSTM beats the highest-order n-gram", "ok": beats.verdict != "not",
                 "value": f"{comparison.lstm_loss:.3f} vs {top['val_loss']:.3f}" if top else "no n-gram fitted"})
    quote = ranking.best().get("in_quotes")
    found = _quote_cell_text(quote) if quote is not None else ranking.skipped.get("in_quotes", "not scored")
    rows.append({"claim": f"the best quote cell beats chance by {QUOTE_MARGIN}", "ok": _quote_cell_found(quote),
                 "value": found})
    failed = [r["claim"] for r in rows if not r["ok"]]
    footer = ("negative results at this size: " + "; ".join(failed)) if failed else "every check held"
    return Table(rows, "checked", footer, align="left")


def _quote_cell_found(quote: Any) -> bool:
    return quote is not None and quote.score > 0.5 + QUOTE_MARGIN and quote.lift > QUOTE_MARGIN


def _quote_cell_text(quote: Any) -> str:
    return f"{quote.score:.3f} vs chance {quote.chance:.3f} ({quote.name})"


def held_out_events(y: np.ndarray, split: int) -> int:
    """How often a property ends in the held-out part ``y[split:]``: a span of a binary property (inside quotes,
    a URL) closing, a count (line position, bracket depth) falling back. What a cell's score there rests on."""
    y = np.asarray(y, dtype=np.float64)[max(split - 1, 0):]
    return int((np.diff(y) < 0).sum())


def quote_claim(ranking: CellRanking, quotations: int) -> Claim:
    """Held when the best quote cell's held-out balanced accuracy beats 0.5 and chance by QUOTE_MARGIN."""
    quote = ranking.best().get("in_quotes")
    return Claim.of(
        QUOTE_CELL, "best quote cell on held-out text: " + (_quote_cell_text(quote) if quote else "not scored")
        + f", over {quotations} quotations",
        enough("held" if _quote_cell_found(quote) else "not", quotations, MIN_QUOTATIONS),
        rule(f"the best quote cell's held-out balanced accuracy is above 0.5 and above its chance level by "
             f"{QUOTE_MARGIN:g}", None, MIN_QUOTATIONS, "quotations held out"),
        None if quote is None else quote.score, quotations)


def line_claim(ranking: CellRanking, lines: int) -> Claim:
    """The paper's line-position cell: the best cell's held-out correlation with the position in the line; a
    negative result where none is found."""
    best = ranking.best().get("line_position")
    above = best is not None and best.lift > BEATS_CHANCE
    verdict = ("held" if above and best.score >= MIN_CORRELATION else
               "partly" if above and best.score >= LINE_PARTLY else "not")
    ours = ("no cell scored: " + ranking.skipped.get("line_position", "not searched") if best is None else
            f"the best line-position cell, {best.name}, correlates {best.score:.2f} with the position in the line on "
            f"held-out text (chance {best.chance:.2f}), over {lines} lines"
            + ("" if verdict != "not" else ": no line-length cell at this size"))
    return Claim.of(LINE_CELL, ours, enough(verdict, lines, MIN_LINES),
                    rule(f"the best cell's held-out correlation is at least {MIN_CORRELATION:g} and beats chance by "
                         f"{BEATS_CHANCE:g}", f"at least {LINE_PARTLY:g} and beats chance", MIN_LINES,
                         "lines held out"), None if best is None else best.score, lines)


def five_percent_claim(ranking: CellRanking) -> Claim:
    """The share of cells that pass our bar, against a band around the post's "about 5%"."""
    interp = ranking.interpretable(MIN_BALANCED_ACCURACY, MIN_CORRELATION, kind="cell")
    share, total = interp["share"], interp["total"]
    verdict = ("held" if FIVE_PERCENT_LOW <= share <= FIVE_PERCENT_HIGH else
               "partly" if FIVE_PERCENT_PARTLY_LOW <= share <= FIVE_PERCENT_PARTLY_HIGH else "not")
    return Claim.of(
        FIVE_PERCENT, f"{interp['count']} of {total} cells ({100 * share:.1f}%) pass the bar",
        enough(verdict, total, MIN_CELLS),
        rule(f"the share of cells passing our bar (balanced accuracy >= {MIN_BALANCED_ACCURACY} or correlation >= "
             f"{MIN_CORRELATION}, above chance) is between {100 * FIVE_PERCENT_LOW:g}% and "
             f"{100 * FIVE_PERCENT_HIGH:g}%", f"between {100 * FIVE_PERCENT_PARTLY_LOW:g}% and "
             f"{100 * FIVE_PERCENT_PARTLY_HIGH:g}%", MIN_CELLS, "cells"), share, total)


def verdicts(comparison: NgramComparison, ranking: CellRanking, labels: Mapping[str, np.ndarray],
             val_chars: int) -> Measured:
    """:func:`claims` shown, each verdict with its rule and n."""
    return judged(claims(comparison, ranking, labels, val_chars))


def claims(comparison: NgramComparison, ranking: CellRanking, labels: Mapping[str, np.ndarray],
           val_chars: int) -> list[Claim]:
    """The section's claims on the War and Peace model: the LSTM against the n-gram (on ``val_chars`` validation
    characters), the quote cell and the line-position cell against chance (on the held-out half of the trace
    ``labels`` describe), the share of interpretable cells against "about 5%"."""
    held_out = {prop: held_out_events(y, ranking.split) for prop, y in labels.items()}
    return [lstm_vs_ngram(comparison, val_chars)[1], quote_claim(ranking, held_out.get("in_quotes", 0)),
            line_claim(ranking, held_out.get("line_position", 0)), five_percent_claim(ranking)]


# --------------------------------------------------------------------------- 04's and 06's cells

# The properties each model's cells are searched for, and what the post (Wikipedia) or the paper (Linux) said a
# cell of that model does; a property with no words here is searched and shown, without a claim row.
SEARCHES: dict[str, tuple[str, ...]] = {
    "04_wikipedia": ("in_url", "in_wiki_link", "in_www", "bracket_depth"),
    "06_linux": ("in_comment", "in_quotes", "in_if_condition", "bracket_depth", "brace_depth"),
}
CELLS_SAID = {
    ("04_wikipedia", "in_url"): Said("seems to get very excited about URLs and turns off outside of the URLs", _NEURONS),
    ("04_wikipedia", "in_wiki_link"): Said("gets very excited when the RNN is inside the [[ ]] markdown environment "
                                           "and turns off outside of it", _NEURONS),
    ("04_wikipedia", "in_www"): Said("relatively silent but sharply turns off right after the first \"w\" in the "
                                     "\"www\" sequence", _NEURONS),
    ("06_linux", "in_comment"): Said("a cell of the Linux model turns on inside comments", PAPER, quoted=False),
    ("06_linux", "in_quotes"): Said("a cell of the Linux model turns on inside quotes (strings)", PAPER, quoted=False),
    ("06_linux", "in_if_condition"): Said("a cell of the Linux model activates inside if statements", PAPER,
                                          quoted=False),
    ("06_linux", "bracket_depth"): Said("a cell of the Linux model tracks the depth of nested brackets", PAPER,
                                        quoted=False),
}


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
    tr = trace_held_out(run, corpus, chars)
    labels = {k: v for k, v in viz.property_labels(tr.text, tr.starts).items() if k in SEARCHES.get(section, ())}
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
            events = held_out_events(run.labels[prop], run.ranking.split) if prop in run.labels else 0
            rows.append({"model": name, "property": prop, "characters traced": len(run.trace),
                         "held-out spans": events, "best cell": r.name if r else None,
                         "held-out score": r.score if r else None, "chance": r.chance if r else None,
                         "beats chance": bool(r and r.lift > BEATS_CHANCE),
                         "note": "" if r else run.ranking.skipped.get(prop, "not scored")})
    return Table(rows, "the post's Wikipedia and Linux cells, searched for on held-out text", align="left")


# A cell's score on held-out text rests on how often its property ends there (spans closed, brackets closed).
MIN_SPANS = 10


def other_verdicts(rows: list[dict[str, Any]]) -> Measured:
    """:func:`other_claims` shown, each verdict with its rule and n."""
    return judged(other_claims(rows))


def other_claims(rows: list[dict[str, Any]]) -> list[Claim]:
    """Claims on the cells :func:`search_table` scored: held above our bar and chance, partly when only above
    chance, not otherwise; too few to judge when the property ends fewer than MIN_SPANS times in the held-out half.
    Properties too rare for the search (no best cell) give no claim."""
    out = []
    for r in rows:
        said = CELLS_SAID.get((r["model"], r["property"]))
        if said is None or r["best cell"] is None:
            continue
        depth = r["property"].endswith("_depth")
        bar = MIN_CORRELATION if depth else MIN_BALANCED_ACCURACY
        above = r["beats chance"]
        verdict = "held" if above and r["held-out score"] >= bar else ("partly" if above else "not")
        spans = r.get("held-out spans", 0)
        ours = (f"{r['model']}: {r['best cell']} scores {r['held-out score']:.3f} on held-out text "
                f"(chance {r['chance']:.3f}), over {spans} held-out spans")
        how = rule(f"the best cell's held-out {'correlation' if depth else 'balanced accuracy'} is at least {bar:g} "
                   f"and beats chance by {BEATS_CHANCE:g}", "it only beats chance", MIN_SPANS, "held-out spans")
        out.append(Claim.of(said, ours, enough(verdict, spans, MIN_SPANS), how, r["held-out score"], spans))
    return out
