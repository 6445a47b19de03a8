"""Benchmark the Kneser-Ney n-gram baseline: fit + val loss for each order on a mirrored corpus.

Usage: python benchmarks/bench_ngram.py [--corpus warandpeace] [--orders 1-20] [--chars N]

Finds the corpus the way the package does (charlm.datasets: CHARLM_DATA_MIRROR, ../shared/data beside the
checkout, or a download), splits it 0.90/0.05/0.05 like the RNN runs, fits on train and scores val. Each order runs in a fresh child
process, so the peak RSS column is what that order alone needs (fit + eval), not the running maximum.
Reference (Karpathy, Johnson & Fei-Fei 2015, their split): 20-gram 1.195 nats/char on War and Peace,
0.889 on Linux; best LSTM 1.077 and 0.84.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time

from charlm import datasets
from charlm.analysis.ngram import NGramModel, nats_to_bits
from charlm.data import split_ids
from charlm.vocab import read_text


def load_splits(corpus: str, chars: int | None) -> tuple[str, str]:
    """(train, val) text of the project's contiguous 0.90/0.05/0.05 split, optionally of the first ``chars``."""
    text = read_text(datasets.path(corpus, progress=False))
    if chars:
        text = text[:chars]
    parts = split_ids(range(len(text)))
    return text[parts["train"].start : parts["train"].stop], text[parts["val"].start : parts["val"].stop]


def one_order(order: int, train: str, val: str, vocab: list[str]) -> dict[str, float]:
    """Fit and score one order; runs in a child process so ru_maxrss is this order's peak."""
    t0 = time.perf_counter()
    model = NGramModel.fit(train, order, vocab)
    t1 = time.perf_counter()
    loss = model.loss(val)
    t2 = time.perf_counter()
    return {
        "order": order,
        "loss": loss,
        "fit_s": t1 - t0,
        "eval_s": t2 - t1,
        "table_mib": model.nbytes / 2**20,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux reports KiB
    }


def parse_orders(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="warandpeace", choices=datasets.NAMES, help="a charlm.datasets name")
    parser.add_argument("--orders", default="1-20", help="e.g. 1-20 or 1,2,5,10,20")
    parser.add_argument("--chars", type=int, default=None, help="use only the first N characters of the corpus")
    args = parser.parse_args(argv)

    train, val = load_splits(args.corpus, args.chars)
    vocab = sorted(set(train))
    print(f"{args.corpus}: train {len(train):,} chars, val {len(val):,} chars, vocab {len(vocab)} (+<unk>)")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS before fitting: {base:.0f} MiB (python, numpy, and torch via charlm.data; included in peak RSS)")
    print(f"{'order':>5} {'val nats':>9} {'bpc':>7} {'fit s':>7} {'eval s':>7} {'tables MiB':>10} {'peak RSS MiB':>12}")
    ctx = mp.get_context("fork")  # children inherit train/val without pickling 3 MB strings
    best = None
    for order in parse_orders(args.orders):
        with ctx.Pool(1) as pool:
            row = pool.apply(one_order, (order, train, val, vocab))
        best = row if best is None or row["loss"] < best["loss"] else best
        print(
            f"{row['order']:>5} {row['loss']:>9.4f} {nats_to_bits(row['loss']):>7.4f} {row['fit_s']:>7.2f} "
            f"{row['eval_s']:>7.2f} {row['table_mib']:>10.1f} {row['rss_mib']:>12.0f}",
            flush=True,
        )
    if best is not None:
        print(f"best: order {best['order']} at {best['loss']:.4f} nats/char")
    return 0


if __name__ == "__main__":
    sys.exit(main())
