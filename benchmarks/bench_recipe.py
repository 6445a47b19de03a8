"""Which training recipe reaches the lower validation loss: ours against char-rnn's, the same budget, side by side.

    CHARLM_DATA_MIRROR=../shared/data nohup python benchmarks/bench_recipe.py > runs/bench_recipe.log 2>&1 &

Each variant trains the same model (2x128 LSTM, one-hot input, no dropout, batch 50 x seq 100, learning rate
2e-3, seed 123) on char-rnn's War and Peace (``warpeace_input``) with char-rnn's striped split (50 rows cut into
chunks of 100, 80/10/10), in float32, for the same number of iterations, in its own process at one thread
(``CHARLM_THREADS=1``), ``--parallel`` processes at a time. The variants differ only where char-rnn's recipe
differs from ours:

    ours      Adam, gradients scaled to a global norm of at most 5, PyTorch's initial weights
    char-rnn  RMSProp (alpha = decay_rate 0.95), every gradient element clamped to +-5, every parameter drawn
              uniformly from +-0.08 and the LSTM forget gates' input bias set to 1 (char-rnn's train.lua)
    adam+init+clamp    char-rnn's recipe with Adam
    rmsprop+ours       our recipe with char-rnn's RMSProp

The budget is an iteration count, not seconds, because the machine is shared and its load changes: the default
1,600 iterations is what ten minutes of one thread give at this shape. Measured once, 2026-12-03, on this
project's 2-core machine at load average 3.7: ``charlm train`` (2x128, batch 50 x seq 100, fp32, one thread) ran
240 iterations in 87.8 s of steps, 13,660 chars/s, so 600 s x 13,660 / 5,000 characters an iteration = 1,639,
rounded down to 1,600. Each run prints its own chars/s (steps only, validation excluded), to show that the
variants cost the same per step.

Every ``--eval-interval`` iterations a run prints a JSON line with its validation loss (each stripe scored
after the chunk before it in its row); at the end, the test loss of its best-validation weights. The table
at the end: one row per variant, the lowest validation loss first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

VARIANTS: dict[str, dict[str, object]] = {
    "ours": {"optimizer": "adam", "grad_clip_mode": "norm", "init_range": 0.0, "forget_bias": None},
    "char-rnn": {"optimizer": "rmsprop", "decay_rate": 0.95, "grad_clip_mode": "value", "init_range": 0.08,
                 "forget_bias": 1.0},
    "adam+init+clamp": {"optimizer": "adam", "grad_clip_mode": "value", "init_range": 0.08, "forget_bias": 1.0},
    "rmsprop+ours": {"optimizer": "rmsprop", "decay_rate": 0.95, "grad_clip_mode": "norm", "init_range": 0.0,
                     "forget_bias": None},
}


def child(args: argparse.Namespace) -> None:
    """One variant's run: JSON lines on stdout, one per validation pass, then a summary."""
    import torch

    from charlm import datasets
    from charlm.data import Split
    from charlm.run import train
    from charlm.trainer import Callback, Trainer, TrainConfig

    class Curve(Callback):
        def on_evaluate(self, trainer: Trainer) -> None:
            st = trainer.state
            print(json.dumps({"variant": args.child, "iteration": st.iteration, "val_loss": round(st.val_loss, 4),
                              "train_loss": round(st.train_loss, 4), "train_seconds": round(st.elapsed, 1),
                              "cpu_seconds": round(time.process_time(), 1)}), flush=True)

    text = datasets.read(args.dataset)
    if args.chars:
        text = text[: args.chars]
    config = TrainConfig(batch_size=args.batch_size, seq_length=args.seq_length, learning_rate=args.learning_rate,
                         max_iters=args.iters, eval_interval=args.eval_interval, precision="fp32", device="cpu",
                         seed=args.seed, grad_clip=5.0, **VARIANTS[args.child])  # type: ignore[arg-type]
    model = {"model": "lstm", "num_layers": args.num_layers, "rnn_size": args.rnn_size, "dropout": 0.0,
             "embedding_size": 0}
    result = train(text, None, model, config, split=Split("striped", tuple(args.fractions)), progress="none",
                   callbacks=[Curve()])
    st = result.state
    print(json.dumps({"variant": args.child, "done": st.stop_reason, "iterations": st.iteration,
                      "best_val_loss": st.best_val_loss, "best_iteration": st.best_iteration,
                      "last_val_loss": st.val_loss, "test_loss": result.test_loss(),
                      "chars_per_second": st.iteration * args.batch_size * args.seq_length / st.elapsed,
                      "train_seconds": st.elapsed, "cpu_seconds": time.process_time(),
                      "threads": torch.get_num_threads()}), flush=True)


def _settings(name: str) -> str:
    v = VARIANTS[name]
    clip = "clamp 5" if v["grad_clip_mode"] == "value" else "norm 5"
    init = f"U(+-{v['init_range']:g}), forget bias {v['forget_bias']:g}" if v["init_range"] else "PyTorch's"
    return f"{v['optimizer']}, {clip}, {init}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="warpeace_input")
    parser.add_argument("--chars", type=int, help="use only the first N characters (tests)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--iters", type=int, default=1600, help="the budget: iterations of every variant")
    parser.add_argument("--eval-interval", type=int, default=200)
    parser.add_argument("--rnn-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seq-length", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1))
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--parallel", type=int, default=2, help="variants trained at a time, one thread each")
    parser.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    shared = [arg for arg in sys.argv[1:]]
    env = {**os.environ, "CHARLM_THREADS": "1"}
    summaries: dict[str, dict[str, object]] = {}
    pending = list(args.variants)
    running: list[tuple[str, subprocess.Popen]] = []
    print(f"{len(pending)} variants, {args.iters:,} iterations each, {args.parallel} at a time, one thread each",
          flush=True)
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            proc = subprocess.Popen([sys.executable, __file__, *shared, "--child", name], env=env,
                                    stdout=subprocess.PIPE, text=True)
            running.append((name, proc))
        name, proc = running.pop(0)
        for line in proc.stdout:  # type: ignore[union-attr]
            print(line, end="", flush=True)
            record = json.loads(line)
            if "done" in record:
                summaries[name] = record
        if proc.wait() != 0:
            raise SystemExit(f"variant {name} failed with exit status {proc.returncode}")
    print(f"\n{args.dataset}, striped {args.batch_size}x{args.seq_length} {'/'.join(f'{100 * f:g}' for f in args.fractions)}, "
          f"LSTM {args.num_layers}x{args.rnn_size}, {args.iters:,} iterations, fp32, one thread each\n")
    print("| variant | recipe | best val (iteration) | last val | test (best weights) | chars/s | CPU s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, s in sorted(summaries.items(), key=lambda kv: kv[1]["best_val_loss"]):  # type: ignore[arg-type,return-value]
        print(f"| {name} | {_settings(name)} | {s['best_val_loss']:.4f} ({s['best_iteration']}) | "
              f"{s['last_val_loss']:.4f} | {s['test_loss']:.4f} | {s['chars_per_second']:,.0f} | {s['cpu_seconds']:.0f} |")


if __name__ == "__main__":
    main()
