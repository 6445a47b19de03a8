"""charlm.analysis.viz: traces, the two HTML views, property labels, the interpretable-cell search, heatmap, n-gram table."""

import html
import math
import random
import re

import numpy as np
import pytest
import torch

from charlm.analysis import viz
from charlm.analysis.display import Shown
from charlm.paper.results import published_losses
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.analysis.viz.views import _diverging
from charlm.vocab import Vocab

QUOTE_UNIT = 5


pytestmark = pytest.mark.usefixtures("one_thread")


def quoted_text(n_chars: int, seed: int = 0) -> str:
    """Words wrapped in lines of at most 60 characters, with "quoted" stretches of random length placed at random:
    the words inside and outside quotes come from the same distribution, so only memory of the quote tells them apart."""
    rng = random.Random(seed)
    words = "the of and to in was he she it said that his her with as had for not on at but by".split()
    out, line, inside, left = [], 0, False, rng.randint(5, 30)
    while sum(map(len, out)) < n_chars:
        w = rng.choice(words)
        left -= 1
        if left == 0:
            w = w + '"' if inside else '"' + w
            inside, left = not inside, rng.randint(3, 30)
        if line + len(w) + 1 > 60:
            out.append("\n")
            line = 0
        elif line:
            out.append(" ")
            line += 1
        out.append(w)
        line += len(w)
    return "".join(out)[:n_chars]


def quote_model(vocab: Vocab, layers: int = 2, size: int = 16, seed: int = 0) -> CharRNN:
    """A random LSTM whose layer-0 cell QUOTE_UNIT flips sign at every '"' and holds it in between.

    At '"' the forget gate closes and the input gate opens, and the candidate is tanh(3 - 10 h): the opposite
    sign of the unit's current output (positive from the zero state). Everywhere else it forgets nothing.
    """
    torch.manual_seed(seed)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=size, num_layers=layers)).eval()
    q, u, H = vocab.index('"'), QUOTE_UNIT, size
    i, f, g, o = u, H + u, 2 * H + u, 3 * H + u
    with torch.no_grad():
        w_ih, w_hh, b_ih, b_hh = model.rnn.weight_ih_l0, model.rnn.weight_hh_l0, model.rnn.bias_ih_l0, model.rnn.bias_hh_l0
        for row in (i, f, g, o):
            w_ih[row].zero_()
            w_hh[row].zero_()
            b_ih[row] = 0.0
            b_hh[row] = 0.0
        w_ih[i, q], b_ih[i] = 20.0, -10.0
        w_ih[f, q], b_ih[f] = -20.0, 10.0
        w_hh[g, u], b_ih[g] = -10.0, 3.0
        b_ih[o] = 10.0
    return model


@pytest.fixture(scope="module")
def quoted():
    text = quoted_text(6000)
    return text, Vocab.from_text(text)


# --------------------------------------------------------------------------- trace


def test_trace_matches_the_model(quoted):
    text, vocab = quoted
    model = quote_model(vocab)
    piece = text[:700]
    tr = viz.trace(model, vocab, piece, top_k=5, chunk=128)  # several chunks: state must carry across
    assert len(tr) == 700 and tr.num_layers == 2 and tr.size == 16 and tr.kinds == ("cell", "hidden")
    assert tr.hidden[1].shape == (700, 16) and tr.cell[0].shape == (700, 16)
    ids = torch.from_numpy(vocab.encode(piece))[None]
    with torch.no_grad():
        logits, _, (h, c) = model(ids)
    probs = torch.softmax(logits[0], -1).numpy()
    np.testing.assert_allclose(tr.hidden[1][-1], h[1, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(tr.cell[0][-1], c[0, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(tr.topk_probs, -np.sort(-probs, axis=1)[:, :5], atol=1e-5)
    assert math.isnan(tr.target_prob[0])
    expected = probs[np.arange(699), vocab.encode(piece[1:])]
    np.testing.assert_allclose(tr.target_prob[1:], expected, atol=1e-5)
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:]).item()
    assert tr.loss == pytest.approx(loss, abs=1e-4)
    assert model.training is False


def test_trace_errors_and_gru(quoted):
    text, vocab = quoted
    with pytest.raises(CharlmError, match="never saw"):
        viz.trace(quote_model(vocab), vocab, "caf\u00e9")
    with pytest.raises(CharlmError, match="empty"):
        viz.trace(quote_model(vocab), vocab, "")
    gru = CharRNN(ModelConfig(vocab_size=len(vocab), model="gru", rnn_size=8, num_layers=1))
    tr = viz.trace(gru, vocab, text[:50])
    assert tr.cell is None and tr.kinds == ("hidden",)
    with pytest.raises(CharlmError, match="no cell state"):
        viz.cell_html(tr, 0, 0, kind="cell")
    with pytest.raises(CharlmError, match="unit 8 out of range"):
        viz.cell_html(tr, 0, 8, kind="hidden")


# --------------------------------------------------------------------------- HTML

NASTY = 'if (a < b && c > d) {\n\tputs("<script>alert(\'x\')</script> &amp;");\x0c\n}  // done\n'


@pytest.fixture(scope="module")
def nasty_trace():
    vocab = Vocab.from_text(NASTY)
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=8, num_layers=2)).eval()
    return viz.trace(model, vocab, NASTY * 3)


