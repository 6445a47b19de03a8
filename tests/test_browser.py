"""The temperature widget as a reader uses it: a real JupyterLab server, a real notebook, headless Chromium.

The test writes a small notebook (a tiny untrained model saved as a charlm checkpoint, then
``temperature_explorer``), starts ``jupyter lab`` on 127.0.0.1 with a random token, opens the notebook in
Debian's chromium through Playwright, runs all cells from the Run menu, waits for the sample, moves the
temperature slider with the keyboard and checks that a new sample appears. A screenshot of the final page is
left in the test's tmp folder (and copied to $CHARLM_BROWSER_SCREENSHOT when that is set).

Needs /usr/bin/chromium (``.ci/install-browser`` installs it); skipped without it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium; "
                                                      "install it with .ci/install-browser"),
]

pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install -e '.[dev]')")

NOTEBOOK_CELLS = [
    ("markdown", "# Temperature explorer (browser test)"),
    ("code", "import torch\n"
             "torch.set_num_threads(1)  # one character at a time through a tiny LSTM\n"
             "from charlm.checkpoint import load_checkpoint\n"
             "from charlm.analysis.widgets import temperature_explorer\n"
             "ckpt = load_checkpoint('tiny_model', device='cpu')"),
    ("code", "explorer = temperature_explorer(ckpt.model, ckpt.vocab, length=200, temperature=1.0, seed=7)\n"
             "explorer"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_model(folder: Path) -> None:
    import torch

    from charlm.checkpoint import save_checkpoint
    from charlm.config import RunInfo
    from charlm.model import CharRNN, ModelConfig
    from charlm.vocab import Vocab

    vocab = Vocab.from_text("abcdefghijklmnopqrstuvwxyz .,;:!?\n\"'<>&")
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=32, num_layers=1))
    with torch.no_grad():  # untrained, but peaked: changing the temperature visibly changes the text
        model.head.weight.mul_(8.0)
        model.head.bias.normal_(0.0, 2.0)
    save_checkpoint(folder / "tiny_model", model, RunInfo(model.config, vocab))  # untrained: no training record


def _write_notebook(path: Path, kernel_name: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                for kind, src in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": "Python 3 (charlm)", "language": "python"}
    nbformat.write(nb, str(path))


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"jupyter lab not ready after {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def jupyter_lab(tmp_path):
    """(base url, token, root folder) of a JupyterLab serving a fresh folder; stopped afterwards."""
    from charlm.paper.reproduce import ensure_kernel

    root = tmp_path / "lab"
    root.mkdir()
    _write_model(root)
    _write_notebook(root / "explorer.ipynb", ensure_kernel())
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "IPYTHONDIR": str(tmp_path / "ipython"), "OMP_NUM_THREADS": "1"}
    jupyter = Path(sys.executable).with_name("jupyter")
    log = tmp_path / "jupyter.log"
    cmd = [str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
           "--ServerApp.terminals_enabled=False", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
           "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(f"{base}/api/status?token={token}", proc, log)
        yield base, token, root
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: anything it left behind, and nothing else
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(timeout=10)


def _sample_text(page) -> str:
    return page.locator(".charlm-sample pre").inner_text()


def test_slider_resamples_in_jupyterlab(jupyter_lab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    base, token, root = jupyter_lab
    screenshot = tmp_path / "jupyterlab-temperature.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            try:
                page.goto(f"{base}/lab/tree/explorer.ipynb?reset&token={token}", wait_until="domcontentloaded")
                # The notebook is open and its kernel is connected and idle (the status bar says so):
                # running cells before that can leave them unexecuted.
                page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for()
                expect(page.locator(".jp-StatusBar-TextItem[title^='Change kernel']")
                       ).to_have_text(re.compile(r"\| Idle$"), timeout=60_000)
                page.locator(".jp-Notebook .jp-Cell").first.click()

                # Run -> Run All Cells, as a reader would.
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                expect(page.locator(".jp-CodeCell .jp-InputPrompt").first).to_have_text(
                    re.compile(r"\[(\*|1)\]"), timeout=30_000)

                status = page.locator(".charlm-status")
                expect(status).to_have_text("200 characters at temperature 1.00, seed 7", timeout=90_000)
                first = _sample_text(page)
                assert len(first) == 200, first

                # Keyboard on the focused slider handle: each arrow is one step of 0.05.
                handle = page.locator(".charlm-temperature .noUi-handle")
                handle.focus()
                for _ in range(6):
                    handle.press("ArrowRight")
                expect(page.locator(".charlm-temperature .widget-readout")).to_have_text("1.30")
                expect(status).to_have_text("200 characters at temperature 1.30, seed 7", timeout=60_000)
                second = _sample_text(page)
                assert len(second) == 200 and second != first

                # The Resample button draws with a new seed.
                page.locator(".charlm-resample").click()
                expect(status).to_have_text("200 characters at temperature 1.30, seed 8", timeout=60_000)
                third = _sample_text(page)
                assert len(third) == 200 and third != second
            finally:
                page.screenshot(path=str(screenshot), full_page=True)
                if os.environ.get("CHARLM_BROWSER_SCREENSHOT"):
                    shutil.copy(screenshot, os.environ["CHARLM_BROWSER_SCREENSHOT"])
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    assert json.loads((root / "explorer.ipynb").read_text())["cells"]  # the notebook we served is intact


def test_the_book_opens_in_chromium(tmp_path):
    """make book's site as a reader opens it with the network off: the index, every section page it links, every
    image on them, no request that leaves the folder, and the navigation's next link."""
    from playwright.sync_api import sync_playwright

    from charlm.paper.book import build

    index = build(ROOT / "outputs", tmp_path / "book")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.route(re.compile(r"^https?://"), lambda route: route.abort())  # offline, as a reader on a train
        page.goto(index.as_uri())
        assert "re-run" in page.title()
        links = page.eval_on_selector_all("a[href$='.html']", "els => els.map(e => e.getAttribute('href'))")
        sections = sorted({href for href in links if re.fullmatch(r"\w+/\d\d_\w+\.html", href)})
        executed = sorted(f"{p.parent.name}/{p.stem}.html" for p in ROOT.glob("outputs/*/[0-9][0-9]_*.ipynb"))
        assert sections == executed and len(sections) >= 10  # every executed notebook is linked from the index
        shown = 0
        for href in sections:
            response = page.goto((index.parent / href).as_uri())
            assert response is not None and response.ok, href
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
            assert all(done and width > 0 for done, width in images), f"{href}: images {images}"
            shown += len(images)
            assert page.title() and not page.title().endswith(".ipynb")
        assert shown >= 2 * len(sections)  # the loss curves and section figures are there, not only loadable
        left = sorted({url for url in requests if not url.startswith(("file://", "data:"))})
        assert not left, f"requests that leave the book's folder: {left[:5]}"

        # A reader clicks "next" on the first section and lands on the second; "index" takes them back.
        page.goto((index.parent / executed[0]).as_uri())
        page.locator("nav.charlm-top a[rel=next]").click()
        page.wait_for_load_state("load")
        assert page.url == (index.parent / executed[1]).as_uri()
        page.locator("nav.charlm-bottom a.charlm-index").click()
        page.wait_for_load_state("load")
        assert page.url.split("#")[0] == index.as_uri()
        browser.close()


