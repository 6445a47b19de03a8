"""`charlm train | sample | eval | ngram`: char-rnn's workflow, with char-rnn's option names."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from charlm.errors import run_command


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a text file", description="Train a character-level RNN.")
    p.add_argument("file", help="UTF-8 text file (see --encoding)")
    p.add_argument("--out", required=True, help="run directory: checkpoints best/ and last/, metrics.jsonl")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--encoding", default="utf-8")
    m = p.add_argument_group("model (ignored with --resume)")
    m.add_argument("--model", choices=("rnn", "gru", "lstm"), default="lstm")
    m.add_argument("--rnn-size", type=int, default=128)
    m.add_argument("--num-layers", type=int, default=2)
    m.add_argument("--dropout", type=float, default=0.0)
    m.add_argument("--embedding-size", type=int, default=0, help="0 = one-hot input as in char-rnn")
    t = p.add_argument_group("training (limits are totals over the run; with --resume only limits given here apply)")
    t.add_argument("--seq-length", type=int, default=50)
    t.add_argument("--batch-size", type=int, default=50)
    t.add_argument("--learning-rate", type=float, default=2e-3)
    t.add_argument("--optimizer", choices=("adam", "rmsprop"), default="adam")
    t.add_argument("--learning-rate-decay", type=float, default=0.97)
    t.add_argument("--learning-rate-decay-after", type=int, default=10)
    t.add_argument("--grad-clip", type=float, default=5.0)
    t.add_argument("--max-epochs", type=float)
    t.add_argument("--max-iters", type=int)
    t.add_argument("--max-seconds", type=float)
    t.add_argument("--eval-interval", type=int, default=1000, help="iterations between validation passes")
    t.add_argument("--train-frac", type=float, default=0.90)
    t.add_argument("--val-frac", type=float, default=0.05)
    t.add_argument("--seed", type=int, default=123)
    t.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps")
    t.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="auto: bf16 on CPUs with native bf16 units, TF32 on CUDA, else fp32; evaluation is always fp32")
    t.add_argument("--sample-every", type=int, help="print a 200-character sample every N iterations")
    t.add_argument("--progress", choices=("bar", "log", "none"), default="bar")


def _run_train(args: argparse.Namespace) -> int:
    from charlm.run import LIMITS, train
    from charlm.trainer import TrainConfig
    from charlm.vocab import read_text

    text = read_text(args.file, args.encoding)
    limits = {k: getattr(args, k) for k in LIMITS if getattr(args, k) is not None}
    model = {"model": args.model, "rnn_size": args.rnn_size, "num_layers": args.num_layers,
             "dropout": args.dropout, "embedding_size": args.embedding_size}
    config = TrainConfig(
        batch_size=args.batch_size, seq_length=args.seq_length, learning_rate=args.learning_rate,
        optimizer=args.optimizer, learning_rate_decay=args.learning_rate_decay,
        learning_rate_decay_after=args.learning_rate_decay_after, grad_clip=args.grad_clip,
        eval_interval=args.eval_interval, seed=args.seed, device=args.device, precision=args.precision, **limits)
    test_frac = max(0.0, 1.0 - args.train_frac - args.val_frac)
    printer = (lambda s: print(s, flush=True)) if args.sample_every else None
    result = train(text, args.out, model, config, fractions=(args.train_frac, args.val_frac, test_frac),
                   resume=args.resume, overrides=limits if args.resume else None, progress=args.progress,
                   sample_every=args.sample_every, source=str(Path(args.file).resolve()))
    import torch.distributed

    from charlm.device import distributed_from_env

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # every rank is done: the trainer ended on a barrier
    if not distributed_from_env().is_main:  # under torchrun, rank 0 speaks for the job
        return 130 if result.state.stop_reason == "interrupted" else 0
    if printer:
        for it, sample_text in result.samples:
            printer(f"--- sample at iteration {it} ---\n{sample_text}")
    st = result.state
    val = f"{st.best_val_loss:.4f}" if st.best_val_loss is not None else "n/a"
    print(f"stopped ({st.stop_reason}) at iteration {st.iteration}, epoch {st.epoch:.2f}, after {st.elapsed:.1f}s; "
          f"best val loss {val} nats/char; checkpoints in {args.out}", file=sys.stderr)
    if st.stop_reason == "interrupted":
        print(f"resume with: charlm train {args.file} --out {args.out} --resume", file=sys.stderr)
        return 130
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="generate text from a checkpoint")
    p.add_argument("checkpoint", help="run directory (uses best/, else last/) or a checkpoint directory")
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--prime", "--primetext", default="", dest="prime")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--top-k", type=int)
    p.add_argument("--argmax", action="store_true", help="always take the likeliest character (temperature 0)")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps")


def _run_sample(args: argparse.Namespace) -> int:
    from charlm.checkpoint import load_checkpoint
    from charlm.device import configure_threads
    from charlm.sampler import sample, stream

    configure_threads()
    ckpt = load_checkpoint(args.checkpoint, device=args.device)
    temperature = 0.0 if args.argmax else args.temperature
    if args.num_samples > 1:
        for n, text in enumerate(sample(ckpt.model, ckpt.vocab, args.length, temperature, args.prime, args.seed,
                                        args.top_k, args.num_samples)):
            print(f"--- sample {n + 1} ---\n{text}")
        return 0
    chars_stream = stream(ckpt.model, ckpt.vocab, args.length, temperature, args.prime, args.seed, args.top_k)
    sys.stdout.write(args.prime)
    for chars in chars_stream:
        sys.stdout.write(chars[0])
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="loss of a checkpoint on a text, in nats/char and bits/char")
    p.add_argument("checkpoint")
    p.add_argument("file")
    p.add_argument("--encoding", default="utf-8")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--seq-length", type=int, default=100)
    p.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps")


def _run_eval(args: argparse.Namespace) -> int:
    import math

    from charlm.checkpoint import load_checkpoint
    from charlm.device import configure_threads
    from charlm.trainer import evaluate
    from charlm.vocab import read_text

    configure_threads()
    ckpt = load_checkpoint(args.checkpoint, device=args.device)
    ids = ckpt.vocab.encode(read_text(args.file, args.encoding), what=str(args.file))
    loss = evaluate(ckpt.model, ids, args.batch_size, args.seq_length)
    print(f"{args.file}: {loss:.4f} nats/char, {loss / math.log(2):.4f} bits/char over {len(ids):,} characters")
    return 0


def _add_ngram(sub: argparse._SubParsersAction) -> None:
    from charlm.analysis import ngram

    p = sub.add_parser("ngram", help="fit a character n-gram baseline and report its held-out loss")
    ngram.configure_parser(p)


def _run_ngram(args: argparse.Namespace) -> int:
    from charlm.analysis import ngram

    return ngram.run(args)


COMMANDS = {"train": (_add_train, _run_train), "sample": (_add_sample, _run_sample),
            "eval": (_add_eval, _run_eval), "ngram": (_add_ngram, _run_ngram)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="charlm", description="Character-level RNN language models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: COMMANDS[args.command][1](args))

if __name__ == "__main__":
    raise SystemExit(main())
