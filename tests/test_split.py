"""char-rnn's striped split beside the contiguous one: the layout, the batches, evaluation after each stripe's
own context, the record, the command line, and resuming a run recorded before the split was typed.

Every expectation is computed independently of charlm.data: rows laid out by hand with Python slices, char-rnn's
chunk counts written out as util/CharSplitLMMinibatchLoader.lua states them, and losses summed one stripe at a
time with batch-size-one forward passes."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from charlm.checkpoint import read_info
from charlm.data import DEFAULT_SPLIT, Piece, Split, StripedIds, cut
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.run import load_run, train
from charlm.trainer import TrainConfig, evaluate
from charlm.vocab import Vocab
from helpers import make_text

ROOT = Path(__file__).resolve().parents[1]


def char_rnn_counts(n_batches: int, fractions) -> tuple[int, int, int]:
    """CharSplitLMMinibatchLoader.create's chunk counts, as the Lua reads."""
    if fractions[2] == 0:
        n_train = math.floor(n_batches * fractions[0])
        return n_train, n_batches - n_train, 0
    n_train, n_val = math.floor(n_batches * fractions[0]), math.floor(n_batches * fractions[1])
    return n_train, n_val, n_batches - n_val - n_train


@pytest.mark.parametrize("n, rows, chunk, fractions", [
    (3_196_211, 100, 100, (0.8, 0.1, 0.1)), (3_196_211, 50, 50, (0.95, 0.05, 0.0)), (1_000, 3, 7, (0.5, 0.3, 0.2)),
    (10_001, 10, 10, (0.9, 0.05, 0.05)), (64, 3, 4, (0.7, 0.3, 0.0)),
])
def test_chunk_counts_are_char_rnns(n, rows, chunk, fractions):
    # char-rnn cuts to floor(len / (rows x chunk)) batches; we keep one character after them for the last target
    assert Split("striped", fractions, rows, chunk).chunk_counts(n) == char_rnn_counts((n - 1) // (rows * chunk),
                                                                                       fractions)


# A text of 3 rows x 4 chunks of 4 characters, and two characters more: 50 characters, all distinct ids.
ROWS, CHUNK, N = 3, 4, 50
SMALL = Split("striped", (0.5, 0.25, 0.25), ROWS, CHUNK)


def hand_rows(ids: np.ndarray) -> list[np.ndarray]:
    """The text laid out by hand: row b is characters [16 b, 16 b + 16), four chunks of four."""
    return [ids[16 * b : 16 * b + 16] for b in range(ROWS)]


def test_the_layout_by_hand():
    ids = np.arange(N)
    rows = hand_rows(ids)
    assert SMALL.chunk_counts(N) == (2, 1, 1)
    splits = cut(ids, SMALL)
    batcher = splits.train_batcher(ROWS, CHUNK)
    assert len(batcher) == 2  # two training chunks per row: an epoch is char-rnn's two batches
    for i in range(2):
        x, y = batcher.batch(i)
        assert x.tolist() == [list(r[4 * i : 4 * i + 4]) for r in rows]
        assert y.tolist() == [list(r[4 * i : 4 * i + 4] + 1) for r in rows]  # the next character of the text
    # a held-out split: its stripe in every row, after the chunk before it in that row
    val = splits.held_out("val", batch_size=99, seq_length=3)  # the stripes are the rows, whatever batch_size says
    assert val.x.tolist() == [list(r[8:12]) for r in rows] and val.y.tolist() == [list(r[8:12] + 1) for r in rows]
    assert val.warm.tolist() == [list(r[4:8]) for r in rows] and val.num_targets == 12
    assert splits.held_out("test", 3, 4).y.tolist() == [list(r[12:16] + 1) for r in rows]
    assert [splits.scored(name) for name in ("train", "val", "test")] == [24, 12, 12]
    # the same split at the text's level: each stripe's scored characters and the row before them
    pieces = SMALL.pieces(N)
    assert pieces["val"] == [Piece(16 * b, 16 * b + 9, 16 * b + 13) for b in range(ROWS)]
    assert pieces["test"] == [Piece(16 * b, 16 * b + 13, 16 * b + 17) for b in range(ROWS)]
    scored = sorted(i for ps in pieces.values() for p in ps for i in range(p.start, p.end))
    assert scored == list(range(1, 49))  # every character after the first, once, up to the last row's end