def test_cell_view_is_well_formed_and_round_trips(nasty_trace, tmp_path):
    tr = nasty_trace
    view = viz.cell_html(tr, 1, 3, "cell")
    assert isinstance(view, Shown) and view._repr_html_() == str(view) == view.html
    root = viz.check_html(view)  # strict XML parser: any unescaped < or & fails here
    assert viz.shown_text(root) == viz.visible_text(tr.text)
    assert "\t" not in viz.shown_text(root) and "⇥" in viz.shown_text(root) and "␌" in viz.shown_text(root)
    assert "<script" not in view and "&lt;" in view and "&amp;" in view  # escaped, one character a span
    assert view.count("<br/>") == tr.text.count("\n")  # a newline marker and a real line break
    assert "http" not in view and "url(" not in view and "<style" not in view  # inline styles only: survive sanitizers
    page = viz.save_html(view, tmp_path / "cell.html", "a <title>")
    doc = page.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>") and '<meta charset="utf-8"/>' in doc
    assert viz.shown_text(viz.check_html(page)) == viz.visible_text(tr.text)
    # the standard library's HTML parser agrees: every tag closes
    import html.parser

    class Balance(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack = []

        def handle_starttag(self, tag, attrs):
            self.stack.append(tag)

        def handle_startendtag(self, tag, attrs):
            pass  # <br/>, <meta .../>

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    b = Balance()
    b.feed(doc)
    assert b.stack == []


def test_colours_follow_the_activation(nasty_trace):
    tr = nasty_trace
    values = tr.unit(0, 2, "hidden")
    root = viz.check_html(viz.cell_html(tr, 0, 2, "hidden", start=5, stop=40))
    spans = [n for n in root.iter("span") if n.get("title", "").startswith("layer 0")]
    assert len(spans) == 35
    for t, span in zip(range(5, 40), spans):
        colour = re.search(r"background:#([0-9a-f]{6})", span.get("style")).group(1)
        r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
        v = values[t]
        assert (b > r) == (v < -0.01) or abs(v) < 0.02  # blue below zero, red above
        assert f"{v:+.3f}" in span.get("title")
    assert _diverging(-1.0) == "#4292c6" and _diverging(1.0) == "#ef6548"  # (66, 146, 198) and (239, 101, 72)
    assert _diverging(float("nan")) == _diverging(0.0)


def test_topk_view(nasty_trace):
    tr = nasty_trace
    view = viz.topk_html(tr, start=0, stop=60)
    root = viz.check_html(view)
    assert viz.shown_text(root) == viz.visible_text(tr.text[:60])
    columns = [n for n in root.iter("span") if "cv-k" in (n.get("class") or "").split()]
    assert len(columns) == 60
    first = [n for n in columns[10] if "cv-g" in (n.get("class") or "").split()]
    assert len(first) == 5
    guesses = [html.unescape("".join(n.itertext())) for n in first]
    assert guesses == [viz.visible(tr.vocab.chars[i]) for i in tr.topk_ids[10]]
    probs = [float(n.get("title").rsplit("p = ", 1)[1]) for n in first]
    assert probs == sorted(probs, reverse=True) and probs[0] == pytest.approx(tr.topk_probs[10, 0], abs=1e-3)


def test_visible_markers():
    assert viz.visible_text(" \n\t\x00\x7f\x85a<") == "␣↵⇥␀␡\ufffda<"


# --------------------------------------------------------------------------- labels


def test_property_labels():
    text = 'say "hi (x)" ok\n“a\n\n“b” [[link|x]] see http://ex.com/a. f(g[1], {2}) }\n/* c */ x // y\n"s//t"'
    labels = viz.property_labels(text)
    at = lambda prop, sub, k=0: labels[prop][text.index(sub) + k]  # noqa: E731
    assert at("in_quotes", '"hi') == 1 and at("in_quotes", "hi") == 1 and at("in_quotes", '" ok') == 0
    assert at("in_quotes", "a\n") == 1 and at("in_quotes", "\n“b", 1) == 1  # curly quotes run over paragraphs
    assert at("in_quotes", "b”") == 1 and at("in_quotes", "” [[") == 0
    assert at("in_parens", "x)") == 1 and at("in_parens", ')"') == 0
    assert at("in_wiki_link", "[[") == 1 and at("in_wiki_link", "link") == 1 and at("in_wiki_link", " see") == 0
    assert at("in_url", "http") == 1 and at("in_url", "ex.com") == 1 and at("in_url", ". f(") == 0
    assert at("bracket_depth", "1]") == 2 and at("bracket_depth", "2}") == 2 and at("bracket_depth", " }\n") == 0
    assert at("brace_depth", "2}") == 1 and at("brace_depth", "}\n") == 0  # a stray } does not go negative
    assert at("line_position", "ok\n", 2) == 0 and at("line_position", "“a") == 1
    assert at("in_comment", "c */") == 1 and at("in_comment", " x //") == 0 and at("in_comment", "// y", 3) == 1
    assert at("in_comment", "//t") == 0  # inside a string literal
    assert all(v.shape == (len(text),) and v.dtype == np.float32 for v in labels.values())
    escaped = viz.property_labels('a "b \\" c" d')["in_quotes"]
    assert escaped[6] == 1 and escaped[-1] == 0
    code = "if (a && (b)) x; y = www.q; wwww; if(c)\n  z;"
    code_labels = viz.property_labels(code)
    on = lambda prop: "".join(ch for ch, v in zip(code, code_labels[prop]) if v)  # noqa: E731
    assert on("in_if_condition") == "if (a && (b))" + "if(c)" and on("in_www") == "www" + "www"


# --------------------------------------------------------------------------- the interpretable-cell search


def test_rank_cells_finds_the_quote_cell(quoted):
    text, vocab = quoted
    tr = viz.trace(quote_model(vocab), vocab, text)
    labels = viz.property_labels(tr.text)
    ranking = viz.rank_cells(tr, labels)
    best = ranking.best()["in_quotes"]
    assert (best.layer, best.unit) == (0, QUOTE_UNIT), best
    assert best.metric == "balanced_accuracy" and best.score > 0.97 and best.sign == 1
    assert best.chance < 0.65
    assert ranking.units == 2 * 2 * 16 and "in_comment" in ranking.skipped and "in_url" in ranking.skipped
    line = ranking.best()["line_position"]
    assert line.metric == "correlation" and -1 <= line.score <= 1
    found = ranking.interpretable(kind="cell")
    assert {"layer": 0, "kind": "cell", "unit": QUOTE_UNIT, "properties": ["in_quotes"]} in found["units"]
    assert found["total"] == 32 and 0 < found["share"] <= 1
    shown = viz.best_cells_html(tr, ranking, labels, length=400, properties=["in_quotes"])
    root = viz.check_html(shown)
    assert "layer 0 cell 5" in "".join(root.itertext())
    assert ranking.top_units(0, "cell", 3)[0] == QUOTE_UNIT
    assert "in_quotes" in repr(ranking) and "<table>" in ranking._repr_html_()


def test_random_weights_score_near_chance(quoted):
    text, vocab = quoted
    torch.manual_seed(3)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=32, num_layers=2)).eval()
    ranking = viz.rank_cells(viz.trace(model, vocab, text), viz.property_labels(text))
    best = ranking.best()["in_quotes"]
    assert best.score < 0.65, best  # held out: what the fit half picked does not carry over
    assert abs(best.score - best.chance) < 0.15
    assert ranking.interpretable(min_balanced_accuracy=0.8)["count"] == 0 or all(
        "in_quotes" not in u["properties"] for u in ranking.interpretable()["units"])


