"""Checkpoints: a directory a model can be rebuilt from alone, written so that a crash never leaves a bad one.

    run/                  what `charlm train --out run` writes
      last/               the newest state, for resuming
      best/               the state with the lowest validation loss, for sampling
        model.safetensors weights (safetensors: no pickle, loads on any device)
        config.json       format tag, model config, vocabulary, training config, iteration, losses, weight hash
        trainer.pt        optimizer, RNG, batcher position and carried hidden state (only what resuming needs)
      metrics.jsonl       one line per logged step and validation pass, append-only
      train.lock          held (filelock) while a trainer owns the run; train.owner says which process

Writers build a checkpoint in ``<name>.tmp`` and swap whole directories in by renames; a directory is never
changed once swapped in. Readers open the directory once and read its files through that handle, retrying
when a swap removed it under them, so they see one complete checkpoint, never a mix of two. Nothing a user put
in a run directory, or a link to elsewhere, is replaced or removed: such a save is refused with one line.
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

from charlm.config import RunInfo
from charlm.device import resolve_device
from charlm.errors import CharlmError, os_error_message
from charlm.model import CharRNN
from charlm.vocab import Vocab

FORMAT = "charlm-checkpoint"
FORMAT_VERSION = 1
WEIGHTS, CONFIG, TRAINER = "model.safetensors", "config.json", "trainer.pt"
LOCK, OWNER, METRICS = "train.lock", "train.owner", "metrics.jsonl"
OWNER_STAGED = OWNER + ".tmp"  # written first, then renamed to OWNER
# Everything a run directory may hold that charlm wrote (samples.json: the notebooks' samples while training).
RUN_ENTRIES = frozenset({"last", "best", "last.tmp", "best.tmp", "last.old", "best.old", METRICS, "samples.json",
                         LOCK, OWNER, OWNER_STAGED, METRICS + ".tmp"})
CHECKPOINT_FILES = frozenset({WEIGHTS, CONFIG, TRAINER})  # all a checkpoint directory may hold


@dataclass
class Checkpoint:
    model: CharRNN
    vocab: Vocab
    info: RunInfo  # config.json's record of the run
    path: Path
    trainer_state: dict[str, Any] | None = field(default=None, repr=False)
    weights_sha256: str | None = None  # of model.safetensors, as config.json states it


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


def disk_error(err: OSError, where: Path, kept: Path | None = None) -> CharlmError:
    """One line for a failed write; on a full disk it says whether a previous checkpoint (``kept``) survives."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        if kept is None:
            return CharlmError(f"no space left on the disk of {where}; nothing was saved there. Free some space and "
                               f"run again")
        return CharlmError(f"no space left on the disk of {where}; the previous checkpoint is kept. Free some space "
                           f"and resume with --resume")
    return CharlmError(os_error_message(err, where))


def refuse_unowned(entry: Path) -> None:
    """A CharlmError unless ``entry`` (a run directory's entry charlm is about to replace or remove) holds only
    what charlm writes: never a symbolic link (it would act on the folder it points to), never a checkpoint
    directory holding a file the user put there."""
    if entry.is_symlink():
        raise CharlmError(f"{entry} is a symbolic link (to {os.readlink(entry)}); charlm replaces only what it "
                          f"created: remove the link, or choose another --out")
    if entry.is_dir() and entry.name.split(".")[0] in ("last", "best"):
        foreign = sorted(p.name for p in entry.iterdir() if p.name not in CHECKPOINT_FILES or not p.is_file()
                         or p.is_symlink())
        if foreign:
            raise CharlmError(f"{entry} holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, which "
                              f"charlm did not write; move it out of the run directory, then run again")


