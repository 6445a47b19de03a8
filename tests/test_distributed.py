"""torchrun (charlm/distributed.py): two CPU processes on the gloo backend train the same curve as one process
and resume it; a process killed mid-run leaves its peer one line and, when rank 0 survives, a resumable last/."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from charlm.checkpoint import load_checkpoint
from charlm.distributed import Distributed, from_env
from charlm.errors import CharlmError
from charlm.run import train
from charlm.trainer import TrainConfig
from helpers import make_text

MODEL = {"model": "lstm", "rnn_size": 32, "num_layers": 2, "dropout": 0.0}
SETTINGS = dict(batch_size=8, seq_length=20, eval_interval=20, log_interval=10, learning_rate=5e-3, seed=7,
                precision="fp32", device="cpu")


ENV = {**os.environ, "CHARLM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}


def torchrun(text_file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "charlm",
           "train", str(text_file), "--out", str(out), "--rnn-size", "32", "--num-layers", "2",
           "--batch-size", "8", "--seq-length", "20", "--eval-interval", "20", "--learning-rate", "5e-3",
           "--seed", "7", "--precision", "fp32", "--device", "cpu", "--progress", "none", *extra]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
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


def children_by_rank(launcher: int) -> dict[int, int]:
    """{RANK: pid} of the worker processes a torchrun launcher started (read from /proc)."""
    found = {}
    for task in Path(f"/proc/{launcher}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            rank = [e.split(b"=", 1)[1] for e in environ if e.startswith(b"RANK=")]
            if rank:
                found[int(rank[0])] = int(pid)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("killed", [1, 0])
def test_killing_one_torchrun_process_gives_the_survivor_one_line(tmp_path, killed):
    """Issue 19's tracebacks: kill -9 of one rank used to give the survivor a 30-line gloo traceback and lose
    everything since the last evaluation. Now the survivor says so in one line, and rank 0, when it survives,
    writes a resumable last/ of the last complete step."""
    run, logs, corpus = tmp_path / "run", tmp_path / "logs", tmp_path / "input.txt"
    corpus.write_text(make_text(30_000), encoding="utf-8")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--log-dir", str(logs),
         "--redirects", "3", "-m", "charlm", "train", str(corpus), "--out", str(run), "--max-seconds", "300",
         "--eval-interval", "100000", "--device", "cpu", "--precision", "fp32", "--rnn-size", "16", "--num-layers", "1",
         "--batch-size", "8", "--seq-length", "16", "--progress", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.time() + 120
        while not ((run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 3):
            assert time.time() < deadline and launcher.poll() is None, "both ranks training"
            time.sleep(0.05)
        os.kill(children_by_rank(launcher.pid)[killed], signal.SIGKILL)
        launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    survivor = 1 - killed
    (err_file,) = logs.rglob(f"attempt_0/{survivor}/stderr.log")
    lines = err_file.read_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: another process of the torchrun job stopped"), lines
    if survivor == 0:
        record = json.loads((run / "last" / "config.json").read_text())
        assert record["stop_reason"] == "peer_lost" and record["iteration"] >= 30
        ckpt = load_checkpoint(run, prefer="last", with_trainer_state=True)
        assert len(ckpt.trainer_state["train_state"]["train_losses"]) == record["iteration"]
        assert ckpt.trainer_state["carried"] is None  # the lost rank's streams restart
        resumed = train(corpus.read_text(encoding="utf-8"), run, resume=True, progress="none",
                        overrides={"max_iters": record["iteration"] + 10})
        assert resumed.state.iteration == record["iteration"] + 10
    else:
        assert not (run / "last").exists()  # only rank 0 writes, and it is gone
