import json
import math
import re

import pytest

from charlm.paper import results
from charlm.errors import CharlmError
from charlm.paper.results import PUBLISHED, load_all, record, write_summary
from charlm.analysis.textstats import novelty


def metrics(section="05_linux", **overrides):
    base = {
        "section": section,
        "dataset": "linux",
        "model": {"model": "lstm", "num_layers": 3, "rnn_size": 512, "vocab_size": 97, "n_params": 5_412_321},
        "params": {"batch_size": 50, "seq_length": 100, "lr": 2e-3, "steps": 1000},
        "train_seconds": 125.0,
        "device": "cpu",
        "val_loss": 1.2,
        "test_loss": 1.25,
        "samples": ["static int f(void)\n{\n\treturn 0;\n}\n"],
    }
    base.update(overrides)
    return results.Record(**base)


def test_published_entries_are_complete():
    for key, entry in PUBLISHED.items():
        assert {"dataset", "metric", "value", "unit", "source", "cite", "what", "split"} <= set(entry), key
        assert entry["unit"] in ("nats/char", "bits/char", "fraction")
    assert PUBLISHED["graves2013_enwik8"]["value"] == 1.67
    assert PUBLISHED["kjf2015_lstm_warandpeace"]["value"] == 1.077
    assert PUBLISHED["nanogpt_shakespeare_char"]["value"] == 1.4697


def test_record_writes_atomically_and_adds_bits(tmp_path):
    path = record(metrics(), tmp_path)
    assert path == tmp_path / "results" / "05_linux.json"
    rec = json.loads(path.read_text())
    assert rec["section"] == "05_linux"
    assert rec["val_bits"] == pytest.approx(1.2 / math.log(2))
    assert rec["test_bits"] == pytest.approx(1.25 / math.log(2))
    assert rec["partial_data"] is False and rec["extra"] == {}
    assert [p.name for p in path.parent.iterdir()] == ["05_linux.json"]  # no temp files left behind
    # Rewriting replaces the record.
    record(metrics(val_loss=1.1), tmp_path)
    assert load_all(tmp_path)[0]["val_loss"] == 1.1


def test_record_accepts_textstats_results_and_no_test_loss(tmp_path):
    path = record(metrics("06_names", dataset="names", test_loss=None,
                                      extra={"novelty": novelty(["Rudi\nAnna"], {"Anna"})}), tmp_path)
    rec = json.loads(path.read_text())
    assert rec["test_loss"] is None and rec["test_bits"] is None
    assert rec["extra"]["novelty"]["rate"] == 0.5


@pytest.mark.parametrize("bad, fragment", [
    ({"val_loss": float("nan")}, "val_loss of 05_linux is nan"),
    ({"test_loss": float("inf")}, "test_loss of 05_linux is inf"),
    ({"train_seconds": float("nan")}, "train_seconds of 05_linux is nan"),
])
def test_record_refuses_losses_that_are_not_finite(tmp_path, bad, fragment):
    with pytest.raises(CharlmError, match=re.escape(fragment)) as err:
        record(metrics(**bad), tmp_path)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "results" / "05_linux.json").exists()


def test_record_refuses_extra_that_is_not_json(tmp_path):
    with pytest.raises(CharlmError, match="NaN"):
        record(metrics(extra={"x": float("nan")}), tmp_path)
    assert not (tmp_path / "results" / "05_linux.json").exists()


