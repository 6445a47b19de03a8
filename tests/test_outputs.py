"""The committed reference runs (outputs/cpu, outputs/paper): they show the code as it is and name no machine."""

import json
import re
import shutil
from pathlib import Path

import pytest

from charlm.paper.reproduce import repo_root, stale_cells

ROOT = repo_root()
EXECUTED = sorted(p for p in ROOT.glob("outputs/*/[0-9][0-9]_*.ipynb"))
# Absolute paths of this machine or any other: a home, a temp or a work folder, or this checkout wherever it is.
ABSOLUTE = re.compile(r"(/home/|/Users/|/tmp/|/work/|/root/|[A-Z]:\\\\)|" + re.escape(str(ROOT)))


def stale_message(executed: Path) -> str:
    source = ROOT / "notebooks" / executed.name
    if not source.is_file():
        return f"{executed.relative_to(ROOT)} has no source notebook in notebooks/: delete it"
    cells = stale_cells(executed, source)
    if not cells:
        return ""
    profile = executed.parent.name
    return (f"{executed.relative_to(ROOT)} is stale: code cell(s) {cells} differ from notebooks/{executed.name}; "
            f"rerun it: make reproduce PROFILE={profile} ONLY={executed.name[:2]} OUTPUT=outputs/{profile}")


def test_there_is_a_committed_reference_run():
    """Every section of notebooks/ has its executed notebook in outputs/cpu (a new section fails here until the
    reference run is made again)."""
    sections = sorted(p.name for p in ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"))
    executed = sorted(p.name for p in EXECUTED if p.parent.name == "cpu")
    assert executed == sections, (f"outputs/cpu lacks {sorted(set(sections) - set(executed))}: rerun them with make "
                                  "reproduce PROFILE=cpu OUTPUT=outputs/cpu ONLY=...")


@pytest.mark.parametrize("executed", EXECUTED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_notebooks_show_the_code_as_it_is(executed):
    assert not stale_message(executed)


def test_a_changed_source_notebook_makes_its_output_stale(tmp_path):
    executed = next(p for p in EXECUTED if p.parent.name == "cpu")
    copy = tmp_path / executed.name
    shutil.copy(ROOT / "notebooks" / executed.name, copy)
    assert stale_cells(executed, copy) == []
    nb = json.loads(copy.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[-1]["source"] = "".join(code[-1]["source"]) + "\nprint('changed')"
    nb["cells"].append({"cell_type": "code", "metadata": {}, "source": "1 + 1", "outputs": [], "execution_count": None})
    copy.write_text(json.dumps(nb))
    assert stale_cells(executed, copy) == [len(code), len(code) + 1]


def test_committed_outputs_name_no_absolute_path():
    files = [p for p in ROOT.glob("outputs/*/**/*") if p.is_file() and "runs" not in p.parts]
    assert files
    found = {str(p.relative_to(ROOT)): m.group(0) for p in files if p.suffix in (".ipynb", ".json", ".md", ".html")
             for m in [ABSOLUTE.search(p.read_text(encoding="utf-8"))] if m}
    assert not found, f"absolute paths in committed outputs: {found}"


def test_the_readme_results_are_generated_from_the_committed_runs():
    from charlm.paper import readme

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = text[text.index(readme.BEGIN):text.index(readme.END) + len(readme.END)]
    assert shown == readme.block(ROOT / "outputs"), "README.md's results differ: run python -m charlm.paper.readme"
