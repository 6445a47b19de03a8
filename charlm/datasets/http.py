"""Resumable, verified HTTP downloads for ``charlm.datasets`` (stdlib urllib + a tqdm bar).

A download streams into ``<dest>.part`` and only an exact, checksum-verified file is moved to ``dest``
(``os.replace``), so an interrupted or corrupt transfer never leaves a file that looks finished.
A later call resumes the ``.part`` with an HTTP Range request.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from tqdm import tqdm

from charlm.datasets.text import file_digests
from charlm.errors import CharlmError

CHUNK = 1 << 16
USER_AGENT = "charlm-datasets/0.1 (char-rnn companion; python-urllib)"
OFFLINE_HINT = "no network? use --mirror DIR or set CHARLM_DATA_MIRROR (see data/README.md)"


class NoNetworkError(CharlmError):
    """The host could not be reached at all: every later download would fail the same way."""


@dataclass(frozen=True)
class HttpOptions:
    """How patient to be with a server. Tests shrink these; the defaults suit a slow home connection."""

    timeout: float = 30.0  # seconds without a byte before a try is abandoned
    retries: int = 4  # extra tries after the first
    backoff: float = 1.0  # sleep backoff * 2**try between tries
    delay: float = 0.3  # pause between the many small requests of a crawl (paulgraham), to be polite


@dataclass(frozen=True)
class Expected:
    """What a finished download must match; None means unknown (then the caller records what it got)."""

    sha256: str | None = None
    md5: str | None = None
    size: int | None = None


class HttpStatusError(CharlmError):
    """The server answered with an error status that retrying will not change (404, 403, ...)."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} for {url}")
        self.status = status


class _Retry(Exception):
    """A transient failure: the try is repeated (resuming what arrived) until the retries run out."""

    def __init__(self, reason: str, *, reached: bool) -> None:
        super().__init__(reason)
        self.reached = reached  # False: we never got an answer from the host


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def mismatch(expected: Expected, sha256: str, md5: str, size: int) -> str | None:
    """'expected X, got Y' for the first check that fails, else None."""
    if expected.size is not None and size != expected.size:
        return f"expected {expected.size} bytes, got {size} bytes"
    if expected.sha256 is not None and sha256 != expected.sha256:
        return f"expected sha256 {expected.sha256}, got {sha256}"
    if expected.md5 is not None and md5 != expected.md5:
        return f"expected md5 {expected.md5}, got {md5}"
    return None


def _request(url: str, offset: int, validator: str | None) -> urllib.request.Request:
    # No Accept-Encoding: lengths and ranges then count the bytes we store.
    headers = {"User-Agent": USER_AGENT}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        if validator:
            # If the file changed since the .part began, the server sends it whole (200) instead.
            headers["If-Range"] = validator
    return urllib.request.Request(url, headers=headers)


