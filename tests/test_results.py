import json
import math
import os
import re
from dataclasses import replace

import pytest

from pathlib import Path

from charlm.analysis.textstats import novelty
from charlm.errors import CharlmError
from charlm.paper import results
from charlm.paper.claims import Claim, Said
from charlm.paper.results import PUBLISHED, Record, load_all, record, write_summary
from charlm.split import Split

ROOT = Path(__file__).resolve().parents[1]


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
    from charlm import datasets

    for key, entry in PUBLISHED.items():
        assert set(entry) == {"data", "file", "sha256", "split", "fractions", "measure", "context", "value", "unit",
                              "source", "cite", "what"}, key
        assert entry["unit"] in ("nats/char", "bits/char", "fraction") and entry["measure"] in results.MEASURES
        assert entry["data"] and all(name in datasets.NAMES for name in entry["data"]), key
        assert entry["split"] in ("contiguous", "striped", None)
    assert PUBLISHED["graves2013_enwik8"]["value"] == 1.67
    assert PUBLISHED["kjf2015_lstm_warandpeace"]["value"] == 1.077
    assert PUBLISHED["nanogpt_shakespeare_char"]["value"] == 1.4697
    # 1.077 is the paper's best model: the source we have does not say it is an LSTM
    assert "best model" in PUBLISHED["kjf2015_lstm_warandpeace"]["what"]
    assert not any("best LSTM" in e["what"] for e in PUBLISHED.values())


def test_the_papers_file_is_the_mirrors_warpeace_input():
    """The sha256 the paper's entries carry is the one MANIFEST.tsv (and charlm.datasets) pin for char-rnn's file,
    and tiny Shakespeare's is char-rnn's input.txt's: the status rule reads them, so they must be the real ones."""
    from charlm.datasets.sources import SOURCES

    assert SOURCES["warpeace_input"].text_sha256 == results.WARPEACE_INPUT_SHA256
    manifest = Path(os.environ.get("CHARLM_DATA_MIRROR") or "/nonexistent") / "MANIFEST.tsv"
    if not manifest.is_file():
        pytest.skip("set CHARLM_DATA_MIRROR to the offline mirror to check its MANIFEST.tsv")
    rows = {r.split("\t")[0]: r.split("\t") for r in manifest.read_text().splitlines()[1:] if r}
    assert rows["warpeace_input"][4] == results.WARPEACE_INPUT_SHA256
    assert rows["tinyshakespeare"][4] == results.TINYSHAKESPEARE_SHA256


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
    assert load_all(tmp_path)[0].val_loss == 1.1


def test_a_record_round_trips_through_json_with_its_claims(tmp_path):
    said = Said("It is also very good at making very few syntactic errors.", "https://x/#linux")
    claim = Claim.of(said, "3.1 errors per 100 lines", "partly", "held at <= 1.5 x real code's", value=2.0, n=412)
    rec = metrics(claims=[claim], extra={"split": "90/5/5", "nested": {"a": [1, 2]}}, notebook_seconds=12.5,
                  precision="fp32", data_sha256="ab" * 32, split=Split("striped", (0.8, 0.1, 0.1), 100, 100),
                  best_iteration=700)
    path = record(rec, tmp_path)
    assert results.read(path) == rec and load_all(tmp_path) == [rec]
    written = json.loads(path.read_text())
    assert written["claims"] == [claim.to_json()] and "claims" not in written["extra"]
    assert written["split"] == {"kind": "striped", "fractions": [0.8, 0.1, 0.1], "rows": 100, "chunk": 100}
    assert (written["precision"], written["data_sha256"], written["best_iteration"]) == ("fp32", "ab" * 32, 700)
    results.add_fields(path, notebook_seconds=20.0)
    assert results.read(path).notebook_seconds == 20.0 and results.read(path).claims == [claim]
    with pytest.raises(CharlmError, match="no field"):
        results.add_fields(path, wall=3)
    (tmp_path / "results" / "odd.json").write_text(json.dumps({**written, "colour": "red"}))
    with pytest.raises(CharlmError, match=r"odd.json has unknown field\(s\) \['colour'\]"):
        load_all(tmp_path)