def test_rank_cells_checks_its_input(quoted):
    text, vocab = quoted
    tr = viz.trace(quote_model(vocab, layers=1), vocab, text[:400])
    with pytest.raises(CharlmError, match="one value per character"):
        viz.rank_cells(tr, {"x": np.zeros(3)})
    with pytest.raises(CharlmError, match="split"):
        viz.rank_cells(tr, {}, split=1.0)
    r = viz.rank_cells(tr, {"never": np.zeros(400), "flat": np.full(400, 2.0)})
    assert r.rows == [] and set(r.skipped) == {"never", "flat"}


# --------------------------------------------------------------------------- heatmap and n-grams


def test_heatmap(quoted, tmp_path):
    text, vocab = quoted
    tr = viz.trace(quote_model(vocab), vocab, text[:300])
    fig = viz.heatmap(tr, 0, "cell", units=[QUOTE_UNIT, 0, 1], start=10, length=50, path=tmp_path / "h.png")
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(image[0], np.tanh(tr.cell[0][10:60, QUOTE_UNIT]), atol=1e-6)
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][:3] == [viz.visible(c) for c in text[10:13]]


def test_ranked_heatmap_windows_the_first_units_best_property(quoted):
    text, vocab = quoted
    tr = viz.trace(quote_model(vocab), vocab, text)
    labels = viz.property_labels(text)
    ranking = viz.rank_cells(tr, labels)
    fig = viz.ranked_heatmap(tr, ranking, length=60, labels=labels)
    first = int(fig.axes[0].get_yticklabels()[0].get_text())
    layer, kind = ranking.best_layer()
    prop = max((r for r in ranking.rows if (r.layer, r.kind, r.unit) == (layer, kind, first)), key=lambda r: r.lift).property
    start, _ = viz.figures._window(labels[prop], ranking.split, 60)
    assert fig.axes[0].get_xlabel() == f"characters {start}..{start + 59} of the traced text"
    assert viz.ranked_heatmap(tr, ranking, length=60).axes[0].get_xlabel() == fig.axes[0].get_xlabel()