def test_static_temperature_explorer_swaps_samples_in_chromium(tmp_path):
    """The kernel-less explorer as a reader of the book uses it: the slider, moved with the keyboard and set by
    dragging, shows the sample drawn at that temperature (same seed) and hides the others."""
    import torch
    from playwright.sync_api import sync_playwright

    from charlm.analysis.widgets import STATIC_TEMPERATURES, static_temperature_explorer
    from charlm.checkpoint import load_checkpoint
    from charlm.sampler import sample

    _write_model(tmp_path)
    torch.set_num_threads(1)
    ckpt = load_checkpoint(tmp_path / "tiny_model", device="cpu")
    shown = static_temperature_explorer(ckpt.model, ckpt.vocab, length=120, prime="the ", seed=11)
    expected = {t: sample(ckpt.model, ckpt.vocab, 120, temperature=t, prime="the ", seed=11)[0]
                for t in STATIC_TEMPERATURES}
    assert len(set(expected.values())) == len(expected)  # every position of the slider shows another text
    page_file = tmp_path / "explorer.html"
    page_file.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{shown.data}</body></html>",
                         encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri())
            slider = page.locator("input.charlm-static-temperature")
            readout = page.locator("output.charlm-static-readout")
            visible = page.locator("pre.charlm-static-sample:visible")

            def showing() -> tuple[str, str]:
                assert visible.count() == 1
                return readout.inner_text(), visible.first.inner_text()

            start = STATIC_TEMPERATURES.index(1.0)
            assert showing() == ("1", expected[1.0])
            slider.focus()
            for step in range(1, 4):  # right arrow: the next temperature up
                slider.press("ArrowRight")
                t = STATIC_TEMPERATURES[start + step]
                assert showing() == (f"{t:g}", expected[t])
            slider.press("Home")  # the coldest sample: nearly greedy
            assert showing() == (f"{STATIC_TEMPERATURES[0]:g}", expected[STATIC_TEMPERATURES[0]])

            # A click near the right end of the slider picks the hottest.
            box = slider.bounding_box()
            page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
            assert showing() == (f"{STATIC_TEMPERATURES[-1]:g}", expected[STATIC_TEMPERATURES[-1]])
            assert requests == [page_file.as_uri()]  # the page alone: no script, no style sheet, no font fetched
        finally:
            browser.close()
