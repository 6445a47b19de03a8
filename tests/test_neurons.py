"""Notebook 09's section: its checks and claims on the quote cell and the n-gram, and the Wikipedia and Linux
runs it traces (finding them, their held-out text, their cells)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from charlm.analysis import viz
from charlm.analysis.viz.views import _diverging
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.paper import notebook as nb
from charlm.paper import presets, results
from charlm.paper.claims import TOO_FEW
from charlm.paper.sections import neurons
from charlm.run import train
from charlm.split import Split
from charlm.trainer import TrainConfig
from charlm.vocab import Vocab
from test_viz import QUOTE_UNIT, quote_model, quoted_text


def _numbers(sentence: str) -> list[float]:
    """The numbers a sentence states, in order (thousands separators dropped)."""
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", sentence.replace(",", ""))]


def _top_row_colours(page: str) -> list[str]:
    """The background of each character of a top-k view's top row (class cv-c)."""
    root = viz.check_html(page)
    return [re.search(r"background:(#[0-9a-f]{6})", n.get("style")).group(1) for n in root.iter("span")
            if "cv-c" in (n.get("class") or "").split()]


def _guesses_per_character(page: str) -> list[int]:
    root = viz.check_html(page)
    return [sum("cv-g" in (g.get("class") or "").split() for g in column) for column in root.iter("span")
            if "cv-k" in (column.get("class") or "").split()]


@pytest.fixture(scope="module")
def quoted():
    text = quoted_text(6000)
    return text, Vocab.from_text(text)


def _section(name: str, out, checkpoint_dir=None) -> nb.Section:
    """A section as nb.setup builds it, without setup's process-wide thread setting."""
    return nb.Section(name, presets.load(name, "smoke"), out, None, None, 123, {}, checkpoint_dir)


def _checkpoint(folder):
    """What find_checkpoint recognises as a checkpoint: a folder with a config.json."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")


def test_runs_are_found_where_their_sections_write_them(tmp_path):
    """09 looks for 04's and 06's runs through Section: <output_dir>/runs/<profile>/<section>, the newest of a
    section's run folders, or <checkpoint_dir>/<section>; an empty folder or one of another profile is no run."""
    out, ck = tmp_path / "out", tmp_path / "ck"
    sec = _section("09_neurons", out)
    wiki = sec.sibling("04_wikipedia")
    assert wiki.run_dir == out / "runs" / "smoke" / "04_wikipedia" and wiki.latest_run() is None
    _checkpoint(out / "runs" / "04_wikipedia" / "best")  # the layout before runs were kept per profile
    _checkpoint(out / "runs" / "cpu" / "04_wikipedia" / "best")  # another profile's run
    (out / "runs" / "smoke" / "04_wikipedia").mkdir(parents=True)  # empty: no checkpoint, not a run
    assert wiki.latest_run() is None
    _checkpoint(out / "runs" / "smoke" / "04_wikipedia" / "last")
    assert wiki.latest_run() == out / "runs" / "smoke" / "04_wikipedia"
    _checkpoint(out / "runs" / "smoke" / "04_wikipedia.2" / "best")  # a later run with other settings
    os.utime(out / "runs" / "smoke" / "04_wikipedia" / "last", (1, 1))
    assert wiki.latest_run() == out / "runs" / "smoke" / "04_wikipedia.2"
    _checkpoint(ck / "06_linux" / "last")
    assert sec.sibling("06_linux").latest_run() is None
    assert _section("09_neurons", out, ck).sibling("06_linux").latest_run() == ck / "06_linux"
    shown = neurons.search_table({}, sec)
    assert shown.data == [] and "runs/smoke" in shown.plain


