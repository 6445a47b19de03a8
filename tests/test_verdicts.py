"""Every claim function of every section at its boundaries, on hand-made numbers: just below, at and just above each
threshold its rule names, and at its minimum n (one less is "too few to judge"). Verdicts and numbers are asserted,
never sentences; each case derives its inputs from the section's own constants, so a changed threshold moves the
case with it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charlm.analysis.gates import Saturation
from charlm.analysis.viz import CellRanking
from charlm.analysis.viz.cells import CellScore
from charlm.paper import claims
from charlm.paper.claims import TOO_FEW
from charlm.paper.sections import (comparison, evolution, helo, latex, linux, neurons, paul_graham, shakespeare,
                                   wikipedia)

EPS = 1e-4  # "just" above or below a threshold


def test_rule_has_one_shape_and_too_few_is_a_verdict():
    assert claims.rule("a", "b", 10, "marks") == "held when a; partly when b; else not; too few to judge below 10 marks"
    assert claims.rule("a") == "held when a; else not"
    assert TOO_FEW in claims.VERDICTS and len(claims.VERDICTS) == 4
    assert claims.Claim.of(claims.Said("q", claims.POST), "o", TOO_FEW, "r", None, 3).verdict == TOO_FEW
    assert [claims.enough("held", n, 10) for n in (9, 10, None)] == [TOO_FEW, "held", TOO_FEW]


@pytest.mark.parametrize("n, verdict", [(49, TOO_FEW), (50, "held")])
def test_against_published_has_a_minimum(n, verdict):
    said = claims.Said("90% new", claims.POST)
    _, claim = claims.against_published(said, "new", 0.9, 0.9, 0.1, 0.25, n=n, minimum=50)
    assert (claim.verdict, claim.n) == (verdict, n)


# --------------------------------------------------------------------------- 01 helo

CHARS = ["e", "h", "l", "o"]


def _confidences(correct: float, likeliest: bool = True, steps: str = "ello") -> np.ndarray:
    """(T, 4) probabilities: the correct letter gets ``correct``; the rest is shared, or mostly given to one wrong
    letter (so that the correct one is not the likeliest)."""
    rows = []
    for ch in steps:
        row = np.full(4, (1 - correct) / 3)
        if not likeliest:
            wrong = next(i for i, c in enumerate(CHARS) if c != ch)
            row[:] = 0.0
            row[wrong] = 1 - correct
        row[CHARS.index(ch)] = correct
        rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("correct, likeliest, steps, verdict", [
    (helo.CONFIDENT + EPS, True, "ello", "held"),
    (helo.CONFIDENT, True, "ello", "partly"),  # "above" the bar, not at it; still the likeliest letter
    (0.4, False, "ello", "not"),
    (0.9, True, "ell", TOO_FEW)])  # three steps: fewer than the example's four
def test_helo_predicts(correct, likeliest, steps, verdict):
    claim = helo.predicts_claim(_confidences(correct, likeliest, steps), CHARS, steps)
    assert (claim.verdict, claim.value, claim.n) == (verdict, pytest.approx(correct), len(steps))


@pytest.mark.parametrize("difference, steps, verdict", [(helo.SAME_COMPUTATION, 10, "held"),
                                                        (helo.SAME_COMPUTATION * (1 + EPS), 10, "not"),
                                                        (0.0, helo.HELLO_STEPS - 1, TOO_FEW)])
def test_helo_step(difference, steps, verdict):
    claim = helo.step_claim(difference, steps)
    assert (claim.verdict, claim.value, claim.n) == (verdict, difference, steps)


def _update(good_steps: int, steps: int = 4) -> helo.SingleUpdate:
    """An update whose first ``good_steps`` steps raise the correct score and lower the others; the rest lower it."""
    targets = "ello"[:steps]
    before = np.zeros((steps, 4))
    after = np.full((steps, 4), -0.1)
    for t, ch in enumerate(targets):
        after[t, CHARS.index(ch)] = 0.1 if t < good_steps else -0.1
    return helo.SingleUpdate(CHARS, "hell"[:steps], targets, before, after, 0.1, 5.0, 4.0)


@pytest.mark.parametrize("good, steps, verdict", [(4, 4, "held"), (3, 4, "partly"), (2, 4, "not"), (3, 3, TOO_FEW)])
def test_helo_one_update(good, steps, verdict):
    claim = helo.update_claim(_update(good, steps))
    assert (claim.verdict, claim.value, claim.n) == (verdict, good, steps)


# --------------------------------------------------------------------------- 02 Paul Graham


@pytest.mark.parametrize("length, verdict", [(paul_graham.LOOP_MIN_CHARS, "held"),
                                             (paul_graham.LOOP_MIN_CHARS - 1, TOO_FEW)])
def test_loop_claim_minimum(length, verdict):
    claim = paul_graham.loop_claim("loops", (10, "the startup "), length)
    assert (claim.verdict, claim.value, claim.n) == (verdict, 12, length)
    assert paul_graham.loop_claim("no cycle", None, length).verdict == ("not" if verdict == "held" else TOO_FEW)


def _sweep(low_novel, low_distinct, high_novel, high_distinct, real_novel=0.05, real_distinct=0.9,
           words=paul_graham.TEMPERATURE_MIN_WORDS):
    return {"n": 2, "samples": 6, "real": {"novel_word_share": real_novel, "distinct_ngram_share": real_distinct},
            "by_temperature": [
                {"temperature": 0.2, "novel_word_share": low_novel, "distinct_ngram_share": low_distinct, "words": words},
                {"temperature": 1.5, "novel_word_share": high_novel, "distinct_ngram_share": high_distinct,
                 "words": words + 50}]}


@pytest.mark.parametrize("measures, verdict", [
    (_sweep(0.01, 0.5, 0.5, 1.0), "held"),
    (_sweep(0.01, 0.9, 0.5, 1.0), "partly"),  # the lowest repeats no more than real text: only the highest is right
    (_sweep(0.01, 0.5, 0.05, 1.0), "partly"),  # the highest invents no more than real text: only the lowest is right
    (_sweep(0.01, 0.9, 0.05, 1.0), "not"),
    (_sweep(0.01, 0.5, 0.5, 0.4), "partly"),  # both ends right, but distinct n-grams fall between them
    (_sweep(0.01, 0.5, 0.5, 1.0, words=paul_graham.TEMPERATURE_MIN_WORDS - 1), TOO_FEW)])
def test_temperature_claim(measures, verdict):
    claim = paul_graham.temperature_claim(measures)
    low, high = measures["by_temperature"]
    assert (claim.verdict, claim.value, claim.n) == (
        verdict, pytest.approx(high["novel_word_share"] - low["novel_word_share"]), low["words"])


# --------------------------------------------------------------------------- 03 Shakespeare


def _play(share, ks, speeches=shakespeare.MIN_SPEECHES):
    side = {"speeches": speeches, "share": share, "mean_line_length": 40.0}
    return {"samples": side, "real": {**side, "share": 1.0}, "line_length_ks": ks}


@pytest.mark.parametrize("form, verdict", [
    (_play(shakespeare.SHAPE_HELD, shakespeare.LINES_HELD), "held"),
    (_play(shakespeare.SHAPE_HELD - EPS, shakespeare.LINES_HELD), "partly"),
    (_play(shakespeare.SHAPE_HELD, shakespeare.LINES_HELD + EPS), "partly"),
    (_play(shakespeare.SHAPE_PARTLY, shakespeare.LINES_PARTLY), "partly"),
    (_play(shakespeare.SHAPE_PARTLY - EPS, shakespeare.LINES_HELD), "not"),
    (_play(shakespeare.SHAPE_HELD, shakespeare.LINES_PARTLY + EPS), "not"),
    (_play(1.0, 0.0, shakespeare.MIN_SPEECHES - 1), TOO_FEW)])
def test_play_form_claim(form, verdict):
    claim = shakespeare.play_form_claim(form)
    assert (claim.verdict, claim.value, claim.n) == (verdict, form["samples"]["share"], form["samples"]["speeches"])


# --------------------------------------------------------------------------- 04 Wikipedia


def _wiki(paren_rate, parens=wikipedia.MIN_PARENS, formed=6, new=3, urls=None):
    side = {"paren_rate": paren_rate, "parens_paired": parens, "parens_unclosed": 0, "parens_stray": 0, "headings": 0,
            "heading_rate": None, "lists_per_1000": 0.0, "urls": formed if urls is None else urls,
            "urls_well_formed": formed, "urls_not_in_training": new, "url_new_share": new / formed if formed else None,
            "url_examples": [], "malformed_examples": []}
    return {"samples": side, "real": {**side, "paren_rate": 1.0}}


@pytest.mark.parametrize("rate, n, verdict", [(wikipedia.PARENS_HELD, wikipedia.MIN_PARENS, "held"),
                                              (wikipedia.PARENS_HELD - EPS, wikipedia.MIN_PARENS, "partly"),
                                              (wikipedia.PARENS_PARTLY, wikipedia.MIN_PARENS, "partly"),
                                              (wikipedia.PARENS_PARTLY - EPS, wikipedia.MIN_PARENS, "not"),
                                              (1.0, wikipedia.MIN_PARENS - 1, TOO_FEW)])
def test_parentheses_and_xml_claims(rate, n, verdict):
    xml = {"xml": {"samples": {"rate": rate, "attempts": n - wikipedia.MIN_PARENS + wikipedia.MIN_TAGS},
                   "real": {"rate": 1.0}}}
    tags, parens, _ = wikipedia.wiki_form_claims(_wiki(rate, n), xml)
    assert (parens.verdict, parens.value, parens.n) == (verdict, rate, n)
    assert (tags.verdict, tags.value) == (verdict, rate)


@pytest.mark.parametrize("formed, new, verdict", [(6, 3, "held"),  # exactly URL_NEW_HELD of them new
                                                  (6, 2, "partly"), (6, 0, "not"),
                                                  (wikipedia.MIN_URLS - 1, 4, TOO_FEW)])
def test_url_claim_counts_well_formed_urls_only(formed, new, verdict):
    assert wikipedia.URL_NEW_HELD == 0.5 and wikipedia.MIN_URLS <= 6
    form = _wiki(1.0, formed=formed, new=new, urls=formed + 4)  # and 4 malformed ones, never counted
    claim = wikipedia.url_claim(form["samples"], form["real"])
    assert (claim.verdict, claim.value, claim.n) == (verdict, pytest.approx(new / formed), formed)


def test_last_runs_four_malformed_urls_are_too_few_to_judge():
    sample = "see http://wwr and http://wwr.) and [http://www and http://ww.x]"
    form = wikipedia.wiki_form([sample], ["no url here"], "training text")
    assert (form["samples"]["urls"], form["samples"]["urls_well_formed"]) == (4, 0)
    claim = wikipedia.url_claim(form["samples"], form["real"])
    assert (claim.verdict, claim.value, claim.n) == (TOO_FEW, None, 0)


@pytest.mark.parametrize("url, ok", [("http://www.humah.yahoo.com/guardian.cfm", True), ("http://wwr", False),
                                     ("https://en.wikipedia.org", True), ("http://a.b.c:8080/x?y=1", False),
                                     ("http://www.x.org:80/p", True), ("http://www.x.o", False), ("http://-x.com", False),
                                     ("http://x..com", False), ("ftp://x.com", False), ("http://x.com:port", False)])
def test_well_formed_url(url, ok):
    assert wikipedia.well_formed_url(url) is ok


# --------------------------------------------------------------------------- 05 LaTeX


@pytest.mark.parametrize("mismatched, attempts, verdict", [(latex.MISMATCHES_HELD, latex.MIN_ENVIRONMENTS, "held"),
                                                           (latex.MISMATCHES_HELD - 1, latex.MIN_ENVIRONMENTS, "not"),
                                                           (5, latex.MIN_ENVIRONMENTS - 1, TOO_FEW)])
def test_environment_claim(mismatched, attempts, verdict):
    claim = latex.environment_claim({"rate": 0.5, "attempts": attempts, "mismatched": mismatched, "examples": []},
                                    {"rate": 0.9})
    assert (claim.verdict, claim.value, claim.n) == (verdict, mismatched, attempts)


def _blocks(ks):
    found = [k for k in ks if k is not None]
    return {"judged": len(ks), "compiled": ks.count(0), "repairs": list(ks), "max_repairs": 10, "not_within": ks.count(None),
            "k_counts": {str(k): found.count(k) for k in sorted(set(found))}, "errors": {}}


FEW = latex.FEW_REPAIRS


@pytest.mark.parametrize("ks, verdict", [
    ([FEW] * 5 + [None] * 5, "held"),  # half of the blocks within FEW repairs: 0.5 x real text's 1.0
    ([FEW] * 4 + [FEW + 1] + [None] * 5, "partly"),  # FEW + 1 repairs is not "a few"
    ([0] * 2 + [None] * 8, "partly"), ([0] + [None] * 9, "not"),
    ([0] * (latex.MIN_BLOCKS - 1), TOO_FEW)])
def test_latex_claim_reads_the_repairs(ks, verdict):
    real = _blocks([0] * 10)
    claim = latex.latex_claim(_blocks(ks), real)
    within = sum(k is not None and k <= FEW for k in ks) / len(ks)
    assert (claim.verdict, claim.value, claim.n) == (verdict, pytest.approx(within), len(ks))
    assert latex.COMPILES_HELD == 0.5 and latex.COMPILES_PARTLY == 0.2  # the shares above sit on these


def test_last_runs_latex_blocks_are_not_almost_compiling():
    """13 blocks, none compiled as sampled (the committed cpu run, before repairs were counted): with no block
    within FEW repairs the claim is not held."""
    claim = latex.latex_claim(_blocks([None] * 13), _blocks([0] * 13))
    assert (claim.verdict, claim.value, claim.n) == ("not", 0.0, 13)


# --------------------------------------------------------------------------- 06 Linux


def _structure(brackets, indent, attempts=linux.MIN_BRACKETS):
    return ({"bracket_rate": brackets, "indent_consistent": indent, "brackets": {"attempts": attempts}},
            {"bracket_rate": 1.0, "indent_consistent": 1.0})


@pytest.mark.parametrize("args, verdict", [
    ((linux.STRUCTURE_HELD, linux.STRUCTURE_HELD), "held"),
    ((linux.STRUCTURE_HELD - EPS, linux.STRUCTURE_HELD), "partly"),
    ((linux.STRUCTURE_PARTLY, linux.STRUCTURE_PARTLY), "partly"),
    ((linux.STRUCTURE_PARTLY - EPS, linux.STRUCTURE_HELD), "not"),
    ((0.66 / 0.95, 0.81 / 0.99), "not"),  # the last cpu run: 66% vs 95% brackets, 81% vs 99% indented
    ((1.0, 1.0, linux.MIN_BRACKETS - 1), TOO_FEW)])
def test_code_structure_claim(args, verdict):
    claim = linux.code_structure_claim(*_structure(*args))
    assert (claim.verdict, claim.value, claim.n) == (verdict, args[0], args[2] if len(args) > 2 else linux.MIN_BRACKETS)


def _parsed(rate, touched, share=0.5, lines=linux.MIN_LINES, variables=linux.MIN_VARIABLES):
    return {"lines": lines, "errors": round(rate * lines / 100), "errors_per_100_lines": rate, "error_line_share": touched,
            "variables_used": variables, "undeclared": round(share * variables), "undeclared_share": share,
            "undeclared_examples": ["rw"]}


REAL_RATE, REAL_TOUCHED = 4.0, 0.08  # real code: 4 errors per 100 lines, touching 8% of them


def _rate_at(ratio):
    """The sampled error rate whose ratio to REAL_RATE (slack on both sides) is ``ratio``."""
    return ratio * (REAL_RATE + linux.RATE_SLACK) - linux.RATE_SLACK


@pytest.mark.parametrize("rate, touched, lines, verdict", [
    (_rate_at(linux.SYNTAX_HELD), REAL_TOUCHED, linux.MIN_LINES, "held"),
    (_rate_at(linux.SYNTAX_HELD + EPS), REAL_TOUCHED, linux.MIN_LINES, "partly"),
    (_rate_at(linux.SYNTAX_PARTLY), REAL_TOUCHED, linux.MIN_LINES, "partly"),
    (_rate_at(linux.SYNTAX_PARTLY + EPS), REAL_TOUCHED, linux.MIN_LINES, "not"),
    (REAL_RATE, 0.5, linux.MIN_LINES, "not"),  # few errors, but they touch half the lines: the worse ratio counts
    (REAL_RATE, REAL_TOUCHED, linux.MIN_LINES - 1, TOO_FEW)])
def test_syntax_claim_judges_the_worse_ratio(rate, touched, lines, verdict):
    syntax, _ = linux.c_claims({"samples": _parsed(rate, touched, lines=lines),
                                "real": _parsed(REAL_RATE, REAL_TOUCHED)})
    worse = max((rate + linux.RATE_SLACK) / (REAL_RATE + linux.RATE_SLACK),
                (touched + linux.SLACK) / (REAL_TOUCHED + linux.SLACK))
    assert (syntax.verdict, syntax.value, syntax.n) == (verdict, pytest.approx(worse), lines)


def test_last_runs_syntax_errors_are_not_very_few():
    """The committed cpu run: 32.1 errors per 100 sampled lines touching 61% of them, real code 3.9 touching 39%."""
    syntax, _ = linux.c_claims({"samples": _parsed(32.1, 0.61, lines=421), "real": _parsed(3.9, 0.39)})
    assert syntax.verdict == "not" and syntax.value == pytest.approx((32.1 + 1) / (3.9 + 1))


@pytest.mark.parametrize("share, variables, verdict", [(0.375, linux.MIN_VARIABLES, "held"),  # 1.5 x real's 0.25
                                                       (0.375 - EPS, linux.MIN_VARIABLES, "partly"),
                                                       (0.25, linux.MIN_VARIABLES, "not"),  # no more than real code's
                                                       (0.0, linux.MIN_VARIABLES, "not"),
                                                       (0.9, linux.MIN_VARIABLES - 1, TOO_FEW)])
def test_undeclared_claim(share, variables, verdict):
    assert linux.UNDECLARED_HELD == 1.5
    _, undeclared = linux.c_claims({"samples": _parsed(REAL_RATE, REAL_TOUCHED, share, variables=variables),
                                    "real": _parsed(REAL_RATE, REAL_TOUCHED, 0.25)})
    assert (undeclared.verdict, undeclared.value, undeclared.n) == (verdict, share, variables)


# --------------------------------------------------------------------------- 08 evolution

REAL = {"iteration": None, "chars_seen": None, "chars": 20_000, "space_share": 0.5, "double_spaces": 0.0,
        "quote_rate": 6.0, "period_rate": 10.0, "quote_marks": 120, "quote_balance": 1.0, "dictionary_share": 1.0,
        "short_words": 1000, "short_dictionary_share": 1.0, "long_words": 800, "long_dictionary_share": 1.0,
        "spelled_word_length": 4.5}


def _row(iteration, **values):
    base = {**REAL, "iteration": iteration, "chars_seen": iteration * 100, "chars": evolution.MIN_CHARS,
            "quote_marks": evolution.MIN_QUOTE_MARKS, "short_words": evolution.MIN_WORDS,
            "long_words": evolution.MIN_WORDS}
    return {**base, **values}


W = evolution.WITHIN  # 0.2 of real text's 0.5: 0.1; twice that: 0.2


@pytest.mark.parametrize("value, chars, verdict", [(0.5 + W * 0.5, evolution.MIN_CHARS, "held"),
                                                   (0.5 + W * 0.5 + EPS, evolution.MIN_CHARS, "partly"),
                                                   (0.5 - 2 * W * 0.5, evolution.MIN_CHARS, "partly"),
                                                   (0.5 - 2 * W * 0.5 - EPS, evolution.MIN_CHARS, "not"),
                                                   (0.5, evolution.MIN_CHARS - 1, TOO_FEW)])
def test_spaces_claim(value, chars, verdict):
    claim = evolution.spaces_claim([_row(evolution.SPACES_AT, space_share=value, chars=chars), REAL])
    assert (claim.verdict, claim.value, claim.n) == (verdict, value, chars)


def test_a_stage_without_its_sample_is_too_few_to_judge():
    claim = evolution.spaces_claim([_row(evolution.SPACES_AT + 1), REAL])
    assert (claim.verdict, claim.value, claim.n) == (TOO_FEW, None, 0)


@pytest.mark.parametrize("quotes, periods, chars, verdict", [(3.0, 5.0, evolution.MIN_CHARS, "held"),  # 0.5 x each
                                                             (3.0 - EPS, 5.0, evolution.MIN_CHARS, "partly"),
                                                             (3.0 - EPS, 5.0 - EPS, evolution.MIN_CHARS, "not"),
                                                             (6.0, 10.0, evolution.MIN_CHARS - 1, TOO_FEW)])
def test_quotes_and_periods_claim(quotes, periods, chars, verdict):
    assert evolution.STARTED == 0.5
    rows = [_row(evolution.QUOTES_AT, quote_rate=quotes, period_rate=periods, chars=chars), REAL]
    claim = evolution.quotes_claim(rows)
    assert (claim.verdict, claim.value, claim.n) == (verdict, quotes, chars)


@pytest.mark.parametrize("share, count, verdict", [(1 - W, evolution.MIN_WORDS, "held"),
                                                   (1 - W - EPS, evolution.MIN_WORDS, "partly"),
                                                   (1 - 2 * W, evolution.MIN_WORDS, "partly"),
                                                   (1 - 2 * W - EPS, evolution.MIN_WORDS, "not"),
                                                   (1.0, evolution.MIN_WORDS - 1, TOO_FEW)])
@pytest.mark.parametrize("which", ["short", "long"])
def test_short_and_long_words_claims(share, count, verdict, which):
    iteration, said = ((evolution.SHORT_AT, evolution.SHORT_WORDS) if which == "short" else
                       (evolution.LONG_AT, evolution.LONG_WORDS))
    rows = [_row(iteration, **{f"{which}_dictionary_share": share, f"{which}_words": count}), REAL]
    claim = [c for c in evolution.claims(rows) if c.said == said.text][0]
    assert (claim.verdict, claim.value, claim.n) == (verdict, share, count)


@pytest.mark.parametrize("spelled, paired, marks, verdict", [(1 - W, 1 - W, evolution.MIN_QUOTE_MARKS, "held"),
                                                             (1 - W - EPS, 1 - W, evolution.MIN_QUOTE_MARKS, "partly"),
                                                             (0.5, 0.5, evolution.MIN_QUOTE_MARKS, "not"),
                                                             (1.0, 1.0, evolution.MIN_QUOTE_MARKS - 1, TOO_FEW)])
def test_spelled_claim(spelled, paired, marks, verdict):
    rows = [_row(evolution.SPELLED_AT, dictionary_share=spelled, quote_balance=paired, quote_marks=marks), REAL]
    claim = evolution.spelled_claim(rows)
    assert (claim.verdict, claim.value, claim.n) == (verdict, spelled, marks)


def _far(iteration):
    """A sample in which nothing has arrived yet."""
    return _row(iteration, space_share=0.1, short_dictionary_share=0.1, long_dictionary_share=0.1, quote_balance=0.0)


@pytest.mark.parametrize("rows, verdict, arrived", [
    ([_row(100, short_dictionary_share=0.1, long_dictionary_share=0.1), _row(500, long_dictionary_share=0.1),
      _row(1200)], "held", 3),
    ([_row(100, short_dictionary_share=0.1, long_dictionary_share=0.1), _row(500, long_dictionary_share=0.1),
      _row(1200, long_dictionary_share=0.1)], "partly", 2),  # long words never arrive
    ([_row(100, space_share=0.1, long_dictionary_share=0.1), _row(500, long_dictionary_share=0.1), _row(1200)],
     "not", 3),  # short words spelled before spaces came
    ([_row(100, short_dictionary_share=0.1, long_dictionary_share=0.1), _far(500), _far(1200)], "not", 1),  # spaces only
    ([_row(100), _row(500)], TOO_FEW, 3)])
def test_story_claim_reads_the_order(rows, verdict, arrived):
    claim = evolution.story([*rows, REAL])[1]
    assert (claim.verdict, claim.value, claim.n) == (verdict, arrived, len(rows))


# --------------------------------------------------------------------------- 09 neurons


def _score(prop, score, chance, metric="balanced_accuracy", unit=0, kind="cell"):
    return CellScore(prop, 0, kind, unit, metric, score, score, chance, 1, 0.0)


def _ranking(*scores, split=100):
    return CellRanking(list(scores), {}, len(scores), split)


@pytest.mark.parametrize("score, chance, quotations, verdict", [
    (0.5 + neurons.QUOTE_MARGIN + EPS, 0.5, neurons.MIN_QUOTATIONS, "held"),
    (0.5 + neurons.QUOTE_MARGIN, 0.5, neurons.MIN_QUOTATIONS, "not"),  # "above" by the margin, not at it
    (0.9, 0.9 - neurons.QUOTE_MARGIN + EPS, neurons.MIN_QUOTATIONS, "not"),  # hardly better than chance finds
    (0.9, 0.5, neurons.MIN_QUOTATIONS - 1, TOO_FEW)])
def test_quote_claim(score, chance, quotations, verdict):
    claim = neurons.quote_claim(_ranking(_score("in_quotes", score, chance)), quotations)
    assert (claim.verdict, claim.value, claim.n) == (verdict, score, quotations)


@pytest.mark.parametrize("score, chance, lines, verdict", [
    (neurons.MIN_CORRELATION, 0.0, neurons.MIN_LINES, "held"),
    (neurons.MIN_CORRELATION - EPS, 0.0, neurons.MIN_LINES, "partly"),
    (neurons.LINE_PARTLY, 0.0, neurons.MIN_LINES, "partly"),
    (neurons.LINE_PARTLY - EPS, 0.0, neurons.MIN_LINES, "not"),
    (0.18, 0.0, neurons.MIN_LINES, "not"),  # the last cpu run's best line-position cell: a negative result
    (0.9, 0.9 - neurons.BEATS_CHANCE + EPS, neurons.MIN_LINES, "not"),  # not above chance by the margin
    (0.9, 0.0, neurons.MIN_LINES - 1, TOO_FEW)])
def test_line_position_claim(score, chance, lines, verdict):
    ranking = _ranking(_score("line_position", score, chance, "correlation"))
    claim = neurons.line_claim(ranking, lines)
    assert (claim.verdict, claim.value, claim.n) == (verdict, score, lines)
    assert neurons.line_claim(_ranking(), lines).value is None  # not scored: no number, never held


def _cells(passing, total):
    """A ranking over ``total`` cells of which ``passing`` track a property above the bar (and chance)."""
    return _ranking(*(_score("in_quotes", 0.9 if u < passing else 0.6, 0.5, unit=u) for u in range(total)))


@pytest.mark.parametrize("passing, total, verdict", [
    (10, 400, "held"), (9, 400, "partly"), (40, 400, "held"), (41, 400, "partly"),  # 2.5% and 10%
    (5, 400, "partly"), (4, 400, "not"), (80, 400, "partly"), (81, 400, "not"),  # 1.25% and 20%
    (2, 200, "not"), (1, 200, "not"),  # the last runs: 1.0% cpu, 0.5% paper
    (5, neurons.MIN_CELLS - 1, TOO_FEW)])
def test_five_percent_claim_has_a_band(passing, total, verdict):
    assert (neurons.FIVE_PERCENT_LOW, neurons.FIVE_PERCENT_HIGH) == (0.025, 0.10)
    assert (neurons.FIVE_PERCENT_PARTLY_LOW, neurons.FIVE_PERCENT_PARTLY_HIGH) == (0.0125, 0.20)
    claim = neurons.five_percent_claim(_cells(passing, total))
    assert (claim.verdict, claim.value, claim.n) == (verdict, passing / total, total)


def test_held_out_events_count_what_ends_in_the_held_out_part():
    quotes = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 0], dtype=np.float32)
    assert neurons.held_out_events(quotes, 0) == 3 and neurons.held_out_events(quotes, 5) == 2
    line = np.array([1, 2, 3, 0, 1, 2, 0, 1], dtype=np.float32)  # two newlines
    assert neurons.held_out_events(line, 4) == 1


@pytest.mark.parametrize("spans, verdict", [(neurons.MIN_SPANS, "held"), (neurons.MIN_SPANS - 1, TOO_FEW)])
def test_other_cells_rest_on_held_out_spans(spans, verdict):
    row = {"model": "04_wikipedia", "property": "in_url", "characters traced": 5000, "held-out spans": spans,
           "best cell": "layer 0 cell 3", "held-out score": neurons.MIN_BALANCED_ACCURACY, "chance": 0.5,
           "beats chance": True}
    [claim] = neurons.other_claims([row])
    assert (claim.verdict, claim.value, claim.n) == (verdict, neurons.MIN_BALANCED_ACCURACY, spans)
    [below] = neurons.other_claims([{**row, "held-out score": neurons.MIN_BALANCED_ACCURACY - EPS}])
    assert below.verdict == ("partly" if verdict == "held" else TOO_FEW)


@pytest.mark.parametrize("val_chars, verdict", [(neurons.MIN_VAL_CHARS, "held"), (neurons.MIN_VAL_CHARS - 1, TOO_FEW)])
def test_lstm_vs_ngram_minimum(val_chars, verdict):
    from charlm.analysis.viz import NgramComparison

    rows = [{"model": "LSTM", "order": None, "val_loss": 1.0}, {"model": "n-gram", "order": 20, "val_loss": 1.2}]
    claim = neurons.lstm_vs_ngram(NgramComparison(rows, 1.0, None, {}, [], "x"), val_chars)[1]
    assert (claim.verdict, claim.value, claim.n) == (verdict, pytest.approx(0.2), val_chars)


# --------------------------------------------------------------------------- 10 comparison


def _grid(losses):
    """Rows of a grid from {(dataset, cell, layers): test loss}."""
    return [{"dataset": ds, "cell": cell, "layers": layers, "test_loss": loss} for (ds, cell, layers), loss in losses.items()]


def _losses(lstm, gru=(1.0, 1.0), rnn=(1.5, 1.5)):
    return {**{("wp", "rnn", d + 1): v for d, v in enumerate(rnn)}, **{("wp", "gru", d + 1): v for d, v in enumerate(gru)},
            **{("wp", "lstm", d + 1): v for d, v in enumerate(lstm)}}


@pytest.mark.parametrize("lstm, verdict, won", [
    ((1.0, 1.0), "held", 4), ((1.0, 1.5), "partly", 3),  # a tie is no win; the LSTM still wins at one depth
    ((2.0, 2.0), "not", 2)])  # the LSTM worse than the RNN at every depth, however well the GRU does
def test_gated_cells_judged_per_depth_and_cell(lstm, verdict, won):
    _, (gated, _) = comparison.verdicts(_grid(_losses(lstm)))
    assert (gated.verdict, gated.value, gated.n) == (verdict, won / 4, 4)


def test_last_runs_lstm_loses_at_every_depth_on_war_and_peace():
    """The committed cpu run's test losses: the GRU beats the RNN everywhere, the LSTM nowhere on War and Peace."""
    wp = {("warandpeace", c, d): v for c, vs in {"rnn": (1.889, 1.859, 2.143), "gru": (1.802, 1.73, 1.639),
                                                "lstm": (2.011, 2.046, 2.169)}.items() for d, v in enumerate(vs, 1)}
    linux_ = {("linux", c, d): v for c, vs in {"rnn": (2.163, 1.984, 3.719), "gru": (1.978, 1.885, 1.966),
                                              "lstm": (2.173, 2.093, 2.312)}.items() for d, v in enumerate(vs, 1)}
    _, (gated, deep) = comparison.verdicts(_grid({**wp, **linux_}))
    assert (gated.verdict, gated.value, gated.n) == ("not", pytest.approx(7 / 12), 12)
    assert (deep.verdict, deep.value, deep.n) == ("partly", pytest.approx(5 / 6), 6)


