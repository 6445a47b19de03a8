"""The corpora of the post: fetch each from its original public source (or an offline mirror), verify, prepare.

A prepared data set is ``<root>/<name>/input.txt`` (UTF-8, the text the trainer reads) plus
``<root>/<name>/meta.json``::

    name, title, source ("<url>" | "mirror:<file>" | "builtin:hello"), source_sha256, verified_against,
    sha256, bytes, chars (of input.txt), licence, partial (True only for the enwik6 prefix), note,
    variant ("subset" | "full", linux only), splits

``splits`` always holds ``train``, ``val`` and ``test`` as ``[start, end)`` character offsets into
input.txt (what a trainer slicing the decoded text needs), plus the ``fractions`` and ``by`` ("char" or
"byte") they were cut from and a ``convention`` sentence. Enwik8's standard split is by bytes
(90M/5M/5M), so for wikipedia the byte cut points are converted to character offsets.

Verified means: input.txt hashes to meta.json's sha256, and the source was checked against a pinned
hash or the mirror's MANIFEST.tsv when it was prepared (``verified_against`` says which).
"""

from __future__ import annotations

import argparse
import codecs
import csv
import hashlib
import html.parser
import json
import lzma
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Sequence

from tqdm import tqdm

from charlm._http import Expected, HttpOptions, HttpStatusError, NoNetworkError, download, fetch_bytes, host_of, mismatch
from charlm.errors import CharlmError, run_command

NAMES: tuple[str, ...] = (
    "helo", "tinyshakespeare", "shakespeare", "paulgraham", "warandpeace", "wikipedia", "latex", "linux", "names",
)
CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Splits:
    """How to cut train/val/test: fractions of the characters, or of the bytes (enwik8's convention)."""

    fractions: tuple[float, float, float]
    by: str  # "char" | "byte"
    convention: str


# charlm's default (char-rnn used 0.95/0.05/0): a held-out test split, so test losses can sit beside published ones.
DEFAULT_SPLITS = Splits((0.90, 0.05, 0.05), "char", "contiguous: first 90% of the characters train, next 5% val, last 5% test")
ENWIK8_SPLITS = Splits((0.9, 0.05, 0.05), "byte", "enwik8 standard: first 90% of the bytes train, next 5% val, last 5% test (90M/5M/5M)")
HELO_SPLITS = Splits((1.0, 0.0, 0.0), "char", "toy example: the whole string is the one training sequence")


@dataclass(frozen=True)
class Context:
    """Everything a builder may use; passed in so builders read no global state."""

    workdir: Path  # scratch space for downloads; survives a failure so a .part can resume
    http: HttpOptions
    progress: bool
    full: bool
    say: Callable[[str], None]


