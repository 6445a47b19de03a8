"""paulgraham: crawl the essays linked from the article index, one page at a time, and turn the HTML into text."""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import time
import urllib.parse
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from charlm.datasets.builders import _against
from charlm.datasets.http import HttpStatusError, fetch_bytes
from charlm.datasets.spec import Built, Context, Source
from charlm.errors import CharlmError


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
                # Written aside and renamed: a crawl cut mid-write must not leave a truncated page that the
                # next run takes for a finished one.
                part = cached.with_name(cached.name + ".part")
                part.write_text(_decode_page(body, ctype), encoding="utf-8")
                os.replace(part, cached)
            essay = (html_to_text(cached.read_text(encoding="utf-8")) + "\n").encode("utf-8")
            sha.update(essay)
            w.write(essay)
    notes = [f"{len(named) - len(gone)} essays from the article index, HTML to text, sorted by file name, one blank line between essays"]
    if gone:
        notes.append(f"linked but missing (HTTP 404/410): {', '.join(gone)}")
    return Built(source=src.url, source_sha256=sha.hexdigest(), verified_against=_against(src.expected), notes=tuple(notes))