def test_a_record_written_before_claims_were_typed_still_loads(tmp_path):
    """The old format: claims as dicts in extra (extra["claims"], or a measure's "claim"/"claims"), no "claims"
    field. Each is read once, in that order; a paraphrase was marked by its leading parenthesis."""
    old = {"claim": "(the paper, in our words) x", "link": "https://p", "ours": "o", "verdict": "partly", "share": 0.1}
    quote = {"claim": "q", "link": "https://x/#t", "ours": "o2", "verdict": "held"}
    written = {k: v for k, v in metrics().to_json().items() if k != "claims"}
    written["extra"] = {"claims": [old], "temperature": {"claims": [quote]}, "loop": {"claim": old}, "other": 3}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "05_linux.json").write_text(json.dumps(written))
    [rec] = load_all(tmp_path)
    assert [(c.said, c.quoted, c.verdict) for c in rec.claims] == [(old["claim"], False, "partly"), ("q", True, "held")]
    assert rec.extra["other"] == 3


def test_a_record_written_before_claims_were_typed_reads_them_from_extra():
    data = metrics("06_linux").to_json()
    del data["claims"]
    data["extra"] = {"syntax": {"claim": {"claim": "x", "link": "https://arxiv.org/abs/1506.02078", "ours": "o",
                                          "verdict": "partly"}}}
    assert [(c.said, c.verdict) for c in Record.from_json(data).claims] == [("x", "partly")]


@pytest.mark.parametrize("profile", ["cpu"])
def test_the_committed_records_load_with_every_claim(profile, tmp_path):
    """outputs/<profile>/results/*.json: each loads, with as many claims as it holds claim dicts (one "verdict" key
    each), reads back as written, and their summary renders, readable by the README's generator."""
    from charlm.paper import readme

    committed = sorted((ROOT / "outputs" / profile / "results").glob("*.json"))
    assert committed
    for path in committed:
        rec = results.read(path)
        assert rec.section == path.stem and len(rec.claims) == path.read_text().count('"verdict"')
        assert Record.from_json(json.loads(json.dumps(rec.to_json()))) == rec
    out = tmp_path / "outputs" / profile
    (out / "results").mkdir(parents=True)
    for path in committed:
        (out / "results" / path.name).write_bytes(path.read_bytes())
    md = write_summary(out)[0].read_text()
    table = md.split("## The post's claims, measured")[1].split("## Samples")[0].splitlines()
    claim_rows = len([line for line in table if line.startswith("| ")]) - 1  # the header
    assert claim_rows == sum(len(r.claims) for r in load_all(out))
    block = readme.block(tmp_path / "outputs")
    assert all(f"[{path.stem}](outputs/{profile}/{path.stem}.ipynb)" in block for path in committed)


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


def _status(rec, key):
    return {c["key"]: c for c in results.published_for(rec)}[key]


WP = results.WARPEACE_INPUT_SHA256


def test_comparable_only_when_file_split_and_measure_match_the_papers():
    same = metrics("08_evolution", dataset="warpeace_input", test_loss=1.245, data_sha256=WP,
                   split=Split("striped", (0.8, 0.1, 0.1), 100, 100), extra={"split": "80/10/10"})
    c = _status(same, "kjf2015_lstm_warandpeace")
    assert (c["status"], c["reasons"], c["ours"]) == ("comparable", [], 1.245)
    assert c["gap"] == pytest.approx(1.245 - 1.077)
    assert results.gap_text(c) == "ours 1.245, theirs 1.077 nats/char: +0.168"
    # the fractions the paper does not give are said beside the status, not weighed by it
    assert results.status_text(c) == "comparable (their fractions are not given; ours 80/10/10)"
    # each part that differs makes it indicative, with that part named
    contiguous = _status(replace(same, split=Split("contiguous", (0.9, 0.05, 0.05))), "kjf2015_lstm_warandpeace")
    assert (contiguous["status"], contiguous["reasons"]) == (
        "indicative", ["another split (ours contiguous 80/10/10, theirs striped)"])
    unknown = _status(replace(same, data_sha256=""), "kjf2015_lstm_warandpeace")
    assert (unknown["status"], unknown["reasons"]) == ("indicative", ["our text's sha256 not recorded"])
    edited = _status(replace(same, data_sha256="ab" * 32), "kjf2015_lstm_warandpeace")
    assert edited["status"] == "indicative" and edited["reasons"] == [
        f"our warpeace_input text is not theirs (sha256 {'ab' * 6}, theirs {WP[:12]})"]
    gutenberg = _status(replace(same, dataset="warandpeace", data_sha256="cd" * 32), "kjf2015_lstm_warandpeace")
    assert gutenberg["status"] == "indicative"
    assert gutenberg["reasons"] == [
        "another file of the same text (ours warandpeace, theirs char-rnn's warpeace_input.txt)"]
    no_test = _status(replace(same, test_loss=None, val_loss=1.2), "kjf2015_lstm_warandpeace")
    assert (no_test["status"], no_test["ours"], no_test["reasons"]) == (
        "indicative", 1.2, ["our validation vs their test figure"])


