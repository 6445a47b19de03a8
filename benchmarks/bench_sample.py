"""Sampling speed in characters per second at batch 1, for char-rnn's default model and the post's large one.

    python benchmarks/bench_sample.py [--length 2000]

At batch 1 each character is one small step through every layer, so the rate is bound by per-step overhead
(Python, the op dispatcher, kernel launches on a GPU) rather than arithmetic; the batch-64 row shows the
arithmetic is not the limit: 64 samples at once cost little more per step.
"""

from __future__ import annotations

import argparse
import time

import torch

from charlm.model import CharRNN, ModelConfig
from charlm.sampler import stream
from charlm.vocab import Vocab


def rate(model: CharRNN, vocab: Vocab, length: int, num_samples: int) -> float:
    start = time.perf_counter()
    for _ in stream(model, vocab, length, temperature=1.0, seed=0, num_samples=num_samples):
        pass
    return length * num_samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    vocab = Vocab.from_text("".join(chr(c) for c in range(32, 32 + 96)))
    print(f"device {args.device}, {torch.get_num_threads()} threads, {args.length} characters per sample")
    for layers, size in ((2, 128), (3, 512)):
        model = CharRNN(ModelConfig(len(vocab), "lstm", size, layers)).to(args.device).eval()
        rate(model, vocab, 50, 1)  # warm-up
        single = rate(model, vocab, args.length, 1)
        batched = rate(model, vocab, args.length // 4, 64)
        print(f"LSTM {layers}x{size:<4} ({model.num_parameters():>9,} params): batch 1 {single:9,.0f} chars/s; "
              f"batch 64 {batched:10,.0f} chars/s in total")


if __name__ == "__main__":
    main()
