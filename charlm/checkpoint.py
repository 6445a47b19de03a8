"""Checkpoints: a directory a model can be rebuilt from alone, written so that a crash never leaves a bad one.

    run/                  what `charlm train --out run` writes
      last/               the newest state, for resuming
      best/               the state with the lowest validation loss, for sampling
        model.safetensors weights (safetensors: no pickle, loads on any device)
        config.json       format tag, model config, vocabulary, training config, iteration, losses, weight hash
        trainer.pt        optimizer, RNG, batcher position and carried hidden state (only what resuming needs)
      metrics.jsonl       one line per logged event
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from charlm.device import resolve_device
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.vocab import Vocab

FORMAT = "charlm-checkpoint"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, TRAINER = "model.safetensors", "config.json", "trainer.pt"


@dataclass
class Checkpoint:
    model: CharRNN
    vocab: Vocab
    info: dict[str, Any]  # config.json as written
    path: Path
    trainer_state: dict[str, Any] | None = field(default=None, repr=False)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(path: str | Path, model: CharRNN, vocab: Vocab, info: dict[str, Any],
                    trainer_state: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint directory atomically: build it beside the target, then swap it in by renames."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(weights, staging / WEIGHTS)
    config = {"format": FORMAT, "version": FORMAT_VERSION, "model": model.config.to_dict(),
              "vocab": vocab.to_list(), **info, "weights_sha256": _sha256(staging / WEIGHTS)}
    (staging / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if trainer_state is not None:
        torch.save(trainer_state, staging / TRAINER)
    for file in staging.iterdir():
        with open(file, "rb") as f:
            os.fsync(f.fileno())
    # At every moment one complete copy exists: target, or target.old between the two renames.
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)
    return target


def find_checkpoint(path: str | Path, prefer: str = "best") -> Path:
    """A checkpoint directory from a run directory (best, else last) or a checkpoint directory itself."""
    path = Path(path)
    if not path.exists():
        raise CharlmError(f"{path}: no such checkpoint; give the --out directory of `charlm train`")
    if path.is_file():
        path = path.parent if path.name in (WEIGHTS, CONFIG, TRAINER) else path
    if (path / CONFIG).exists():
        return path
    order = ("best", "last") if prefer == "best" else ("last", "best")
    for name in order:
        for candidate in (path / name, path / f"{name}.old"):  # .old survives a crash between two renames
            if (candidate / CONFIG).exists():
                return candidate
    raise CharlmError(f"{path} holds no charlm checkpoint (no config.json); give the --out directory of `charlm train`")


def read_info(ckpt_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((ckpt_dir / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CharlmError(f"{ckpt_dir / CONFIG} is corrupt ({type(err).__name__}); use another checkpoint or retrain") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CharlmError(f"{ckpt_dir} is not a charlm checkpoint (foreign config.json); give a directory `charlm train` wrote")
    if info.get("version", 0) > FORMAT_VERSION:
        raise CharlmError(f"{ckpt_dir} was written by a newer charlm (format {info['version']}); upgrade charlm")
    return info


def load_checkpoint(path: str | Path, device: str | torch.device = "auto", prefer: str = "best",
                    with_trainer_state: bool = False) -> Checkpoint:
    """Rebuild the model from the checkpoint alone, on any device (a GPU checkpoint loads on a CPU machine)."""
    ckpt_dir = find_checkpoint(path, prefer)
    info = read_info(ckpt_dir)
    weights_file = ckpt_dir / WEIGHTS
    if not weights_file.exists():
        raise CharlmError(f"{ckpt_dir} has no {WEIGHTS}; the checkpoint is incomplete, use another or retrain")
    if info.get("weights_sha256") and _sha256(weights_file) != info["weights_sha256"]:
        raise CharlmError(f"{weights_file} is corrupt (checksum mismatch); use another checkpoint or retrain")
    try:
        weights = load_file(weights_file, device="cpu")
        config = ModelConfig.from_dict(info["model"])
        vocab = Vocab.from_list(info["vocab"])
    except (SafetensorError, KeyError, TypeError, OSError) as err:
        raise CharlmError(f"{ckpt_dir} is corrupt or foreign ({type(err).__name__}: {err}); use another checkpoint") from None
    model = CharRNN(config)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise CharlmError(f"{weights_file} does not match the model in {CONFIG}; the checkpoint is damaged") from None
    target = resolve_device(device)
    model.to(target).eval()
    trainer_state = None
    if with_trainer_state:
        trainer_file = ckpt_dir / TRAINER
        if not trainer_file.exists():
            raise CharlmError(f"{ckpt_dir} has no {TRAINER}, so it cannot be resumed; start a new run")
        try:
            trainer_state = torch.load(trainer_file, map_location=target, weights_only=True)
        except Exception as err:  # torch raises many types for a damaged pickle/zip
            raise CharlmError(f"{trainer_file} is corrupt ({type(err).__name__}); resume from another checkpoint") from None
    return Checkpoint(model, vocab, info, ckpt_dir, trainer_state)
