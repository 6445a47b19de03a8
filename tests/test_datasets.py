"""charlm.datasets against a real HTTP server on 127.0.0.1 (no mocked HTTP layer) and the offline mirror."""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import re
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from charlm import datasets
from charlm.datasets.http import Expected, HttpOptions, NoNetworkError, download
from charlm.datasets import NAMES, SOURCES, prepare
from charlm.errors import CharlmError

REPO = Path(__file__).resolve().parents[1]
FAST = HttpOptions(timeout=5.0, retries=2, backoff=0.0, delay=0.0)
QUIET = dict(progress=False, http=FAST, say=lambda msg: None)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_once: set[str] = field(default_factory=set)  # first GET sends half the body, then drops the connection
    ignore_range: set[str] = field(default_factory=set)  # answer 200 with the whole body even to a Range request
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        with state.lock:
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            cut = self.path in state.cut_once
            state.cut_once.discard(self.path)
        if body is None:
            self._empty(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and self.path not in state.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self._empty(416, {"Content-Range": f"bytes */{len(body)}"})
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", f'"{sha256(body)[:16]}"')
        self.end_headers()
        if cut:
            # Promise the whole body, deliver half, hang up: what a dropped connection looks like.
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)


@dataclass
class Server:
    state: ServerState
    base: str

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[str | None]:
        return [r for p, r in self.state.requests if p == path]