def test_not_comparable_on_part_of_the_data_or_without_the_measure():
    part = metrics("10_comparison", dataset="warpeace_input", data_sha256=WP, split=Split("striped", (0.8, 0.1, 0.1), 100, 100),
                   partial_data=True, data_subset="first 2,000,000 characters")
    c = _status(part, "kjf2015_lstm_warandpeace")
    assert c["status"] == "not comparable" and c["reasons"] == ["partial data: first 2,000,000 characters"]
    whole = replace(part, partial_data=False, data_subset="")
    ngram = _status(whole, "kjf2015_20gram_warandpeace")  # our 20-gram was never set beside it: never our LSTM
    assert (ngram["status"], ngram["ours"], ngram["gap"]) == ("not comparable", None, None)
    assert ngram["reasons"][0].endswith("not recorded") and results.gap_text(ngram).endswith("ours not measured")
    on_val = _status(replace(whole, extra={"ngram20_loss": 1.25}), "kjf2015_20gram_warandpeace")
    assert (on_val["status"], on_val["ours"]) == ("indicative", 1.25)
    on_test = _status(replace(whole, extra={"ngram20_test_loss": 1.22, "ngram20_loss": 1.25}),
                      "kjf2015_20gram_warandpeace")
    assert (on_test["status"], on_test["ours"], on_test["gap"]) == ("comparable", 1.22, pytest.approx(1.22 - 1.195))


def test_status_of_the_other_published_figures():
    linux = _status(metrics(extra={"split": "90/5/5"}, split=Split("contiguous", (0.9, 0.05, 0.05)), data_sha256="e" * 64),
                    "kjf2015_lstm_linux")
    assert linux["status"] == "indicative" and linux["reasons"] == [
        "their file's sha256 is not known here (the whole Linux 4.0 source tree, concatenated)",
        "another split (ours contiguous 90/5/5, theirs striped)"]

    enwik = metrics("04_wikipedia", dataset="wikipedia", extra={"split": "90/5/5 of the bytes"})
    graves = _status(enwik, "graves2013_enwik8")  # Wikipedia's figure is in bits/char: ours is converted
    assert graves["ours"] == pytest.approx(1.25 / math.log(2)) and graves["ours_unit"] == "bits/char"
    assert graves["status"] == "indicative" and graves["reasons"][1] == (
        "other fractions (ours 90/5/5 of the bytes, theirs 96/4 of the bytes)")
    partial = _status(replace(enwik, partial_data=True, data_subset="first 10^6 bytes only"), "graves2013_enwik8")
    assert partial["status"] == "not comparable" and partial["reasons"][0] == "partial data: first 10^6 bytes only"

    shakespeare = metrics("03_shakespeare", dataset="tinyshakespeare", data_sha256=results.TINYSHAKESPEARE_SHA256,
                          extra={"split": "90/5/5"})
    assert _status(shakespeare, "nanogpt_shakespeare_char")["status"] == "not comparable"  # no last-tenth loss
    nanogpt = _status(replace(shakespeare, extra={"split": "90/5/5", "last_tenth_loss": 1.51}),
                      "nanogpt_shakespeare_char")
    # the same file, the same 10%, the same cut: only the way each character is scored differs
    assert (nanogpt["ours"], nanogpt["status"], len(nanogpt["reasons"])) == (1.51, "indicative", 1)
    assert nanogpt["reasons"][0].startswith("their loss averages windows of 256 characters")
    assert nanogpt["gap"] == pytest.approx(1.51 - 1.4697)

    names = _status(metrics("07_names", dataset="names", extra={"novel_rate": 0.8}), "karpathy2015_names")
    assert (names["ours"], names["status"]) == (0.8, "indicative")
    assert names["reasons"][-1] == "their split is not given"
    assert results.published_for(metrics("x", dataset="my_poems")) == []