def _open(url: str, offset: int, validator: str | None, timeout: float) -> http.client.HTTPResponse:
    """Open the URL, mapping failures to CharlmError (permanent) or _Retry (transient)."""
    try:
        return urllib.request.urlopen(_request(url, offset, validator), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset > 0:
            raise  # handled by the caller: the .part may already be complete
        if err.code in (408, 425, 429) or err.code >= 500:
            raise _Retry(f"HTTP {err.code}", reached=True) from err
        raise HttpStatusError(err.code, url) from err
    except urllib.error.URLError as err:
        if isinstance(err.reason, socket.gaierror):
            # Name resolution failed: retrying will not help and each try can take seconds.
            raise NoNetworkError(f"cannot reach {host_of(url)}: {OFFLINE_HINT}") from err
        raise _Retry(str(err.reason), reached=False) from err
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
        raise _Retry(f"{type(err).__name__}: {err}", reached=False) from err


def _content_range_total(header: str | None) -> int | None:
    match = re.fullmatch(r"bytes (?:\d+-\d+|\*)/(\d+)", (header or "").strip())
    return int(match.group(1)) if match else None


def _content_range_start(header: str | None) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(?:\d+|\*)", (header or "").strip())
    return int(match.group(1)) if match else None


def _stream(resp: http.client.HTTPResponse, out: BinaryIO, bar: tqdm, expect: int | None) -> None:
    """Copy the body; a body shorter than its Content-Length is a cut connection, hence a _Retry."""
    got = 0
    try:
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            got += len(chunk)
            bar.update(len(chunk))
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
        raise _Retry(f"connection lost after {got} bytes ({type(err).__name__})", reached=True) from err
    finally:
        out.flush()
    # http.client returns b'' (no exception) when a Content-Length body is cut short.
    if expect is not None and got < expect:
        raise _Retry(f"connection closed after {got} of {expect} bytes", reached=True)


def _one_try(url: str, part: Path, validator_file: Path, opts: HttpOptions, label: str, progress: bool) -> None:
    """One request: append to (or restart) ``part`` until the server's body ends."""
    offset = part.stat().st_size if part.exists() else 0
    validator = validator_file.read_text().strip() if offset and validator_file.exists() else None
    try:
        resp = _open(url, offset, validator, opts.timeout)
    except urllib.error.HTTPError as err:  # 416: nothing left after `offset`
        total = _content_range_total(err.headers.get("Content-Range"))
        if total == offset:
            return  # the .part is already whole; the checksum decides whether it is good
        part.unlink()
        raise _Retry("server refused the resume range; starting over", reached=True) from err
    with resp:
        length = resp.headers.get("Content-Length")
        length_n = int(length) if length and length.isdigit() else None
        if resp.status == 206:
            if _content_range_start(resp.headers.get("Content-Range")) != offset:
                part.unlink()
                raise _Retry("server answered a different range than asked; starting over", reached=True)
            mode, start = "ab", offset
            total = _content_range_total(resp.headers.get("Content-Range"))
        else:
            # 200 (Range ignored, or If-Range saw a changed file): the body is the whole file.
            mode, start = "wb", 0
            total = length_n
        new_validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        if mode == "wb":
            if new_validator:
                validator_file.write_text(new_validator)
            else:
                validator_file.unlink(missing_ok=True)
        with open(part, mode) as out, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
            desc=label, disable=not progress, leave=False,
        ) as bar:
            _stream(resp, out, bar, length_n)


def download(
    url: str,
    dest: Path,
    *,
    expected: Expected = Expected(),
    name: str = "",
    opts: HttpOptions = HttpOptions(),
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, str, int]:
    """Fetch ``url`` to ``dest`` (resuming ``dest.part``), verify it, return (sha256, md5, size).

    On a checksum or size mismatch the partial file is deleted and a CharlmError says expected vs got.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    validator_file = dest.with_name(dest.name + ".part.validator")
    label = name or dest.name
    reason, reached = "", False
    for attempt in range(opts.retries + 1):
        if attempt:
            sleep(opts.backoff * 2 ** (attempt - 1))
        try:
            _one_try(url, part, validator_file, opts, label, progress)
        except _Retry as err:
            reason, reached = str(err), reached or err.reached
            continue
        break
    else:
        if not reached:
            raise NoNetworkError(f"cannot reach {host_of(url)} ({reason}): {OFFLINE_HINT}")
        raise CharlmError(
            f"download of {url} failed {opts.retries + 1} times ({reason}); run again to resume {part}"
        )
    sha256, md5, size = file_digests(part)
    problem = mismatch(expected, sha256, md5, size)
    if problem:
        part.unlink(missing_ok=True)
        validator_file.unlink(missing_ok=True)
        raise CharlmError(
            f"checksum mismatch for {label}: {problem}; the download was removed, run again or use --force"
        )
    os.replace(part, dest)
    validator_file.unlink(missing_ok=True)
    return sha256, md5, size


def fetch_bytes(url: str, *, opts: HttpOptions = HttpOptions(), sleep: Callable[[float], None] = time.sleep) -> tuple[bytes, str]:
    """A small page in memory (with the same retries): its body and Content-Type."""
    reason, reached = "", False
    for attempt in range(opts.retries + 1):
        if attempt:
            sleep(opts.backoff * 2 ** (attempt - 1))
        try:
            resp = _open(url, 0, None, opts.timeout)
        except _Retry as err:
            reason, reached = str(err), reached or err.reached
            continue
        with resp:
            try:
                return resp.read(), resp.headers.get("Content-Type", "")
            except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                reason, reached = f"{type(err).__name__}: {err}", True
    if not reached:
        raise NoNetworkError(f"cannot reach {host_of(url)} ({reason}): {OFFLINE_HINT}")
    raise CharlmError(f"fetching {url} failed {opts.retries + 1} times ({reason}); run again")
