"""Benchmark the Kneser-Ney n-gram baseline: fit + val loss for each order on a mirrored corpus, or what
``charlm ngram`` does on a large synthetic text.

Usage: python benchmarks/bench_ngram.py [--corpus warandpeace] [--orders 1-20] [--chars N]
       python benchmarks/bench_ngram.py --corpus warpeace_input --orders 20 --striped 100 100 --fractions 0.8 0.1 0.1
       python benchmarks/bench_ngram.py --synthetic 150000000 --orders 5,20

Corpus mode finds the corpus the way the package does (charlm.datasets: CHARLM_DATA_MIRROR, ../shared/data
beside the checkout, or a download), splits it like the RNN runs (contiguous 0.90/0.05/0.05 by default, or
char-rnn's striped split of --striped ROWS CHUNK), fits on train and scores val and test (the one scoring
definition: each character after the text before it; a stripe after the text before it in its row). Each order
runs in a fresh child process, so the peak RSS column is what that order alone needs (fit + eval), beside the
estimate the fit is checked against. Reference (Karpathy, Johnson & Fei-Fei 2015, their split): 20-gram 1.195
nats/char on War and Peace, 0.889 on Linux; best LSTM 1.077 and 0.84.

Synthetic mode writes a text of that many characters (benchmarks/synthetic.py) and runs ``charlm ngram FILE
--order K`` on it for each order, as a user would: exit status, seconds to its first line (the memory
estimate), seconds in all, peak RSS (os.wait4) and its last line (the loss, or the refusal).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from charlm import datasets
from charlm.analysis.ngram import NGramModel, estimate_memory, nats_to_bits
from charlm.split import Split
from charlm.vocab import read_text

Pieces = list[tuple[str, str]]


def load_splits(corpus: str, chars: int | None, split: Split) -> tuple[str, Pieces, Pieces]:
    """The training text (a striped split's training stripes joined) and the validation and test splits as
    (context, text) pieces, each stretch with the text before it in its row (or in the text), optionally of the
    first ``chars`` characters."""
    text = read_text(datasets.path(corpus, progress=False))
    if chars:
        text = text[:chars]
    parts = split.pieces(len(text))
    train = "".join(text[p.start : p.end] for p in parts["train"])
    held_out = {name: [(text[max(p.context, p.start - 100) : p.start], text[p.start : p.end]) for p in parts[name]]
                for name in ("val", "test")}
    return train, held_out["val"], held_out["test"]


def one_order(order: int, train: str, val: Pieces, test: Pieces, vocab: list[str]) -> dict[str, float]:
    """Fit and score one order; runs in a child process so ru_maxrss is this order's peak."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    t0 = time.perf_counter()
    model = NGramModel.fit(train, order, vocab)
    t1 = time.perf_counter()
    loss = model.loss_pieces(val)
    t2 = time.perf_counter()
    return {
        "order": order,
        "loss": loss,
        "test_loss": model.loss_pieces(test) if any(t for _, t in test) else float("nan"),
        "fit_s": t1 - t0,
        "eval_s": t2 - t1,
        "table_mib": model.nbytes / 2**20,
        "estimate_mib": estimate_memory(train, order, len(vocab) + 1).total / 2**20,
        "grown_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
    }


def parse_orders(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def synthetic(n_chars: int, orders: list[int]) -> None:
    """``charlm ngram`` on a synthetic text of ``n_chars`` characters, one child process per order."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from synthetic import write_text

    with tempfile.TemporaryDirectory() as tmp:
        text = write_text(Path(tmp) / "synthetic.txt", n_chars)
        print(f"synthetic text: {n_chars:,} chars ({text.stat().st_size:,} bytes)", flush=True)
        for order in orders:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "charlm", "ngram", str(text), "--order", str(order)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, "CHARLM_THREADS": "1"})
            assert proc.stderr is not None and proc.stdout is not None
            first = proc.stderr.readline()  # the estimate, printed before anything is counted
            first_s = time.perf_counter() - start
            rest = proc.stderr.read()
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            last = (out.strip() or rest.strip().splitlines()[-1]).splitlines()[0]
            print(f"order {order}: exit {os.waitstatus_to_exitcode(status)}, first line after {first_s:.1f} s, "
                  f"{time.perf_counter() - start:.1f} s in all, peak RSS {usage.ru_maxrss / 2**20:.2f} GiB\n"
                  f"  {first.strip()}\n  {last}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="warandpeace", choices=datasets.NAMES, help="a charlm.datasets name")
    parser.add_argument("--orders", default="1-20", help="e.g. 1-20 or 1,2,5,10,20")
    parser.add_argument("--chars", type=int, default=None, help="use only the first N characters of the corpus")
    parser.add_argument("--striped", type=int, nargs=2, metavar=("ROWS", "CHUNK"),
                        help="char-rnn's striped split: the text as ROWS rows cut into chunks of CHUNK characters")
    parser.add_argument("--fractions", type=float, nargs=3, default=(0.9, 0.05, 0.05), help="train, val, test")
    parser.add_argument("--synthetic", type=int, default=None, metavar="N",
                        help="instead: run `charlm ngram` on an N-character synthetic text")
    args = parser.parse_args(argv)
    if args.synthetic:
        synthetic(args.synthetic, parse_orders(args.orders))
        return 0

    split = Split("striped", args.fractions, *args.striped) if args.striped else Split("contiguous", args.fractions)
    train, val, test = load_splits(args.corpus, args.chars, split)
    vocab = sorted(set(train))
    print(f"{args.corpus}: train {len(train):,} chars, val {sum(len(t) for _, t in val):,} chars "
          f"({len(val)} stretch{'es' if len(val) > 1 else ''}), test {sum(len(t) for _, t in test):,} chars, "
          f"split {split.label}, vocab {len(vocab)} (+<unk>)")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS before fitting: {base:.0f} MiB (python, numpy); each order's growth beyond it:")
    print(f"{'order':>5} {'val nats':>9} {'test nats':>9} {'bpc':>7} {'fit s':>7} {'eval s':>7} {'tables MiB':>10} "
          f"{'grown MiB':>10} {'estimate MiB':>12}")
    ctx = mp.get_context("fork")  # children inherit train/val without pickling 3 MB strings
    best = None
    for order in parse_orders(args.orders):
        with ctx.Pool(1) as pool:
            row = pool.apply(one_order, (order, train, val, test, vocab))
        best = row if best is None or row["loss"] < best["loss"] else best
        print(
            f"{row['order']:>5} {row['loss']:>9.4f} {row['test_loss']:>9.4f} {nats_to_bits(row['loss']):>7.4f} "
            f"{row['fit_s']:>7.2f} "
            f"{row['eval_s']:>7.2f} {row['table_mib']:>10.1f} {row['grown_mib']:>10.0f} {row['estimate_mib']:>12.0f}",
            flush=True,
        )
    if best is not None:
        print(f"best: order {best['order']} at {best['loss']:.4f} nats/char")
    return 0


if __name__ == "__main__":
    sys.exit(main())
