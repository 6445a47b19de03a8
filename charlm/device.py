"""Choosing the device, the precision and the CPU threads, in one place for training, sampling and loading
(several processes: charlm.distributed)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterable

import torch

from charlm.errors import CharlmError

PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")
# CPU flags (Linux /proc/cpuinfo names) of native bf16 matrix arithmetic: Intel AMX tiles, or AVX-512 BF16
# dot products (Cooper Lake, Sapphire Rapids, AMD Zen 4 and later). oneDNN runs nn.LSTM under bf16 autocast
# on these at about twice the float32 speed; without them it emulates bf16 and gains nothing.
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
THREADS_ENV = "CHARLM_THREADS"


def choose_device(cuda_available: bool, mps_available: bool) -> str:
    """What 'auto' means: CUDA, else Apple's Metal (MPS), else the CPU."""
    return "cuda" if cuda_available else "mps" if mps_available else "cpu"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' means CUDA, else MPS, else CPU; asking for a device this machine lacks is a clear error."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device(choose_device(torch.cuda.is_available(), _mps_available()))
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CharlmError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CharlmError(f"device '{name}' was asked for but CUDA is not available here; use --device cpu")
    if device.type == "mps" and not _mps_available():
        raise CharlmError(f"device '{name}' was asked for but Apple's MPS is not available here; use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise CharlmError(f"device '{name}' is not supported; use auto, cpu, cuda, cuda:N or mps")
    return device


# --- precision --------------------------------------------------------------------------------------------

def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor in a /proc/cpuinfo text ('flags' on x86, 'Features' on ARM)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def has_native_bf16(flags: Iterable[str]) -> bool:
    return not NATIVE_BF16_FLAGS.isdisjoint(flags)


def _torch_reports_native_bf16() -> bool:
    # torch.cpu's probes read CPUID through the cpuinfo library (any OS). torch.ops.mkldnn._is_mkldnn_bf16_supported
    # is not a substitute: it answers True on every AVX-512 CPU, where oneDNN only emulates bf16.
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def cpu_has_native_bf16(cpuinfo_path: str | Path = "/proc/cpuinfo",
                        torch_probe: Callable[[], bool] = _torch_reports_native_bf16) -> bool:
    """Whether this CPU multiplies bf16 matrices natively: the kernel's flags where Linux gives them, else torch's probe."""
    try:
        flags = cpu_flags(Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        flags = frozenset()
    return has_native_bf16(flags) if flags else torch_probe()


def resolve_precision(precision: str, device: torch.device, native_bf16: Callable[[], bool] = cpu_has_native_bf16) -> str:
    """The arithmetic a run uses: 'fp32', 'tf32' (float32 storage, TF32 matmuls; CUDA only), 'bf16' or 'fp16'.

    'auto': bf16 on a CPU with native bf16 units (measured 1.75-2.2x float32 at the same loss), fp32 elsewhere;
    an explicit 'bf16' on a CPU without them is refused.
    On CUDA fp32 is also the fastest: on an H100 the trainer ran a 2x512 LSTM (batch 100, seq 100) at 739k
    chars/s in fp32, 652k with TF32, 636k under bf16 and 643k under fp16 autocast (benchmarks/README.md); an
    LSTM step is a chain of small matmuls that waits on latency, not arithmetic.
    """
    if precision not in PRECISIONS:
        raise CharlmError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cpu" and native_bf16():
            return "bf16"
        return "fp32"
    if precision == "bf16" and device.type == "cpu" and not native_bf16():
        # Without bf16 units oneDNN has no bf16 LSTM at all (torch 2.13 on AVX2: "could not create a primitive
        # descriptor for the LSTM forward propagation primitive"), and emulated bf16 would only be slower.
        raise CharlmError("precision bf16 needs a CPU with native bf16 units (the avx512_bf16 or amx_bf16 flag), "
                          "which this one lacks; use --precision fp32 (or auto)")
    if (precision == "tf32" and device.type != "cuda") or (precision == "fp16" and device.type == "cpu"):
        instead = "bf16 or fp32" if device.type == "cpu" and native_bf16() else "fp32"
        need = "is a CUDA setting" if precision == "tf32" else "needs a GPU"
        raise CharlmError(f"precision {precision} {need}; on this {device.type} use --precision {instead}")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast region for a resolved precision; fp32 and tf32 run without one."""
    if precision in ("bf16", "fp16"):
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    return contextlib.nullcontext()


def needs_grad_scaler(device: torch.device, precision: str) -> bool:
    """fp16 needs loss scaling, and so does bf16 on CUDA: cuDNN's LSTM runs in fp16 under any autocast
    (aten/src/ATen/cudnn/AutocastRNN.cpp), where, measured on an H100 at 2x512, most of the LSTM's weight gradients
    underflow to zero unscaled."""
    return precision == "fp16" or (precision == "bf16" and device.type == "cuda")


def set_matmul_precision(device: torch.device, precision: str) -> None:
    """TF32 for 'tf32', full float32 otherwise (PyTorch's own default for matmuls; cuDNN's RNNs follow it too)."""
    if device.type == "cuda":
        allow = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow


@contextlib.contextmanager
def full_float32(device: torch.device):
    """Float32 arithmetic whatever surrounds it: no autocast, no TF32 (how every reported loss is computed)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.autocast(device.type, enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def machine_description(cpuinfo_path: str | Path = "/proc/cpuinfo") -> str:
    """The processor and its core count, e.g. 'AMD EPYC 9R14, 2 cores': what a recorded speed ran on."""
    import platform

    try:
        text = Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    names = [line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("model name")]
    return f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores"


# --- threads ----------------------------------------------------------------------------------------------

def configure_threads(environ: dict[str, str] | None = None) -> int:
    """Pin torch's CPU threads to CHARLM_THREADS when it is set (CI, shared machines); otherwise keep torch's
    default, one per physical core. Returns the thread count in effect."""
    value = (os.environ if environ is None else environ).get(THREADS_ENV, "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise CharlmError(f"{THREADS_ENV}={value!r} is not a positive whole number; set it to e.g. 1, or unset it")
        torch.set_num_threads(threads)
    return torch.get_num_threads()
