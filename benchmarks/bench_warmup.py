"""How much the warm-up before each stripe changes a trained model's loss on char-rnn's striped split.

    CHARLM_DATA_MIRROR=../shared/data CHARLM_THREADS=1 python benchmarks/bench_warmup.py

Evaluation scores each stripe after reading the text before it in its row (charlm.data.StripedIds.held_out,
default one chunk); char-rnn started every validation pass from a zero state. This trains a model with the
winning recipe of bench_recipe.py (RMSProp, global-norm clipping, PyTorch's initial weights) on
``warpeace_input`` for --iters iterations, then scores its validation and test stripes after each warm-up length,
printing the loss and the CPU seconds of each pass.
"""

from __future__ import annotations

import argparse
import time

from charlm import datasets
from charlm.run import train
from charlm.split import Split
from charlm.trainer import TrainConfig, evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="warpeace_input")
    parser.add_argument("--chars", type=int, help="use only the first N characters (tests)")
    parser.add_argument("--iters", type=int, default=800)
    parser.add_argument("--rnn-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seq-length", type=int, default=100)
    parser.add_argument("--warmups", type=int, nargs="+", default=[0, 25, 100, 300, 1000, 3000])
    args = parser.parse_args()
    text = datasets.read(args.dataset)[: args.chars]
    config = TrainConfig(batch_size=args.batch_size, seq_length=args.seq_length, max_iters=args.iters,
                         eval_interval=args.iters, optimizer="rmsprop", decay_rate=0.95, precision="fp32", device="cpu")
    run = train(text, None, {"rnn_size": args.rnn_size, "num_layers": 2}, config,
                split=Split("striped", (0.8, 0.1, 0.1)), progress="none")
    print(f"{args.dataset}, {run.splits.split.label}, LSTM 2x{args.rnn_size}, {args.iters} iterations", flush=True)
    for name in ("val", "test"):
        for warmup in args.warmups:
            started = time.process_time()
            loss = evaluate(run.model, run.splits.held_out(name, args.batch_size, args.seq_length, warmup=warmup))
            print(f"{name} warmup {warmup:>5}: {loss:.5f} nats/char ({time.process_time() - started:.1f} CPU s)",
                  flush=True)


if __name__ == "__main__":
    main()
