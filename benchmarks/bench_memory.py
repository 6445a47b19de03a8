"""Peak memory of ``charlm train`` per character of corpus (issue 19 #17: training data at most 4 bytes a character).

    python benchmarks/bench_memory.py [--chars 150000000] [--curly] [--dir DIR]

Writes a synthetic text of ``--chars`` characters (benchmarks/synthetic.py; ``--curly`` adds one character
outside Latin-1) and a 100,000-character one of the same making, then runs ``charlm train`` on each in a fresh
process: the same tiny model (1x16 LSTM), two iterations, then the validation pass over the whole validation
split that ends every run. Each child's peak resident memory comes from ``os.wait4`` (ru_maxrss). The difference
of the two peaks, divided by the big text's characters, is what the training data costs per character at its
peak: the interpreter, torch and the model cost both runs alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import write_text  # noqa: E402

SMALL_CHARS = 100_000
CHARLM = [sys.executable, "-m", "charlm"]  # how the children start charlm (a harness may point it at another tree)
TRAIN = ["--rnn-size", "16", "--num-layers", "1", "--batch-size", "50", "--seq-length", "50", "--max-iters", "2",
         "--eval-interval", "1000", "--progress", "none", "--precision", "fp32", "--device", "cpu"]


def peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[int, float]:
    """(peak resident bytes, wall seconds) of one child process; its output is passed through on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out.decode(errors='replace')}")
    return usage.ru_maxrss * 1024, time.perf_counter() - start  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=150_000_000, help="size of the big synthetic text")
    parser.add_argument("--curly", action="store_true", help="add U+2019 to the text (Python then holds it at 2 B/char)")
    parser.add_argument("--dir", help="where to write the texts and runs (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    env = {**os.environ, "CHARLM_THREADS": "1"}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        rows = []
        for n in (SMALL_CHARS, args.chars):
            text = write_text(work / f"text_{n}.txt", n, curly=args.curly)
            rss, seconds = peak_rss([*CHARLM, "train", str(text), "--out", str(work / f"run_{n}"),
                                     *TRAIN], env)
            rows.append((n, rss))
            print(f"{n:>13,} chars ({text.stat().st_size:,} bytes): peak RSS {rss / 2**20:,.0f} MiB, {seconds:.0f} s",
                  flush=True)
    (small, small_rss), (big, big_rss) = rows
    per_char = (big_rss - small_rss) / (big - small)
    print(f"training data at peak: {per_char:.2f} bytes per character "
          f"(({big_rss / 2**20:,.0f} - {small_rss / 2**20:,.0f}) MiB / {big - small:,} chars)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
