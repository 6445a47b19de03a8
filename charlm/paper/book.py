"""The committed reference runs as a static site a reader browses: ``make book`` (``python -m charlm.paper.book``).

nbconvert renders each executed notebook in ``outputs/<profile>/`` as one page (figures embedded) through the
template in ``book_template/``: nbconvert's lab page with the book's navigation (index, previous, next) and
nothing loaded from a CDN, so the pages open with the network off. Long training logs are folded to their last
lines (the whole log one click away), and widget outputs, which need a kernel, become a note. mistune, which
nbconvert already uses, renders each profile's ``results.md`` into the index, under the README's figure.

The site folder is owned like a run directory: the book writes a marker file (``.charlm-book``, listing every file
it wrote) into the folders it makes, builds each new site in a fresh folder beside the old one and swaps it in,
and removes only the files its marker lists. A ``--site`` that holds anything else is refused and left untouched.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charlm.errors import CharlmError, run_command
from charlm.paper import readme
from charlm.paper.reproduce import repo_root

MARKER = ".charlm-book"  # in a site folder: JSON {"files": [...]}, every file the book wrote there
TEMPLATES = Path(__file__).with_name("book_template")
# A stream output longer than FOLD_OVER lines shows its last LOG_TAIL lines; the rest is folded in a <details>.
FOLD_OVER, LOG_TAIL = 12, 5
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
table{{border-collapse:collapse;font-size:.85rem}}td,th{{border:1px solid #ccc;padding:.25rem .4rem;vertical-align:top}}
pre{{background:#f6f6f6;padding:.5rem;overflow-x:auto}}img.charlm-figure{{max-width:100%}}</style></head><body>
{body}
</body></html>
"""


@dataclass
class Page:
    """One executed notebook and where its page goes."""

    profile: str  # the run's folder, e.g. "cpu"
    notebook: Path
    title: str  # the notebook's first heading, as plain text

    @property
    def href(self) -> str:  # relative to the site's root
        return f"{self.profile}/{self.notebook.stem}.html"


def _plain(heading: str) -> str:
    """A Markdown heading as plain text for a <title>: links keep their words, emphasis and code marks go."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return " ".join(re.sub(r"[`*_]", "", text).split())


def read_notebook(path: Path) -> Any:
    """An executed notebook, validated; a truncated or hand-broken file is one line saying which and what to do."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except (OSError, UnicodeDecodeError, ValueError, nbformat.ValidationError) as err:
        # nbformat's NotJSONError is a ValueError; its message quotes the whole file, the first line says enough.
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise CharlmError(f"cannot read {path} ({reason}); restore it with git checkout -- {path}, or rerun its "
                          f"section with make reproduce") from None