def test_a_warmup_longer_than_the_text_before_a_stripe_takes_what_there_is():
    splits = cut(np.arange(N), Split("striped", (0.25, 0.5, 0.25), ROWS, CHUNK))
    assert splits.held_out("val", 3, 4, warmup=100).warm.tolist() == [list(r[0:4]) for r in hand_rows(np.arange(N))]
    assert splits.held_out("val", 3, 4, warmup=0).warm.shape == (3, 0)


def nll_one_stripe(model: CharRNN, before: list[int], inputs: list[int], targets: list[int]) -> float:
    """Summed -log p of ``targets``: batch of one, the text before the stripe read first from a zero state."""
    state = None
    if before:
        _, _, state = model(torch.tensor([before]), None)
    logits, _, _ = model(torch.tensor([inputs]), state)
    logp = torch.log_softmax(logits[0].double(), dim=-1)
    return -float(logp[torch.arange(len(targets)), torch.tensor(targets)].sum())


@pytest.mark.parametrize("name", ["val", "test"])
def test_a_stripe_is_scored_after_the_chunk_before_it_in_its_row(name):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=N + 1, model="lstm", rnn_size=8, num_layers=2)).eval()
    ids = np.arange(N)
    c0, c1 = {"val": (8, 12), "test": (12, 16)}[name]
    expected = sum(nll_one_stripe(model, list(r[c0 - 4 : c0]), list(r[c0:c1]), list(r[c0:c1] + 1))
                   for r in hand_rows(ids)) / (ROWS * (c1 - c0))
    got = evaluate(model, cut(ids, SMALL).held_out(name, ROWS, seq_length=3))  # 3: the state crosses batches
    assert got == pytest.approx(expected, rel=1e-6)
    # without the warm-up each stripe would start from a zero state: a different number
    cold = sum(nll_one_stripe(model, [], list(r[c0:c1]), list(r[c0:c1] + 1)) for r in hand_rows(ids)) / 12
    assert abs(cold - got) > 1e-4


def test_split_specs_are_checked_where_they_are_built():
    for bad, message in [(lambda: Split("diagonal"), "unknown split 'diagonal'; choose one of contiguous, striped"),
                         (lambda: Split("striped", (0.8, 0.1, 0.05)), "sum to 0.95; they must sum to 1"),
                         (lambda: Split("contiguous", rows=3), "a contiguous split has no rows or chunk"),
                         (lambda: Split("striped", rows=0), "split rows"),
                         (lambda: Split("striped", (0.9, 0.1, 0.0), 5, 10).for_batches(5, 20),
                          "5 rows x 10 does not fit batches of 5 x 20"),
                         (lambda: Split("striped", (0.9, 0.1, 0.0), 5, 10).chunk_counts(50),
                          "needs at least 51 characters and the text has 50")]:
        with pytest.raises(CharlmError, match=message) as err:
            bad()
        assert "\n" not in str(err.value)
    assert Split("striped").for_batches(50, 100) == Split("striped", DEFAULT_SPLIT.fractions, 50, 100)
    assert Split.from_json(Split("striped", (0.8, 0.1, 0.1), 100, 100).to_json()).label == "striped 100x100, 80/10/10"


