"""The check to run the moment a GPU is lent: `make gpu-check` (under 8 minutes on one GPU).

    python benchmarks/gpu_check.py                      # on CUDA; exits 1 if CUDA is missing
    python benchmarks/gpu_check.py --device cpu --quick # dry run on a CPU: proves the script runs, measures nothing

Prints PASS/FAIL lines for what must hold and INFO lines for what is measured; the figures go to
benchmarks/README.md. It covers, in order:
 1. the CUDA-marked tests (tests/test_cuda.py) and the trainer/CLI tests with device auto (= cuda);
 2. which dtype nn.LSTM really runs in under each precision (cuDNN's autocast casts RNNs to fp16 whatever was
    asked), and the fraction of LSTM weight gradients that underflow fp16 at the post's Paul Graham shape;
 3. fp32 / tf32 / bf16 / fp16 short runs of one seed side by side (best validation, evaluated in float32);
 4. resume bit-identity for (2 layers, no dropout), (1 layer, dropout), (2 layers, dropout) - the last uses
    cuDNN's own dropout state, which an RNG restore does not reseed;
 5. a checkpoint trained on the GPU, loaded and resumed on the CPU;
 6. Trainer vs the bare cuDNN loop (data on the device, no clipping, no host reads), chars/s, 2x512, batch 100,
    seq 100, per precision;
 7. the paper profile's War and Peace model (3x512): chars/s, and how long its 50 epochs take.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers import make_text  # noqa: E402

from charlm.checkpoint import load_checkpoint  # noqa: E402
from charlm.device import autocast, cpu_has_native_bf16, needs_grad_scaler, resolve_precision, set_matmul_precision  # noqa: E402
from charlm.model import CharRNN, ModelConfig, detach_state  # noqa: E402
from charlm.run import train  # noqa: E402
from charlm.trainer import Trainer, TrainConfig  # noqa: E402

FP16_SMALLEST_NORMAL = 2.0 ** -14
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print("PASS" if ok else "FAIL", what, flush=True)
    if not ok:
        failures.append(what)


def info(what: str) -> None:
    print("INFO", what, flush=True)


def precisions(device: torch.device) -> list[str]:
    """Every precision the device runs: bf16 on a CPU only with native bf16 units (charlm refuses it elsewhere)."""
    if device.type == "cuda":
        return ["fp32", "tf32", "bf16", "fp16"]
    return ["fp32", "bf16"] if cpu_has_native_bf16() else ["fp32"]


def run_tests(device: torch.device, quick: bool) -> None:
    files = ["tests/test_cuda.py"] + ([] if quick else ["tests/test_trainer.py", "tests/test_cli.py", "tests/test_sampler.py"])
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "-n", "4", *files]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(done.stdout[-2500:], flush=True)
    check(done.returncode in (0, 5) if device.type == "cpu" else done.returncode == 0,
          f"1. pytest {' '.join(files)} (exit {done.returncode})")


def lstm_dtypes_and_underflow(device: torch.device, size: int, batch: int, seq: int) -> None:
    vocab = 96
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab, "lstm", size, 2, 0.5)).to(device)
    x, y = torch.randint(0, vocab, (2, batch, seq), device=device)
    for precision in precisions(device):
        set_matmul_precision(device, precision)
        model.zero_grad()
        with autocast(device, precision):
            _, loss, (h, _) = model(x, None, y)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for name, p in model.rnn.named_parameters() if "weight" in name])
        nonzero = grads[grads != 0]
        below_normal = (nonzero.abs() < FP16_SMALLEST_NORMAL).float().mean().item()
        flushed = (nonzero.half() == 0).float().mean().item()
        info(f"2. precision {precision}: LSTM output/state dtype {h.dtype}; LSTM weight grads below fp16's normal "
             f"range {below_normal:.2%}, zero once cast to fp16 {flushed:.2%} (|g| median {grads.abs().median():.2e})")
    set_matmul_precision(device, "fp32")


def side_by_side(device: torch.device, text: str, tmp: Path, iters: int, size: int) -> None:
    model = {"rnn_size": size, "num_layers": 2, "dropout": 0.1}
    results = {}
    for precision in precisions(device):
        config = TrainConfig(batch_size=32, seq_length=64, max_iters=iters, eval_interval=max(iters // 2, 1), seed=3,
                             device=device.type, precision=precision)
        start = time.perf_counter()
        run = train(text, tmp / f"prec_{precision}", model, config, progress="none")
        results[precision] = run.val_loss
        info(f"3. {precision}: best val {run.val_loss:.4f} nats/char after {iters} iterations, "
             f"{time.perf_counter() - start:.1f}s")
    spread = max(results.values()) - min(results.values())
    check(spread < 0.05, f"3. precisions end within 0.05 nats/char of each other (spread {spread:.4f})")


def resume_identity(device: torch.device, text: str, tmp: Path, iters: int, size: int) -> None:
    for layers, dropout in ((2, 0.0), (1, 0.1), (2, 0.1)):
        model = {"rnn_size": size, "num_layers": layers, "dropout": dropout}
        base = dict(batch_size=32, seq_length=64, seed=3, device=device.type, precision="fp32", eval_interval=iters // 2)
        whole = train(text, tmp / f"whole_{layers}_{dropout}", model, TrainConfig(max_iters=iters, **base), progress="none")
        part = tmp / f"part_{layers}_{dropout}"
        train(text, part, model, TrainConfig(max_iters=iters // 2, **base), progress="none")
        resumed = train(text, part, resume=True, overrides={"max_iters": iters}, progress="none")
        differ = [i + 1 for i, (a, b) in enumerate(zip(whole.state.train_losses, resumed.state.train_losses)) if a != b]
        what = f"4. resume bit-identical on {device.type}, {layers} layer(s), dropout {dropout} " \
               f"(first differing iteration: {differ[:1] or 'none'})"
        if device.type == "cuda" and layers > 1 and dropout > 0:  # documented: cuDNN's own dropout state
            info(what + "; cuDNN's dropout state is not restorable (README: resume on CUDA)")
        else:
            check(not differ, what)


def checkpoint_to_cpu(device: torch.device, text: str, tmp: Path, iters: int) -> None:
    run_dir = tmp / f"prec_{precisions(device)[-1]}"  # the last precision's run: bf16 or fp16 where they run
    on_cpu = load_checkpoint(run_dir, device="cpu", with_trainer_state=True)
    carried = on_cpu.trainer_state["carried"]
    states = [(t.dtype, t.device.type) for t in (carried if isinstance(carried, tuple) else [carried] if carried is not None else [])]
    check(all(d == torch.float32 for d, _ in states), f"5. carried state saved as float32: {states}")
    try:
        resumed = train(text, run_dir, resume=True, overrides={"max_iters": iters + 10, "device": "cpu"}, progress="none")
        check(resumed.state.iteration == iters + 10, f"5. a {device.type} checkpoint resumes on the CPU")
    except Exception as err:  # the check reports whatever goes wrong instead of stopping
        check(False, f"5. a {device.type} checkpoint resumes on the CPU: {type(err).__name__}: {str(err)[:200]}")


def chars_per_second(device: torch.device, step, steps: int, chars_per_step: int) -> float:
    """``step(i)`` timed over ``steps`` calls after 10 warm-up calls, the queued GPU work included."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for i in range(10):
        step(i)
    sync()
    start = time.perf_counter()
    for i in range(10, steps + 10):
        step(i)
    sync()
    return steps * chars_per_step / (time.perf_counter() - start)