def _title(nb: Any, path: Path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heading = next((line for line in cell.source.splitlines() if line.startswith("# ")), None)
            if heading:
                return _plain(heading[2:])
    return path.stem


def _folded_log(text: str) -> str:
    lines = text.rstrip("\n").split("\n")
    head, tail = lines[:-LOG_TAIL], lines[-LOG_TAIL:]
    return (f'<div class="charlm-log"><details><summary>{len(head)} earlier lines of this log</summary>'
            f'<pre>{html.escape(chr(10).join(head))}</pre></details><pre>{html.escape(chr(10).join(tail))}</pre></div>')


def _book_preprocessor():
    from nbconvert.preprocessors import Preprocessor
    from nbformat.v4 import new_output

    class BookPreprocessor(Preprocessor):
        """Fold long logs (after CoalesceStreamsPreprocessor joined a cell's consecutive prints into one stream)
        and replace widget views, which only a running kernel can draw, by a line that says so."""

        def preprocess_cell(self, cell, resources, index):
            outputs = []
            for out in cell.get("outputs", []):
                if out.output_type == "stream" and out.text.count("\n") > FOLD_OVER:
                    out = new_output("display_data", {"text/html": _folded_log(out.text), "text/plain": out.text})
                elif WIDGET_VIEW in out.get("data", {}):
                    note = ('<p class="charlm-widget-note">An interactive widget was here: it needs a running kernel. '
                            "Open the notebook in JupyterLab to use it.</p>")
                    out = new_output("display_data", {"text/html": note, "text/plain": "(interactive widget)"})
                outputs.append(out)
            if "outputs" in cell:
                cell.outputs = outputs
            return cell, resources

    return BookPreprocessor


def _nav(pages: list[Page], i: int) -> str:
    """Index, previous and next for page i; the first page's previous and the last page's next are the index."""
    up = "../"
    prev = pages[i - 1] if i > 0 else None
    nxt = pages[i + 1] if i + 1 < len(pages) else None

    def link(page: Page | None, rel: str, arrow: str) -> str:
        href, text = (f"{up}{page.href}", f"{page.title} ({page.profile})") if page else (f"{up}index.html", "index")
        label = f"{arrow} {html.escape(text)}" if arrow == "←" else f"{html.escape(text)} {arrow}"
        return f'<a class="charlm-{rel}" rel="{rel}" href="{html.escape(href)}">{label}</a>'

    return (f'<nav class="charlm-nav">{link(prev, "prev", "←")}<a class="charlm-index" href="{up}index.html#'
            f'{pages[i].profile}">index</a>{link(nxt, "next", "→")}</nav>')


def _check_site(site: Path) -> set[str] | None:
    """The files an earlier build left in ``site`` (its marker's list), None when there is no site yet (a missing
    or empty folder); anything else is refused: the book never removes what it did not write."""
    if site.is_symlink():
        raise CharlmError(f"--site {site} is a symbolic link; give the folder itself, or a new folder")
    if not site.exists():
        return None
    if not site.is_dir():
        raise CharlmError(f"--site {site} is a file; give a folder (new, empty, or one the book made)")
    marker = site / MARKER
    if not marker.is_file():
        if any(site.iterdir()):
            raise CharlmError(f"--site {site} holds files the book did not write (no {MARKER} in it); nothing was "
                              "changed: give --site a new or empty folder (a book built before the marker existed: "
                              "delete it yourself)")
        return None
    try:
        listed = set(json.loads(marker.read_text(encoding="utf-8"))["files"])
        if not all(isinstance(rel, str) and rel and not Path(rel).is_absolute() and ".." not in Path(rel).parts
                   for rel in listed):
            raise ValueError("it lists a path outside the folder")  # the book deletes what it lists: never that
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise CharlmError(f"{marker} is unreadable ({err}); nothing was changed: move {site} away or give "
                          "another --site") from None
    files = (str(p.relative_to(site)) for p in site.rglob("*") if p.is_symlink() or not p.is_dir())
    foreign = sorted(rel for rel in files if rel not in listed | {MARKER})
    if foreign:
        raise CharlmError(f"--site {site} holds {len(foreign)} file(s) the book did not write "
                          f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); nothing was changed: "
                          "move them out, or give another --site")
    return listed


def _remove_listed(folder: Path, listed: set[str]) -> None:
    """Delete the files a marker lists, then the folders they leave empty; whatever else is there stays."""
    for rel in listed | {MARKER}:
        (folder / rel).unlink(missing_ok=True)
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()),
                      key=lambda p: len(p.parts), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    if any(folder.iterdir()):
        print(f"book: kept {folder}: it holds files the book did not write", file=sys.stderr)
    else:
        folder.rmdir()


_FIGURE_LINK = re.compile(r'(?:href|src)="(figures/[^"/]+)"')


def _linked_figures(body: str, run: Path) -> list[str]:
    """The files under the run's ``figures/`` that a page links to (relative to the run), each once: a notebook
    shows an excerpt of a long view and links the whole view saved beside it."""
    found = dict.fromkeys(html.unescape(m) for m in _FIGURE_LINK.findall(body))
    return [rel for rel in found if (run / rel).is_file()]