def test_trace_run_on_a_real_checkpoint(tmp_path, monkeypatch):
    text = ('/* a comment here */ int f(int x) { if (x > 0) { puts("positive"); } return (x + 1); }\n' * 120)
    data_file = tmp_path / "data" / "linux" / "input.txt"
    data_file.parent.mkdir(parents=True)
    data_file.write_text(text, encoding="utf-8")
    monkeypatch.setattr(nb.datasets, "path", lambda name, mirror=None, progress=False: data_file)
    monkeypatch.setattr(nb.datasets, "meta", lambda name: {})
    run_dir = tmp_path / "runs" / "06_linux"
    train(text, run_dir, {"model": "lstm", "num_layers": 1, "rnn_size": 16, "embedding_size": 0},
          TrainConfig(batch_size=4, seq_length=32, max_iters=30, eval_interval=30), fractions=(0.8, 0.1, 0.1),
          progress="none", source="linux")
    run = neurons.trace_run("06_linux", run_dir, chars=500)
    cut = int(0.8 * len(text)), int(0.9 * len(text))
    assert run.trace.text == viz.excerpt(text[cut[0]:cut[1]], 500)  # the validation split of the text it trained on
    assert set(run.labels) == set(neurons.SEARCHES["06_linux"])
    table = neurons.search_table({"06_linux": run}, _section("09_neurons", tmp_path))
    assert [r["property"] for r in table.rows] == list(neurons.SEARCHES["06_linux"])
    assert all(r["best cell"] is not None for r in table.rows)  # every property occurs often enough in this code
    # the combined view: the text coloured by the comment cell's activation, its top-5 guesses under each character
    best = run.ranking.best()["in_comment"]
    combined = neurons.combined_view(run.trace, run.ranking, "in_comment", stop=40)
    values = run.trace.unit(best.layer, best.unit, best.kind)
    assert _top_row_colours(combined) == [_diverging(float(v)) for v in values[:40]]
    assert _guesses_per_character(combined) == [5] * 40
    # the top-k shares, counted another way: the character that came had the first guess's (or the k-th
    # guess's) probability or more
    shares, tr = neurons.topk_shares(run.trace), run.trace
    came, top = tr.target_prob[1:], tr.topk_probs[:-1]
    assert shares["positions"] == len(tr) - 1 and shares["k"] == 5
    assert shares["first"] == pytest.approx(float((came >= top[:, 0] - 1e-6).mean()))
    assert shares["in_top"] == pytest.approx(float((came >= top[:, 4] - 1e-6).mean()))
    assert shares["confident"] == pytest.approx(float((top[:, 0] > neurons.EXTREMELY_CONFIDENT).mean()))
    found = run.ranking.interpretable(neurons.MIN_BALANCED_ACCURACY, neurons.MIN_CORRELATION, kind="cell")
    assert _numbers(neurons.interpretable_sentence(run.ranking))[:3] == [found["count"], found["total"],
                                                                         round(100 * found["share"], 1)]
    data_file.write_text("something else entirely " * 200, encoding="utf-8")
    with pytest.raises(CharlmError, match="differs from the one the checkpoint trained on"):
        neurons.trace_run("06_linux", run_dir, chars=500)


def test_other_claims_grade_the_scored_cells_at_the_bar():
    def row(model, prop, score, chance, cell="layer 0 cell 3"):
        return {"model": model, "property": prop, "characters traced": 4000, "held-out spans": neurons.MIN_SPANS,
                "best cell": cell, "held-out score": score, "chance": chance,
                "beats chance": score - chance > neurons.BEATS_CHANCE}

    bar, depth_bar, spans = neurons.MIN_BALANCED_ACCURACY, neurons.MIN_CORRELATION, neurons.MIN_SPANS
    rows = [row("04_wikipedia", "in_wiki_link", bar, 0.5),  # at the bar, well above chance: held
            row("04_wikipedia", "in_www", bar - 0.01, 0.5),  # above chance, below the bar: partly
            row("06_linux", "bracket_depth", depth_bar, 0.08),  # depth is judged on correlation: held
            row("06_linux", "in_comment", 0.52, 0.51),  # not above chance: not
            row("06_linux", "brace_depth", 0.9, 0.1),  # searched, but nobody said it: no claim
            {**row("04_wikipedia", "in_url", 0.0, 0.0, cell=None), "held-out score": None}]  # too rare: no claim
    graded = neurons.other_claims(rows)
    assert [(c.verdict, c.value, c.n) for c in graded] == [
        ("held", bar, spans), ("partly", bar - 0.01, spans), ("held", depth_bar, spans), ("not", 0.52, spans)]
    assert graded[0].said == neurons.CELLS_SAID[("04_wikipedia", "in_wiki_link")].text and graded[0].quoted
    assert not graded[2].quoted  # the paper's Linux cells are described in our words


