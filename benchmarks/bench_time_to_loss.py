"""Validation loss reached in a fixed time: `charlm train` against a plain PyTorch loop, same model and data.

    CHARLM_DATA_MIRROR=../shared/data python benchmarks/bench_time_to_loss.py [--seconds 120]

char-rnn's default model (2x128 LSTM, batch 50, seq 50, Adam 2e-3) on tiny Shakespeare, 90/5/5 split. The plain
loop is the textbook one (embedding-free one-hot input, carried state, no clipping, no callbacks); both are
scored by the same full pass over the validation split (float32). charlm runs with its defaults (--precision
auto: bf16 on this project's CPU); the plain loop stays float32. Run one after the other, so load hits both alike only
on a quiet machine: check `uptime` first.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from charlm import datasets
from charlm.data import StreamBatcher, split_ids
from charlm.model import CharRNN, ModelConfig, detach_state
from charlm.checkpoint import read_info
from charlm.trainer import evaluate
from charlm.vocab import Vocab


def plain_loop(text: str, seconds: float) -> tuple[float, int]:
    vocab = Vocab.from_text(text)
    splits = split_ids(vocab.encode(text))
    torch.manual_seed(123)
    model = CharRNN(ModelConfig(len(vocab), "lstm", 128, 2))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batcher = StreamBatcher.from_ids(splits["train"], 50, 50)
    state, steps, start = None, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x, y, new_epoch = batcher.next_batch()
        state = None if new_epoch else state
        _, loss, state = model(x, state, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state = detach_state(state)
        steps += 1
    return evaluate(model, splits["val"], 50, 50), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--eval-interval", type=int, default=500, help="charlm's validation passes, for the curve")
    args = parser.parse_args()
    corpus = datasets.path("tinyshakespeare", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "charlm", "train", str(corpus), "--out", f"{tmp}/run",
               "--max-seconds", str(args.seconds), "--eval-interval", str(args.eval_interval), "--progress", "none"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - start
        info = read_info(f"{tmp}/run", prefer="best")
        records = [json.loads(line) for line in Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()]
        curve = [(r["iteration"], r["val_loss"]) for r in records if r["event"] == "val"]
    plain, steps = plain_loop(corpus.read_text(encoding="utf-8"), args.seconds)
    print(f"charlm train --max-seconds {args.seconds:.0f}: best val loss {info.best_val_loss:.4f} nats/char "
          f"({info.best_val_loss / math.log(2):.4f} bits) at iteration {info.best_iteration}, wall {wall:.0f}s")
    print(f"  precision {info.precision}, {info.train_config.batch_size}x{info.train_config.seq_length}; "
          f"val loss by iteration (does not depend on load): "
          + ", ".join(f"{it}: {loss:.4f}" for it, loss in curve))
    print(f"plain PyTorch loop (fp32), {args.seconds:.0f}s: val loss {plain:.4f} nats/char after {steps} steps")


if __name__ == "__main__":
    main()