def _write_site(folder: Path, outputs: Path, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every page, the index and its figure into ``folder``; the paths written, relative to it."""
    import mistune
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    notebooks = {p: read_notebook(p) for profile in runs for p in sorted((outputs / profile).glob("[0-9][0-9]_*.ipynb"))}
    pages = [Page(p.parent.name, p, _title(nb, p)) for p, nb in notebooks.items()]
    exporter = HTMLExporter(template_name="charlm_book", extra_template_basedirs=[str(TEMPLATES)])
    # A training log is one print per line, each its own output until coalesced: join them, then fold.
    exporter.register_preprocessor(CoalesceStreamsPreprocessor, enabled=True)
    exporter.register_preprocessor(_book_preprocessor(), enabled=True)
    written: list[str] = []

    def write(rel: str, text: str) -> None:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(rel)

    for i, page in enumerate(pages):
        nb = notebooks[page.notebook]
        nb.metadata.pop("widgets", None)  # their state needs the CDN's widget manager; the views are notes now
        nb.metadata["title"] = page.title
        body, _ = exporter.from_notebook_node(nb, resources={"charlm_nav": _nav(pages, i),
                                                             "metadata": {"name": page.title}})
        write(page.href, body)
        for rel in _linked_figures(body, outputs / page.profile):  # whole views a page shows an excerpt of
            (folder / page.profile / "figures").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(outputs / page.profile / rel, folder / page.profile / rel)
            written.append(f"{page.profile}/{rel}")

    parts = ["<h1>The Unreasonable Effectiveness of Recurrent Neural Networks, re-run</h1>",
             "<p>Each section of Karpathy's 2015 post as executed by <code>charlm.reproduce</code>, with its samples, "
             "figures and the post's claims measured. Rerun any of it with <code>make reproduce</code>.</p>"]
    shown = readme.figure(outputs, list(runs))
    if shown is not None:
        rel = f"figures/{shown.parent.parent.name}_{shown.name}"
        (folder / "figures").mkdir(exist_ok=True)
        shutil.copyfile(shown, folder / rel)
        written.append(rel)
        parts.append(f'<p><img class="charlm-figure" src="{rel}" alt="{html.escape(shown.stem)}"></p>')
    for profile in runs:
        items = [f'<li><a href="{html.escape(p.href)}">{html.escape(p.title)}</a></li>' for p in pages
                 if p.profile == profile]
        results = outputs / profile / "results.md"
        try:
            table = mistune.html(results.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise CharlmError(f"cannot read {results} ({err}); rerun python -m charlm.reproduce --output "
                              f"{results.parent}, or restore it from git") from None
        parts += [f'<h2 id="{profile}">Profile <code>{profile}</code></h2>', "<ul>", *items, "</ul>",
                  table.replace("<h1>Results</h1>", "", 1)]
    write("index.html", _PAGE.format(title="charlm: the post re-run", body="\n".join(parts)))
    return written


def build(outputs: Path, site: Path) -> Path:
    """Write ``site/index.html`` and one page per executed notebook; return the index.

    The new site is built in a fresh folder beside ``site`` and swapped in; an earlier site is then removed file
    by file from its marker's list. A failure leaves ``site`` as it was."""
    runs = readme.summaries(outputs)
    if not runs:
        raise CharlmError(f"no executed run in {outputs}: run make reproduce OUTPUT={outputs}/cpu first")
    site = Path(os.path.abspath(site))
    previous = _check_site(site)
    site.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{site.name}.new-", dir=site.parent))
    try:
        written = _write_site(staging, outputs, runs)
        (staging / MARKER).write_text(json.dumps({"made_by": "charlm.paper.book", "files": sorted(written)}, indent=1),
                                      encoding="utf-8")
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a site is for reading
        if previous is None:
            os.replace(staging, site)  # onto nothing, or onto an empty folder
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{site.name}.old-", dir=site.parent))
            os.replace(site, old)
            os.replace(staging, site)
            _remove_listed(old, previous)
    except BaseException:
        if staging.exists():
            shutil.rmtree(staging)  # made by this call, holding only what it wrote
        raise
    return site / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m charlm.paper.book", description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, default=repo_root() / "outputs", help="folder of profile runs")
    parser.add_argument("--site", type=Path, default=repo_root() / "book",
                        help="where the site goes: a new or empty folder, or one the book made before")
    args = parser.parse_args(argv)
    return run_command(lambda: print(f"book: {build(args.outputs, args.site)}") or 0)


if __name__ == "__main__":
    sys.exit(main())
