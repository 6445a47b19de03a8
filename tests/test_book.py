"""make book (charlm.paper.book) and the README generator (charlm.paper.readme), as a user runs them: in
subprocesses, on copies of the committed runs, with the mistakes a user makes (a --site that holds their own
files, a truncated notebook, a results.json edited by hand, a stray outputs/junk folder)."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from charlm.paper import book, readme
from charlm.paper.reproduce import repo_root

ROOT = repo_root()
KEPT = ("01_helo",)  # the smallest page: what these tests check does not need more


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its sha256: what "untouched" means."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def outputs(tmp_path) -> Path:
    """A copy of the committed cpu run with one executed notebook, its summary and the README's figure."""
    out = tmp_path / "outputs"
    run = out / "cpu"
    (run / "figures").mkdir(parents=True)
    for name in KEPT:
        shutil.copy(ROOT / "outputs" / "cpu" / f"{name}.ipynb", run)
    for name in ("results.json", "results.md"):
        shutil.copy(ROOT / "outputs" / "cpu" / name, run)
    figure = readme.figure(ROOT / "outputs")
    shutil.copy(figure, run / "figures")
    return out


def _book(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charlm.paper.book", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".new-" in p.name or ".old-" in p.name)


# --------------------------------------------------------------------------- the site folder is owned


def test_site_onto_a_user_folder_is_refused_and_untouched(outputs, tmp_path):
    user = tmp_path / "d"
    user.mkdir()
    (user / "thesis.tex").write_text("\\documentclass{article} my thesis")
    before = _tree(user)
    line = _one_error_line(_book("--outputs", str(outputs), "--site", str(user)))
    assert f"--site {user} holds files the book did not write (no .charlm-book in it)" in line
    assert _tree(user) == before and _leftovers(tmp_path) == []


def test_site_onto_the_outputs_folder_is_refused(outputs):
    before = _tree(outputs)
    for target in (outputs, outputs / "cpu", outputs.parent):
        line = _one_error_line(_book("--outputs", str(outputs), "--site", str(target)))
        assert "holds files the book did not write" in line
    assert _tree(outputs) == before


def test_a_file_or_a_link_as_site_is_refused(outputs, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert "is a file" in _one_error_line(_book("--outputs", str(outputs), "--site", str(tmp_path / "notes.txt")))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    assert "is a symbolic link" in _one_error_line(_book("--outputs", str(outputs), "--site", str(tmp_path / "link")))
    assert (tmp_path / "notes.txt").read_text() == "mine" and not any((tmp_path / "elsewhere").iterdir())


def test_rebuild_swaps_in_a_new_site_and_never_removes_a_user_file(outputs, tmp_path):
    site = tmp_path / "site"
    site.mkdir()  # an empty folder is a new site
    assert book.build(outputs, site) == site / "index.html"
    marker = json.loads((site / book.MARKER).read_text())
    assert sorted(marker["files"]) == sorted(_tree(site).keys() - {book.MARKER})
    assert {"index.html", "cpu/01_helo.html"} <= set(marker["files"])

    (site / "cpu" / "01_helo.html").write_text("stale page")  # a file the book wrote is the book's to replace
    again = _book("--outputs", str(outputs), "--site", str(site))
    assert again.returncode == 0 and again.stdout == f"book: {site / 'index.html'}\n", again.stderr
    assert "<title>1. The" in (site / "cpu" / "01_helo.html").read_text()
    assert _leftovers(tmp_path) == []  # the new site was swapped in and the old one removed file by file

    marker_text = (site / book.MARKER).read_text()
    (tmp_path / "precious.txt").write_text("outside the site")
    (site / book.MARKER).write_text(json.dumps({"files": [*marker["files"], "../precious.txt"]}))
    assert "it lists a path outside the folder" in _one_error_line(_book("--outputs", str(outputs), "--site", str(site)))
    assert (tmp_path / "precious.txt").read_text() == "outside the site"
    (site / book.MARKER).write_text(marker_text)

    (site / "cpu" / "my_notes.md").write_text("keep me")
    before = _tree(site)
    line = _one_error_line(_book("--outputs", str(outputs), "--site", str(site)))
    assert "holds 1 file(s) the book did not write (cpu/my_notes.md)" in line
    assert _tree(site) == before and _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- broken inputs are one line


def test_a_truncated_notebook_is_one_line_and_the_old_site_stays(outputs, tmp_path):
    site = tmp_path / "site"
    book.build(outputs, site)
    before = _tree(site)
    executed = outputs / "cpu" / "01_helo.ipynb"
    executed.write_bytes(executed.read_bytes()[:5000])
    line = _one_error_line(_book("--outputs", str(outputs), "--site", str(site)))
    assert f"cannot read {executed} (" in line and "restore it with git checkout" in line
    assert _tree(site) == before and _leftovers(tmp_path) == []


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["sections"][1].pop("section"), "row 2 lacks section"),
    (lambda d: d["sections"][0]["model"].pop("rnn_size"), "01_helo lacks model.rnn_size"),
    (lambda d: d.pop("sections"), 'holds no list of sections under "sections"'),
])
def test_a_results_json_edited_by_hand_is_one_line(outputs, tmp_path, edit, expected):
    summary = outputs / "cpu" / "results.json"
    data = json.loads(summary.read_text())
    edit(data)
    summary.write_text(json.dumps(data))
    assert expected in _one_error_line(_book("--outputs", str(outputs), "--site", str(tmp_path / "site")))
    assert not (tmp_path / "site").exists()