@pytest.mark.parametrize("losses, verdict", [
    (_losses((1.0, 0.9), (1.0, 0.9), (1.5, 1.4)), "held"),  # every cell better with two layers
    (_losses((1.0, 0.9), (1.0, 0.9), (1.5, 1.6)), "partly"),  # two of three
    (_losses((1.0, 1.1), (1.0, 0.9), (1.5, 1.6)), "not"),  # one of three: not more than half
    ({("wp", c, 2): 1.0 for c in ("rnn", "lstm")}, TOO_FEW)])  # one depth only: nothing to compare
def test_depth_claim(losses, verdict):
    _, (_, deep) = comparison.verdicts(_grid(losses))
    assert deep.verdict == verdict and deep.n == len({(ds, c) for ds, c, d in losses if d == 1})


def _saturation(right_shares_by_layer, units=comparison.MIN_UNITS):
    """An LSTM whose forget-gate units of each layer are right-saturated on the given share of the characters."""
    layers = []
    for share in right_shares_by_layer:
        right = np.full(units, share)
        layers.append({g: (np.zeros(units), right if g == "forget" else np.zeros(units))
                       for g in ("input", "forget", "output")})
    return Saturation("lstm", layers, comparison.LEFT, comparison.RIGHT)


def test_remembering_claim_at_its_thresholds():
    half = comparison.MOST_OF_THE_TIME
    held = comparison.saturation_claims({"m": _saturation([0.0, half + EPS])})[0]
    assert (held.verdict, held.value, held.n) == ("held", 1.0, 2 * comparison.MIN_UNITS)
    at = comparison.saturation_claims({"m": _saturation([0.0, half])})[0]  # "more than" half the time
    assert (at.verdict, at.value) == ("partly", 0.0)
    never = comparison.saturation_claims({"m": _saturation([0.0, 0.0])})[0]
    assert never.verdict == "not"
    few = comparison.saturation_claims({"m": _saturation([half + EPS], units=comparison.MIN_UNITS - 1)})[0]
    assert (few.verdict, few.n) == (TOO_FEW, comparison.MIN_UNITS - 1)


def test_some_units_means_at_least_SOME_of_a_layer():
    units = 100
    sat = _saturation([0.0, 0.0], units)
    right = sat.layers[1]["forget"][1]
    right[: math.ceil(comparison.SOME * units)] = 1.0
    assert comparison.saturation_claims({"m": sat})[0].verdict == "held"
    right[0] = 0.0  # one unit fewer than SOME of the layer
    assert comparison.saturation_claims({"m": sat})[0].verdict == "partly"


def test_first_layer_calmer_claim():
    calm = _saturation([0.1, 0.9])
    busy = _saturation([0.9, 0.1])
    assert comparison.saturation_claims({"a": calm})[1].verdict == "held"
    assert comparison.saturation_claims({"a": calm, "b": calm, "c": busy})[1].verdict == "partly"
    assert comparison.saturation_claims({"a": calm, "b": busy})[1].verdict == "not"  # one of two: not more than half
    few = comparison.saturation_claims({"a": _saturation([0.1])})[1]  # one layer: nothing to compare
    assert (few.verdict, few.n) == (TOO_FEW, 0)