def test_ngram_comparison(quoted):
    text, _ = quoted
    cut = int(len(text) * 0.8)
    comp = viz.ngram_comparison(text[:cut], text[cut:], lstm_loss=1.5, orders=(1, 3, 5), dataset="warpeace_input",
                                published=published_losses("warpeace_input"), lstm_sample="lstm text", sample_orders=(3,), sample_length=40, seed=1)
    losses = {r["order"]: r["val_loss"] for r in comp.rows}
    assert losses[None] == 1.5 and losses[5] < losses[1] == comp.unigram_loss
    assert comp.best_ngram["order"] in (3, 5)
    assert comp.loss_of_order(5) == losses[5] and comp.loss_of_order(20) is None
    assert list(comp.samples) == ["LSTM", "3-gram"] and len(comp.samples["3-gram"]) == 40
    assert [r["test loss (nats/char)"] for r in comp.published] == [1.077, 1.195]
    assert isinstance(comp, Shown) and repr(comp) == comp.plain and comp._repr_html_() == comp.html  # one protocol
    md = comp.table().markdown()
    assert md.startswith("| model |") and "5-gram" in md
    viz.check_html(f"<div>{comp._repr_html_()}{comp.samples_html()}</div>")
    assert viz.ngram_comparison(text[:cut], text[cut:], 1.0, orders=(1,), dataset="names").published == []
    assert published_losses("names") == []


def test_excerpt_starts_a_paragraph():
    text = "end of one.\n\n\nNew paragraph “here”.\n\nMore."
    assert viz.excerpt(text, 10) == "New paragr"
    assert viz.excerpt("no blank lines", 5) == "no bl"
    with pytest.raises(CharlmError):
        viz.excerpt("abc", 5, start=10)


# --------------------------------------------------------------------------- separate stretches (a striped split's)


