"""The post's claims in sections 02-06, measured: text measures on hand-made inputs, a real TeX engine and a real C
parser; and every quote of the post, in every section, checked against the post's source."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from charlm.analysis import csyntax, latex
from charlm.errors import CharlmError
from charlm.paper import claims
from charlm.paper import notebook as nb
from charlm.paper.sections import latex as latex_section
from charlm.paper.sections import linux, paul_graham, shakespeare, wikipedia
from helpers import mirror_text

ROOT = Path(__file__).resolve().parents[1]

PLAY = """tail of a speech cut by the sampler

ROMEO:
But soft, what light through yonder window breaks?
It is the east.

First Citizen:
We are accounted poor citizens.

stage noise without a speaker
and more of it

KING RICHARD III:
Now is the winter.

cut here"""


def test_play_shape_counts_only_complete_speeches_with_a_speaker_line():
    blocks = shakespeare.speeches(PLAY)
    assert [b[0] for b in blocks] == ["ROMEO:", "First Citizen:", "stage noise without a speaker", "KING RICHARD III:"]
    assert [shakespeare.play_shaped(b) for b in blocks] == [True, True, False, True]
    form = shakespeare.play_form([PLAY], [PLAY])
    assert form["samples"]["share"] == pytest.approx(3 / 4) and form["line_length_ks"] == 0.0
    assert 28 not in form["samples"]["line_lengths"]  # no speaker line counted as speech ("KING RICHARD III:")


def test_line_length_distance_is_zero_for_equal_and_one_for_disjoint():
    assert shakespeare.ks_distance([10, 20, 30], [30, 10, 20]) == 0.0
    assert shakespeare.ks_distance([1, 2, 3], [50, 60]) == 1.0
    assert shakespeare.ks_distance([], [1]) is None


def test_temperature_measures_see_repetition_and_invented_words(monkeypatch):
    training = "the startup raised money from investors and the founders built the product"
    loop = "the startup is the startup is the startup is the startup is the startup is"
    wild = "the stortup raized mony frum invostors whith foundirs bilt thee prodoct"
    m = paul_graham.temperature_measures({0.2: [loop], 1.5: [wild]}, training, [training])
    low, high = m["by_temperature"]
    assert low["distinct_ngram_share"] < 0.4 and high["distinct_ngram_share"] == 1.0
    assert low["novel_word_share"] == pytest.approx(5 / 15)  # "is", five of the 15 words, never in the training text
    assert high["novel_word_share"] > 0.7 and m["real"]["novel_word_share"] == 0.0
    assert (low["words"], high["words"]) == (15, 11)
    claim = paul_graham.temperature_claim(m)
    assert (claim.verdict, claim.value, claim.n) == (claims.TOO_FEW, pytest.approx(high["novel_word_share"] - 5 / 15), 11)
    monkeypatch.setattr(paul_graham, "TEMPERATURE_MIN_WORDS", 11)
    assert paul_graham.temperature_claim(m).verdict == "held"
    # the loop at the highest temperature: no end is conservative, and the loop's "is" is a word not in training
    backwards = paul_graham.temperature_measures({0.2: [wild], 1.5: [loop]}, training, [training])
    assert paul_graham.temperature_claim(backwards).verdict == "partly"


def test_wiki_structure_headings_lists_parens_and_hallucinated_urls(monkeypatch):
    text = "== History ==\n=== Broken ==\n* [[A]]\n# [[B]]\n(one (two) three) )\n"
    s = wikipedia.wiki_structure(text)
    assert (s["headings"], s["headings_well_formed"], s["list_items"]) == (2, 1, 2)
    assert (s["parens_paired"], s["parens_unclosed"], s["parens_stray"]) == (2, 0, 1)
    training = "see [http://www.real.org/page Real] for more"
    sample = "[http://www.real.org/page Real] and [http://www.humah.yahoo.com/guardian.cfm Fake]."
    form = wikipedia.wiki_form([sample + "\n" + text], [training], training)
    assert form["samples"]["urls"] == 2 and form["samples"]["url_examples"] == ["http://www.humah.yahoo.com/guardian.cfm"]
    parens, url = wikipedia.wiki_form_claims(form)
    assert (url.verdict, url.value, url.n) == (claims.TOO_FEW, 0.5, 2)  # one of the two sampled URLs is new
    monkeypatch.setattr(wikipedia, "MIN_URLS", 2)
    assert wikipedia.wiki_form_claims(form)[1].verdict == "held"
    assert parens.verdict in claims.VERDICTS


def test_a_claim_is_typed_and_round_trips_through_json():
    said = claims.Said("q", claims.POST + "#x")
    with pytest.raises(CharlmError, match="not one of held, partly, not"):
        claims.Claim.of(said, "ours", "maybe", "rule")
    c = claims.Claim.of(said, "ours", "partly", "held at 0.8 x", value=0.6, n=12)
    assert (c.said, c.quoted, c.link, c.value, c.n) == ("q", True, claims.POST + "#x", 0.6, 12)
    assert claims.Claim.from_json(json.loads(json.dumps(c.to_json()))) == c
    with pytest.raises(CharlmError, match="a claim has"):
        claims.Claim.from_json({**c.to_json(), "extra": 1})
    ours = claims.Claim.of(claims.Said("paraphrase", claims.PAPER, quoted=False), "o", "not", "r")
    assert ours.quoted is False and ours.value is None and ours.n is None
    # records written before claims were typed marked paraphrases with a leading parenthesis
    legacy = claims.Claim.from_legacy({"claim": "(the paper, in our words) x", "link": claims.PAPER, "ours": "o",
                                       "verdict": "held", "share": 0.3})
    assert (legacy.quoted, legacy.verdict, legacy.rule, legacy.value) == (False, "held", "", None)


@pytest.mark.parametrize("ours, verdict", [(0.8, "held"), (0.79, "partly"), (0.5, "partly"), (0.49, "not"),
                                            (None, "not")])
def test_by_ratio_at_its_thresholds(ours, verdict):
    assert claims.by_ratio(ours, 1.0, 0.8, 0.5) == verdict
    assert claims.by_ratio(0.5, 0.0, 0.8, 0.5) == "not"  # real text never does it: nothing to compare with


# --------------------------------------------------------------------------- LaTeX through pdflatex

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (.ci/install-tex)")

GOOD_LATEX = r"""\begin{lemma}
\label{lemma-x}
Let $X$ be a scheme and $\mathcal{F}$ an $\mathcal{O}_X$-module on $X_\etale$. Then
$\Spec(R) \to X$ and $\colim_i \mathcal{F}_i$ exist, see Lemma \ref{lemma-y}.
\end{lemma}