@dataclass(frozen=True)
class Built:
    """What a builder reports besides the text it wrote."""

    source: str
    source_sha256: str | None
    verified_against: str
    notes: tuple[str, ...] = ()
    partial: bool = False
    char_marks: tuple[int, int] | None = None  # train/val and val/test cuts, overriding Splits
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One data set: where it comes from and how its input.txt is made."""

    name: str
    title: str
    url: str
    licence: str
    build: Callable[["Source", Context, Path], Built]  # network (or builtin) path: writes input text to the Path
    transform: Callable[[Path, Path], list[str]]  # verified raw file -> input text; returns notes for meta
    mirror_name: str | None = None  # row of the mirror's MANIFEST.tsv
    expected: Expected = Expected()  # pinned checks of the downloaded (or unzipped) source
    splits: Splits = DEFAULT_SPLITS
    mirror_note: str = ""
    mirror_partial: bool = False


@dataclass(frozen=True)
class MirrorEntry:
    name: str
    file: str
    size: int
    sha256: str
    licence: str
    origin: str  # source_repo/source_path@commit


# ---------------------------------------------------------------------------------------------- locations


def default_root() -> Path:
    """CHARLM_DATA_DIR, else the checkout's data/ folder, else ~/.cache/charlm/data."""
    env = os.environ.get("CHARLM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[1] / "data"
    if (checkout / "download.py").is_file():
        return checkout
    return Path.home() / ".cache" / "charlm" / "data"


def default_mirror() -> Path | None:
    env = os.environ.get("CHARLM_DATA_MIRROR")
    return Path(env).expanduser() if env else None


def dataset_dir(root: Path, name: str, full: bool = False) -> Path:
    # The whole kernel tree is a different corpus from the default subset: keep both side by side.
    return root / (f"{name}-full" if name == "linux" and full else name)


def _source(name: str, sources: dict[str, Source]) -> Source:
    if name not in sources:
        raise CharlmError(f"unknown dataset {name!r}; choose from: {', '.join(sources)}")
    return sources[name]


# ------------------------------------------------------------------------------------------------- mirror


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
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    try:
        with lzma.open(packed) as f, open(raw, "wb") as w:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                w.write(chunk)
    except (lzma.LZMAError, EOFError) as err:
        raw.unlink(missing_ok=True)
        raise CharlmError(f"mirror file {packed} is not valid xz ({err}); re-copy the mirror") from err
    problem = mismatch(Expected(sha256=entry.sha256, size=entry.size), sha.hexdigest(), md5.hexdigest(), size)
    if problem:
        raw.unlink()
        raise CharlmError(
            f"checksum mismatch for {src.name}: {problem} (mirror {packed}); nothing was prepared, re-copy the mirror file"
        )
    notes = src.transform(raw, out)
    raw.unlink()
    return Built(
        source=f"mirror:{entry.file}", source_sha256=entry.sha256, verified_against="mirror MANIFEST.tsv sha256 and size",
        notes=tuple(n for n in (src.mirror_note, *notes) if n), partial=src.mirror_partial,
        extra={"mirror_origin": entry.origin, "original_url": src.url},
    )


# --------------------------------------------------------------------------------------- text transforms


def _copy(raw: Path, out: Path) -> list[str]:
    shutil.copyfile(raw, out)
    return []


def _strip_bom_crlf(raw: Path, out: Path) -> list[str]:
    """Gutenberg text: drop the byte-order mark (it would be a 'character' to the model) and CRLF line ends."""
    notes: list[str] = []
    with open(raw, "rb") as f, open(out, "wb") as w:
        head = f.read(len(BOM))
        if head == BOM:
            notes.append("leading UTF-8 byte-order mark removed")
        else:
            f.seek(0)
        carry, crlf = b"", 0
        while chunk := f.read(CHUNK):
            chunk = carry + chunk
            # A CR at a chunk's end may pair with the next chunk's LF.
            carry, chunk = (b"\r", chunk[:-1]) if chunk.endswith(b"\r") else (b"", chunk)
            crlf += chunk.count(b"\r\n")
            w.write(chunk.replace(b"\r\n", b"\n"))
        w.write(carry)
    if crlf:
        notes.append(f"{crlf} CRLF line ends converted to LF")
    return notes


def _cut(chunk: bytes, pos: int, marks: Sequence[int], i: int) -> tuple[list[bytes], int]:
    """Split a chunk at the marks (absolute byte offsets) that fall inside it."""
    pieces, start = [], 0
    while i < len(marks) and marks[i] <= pos + len(chunk):
        pieces.append(chunk[start:marks[i] - pos])
        start = marks[i] - pos
        i += 1
    pieces.append(chunk[start:])
    return pieces, i


def transcode_utf8(raw: Path, out: Path, marks: Sequence[int] = ()) -> tuple[int, list[int]]:
    """Write raw as valid UTF-8 (invalid bytes become U+FFFD).

    Returns how many invalid sequences were replaced, and the character offsets at the source byte
    offsets ``marks`` (so a byte-defined split survives replacements that change byte lengths).
    """
    dec = codecs.getincrementaldecoder("utf-8")("replace")
    pos = chars = i = out_fffd = raw_fffd = 0
    at: list[int] = []
    tail = b""
    with open(raw, "rb") as f, open(out, "wb") as w:
        while chunk := f.read(CHUNK):
            raw_fffd += (tail + chunk).count(b"\xef\xbf\xbd")
            tail = chunk[-2:]
            pieces, i_next = _cut(chunk, pos, marks, i)
            for n, piece in enumerate(pieces):
                text = dec.decode(piece)
                chars += len(text)
                out_fffd += text.count("\ufffd")
                w.write(text.encode("utf-8"))
                if n < len(pieces) - 1:
                    at.append(chars)
            i, pos = i_next, pos + len(chunk)
        text = dec.decode(b"", final=True)
        chars += len(text)
        out_fffd += text.count("\ufffd")
        w.write(text.encode("utf-8"))
    at.extend([chars] * (len(marks) - len(at)))
    return out_fffd - raw_fffd, at


def _transcode(raw: Path, out: Path) -> list[str]:
    replaced, _ = transcode_utf8(raw, out)
    return [f"{replaced} invalid UTF-8 sequences replaced with U+FFFD"] if replaced else []


def scan(path: Path, byte_marks: Sequence[int] = ()) -> tuple[str, int, int, list[int]]:
    """sha256, bytes, characters of a UTF-8 file and the character offsets at ``byte_marks``."""
    sha = hashlib.sha256()
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    pos = chars = i = 0
    at: list[int] = []
    with open(path, "rb") as f:
        try:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
                pieces, i_next = _cut(chunk, pos, byte_marks, i)
                for n, piece in enumerate(pieces):
                    chars += len(dec.decode(piece))
                    if n < len(pieces) - 1:
                        at.append(chars)
                i, pos = i_next, pos + len(chunk)
            chars += len(dec.decode(b"", final=True))
        except UnicodeDecodeError as err:
            raise CharlmError(f"{path} is not valid UTF-8 near byte {pos + err.start}; run again with --force") from err
    at.extend([chars] * (len(byte_marks) - len(at)))
    return sha.hexdigest(), pos, chars, at


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


# ------------------------------------------------------------------------------------------------ builders


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
    notes = src.transform(raw, out)
    raw.unlink()
    return Built(source=src.url, source_sha256=sha, verified_against=_against(src.expected), notes=tuple(notes))


def _build_enwik8(src: Source, ctx: Context, out: Path) -> Built:
    """enwik8.zip -> enwik8 (checked against its published md5/sha256) -> UTF-8 text, split 90M/5M/5M bytes."""
    archive, _ = _fetch(src, ctx)
    raw = ctx.workdir / "enwik8"
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    try:
        with zipfile.ZipFile(archive) as z, z.open("enwik8") as f, open(raw, "wb") as w:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                w.write(chunk)
    except (zipfile.BadZipFile, KeyError) as err:
        archive.unlink()
        raise CharlmError(f"{src.url} is not a zip holding enwik8 ({err}); the download was removed, run again") from err
    archive.unlink()
    problem = mismatch(src.expected, sha.hexdigest(), md5.hexdigest(), size)
    if problem:
        raw.unlink()
        raise CharlmError(f"checksum mismatch for {src.name}: {problem}; the download was removed, run again or use --force")
    f_train, f_val, _ = src.splits.fractions
    cuts = (round(size * f_train), round(size * (f_train + f_val)))
    replaced, at = transcode_utf8(raw, out, cuts)
    raw.unlink()
    notes = [f"enwik8 is bytes; {replaced} invalid UTF-8 sequences replaced with U+FFFD" if replaced else "enwik8 decodes as UTF-8 unchanged"]
    return Built(
        source=src.url, source_sha256=sha.hexdigest(), verified_against=_against(src.expected), notes=tuple(notes),
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
        raise CharlmError(f"{src.url} is not the NLTK names zip ({err}); delete {archive} and run again") from err
    out.write_text("".join(f"{n}\n" for names in lists for n in names), encoding="utf-8")
    if readme:
        # The corpus licence asks that its README travel with the lists.
        out.with_name("names-README.txt").write_bytes(readme)
    archive.unlink()
    return Built(source=src.url, source_sha256=sha, verified_against=_against(src.expected),
                 notes=(f"male.txt ({len(lists[0])}) then female.txt ({len(lists[1])}), header comments and blank lines dropped",))


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


NOT_ESSAYS = frozenset({"index.html", "articles.html", "rss.html"})


def essay_links(index_html: str, index_url: str) -> list[str]:
    """Absolute URLs of the essays linked from the article index: relative links to .html pages."""
    parser = _Links()
    parser.feed(index_html)
    seen: dict[str, None] = {}
    for href in parser.hrefs:
        parts = urllib.parse.urlsplit(href.strip())
        if parts.scheme or parts.netloc or href.startswith("/") or not parts.path.endswith(".html"):
            continue
        if PurePosixPath(parts.path).name in NOT_ESSAYS:
            continue
        seen[urllib.parse.urljoin(index_url, parts.path)] = None
    return list(seen)


class _Text(html.parser.HTMLParser):
    """HTML to plain text: scripts/styles dropped, <br> a line break, block elements a paragraph break."""

    BREAK = frozenset({"br"})
    BLOCK = frozenset({"p", "div", "table", "tr", "li", "ul", "ol", "h1", "h2", "h3", "h4", "blockquote", "pre", "hr"})
    SKIP = frozenset({"script", "style", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skipping = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BREAK:
            self.parts.append("\n")
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skipping:
            # Source line breaks inside a paragraph are just spaces in HTML.
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(page: str) -> str:
    """The essay as text: its <title> as the first line, then the body, paragraphs separated by one blank line."""
    parser = _Text()
    parser.feed(page)
    parser.close()
    body = "".join(parser.parts).replace("\xa0", " ")
    lines = [line.strip() for line in body.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join("".join(parser.title).split())
    return f"{title}\n\n{text}\n" if title and not text.startswith(title) else f"{text}\n"


def _decode_page(body: bytes, content_type: str) -> str:
    charset = re.search(r"charset=([\w-]+)", content_type)
    for encoding in ([charset.group(1)] if charset else []) + ["utf-8", "cp1252"]:
        try:
            return body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("latin-1")


def _build_paulgraham(src: Source, ctx: Context, out: Path) -> Built:
    index, ctype = fetch_bytes(src.url, opts=ctx.http)
    urls = essay_links(_decode_page(index, ctype), src.url)
    if not urls:
        raise CharlmError(f"no essay links found on {src.url}; the page layout changed, please report it")
    named = sorted((PurePosixPath(urllib.parse.urlsplit(u).path).name, u) for u in urls)  # byte order = code point order
    # Each page is kept in the workdir until the set is prepared, so a crawl cut short resumes where it stopped.
    pages = ctx.workdir / "essays"
    pages.mkdir(exist_ok=True)
    sha, gone, fetched = hashlib.sha256(), [], 0
    with open(out, "wb") as w:
        for filename, url in tqdm(named, desc="paulgraham essays", unit="essay", disable=not ctx.progress, leave=False):
            cached = pages / filename
            if not cached.is_file():
                if fetched:
                    time.sleep(ctx.http.delay)  # one essay at a time, with a pause: it is someone's personal site
                fetched += 1
                try:
                    body, ctype = fetch_bytes(url, opts=ctx.http)
                except HttpStatusError as err:
                    if err.status not in (404, 410):
                        raise
                    gone.append(filename)  # a dead link on the index should not make the corpus unobtainable
                    continue
                cached.write_text(_decode_page(body, ctype), encoding="utf-8")
            essay = (html_to_text(cached.read_text(encoding="utf-8")) + "\n").encode("utf-8")
            sha.update(essay)
            w.write(essay)
    notes = [f"{len(named) - len(gone)} essays from the article index, HTML to text, sorted by file name, one blank line between essays"]
    if gone:
        notes.append(f"linked but missing (HTTP 404/410): {', '.join(gone)}")
    return Built(source=src.url, source_sha256=sha.hexdigest(), verified_against=_against(src.expected), notes=tuple(notes))


# --------------------------------------------------------------------------------------------- registry

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("helo", 'the post\'s toy training sequence "hello"', "", "no licence needed: five letters",
               _build_helo, _copy, splits=HELO_SPLITS),
        Source("tinyshakespeare", "Tiny Shakespeare (char-rnn's data/tinyshakespeare/input.txt)",
               "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
               "Shakespeare, public domain; compiled by A. Karpathy for char-rnn (MIT-licensed repository)",
               _build_file, _copy, "tinyshakespeare",
               Expected(sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", size=1115394)),
        Source("shakespeare", "all the works of Shakespeare, 4.4 MB (Karpathy's shakespeare_input.txt)",
               "https://cs.stanford.edu/people/karpathy/char-rnn/shakespeare_input.txt",
               "Shakespeare, public domain; file compiled by A. Karpathy",
               _build_file, _transcode, None, Expected(size=4573338)),
        Source("paulgraham", "Paul Graham's essays from paulgraham.com/articles.html",
               "http://www.paulgraham.com/articles.html",
               "essays (c) Paul Graham; for local research use only, do not redistribute",
               _build_paulgraham, _copy, "paulgraham_essays",
               mirror_note="mirror: 199 essays (2021 snapshot of rafaelmarino/paul_graham_corpus), not a fresh crawl"),
        Source("warandpeace", "Tolstoy, War and Peace (Project Gutenberg #2600)",
               "https://www.gutenberg.org/cache/epub/2600/pg2600.txt",
               "public domain in the USA; the Project Gutenberg licence is inside the text",
               _build_file, _strip_bom_crlf, "war_and_peace"),
        Source("wikipedia", "enwik8: the first 10^8 bytes of English Wikipedia's XML dump of 2006-03-03 (Hutter prize)",
               "http://mattmahoney.net/dc/enwik8.zip", "Wikipedia text, GNU Free Documentation License",
               _build_enwik8, _copy, "enwik8_prefix",
               Expected(sha256="2b49720ec4d78c3c9fabaee6e4179a5e997302b3a70029f30f2d582218c024a8",
                        md5="a1fa5ffddb56f4953e226637dabbb36a", size=10**8),
               ENWIK8_SPLITS, mirror_partial=True,
               mirror_note="enwik6: first 10^6 bytes of enwik8 — NOT comparable with published enwik8 results"),
        Source("latex", "the Stacks project's LaTeX source, chapters in the book's order",
               "https://github.com/stacks/stacks-project/archive/refs/heads/master.tar.gz",
               "the Stacks project authors; GNU Free Documentation License",
               _build_stacks, _copy, "stacks_project"),
        Source("linux", "Linux 4.0 kernel C source (.c/.h)",
               "https://cdn.kernel.org/pub/linux/kernel/v4.x/linux-4.0.tar.xz", "GPL-2.0",
               _build_linux, _copy, "linux_kernel",
               Expected(sha256="0f2f7d44979bc8f71c4fc5d3308c03499c26a824dd311fdf6eef4dee0d7d5991",
                        md5="a86916bd12798220da9eb4a1eec3616d"),
               mirror_note="mirror: include/linux/, kernel/, mm/ of Linux 4.0 (20 MB); the post used the whole tree (474 MB, --full)"),
        Source("names", "Names Corpus v1.3 (NLTK corpora/names): male then female names, one a line",
               "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/names.zip",
               "(c) 1991 Mark Kantrowitz, additions by Bill Ross; free to use with credit, redistribute only with its README",
               _build_names, _copy, "names"),
    )
}
assert tuple(SOURCES) == NAMES


# --------------------------------------------------------------------------------------------- prepare


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
    note = "; ".join(built.notes)
    meta = {
        "name": src.name, "title": src.title, "source": built.source, "source_sha256": built.source_sha256,
        "verified_against": built.verified_against, "sha256": sha, "bytes": n_bytes, "chars": n_chars,
        "licence": src.licence, "partial": built.partial, "note": note,
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


# ------------------------------------------------------------------------------------------------- CLI


def _list(names: Iterable[str], root: Path, full: bool) -> None:
    rows = [("name", "present", "bytes", "verified", "source")]
    for name in names:
        variants = [False, True] if name == "linux" else [False]
        for is_full in variants:
            st = status(name, root, full=is_full)
            if is_full and not (st["present"] or full):
                continue  # the whole-tree variant is listed once it exists or was asked about
            source = st["source"] + ("  (PARTIAL: prefix only)" if st["partial"] else "")
            rows.append((name + (" --full" if is_full else ""), "yes" if st["present"] else "no",
                         f"{st['bytes']:,}" if st["present"] else "-",
                         ("yes" if st["verified"] else "NO") if st["present"] else "-", source))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    print(f"(data root: {root})")


def _report(name: str, text: Path, root: Path, full: bool) -> None:
    info = meta(name, root, full=full)
    line = f"{name}: {text} ({info['bytes']:,} bytes, {info['chars']:,} chars, verified)"
    if info.get("partial"):
        line += f" PARTIAL: {info['note']}"
    print(line)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="data/download.py",
        description="Fetch, verify and prepare the corpora of 'The Unreasonable Effectiveness of RNNs' into <root>/<name>/input.txt.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"data sets to prepare: {', '.join(NAMES)}, or all")
    p.add_argument("--list", action="store_true", help="show each data set: present, size, verified, source")
    p.add_argument("--force", action="store_true", help="fetch and prepare again even if a verified copy exists")
    p.add_argument("--mirror", metavar="DIR", help="offline mirror with MANIFEST.tsv (default: $CHARLM_DATA_MIRROR)")
    p.add_argument("--root", metavar="DIR", help="where prepared data sets live (default: $CHARLM_DATA_DIR or data/)")
    p.add_argument("--full", action="store_true", help="linux: the whole kernel tree (as the post) instead of the default subset")
    p.add_argument("--quiet", action="store_true", help="no progress bars or source/licence notes")
    return p


def _run(args: argparse.Namespace) -> int:
    root = Path(args.root).expanduser() if args.root else default_root()
    mirror = Path(args.mirror).expanduser() if args.mirror else default_mirror()
    everything = "all" in args.names
    names = list(NAMES) if everything else list(dict.fromkeys(args.names))
    for name in names:
        _source(name, SOURCES)
    if args.list:
        _list(names or NAMES, root, args.full)
        return 0
    if not names:
        raise CharlmError(f"name a data set or use --list; choose from: {', '.join(NAMES)}, all")
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    in_mirror = set(read_manifest(mirror)) if mirror and everything else set()
    skipped: list[str] = []
    failed = 0
    for name in names:
        src = SOURCES[name]
        full = args.full and name == "linux"
        offline_only = src.mirror_name is not None and src.mirror_name in in_mirror and not full
        if everything and mirror and src.url and not offline_only and not status(name, root, full=full)["verified"]:
            what = "the whole Linux tree (--full)" if full else name
            skipped.append(f"skipped {name}: {what} is not in the mirror; on a machine with internet run: python data/download.py {name}{' --full' if full else ''}")
            continue
        try:
            text = prepare(src, root=root, mirror=mirror, force=args.force, full=full, progress=not args.quiet, say=say)
        except NoNetworkError:
            raise  # every later set would fail the same way
        except CharlmError as err:
            if not everything:
                raise
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        _report(name, text, root, full)
    for line in skipped:
        print(line)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line of data/download.py; errors are one line on stderr and exit status 1."""
    args = _parser().parse_args(argv)
    return run_command(lambda: _run(args),
                       interrupted="error: interrupted; run the same command again to resume the download")