def test_write_summary_table_and_samples(tmp_path):
    record(metrics("03_wikipedia", dataset="wikipedia", partial_data=True, data_subset="first 10^6 bytes only",
                                   model={"type": "lstm|big", "n_params": 1200},
                                   samples=["a ``` fence\n| pipe | row\n````\n" + "x" * 500]), tmp_path)
    record(metrics(notes="kernel run", precision="fp32"), tmp_path)
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
    assert "not comparable" in wiki_row and "theirs 1.67 bits/char" in wiki_row
    linux_row = next(r for r in table if r.startswith("| 05_linux"))
    assert "LSTM 3×512, 5.41M params" in linux_row and "2 min 05 s" in linux_row
    assert "1.200 (1.731)" in linux_row
    assert "ours 1.250, theirs 0.84 nats/char: +0.410 (the paper's best model, test set; Karpathy et al. 2015)" in linux_row
    assert "| pipe | row" in md.split("## Samples")[1]  # inside the fence, untouched
    # The sample with a 4-backtick run is fenced with 5, and long lines are cut.
    assert "`````text\na ``` fence" in md
    assert "x" * 160 + " …" in md and "x" * 161 not in md
    run_rows = [line for line in md.split("## The run")[1].splitlines() if line.startswith("| 05_linux")]
    assert len(run_rows) == 1 and "| 2 min 05 s |" in run_rows[0]  # where and how long each section ran
    assert run_rows[0].startswith("| 05_linux | cpu | fp32 |")  # and in what precision it trained
    wiki_run = next(line for line in md.split("## The run")[1].splitlines() if line.startswith("| 03_wikipedia"))
    assert wiki_run.startswith("| 03_wikipedia | cpu | not recorded |")

    summary = json.loads(json_path.read_text())
    assert [r["section"] for r in summary["sections"]] == ["03_wikipedia", "05_linux"]
    assert summary["sections"][0]["partial_data"] is True
    assert "graves2013_enwik8" in summary["published"]


def test_summary_lists_the_posts_claims_with_ours_beside_them(tmp_path):
    temperature = Claim.of(Said("higher temperatures will give more diversity", "https://x/#t"),
                           "invented words 2% -> 30% | real 1%", "held", "held when both rise", 0.28, 40)
    brackets = Claim.of(Said("opens and closes brackets `{[` correctly", "https://x/#b"), "91%", "held", "r")
    c_code = Claim.of(Said("uses undefined variables", "https://p", quoted=False), "40%", "partly", "")
    record(metrics("02_paul_graham", dataset="paulgraham", claims=[temperature]), tmp_path)
    record(metrics("06_linux", claims=[brackets, c_code]), tmp_path)
    record(metrics("07_names", dataset="names"), tmp_path)
    md = write_summary(tmp_path)[0].read_text()
    rows = [line for line in md.split("## The post's claims, measured")[1].split("## Samples")[0].splitlines()
            if line.startswith("| ")]
    assert rows[0] == "| Section | The post | Ours | Verdict | Rule |" and len(rows) == 4
    assert rows[1] == ("| 02_paul_graham | [“higher temperatures will give more diversity”](https://x/#t) | "
                       "invented words 2% -> 30% \\| real 1% | held | held when both rise (n = 40) |")
    # the quote's own bracket is escaped, so the link text ends where it should
    assert rows[2].startswith("| 06_linux | [“opens and closes brackets \\`{\\[\\` correctly”](https://x/#b) |")
    assert rows[3] == "| 06_linux | in our words: [uses undefined variables](https://p) | 40% | partly | not recorded |"
    assert "The post's claims" not in write_summary(tmp_path / "empty")[0].read_text()


def test_write_summary_without_records(tmp_path):
    md_path, json_path = write_summary(tmp_path)
    assert not [line for line in md_path.read_text().splitlines() if line.startswith("|")]  # no table at all
    assert json.loads(json_path.read_text())["sections"] == []


def test_terminal_table(tmp_path):
    record(metrics(), tmp_path)
    text = results.terminal_table(load_all(tmp_path))
    assert text.splitlines()[0].startswith("section")
    assert "05_linux" in text and "1.200 (1.731)" in text
