"""The offline mirror: its MANIFEST.tsv, and preparing a data set from a verified mirror file."""

from __future__ import annotations

import csv
import lzma
from dataclasses import dataclass
from pathlib import Path

from charlm.datasets.http import Expected, mismatch
from charlm.datasets.spec import Built, Context, Source
from charlm.datasets.text import copy_hashed
from charlm.errors import CharlmError


@dataclass(frozen=True)
class MirrorEntry:
    name: str
    file: str
    size: int
    sha256: str
    licence: str
    origin: str  # source_repo/source_path@commit


def read_manifest(mirror: Path) -> dict[str, MirrorEntry]:
    manifest = mirror / "MANIFEST.tsv"
    if not manifest.is_file():
        raise CharlmError(
            f"no MANIFEST.tsv in mirror {mirror}; point --mirror or CHARLM_DATA_MIRROR at the folder that has it (e.g. ../shared/data)"
        )
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    try:
        return {
            r["name"]: MirrorEntry(
                r["name"], r["file"], int(r["bytes_uncompressed"]), r["sha256_uncompressed"].lower(),
                r["license_note"], f"{r['source_repo']}/{r['source_path']}@{r['source_commit']}",
            )
            for r in rows
        }
    except (KeyError, ValueError, TypeError) as err:
        raise CharlmError(f"{manifest} is malformed ({err}); re-copy the mirror") from err


def _from_mirror(src: Source, entry: MirrorEntry, mirror: Path, ctx: Context, out: Path) -> Built:
    """Decompress the mirror file while hashing it; only a file matching the manifest is prepared."""
    packed = mirror / entry.file
    if not packed.is_file():
        raise CharlmError(f"mirror file {packed} is missing; re-copy the mirror or fetch {src.name} without --mirror")
    raw = ctx.workdir / "mirror.raw"
    try:
        with lzma.open(packed) as f:
            sha, md5, size = copy_hashed(f, raw)
    except (lzma.LZMAError, EOFError) as err:
        raw.unlink(missing_ok=True)
        raise CharlmError(f"mirror file {packed} is not valid xz ({err}); re-copy the mirror") from err
    problem = mismatch(Expected(sha256=entry.sha256, size=entry.size), sha, md5, size)
    if problem:
        raw.unlink()
        raise CharlmError(
            f"checksum mismatch for {src.name}: {problem} (mirror {packed}); nothing was prepared, re-copy the mirror file"
        )
    try:
        notes = src.transform(raw, out)
    finally:
        raw.unlink()
    return Built(
        source=f"mirror:{entry.file}", source_sha256=entry.sha256, verified_against="mirror MANIFEST.tsv sha256 and size",
        notes=tuple(n for n in (src.mirror_note, *notes) if n), partial=src.mirror_partial,
        extra={"mirror_origin": entry.origin, "original_url": src.url},
    )