def throughput(device: torch.device, size: int, batch: int, seq: int, steps: int) -> None:
    vocab = 96
    ids = torch.randint(0, vocab, (batch * seq * (steps + 12) + 1,)).numpy()

    def rate(step) -> float:
        return chars_per_second(device, step, steps, batch * seq)

    data = torch.from_numpy(ids).to(device)
    xs, ys = data[:-1].view(batch, -1), data[1:].view(batch, -1)
    for precision in precisions(device):
        set_matmul_precision(device, precision)
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(vocab, size, 2, batch_first=True, dropout=0.5).to(device)
        head = torch.nn.Linear(size, vocab).to(device)
        opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], 2e-3)
        scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(device, precision))
        carried = [None]

        def bare(i: int) -> None:  # the textbook loop, data already on the device, no clipping, no host reads
            cols = slice(i * seq, (i + 1) * seq)
            with autocast(device, precision):
                out, carried[0] = lstm(F.one_hot(xs[:, cols], vocab).float(), carried[0])
                logits = head(out)
            loss = F.cross_entropy(logits.float().flatten(0, 1), ys[:, cols].flatten())
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            carried[0] = detach_state(carried[0])

        trainer = Trainer(CharRNN(ModelConfig(vocab, "lstm", size, 2, 0.5)), None, {"train": ids},  # type: ignore[arg-type]
                          TrainConfig(batch_size=batch, seq_length=seq, max_iters=1, device=device.type, precision=precision))
        assert trainer.precision == resolve_precision(precision, device)

        def ours(i: int) -> None:
            trainer._unread.append(trainer.train_step())
            trainer.state.iteration += 1
            if trainer.state.iteration % trainer.config.log_interval == 0:
                trainer.read_losses()

        base, mine = rate(bare), rate(ours)
        info(f"6. 2x{size} LSTM, batch {batch} x seq {seq}, {precision}: bare nn.LSTM {base:,.0f} chars/s, "
             f"charlm Trainer {mine:,.0f} chars/s, ratio {mine / base:.2f}")
    set_matmul_precision(device, "fp32")