def save_checkpoint(path: str | Path, model: CharRNN, info: RunInfo,
                    trainer_state: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint directory atomically: build it beside the target, then swap it in by renames.

    Failing to write (a full disk) removes the half-built copy and raises a CharlmError; the previous
    checkpoint stays as it was. A target holding anything charlm did not write is refused, untouched."""
    if info.model != model.config:
        raise ValueError("info.model must be the model's own config")
    target = Path(path)
    staging = target.with_name(target.name + ".tmp")
    old = target.with_name(target.name + ".old")
    for entry in (target, staging, old):
        refuse_unowned(entry)
    # Serialised in memory first, so that a full disk is an OSError from write(), not torch's "unexpected pos".
    weights = save_weights({k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()})
    digest = hashlib.sha256(weights).hexdigest()
    trainer_bytes = None
    if trainer_state is not None:
        buffer = io.BytesIO()
        torch.save({**trainer_state, "weights_sha256": digest}, buffer)  # binds trainer.pt to these weights
        trainer_bytes = buffer.getvalue()
    config = {"format": FORMAT, "version": FORMAT_VERSION, **info.to_json(), "weights_sha256": digest}
    previous = target if target.exists() else None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        _write_durably(staging / WEIGHTS, weights)
        if trainer_bytes is not None:
            _write_durably(staging / TRAINER, trainer_bytes)
        _write_durably(staging / CONFIG, (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        # At every moment one complete copy exists: target, or target.old between the two renames.
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        _fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(staging, ignore_errors=True)  # never leave a partial copy filling the disk
        raise disk_error(err, target, previous) from None
    return target


def _lines_backward(f: io.BufferedReader, size: int, chunk: int = 1 << 16):
    """(offset, line, ended by a newline) for each line of a file, last line first, reading from the end."""
    end, tail = size, b""
    while end > 0:
        start = max(0, end - chunk)
        f.seek(start)
        block = f.read(end - start) + tail
        lines = block.split(b"\n")
        tail = lines.pop(0) if start > 0 else b""  # may continue in the block before
        offset = start + len(tail) + (1 if start > 0 else 0)
        positions = []
        for line in lines:
            positions.append((offset, line))
            offset += len(line) + 1
        for line_start, line in reversed(positions):
            yield line_start, line, line_start + len(line) < size
        end = start


class MetricsLog:
    """metrics.jsonl, append-only: history is never rewritten in place (a Ctrl-C or ``kill -9`` at any moment
    leaves every line written before it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _kept_bytes(self, iteration: int) -> int | None:
        """How many leading bytes belong to a run resumed at ``iteration``: up to the last line that parses and
        is at or before it. None when that is the whole file (the common case: only its tail is read)."""
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            for start, line, ended in _lines_backward(f, size):
                try:
                    record = json.loads(line) if ended and line.strip() else None
                except ValueError:
                    record = None
                if isinstance(record, dict) and isinstance(record.get("iteration"), int) \
                        and record["iteration"] <= iteration:
                    kept = start + len(line) + 1
                    return None if kept >= size else kept
        return 0 if size else None

    def continue_at(self, iteration: int) -> None:
        """Drop the lines a resumed run will write again (those after its checkpoint, and a torn last line): the
        kept lines are copied aside and renamed over the file, so an interruption leaves the old file or the new."""
        if not self.path.exists():
            return
        staged = self.path.with_name(self.path.name + ".tmp")
        try:
            kept = self._kept_bytes(iteration)
            if kept is None:
                return
            with open(self.path, "rb") as source, open(staged, "wb") as copy:
                left = kept
                while left > 0 and (block := source.read(min(left, 1 << 20))):
                    copy.write(block)
                    left -= len(block)
                copy.flush()
                os.fsync(copy.fileno())
            os.replace(staged, self.path)
        except OSError as err:
            staged.unlink(missing_ok=True)
            raise disk_error(err, self.path) from None

    def append(self, record: dict[str, Any]) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as err:
            raise CharlmError(os_error_message(err, self.path)) from None


class RunDirectory:
    """The ``--out`` of a trainer: claimed (refusing anything charlm did not write), and locked while training.

    The lock is a ``filelock`` on ``train.lock``: the OS drops it when the process dies, even by kill -9, so a
    crashed run never needs cleaning up. ``train.owner`` names the holder for the message a second trainer gets.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock: FileLock | None = None

    def _refuse_dangling(self) -> None:
        if self.path.is_symlink() and not self.path.exists():
            raise CharlmError(f"--out {self.path} is a symbolic link to {os.readlink(self.path)}, which does not "
                              f"exist; create that folder, or give another --out")

    def _create(self) -> None:
        self._refuse_dangling()
        if self.path.exists() and not self.path.is_dir():
            raise CharlmError(f"--out {self.path} is a file; give a directory for the run")
        for name in (LOCK, OWNER, OWNER_STAGED):  # opening a linked lock file would truncate what it points to
            refuse_unowned(self.path / name)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise disk_error(err, self.path) from None

    def _in_use(self) -> CharlmError:
        return CharlmError(f"{self.path} is in use by another trainer ({self.owner()}); wait for it to finish, "
                           f"stop it, or choose another --out")

    def refuse_if_in_use(self) -> None:
        """A CharlmError naming the holder when another trainer holds the lock; creates nothing."""
        if not (self.path / LOCK).is_file() or (self.path / LOCK).is_symlink():
            return
        lock = FileLock(self.path / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise self._in_use() from None
        except OSError:
            return  # unreadable: acquire() reports it
        lock.release()

    def acquire(self) -> "RunDirectory":
        self._create()
        lock = FileLock(self.path / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise self._in_use() from None
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

    def refuse_unowned(self, allow_other_files: bool = False) -> list[str]:
        """The directory's entries (none when it does not exist yet); a CharlmError when charlm would replace or
        remove something it did not write: a symbolic link among its entries, a checkpoint directory holding a
        file of the user's, or (unless ``allow_other_files``, as a resume does) any name charlm does not write."""
        self._refuse_dangling()
        entries = sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []
        foreign = [name for name in entries if name not in RUN_ENTRIES]
        if foreign and not allow_other_files:
            raise CharlmError(f"{self.path} is not empty and not a charlm run (it holds {', '.join(foreign[:3])}"
                              f"{', ...' if len(foreign) > 3 else ''}); choose a new or empty --out")
        for name in entries:
            if name in RUN_ENTRIES:
                refuse_unowned(self.path / name)
        return entries

    def claim_for_new_run(self, overwrite: bool = False) -> None:
        """Make the (locked) directory ready for a fresh run. A folder holding files charlm did not write is
        never touched (all of it is checked before anything is removed); an earlier run is replaced only with
        ``overwrite``."""
        entries = self.refuse_unowned()
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


def _parse_config(raw: bytes, ckpt_dir: Path) -> tuple[RunInfo, str | None]:
    """config.json's record and the weights' hash it states; a CharlmError names what is wrong with it."""
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CharlmError(f"{ckpt_dir / CONFIG} is corrupt ({type(err).__name__}); use another checkpoint or retrain") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CharlmError(f"{ckpt_dir} is not a charlm checkpoint (foreign config.json); give a directory `charlm train` wrote")
    version = config.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CharlmError(f"{ckpt_dir / CONFIG} has format version {version!r}, not a whole number; the checkpoint's "
                          f"metadata was edited or damaged: use another checkpoint or retrain")
    if version > FORMAT_VERSION:
        raise CharlmError(f"{ckpt_dir} was written by a newer charlm (format {version}); upgrade charlm")
    try:
        info = RunInfo.from_json(config)
    except CharlmError as err:
        raise CharlmError(f"{ckpt_dir / CONFIG}: {err}; the metadata was edited or damaged: use another checkpoint "
                          f"or retrain") from None
    digest = config.get("weights_sha256")
    return info, digest if isinstance(digest, str) else None


def read_info(path: str | Path, prefer: str = "best") -> RunInfo:
    """A checkpoint's record (of a run directory: best, else last; or as ``prefer`` says), weights not loaded."""
    ckpt_dir = find_checkpoint(path, prefer)
    try:
        return _parse_config((ckpt_dir / CONFIG).read_bytes(), ckpt_dir)[0]
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
    info, digest = _parse_config(files[CONFIG], ckpt_dir)
    weights_bytes = files[WEIGHTS]
    weights_file = ckpt_dir / WEIGHTS
    if weights_bytes is None:
        raise CharlmError(f"{ckpt_dir} has no {WEIGHTS}; the checkpoint is incomplete, use another or retrain")
    if digest and hashlib.sha256(weights_bytes).hexdigest() != digest:
        raise CharlmError(f"{weights_file} is corrupt (checksum mismatch); use another checkpoint or retrain")
    try:
        weights = load_weights(weights_bytes)
    except (SafetensorError, KeyError, TypeError, ValueError) as err:
        raise CharlmError(f"{ckpt_dir} is corrupt or foreign ({type(err).__name__}: {err}); use another checkpoint") from None
    model = CharRNN(info.model)
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
        bound = trainer_state.get("weights_sha256") if isinstance(trainer_state, dict) else None
        if not isinstance(trainer_state, dict) or (bound is not None and digest is not None and bound != digest):
            raise CharlmError(f"{trainer_file} belongs to another checkpoint than the weights beside it (copied from "
                              f"another run?); resume from another checkpoint or start a new run")
    return Checkpoint(model, info.vocab, info, ckpt_dir, trainer_state, digest)
