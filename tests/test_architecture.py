"""The folder layout is the architecture: the layers contract in pyproject.toml holds, no import circles, and
each layer holds what belongs to it.

Layers, top to bottom: entry points (cli, __main__, reproduce) > charlm.paper > charlm.analysis >
charlm.datasets > the engine (charlm's top-level modules). Each imports only the layers below it. Cohesion,
which imports cannot show: nothing under charlm/analysis/ names the post, the paper, a section or where runs
are written (that is charlm/paper/'s knowledge), and each section module (charlm/paper/sections/<chapter>.py)
is imported by its notebook and by tests only, and its notebook imports nothing else of charlm but the
notebook helpers.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "charlm"
SECTIONS = PACKAGE / "paper" / "sections"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _lint_imports() -> Path:
    found = Path(sys.executable).with_name("lint-imports")
    if found.exists():
        return found
    which = shutil.which("lint-imports")
    if which is None:
        pytest.fail("lint-imports (import-linter) is not installed: pip install -e '.[dev]'")
    return Path(which)


def test_layers_contract_is_kept():
    proc = subprocess.run([str(_lint_imports()), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components of ``graph`` that hold more than one module: each is an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_strongly_connected_finds_a_circle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    graph = grimp.build_graph("charlm", cache_dir=None)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    circles = strongly_connected(imports)
    assert not circles, f"import circles: {[sorted(c) for c in circles]}"


# --------------------------------------------------------------------------- what analysis/ may not know


def _knowledge_of_the_paper() -> dict[str, re.Pattern[str]]:
    """What names the post, the paper, a section or the run-folder layout, each as a pattern with its reason."""
    sections = "|".join(re.escape(p.stem) for p in NOTEBOOKS)
    return {
        "the post's or the paper's author or address": re.compile(r"karpathy|rnn-effectiveness|1506\.02078|fei-fei",
                                                                  re.I),
        "the post or the paper, by name": re.compile(r"\bthe (?:post|paper)\b|\b(?:post|paper)'s\b", re.I),
        "the paper's figures and tables": re.compile(r"\b(?:Figure \d|Table \d)\b"),
        "a section, by its notebook's name": re.compile(rf"\b(?:{sections})\b"),
        "a section, by its number": re.compile(r"\bnotebooks? \d\d\b|\bsections? \d\d\b", re.I),
        "where runs and results are written": re.compile(r"""\b(?:outputs|runs)/|["'](?:runs|outputs)["']"""),
    }


def knowledge_in(folder: Path) -> list[str]:
    """``file:line: why: text`` for every line of a .py file under ``folder`` that names the post, the paper, a
    section or the run layout (code, comments and docstrings alike: a docstring that needs them is in the wrong
    layer too)."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for why, pattern in _knowledge_of_the_paper().items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(folder)}:{number}: {why}: {line.strip()}")
    return found


def test_analysis_names_no_section_and_not_the_post():
    found = knowledge_in(PACKAGE / "analysis")
    assert not found, ("charlm/analysis/ is for any text or model; move what knows the post into its section "
                       "module (charlm/paper/sections/):\n" + "\n".join(found))


PLANTED = {
    "the post's address": 'POST = "https://karpathy.github.io/2015/05/21/rnn-effectiveness/"',
    "the paper's address": 'PAPER = "https://arxiv.org/abs/1506.02078"',
    "a docstring quoting the post": '"""As the post says, about 5% of cells are interpretable."""',
    "a comment citing the paper": "LEFT, RIGHT = 0.1, 0.9  # The paper's thresholds",
    "the paper's figure": '"""The layout of Figure 3: one point per gate unit."""',
    "a section's name": 'SEARCHES = {"04_wikipedia": ("in_url", "in_wiki_link")}',
    "a section's number": '"""Run notebooks 04 and 06 first."""',
    "the run layout, rebuilt": 'base = Path(output_dir) / "runs" / section',
    "the outputs folder": 'RESULTS = "outputs/cpu/results"',
}
INNOCENT = ["n_runs = 3", "outputs = model(ids)", "the poster child of closures", "a paper-thin margin",
            "posterior = prior * likelihood", "first_runs, reruns/2"]


def test_the_cohesion_check_finds_each_planted_regression_and_nothing_innocent(tmp_path):
    module = tmp_path / "analysis" / "planted.py"
    module.parent.mkdir()
    module.write_text("\n".join([*INNOCENT, *PLANTED.values()]) + "\n", encoding="utf-8")
    found = knowledge_in(module.parent)
    flagged = {int(f.split(":")[1]) for f in found}
    first = len(INNOCENT) + 1
    assert flagged == set(range(first, first + len(PLANTED))), "\n".join(found)


# --------------------------------------------------------------------------- one module per notebook


def _section_module_of(notebook: Path) -> str:
    return "charlm.paper.sections." + notebook.stem.split("_", 1)[1]


def _charlm_imports(source: str) -> set[str]:
    """The charlm modules a piece of Python imports (``from charlm.paper import notebook`` names
    charlm.paper.notebook; IPython's % lines are dropped first)."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "charlm"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "charlm":
            found |= {f"{node.module}.{a.name}" if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")
                                                     ).with_suffix(".py").is_file() else node.module
                      for a in node.names}
    return found


def _notebook_imports(notebook: Path) -> set[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return set().union(*(_charlm_imports("".join(c["source"])) for c in cells if c["cell_type"] == "code"))


def test_charlm_imports_are_read_as_modules():
    assert _charlm_imports("%matplotlib inline\nfrom charlm.paper import notebook as nb\n"
                           "from charlm.paper.sections import names as baby_names\nimport charlm.run\n"
                           "from charlm.analysis.viz import trace") == {
        "charlm.paper.notebook", "charlm.paper.sections.names", "charlm.run", "charlm.analysis.viz"}


def test_one_section_module_per_notebook_and_nothing_else():
    modules = {f"charlm.paper.sections.{p.stem}" for p in SECTIONS.glob("*.py") if p.stem != "__init__"}
    assert modules == {_section_module_of(nb) for nb in NOTEBOOKS}
    for notebook in NOTEBOOKS:
        assert _notebook_imports(notebook) == {"charlm.paper.notebook", _section_module_of(notebook)}, notebook.name


def test_a_section_module_is_imported_by_its_notebook_and_tests_only():
    graph = grimp.build_graph("charlm", cache_dir=None)
    for module in sorted(m for m in graph.modules if m.startswith("charlm.paper.sections.")):
        assert not graph.find_modules_that_directly_import(module), f"{module} is imported inside charlm"
    skipped = {".venv", "tests", "outputs", ".git"}
    scripts = [p for p in ROOT.rglob("*.py") if not skipped & set(p.relative_to(ROOT).parts) and SECTIONS not in p.parents]
    importers = {str(p.relative_to(ROOT)) for p in scripts
                 if any(m.startswith("charlm.paper.sections") for m in _charlm_imports(p.read_text(encoding="utf-8")))}
    assert not importers, f"section modules imported outside their notebooks and tests: {sorted(importers)}"
    others = {nb.name: sorted(m for m in _notebook_imports(nb) if m.startswith("charlm.paper.sections.")
                              and m != _section_module_of(nb)) for nb in NOTEBOOKS}
    assert not any(others.values()), f"notebooks importing another section's module: {others}"
