"""Training throughput of charlm's Trainer against bare PyTorch steps on the same shapes, in one process.

    python benchmarks/bench_train.py [--rnn-size 256 --num-layers 2 --batch-size 50 --seq-length 100 --threads 1 2]

Three loops train the same model (one-hot input, nn.LSTM, Linear, cross-entropy, Adam) on the same text for the
same number of steps: the bare step in float32, the bare step under bf16 autocast (on CPUs with native bf16
units only: elsewhere oneDNN has no bf16 LSTM), and charlm's Trainer with its defaults (--precision auto). Rounds alternate so machine load hits all alike; CHARLM_THREADS is ignored,
each thread count is set here. Ratios are charlm/bare chars per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from charlm.data import StreamBatcher
from charlm.device import cpu_has_native_bf16
from charlm.model import CharRNN, ModelConfig, detach_state
from charlm.trainer import Trainer, TrainConfig


def bare_steps(ids: np.ndarray, vocab_size: int, args: argparse.Namespace, steps: int, bf16: bool = False) -> float:
    """chars/s of the textbook loop: no callbacks, no clipping, no checks; bf16 autocast around the forward pass."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(vocab_size, args.rnn_size, args.num_layers, batch_first=True)
    head = torch.nn.Linear(args.rnn_size, vocab_size)
    opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=2e-3)
    batcher = StreamBatcher.from_ids(ids, args.batch_size, args.seq_length)
    state = None
    start = time.perf_counter()
    for _ in range(steps):
        x, y, _ = batcher.next_batch()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out, state = lstm(F.one_hot(x, vocab_size).float(), state)
            logits = head(out)
        loss = F.cross_entropy(logits.float().reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state = tuple(s.float() for s in detach_state(state))
        loss.item()
    return steps * args.batch_size * args.seq_length / (time.perf_counter() - start)


def charlm_steps(ids: np.ndarray, vocab_size: int, args: argparse.Namespace, steps: int) -> tuple[float, str]:
    """chars/s of Trainer.fit with its default callbacks (evaluation is not counted: all loops train only)."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size, "lstm", args.rnn_size, args.num_layers))
    splits = {"train": ids, "val": ids[:0], "test": ids[:0]}
    config = TrainConfig(batch_size=args.batch_size, seq_length=args.seq_length, max_iters=steps, device="cpu",
                         precision=args.precision)
    trainer = Trainer(model, None, splits, config)  # type: ignore[arg-type]
    start = time.perf_counter()
    trainer.fit()
    return steps * args.batch_size * args.seq_length / (time.perf_counter() - start), trainer.precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rnn-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seq-length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument("--precision", default="auto", help="the Trainer's --precision")
    args = parser.parse_args()
    os.environ.pop("CHARLM_THREADS", None)  # the thread counts measured are the ones given here
    vocab_size = 65
    ids = np.random.default_rng(0).integers(0, vocab_size, 2_000_000)
    bf16 = cpu_has_native_bf16()
    loops = ["fp32", "bf16", "charlm"] if bf16 else ["fp32", "charlm"]
    for threads in args.threads:
        torch.set_num_threads(threads)
        step = {"fp32": lambda n: bare_steps(ids, vocab_size, args, n),
                "bf16": lambda n: bare_steps(ids, vocab_size, args, n, bf16=True),
                "charlm": lambda n: charlm_steps(ids, vocab_size, args, n)[0]}
        for loop in loops:
            step[loop](3)  # warm-up: allocator, kernels, lazy imports
        rates: dict[str, list[float]] = {loop: [] for loop in loops}
        for _ in range(args.rounds):
            for loop in loops:
                rates[loop].append(step[loop](args.steps))
        precision = charlm_steps(ids, vocab_size, args, 1)[1]
        print(f"LSTM {args.num_layers}x{args.rnn_size}, batch {args.batch_size}, seq {args.seq_length}, "
              f"{threads} thread(s), {args.rounds} rounds of {args.steps} steps; Trainer precision {precision}")
        for loop in loops:
            name = "charlm Trainer" if loop == "charlm" else f"bare {loop} step"
            print(f"  {name:<18}: {statistics.median(rates[loop]):10,.0f} chars/s (median)")
        if not bf16:
            print("  bare bf16 step    : not measured (this CPU has no native bf16 units)")
        for loop in loops[:-1]:
            ratios = [c / b for c, b in zip(rates["charlm"], rates[loop])]
            print(f"  charlm / bare {loop}: {statistics.median(ratios):.3f} "
                  f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})", flush=True)

if __name__ == "__main__":
    main()
