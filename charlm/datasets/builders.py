"""Builders that make input.txt from each original public source (paulgraham's crawl is in paulgraham.py)."""

from __future__ import annotations

import lzma
import re
import shutil
import tarfile
import urllib.parse
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable

from charlm.datasets.http import Expected, download, mismatch
from charlm.datasets.spec import Built, Context, Source
from charlm.datasets.text import CHUNK, copy_hashed, transcode_utf8
from charlm.errors import CharlmError


def _fetch(src: Source, ctx: Context, url: str | None = None, expected: Expected | None = None) -> tuple[Path, str]:
    url = url or src.url
    dest = ctx.workdir / (PurePosixPath(urllib.parse.urlsplit(url).path).name or "download")
    sha, _, _ = download(url, dest, expected=expected or Expected(), name=src.name, opts=ctx.http, progress=ctx.progress)
    return dest, sha


def _against(expected: Expected) -> str:
    pinned = [k for k in ("sha256", "md5", "size") if getattr(expected, k) is not None]
    return f"pinned {' + '.join(pinned)}" if pinned else "nothing pinned (the source changes); sha256 recorded"


def _build_helo(src: Source, ctx: Context, out: Path) -> Built:
    # The post's toy: vocabulary h, e, l, o and the single training sequence "hello" (no newline).
    out.write_bytes(b"hello")
    return Built(source="builtin:hello", source_sha256=None, verified_against="builtin")


def _build_file(src: Source, ctx: Context, out: Path) -> Built:
    raw, sha = _fetch(src, ctx, expected=src.expected)
    try:
        notes = src.transform(raw, out)
    finally:
        raw.unlink()  # a transform that refuses the file leaves no verified-looking download behind
    return Built(source=src.url, source_sha256=sha, verified_against=_against(src.expected), notes=tuple(notes))


def _build_enwik8(src: Source, ctx: Context, out: Path) -> Built:
    """enwik8.zip -> enwik8 (checked against its published md5/sha256) -> UTF-8 text, split 90M/5M/5M bytes."""
    archive, _ = _fetch(src, ctx)
    raw = ctx.workdir / "enwik8"
    try:
        with zipfile.ZipFile(archive) as z, z.open("enwik8") as f:
            sha, md5, size = copy_hashed(f, raw)
    except (zipfile.BadZipFile, KeyError) as err:
        archive.unlink()
        raise CharlmError(f"{src.url} is not a zip holding enwik8 ({err}); the download was removed, run again") from err
    archive.unlink()
    problem = mismatch(src.expected, sha, md5, size)
    if problem:
        raw.unlink()
        raise CharlmError(f"checksum mismatch for {src.name}: {problem}; the download was removed, run again or use --force")
    f_train, f_val, _ = src.splits.fractions
    cuts = (round(size * f_train), round(size * (f_train + f_val)))
    replaced, at = transcode_utf8(raw, out, cuts)
    raw.unlink()
    notes = [f"enwik8 is bytes; {replaced} invalid UTF-8 sequences replaced with U+FFFD" if replaced else "enwik8 decodes as UTF-8 unchanged"]
    return Built(
        source=src.url, source_sha256=sha, verified_against=_against(src.expected), notes=tuple(notes),
        char_marks=(at[0], at[1]), extra={"source_bytes": size, "source_byte_splits": {"train": [0, cuts[0]], "val": [cuts[0], cuts[1]], "test": [cuts[1], size]}},
    )


def _safe_member(name: str) -> PurePosixPath | None:
    """The path below the archive's top folder, or None for anything that could escape the target."""
    parts = PurePosixPath(name).parts[1:]
    if not parts or any(p in ("..", "") for p in parts) or name.startswith("/"):
        return None
    return PurePosixPath(*parts)


def _extract(archive: Path, tree: Path, want: Callable[[PurePosixPath], bool]) -> list[PurePosixPath]:
    """Stream the tarball once, writing the regular files ``want`` accepts under ``tree``."""
    kept: list[PurePosixPath] = []
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                rel = _safe_member(member.name)
                if rel is None or not member.isfile() or not want(rel):
                    continue
                target = tree / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as f, open(target, "wb") as w:  # type: ignore[union-attr]
                    shutil.copyfileobj(f, w, CHUNK)
                kept.append(rel)
    except (tarfile.TarError, EOFError, lzma.LZMAError, OSError) as err:
        raise CharlmError(f"cannot unpack {archive.name} ({err}); delete {archive.parent} and run again") from err
    return kept


