"""Choosing the device, in one place for training, sampling and loading."""

from __future__ import annotations

import contextlib

import torch

from charlm.errors import CharlmError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' means CUDA when present; asking for CUDA on a machine without it is a clear error."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CharlmError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CharlmError(f"device '{name}' was asked for but CUDA is not available here; use --device cpu")
    return device


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (cuDNN's RNNs run it at full speed); a no-op on CPU, where it only slows RNNs."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
