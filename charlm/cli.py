"""`charlm train | sample | eval | ngram`: char-rnn's workflow, with char-rnn's option names."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Sequence

from charlm.errors import run_command


# Help for the options made from ModelConfig and TrainConfig fields; their defaults come from the dataclasses.
_HELP = {
    "model": "recurrent cell", "rnn_size": "hidden units per layer", "num_layers": "stacked recurrent layers",
    "dropout": "dropout between layers and before the decoder, in [0, 1)",
    "embedding_size": "0 = one-hot input as in char-rnn", "seq_length": "characters per backpropagation window",
    "batch_size": "streams trained side by side", "learning_rate": "initial learning rate",
    "learning_rate_decay": "multiply the rate by this every epoch ...",
    "learning_rate_decay_after": "... from this epoch on", "decay_rate": "RMSProp's smoothing",
    "grad_clip": "clip gradients to this (see --grad-clip-mode); 0 disables",
    "grad_clip_mode": "norm: scale all gradients to a global norm of at most --grad-clip; value: clamp each "
    "element to +-grad-clip, as char-rnn", "init_range": "0 keeps PyTorch's initial weights; char-rnn draws every "
    "parameter uniformly from +-0.08", "forget_bias": "LSTM forget gates' initial input bias (char-rnn: 1); unset "
    "keeps the initialiser's", "max_epochs": "stop after this many epochs "
    "(50 when no limit is given)", "max_iters": "stop after this many iterations", "max_seconds": "stop after "
    "this many seconds of training", "eval_interval": "iterations between validation passes and checkpoints",
    "log_interval": "iterations between loss reads (metrics.jsonl lines, stop checks)",
    "device": "auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps",
    "precision": "auto: bf16 on CPUs with native bf16 units, else fp32 (the fastest measured on CUDA); tf32: CUDA "
    "only; evaluation is always fp32",
    "seed": "the initial weights, the batches' dropout and sampling while training: same seed, same run",
    "optimizer": "adam, or rmsprop as char-rnn", "explode_factor": "stop when the loss exceeds this times the first loss",
}
_NOT_OPTIONS = {"vocab_size"}  # taken from the text


def add_dataclass_options(group: argparse._ArgumentGroup, config_class: type, suppress: bool = False) -> list[str]:
    """One option per field of ``config_class`` under char-rnn's name (rnn_size -> --rnn-size), with the
    dataclass's default, type and choices (a field's ``choices`` metadata, or its Literal); the values are checked
    by the dataclass itself, not here. ``suppress`` leaves options not given out of the namespace. Returns the
    field names."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(config_class)
    names = []
    for f in dataclasses.fields(config_class):
        if f.name in _NOT_OPTIONS:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind, default = hints[f.name], argparse.SUPPRESS if suppress else f.default
        args = typing.get_args(kind)
        choices = f.metadata.get("choices") or (args if typing.get_origin(kind) is typing.Literal else None)
        if choices:
            group.add_argument(flag, choices=choices, default=default, help=_HELP.get(f.name))
        elif kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=_HELP.get(f.name))
        else:
            base = next((a for a in args if a is not type(None)), kind)  # float | None -> float
            group.add_argument(flag, type=base, default=default, metavar=base.__name__.upper(),
                               help=_HELP.get(f.name))
        names.append(f.name)
    return names


def _add_train(sub: argparse._SubParsersAction, suppress: bool = False) -> None:
    from charlm.config import TrainConfig
    from charlm.data import DEFAULT_SPLIT, SPLIT_KINDS
    from charlm.model import ModelConfig

    p = sub.add_parser("train", help="train a model on a text file", description="Train a character-level RNN.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("file", help="UTF-8 text file (see --encoding)")
    p.add_argument("--out", required=True, help="run directory: checkpoints best/ and last/, metrics.jsonl")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint; limits, --device, --precision and the "
                        "intervals given apply, other settings cannot change")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the finished or resumable charlm run in --out (a folder holding anything else "
                        "is never replaced)")
    p.add_argument("--encoding", default="utf-8", help="the file's text encoding")
    m = p.add_argument_group("model")
    p.set_defaults(model_fields=add_dataclass_options(m, ModelConfig, suppress))
    t = p.add_argument_group("training (limits are totals over the run; --resume says what it may change)")
    p.set_defaults(train_fields=add_dataclass_options(t, TrainConfig, suppress))
    unset = argparse.SUPPRESS if suppress else None
    t.add_argument("--split", choices=SPLIT_KINDS, default=unset or DEFAULT_SPLIT.kind,
                   help="contiguous: the first --train-frac of the text trains, the next --val-frac validates, the "
                        "rest tests; striped: char-rnn's, the text laid out as --batch-size rows cut into "
                        "--seq-length chunks, the first chunks of every row train, the next validate, the last test")
    t.add_argument("--train-frac", type=float, default=unset or DEFAULT_SPLIT.fractions[0],
                   help="share of the text trained on (striped: of every row's chunks)")
    t.add_argument("--val-frac", type=float, default=unset or DEFAULT_SPLIT.fractions[1],
                   help="share held out for validation; the rest is test")
    t.add_argument("--sample-every", type=int, metavar="N",
                   help="print a 200-character sample every N iterations, while training")
    t.add_argument("--progress", choices=("bar", "log", "none"), default="bar")


