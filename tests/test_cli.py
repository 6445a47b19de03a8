"""The command line as users run it: real subprocesses, exit codes, one-line errors, Ctrl-C."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charlm.checkpoint import load_checkpoint, read_info
from charlm.trainer import evaluate
from helpers import make_text

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
TINY = ["--rnn-size", "16", "--num-layers", "1", "--batch-size", "8", "--seq-length", "16", "--progress", "none"]


def charlm(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charlm", *args], capture_output=True, text=True, env=ENV,
                          timeout=120, **kw)


def assert_one_line_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "input.txt"
    corpus.write_text(make_text(30_000) + " — ünïcödé 中文", encoding="utf-8")
    proc = charlm("train", str(corpus), "--out", str(root / "run"), "--max-iters", "30", "--eval-interval", "15", *TINY)
    assert proc.returncode == 0, proc.stderr
    reported = re.search(r"best val loss ([\d.]+) \(iteration (\d+)\)", proc.stderr)
    best = read_info(root / "run")
    assert float(reported.group(1)) == round(best.best_val_loss, 4) and int(reported.group(2)) == best.best_iteration
    return corpus, root / "run"


def test_train_sample_eval(trained):
    corpus, run = trained
    assert (run / "best" / "model.safetensors").exists() and (run / "last" / "trainer.pt").exists()
    events = [json.loads(l)["event"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert events.count("val") == 2
    out = charlm("sample", str(run), "--length", "100", "--prime", "The ", "--seed", "1")
    assert out.returncode == 0 and out.stdout.startswith("The ") and len(out.stdout) >= 104
    again = charlm("sample", str(run), "--length", "100", "--prime", "The ", "--seed", "1")
    assert again.stdout == out.stdout
    argmax = charlm("sample", str(run), "--length", "20", "--argmax", "--seed", "2")
    assert argmax.stdout == charlm("sample", str(run), "--length", "20", "--argmax", "--seed", "3").stdout
    ev = charlm("eval", str(run), str(corpus))
    assert ev.returncode == 0, ev.stderr
    nats, bits = (float(x) for x in re.search(r"([\d.]+) nats/char, ([\d.]+) bits/char", ev.stdout).groups())
    ckpt = load_checkpoint(run, device="cpu")
    ids = ckpt.vocab.encode(corpus.read_text(encoding="utf-8"))
    assert nats == pytest.approx(evaluate(ckpt.model, ids, 50, 100), abs=1e-4)  # the command's defaults
    assert bits == pytest.approx(nats / math.log(2), abs=1e-3)


def test_bad_inputs_exit_with_one_line(trained, tmp_path):
    corpus, run = trained
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_one_line_error(charlm("train", str(empty), "--out", str(tmp_path / "r1"), *TINY), "empty")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    assert_one_line_error(charlm("train", str(binary), "--out", str(tmp_path / "r2"), *TINY), "--encoding")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    assert_one_line_error(charlm("train", str(latin), "--out", str(tmp_path / "r3"), *TINY),
                          r"not valid utf-8: byte 0xe9 at offset 3")
    short = tmp_path / "short.txt"
    short.write_text("hello world")
    assert_one_line_error(charlm("train", str(short), "--out", str(tmp_path / "r4"), *TINY), "one batch needs")
    assert not (tmp_path / "r4" / "last").exists()
    assert_one_line_error(charlm("sample", str(run), "--prime", "\u2603"), r"U\+2603.*never saw")
    assert_one_line_error(charlm("sample", str(tmp_path)), "no charlm checkpoint")
    assert_one_line_error(charlm("train", str(corpus), "--out", str(run), *TINY), "--resume")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("not json")
    assert_one_line_error(charlm("sample", str(bad)), "corrupt")


def test_ctrl_c_keeps_a_checkpoint_and_resumes(tmp_path):
    corpus = tmp_path / "input.txt"
    corpus.write_text(make_text(30_000))
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "charlm", "train", str(corpus), "--out", str(run),
                             "--max-iters", "100000", "--eval-interval", "1000000", *TINY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # Ctrl-C live, as in a terminal
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    done = json.loads((run / "last" / "config.json").read_text())["iteration"]
    assert done >= 10
    resumed = charlm("train", str(corpus), "--out", str(run), "--resume", "--max-iters", str(done + 5),
                     "--progress", "none")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "last" / "config.json").read_text())["iteration"] == done + 5