def test_load_all_reports_corrupt_file(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bad.json").write_text("{not json")
    with pytest.raises(CharlmError, match="bad.json"):
        load_all(tmp_path)


def test_comparison_status():
    linux = metrics(extra={"split": "90/5/5"}).to_json()
    [lstm, ngram] = results.published_for(linux)
    assert lstm["status"] == "comparable" and lstm["ours"] == 1.25
    assert ngram["published"] == 0.889

    enwik = metrics("03_wiki", dataset="wikipedia", partial_data=True, data_subset="first 10^6 bytes only").to_json()
    [graves] = results.published_for(enwik)
    assert graves["status"] == "not comparable" and "first 10^6 bytes only" in graves["reasons"][0]
    assert graves["ours"] == pytest.approx(1.25 / math.log(2)) and graves["ours_unit"] == "bits/char"

    wp = metrics("04_wp", dataset="warandpeace", test_loss=None).to_json()
    lstm = results.published_for(wp)[0]
    assert lstm["status"] == "indicative"
    assert "our validation vs their test figure" in lstm["reasons"]
    assert any("split not recorded" in r for r in lstm["reasons"])

    names = metrics("06_names", dataset="names", extra={"novel_rate": 0.8}).to_json()
    assert results.published_for(names)[0]["ours"] == 0.8
    assert results.published_for(metrics("x", dataset="my_poems").to_json()) == []


def test_write_summary_table_and_samples(tmp_path):
    record(metrics("03_wikipedia", dataset="wikipedia", partial_data=True, data_subset="first 10^6 bytes only",
                                   model={"type": "lstm|big", "n_params": 1200},
                                   samples=["a ``` fence\n| pipe | row\n````\n" + "x" * 500]), tmp_path)
    record(metrics(notes="kernel run"), tmp_path)
    md_path, json_path = write_summary(tmp_path)
    md = md_path.read_text()
    table = [line for line in md.split("## Samples")[0].splitlines() if line.startswith("| ")]
    assert len(table) == 3  # header + two sections
    header_cells = len(re.split(r"(?<!\\)\|", table[0]))
    for row in table[1:]:
        assert len(re.split(r"(?<!\\)\|", row)) == header_cells  # escaped pipes did not add columns
    wiki_row = next(r for r in table if r.startswith("| 03_wikipedia"))
    assert "first 10^6 bytes only" in wiki_row and "PARTIAL DATA" in wiki_row
    assert "LSTM\\|BIG" in wiki_row
    assert "not comparable" in wiki_row and "1.67 bits/char" in wiki_row
    linux_row = next(r for r in table if r.startswith("| 05_linux"))
    assert "LSTM 3×512, 5.41M params" in linux_row and "2 min 05 s" in linux_row
    assert "1.200 (1.731)" in linux_row and "0.84 nats/char (best LSTM, test set; Karpathy et al. 2015)" in linux_row
    assert "| pipe | row" in md.split("## Samples")[1]  # inside the fence, untouched
    # The sample with a 4-backtick run is fenced with 5, and long lines are cut.
    assert "`````text\na ``` fence" in md
    assert "x" * 160 + " …" in md and "x" * 161 not in md
    run_rows = [line for line in md.split("## The run")[1].splitlines() if line.startswith("| 05_linux")]
    assert len(run_rows) == 1 and "| 2 min 05 s |" in run_rows[0]  # where and how long each section ran

    summary = json.loads(json_path.read_text())
    assert [r["section"] for r in summary["sections"]] == ["03_wikipedia", "05_linux"]
    assert summary["sections"][0]["partial_data"] is True
    assert "graves2013_enwik8" in summary["published"]


def test_summary_lists_the_posts_claims_with_ours_beside_them(tmp_path):
    temperature = {"claim": "higher temperatures will give more diversity", "link": "https://x/#t",
                   "ours": "invented words 2% -> 30% | real 1%", "verdict": "held"}
    c_code = {"claim": "uses undefined variables", "link": "https://x/#c", "ours": "40%", "verdict": "partly"}
    record(metrics("02_paul_graham", dataset="paulgraham", extra={"temperature": {"claims": [temperature]}}), tmp_path)
    record(metrics("06_linux", extra={"claims": [c_code]}), tmp_path)
    record(metrics("07_names", dataset="names"), tmp_path)
    md = write_summary(tmp_path)[0].read_text()
    rows = [line for line in md.split("## The post's claims, measured")[1].split("## Samples")[0].splitlines()
            if line.startswith("| ")]
    assert rows[0] == "| Section | The post | Ours | Verdict |" and len(rows) == 3
    assert rows[1] == ("| 02_paul_graham | [“higher temperatures will give more diversity”](https://x/#t) | "
                       "invented words 2% -> 30% \\| real 1% | held |")
    assert rows[2].startswith("| 06_linux |") and rows[2].endswith("| partly |")
    assert "The post's claims" not in write_summary(tmp_path / "empty")[0].read_text()


def test_write_summary_without_records(tmp_path):
    md_path, json_path = write_summary(tmp_path)
    assert "No results recorded yet" in md_path.read_text()
    assert json.loads(json_path.read_text())["sections"] == []


def test_terminal_table(tmp_path):
    record(metrics(), tmp_path)
    text = results.terminal_table(results.summary_rows(load_all(tmp_path)))
    assert text.splitlines()[0].startswith("section")
    assert "05_linux" in text and "1.200 (1.731)" in text


def test_published_20gram_is_set_beside_our_20gram_not_our_lstm():
    from charlm.paper.results import published_for

    rec = {"dataset": "warandpeace", "test_loss": 1.5, "val_loss": 1.4, "extra": {"split": "80/10/10"}}
    by_key = {row["key"]: row for row in published_for(rec)}
    assert by_key["kjf2015_lstm_warandpeace"]["ours"] == 1.5
    assert by_key["kjf2015_20gram_warandpeace"]["ours"] is None
    assert by_key["kjf2015_20gram_warandpeace"]["status"] == "not comparable"
    rec["extra"]["ngram20_loss"] = 1.25
    row = {r["key"]: r for r in published_for(rec)}["kjf2015_20gram_warandpeace"]
    assert row["ours"] == 1.25 and row["status"] == "indicative"