def test_a_striped_run_trains_on_char_rnns_batches_and_records_its_split(tmp_path):
    text = make_text(12_000)
    config = TrainConfig(batch_size=6, seq_length=25, max_iters=12, eval_interval=6, seed=3)
    split = Split("striped", (0.8, 0.1, 0.1))
    run = train(text, tmp_path / "run", {"rnn_size": 16, "num_layers": 1}, config, split=split, progress="none")
    info = read_info(tmp_path / "run", prefer="last")
    assert info.data.split == Split("striped", (0.8, 0.1, 0.1), 6, 25) and info.best_iteration in (6, 12)
    # the training streams are the rows' first chunks: batch 0 row b is text[b L : b L + 25]
    vocab = Vocab.from_text(text)
    row_length = (len(text) - 1) // (6 * 25) * 25
    x, y = run.splits.train_batcher(6, 25).batch(0)
    assert ["".join(vocab.decode(r.tolist())) for r in x] == [text[b * row_length : b * row_length + 25]
                                                               for b in range(6)]
    # the recorded validation loss is the stripes' loss of the best weights, as evaluate() scores them
    assert run.val_loss == pytest.approx(run.held_out_loss("val"), rel=1e-6)
    # a loaded run is cut as the run was
    loaded = load_run(tmp_path / "run", text)
    assert isinstance(loaded.splits, StripedIds) and loaded.test_loss() == pytest.approx(run.test_loss(), rel=1e-6)
    # the split cannot change on resume, and refusing touches nothing
    with pytest.raises(CharlmError, match="the split cannot change on --resume"):
        train(text, tmp_path / "run", resume=True, split=Split("striped", (0.9, 0.05, 0.05)), progress="none")


def test_a_run_recorded_before_the_split_was_typed_resumes_contiguously(tmp_path):
    text = make_text(20_000)
    config = TrainConfig(batch_size=8, seq_length=16, max_iters=10, eval_interval=10)
    train(text, tmp_path / "run", {"rnn_size": 16, "num_layers": 1}, config, fractions=(0.8, 0.1, 0.1),
          progress="none")
    for name in ("best", "last"):  # config.json as charlm wrote it before: data.fractions, no data.split
        path = tmp_path / "run" / name / "config.json"
        record = json.loads(path.read_text())
        record["data"] = {k: v for k, v in record["data"].items() if k != "split"} | {"fractions": [0.8, 0.1, 0.1]}
        path.write_text(json.dumps(record))
    resumed = train(text, tmp_path / "run", resume=True, overrides={"max_iters": 20}, progress="none")
    assert resumed.state.iteration == 20
    assert read_info(tmp_path / "run", prefer="last").data.split == Split("contiguous", (0.8, 0.1, 0.1))


def test_the_command_line_trains_on_the_striped_split_and_refuses_a_text_too_short(tmp_path):
    text_file = tmp_path / "input.txt"
    text_file.write_text(make_text(6_000), encoding="utf-8")
    env = {**os.environ, "CHARLM_THREADS": "1"}
    tiny = ["--rnn-size", "8", "--num-layers", "1", "--max-iters", "4", "--eval-interval", "4", "--progress", "none"]
    run = subprocess.run([sys.executable, "-m", "charlm", "train", str(text_file), "--out", str(tmp_path / "run"),
                          "--split", "striped", "--batch-size", "4", "--seq-length", "20", "--train-frac", "0.8",
                          "--val-frac", "0.1", *tiny], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert read_info(tmp_path / "run").data.split == Split("striped", (0.8, 0.1, 0.1), 4, 20)
    short = subprocess.run([sys.executable, "-m", "charlm", "train", str(text_file), "--out", str(tmp_path / "short"),
                            "--split", "striped", "--batch-size", "100", "--seq-length", "100", *tiny],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert short.returncode == 1 and short.stderr.count("\n") == 1, short.stderr
    assert "needs at least 10,001 characters and the text has 6,000" in short.stderr
    assert not (tmp_path / "short").exists()


def test_a_striped_run_resumes_bit_for_bit(tmp_path):
    """The batch position, the carried state of every row and the validation stripes come back as they were."""
    text = make_text(15_000)
    config = TrainConfig(batch_size=6, seq_length=20, max_iters=16, eval_interval=8, seed=5, device="cpu")
    split = Split("striped", (0.8, 0.1, 0.1))
    model = {"rnn_size": 16, "num_layers": 1}
    straight = train(text, tmp_path / "a", model, config, split=split, progress="none")
    train(text, tmp_path / "b", model, TrainConfig(**{**config.to_dict(), "max_iters": 8}), split=split,
          progress="none")
    resumed = train(text, tmp_path / "b", resume=True, overrides={"max_iters": 16}, progress="none")
    assert resumed.state.iteration == 16 and resumed.state.epoch == straight.state.epoch
    assert resumed.state.train_losses == straight.state.train_losses
    assert resumed.state.val_losses == straight.state.val_losses
