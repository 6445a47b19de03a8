"""Checkpoints: a directory a model can be rebuilt from alone, written so that a crash never leaves a bad one.

    run/                  what `charlm train --out run` writes
      last/               the newest state, for resuming
      best/               the state with the lowest validation loss, for sampling
        model.safetensors weights (safetensors: no pickle, loads on any device)
        config.json       format tag, model config, vocabulary, training config, iteration, losses, weight hash
        trainer.pt        optimizer, RNG, batcher position and carried hidden state (only what resuming needs)
      metrics.jsonl       one line per logged event
      train.lock          held (filelock) while a trainer owns the run; train.owner says which process

Writers build a checkpoint in ``<name>.tmp`` and swap whole directories in by renames; a directory is never
changed once swapped in. Readers open the directory once and read its files through that handle, retrying
when a swap removed it under them, so they see one complete checkpoint, never a mix of two.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from safetensors import SafetensorError
from safetensors.torch import load as load_weights
from safetensors.torch import save as save_weights

from charlm.device import resolve_device
from charlm.errors import CharlmError, os_error_message
from charlm.model import CharRNN, ModelConfig
from charlm.vocab import Vocab

FORMAT = "charlm-checkpoint"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, TRAINER = "model.safetensors", "config.json", "trainer.pt"
LOCK, OWNER, METRICS = "train.lock", "train.owner", "metrics.jsonl"
OWNER_STAGED = OWNER + ".tmp"  # written first, then renamed to OWNER
# Everything a run directory may hold that charlm wrote (samples.json: the notebooks' samples while training).
RUN_ENTRIES = frozenset({"last", "best", "last.tmp", "best.tmp", "last.old", "best.old", METRICS, "samples.json",
                         LOCK, OWNER, OWNER_STAGED})


@dataclass
class Checkpoint:
    model: CharRNN
    vocab: Vocab
    info: dict[str, Any]  # config.json as written
    path: Path
    trainer_state: dict[str, Any] | None = field(default=None, repr=False)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def disk_error(err: OSError, where: Path) -> CharlmError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return CharlmError(f"no space left on the disk of {where}; the previous checkpoint is kept. Free some space "
                           f"and resume with --resume")
    return CharlmError(os_error_message(err, where))


def save_checkpoint(path: str | Path, model: CharRNN, vocab: Vocab, info: dict[str, Any],
                    trainer_state: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint directory atomically: build it beside the target, then swap it in by renames.

    Failing to write (a full disk) removes the half-built copy and raises a CharlmError; the previous
    checkpoint stays as it was."""
    target = Path(path)
    staging = target.with_name(target.name + ".tmp")
    # Serialised in memory first, so that a full disk is an OSError from write(), not torch's "unexpected pos".
    weights = save_weights({k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()})
    trainer_bytes = None
    if trainer_state is not None:
        buffer = io.BytesIO()
        torch.save(trainer_state, buffer)
        trainer_bytes = buffer.getvalue()
    config = {"format": FORMAT, "version": FORMAT_VERSION, "model": model.config.to_dict(),
              "vocab": vocab.to_list(), **info, "weights_sha256": hashlib.sha256(weights).hexdigest()}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        _write_durably(staging / WEIGHTS, weights)
        if trainer_bytes is not None:
            _write_durably(staging / TRAINER, trainer_bytes)
        _write_durably(staging / CONFIG, (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        # At every moment one complete copy exists: target, or target.old between the two renames.
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        _fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)  # never leave a partial copy filling the disk
        raise disk_error(err, target) from None
    return target


class RunDirectory:
    """The ``--out`` of a trainer: claimed (refusing anything charlm did not write), and locked while training.

    The lock is a ``filelock`` on ``train.lock``: the OS drops it when the process dies, even by kill -9, so a
    crashed run never needs cleaning up. ``train.owner`` names the holder for the message a second trainer gets.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock: FileLock | None = None

    def _create(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise CharlmError(f"--out {self.path} is a file; give a directory for the run")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise disk_error(err, self.path) from None

    def acquire(self) -> "RunDirectory":
        self._create()
        lock = FileLock(self.path / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise CharlmError(f"{self.path} is in use by another trainer ({self.owner()}); wait for it to finish, "
                              f"stop it, or choose another --out") from None
        except OSError as err:
            raise disk_error(err, self.path) from None
        self.lock = lock
        try:  # written aside and renamed: a second trainer never reads a half-written owner
            _write_durably(self.path / OWNER_STAGED, json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
            ).encode())
            os.replace(self.path / OWNER_STAGED, self.path / OWNER)
        except OSError as err:
            self.release()
            raise disk_error(err, self.path) from None
        return self

    def owner(self) -> str:
        try:
            owner = json.loads((self.path / OWNER).read_text(encoding="utf-8"))
            return f"pid {owner['pid']} on {owner['host']}, since {owner['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that holds its train.lock"

    def release(self) -> None:
        if self.lock is not None:
            (self.path / OWNER).unlink(missing_ok=True)
            self.lock.release()
            self.lock = None

    def __enter__(self) -> "RunDirectory":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def refuse_foreign(self) -> list[str]:
        """The directory's entries (none when it does not exist yet); a CharlmError when any is not charlm's."""
        entries = sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []
        foreign = [name for name in entries if name not in RUN_ENTRIES]
        if foreign:
            raise CharlmError(f"{self.path} is not empty and not a charlm run (it holds {', '.join(foreign[:3])}"
                              f"{', ...' if len(foreign) > 3 else ''}); choose a new or empty --out")
        return entries

    def claim_for_new_run(self, overwrite: bool = False) -> None:
        """Make the (locked) directory ready for a fresh run. A folder holding files charlm did not write is
        never touched; an earlier run is replaced only with ``overwrite``."""
        entries = self.refuse_foreign()
        earlier = [name for name in entries if name not in (LOCK, OWNER)]
        if not earlier:
            return
        if not overwrite:
            raise CharlmError(f"{self.path} already holds a training run ({', '.join(earlier)}); pass --resume to "
                              f"continue it, --overwrite to replace it, or choose another --out")
        for name in earlier:
            entry = self.path / name
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


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
        # name, name.old, name again: a trainer swapping name in renames it to name.old for a moment, and .old
        # also survives a crash between the two renames.
        for candidate in (path / name, path / f"{name}.old", path / name):
            if (candidate / CONFIG).exists():
                return candidate
    raise CharlmError(f"{path} holds no charlm checkpoint (no config.json); give the --out directory of `charlm train`")


def _parse_info(raw: bytes, ckpt_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CharlmError(f"{ckpt_dir / CONFIG} is corrupt ({type(err).__name__}); use another checkpoint or retrain") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CharlmError(f"{ckpt_dir} is not a charlm checkpoint (foreign config.json); give a directory `charlm train` wrote")
    version = info.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CharlmError(f"{ckpt_dir / CONFIG} has format version {version!r}, not a whole number; the checkpoint's "
                          f"metadata was edited or damaged: use another checkpoint or retrain")
    if version > FORMAT_VERSION:
        raise CharlmError(f"{ckpt_dir} was written by a newer charlm (format {version}); upgrade charlm")
    return info


def read_info(path: str | Path, prefer: str = "best") -> dict[str, Any]:
    """A checkpoint's config.json (of a run directory: best, else last; or as ``prefer`` says), weights not loaded."""
    ckpt_dir = find_checkpoint(path, prefer)
    try:
        return _parse_info((ckpt_dir / CONFIG).read_bytes(), ckpt_dir)
    except OSError as err:
        raise CharlmError(f"cannot read {ckpt_dir / CONFIG} ({err.strerror}); use another checkpoint") from None


class _Swapped(Exception):
    """The directory being read was swapped out by a trainer (its files went away): read again."""


def _read_files(ckpt_dir: Path, with_trainer_state: bool) -> dict[str, bytes | None]:
    """The checkpoint's files, all from one directory: opened through a handle on the directory itself, so a
    rename by a trainer cannot mix files of two checkpoints. A file missing because the trainer removed the
    directory meanwhile raises _Swapped."""
    try:
        dir_fd = os.open(ckpt_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        raise _Swapped from None
    try:
        files: dict[str, bytes | None] = {}
        for name in (CONFIG, WEIGHTS, TRAINER) if with_trainer_state else (CONFIG, WEIGHTS):
            try:
                fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
            except FileNotFoundError:
                files[name] = None
                continue
            with os.fdopen(fd, "rb") as f:
                files[name] = f.read()
        # A directory a trainer swapped out and is deleting loses its files one by one: a missing file means
        # "read again", not "incomplete", when the directory read is no longer the one at ckpt_dir.
        if any(v is None for v in files.values()):
            try:
                still_there = os.stat(ckpt_dir).st_ino == os.fstat(dir_fd).st_ino
            except FileNotFoundError:
                still_there = False
            if not still_there:
                raise _Swapped
        return files
    finally:
        os.close(dir_fd)


def load_checkpoint(path: str | Path, device: str | torch.device = "auto", prefer: str = "best",
                    with_trainer_state: bool = False) -> Checkpoint:
    """Rebuild the model from the checkpoint alone, on any device (a GPU checkpoint loads on a CPU machine).

    Safe while a trainer writes to the same run: a checkpoint swapped out mid-read is read again."""
    for attempt in range(100):
        ckpt_dir = find_checkpoint(path, prefer)
        try:
            files = _read_files(ckpt_dir, with_trainer_state)
        except _Swapped:
            time.sleep(0.01 * min(attempt, 10))
            continue
        return _build(ckpt_dir, files, device, with_trainer_state)
    raise CharlmError(f"{path} changed 100 times while being read; is a trainer rewriting it many times a second?")


def _build(ckpt_dir: Path, files: dict[str, bytes | None], device: str | torch.device,
           with_trainer_state: bool) -> Checkpoint:
    if files[CONFIG] is None:
        raise CharlmError(f"{ckpt_dir} has no {CONFIG}; the checkpoint is incomplete, use another or retrain")
    info = _parse_info(files[CONFIG], ckpt_dir)
    weights_bytes = files[WEIGHTS]
    weights_file = ckpt_dir / WEIGHTS
    if weights_bytes is None:
        raise CharlmError(f"{ckpt_dir} has no {WEIGHTS}; the checkpoint is incomplete, use another or retrain")
    if info.get("weights_sha256") and hashlib.sha256(weights_bytes).hexdigest() != info["weights_sha256"]:
        raise CharlmError(f"{weights_file} is corrupt (checksum mismatch); use another checkpoint or retrain")
    if not isinstance(info.get("model"), dict) or not isinstance(info.get("vocab"), list):
        raise CharlmError(f"{ckpt_dir / CONFIG} lacks its model or vocab entry; the metadata is damaged, retrain")
    try:
        weights = load_weights(weights_bytes)
        config = ModelConfig.from_dict(info["model"])
        vocab = Vocab.from_list(info["vocab"])
    except CharlmError as err:
        raise CharlmError(f"{ckpt_dir / CONFIG} has bad metadata ({err}); it was edited or damaged: retrain") from None
    except (SafetensorError, KeyError, TypeError, ValueError) as err:
        raise CharlmError(f"{ckpt_dir} is corrupt or foreign ({type(err).__name__}: {err}); use another checkpoint") from None
    if len(vocab) != config.vocab_size:
        raise CharlmError(f"{ckpt_dir / CONFIG} lists {len(vocab)} characters but the model has vocab_size "
                          f"{config.vocab_size}; the metadata was edited or damaged: retrain")
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
        if files[TRAINER] is None:
            raise CharlmError(f"{ckpt_dir} has no {TRAINER}, so it cannot be resumed; start a new run")
        try:
            trainer_state = torch.load(io.BytesIO(files[TRAINER]), map_location=target, weights_only=True)
        except Exception as err:  # torch raises many types for a damaged pickle/zip
            raise CharlmError(f"{trainer_file} is corrupt ({type(err).__name__}); resume from another checkpoint") from None
    return Checkpoint(model, vocab, info, ckpt_dir, trainer_state)
