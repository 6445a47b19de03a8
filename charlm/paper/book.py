"""The committed reference runs as a static site a reader browses: ``make book`` (``python -m charlm.paper.book``).

nbconvert renders each executed notebook in ``outputs/<profile>/`` as one page (figures embedded), and mistune,
which nbconvert already uses, renders each profile's ``results.md`` into the index with links to the pages.
"""

from __future__ import annotations

import argparse
import html
import shutil
import sys
from pathlib import Path

from charlm.errors import CharlmError, run_command
from charlm.paper.reproduce import repo_root
from charlm.paper.results import profile_runs

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
table{{border-collapse:collapse;font-size:.85rem}}td,th{{border:1px solid #ccc;padding:.25rem .4rem;vertical-align:top}}
pre{{background:#f6f6f6;padding:.5rem;overflow-x:auto}}</style></head><body>
{body}
</body></html>
"""


def build(outputs: Path, site: Path) -> Path:
    """Write ``site/index.html`` and one page per executed notebook; return the index."""
    import mistune
    from nbconvert import HTMLExporter

    found = profile_runs(outputs)
    if not found:
        raise CharlmError(f"no executed run in {outputs}: run make reproduce OUTPUT={outputs}/cpu first")
    if site.exists():
        shutil.rmtree(site)  # the site is built output, wholly ours: a rebuild starts clean
    exporter = HTMLExporter(template_name="lab")
    parts = ["<h1>The Unreasonable Effectiveness of Recurrent Neural Networks, re-run</h1>",
             "<p>Each section of Karpathy's 2015 post as executed by <code>charlm.reproduce</code>, with its samples, "
             "figures and the post's claims measured. Rerun any of it with <code>make reproduce</code>.</p>"]
    for run in found:
        pages = []
        for notebook in sorted(run.glob("[0-9][0-9]_*.ipynb")):
            body, _ = exporter.from_filename(str(notebook))
            page = site / run.name / f"{notebook.stem}.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(body, encoding="utf-8")
            pages.append(f'<li><a href="{run.name}/{page.name}">{html.escape(notebook.stem)}</a></li>')
        results = mistune.html((run / "results.md").read_text(encoding="utf-8"))
        parts += [f'<h2 id="{run.name}">Profile <code>{run.name}</code></h2>', "<ul>", *pages, "</ul>",
                  results.replace("<h1>Results</h1>", "", 1)]
    index = site / "index.html"
    index.write_text(_PAGE.format(title="charlm: the post re-run", body="\n".join(parts)), encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m charlm.paper.book", description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, default=repo_root() / "outputs", help="folder of profile runs")
    parser.add_argument("--site", type=Path, default=repo_root() / "book", help="where the site goes")
    args = parser.parse_args(argv)
    return run_command(lambda: print(f"book: {build(args.outputs, args.site)}") or 0)


if __name__ == "__main__":
    sys.exit(main())
