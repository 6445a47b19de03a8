import json
import math

import pytest

from charlm.errors import CharlmError
from charlm.analysis.textstats import (
    NATS_TO_BITS,
    bits,
    c_bracket_balance,
    indentation_consistency,
    latex_environment_closure,
    novelty,
    share_balanced,
    unigram_entropy,
    wiki_markup_closure,
)


def test_wiki_links_and_templates_count_per_kind():
    text = "See [[Paris]] and [[Image:x.png|thumb|[[nested]] caption]] {{cite web|url=x}} [[broken ]] ]] {{open"
    r = wiki_markup_closure(text)
    assert (r.links.opened, r.links.matched, r.links.unclosed, r.links.stray) == (4, 4, 0, 1)
    assert (r.templates.opened, r.templates.matched, r.templates.unclosed, r.templates.stray) == (2, 1, 1, 0)
    assert r.links.rate == pytest.approx(4 / 5)
    assert r.templates.rate == pytest.approx(1 / 2)


def test_xml_nested_self_closing_and_errors():
    text = (
        '<page><title>A</title><revision id="3"><minor/><br /><text xml:space="preserve">x</text>'
        "</revision></page><!-- <notatag> --><?xml version='1.0'?>"
    )
    r = wiki_markup_closure(text).xml
    assert (r.opened, r.matched, r.mismatched, r.unclosed, r.stray) == (4, 4, 0, 0, 0)
    assert r.max_depth == 3
    assert wiki_markup_closure(text).xml_self_closing == 2
    assert r.balanced and r.rate == 1.0

    # forgotten </b> inside <a>: b unclosed, a still matched; </c> stray; <d> closed by </e> mismatched.
    r = wiki_markup_closure("<a><b></a></c><d></e><f>").xml
    assert (r.matched, r.mismatched, r.unclosed, r.stray) == (1, 1, 2, 1)
    assert r.examples == [("d", "e")]
    assert r.rate == pytest.approx(1 / 5)


def test_latex_post_proof_lemma_mismatch():
    # The post's sample opens \begin{proof} and closes it with \end{lemma}.
    text = r"""\begin{lemma} Let $X$ be a scheme. \end{lemma}
\begin{proof} We may assume that $\mathcal{I}$ is an abelian sheaf on $\mathcal{C}$. \end{lemma}
% \begin{commented} is ignored
\begin{enumerate} \item 50\% \begin{itemize} \item a \end{itemize}
\end{theorem} \end{enumerate}"""
    r = latex_environment_closure(text)
    assert r.examples == [("proof", "lemma"), ("enumerate", "theorem")]
    assert (r.opened, r.matched, r.mismatched, r.unclosed, r.stray) == (4, 2, 2, 0, 1)
    assert not r.balanced


def test_latex_unclosed_and_recovery():
    r = latex_environment_closure(r"\begin{a}\begin{b}\end{a}\begin {c}")
    assert (r.matched, r.mismatched, r.unclosed, r.stray) == (1, 0, 2, 0)


def test_c_brackets_ignore_strings_chars_and_comments():
    code = r"""static int f(char *s) /* { unbalanced in comment ( */
{
	printk("{%s} ) ]\" (", s); // } comment
	char c = '{', d = '\'';
	return a[b[(1)]];
}
"""
    r = c_bracket_balance(code)
    assert r.balanced
    assert r.rate == 1.0
    assert r.max_depth == 4  # { [ [ (
    assert r.by_kind["()"].matched == 3 and r.by_kind["{}"].matched == 1 and r.by_kind["[]"].matched == 2


def test_c_brackets_errors_and_broken_string_ends_at_newline():
    r = c_bracket_balance('int x = f("oops);\n  if (a] { }\n}')
    # The broken string ends at its line, so "(a]" is still seen: ] closes ( (mismatch), { } match,
    # and the last } meets the ( of f( -- another mismatch, as one stack sees it.
    assert (r.overall.matched, r.overall.mismatched, r.overall.unclosed, r.overall.stray) == (1, 2, 0, 0)
    assert r.overall.examples == [("()", "[]"), ("()", "{}")]
    # Counted per kind, the same text has two unclosed ( and a stray ] and }.
    paren, square, curly = r.by_kind["()"], r.by_kind["[]"], r.by_kind["{}"]
    assert (paren.unclosed, square.stray, curly.matched, curly.stray) == (2, 1, 1, 1)
    assert not r.balanced
    assert share_balanced(["{ }", "{", "()[]"]) == pytest.approx(2 / 3)
    assert share_balanced([]) is None


def test_indentation_kernel_style():
    code = "int f(void)\n{\n\tif (x) {\n\t\treturn 1;\n\t}\n#ifdef A\n\ty();\nout:\n\treturn 0;\n}\n"
    r = indentation_consistency(code)
    assert (r.lines, r.unindented, r.tabs, r.spaces, r.mixed) == (10, 5, 5, 0, 0)
    assert r.tab_share == 1.0
    # judged: after "{" (x2 deeper), "}" after return (shallower), after "}" (not deeper), final "}" (shallower)
    assert (r.judged, r.consistent) == (5, 5)


def test_indentation_mixed_and_wrong_direction():
    code = "{\nx;\n  {\n \ty;\n}\n"
    r = indentation_consistency(code)
    assert (r.tabs, r.spaces, r.mixed, r.unindented) == (0, 1, 1, 3)
    # "{" -> "x;" not deeper (wrong); "  {" -> " \ty;" deeper (ok); "}" shallower (ok)
    assert (r.judged, r.consistent) == (3, 2)
    assert r.rate == pytest.approx(2 / 3)


def test_novelty_counts_lines_and_examples():
    training = {"Anna", "Bob", "Carl"}
    samples = ["Anna\nRudi\n\n  Levette \n", "Bob\nRudi\nBerice"]
    r = novelty(samples, training)
    assert (r.total, r.novel, r.distinct, r.distinct_novel) == (6, 4, 5, 3)
    assert r.rate == pytest.approx(4 / 6)
    assert r.examples == ["Rudi", "Levette", "Berice"]
    assert novelty(samples, "Anna\nBob\nCarl\n").as_dict() == r.as_dict()
    assert novelty(samples, iter(["Anna ", "Bob"])).novel == 4
    assert novelty([""], training).rate is None


def test_unigram_entropy_and_bits():
    assert unigram_entropy("aaaa") == 0.0
    assert unigram_entropy("abab") == pytest.approx(math.log(2))
    assert bits(unigram_entropy("abcd")) == pytest.approx(2.0)
    assert bits(1.0) == pytest.approx(NATS_TO_BITS) == pytest.approx(1.4426950408889634)
    with pytest.raises(CharlmError):
        unigram_entropy("")


def test_results_are_json_ready():
    for result in (wiki_markup_closure("[[a]] <b></c>"), latex_environment_closure(r"\begin{x}\end{y}"),
                   c_bracket_balance("(]"), indentation_consistency("{\n\tx\n}"), novelty(["a"], {"b"})):
        json.dumps(result.as_dict(), allow_nan=False)
    assert wiki_markup_closure("plain text").rate is None