def test_trace_pieces_runs_each_stretch_after_its_own_context(quoted):
    """Each piece is traced from its own state, set by its context: the same numbers as tracing context + text in
    one run and keeping the text's part; nothing carries from one piece into the next."""
    text, vocab = quoted
    model = quote_model(vocab)
    pieces = [(text[100:160], text[160:400]), (text[1000:1010], text[1010:1300]), ("", text[2000:2100])]
    tr = viz.trace_pieces(model, vocab, pieces)
    assert tr.text == "".join(t for _, t in pieces) and tr.starts == (0, 240, 530)
    assert tr.pieces() == [(0, 240), (240, 530), (530, 630)] and tr.piece_texts() == [t for _, t in pieces]
    for (context, piece), (a, b) in zip(pieces, tr.pieces()):
        alone = viz.trace(model, vocab, context + piece)
        keep = slice(len(context), None)
        for layer in range(2):
            np.testing.assert_allclose(tr.hidden[layer][a:b], alone.hidden[layer][keep], atol=1e-5)
            np.testing.assert_allclose(tr.cell[layer][a:b], alone.cell[layer][keep], atol=1e-5)
        np.testing.assert_allclose(tr.target_prob[a:b], alone.target_prob[keep], atol=1e-6)  # NaN where no context
    assert np.isnan(tr.target_prob[530]) and not np.isnan(tr.target_prob[240])
    assert tr.followed().tolist() == [t not in (239, 529, 629) for t in range(630)]


def test_labels_and_windows_keep_to_their_stretch():
    first, second = 'he said "never', ' mind" and left'  # a quote open at the end of the first stretch
    labels = viz.property_labels(first + second, starts=(0, len(first)))
    np.testing.assert_array_equal(labels["in_quotes"][len(first):], viz.property_labels(second)["in_quotes"])
    assert viz.property_labels(first + second)["in_quotes"][len(first)] == 1  # as one text it would run on
    y = np.array([0, 1] * 5 + [0] * 20 + [1, 0] * 3, dtype=np.float32)  # pieces of 10, 20 and 6 positions
    assert viz.figures._window(y, 0, 8, starts=(0, 10, 30)) == (0, 8)  # the changes, not across a boundary
    assert viz.figures._window(y, 12, 8, starts=(0, 10, 30)) in [(s, s + 8) for s in range(12, 23)]
    assert viz.figures._window(y, 29, 8, starts=(0, 10, 30)) == (22, 30)  # reaches back within its piece


def test_excerpts_start_paragraphs_inside_each_stretch_with_what_comes_before():
    pieces = [("ctx one ", "half a line.\n\nFirst para.\n"), ("row two before ", "x\n\nSecond one here, long.")]
    got = viz.excerpts(pieces, 30, context_chars=10)
    assert got == [(" a line.\n\n", "First para.\n"), ("before x\n\n", "Second one here, l")]
    assert sum(len(t) for _, t in got) == 30
    assert viz.excerpts(pieces, 5, context_chars=0) == [("", "First")]
    with pytest.raises(CharlmError, match="no text to excerpt"):
        viz.excerpts([("a", "")], 5, context_chars=3)


def test_ngram_comparison_scores_each_stretch_after_its_own_context(quoted):
    from charlm.analysis.ngram import NGramModel

    text, _ = quoted
    train = text[:4000]
    val = [(text[4000:4100], text[4100:4600]), (text[4900:5000], text[5000:5400])]
    test = [(text[5400:5500], text[5500:6000])]
    comp = viz.ngram_comparison(train, val, 1.4, orders=(3,), test=test, lstm_test_loss=1.5)
    vocab = sorted(set(train))
    three = NGramModel.fit(train, 3, vocab)
    assert all(ch in vocab for _, piece in val for ch in piece)
    by_hand = sum(-np.log(three.prob_dist(context + piece[:i])[vocab.index(piece[i])])
                  for context, piece in val for i in range(len(piece)))
    assert comp.loss_of_order(3) == pytest.approx(three.loss_pieces(val)) == pytest.approx(by_hand / 900)
    assert comp.loss_of_order(3, "test") == pytest.approx(three.loss_pieces(test))
    assert comp.has_test and comp.lstm_test_loss == 1.5
    row = next(r for r in comp.table().rows if r["model"] == "3-gram")
    assert row["test vs LSTM"] == pytest.approx(comp.loss_of_order(3, "test") - 1.5)