def _run_train(args: argparse.Namespace) -> int:
    from charlm import distributed
    from charlm.callbacks import SampleEvery
    from charlm.config import TrainConfig
    from charlm.data import Split
    from charlm.run import train
    from charlm.vocab import read_text

    given = args.given  # the options on the command line; with --resume only these are changes
    model = {k: getattr(args, k) for k in args.model_fields if not args.resume or k in given}
    settings = {k: getattr(args, k) for k in args.train_fields if not args.resume or k in given}
    # Checked before reading the text: a bad option is reported at once, whatever the size of the file.
    config = TrainConfig(**settings)
    split = None
    if not args.resume or {"split", "train_frac", "val_frac"} & given:
        # char-rnn's test_frac: what the train and validation shares leave
        split = Split(args.split, (args.train_frac, args.val_frac, max(0.0, 1.0 - (args.train_frac + args.val_frac))))
    main_process = distributed.from_env().is_main  # under torchrun, rank 0 speaks for the job
    sampler = SampleEvery(args.sample_every, printer=lambda s: print(s, flush=True)) \
        if args.sample_every is not None and main_process else None
    text = read_text(args.file, args.encoding)
    result = train(text, args.out, model, None if args.resume else config, split=split, resume=args.resume,
                   overwrite=args.overwrite, overrides=settings if args.resume else None, progress=args.progress,
                   callbacks=[sampler] if sampler else (), source=str(Path(args.file).resolve()))
    st = result.state
    code = 128 + (result.signal or signal.SIGINT) if st.stop_reason == "interrupted" else 0
    if not main_process:
        return code
    val = f"{st.best_val_loss:.4f} (iteration {st.best_iteration})" if st.best_val_loss is not None else "n/a"
    saved = f"checkpoints in {args.out}" if (Path(args.out) / "last").is_dir() else "no checkpoint written"
    print(f"stopped ({st.stop_reason}) at iteration {st.iteration}, epoch {st.epoch:.2f}, after {st.elapsed:.1f}s; "
          f"best val loss {val} nats/char; {saved}", file=sys.stderr)
    if code:
        print(f"resume with: charlm train {args.file} --out {args.out} --resume", file=sys.stderr)
    return code


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="generate text from a checkpoint",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    from charlm.sampler import check_sample_args, sample, stream

    configure_threads()
    temperature = 0.0 if args.argmax else args.temperature
    check_sample_args(args.length, temperature, args.top_k, args.num_samples, args.seed)
    ckpt = load_checkpoint(args.checkpoint, device=args.device)
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
    p = sub.add_parser("eval", help="loss of a checkpoint on a text, in nats/char and bits/char",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("file")
    p.add_argument("--encoding", default="utf-8")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--seq-length", type=int, default=100)
    p.add_argument("--device", default="auto", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps")


def _run_eval(args: argparse.Namespace) -> int:
    import math

    from charlm.checkpoint import load_checkpoint
    from charlm.data import check_eval_args
    from charlm.device import configure_threads
    from charlm.trainer import evaluate
    from charlm.vocab import read_text

    check_eval_args(args.batch_size, args.seq_length)  # before the checkpoint and the text are read
    configure_threads()
    ckpt = load_checkpoint(args.checkpoint, device=args.device)
    ids = ckpt.vocab.encode(read_text(args.file, args.encoding), what=str(args.file))
    loss = evaluate(ckpt.model, ids, args.batch_size, args.seq_length)
    # Every character but the first is predicted, and scored.
    print(f"{args.file}: {loss:.4f} nats/char, {loss / math.log(2):.4f} bits/char over {len(ids) - 1:,} characters "
          f"(every one after the first)")
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


def build_parser(suppress: bool = False) -> argparse.ArgumentParser:
    """The command line; with ``suppress`` train's options that are not given stay out of the namespace (how
    --resume tells a flag given from a default)."""
    parser = argparse.ArgumentParser(prog="charlm", description="Character-level RNN language models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add, _) in COMMANDS.items():
        add(sub, suppress) if name == "train" else add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A terminal or pipe that cannot show a character (LANG=C) gets an escape, not a UnicodeEncodeError.
    for out in (sys.stdout, sys.stderr):
        if hasattr(out, "reconfigure"):
            out.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    if args.command == "train":
        args.given = set(vars(build_parser(suppress=True).parse_args(argv)))
    return run_command(lambda: COMMANDS[args.command][1](args))

def entry() -> None:
    """The `charlm` command (and `python -m charlm`): main(), then exit without the interpreter's teardown.
    Importing torch makes that teardown take 0.4-0.9 s on this project's machine, longer than everything else a
    stop signal asks for (a training step and a checkpoint); every file has been written, synced and closed by
    then, and stdout and stderr are flushed here."""
    code = main()
    for out in (sys.stdout, sys.stderr):
        try:
            out.flush()
        except (OSError, ValueError):  # a closed pipe (`charlm sample | head`): nothing left to say
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
