"""How much training the cpu profile's LSTM needs: the validation curve in iterations and seconds, up to a target.

    CHARLM_DATA_MIRROR=../shared/data CHARLM_THREADS=1 python benchmarks/bench_profile_budget.py warandpeace \\
        --target 1.263 --seconds 1800
    CHARLM_DATA_MIRROR=../shared/data CHARLM_THREADS=1 python benchmarks/bench_profile_budget.py tinyshakespeare \\
        --dropout 0.2 --fractions 0.9 0.05 0.05 --seconds 600
    CHARLM_DATA_MIRROR=../shared/data CHARLM_THREADS=1 python benchmarks/bench_profile_budget.py warpeace_input \\
        --striped --rnn-size 512 --recipe char-rnn --precision fp32 --cpu-seconds 1800

The cpu profile's model (2x256 LSTM, one-hot input, batch 50, seq 100, Adam; other sizes by option) trained through the Python API
(charlm.run.train) with the new defaults (precision auto). Each validation pass prints one JSON line (iteration,
training seconds, process CPU seconds, val loss), so a run cut short still gives its curve; it stops at --seconds or at the first
validation loss at or below --target (or at --cpu-seconds of the process's CPU time: on a shared machine that is
the budget that does not depend on load). Seconds depend on machine load; iterations do not, and CPU seconds
(with one thread) hardly do: report them. At the end, the test loss of the best-validation weights.
--striped cuts the text by char-rnn's split (batch-size rows of seq-length chunks) instead of contiguously;
--recipe names one of bench_recipe.py's variants: ours (Adam, global-norm clipping, PyTorch's initial weights),
char-rnn (RMSProp alpha 0.95, gradients clamped to +-5, uniform +-0.08 initial weights, forget-gate bias 1) or a mix.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from charlm import datasets
from charlm.run import train
from charlm.split import Split
from charlm.trainer import Callback, Trainer, TrainConfig

from bench_recipe import VARIANTS as RECIPES  # the recipes bench_recipe.py compares, by name


class PrintCurve(Callback):
    def __init__(self, target: float | None, cpu_seconds: float | None = None) -> None:
        self.target, self.cpu_seconds = target, cpu_seconds
        self.started = time.perf_counter()

    def on_step_end(self, trainer: Trainer) -> None:
        if self.cpu_seconds is not None and time.process_time() >= self.cpu_seconds:
            trainer.request_stop("cpu budget")

    def on_evaluate(self, trainer: Trainer) -> None:
        st = trainer.state
        print(json.dumps({"iteration": st.iteration, "train_seconds": round(st.elapsed, 1),
                          "wall_seconds": round(time.perf_counter() - self.started, 1),
                          "cpu_seconds": round(time.process_time(), 1),
                          "val_loss": round(st.val_loss, 4), "train_loss": round(st.train_loss, 4),
                          "threads": torch.get_num_threads(), "precision": trainer.precision}), flush=True)
        if self.target is not None and st.val_loss <= self.target:
            trainer.request_stop("target reached")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="warandpeace, tinyshakespeare, ...")
    parser.add_argument("--target", type=float, help="stop at the first validation loss at or below this")
    parser.add_argument("--seconds", type=float, default=1800, help="training seconds at most")
    parser.add_argument("--iters", type=int, help="iterations at most (a limit that does not depend on load)")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--rnn-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seq-length", type=int, default=100)
    parser.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1))
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--striped", action="store_true", help="char-rnn's striped split instead of contiguous")
    parser.add_argument("--recipe", choices=list(RECIPES), default="ours")
    parser.add_argument("--cpu-seconds", type=float, help="stop once the process has used this much CPU time")
    args = parser.parse_args()
    text = datasets.read(args.dataset)
    config = TrainConfig(batch_size=args.batch_size, seq_length=args.seq_length, learning_rate=args.learning_rate, max_seconds=args.seconds, max_iters=args.iters,
                         eval_interval=args.eval_interval, precision=args.precision, device="cpu",
                         **RECIPES[args.recipe])  # type: ignore[arg-type]
    model = {"model": "lstm", "num_layers": args.num_layers, "rnn_size": args.rnn_size, "dropout": args.dropout,
             "embedding_size": 0}
    split = Split("striped" if args.striped else "contiguous", tuple(args.fractions))
    result = train(text, None, model, config, split=split, progress="none",
                   callbacks=[PrintCurve(args.target, args.cpu_seconds)])
    st = result.state
    print(json.dumps({"done": st.stop_reason, "iteration": st.iteration, "train_seconds": round(st.elapsed, 1),
                      "cpu_seconds": round(time.process_time(), 1), "best_val_loss": st.best_val_loss,
                      "best_iteration": st.best_iteration, "test_loss": result.test_loss(),
                      "split": result.splits.split.label}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
