"""The run's record (RunInfo) round-trips through config.json, and a config.json edited by hand is one line."""

import json
import math
import shutil

import pytest

from charlm.checkpoint import load_checkpoint, read_info, save_checkpoint
from charlm.config import DataInfo, RunInfo, TrainConfig
from charlm.data import DEFAULT_FRACTIONS, DEFAULT_SPLIT, Split, split_ids
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.run import train
from charlm.vocab import Vocab
from helpers import make_text

TINY = ["--batch-size", "8", "--seq-length", "16", "--progress", "none"]


def a_record() -> RunInfo:
    vocab = Vocab.from_text("abc\n")
    return RunInfo(ModelConfig(len(vocab), "gru", 8, 2, 0.25, 3), vocab,
                   TrainConfig(batch_size=4, max_iters=9, precision="tf32", grad_clip_mode="value", init_range=0.08),
                   DataInfo("ab" * 32, 12345, Split("striped", (0.8, 0.1, 0.1), 100, 100), "warandpeace"), iteration=9, epoch=1.5,
                   train_loss=1.25, val_loss=1.5, val_iteration=8, best_val_loss=1.375, best_iteration=4,
                   elapsed_seconds=3.5, device="cuda:1", precision="tf32", world_size=2, stop_reason="interrupted")


def test_run_info_round_trips_through_json():
    record = a_record()
    assert RunInfo.from_json(json.loads(json.dumps(record.to_json()))) == record
    assert record.validated is False  # the stop skipped the validation of iteration 9
    bare = RunInfo(record.model, record.vocab)  # a model saved outside training
    assert RunInfo.from_json(json.loads(json.dumps(bare.to_json()))) == bare


def test_run_info_round_trips_through_a_checkpoint(tmp_path):
    record = a_record()
    torch_model = CharRNN(record.model)
    save_checkpoint(tmp_path / "ckpt", torch_model, record)
    assert read_info(tmp_path / "ckpt") == record
    assert load_checkpoint(tmp_path / "ckpt").info == record


def test_a_trained_run_records_its_best_iteration_and_the_split(tmp_path):
    text = make_text(30_000)
    run = train(text, tmp_path / "run", {"rnn_size": 16, "num_layers": 1},
                TrainConfig(batch_size=8, seq_length=16, max_iters=30, eval_interval=10, device="cpu"), progress="none")
    last, best = read_info(tmp_path / "run", prefer="last"), read_info(tmp_path / "run", prefer="best")
    losses = dict(run.state.val_losses)
    assert sorted(losses) == [10, 20, 30] and last.validated
    assert best.best_iteration == best.iteration == min(losses, key=lambda it: (losses[it], -it))
    assert best.best_val_loss == last.best_val_loss == min(losses.values())
    assert last.data.split == DEFAULT_SPLIT and last.data.chars == len(text)
    assert last.precision == "fp32" and last.device == "cpu" and last.world_size == 1  # resolved, never "auto"


def test_the_split_default_is_written_once():
    """One constant: the splitter's default, the CLI's defaults and a record without a split all use it."""
    from charlm.cli import build_parser

    args = build_parser().parse_args(["train", "f.txt", "--out", "r"])
    assert (args.split, args.train_frac, args.val_frac) == (DEFAULT_SPLIT.kind, *DEFAULT_FRACTIONS[:2])
    assert DEFAULT_SPLIT.fractions == DEFAULT_FRACTIONS
    parts = split_ids(range(1000))
    assert [len(parts[k]) for k in ("train", "val", "test")] == [round(1000 * f) for f in DEFAULT_FRACTIONS]
    assert DataInfo.from_json({"sha256": "x", "chars": 3}).split == DEFAULT_SPLIT


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    corpus = root / "input.txt"
    corpus.write_text(make_text(20_000), encoding="utf-8")
    train(corpus.read_text(encoding="utf-8"), root / "run", {"rnn_size": 16, "num_layers": 1},
          TrainConfig(batch_size=8, seq_length=16, max_iters=10, eval_interval=10), progress="none")
    return corpus, root / "run"


@pytest.mark.parametrize("field, value", [
    ("train_config", "lstm 2x128"), ("train_config", ["batch_size", 8]), ("data", "tinyshakespeare"),
    ("data.split", "striped"), ("data.split", {"kind": "diagonal"}), ("data.split", {"fractions": [0.9, 0.5, 0.5]}),
    ("data.split", {"kind": "striped", "fractions": [0.8, 0.1, 0.05]}), ("data.split", {"kind": "striped", "rows": 0}),
    ("data.chars", "many"), ("iteration", -3), ("iteration", "10"), ("best_val_loss", "low"),
    ("precision", 16), ("world_size", 0),
])
def test_a_hand_edited_config_json_is_one_line_for_every_command(trained_run, tmp_path, capsys, field, value):
    from charlm.cli import main

    corpus, run = trained_run
    edited = tmp_path / "run"
    shutil.copytree(run, edited)
    for name in ("best", "last"):
        path = edited / name / "config.json"
        config = json.loads(path.read_text())
        if field.startswith("data."):
            config["data"][field.split(".")[1]] = value
        else:
            config[field] = value
        path.write_text(json.dumps(config))
    with pytest.raises(CharlmError) as err:
        read_info(edited)
    assert field.split(".")[-1] in str(err.value) and "\n" not in str(err.value)
    before = {p: p.read_bytes() for p in edited.rglob("*") if p.is_file()}
    for command in (["sample", str(edited), "--length", "5"], ["eval", str(edited), str(corpus)],
                    ["train", str(corpus), "--out", str(edited), "--resume", *TINY]):
        code = main(command)  # in this process: the command's own code path, without starting Python again
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), lines
        assert str(edited / ("last" if command[0] == "train" else "best") / "config.json") in lines[0]
    assert {p: p.read_bytes() for p in edited.rglob("*") if p.is_file()} == before  # nothing written


def test_nan_losses_survive_the_record():
    record = a_record()
    record.train_loss = math.nan
    back = RunInfo.from_json(json.loads(json.dumps(record.to_json())))
    assert math.isnan(back.train_loss)