def test_section_claims_on_the_quote_cell_and_the_share_of_interpretable_cells(quoted, tmp_path):
    text, vocab = quoted
    tr = viz.trace(quote_model(vocab), vocab, text)
    ranking = viz.rank_cells(tr, viz.property_labels(text))
    cut = int(len(text) * 0.8)
    comp = viz.ngram_comparison(text[:cut], text[cut:], lstm_loss=1.0, orders=(1, 5))
    files = neurons.save_views({"cell": viz.cell_html(tr, 0, QUOTE_UNIT, stop=200)}, _section("09_neurons", tmp_path))
    assert files == {"cell": str(tmp_path / "figures" / "09_neurons_cell.html")}
    assert all(r["ok"] for r in neurons.checks(ranking, comp, files).rows)
    labels = viz.property_labels(text)
    beats, quote, line, share = neurons.claims(comp, ranking, labels, len(text) - cut)
    best = ranking.best()["in_quotes"]
    assert (quote.verdict, quote.value, quote.n) == ("held", best.score, neurons.held_out_events(
        labels["in_quotes"], ranking.split)) and best.unit == QUOTE_UNIT and quote.n >= neurons.MIN_QUOTATIONS
    assert line.n == text[ranking.split:].count("\n") and beats.n == len(text) - cut
    interp = ranking.interpretable(neurons.MIN_BALANCED_ACCURACY, neurons.MIN_CORRELATION, kind="cell")
    assert (share.value, share.n) == (interp["share"], 32) and interp["count"] >= 1
    assert share.verdict == TOO_FEW  # 32 cells: fewer than a share of them can say anything about
    (tmp_path / "broken.html").write_text("<div><span></div>", encoding="utf-8")
    with pytest.raises(CharlmError, match="not well-formed"):
        neurons.checks(ranking, comp, {"broken": str(tmp_path / "broken.html")})
    torch.manual_seed(3)
    random_model = CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=16, num_layers=1)).eval()
    weak = viz.rank_cells(viz.trace(random_model, vocab, text), viz.property_labels(text))
    checks = neurons.checks(weak, comp, files)  # a claim that fails is a negative result, not an error
    assert [r["ok"] for r in checks.rows if r["claim"].startswith("the best quote cell")] == [False]
    quote = neurons.claims(comp, weak, labels, len(text) - cut)[1]
    assert (quote.verdict, quote.value) == ("not", weak.best()["in_quotes"].score)


def test_lstm_vs_ngram_says_plainly_who_wins(quoted):
    text, _ = quoted
    cut = int(len(text) * 0.8)
    strong = viz.ngram_comparison(text[:cut], text[cut:], lstm_loss=0.01, orders=(1, 5))
    five = strong.loss_of_order(5)
    sentence, claim = neurons.lstm_vs_ngram(strong)
    assert (claim.verdict, claim.value) == ("held", pytest.approx(five - 0.01))
    assert _numbers(sentence)[:3] == [5, 0.01, round(five, 3)]  # the 5-gram, the LSTM's loss and the 5-gram's
    weak = viz.ngram_comparison(text[:cut], text[cut:], lstm_loss=50.0, orders=(1, 5))
    sentence, claim = neurons.lstm_vs_ngram(weak)
    assert (claim.verdict, claim.value) == ("not", pytest.approx(five - 50.0))
    published = viz.ngram_comparison(text[:cut], text[cut:], lstm_loss=50.0, orders=(1, 5), dataset="warpeace_input",
                                     published=results.published_losses("warpeace_input"))
    stated = _numbers(neurons.lstm_vs_ngram(published)[0])
    assert {1.077, 1.195} <= set(stated)  # the paper's LSTM and 20-gram on War and Peace, beside ours