def stacks_chapters(makefile: str) -> list[str]:
    """The LIJST variable of the Stacks project's Makefile: the chapters in the book's order."""
    joined = re.sub(r"\\\n", " ", makefile)
    match = re.search(r"^LIJST\s*=(.*)$", joined, flags=re.MULTILINE)
    if not match or not match.group(1).split():
        raise CharlmError("the Stacks project Makefile has no LIJST variable; its layout changed, please report it")
    return match.group(1).split()


def _build_stacks(src: Source, ctx: Context, out: Path) -> Built:
    archive, sha = _fetch(src, ctx)
    tree = ctx.workdir / "tree"
    try:
        kept = _extract(archive, tree, lambda rel: len(rel.parts) == 1 and (rel.name == "Makefile" or rel.suffix == ".tex"))
        if PurePosixPath("Makefile") not in kept:
            raise CharlmError(f"{src.url} has no top-level Makefile; the Stacks project layout changed, please report it")
        chapters = stacks_chapters((tree / "Makefile").read_text(encoding="utf-8"))
        missing = [c for c in chapters if not (tree / f"{c}.tex").is_file()]
        if missing:
            raise CharlmError(f"Stacks project chapters missing from {src.url}: {', '.join(missing)}; please report it")
        with open(out, "wb") as w:
            for chapter in chapters:
                w.write((tree / f"{chapter}.tex").read_bytes())
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    archive.unlink()
    return Built(source=src.url, source_sha256=sha, verified_against=_against(src.expected),
                 notes=(f"{len(chapters)} chapters of the Makefile's LIJST, concatenated in that order",))


LINUX_SUBSET = ("include/linux/", "kernel/", "mm/")


def _linux_wanted(full: bool) -> Callable[[PurePosixPath], bool]:
    def want(rel: PurePosixPath) -> bool:
        return rel.suffix in (".c", ".h") and (full or str(rel).startswith(LINUX_SUBSET))
    return want


def _build_linux(src: Source, ctx: Context, out: Path) -> Built:
    archive, sha = _fetch(src, ctx, expected=src.expected)
    tree = ctx.workdir / "tree"
    relatin = 0
    try:
        kept = _extract(archive, tree, _linux_wanted(ctx.full))
        # Byte-wise path order (str order of code points equals UTF-8 byte order).
        paths = sorted(str(p) for p in kept)
        with open(out, "wb") as w:
            for rel in paths:
                data = (tree / rel).read_bytes()
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    # A few old files carry Latin-1 (e.g. a copyright sign); keep the character, in UTF-8.
                    data = data.decode("latin-1").encode("utf-8")
                    relatin += 1
                w.write(data)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    archive.unlink()
    scope = "every .c/.h file of the tree" if ctx.full else "the .c/.h files under include/linux/, kernel/, mm/"
    notes = [f"{len(paths)} files ({scope}), byte-wise sorted by path, concatenated"]
    if relatin:
        notes.append(f"{relatin} Latin-1 files re-encoded as UTF-8")
    return Built(source=src.url, source_sha256=sha, verified_against=_against(src.expected), notes=tuple(notes),
                 extra={"variant": "full" if ctx.full else "subset"})


def names_lines(text: str) -> list[str]:
    """A names list without its '#' header comments and blank lines."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _build_names(src: Source, ctx: Context, out: Path) -> Built:
    archive, sha = _fetch(src, ctx)
    try:
        with zipfile.ZipFile(archive) as z:
            lists = [names_lines(z.read(f"names/{part}.txt").decode("utf-8")) for part in ("male", "female")]
            readme = z.read("names/README") if "names/README" in z.namelist() else b""
    except (zipfile.BadZipFile, KeyError) as err:
        archive.unlink()
        raise CharlmError(f"{src.url} is not the NLTK names zip ({err}); the download was removed, run again") from err
    # The same file as the mirror's names.txt; the transform (the seeded shuffle) then works on either alike.
    raw = ctx.workdir / "names.txt"
    raw.write_text("".join(f"{n}\n" for names in lists for n in names), encoding="utf-8")
    try:
        notes = src.transform(raw, out)
    finally:
        raw.unlink()
    if readme:
        # The corpus licence asks that its README travel with the lists.
        out.with_name("names-README.txt").write_bytes(readme)
    archive.unlink()
    return Built(source=src.url, source_sha256=sha, verified_against=_against(src.expected),
                 notes=(f"male.txt ({len(lists[0])}) then female.txt ({len(lists[1])}), header comments and blank "
                        "lines dropped", *notes))