def test_the_readme_generator_says_what_is_broken_in_one_line(outputs, tmp_path):
    readme_copy = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()  # with its results block emptied, so that generating it changes it
    readme_copy.write_text(text[: text.index(readme.BEGIN)] + f"{readme.BEGIN}\n{readme.END}"
                           + text[text.index(readme.END) + len(readme.END):])
    summary = outputs / "cpu" / "results.json"
    good = summary.read_text()

    def generate() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "charlm.paper.readme", "--outputs", str(outputs),
                               "--readme", str(readme_copy)], capture_output=True, text=True, timeout=60)

    first = generate()
    assert first.returncode == 0 and first.stdout == "README.md results updated\n", first.stderr
    for broken, expected in ((good[: good.index('"section"') + 5], f"cannot read {summary} (Unterminated string"),
                             (good.replace('"device"', '"devise"'), "lacks device")):
        summary.write_text(broken)
        before = readme_copy.read_text()
        line = _one_error_line(generate())
        assert expected in line and line.endswith("or restore the file from git")
        assert readme_copy.read_text() == before


def test_a_stray_results_json_adds_no_profile(outputs, tmp_path):
    block = readme.block(outputs)
    (outputs / "junk").mkdir()
    (outputs / "junk" / "results.json").write_text('{"sections": []}')
    (outputs / "smoke").mkdir()  # a profile's name, but no section in it: no empty table either
    (outputs / "smoke" / "results.json").write_text('{"sections": [], "published": {}}')
    assert readme.block(outputs) == block
    assert list(readme.summaries(outputs)) == ["cpu"]
    index = book.build(outputs, tmp_path / "site").read_text()
    assert 'id="cpu"' in index and "junk" not in index and 'id="smoke"' not in index


def test_the_readme_judges_records_made_before_the_setup_fields_by_todays_rule(outputs):
    """Records written before data_sha256 and split, whose results.json holds that day's published
    comparisons ("comparable" for War and Peace): the block judges them again, shows every published figure with
    its unit and the gap, and tallies the claims with the ones that did not hold by name."""
    summary = outputs / "cpu" / "results.json"
    data = json.loads(summary.read_text())
    for row in data["sections"]:
        row.pop("data_sha256", None)
        row.pop("split", None)
        for published in row["published"]:
            published.update(status="comparable", reasons=[])  # what the old rule said of 08 and 09
    summary.write_text(json.dumps(data))
    rows = {r["section"]: r for r in data["sections"]}
    lines = {line.split("]")[0][3:]: line for line in readme.block(outputs).splitlines() if line.startswith("| [")}

    wp = rows["08_evolution"]["test_loss"]
    assert f"ours {wp:.3f}, theirs 1.077 nats/char: {wp - 1.077:+.3f} (the paper's best model" in lines["08_evolution"]
    # the paper's file, but neither its sha256 nor its striped split on record: read as contiguous, not comparable
    assert "| indicative: our text's sha256 not recorded; another split (ours contiguous" in lines["08_evolution"]
    wiki = rows["04_wikipedia"]["test_bits"]
    assert f"ours {wiki:.3f}, theirs 1.67 bits/char: {wiki - 1.67:+.3f}" in lines["04_wikipedia"]
    assert "| not comparable: partial data" in lines["04_wikipedia"]
    assert "| no published figure |" in lines["01_helo"]

    records = [r["record"] for r in readme.read_rows(summary)]  # claims typed, or read from older records' extra
    claims = [(rec.section, c) for rec in records for c in rec.claims]
    verdicts = [c.verdict for _, c in claims]
    block = readme.block(outputs)
    from charlm.paper.claims import VERDICTS

    tally = ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICTS)  # every outcome, none left out when zero
    assert f"The post's claims at this size: {tally} ({len(claims)} claims)." in block
    listed = [line for line in block.split("From `")[0].splitlines() if line.startswith("- ")]
    assert len(listed) == verdicts.count("not") > 0
    for line, (section, claim) in zip(listed, [(s, c) for s, c in claims if c.verdict == "not"]):
        assert line.startswith(f"- {section}, ") and claim.ours.split()[0] in line


