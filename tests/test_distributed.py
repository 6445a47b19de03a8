"""torchrun: two CPU processes on the gloo backend train the same curve as one process, and resume it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from charlm.distributed import Distributed, from_env
from charlm.errors import CharlmError
from charlm.run import train
from charlm.trainer import TrainConfig
from helpers import make_text

MODEL = {"model": "lstm", "rnn_size": 32, "num_layers": 2, "dropout": 0.0}
SETTINGS = dict(batch_size=8, seq_length=20, eval_interval=20, log_interval=10, learning_rate=5e-3, seed=7,
                precision="fp32", device="cpu")


def torchrun(text_file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "charlm",
           "train", str(text_file), "--out", str(out), "--rnn-size", "32", "--num-layers", "2",
           "--batch-size", "8", "--seq-length", "20", "--eval-interval", "20", "--learning-rate", "5e-3",
           "--seed", "7", "--precision", "fp32", "--device", "cpu", "--progress", "none", *extra]
    env = {**os.environ, "CHARLM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def saved_curve(out: Path) -> tuple[list[float], list[tuple[int, float]]]:
    state = torch.load(out / "last" / "trainer.pt", weights_only=True)["train_state"]
    return state["train_losses"], [tuple(v) for v in state["val_losses"]]


def test_torchrun_environment_is_read_and_checked():
    alone = from_env({})
    assert (alone.rank, alone.world_size, alone.enabled, alone.is_main) == (0, 1, False, True)
    second = from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (second.rank, second.world_size, second.enabled, second.is_main) == (1, 2, True, False)
    with pytest.raises(CharlmError, match="does not fit WORLD_SIZE"):
        from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_one_process_rows_are_those_of_the_job():
    """gather_rows and own_rows are inverses: rank r's row i is row i*world + r of the single-process state."""
    state = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)  # (layers, streams, hidden)
    owned = [Distributed(r, 3, r).own_rows(state) for r in range(3)]
    assert [o[0, :, 0].tolist() for o in owned] == [[0.0, 9.0], [3.0, 12.0], [6.0, 15.0]]

    class Gathered(Distributed):  # all_gather as three ranks would answer it
        def all_gather(self, value):
            return owned

    assert torch.equal(Gathered(0, 3, 0).gather_rows(owned[0]), state)


@pytest.mark.slow
def test_two_processes_match_one_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARLM_THREADS", "1")  # as each torchrun process has: the reference is one such process
    text = make_text(40_000, seed=3)
    text_file = tmp_path / "text.txt"
    text_file.write_text(text, encoding="utf-8")
    single = train(text, tmp_path / "one", MODEL, TrainConfig(max_iters=80, **SETTINGS), progress="none")
    one_train, one_val = single.state.train_losses, single.state.val_losses

    torchrun(text_file, tmp_path / "two", "--max-iters", "40")
    two_train, two_val = saved_curve(tmp_path / "two")
    assert len(two_train) == 40 and [it for it, _ in two_val] == [20, 40]
    # Same global batch and seed: each rank trains 4 of the 8 streams, gradients are averaged over ranks.
    assert two_train == pytest.approx(one_train[:40], abs=2e-4)
    assert [v for _, v in two_val] == pytest.approx([v for _, v in one_val[:2]], abs=2e-4)
    assert json.loads((tmp_path / "two" / "last" / "config.json").read_text())["world_size"] == 2

    torchrun(text_file, tmp_path / "two", "--resume", "--max-iters", "80")
    resumed_train, resumed_val = saved_curve(tmp_path / "two")
    assert resumed_train[:40] == two_train
    assert resumed_train[40:] == pytest.approx(one_train[40:], abs=5e-4)
    assert [v for _, v in resumed_val] == pytest.approx([v for _, v in one_val], abs=5e-4)
    # The curve moved: the test would notice a resume that restarted from scratch or repeated batches.
    assert resumed_train[-1] < resumed_train[0] - 0.3
