"""Prepared data sets on disk: where they live, meta.json, verification, and prepare (mirror or original source)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from charlm.datasets.http import HttpOptions, NoNetworkError, host_of
from charlm.datasets.mirror import _from_mirror, read_manifest
from charlm.datasets.sources import SOURCES, _source
from charlm.datasets.spec import Built, Context, Source, Splits
from charlm.datasets.text import file_sha256, scan
from charlm.errors import CharlmError


def default_root() -> Path:
    """CHARLM_DATA_DIR, else the checkout's data/ folder, else ~/.cache/charlm/data."""
    env = os.environ.get("CHARLM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "data"  # charlm/datasets/store.py -> <checkout>/data
    if (checkout / "download.py").is_file():
        return checkout
    return Path.home() / ".cache" / "charlm" / "data"


def default_mirror() -> Path | None:
    env = os.environ.get("CHARLM_DATA_MIRROR")
    return Path(env).expanduser() if env else None


def dataset_dir(root: Path, name: str, full: bool = False) -> Path:
    # The whole kernel tree is a different corpus from the default subset: keep both side by side.
    return root / (f"{name}-full" if name == "linux" and full else name)


def _splits(policy: Splits, n_chars: int, at_bytes: list[int], char_marks: tuple[int, int] | None) -> dict:
    if char_marks is None:
        f_train, f_val, _ = policy.fractions
        char_marks = (
            (at_bytes[0], at_bytes[1]) if policy.by == "byte"
            else (round(n_chars * f_train), round(n_chars * (f_train + f_val)))
        )
    a, b = char_marks
    return {"unit": "char", "train": [0, a], "val": [a, b], "test": [b, n_chars],
            "fractions": list(policy.fractions), "by": policy.by, "convention": policy.convention}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _install(src: Source, d: Path, tmp: Path, built: Built) -> None:
    """Hash the new text, record meta.json, and move both into place."""
    size = tmp.stat().st_size
    f_train, f_val, _ = src.splits.fractions
    byte_marks = (round(size * f_train), round(size * (f_train + f_val))) if src.splits.by == "byte" else ()
    sha, n_bytes, n_chars, at = scan(tmp, byte_marks)
    if src.text_sha256 and sha != src.text_sha256:
        raise CharlmError(
            f"checksum mismatch for {src.name}: the prepared text should have sha256 {src.text_sha256}, got {sha} "
            f"(from {built.source}); nothing was prepared, prepare it from the mirror (--mirror) or report it"
        )
    note = "; ".join(built.notes)
    meta = {
        "name": src.name, "title": src.title, "source": built.source, "source_sha256": built.source_sha256,
        "verified_against": built.verified_against, "sha256": sha, "bytes": n_bytes, "chars": n_chars,
        "licence": src.licence, "partial": built.partial, "note": note, "recipe": src.recipe,
        "splits": _splits(src.splits, n_chars, at, built.char_marks), **built.extra,
    }
    # input.txt first: a crash before meta.json leaves a hash mismatch, i.e. "not verified", never a false "good".
    os.replace(tmp, d / "input.txt")
    _write_json(d / "meta.json", meta)


def _load_meta(d: Path) -> dict | None:
    try:
        return json.loads((d / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_verified(d: Path, src: Source, meta: dict | None) -> bool:
    text = d / "input.txt"
    if meta is None or not text.is_file() or text.stat().st_size != meta.get("bytes"):
        return False
    if meta.get("recipe", 1) != src.recipe:
        return False  # prepared the way an older charlm did (e.g. with Gutenberg's licence still in): prepare again
    if src.text_sha256 and meta.get("sha256") != src.text_sha256:
        return False
    if meta.get("source") == src.url and src.expected.sha256 and meta.get("source_sha256") != src.expected.sha256:
        return False  # prepared from a source that no longer matches the pinned hash
    return file_sha256(text) == meta.get("sha256")


def prepare(
    src: Source,
    *,
    root: Path,
    mirror: Path | None = None,
    force: bool = False,
    full: bool = False,
    progress: bool = True,
    http: HttpOptions = HttpOptions(),
    say: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> Path:
    """Make ``src`` ready under ``root`` (from ``mirror`` when it has the set) and return its input.txt."""
    d = dataset_dir(root, src.name, full and src.name == "linux")
    if not force and _is_verified(d, src, _load_meta(d)):
        return d / "input.txt"
    entry = None
    if mirror is not None and src.mirror_name and not (full and src.name == "linux"):
        entry = read_manifest(mirror).get(src.mirror_name)
    workdir = d / "download"
    if force:
        shutil.rmtree(workdir, ignore_errors=True)  # a forced fetch must not resume a stale .part
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = d / "input.txt.tmp"
    ctx = Context(workdir, http, progress, full, say)
    origin = f"mirror {mirror / entry.file}" if entry else (src.url or "built in")
    say(f"{src.name}: {src.title}\n  from {origin}\n  licence: {entry.licence if entry else src.licence}")
    try:
        if entry:
            built = _from_mirror(src, entry, mirror, ctx, tmp)
        else:
            try:
                built = src.build(src, ctx, tmp)
            except NoNetworkError as err:
                if mirror is None:
                    raise
                raise NoNetworkError(
                    f"{src.name} is not in the mirror {mirror} and {host_of(src.url)} cannot be reached: "
                    "prepare it on a machine with internet"
                ) from err
        _install(src, d, tmp, built)
    finally:
        tmp.unlink(missing_ok=True)
        # Kept only while it holds a .part to resume; empty leftovers of a failure are removed.
        for folder in (workdir, d):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    shutil.rmtree(workdir, ignore_errors=True)
    if built.partial:
        say(f"  note: {built.notes[0]}")
    return d / "input.txt"


# ------------------------------------------------------------------------------------------ public API


def path(name: str, *, root: str | Path | None = None, mirror: str | Path | None = None, force: bool = False,
         full: bool = False, progress: bool = True) -> Path:
    """Path of ``<root>/<name>/input.txt``, fetched, verified and prepared first if needed.

    ``mirror`` (or CHARLM_DATA_MIRROR) is an offline copy with a MANIFEST.tsv; without one, the original
    public source is downloaded. ``full`` selects the whole Linux tree instead of the default subset.
    """
    src = _source(name, SOURCES)
    chosen = Path(mirror).expanduser() if mirror is not None else default_mirror()
    return prepare(src, root=Path(root) if root is not None else default_root(), mirror=chosen, force=force,
                   full=full, progress=progress, say=(lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None))


def read(name: str, **kwargs) -> str:
    """The prepared text of a data set (see ``path`` for the keyword arguments)."""
    return path(name, **kwargs).read_text(encoding="utf-8")


def meta(name: str, root: str | Path | None = None, *, full: bool = False) -> dict:
    """meta.json of a prepared data set."""
    _source(name, SOURCES)
    d = dataset_dir(Path(root) if root is not None else default_root(), name, full)
    data = _load_meta(d)
    if data is None:
        raise CharlmError(f"{name} is not prepared in {d.parent}; run: python data/download.py {name}")
    return data


def status(name: str, root: str | Path | None = None, *, full: bool = False) -> dict:
    """present, bytes, verified, source, partial and path of a data set (nothing is fetched)."""
    src = _source(name, SOURCES)
    d = dataset_dir(Path(root) if root is not None else default_root(), name, full)
    data = _load_meta(d)
    text = d / "input.txt"
    present = text.is_file()
    return {
        "name": name, "present": present, "bytes": text.stat().st_size if present else None,
        "verified": present and _is_verified(d, src, data),
        "source": (data or {}).get("source") or src.url or "builtin", "partial": bool((data or {}).get("partial")),
        "path": text,
    }