# --------------------------------------------------------------------------- what a reader sees


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The book of the committed runs, as make book builds it."""
    return book.build(ROOT / "outputs", tmp_path_factory.mktemp("book") / "site").parent


def _pages(site: Path) -> list[Path]:
    return sorted(site.glob("*/[0-9][0-9]_*.html"))


def test_every_page_has_its_heading_as_title_and_index_previous_next(site):
    pages = _pages(site)
    executed = sorted(ROOT.glob("outputs/*/[0-9][0-9]_*.ipynb"))
    assert [p.relative_to(site).with_suffix("") for p in pages] == [p.relative_to(ROOT / "outputs").with_suffix("")
                                                                     for p in executed]
    for page, source in zip(pages, executed):
        text = page.read_text()
        heading = json.loads(source.read_text())["cells"][0]["source"][0].removeprefix("# ").strip()
        assert re.search(r"<title>(.*?)</title>", text).group(1) == html.escape(heading.replace("`", ""), quote=False)
        navs = re.findall(r'<nav class="charlm-nav[^"]*">(.*?)</nav>', text, re.S)
        assert len(navs) == 2 and navs[0] == navs[1]  # above and below the notebook
        for rel in ("prev", "next"):
            href = re.search(rf'class="charlm-{rel}"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*class="charlm-{rel}"', navs[0])
            assert href and (page.parent / (href.group(1) or href.group(2))).is_file()
        assert 'href="../index.html#' in navs[0]

    # Following "next" from the index's first link reads every page once, in order, and comes back to the index.
    index = (site / "index.html").read_text()
    seen, page = [], site / re.search(r'<li><a href="([^"]+)"', index).group(1)
    while page.name != "index.html":
        seen.append(page)
        nav = re.search(r'<nav class="charlm-nav[^"]*">(.*?)</nav>', page.read_text(), re.S).group(1)
        link = re.search(r'<a [^>]*rel="next"[^>]*>', nav).group(0)
        page = (page.parent / re.search(r'href="([^"]+)"', link).group(1)).resolve()
    assert seen == [p.resolve() for p in pages]


def test_pages_name_no_cdn_and_no_script_from_anywhere(site):
    for page in [site / "index.html", *_pages(site)]:
        text = page.read_text()
        loaded = re.findall(r'<(?:script|img|link|iframe)\b[^>]*\b(?:src|href)="([^"]+)"', text)
        assert not [u for u in loaded if re.match(r"(https?:)?//", u)], (page, loaded)
        for name in ("mathjax", "require.js", "mermaid", "unpkg", "cdnjs", "jsdelivr"):
            assert name not in text.lower(), (page.name, name)


def test_the_training_log_is_folded_to_its_last_lines(site):
    nb = json.loads((ROOT / "outputs" / "cpu" / "07_names.ipynb").read_text())
    train = next(c for c in nb["cells"] if c["cell_type"] == "code" and "sec.train(" in "".join(c["source"]))
    log = "".join("".join(o["text"]) for o in train["outputs"] if o["output_type"] == "stream").rstrip("\n").split("\n")
    assert len(log) > book.FOLD_OVER
    page = (site / "cpu" / "07_names.html").read_text()
    folded = re.search(r'<div class="charlm-log"><details><summary>(\d+) earlier lines of this log</summary>'
                       r"<pre>(.*?)</pre></details><pre>(.*?)</pre></div>", page, re.S)
    assert folded, "07's training log is not folded"
    assert int(folded.group(1)) == len(log) - book.LOG_TAIL
    assert html.unescape(folded.group(2)).split("\n") == log[:-book.LOG_TAIL]
    assert html.unescape(folded.group(3)).split("\n") == log[-book.LOG_TAIL:]


def test_the_index_shows_the_readmes_figure_and_widgets_become_a_note(site):
    figure = readme.figure(ROOT / "outputs")
    index = (site / "index.html").read_text()
    src = re.search(r'<img class="charlm-figure" src="([^"]+)"', index).group(1)
    assert (site / src).read_bytes() == figure.read_bytes()
    page = (site / "cpu" / "02_paul_graham.html").read_text()
    assert "widget-view+json" not in page and page.count('class="charlm-widget-note"') == 1
    assert os.stat(site).st_mode & 0o777 == 0o755


def test_the_static_temperature_explorer_is_on_02s_page(site):
    """The kernel-less slider 02 draws (notebook.static_temperature_explorer) reaches the book's page whole: one
    explorer, a sample per temperature, the slider's handler inline (tests/test_browser.py drives one in Chromium)."""
    from charlm.analysis import widgets
    from charlm.analysis.widgets import STATIC_TEMPERATURES

    executed = ROOT / "outputs" / "cpu" / "02_paul_graham.ipynb"
    if "static_temperature_explorer(" not in executed.read_text(encoding="utf-8"):
        pytest.skip(f"{executed.relative_to(ROOT)} predates the static explorer; once 02 is run again (make reproduce "
                    "PROFILE=cpu ONLY=02 OUTPUT=outputs/cpu) its page must show it")
    page = (site / "cpu" / "02_paul_graham.html").read_text(encoding="utf-8")
    assert page.count('class="charlm-static-explorer"') == 1
    shown = re.findall(r'<pre class="charlm-static-sample" data-temperature="([^"]+)"', page)
    assert [float(t) for t in shown] == sorted(STATIC_TEMPERATURES)
    [slider] = re.findall(r'<input [^>]*class="charlm-static-temperature"[^>]*>', page)  # attributes in any order
    assert 'type="range"' in slider and f'max="{len(STATIC_TEMPERATURES) - 1}"' in slider
    assert html.unescape(re.search(r'oninput="([^"]*)"', slider).group(1)) == widgets._ON_INPUT  # the handler, whole