def paper_profile_rate(device: torch.device, steps: int, size: int, batch: int, seq: int) -> None:
    """Chars/s of the paper profile's War and Peace model (3x512, dropout 0.5, batch 100 x seq 100, precision
    auto): how long its 50 epochs take, to plan what fits in a GPU lease."""
    vocab, train_chars = 96, 2_634_004  # 80% of War and Peace
    ids = torch.randint(0, vocab, (batch * seq * (steps + 12) + 1,)).numpy()
    trainer = Trainer(CharRNN(ModelConfig(vocab, "lstm", size, 3, 0.5)), None, {"train": ids},  # type: ignore[arg-type]
                      TrainConfig(batch_size=batch, seq_length=seq, max_iters=1, device=device.type))
    rate = chars_per_second(device, lambda i: trainer.train_step(), steps, batch * seq)
    info(f"7. paper profile 3x{size}, batch {batch} x seq {seq}, {trainer.precision}: {rate:,.0f} chars/s; "
         f"50 epochs of War and Peace would take {50 * train_chars / rate / 60:.1f} min")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (the check) or cpu (a dry run of the script)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: prove the script runs, measure nothing")
    args = parser.parse_args()
    device = torch.device(args.device)
    info(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
         f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("FAIL CUDA is not available here; run with --device cpu --quick for a dry run", flush=True)
        return 1
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    size, batch, seq, steps, iters = (64, 8, 20, 3, 10) if args.quick else (512, 100, 100, 150, 400)
    text = make_text(30_000 if args.quick else 300_000)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run_tests(device, args.quick)
        lstm_dtypes_and_underflow(device, size, batch, seq)
        small = 32 if args.quick else 256
        side_by_side(device, text, tmp, iters, small)
        resume_identity(device, text, tmp, 10 if args.quick else 60, small)
        checkpoint_to_cpu(device, text, tmp, iters)
        throughput(device, size, batch, seq, steps)
        paper_profile_rate(device, steps, size, batch, seq)
    print("SUMMARY", "all checks passed" if not failures else f"{len(failures)} failed: {failures}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
