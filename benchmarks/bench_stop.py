"""Seconds from SIGTERM to the exit of `charlm train` on a large synthetic text, and the checkpoint it leaves.

    python benchmarks/bench_stop.py [--mb 150] [--wait 5]

SIGTERM is what `docker stop` (10 s grace), `timeout` and Slurm send. Two cases with charlm train's default
model (2x128 LSTM, batch 50 x seq 50): during training with no validation pass due (--eval-interval 100000000;
before issue 19 the stop first scored the whole validation split: 10.9 s on a 141 MB text), and in the middle of
a validation pass (--eval-interval 50, signalled a second after iteration 50). The text is a 1 MB block of
synthetic words repeated to --mb megabytes (its content does not matter to a stop). Prints, for each case, the
seconds from the signal to the exit, the exit status, and the iteration and validation state last/ holds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the of and to in is that it was for on are with as his they be at one have this from or had by word but "
         "what some we can out other were all there when up use your how said an each she which do their time if "
         "will way about many then them write would like so these her long make thing see him").split()


def synthetic_text(megabytes: int) -> str:
    rng = random.Random(0)
    lines, size = [], 0
    while size < 1_000_000:
        line = " ".join(rng.choices(WORDS, k=rng.randint(4, 12))).capitalize() + rng.choice(".!?")
        lines.append(line)
        size += len(line) + 1
    block = "\n".join(lines) + "\n"
    return block * max(1, round(megabytes * 1_000_000 / len(block)))


def iteration_seen(metrics: Path, iteration: int) -> bool:
    if not metrics.exists():
        return False
    return any(json.loads(line).get("iteration", 0) >= iteration for line in metrics.read_text().splitlines()[-3:]
               if line.strip())


def stop_case(corpus: Path, out: Path, eval_interval: int, signal_at: int, wait: float, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "charlm", "train", str(corpus), "--out", str(out), "--max-seconds", "3600",
           "--eval-interval", str(eval_interval), "--progress", "none", *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not iteration_seen(out / "metrics.jsonl", signal_at):
            if proc.poll() is not None:
                raise SystemExit(f"the trainer exited early: {proc.stderr.read()}")
            time.sleep(0.05)
        ready = time.perf_counter() - started
        time.sleep(wait)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=600)
        seconds = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    record = json.loads((out / "last" / "config.json").read_text())
    where = "during training" if eval_interval > signal_at else f"{wait:.0f} s into the validation pass of iteration {signal_at}"
    print(f"SIGTERM {where}: exit {proc.returncode} after {seconds:.2f} s; last/ at iteration {record['iteration']}, "
          f"validated: {record['val_iteration'] == record['iteration']} (start-up to iteration {signal_at}: {ready:.0f} s)",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=150, help="megabytes of text")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds of training before the signal")
    parser.add_argument("--train-args", default="", help="more charlm train options (the test: a tiny model)")
    args = parser.parse_args()
    os.environ.setdefault("CHARLM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "big.txt"
        corpus.write_text(synthetic_text(args.mb), encoding="utf-8")
        chars = corpus.stat().st_size
        print(f"{chars / 1e6:.0f} MB synthetic text ({chars:,} characters; validation split {chars // 20:,}), "
              f"charlm train defaults {args.train_args}, CHARLM_THREADS={os.environ['CHARLM_THREADS']}", flush=True)
        stop_case(corpus, Path(tmp) / "run1", 100_000_000, 10, args.wait, args.train_args.split())
        stop_case(corpus, Path(tmp) / "run2", 50, 50, 1.0, args.train_args.split())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"peak resident memory of a trainer: {peak / 1e9:.2f} GB ({peak / chars:.1f} bytes per character)")


if __name__ == "__main__":
    main()