\begin{proof}
Omitted.
\end{proof}"""

BAD_LATEX = r"""\begin{proof}
We may assume that $\mathcal{I}$ is an abelian sheaf on $\mathcal{C}$.
\end{lemma}"""  # the post's own example of a mistake: a proof closed by \end{lemma}


def test_blocks_split_at_blank_lines_outside_environments_and_drop_the_cut_tail():
    text = "\\begin{proof}\nOne.\n\nTwo.\n\\end{proof}\n\nplain paragraph\n\n\\begin{lemma}\ncut"
    assert latex.blocks(text) == ["\\begin{proof}\nOne.\n\nTwo.\n\\end{proof}", "plain paragraph"]


@needs_tex
def test_pdflatex_compiles_a_good_sample_and_rejects_the_posts_mistake():
    good = latex.compile_latex(GOOD_LATEX)
    assert good.ok and good.pdf is not None and good.pdf.startswith(b"%PDF")
    bad = latex.compile_latex(BAD_LATEX)
    assert not bad.ok and bad.pdf is None and bad.error.startswith("! LaTeX Error: \\begin{proof}")
    assert bad.line == 3  # the body's third line, \end{lemma}
    share = latex.compile_share([GOOD_LATEX + "\n\n" + BAD_LATEX + "\n\ntail", "\\xymatrix{A \\ar[r] & B}\n\nx"])
    assert (share["judged"], share["compiled"], share["diagram_blocks"]) == (3, 2, 1)
    # the lemma and the proof compile as written; the post's mistake after one repair (its \end renamed)
    assert share["repairs"] == [0, 0, 1] and share["k_counts"] == {"0": 2, "1": 1} and share["not_within"] == 0
    assert share["share"] == pytest.approx(2 / 3) and share["best"]["sampled"].startswith("\\begin{lemma}")
    assert share["best"]["k"] == 0 and share["errors"] == {bad.error: 1}


def test_close_open_closes_in_order_and_counts_each_repair():
    assert latex.close_open(BAD_LATEX) == (BAD_LATEX.replace("\\end{lemma}", "\\end{proof}"),
                                           ["\\end{lemma} closes \\begin{proof}: renamed"])
    text, repairs = latex.close_open("\\begin{lemma}\\begin{proof} {a $x \\end{lemma} } b")
    assert text == "\\begin{lemma}\\begin{proof} {a $x $}\\end{proof}\\end{lemma}  b"
    assert len(repairs) == 4  # $ closed, { closed, proof closed before \end{lemma}, the stray } dropped
    assert latex.close_open("\\[ x \\{ y") == ("\\[ x \\{ y\\]", ["closed \\[ with \\]"])  # \{ is text
    assert latex.close_open("% a { in a comment\nfine") == ("% a { in a comment\nfine", [])
    assert latex.close_open("\\begin{a}\\begin{b}")[0] == "\\begin{a}\\begin{b}\n\\end{b}\n\\end{a}"


@needs_tex
def test_repair_counts_what_tex_needs():
    assert latex.repair(GOOD_LATEX).k == 0
    fixed = latex.repair("\\begin{lemma}\nLet $X$ be {a \\foo scheme, \\begin{enimere} x \\end{enimere}\n\\end{lemma}")
    # the brace closed, then the undefined \foo and the unknown environment dropped, one compile each
    assert fixed.k == 3 and fixed.compiled.ok and "\\foo" not in fixed.text and "enimere" not in fixed.text
    assert fixed.first_error == "! Undefined control sequence."
    hopeless = latex.repair("\\foo \\bar", max_repairs=1)
    assert hopeless.k is None and len(hopeless.repairs) == 1 and not hopeless.compiled.ok


@needs_tex
def test_sampled_latex_cannot_read_files_outside_its_folder():
    assert not latex.compile_latex("\\input{/etc/hostname}").ok


@needs_tex
def test_a_compiled_sample_renders_to_a_png_image():
    png = latex.render_png(GOOD_LATEX)
    assert png is not None and png.startswith(b"\x89PNG")
    assert latex.render_png(BAD_LATEX) is None


# --------------------------------------------------------------------------- C through tree-sitter

POST_C = """static int indicate_policy(void)
{
  int error;
  if (fd == MARN_EPT) {
    if (ss->segment < mem_total)
      unblock_graph_and_set_blocked();
    else
      ret = 1;
    goto bail;
  }
  rw->name = "Getjbbregs";
  return segtable;
}
"""


def test_tree_sitter_finds_the_posts_undeclared_variables_and_no_syntax_error():
    r = csyntax.analyse(POST_C)
    assert r.errors == 0 and r.lines == 13
    assert "rw" in r.undeclared and "error" in r.declared
    assert "MARN_EPT" not in r.undeclared and "unblock_graph_and_set_blocked" not in r.undeclared


def test_tree_sitter_counts_syntax_errors_and_declared_names():
    ok = "#define N 4\nstatic int f(int x, char *buf)\n{\n  int y = x + N, z[N];\n  z[0] = y;\n  return y + *buf;\n}\n"
    assert csyntax.analyse(ok).errors == 0 and csyntax.analyse(ok).undeclared == []
    broken = "static int f(int x)\n{\n  int y = x +;\n  if (y { return 1; }\n  return y;\n}\n"
    r = csyntax.analyse(broken)
    assert r.errors >= 2 and r.errors_per_100_lines == pytest.approx(100 * r.errors / 6)
    assert 2 <= r.error_lines < 6  # the lines with `x +;` and `if (y {`, not the whole function
    both = csyntax.compare([broken], [ok])
    assert both["samples"]["errors"] == r.errors and both["real"]["errors_per_100_lines"] == 0.0


def test_scale_note_puts_our_iterations_in_characters_beside_the_posts():
    run = SimpleNamespace(train_config=SimpleNamespace(batch_size=32, seq_length=64))
    corpus = nb.Corpus("paulgraham", "x" * 2_700_000, {}, (0.9, 0.05, 0.05), False, "")
    note = nb.scale_note(run, corpus, 1_000_000)
    assert note.data == {"chars": 2_700_000, "post_chars": 1_000_000, "chars_per_iteration": 32 * 64,
                         "post_chars_per_iteration": 100 * 100}
    # the sentence states our size and the post's, the batch shapes, and what 100 iterations saw: 100 x 32 x 64
    assert [2.7, 1, 32, 64, 2048, 100, 100, 10000, 100, 204800, 1000000] == [
        float(n) for n in re.findall(r"\d+(?:\.\d+)?", note.plain.replace(",", ""))]


@needs_tex
def test_rendered_saves_the_typeset_block_or_says_why_not(tmp_path):
    best = {"sampled": BAD_LATEX, "compiled": BAD_LATEX.replace("{lemma}", "{proof}"), "k": 1, "repairs": ["renamed"]}
    shown = latex.rendered(best, tmp_path / "f" / "compiled.png")
    assert "data:image/png;base64," in shown.html and (tmp_path / "f" / "compiled.png").read_bytes().startswith(b"\x89PNG")
    assert "data:image" not in latex.rendered(None).html and not (tmp_path / "g.png").exists()


def test_environment_bracket_and_loop_claims():
    ours = {"rate": 0.4, "attempts": 10, "mismatched": 2, "examples": [["proof", "lemma"]]}
    claim = latex_section.environment_claim(ours, {"rate": 0.9})
    assert (claim.verdict, claim.value, claim.n) == ("held", 2, 10)
    assert latex_section.environment_claim({**ours, "mismatched": 0, "examples": []}, {"rate": 0.9}).verdict == "not"
    good = {"bracket_rate": 0.95, "indent_consistent": 0.9, "brackets": {"attempts": 40}}
    held = linux.code_structure_claim(good, {"bracket_rate": 1.0, "indent_consistent": 0.95})
    assert (held.verdict, held.value, held.n) == ("held", 0.95, 40)
    assert linux.code_structure_claim({**good, "indent_consistent": 0.1},
                                       {"bracket_rate": 1.0, "indent_consistent": 0.95}).verdict == "not"
    looped = paul_graham.loop_claim("falls into a loop", (3, "the startup "), 600)
    assert (looped.verdict, looped.value, looped.n) == ("held", 12, 600)
    assert paul_graham.loop_claim("no cycle", None, 600).verdict == "not"


def test_without_tex_the_check_says_so_and_compiling_fails_clearly(monkeypatch):
    from charlm.errors import CharlmError

    monkeypatch.setenv("PATH", "/nonexistent")
    assert latex.tex_engine() is None
    assert latex.skipped().data["skipped"]
    with pytest.raises(CharlmError, match="install-tex"):
        latex.compile_latex("x")


@pytest.mark.parametrize("ours, verdict", [(0.86, "held"), (0.80, "held"), (0.70, "partly"), (0.65, "partly"),
                                            (0.40, "not")])
def test_against_published(ours, verdict):
    said = claims.Said("90% new", claims.POST)
    sentence, claim = claims.against_published(said, "new names", ours, 0.90, close=0.10, near=0.25, n=50)
    assert (claim.verdict, claim.value, claim.n) == (verdict, ours, 50)
    assert sentence.startswith(f"new names: {100 * ours:.0f}% here, 90% in the post")
    assert claims.against_published(said, "m", None, 0.9, 0.1, 0.25)[1].verdict == "not"


def test_say_shows_the_sentence():
    shown = nb.say("spaces first")
    assert "spaces first" in shown.html and repr(shown) == "spaces first"



def _everything_said() -> list[tuple[str, claims.Said]]:
    """Every Said of every section module: its module-level constants and those in its tables (09's cells)."""
    import importlib
    import pkgutil

    import charlm.paper.sections as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, value in vars(module).items():
            values = value.values() if isinstance(value, dict) else [value]
            found += [(f"{info.name}.{name}", v) for v in values if isinstance(v, claims.Said)]
    return found


# --------------------------------------------------------------------------- quotes, word for word

_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^)]*\)")  # [text](url), ![alt](src)
_CODE = re.compile(r"`([^`]*)`")
_EMPHASIS = re.compile(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1")
# How a notebook's markdown marks the post's words: *"..."* (emphasis around straight double quotes).
_NOTEBOOK_QUOTE = re.compile(r'\*"(.+?)"\*')
# Words in quotation marks that are not so marked: a quote hiding from the check, or a paraphrase in quote marks.
_OTHER_QUOTE = re.compile(r'"([^"\n]+)"|“([^”\n]+)”')
OTHER_QUOTE_WORDS = 4  # from this many words up, quoted words must be marked as the post's (or lose their marks)


def plain(markdown: str) -> str:
    """Markdown as it reads: link syntax, inline code and emphasis taken out, keeping their text; every run of
    whitespace (line breaks included) one space. Nothing else changes: no case folding, no punctuation dropped,
    no fuzzy matching."""
    text = _LINK.sub(r"\1", markdown)
    text = _CODE.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    return " ".join(text.split())


def test_plain_takes_out_the_posts_markup_and_nothing_else():
    assert plain("brackets `{[` correctly, the *almost* [code](http://x) **meta**") == \
        "brackets {[ correctly, the almost code meta"
    assert plain("inside the [[ ]] markdown\nenvironment") == "inside the [[ ]] markdown environment"
    assert plain("Charaters, so") != plain("characters, so")


def _post() -> str:
    return plain(mirror_text("rnn_effectiveness_post.markdown.xz"))


def test_every_quote_is_the_posts_words_verbatim():
    """What a section shows as the post's words occurs, character for character, in the post's source (the
    mirror's copy of the blog's markdown, read through :func:`plain`: its links, inline code and emphasis taken out,
    whitespace runs made one space); the paper's findings, whose text we do not have, are in our words. A quote is
    kept as plain text (``plain(quote) == quote``): tables, pages and logs show it without Markdown."""
    said = _everything_said()
    sections = {p.stem for p in (ROOT / "charlm" / "paper" / "sections").glob("*.py")} - {"__init__"}
    assert {name.split(".")[0] for name, _ in said} == sections  # every section says something of the post's
    assert all(s.link.startswith(claims.POST) for _, s in said if s.quoted), "only the post is quoted"
    marked = [name for name, s in said if s.quoted and plain(s.text) != s.text]
    assert not marked, f"quotes with Markdown markup in them (keep them plain): {marked}"
    post = _post()
    missing = [name for name, s in said if s.quoted and s.text not in post]
    assert not missing, f"shown as the post's words but not in it: {missing}"


def _markdown_cells():
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "markdown":
                yield f"{path.stem} cell {i}", cell.source


def test_every_quote_in_the_notebooks_is_the_posts_words_verbatim():
    """The notebooks' markdown marks the post's words as *"..."*; each such quote, read through :func:`plain` as
    the post is, occurs verbatim in the post's source. Any other run of OTHER_QUOTE_WORDS or more words in quotation
    marks fails: a quote must be marked so that this test sees it, and a paraphrase goes without quotation marks
    (and says "in our words")."""
    post = _post()
    quotes, missing, unmarked = 0, [], []
    for where, source in _markdown_cells():
        for quote in _NOTEBOOK_QUOTE.findall(source):
            quotes += 1
            if plain(quote) not in post:
                missing.append(f"{where}: {quote}")
        rest = _CODE.sub("", _NOTEBOOK_QUOTE.sub("", source))
        unmarked += [f"{where}: {m.group(0)}" for m in _OTHER_QUOTE.finditer(rest)
                     if len((m.group(1) or m.group(2)).split()) >= OTHER_QUOTE_WORDS]
    assert quotes >= 20, "the notebooks quote the post throughout"
    assert not missing, "shown as the post's words but not in it:\n" + "\n".join(missing)
    assert not unmarked, ('words in quotation marks not marked as the post\'s (*"..."*): mark the post\'s words, or '
                          'drop the marks from ours:\n' + "\n".join(unmarked))


def test_a_quote_cannot_break_its_link_in_the_summary_or_the_book():
    """The summary (results.md) and the book (mistune renders it) show a quote as the text of a link: Markdown
    characters in it stay text."""
    import html

    import mistune

    from charlm.paper.results import _said

    said = "opens and closes brackets {[ correctly (e.g. rw above) | a_b *c* `d` ] [x](y) \\end"
    cell = _said(claims.Claim.of(claims.Said(said, claims.POST + "#linux-source-code"), "o", claims.TOO_FEW, "r"))
    page = mistune.html(f"| a |\n|---|\n| {cell} |\n")
    anchors = [(href, html.unescape(text)) for href, text in re.findall(r'<a href="([^"]*)">(.*?)</a>', page)]
    assert anchors == [(claims.POST + "#linux-source-code", f"“{said}”")]