def test_no_notebook_needs_mathjax():
    """The pages load no MathJax (it came from a CDN): a notebook that starts writing math must bring it back."""
    math = re.compile(r"\$\$|\$[^$\n]+\$|\\\(|\\\[")
    found = {p.name: m.group(0) for p in sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"))
             for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "markdown"
             for m in [math.search("".join(c["source"]))] if m}
    assert not found, f"math in markdown cells {found}: the book (charlm/paper/book_template) renders none"


def test_a_figure_a_page_links_to_is_copied_beside_it(outputs, tmp_path):
    """09 shows excerpts of its long views and links the whole views under figures/: the site carries them, so the
    links work there too; a figure no page links to stays out."""
    import nbformat

    run = outputs / "cpu"
    nb = nbformat.read(run / "01_helo.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell('<a href="figures/01_helo_view.html">the whole view</a>'))
    nbformat.write(nb, run / "01_helo.ipynb")
    (run / "figures" / "01_helo_view.html").write_text("<p>the whole view</p>", encoding="utf-8")
    (run / "figures" / "unlinked.html").write_text("<p>nobody links here</p>", encoding="utf-8")
    site = tmp_path / "site"
    proc = _book("--outputs", str(outputs), "--site", str(site))
    assert proc.returncode == 0, proc.stderr
    page = (site / "cpu" / "01_helo.html").read_text(encoding="utf-8")
    assert 'href="figures/01_helo_view.html"' in page
    assert (site / "cpu" / "figures" / "01_helo_view.html").read_text(encoding="utf-8") == "<p>the whole view</p>"
    assert not (site / "cpu" / "figures" / "unlinked.html").exists()
