"""Tracing the Wikipedia and Linux runs from notebook 09: finding them, their held-out text, their cells."""

from __future__ import annotations

import pytest

from charlm.analysis import viz
from charlm.analysis.viz import others
from charlm.errors import CharlmError
from charlm.run import train
from charlm.trainer import TrainConfig


def test_find_runs_in_output_or_checkpoint_dir(tmp_path):
    (tmp_path / "out" / "runs" / "04_wikipedia" / "best").mkdir(parents=True)
    (tmp_path / "ck" / "06_linux" / "last").mkdir(parents=True)
    (tmp_path / "out" / "runs" / "06_linux").mkdir(parents=True)  # empty: no checkpoint, not a run
    found = others.find_runs(tmp_path / "out", tmp_path / "ck")
    assert found == {"04_wikipedia": tmp_path / "out" / "runs" / "04_wikipedia", "06_linux": tmp_path / "ck" / "06_linux"}
    assert others.find_runs(tmp_path / "nothing") == {}
    shown = others.search_table({}, tmp_path / "nothing")
    assert "run notebooks 04 and 06 first" in repr(shown)


def test_trace_run_on_a_real_checkpoint(tmp_path, monkeypatch):
    text = ("/* a comment here */ int f(int x) { return (x + 1); }\n" * 120)
    data_dir = tmp_path / "data" / "linux"
    data_dir.mkdir(parents=True)
    (data_dir / "input.txt").write_text(text, encoding="utf-8")
    monkeypatch.setattr(others.datasets, "path", lambda name, mirror=None, progress=False: data_dir / "input.txt")
    run_dir = tmp_path / "runs" / "06_linux"
    train(text, run_dir, {"model": "lstm", "num_layers": 1, "rnn_size": 16, "embedding_size": 0},
          TrainConfig(batch_size=4, seq_length=32, max_iters=30, eval_interval=30), fractions=(0.8, 0.1, 0.1),
          progress="none", source="linux")
    run = others.trace_run("06_linux", run_dir, chars=500)
    assert len(run.trace) <= 500 and set(run.labels) == {"in_comment", "bracket_depth", "brace_depth"}
    table = others.search_table({"06_linux": run}, tmp_path)
    assert [r["property"] for r in table.rows] == ["in_comment", "bracket_depth", "brace_depth"]
    # the combined view: text coloured by the comment cell, top-5 guesses under each character
    best = run.ranking.best().get("in_comment") or next(iter(run.ranking.best().values()))
    page = viz.topk_html(run.trace, stop=60, cell=(best.layer, best.unit, best.kind))
    viz.check_html(page)
    assert "coloured by layer" in page
    said = viz.topk_sentence(run.trace)
    assert said.startswith(f"Over {len(run.trace) - 1:,} held-out characters") and "among its top 5" in said
    combined = viz.combined_view(run.trace, run.ranking, "in_comment", stop=40)
    viz.check_html(combined)
    assert "top-5 guesses below" in combined
    assert "cells (" in viz.interpretable_sentence(run.ranking) and "about 5%" in viz.interpretable_sentence(run.ranking)
    (data_dir / "input.txt").write_text("something else entirely " * 200, encoding="utf-8")
    with pytest.raises(CharlmError, match="differs from the one the checkpoint trained on"):
        others.trace_run("06_linux", run_dir, chars=500)


def test_claim_rows_grade_the_scored_cells():
    rows = [{"model": "04_wikipedia", "property": "in_wiki_link", "best cell": "layer 0 cell 3", "held-out score": 0.94,
             "chance": 0.5, "beats chance": True, "note": ""},
            {"model": "06_linux", "property": "bracket_depth", "best cell": "layer 1 cell 7", "held-out score": 0.24,
             "chance": 0.08, "beats chance": True, "note": ""},
            {"model": "06_linux", "property": "in_comment", "best cell": "layer 0 cell 1", "held-out score": 0.52,
             "chance": 0.51, "beats chance": False, "note": ""},
            {"model": "04_wikipedia", "property": "in_url", "best cell": None, "held-out score": None, "chance": None,
             "beats chance": False, "note": "too few positions"}]
    graded = viz.other_claim_rows(rows)
    assert [r["verdict"] for r in graded] == ["held", "partly", "not"]  # the unscored URL cell gives no row
    assert graded[0]["claim"].startswith("wikipedia model: gets very excited") and "0.940" in graded[0]["ours"]