def test_09_shows_the_cells_of_the_runs_04_and_06_trained(tmp_path):
    """The defect of issue 17: 04 and 06 had run, and 09 showed none of their cells. Here 04 and 06 train (a few
    iterations, smoke data) as their notebooks do, and 09 must trace both and grade a cell of each."""
    mirror = os.environ.get("CHARLM_DATA_MIRROR")
    if not mirror or not (Path(mirror) / "MANIFEST.tsv").is_file():
        pytest.skip("set CHARLM_DATA_MIRROR to the offline data mirror to train on the real corpora")
    tiny = {"max_iters": 20, "eval_interval": 20, "rnn_size": 32, "num_layers": 1}
    for name in neurons.SEARCHES:
        sec = nb.Section(name, presets.load(name, "smoke"), tmp_path, None, mirror, 123, tiny)
        sec.train(nb.load_corpus(sec.preset.datasets, mirror, sec.preset.max_chars, sec.preset.fractions))
    found = neurons.other_runs(_section("09_neurons", tmp_path), chars=4000)
    assert {name: run.path for name, run in found.items()} == {
        name: tmp_path / "runs" / "smoke" / name for name in neurons.SEARCHES}
    table = neurons.search_table(found, _section("09_neurons", tmp_path))
    graded = neurons.other_claims(table.rows)
    assert {r["model"] for r in table.rows} == set(neurons.SEARCHES)
    said = [r for r in table.rows if r["best cell"] is not None and (r["model"], r["property"]) in neurons.CELLS_SAID]
    assert {r["model"] for r in said} == set(neurons.SEARCHES) and len(graded) == len(said)  # a graded cell of each


def test_09_looks_inside_08s_run_and_names_the_command_without_it(tmp_path, monkeypatch, capsys):
    """The post's evolution and neuron figures come from one model: 09 loads 08's run (its best weights, the text
    cut as that run cut it) and trains nothing; without one it says, in one line, how to make it."""
    text = quoted_text(30_000)
    data_file = tmp_path / "data" / "warpeace_input" / "input.txt"
    data_file.parent.mkdir(parents=True)
    data_file.write_text(text, encoding="utf-8")
    monkeypatch.setattr(nb.datasets, "path", lambda name, mirror=None, progress=False: data_file)
    monkeypatch.setattr(nb.datasets, "meta", lambda name: {})
    out = tmp_path / "out"
    with pytest.raises(CharlmError) as err:
        neurons.evolution_run(_section("09_neurons", out))
    assert str(err.value).count("\n") == 0 and (
        f"run notebook 08 first (python -m charlm.reproduce --profile smoke --only 08 --output {out})" in str(err.value))
    tiny = {"max_iters": 12, "eval_interval": 6, "rnn_size": 16, "batch_size": 8, "seq_length": 16}
    evolution = nb.Section("08_evolution", presets.load("08_evolution", "smoke"), out, None, None, 123, tiny)
    trained = evolution.train(evolution.corpus())
    run, corpus = neurons.evolution_run(_section("09_neurons", out))
    assert run.loaded_from == out / "runs" / "smoke" / "08_evolution" / "best"
    assert corpus.text == text and corpus.split_spec == Split("striped", (0.8, 0.1, 0.1), 8, 16)
    assert corpus.split_note == ""  # the preset's note is about its own split (32 x 32), not this run's
    assert (run.best_iteration, run.val_loss) == (trained.best_iteration, trained.val_loss)
    assert run.test_loss() == pytest.approx(trained.test_loss(), rel=1e-6)
    # traced stripe by stripe: every traced stretch lies inside one validation stripe of the run's split
    tr = neurons.trace_held_out(run, corpus, chars=1500)
    stripes = [(p.start, p.end) for p in corpus.split_spec.pieces(len(text))["val"]]
    for piece in tr.piece_texts():
        assert any(piece in text[a:b] for a, b in stripes)
    assert len(tr.starts) > 1  # 1,500 characters span several stripes of 8 x 16 ... chunks
