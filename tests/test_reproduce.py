import json
import sys
import types

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from charlm.paper import reproduce

PARAMS = 'profile = "cpu"\noutput_dir = "outputs"\nsteps = 1\n'

RECORD = """\
from charlm.paper import results
results.record(results.Record(
    section="01_good", dataset="names", model={"model": "lstm", "num_layers": 1, "rnn_size": 8, "n_params": 123},
    params={"steps": steps, "profile": profile}, train_seconds=0.5, device="cpu",
    val_loss=2.0, test_loss=None, samples=["Rudi\\nLevette | `x`"], extra={"novel_rate": 0.5}), output_dir)
"""


def _notebook(path, cells, **charlm_meta):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if charlm_meta:
        nb.metadata["charlm"] = charlm_meta
    nbformat.write(nb, path)


def _params_cell():
    return new_code_cell(PARAMS, metadata={"tags": ["parameters"]})


@pytest.fixture
def notebooks(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "01_good.ipynb", [new_markdown_cell("# Good section\nsome text"), _params_cell(),
                                    new_code_cell(RECORD)], datasets=["names"])
    _notebook(d / "02_bad.ipynb", [_params_cell(), new_code_cell("x = 1"),
                                   new_code_cell("# the model diverges\nraise ValueError('boom\\nloss is nan')")],
              description="A notebook that fails")
    (d / "README.md").write_text("not a notebook")
    (d / "scratch.ipynb").write_text("{}")  # no NN_ prefix: not a section
    return d


@pytest.fixture
def fake_datasets(monkeypatch):
    calls = []
    fake = types.ModuleType("charlm.datasets")

    def path(name, *, root=None, mirror=None, progress=True):
        calls.append((name, mirror))
        return mirror

    fake.path = path
    fake.NAMES = ("names",)
    monkeypatch.setitem(sys.modules, "charlm.datasets", fake)
    return calls


def test_list_and_discovery(notebooks, capsys):
    assert reproduce.main(["--notebooks", str(notebooks), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["01_good  [names]  Good section", "02_bad   [-]  A notebook that fails"]


def test_only_selects_by_number_or_name(notebooks):
    nbs = reproduce.discover(notebooks)
    assert [nb.name for nb in reproduce.select(nbs, ["02"])] == ["02_bad"]
    assert [nb.name for nb in reproduce.select(nbs, ["1"])] == ["01_good"]
    assert [nb.name for nb in reproduce.select(nbs, ["bad", "01_good.ipynb"])] == ["01_good", "02_bad"]
    assert len(reproduce.select(nbs, None)) == 2


def test_only_unknown_lists_available(notebooks, capsys):
    assert reproduce.main(["--notebooks", str(notebooks), "--only", "07", "--list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown notebook(s) 07" in err and "01_good, 02_bad" in err


def test_parameters():
    assert reproduce.parse_value("3") == 3
    assert reproduce.parse_value("true") is True
    assert reproduce.parse_value("[1, 2]") == [1, 2]
    assert reproduce.parse_value("runs/x") == "runs/x"
    args = reproduce.build_parser().parse_args(["-p", "steps", "7", "-p", "checkpoint", "null"])
    root = reproduce.repo_root()
    params = reproduce._parameters(args, "smoke", root / "outputs" / "cpu", root / "notebooks")
    assert params["steps"] == 7 and params["checkpoint"] is None and params["profile"] == "smoke"
    assert params["output_dir"] == "../outputs/cpu"  # as the kernel sees it from notebooks/: no absolute path
    args = reproduce.build_parser().parse_args(["-p", "profile", "paper"])
    with pytest.raises(reproduce.CharlmError, match="--profile"):
        reproduce._parameters(args, "cpu", reproduce.repo_root(), reproduce.repo_root())


def test_data_preparation_failure_is_reported(notebooks, tmp_path, monkeypatch, capsys):
    fake = types.ModuleType("charlm.datasets")

    def path(name, **kwargs):
        raise reproduce.CharlmError(f"no MANIFEST.tsv in mirror; point --mirror at the folder that has it ({name})")

    fake.path = path
    monkeypatch.setitem(sys.modules, "charlm.datasets", fake)
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: pytest.fail("must not run without its data"))
    out = tmp_path / "out"
    assert reproduce.main(["--notebooks", str(notebooks), "--output", str(out), "--profile", "smoke",
                           "--only", "01"]) == 1
    err = capsys.readouterr().err
    assert "FAILED 01_good: preparing its data: no MANIFEST.tsv" in err
    assert (out / "results.md").exists()


@pytest.mark.notebooks
def test_run_executes_good_and_reports_bad(notebooks, tmp_path, fake_datasets, capsys):
    out = tmp_path / "out"
    mirror = tmp_path / "mirror"
    # A stale record of the failing notebook must not survive into the summary.
    (out / "results").mkdir(parents=True)
    (out / "results" / "02_bad.json").write_text("{}")
    code = reproduce.main(["--notebooks", str(notebooks), "--output", str(out), "--profile", "smoke",
                           "--mirror", str(mirror), "-p", "steps", "7"])
    captured = capsys.readouterr()
    assert code == 1

    # The good notebook ran with the injected parameters and recorded its result.
    assert fake_datasets == [("names", mirror)]
    assert (out / "01_good.ipynb").exists()
    record = json.loads((out / "results" / "01_good.json").read_text())
    assert record["params"] == {"steps": 7, "profile": "smoke"}
    md = (out / "results.md").read_text()
    assert "| 01_good | names | LSTM 1×8, 123 params |" in md
    assert not (out / "results" / "02_bad.json").exists()
    assert "[1/2] 01_good ok" in captured.out and "[2/2] 02_bad FAILED" in captured.out
    assert f"results: {out / 'results.md'}" in captured.out

    # The failure names the notebook, the cell (as in the source notebook), its first line and the error.
    err = captured.err
    assert "FAILED 02_bad: cell In [4] of 02_bad.ipynb, which starts: # the model diverges" in err
    assert "error: ValueError: loss is nan" in err
    assert f"partially executed notebook: {out / '02_bad.ipynb'}" in err
    assert "--only 02 --profile smoke" in err
    executed = nbformat.read(out / "02_bad.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_unknown_parameter_is_refused_before_anything_runs(notebooks, tmp_path, fake_datasets, capsys):
    out = tmp_path / "out"
    assert reproduce.main(["--notebooks", str(notebooks), "--output", str(out), "--only", "01", "-p", "stesp", "7"]) == 2
    err = capsys.readouterr().err
    assert err == "error: -p stesp: no selected notebook has such a parameter; valid: steps\n"
    assert fake_datasets == [] and not (out / "01_good.ipynb").exists()


def test_shipped_notebooks_share_their_parameters():
    shipped = reproduce.discover(reproduce.repo_root() / "notebooks")
    shares = reproduce.notebook_parameters(shipped, {"profile": "smoke", "output_dir": "out", "seed": 1})
    assert all(share == {"profile": "smoke", "output_dir": "out", "seed": 1} for share in shares.values())


def test_kernel_resolves_to_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    name = reproduce.ensure_kernel()
    assert reproduce._runs_this_python(KernelSpecManager().get_kernel_spec(name).argv)
    assert reproduce._runs_this_python(["python", "-m", "ipykernel_launcher"])
    assert not reproduce._runs_this_python(["/somewhere/else/bin/python", "-m", "ipykernel_launcher"])