@pytest.fixture
def server():
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Server(state, f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.shutdown()
    httpd.server_close()


BODY = ("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 2000).encode()


def tiny(server: Server, path: str = "/input.txt", body: bytes = BODY, **expected: object) -> datasets.Source:
    """tinyshakespeare's spec, pointed at the local server."""
    server.state.files[path] = body
    pins = expected or {"sha256": sha256(body), "size": len(body)}
    return replace(SOURCES["tinyshakespeare"], url=server.url(path), expected=Expected(**pins))


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# ------------------------------------------------------------------------------------------------ HTTP


def test_good_download_verifies_and_lands(server: Server, tmp_path: Path) -> None:
    text = prepare(tiny(server), root=tmp_path, **QUIET)
    assert text == tmp_path / "tinyshakespeare" / "input.txt"
    assert text.read_bytes() == BODY
    meta = datasets.meta("tinyshakespeare", tmp_path)
    assert meta["sha256"] == sha256(BODY) and meta["bytes"] == len(BODY) and meta["partial"] is False
    assert meta["source"] == server.url("/input.txt") and meta["verified_against"] == "pinned sha256 + size"
    assert meta["splits"]["train"] == [0, round(len(BODY) * 0.90)] and meta["splits"]["test"][1] == len(BODY)
    assert datasets.status("tinyshakespeare", tmp_path)["verified"] is True
    assert sorted(p.name for p in leftovers(tmp_path)) == ["input.txt", "meta.json"]


def test_checksum_mismatch_leaves_nothing(server: Server, tmp_path: Path) -> None:
    src = tiny(server, sha256="0" * 64)
    with pytest.raises(CharlmError, match=f"checksum mismatch for tinyshakespeare: expected sha256 0{{64}}, got {sha256(BODY)}"):
        prepare(src, root=tmp_path, **QUIET)
    assert leftovers(tmp_path) == []
    assert not datasets.status("tinyshakespeare", tmp_path)["present"]


def test_cut_connection_resumes_with_range(server: Server, tmp_path: Path) -> None:
    server.state.files["/big.bin"] = BODY
    server.state.cut_once.add("/big.bin")
    dest = tmp_path / "big.bin"
    got = download(server.url("/big.bin"), dest, expected=Expected(sha256=sha256(BODY)), opts=FAST, progress=False)
    assert got[0] == sha256(BODY) and dest.read_bytes() == BODY
    first, second = server.hits("/big.bin")
    assert first is None and second == f"bytes={len(BODY) // 2}-"
    assert not dest.with_name("big.bin.part").exists()


def test_interrupted_run_resumes_its_part_file(server: Server, tmp_path: Path) -> None:
    src = tiny(server)
    part = tmp_path / "tinyshakespeare" / "download" / "input.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY[:1000])  # what an earlier, killed run left behind
    assert prepare(src, root=tmp_path, **QUIET).read_bytes() == BODY
    assert server.hits("/input.txt") == ["bytes=1000-"]


def test_complete_part_file_is_not_fetched_again(server: Server, tmp_path: Path) -> None:
    server.state.files["/f"] = BODY
    dest = tmp_path / "f"
    dest.with_name("f.part").write_bytes(BODY)  # a run killed between the last byte and the rename
    download(server.url("/f"), dest, expected=Expected(sha256=sha256(BODY)), opts=FAST, progress=False)
    assert dest.read_bytes() == BODY and server.hits("/f") == [f"bytes={len(BODY)}-"]  # answered 416


def test_server_ignoring_range_restarts_cleanly(server: Server, tmp_path: Path) -> None:
    server.state.files["/f"] = BODY
    server.state.cut_once.add("/f")
    server.state.ignore_range.add("/f")
    dest = tmp_path / "f"
    download(server.url("/f"), dest, expected=Expected(sha256=sha256(BODY)), opts=FAST, progress=False)
    assert dest.read_bytes() == BODY and len(server.hits("/f")) == 2


def test_http_404_names_url_and_status(server: Server, tmp_path: Path) -> None:
    src = replace(SOURCES["shakespeare"], url=server.url("/missing.txt"))
    with pytest.raises(CharlmError) as err:
        prepare(src, root=tmp_path, **QUIET)
    assert str(err.value) == f"HTTP 404 for {server.url('/missing.txt')}"
    assert len(server.hits("/missing.txt")) == 1  # a 404 is not retried


def test_unreachable_host_says_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    src = replace(SOURCES["shakespeare"], url=f"http://127.0.0.1:{port}/shakespeare_input.txt")
    with pytest.raises(NoNetworkError, match=r"cannot reach 127\.0\.0\.1 .*use --mirror DIR or set CHARLM_DATA_MIRROR"):
        prepare(src, root=tmp_path, **QUIET)
    mirror = fake_mirror(tmp_path / "mirror", b"x", sha256(b"x"))
    with pytest.raises(NoNetworkError, match=r"shakespeare is not in the mirror .* and 127\.0\.0\.1 cannot be reached: prepare it on a machine with internet"):
        prepare(src, root=tmp_path, mirror=mirror, **QUIET)


def test_idempotent_and_force_refetches(server: Server, tmp_path: Path) -> None:
    src = tiny(server)
    prepare(src, root=tmp_path, **QUIET)
    prepare(src, root=tmp_path, **QUIET)
    assert len(server.hits("/input.txt")) == 1
    prepare(src, root=tmp_path, force=True, **QUIET)
    assert len(server.hits("/input.txt")) == 2


def test_corrupted_prepared_file_is_fetched_again(server: Server, tmp_path: Path) -> None:
    src = tiny(server)
    text = prepare(src, root=tmp_path, **QUIET)
    text.write_bytes(BODY[:-1] + b"?")
    assert datasets.status("tinyshakespeare", tmp_path)["verified"] is False
    assert prepare(src, root=tmp_path, **QUIET).read_bytes() == BODY
    assert len(server.hits("/input.txt")) == 2


# ------------------------------------------------------------------------- builders on real archive formats


def test_names_zip(server: Server, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("names/male.txt", "# List of common male names.\n# Copyright (c) 1991\n\nAamir\nAaron\n")
        z.writestr("names/female.txt", "# List of common female names.\n\nAbagael\nMary-Jo\nLa Verne\n")
        z.writestr("names/README", "Names Corpus, Version 1.3\n")
    server.state.files["/names.zip"] = buf.getvalue()
    text = prepare(replace(SOURCES["names"], url=server.url("/names.zip")), root=tmp_path, **QUIET)
    # male then female, headers dropped, then the documented shuffle: line i goes where sha256("2015:i") sorts
    source = ["Aamir", "Aaron", "Abagael", "Mary-Jo", "La Verne"]
    order = sorted(range(5), key=lambda i: hashlib.sha256(f"2015:{i}".encode()).digest())
    assert text.read_text() == "".join(source[i] + "\n" for i in order) != "".join(n + "\n" for n in source)
    assert (text.parent / "names-README.txt").read_text().startswith("Names Corpus")


def _tar(mode: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_stacks_chapters_in_lijst_order(server: Server, tmp_path: Path) -> None:
    top = "stacks-project-master/"
    server.state.files["/master.tar.gz"] = _tar("w:gz", {
        top + "Makefile": b"# list\nLIJST = intro sets \\\n\ttopology\n\nLIJST_FDL = $(LIJST) fdl\n",
        top + "topology.tex": b"T\n", top + "intro.tex": b"I\n", top + "sets.tex": b"S\n",
        top + "fdl.tex": b"F\n", top + "tags/tags.tex": b"X\n",
    })
    text = prepare(replace(SOURCES["latex"], url=server.url("/master.tar.gz")), root=tmp_path, **QUIET)
    assert text.read_text() == "I\nS\nT\n"


def test_linux_subset_full_and_latin1(server: Server, tmp_path: Path) -> None:
    top = "linux-4.0/"
    server.state.files["/linux-4.0.tar.xz"] = _tar("w:xz", {
        top + "mm/zswap.c": b"z\n", top + "kernel/events/callchain.c": "\u00a9 x\n".encode("latin-1"),
        top + "include/linux/8250_pci.h": b"h\n", top + "arch/x86/a.c": b"a\n", top + "mm/Makefile": b"m\n",
        top + "include/uapi/u.h": b"u\n",
    })
    src = replace(SOURCES["linux"], url=server.url("/linux-4.0.tar.xz"), expected=Expected())
    subset = prepare(src, root=tmp_path, **QUIET)
    assert subset.read_text() == "h\n\u00a9 x\nz\n"
    assert datasets.meta("linux", tmp_path)["variant"] == "subset"
    full = prepare(src, root=tmp_path, full=True, **QUIET)
    assert full.parent.name == "linux-full" and full.read_text() == "a\nh\nu\n\u00a9 x\nz\n"
    assert subset.is_file() and datasets.status("linux", tmp_path, full=True)["verified"]


def test_enwik8_zip_verified_and_split_by_bytes(server: Server, tmp_path: Path) -> None:
    raw = ("<page>caf\u00e9 " * 100).encode() + b"\xff" + b"x" * 99  # one byte that is not UTF-8
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("enwik8", raw)
    server.state.files["/enwik8.zip"] = buf.getvalue()
    pins = Expected(sha256=sha256(raw), md5=hashlib.md5(raw).hexdigest(), size=len(raw))
    src = replace(SOURCES["wikipedia"], url=server.url("/enwik8.zip"), expected=pins)
    text = prepare(src, root=tmp_path, **QUIET).read_text()
    meta = datasets.meta("wikipedia", tmp_path)
    assert meta["partial"] is False and "1 invalid UTF-8" in meta["note"] and text.count("\ufffd") == 1
    cut = round(len(raw) * 0.9)
    assert meta["source_byte_splits"]["train"] == [0, cut]
    assert meta["splits"]["train"] == [0, len(raw[:cut].decode("utf-8", "replace"))]
    bad = replace(src, expected=replace(pins, md5="0" * 32))
    with pytest.raises(CharlmError, match="expected md5 0{32}"):
        prepare(bad, root=tmp_path / "other", **QUIET)


def test_paulgraham_crawl(server: Server, tmp_path: Path) -> None:
    server.state.files["/articles.html"] = (
        b'<html><body><map><area href="index.html"></map><a href="index.html">home</a>'
        b'<a href="zebra.html">Z</a><a href="apple.html">A</a><a href="http://elsewhere.com/x.html">x</a>'
        b'<a href="acl1.txt">t</a><a href="apple.html">again</a></body></html>'
    )
    server.state.files["/apple.html"] = (
        b"<html><head><title>Apples</title><script>var x=1;</script></head><body><font>"
        b"First line\nwraps here.<br><br>Tom &amp; Jerry&#39;s <b>second</b> paragraph.</font></body></html>"
    )
    server.state.files["/zebra.html"] = b"<html><head><title>Zebras</title></head><body><p>Stripes.</p></body></html>"
    server.state.files["/articles.html"] += b'<a href="gone.html">dead link</a>'
    text = prepare(replace(SOURCES["paulgraham"], url=server.url("/articles.html")), root=tmp_path, **QUIET)
    assert text.read_text() == (
        "Apples\n\nFirst line wraps here.\n\nTom & Jerry's second paragraph.\n\nZebras\n\nStripes.\n\n"
    )
    assert [p for p, _ in server.state.requests] == ["/articles.html", "/apple.html", "/gone.html", "/zebra.html"]
    assert "missing (HTTP 404/410): gone.html" in datasets.meta("paulgraham", tmp_path)["note"]


def test_helo_is_the_toy_string(tmp_path: Path) -> None:
    assert datasets.read("helo", root=tmp_path, progress=False) == "hello"
    assert datasets.meta("helo", tmp_path)["splits"]["train"] == [0, 5]


# -------------------------------------------------------------------------------------------------- mirror


def fake_mirror(folder: Path, data: bytes, claimed_sha: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tinyshakespeare.txt.xz").write_bytes(lzma.compress(data))
    header = "name\tfile\tcompression\tbytes_uncompressed\tsha256_uncompressed\tsource_repo\tsource_path\tsource_commit\tlicense_note\n"
    row = f"tinyshakespeare\ttinyshakespeare.txt.xz\txz -9\t{len(data)}\t{claimed_sha}\tkarpathy/char-rnn\tinput.txt\tabc\tpublic domain\n"
    (folder / "MANIFEST.tsv").write_text(header + row)
    return folder


def test_fake_mirror_good_and_bad_sha(tmp_path: Path) -> None:
    good = fake_mirror(tmp_path / "good", BODY, sha256(BODY))
    text = prepare(SOURCES["tinyshakespeare"], root=tmp_path / "a", mirror=good, **QUIET)
    assert text.read_bytes() == BODY and datasets.meta("tinyshakespeare", tmp_path / "a")["source"] == "mirror:tinyshakespeare.txt.xz"
    bad = fake_mirror(tmp_path / "bad", BODY, "f" * 64)
    with pytest.raises(CharlmError, match=f"checksum mismatch for tinyshakespeare: expected sha256 f{{64}}, got {sha256(BODY)}"):
        prepare(SOURCES["tinyshakespeare"], root=tmp_path / "b", mirror=bad, **QUIET)
    assert not (tmp_path / "b").exists() or leftovers(tmp_path / "b") == []


def test_mirror_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(CharlmError, match="no MANIFEST.tsv in mirror"):
        prepare(SOURCES["names"], root=tmp_path, mirror=tmp_path / "nowhere", **QUIET)


def real_mirror() -> Path:
    env = os.environ.get("CHARLM_DATA_MIRROR")
    if not env or not (Path(env) / "MANIFEST.tsv").is_file():
        pytest.skip("set CHARLM_DATA_MIRROR to the offline mirror (../shared/data) to prepare every data set from it")
    return Path(env)


def test_every_mirror_data_set_prepares_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mirror = real_mirror()
    manifest = datasets.read_manifest(mirror)
    covered = [n for n in NAMES if SOURCES[n].mirror_name in manifest]
    assert set(covered) == set(NAMES) - {"helo", "shakespeare"}
    for name in covered:
        entry = manifest[SOURCES[name].mirror_name]
        text = prepare(SOURCES[name], root=tmp_path, mirror=mirror, **QUIET)
        meta = datasets.meta(name, tmp_path)
        assert datasets.status(name, tmp_path)["verified"], name
        assert meta["source"] == f"mirror:{entry.file}" and meta["source_sha256"] == entry.sha256
        assert meta["splits"]["test"][1] == meta["chars"] and meta["partial"] is (name == "wikipedia")
        if name in ("warandpeace", "names"):  # their recipes change the text: tested on their own below
            assert meta["sha256"] != entry.sha256 and meta["recipe"] == 2
        else:
            assert meta["bytes"] == entry.size and meta["sha256"] == entry.sha256
    assert "NOT comparable" in datasets.meta("wikipedia", tmp_path)["note"]
    assert len(datasets.read("names", root=tmp_path, mirror=mirror, progress=False).splitlines()) == 7944
    # `all` now only reports (everything is verified) and explains what the mirror cannot give.
    capsys.readouterr()
    assert datasets.main(["all", "--mirror", str(mirror), "--root", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "skipped shakespeare: shakespeare is not in the mirror" in out
    assert re.search(r"^wikipedia: .*PARTIAL: enwik6", out, flags=re.MULTILINE)
    # A set the mirror lacks but that is already verified here is reported, not skipped (and not fetched).
    d = tmp_path / "shakespeare"
    d.mkdir()
    (d / "input.txt").write_bytes(b"To be\n")
    (d / "meta.json").write_text(json.dumps({"source": SOURCES["shakespeare"].url, "bytes": 6, "chars": 6,
                                             "sha256": hashlib.sha256(b"To be\n").hexdigest()}), encoding="utf-8")
    assert datasets.main(["all", "--mirror", str(mirror), "--root", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^shakespeare: .* \(6 bytes, 6 chars, verified\)$", out, flags=re.MULTILINE)
    assert "skipped shakespeare" not in out


# ----------------------------------------------------------------------------------------------------- CLI


def test_list_and_unknown_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    datasets.path("helo", root=tmp_path, progress=False)
    assert datasets.main(["--list", "--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "present", "bytes", "verified", "source"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert list(rows) == list(NAMES)
    assert rows["helo"][1:5] == ["yes", "5", "yes", "builtin:hello"] and rows["linux"][1] == "no"
    assert datasets.main(["nope"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: unknown dataset 'nope'; choose from: {', '.join(NAMES)}\n"


def test_download_py_runs_as_a_script(tmp_path: Path) -> None:
    env = {**os.environ, "CHARLM_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "data/download.py", "--list"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tinyshakespeare" in done.stdout and f"(data root: {tmp_path})" in done.stdout


# ------------------------------------------------------------------------------- what each recipe makes


GUTENBERG = (
    "\ufeffThe Project Gutenberg EBook of A Tale, by Someone\r\n\r\nThis eBook is for the use of anyone\r\n\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK A TALE ***\r\n\r\n\r\n\r\n"
    "    CHAPTER I\r\n\r\nIt was a dark night.\r\nThe end.\r\n\r\n\r\n"
    "End of the Project Gutenberg EBook of A Tale, by Someone\r\n\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK A TALE ***\r\n\r\n1.A. By reading this Project Gutenberg-tm work\r\n"
)


def test_gutenberg_text_loses_header_and_licence(server: Server, tmp_path: Path) -> None:
    server.state.files["/pg.txt"] = GUTENBERG.encode("utf-8")
    text = prepare(replace(SOURCES["warandpeace"], url=server.url("/pg.txt")), root=tmp_path, **QUIET)
    body = "    CHAPTER I\n\nIt was a dark night.\nThe end.\n"  # the indentation of the first line is text
    assert text.read_text(encoding="utf-8") == body
    lf = GUTENBERG.removeprefix("\ufeff").replace("\r\n", "\n")
    before, after = lf.index("    CHAPTER I"), len(lf) - lf.index("The end.") - len("The end.")
    assert f"header ({before:,} chars" in datasets.meta("warandpeace", tmp_path)["note"]
    assert f"licence ({after:,} chars" in datasets.meta("warandpeace", tmp_path)["note"]
    # Newer editions say THE, and some have no closing credit line.
    newer = GUTENBERG.replace("THIS PROJECT", "THE PROJECT").replace("End of the Project Gutenberg EBook of A Tale, by Someone\r\n", "")
    server.state.files["/pg2.txt"] = newer.encode("utf-8")
    text = prepare(replace(SOURCES["warandpeace"], url=server.url("/pg2.txt")), root=tmp_path / "newer", **QUIET)
    assert text.read_text(encoding="utf-8") == body
    server.state.files["/pg3.txt"] = GUTENBERG.replace("*** END OF", "END OF").encode("utf-8")
    with pytest.raises(CharlmError, match=r"^no '\*\*\* END OF \.\.\. PROJECT GUTENBERG EBOOK' line in this Project Gutenberg file"):
        prepare(replace(SOURCES["warandpeace"], url=server.url("/pg3.txt")), root=tmp_path / "broken", **QUIET)
    assert leftovers(tmp_path / "broken") == []


def test_prepared_war_and_peace_has_no_project_gutenberg_line(tmp_path: Path) -> None:
    mirror = real_mirror()
    text = prepare(SOURCES["warandpeace"], root=tmp_path, mirror=mirror, **QUIET).read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if "gutenberg" in line.lower()] == []
    assert text.startswith("An Anonymous Volunteer, and David Widger\n") and text.endswith("we are not\nconscious.\n")
    original = lzma.open(mirror / "war_and_peace.txt.xz").read().decode("utf-8").removeprefix("\ufeff")
    assert sum("Project Gutenberg" in line for line in original.splitlines()) > 50
    # The text is kept whole; what is cut is the header (521 chars before the START line, issue 16's count), the
    # START line, blank lines, and from the closing credit on (the licence: 18,497 chars from the END line).
    at = original.index(text[:-1])
    head, tail = original[:at], original[at + len(text) - 1 :]
    assert head.index("*** START OF THIS PROJECT GUTENBERG EBOOK") == 521 and head.rstrip("\n").endswith("***")
    assert tail.lstrip("\n").startswith("End of the Project Gutenberg EBook of War and Peace")
    assert len(tail) - tail.index("*** END OF THIS PROJECT GUTENBERG EBOOK") == 18_497


def test_an_older_recipe_is_prepared_again(tmp_path: Path) -> None:
    mirror = fake_mirror(tmp_path / "mirror", BODY, sha256(BODY))
    prepare(SOURCES["tinyshakespeare"], root=tmp_path, mirror=mirror, **QUIET)
    assert datasets.meta("tinyshakespeare", tmp_path)["recipe"] == 1
    said: list[str] = []
    newer = replace(SOURCES["tinyshakespeare"], recipe=2)
    prepare(newer, root=tmp_path, mirror=mirror, progress=False, http=FAST, say=said.append)
    assert said and datasets.meta("tinyshakespeare", tmp_path)["recipe"] == 2
    said.clear()
    prepare(newer, root=tmp_path, mirror=mirror, progress=False, http=FAST, say=said.append)
    assert said == []  # now current: not prepared again


def test_download_py_prepares_char_rnn_war_and_peace_from_the_mirror(tmp_path: Path) -> None:
    mirror = real_mirror()
    env = {**os.environ, "CHARLM_DATA_DIR": str(tmp_path), "CHARLM_DATA_MIRROR": str(mirror)}
    done = subprocess.run([sys.executable, "data/download.py", "warpeace_input", "--quiet"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    entry = datasets.read_manifest(mirror)["warpeace_input"]
    meta = datasets.meta("warpeace_input", tmp_path)
    data = (tmp_path / "warpeace_input" / "input.txt").read_bytes()
    assert meta["sha256"] == sha256(data) == entry.sha256 == SOURCES["warpeace_input"].text_sha256
    text = data.decode("utf-8")
    assert meta["chars"] == len(text) == 3_196_211 and len(set(text)) == 82
    # The paper's "3,258,246 characters, K = 87" counts the bytes of this text with a BOM and CRLF line ends.
    as_served = b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")
    assert len(as_served) == 3_258_245 and len(set(as_served)) == 87


def test_char_rnn_file_as_served_prepares_to_the_pinned_text(server: Server, tmp_path: Path) -> None:
    clean = 'Well, Prince, so Genoa and Lucca\nare now "family estates".\n\nconscious.'
    src = replace(SOURCES["warpeace_input"], text_sha256=sha256(clean.encode()))
    server.state.files["/warpeace_input.txt"] = b"\xef\xbb\xbf" + (clean + "\n\n").replace("\n", "\r\n").encode()
    text = prepare(replace(src, url=server.url("/warpeace_input.txt")), root=tmp_path, **QUIET)
    assert text.read_text(encoding="utf-8") == clean  # BOM, CRLF and the final line ends gone
    assert "2 trailing whitespace characters at the end of the file dropped" in datasets.meta("warpeace_input", tmp_path)["note"]
    server.state.files["/other.txt"] = (clean + " Another edition.").encode()
    with pytest.raises(CharlmError, match=r"checksum mismatch for warpeace_input: the prepared text should have sha256"):
        prepare(replace(src, url=server.url("/other.txt")), root=tmp_path / "other", **QUIET)
    assert leftovers(tmp_path / "other") == []


def test_names_are_shuffled_so_validation_spans_the_alphabet(tmp_path: Path) -> None:
    mirror = real_mirror()
    prepared = prepare(SOURCES["names"], root=tmp_path, mirror=mirror, **QUIET).read_text(encoding="utf-8")
    source = lzma.open(mirror / "names.txt.xz").read().decode("utf-8")
    assert sorted(prepared.splitlines()) == sorted(source.splitlines())  # a permutation: nothing added or lost
    a, b = datasets.meta("names", tmp_path)["splits"]["val"]
    val = prepared[a:b].splitlines()[1:-1]  # whole lines only
    initials = {name[0] for name in val}
    assert len(val) > 300 and len(initials) >= 20 and {"A", "J", "M"} <= initials  # unshuffled: female R-Z only
    male = set(source.splitlines()[:2943])
    assert 0.2 < sum(name in male for name in val) / len(val) < 0.6  # both lists, not the female R-Z tail
    # Neighbours share an initial about as often as random pairs do (sorted: almost always).
    same = [x[0] == y[0] for x, y in zip(prepared.splitlines(), prepared.splitlines()[1:])]
    assert sum(same) / len(same) < 0.15 and sum(same) / len(same) > 0.02


def test_the_posts_source_is_pinned_to_the_mirrored_commit() -> None:
    manifest = datasets.read_manifest(real_mirror())
    post = SOURCES["rnn_effectiveness_post"]
    assert post.expected.sha256 == manifest["rnn_effectiveness_post"].sha256
    assert post.expected.size == manifest["rnn_effectiveness_post"].size
    assert manifest["rnn_effectiveness_post"].origin.split("@")[1] in post.url
