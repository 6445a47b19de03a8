"""Training throughput of charlm's Trainer against a bare PyTorch step on the same shapes, in one process.

    python benchmarks/bench_train.py [--rnn-size 128 --num-layers 2 --batch-size 50 --seq-length 50]

Both sides train the same model (one-hot input, nn.LSTM, Linear, cross-entropy, Adam) on the same text for the
same number of steps; rounds alternate so machine load hits both alike. The ratio is charlm/bare chars per
second: 1.0 means no overhead.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from charlm.data import StreamBatcher
from charlm.model import CharRNN, ModelConfig, detach_state
from charlm.trainer import Trainer, TrainConfig


def bare_steps(ids: np.ndarray, vocab_size: int, args: argparse.Namespace, steps: int) -> float:
    """chars/s of the textbook loop: no callbacks, no clipping, no checks."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(vocab_size, args.rnn_size, args.num_layers, batch_first=True)
    head = torch.nn.Linear(args.rnn_size, vocab_size)
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=2e-3)
    batcher = StreamBatcher.from_ids(ids, args.batch_size, args.seq_length)
    state = None
    start = time.perf_counter()
    for _ in range(steps):
        x, y, _ = batcher.next_batch()
        out, state = lstm(F.one_hot(x, vocab_size).float(), state)
        loss = F.cross_entropy(head(out).reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state = detach_state(state)
        loss.item()
    return steps * args.batch_size * args.seq_length / (time.perf_counter() - start)


def charlm_steps(ids: np.ndarray, vocab_size: int, args: argparse.Namespace, steps: int) -> float:
    """chars/s of Trainer.fit with its default callbacks (evaluation is not counted: both sides train only)."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size, "lstm", args.rnn_size, args.num_layers))
    splits = {"train": ids, "val": ids[:0], "test": ids[:0]}
    config = TrainConfig(batch_size=args.batch_size, seq_length=args.seq_length, max_iters=steps, device="cpu")
    trainer = Trainer(model, None, splits, config)  # type: ignore[arg-type]
    start = time.perf_counter()
    trainer.fit()
    return steps * args.batch_size * args.seq_length / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rnn-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seq-length", type=int, default=50)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vocab_size = 65
    ids = np.random.default_rng(0).integers(0, vocab_size, 2_000_000)
    bare_steps(ids, vocab_size, args, 10)  # warm-up: allocator, kernels, lazy imports
    charlm_steps(ids, vocab_size, args, 10)
    ratios, bare_rates, charlm_rates = [], [], []
    for _ in range(args.rounds):
        bare = bare_steps(ids, vocab_size, args, args.steps)
        ours = charlm_steps(ids, vocab_size, args, args.steps)
        bare_rates.append(bare)
        charlm_rates.append(ours)
        ratios.append(ours / bare)
    print(f"LSTM {args.num_layers}x{args.rnn_size}, batch {args.batch_size}, seq {args.seq_length}, "
          f"{args.threads} threads, {args.rounds} rounds of {args.steps} steps")
    print(f"bare PyTorch step : {statistics.median(bare_rates):10,.0f} chars/s (median)")
    print(f"charlm Trainer    : {statistics.median(charlm_rates):10,.0f} chars/s (median)")
    print(f"ratio charlm/bare : {statistics.median(ratios):.3f} (per round: {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
