import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from charlm.paper import reproduce, results

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
    assert (f"rerun only this one: python -m charlm.reproduce --only 02 --profile smoke --output {out} --notebooks "
            f"{notebooks} --mirror {mirror} -p steps 7\n") in err
    executed = nbformat.read(out / "02_bad.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)

    # The summary says 02 failed; it stays so through runs of other notebooks, until 02 has a record again.
    failed = "02_bad: failed (cell In [4] of 02_bad.ipynb): ValueError: loss is nan"
    assert failed in md
    assert reproduce.main(["--notebooks", str(notebooks), "--output", str(out), "--profile", "smoke",
                           "--mirror", str(mirror), "--only", "01"]) == 0
    assert failed in (out / "results.md").read_text()
    assert list(json.loads((out / "results.json").read_text())["not_done"]) == ["02_bad"]
    shutil.copy(out / "results" / "01_good.json", out / "results" / "02_bad.json")  # as if 02 were run by hand
    assert reproduce.main(["--notebooks", str(notebooks), "--output", str(out), "--profile", "smoke",
                           "--mirror", str(mirror), "--only", "01"]) == 0
    assert json.loads((out / "results.json").read_text())["not_done"] == {}
    assert (out / "results" / "02_bad.json").is_file()  # a record this run did not write is never removed


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


# --------------------------------------------------------------------------- -p values, the rerun hint


@pytest.mark.parametrize("key, value, expected", [
    ("seed", "-1", r"seed .*is -1; it must be between 0 and"),
    ("seed", '"x"', r"seed .*must be a whole number, not 'x'"),
    ("overrides", '{"rnn_sise": 3}', r"unknown override\(s\) 'rnn_sise'; valid: "),
    ("overrides", '{"max_seconds": 0}', r"max_seconds .*is 0; it must be above 0"),
    ("overrides", '{"dropout": 1.5}', r"dropout 1.5 must be in \[0, 1\)"),
    ("overrides", '{"threads": 0}', r"threads .*is 0; it must be at least 1"),
    ("overrides", '{"max_chars": 0}', r"max_chars .*is 0; it must be at least 1"),
    ("overrides", "[1, 2]", r"-p overrides \[1, 2\]: give a JSON object"),
    ("checkpoint", "no/such/run", r"-p checkpoint no/such/run: no such run directory"),
])
def test_bad_p_values_are_refused_before_a_kernel_starts(tmp_path, monkeypatch, capsys, key, value, expected):
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: pytest.fail("a kernel must not start"))
    monkeypatch.setattr(reproduce, "ensure_kernel", lambda: pytest.fail("a kernel must not start"))
    out = tmp_path / "out"
    code = reproduce.main(["--only", "07", "--profile", "smoke", "--output", str(out), "-p", key, value])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert re.search(expected, err), err
    assert not out.exists()  # no partial notebook, no results folder


def test_the_rerun_hint_repeats_every_option_given(tmp_path):
    args = reproduce.build_parser().parse_args(
        ["--only", "2", "--output", "runs/my out", "--notebooks", "nb", "--mirror", "../m", "--checkpoint-dir", "ck",
         "-p", "seed", "7", "-p", "overrides", '{"max_seconds": 60}', "--keep-going", "--jobs", "2"])
    nb = reproduce.Notebook(tmp_path / "02_x.ipynb", [], "")
    assert reproduce._rerun(nb, reproduce.rerun_arguments(args, "smoke")) == (
        "python -m charlm.reproduce --only 02 --profile smoke --output 'runs/my out' --notebooks nb --mirror ../m "
        "--checkpoint-dir ck -p seed 7 -p overrides '{\"max_seconds\": 60}'")


def test_dependencies_are_declared_ordered_and_checked(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    _notebook(d / "01_a.ipynb", [_params_cell()])
    _notebook(d / "02_b.ipynb", [_params_cell()], after=["03"])
    _notebook(d / "03_c.ipynb", [_params_cell()])
    found = reproduce.discover(d)
    assert [nb.name for nb in reproduce.run_order(found)] == ["01_a", "03_c", "02_b"]
    assert [nb.name for nb in reproduce.run_order(reproduce.select(found, ["02", "01"]))] == ["01_a", "02_b"]
    _notebook(d / "03_c.ipynb", [_params_cell()], after=["02"])
    with pytest.raises(reproduce.CharlmError, match=r"notebooks 02_b, 03_c wait for each other"):
        reproduce.discover(d)
    _notebook(d / "03_c.ipynb", [_params_cell()], after=["9"])
    with pytest.raises(reproduce.CharlmError, match=r"03_c.ipynb: metadata charlm.after names 9, which no notebook"):
        reproduce.discover(d)
    _notebook(d / "03_c.ipynb", [_params_cell()], after="02")
    with pytest.raises(reproduce.CharlmError, match=r"charlm.after must be a list of notebook numbers"):
        reproduce.discover(d)


def test_the_shipped_neuron_notebook_waits_for_the_runs_it_traces():
    shipped = {nb.number: nb for nb in reproduce.discover(reproduce.repo_root() / "notebooks")}
    assert shipped["09"].after == ["04", "06", "08"]


# --------------------------------------------------------------------------- stop signals (real kernels)

TRAIN = """\
import os, pathlib
from charlm.run import train
from charlm.trainer import TrainConfig
pathlib.Path(output_dir, "{name}.pid").write_text(str(os.getpid()))
text = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\\n" * 300
run = train(text, pathlib.Path(output_dir) / "runs" / "{name}", {{"model": "lstm", "rnn_size": 32, "num_layers": 1}},
            TrainConfig(batch_size=8, seq_length=16, max_seconds=120, eval_interval=10**9, log_interval=1),
            progress="none")
print("stopped:", run.state.stop_reason)
"""
AFTER = 'import pathlib\npathlib.Path(output_dir, "{name}.after").write_text("ran")\n'


def _training_notebooks(folder, names):
    folder.mkdir()
    for name in names:
        _notebook(folder / f"{name}.ipynb", [_params_cell(), new_code_cell(TRAIN.format(name=name)),
                                             new_code_cell(AFTER.format(name=name))])


def _start(args, env=None):
    """The runner as a terminal starts it: its own process group, which Ctrl-C reaches (its kernels have theirs)."""
    return subprocess.Popen([sys.executable, "-m", "charlm.reproduce", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env,
                            cwd=reproduce.repo_root())


def _wait_for(paths, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not all(p.is_file() and p.stat().st_size > 0 for p in paths):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"not there after {timeout} s: {paths}"
        time.sleep(0.2)


def _gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _own_lines(stderr):
    """stderr without what the kernels log themselves (ipykernel's start-up warning)."""
    return [line for line in stderr.splitlines() if not line.startswith("[IPKernelApp]")]


@pytest.mark.notebooks
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_reaches_the_kernel_which_saves_and_the_summary_says_so(tmp_path, signum):
    notebooks_dir, out = tmp_path / "nbs", tmp_path / "out"
    _training_notebooks(notebooks_dir, ["01_train", "02_next"])
    # The previous run's numbers for 01_train: they must not survive its interruption.
    results.record(results.Record(section="01_train", dataset="x", model={}, params={}, train_seconds=1.0,
                                  device="cpu", val_loss=0.123456, test_loss=None, samples=[]), out)
    results.write_summary(out)
    assert "0.123" in (out / "results.md").read_text()

    proc = _start(["--notebooks", str(notebooks_dir), "--output", str(out), "--profile", "smoke"])
    run_dir = out / "runs" / "01_train"
    _wait_for([out / "01_train.pid", run_dir / "metrics.jsonl"], proc)
    kernel = int((out / "01_train.pid").read_text())
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C in a terminal: the runner's whole process group
    else:
        proc.send_signal(signum)  # timeout, Slurm, docker stop: the runner alone
    stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 128 + signum, (stdout, stderr)
    name = signal.Signals(signum).name
    lines = _own_lines(stderr)
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    assert lines[0].startswith(f"stopped by {name}: 01_train interrupted (a training run, if one was running, "
                               "saved last/ to resume from); not run: 02_next; rerun: python -m charlm.reproduce "
                               "--only 01 ")
    assert "[1/2] 01_train INTERRUPTED" in stdout

    # The kernel got the interrupt, the trainer saved last/ and returned, and no cell ran after that one.
    from charlm.checkpoint import read_info

    info = read_info(run_dir, prefer="last")
    assert info.stop_reason == "interrupted" and info.iteration > 0
    executed = json.loads((out / "01_train.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "stopped: interrupted" in printed
    assert not (out / "01_train.after").exists() and not (out / "02_next.pid").exists()
    assert _gone(kernel), "the kernel outlived the runner"

    # The summary shows the section as interrupted, never the earlier numbers.
    md = (out / "results.md").read_text()
    assert f"01_train: interrupted by {name}" in md and "0.123" not in md
    assert json.loads((out / "results.json").read_text())["not_done"] == {"01_train": f"interrupted by {name}"}
    assert not (out / "results" / "01_train.json").exists()


# --------------------------------------------------------------------------- --jobs


@pytest.mark.notebooks
def test_jobs_runs_two_smoke_notebooks_at_once_and_honours_a_dependency(tmp_path):
    """01_helo and 07_names (the smoke profile's two quickest sections) at once, and a third notebook declared to
    run after 01: it starts only when 01 has finished, and finds 01's record."""
    notebooks_dir, out = tmp_path / "nbs", tmp_path / "out"
    notebooks_dir.mkdir()
    for name in ("01_helo", "07_names"):
        shutil.copy(reproduce.repo_root() / "notebooks" / f"{name}.ipynb", notebooks_dir)
    _notebook(notebooks_dir / "02_after_helo.ipynb", [new_code_cell(PARAMS + "overrides = None\n",
                                                                    metadata={"tags": ["parameters"]}), new_code_cell(
        "import os, pathlib\n"
        "assert pathlib.Path(output_dir, 'results', '01_helo.json').is_file(), 'ran before 01_helo had finished'\n"
        "pathlib.Path(output_dir, 'threads.txt').write_text(os.environ['CHARLM_THREADS'])")], after=["01"])
    env = {k: v for k, v in os.environ.items() if k != "CHARLM_THREADS"}
    # 01's own 300 iterations and a quarter of 07's: what is tested is the order the notebooks start and finish
    # in, not what 07 learns
    short = json.dumps({"max_iters": 300})
    proc = _start(["--notebooks", str(notebooks_dir), "--output", str(out), "--profile", "smoke", "--jobs", "2",
                   "-p", "overrides", short], env)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, (stdout, stderr)

    events = [line for line in stdout.splitlines() if line.startswith(("started ", "finished "))]
    assert events.index("started 07_names") < next(i for i, e in enumerate(events) if e.startswith("finished 01_helo"))
    assert events.index("started 02_after_helo (after 01)") > next(
        i for i, e in enumerate(events) if e.startswith("finished 01_helo"))
    assert sorted(e for e in events if e.startswith("finished")) == [
        e for e in sorted(events) if re.fullmatch(r"finished \S+: ok \(\d+\.\d s\)", e)]
    assert len([e for e in events if e.startswith("finished")]) == 3
    # Each child's lines carry its number; the one summary is written by the parent once all have finished.
    assert "[07] [1/1] 07_names ok" in stdout and "[01] [1/1] 01_helo ok" in stdout
    cores = len(os.sched_getaffinity(0))
    assert (out / "threads.txt").read_text() == str(max(1, cores // 2))
    rows = json.loads((out / "results.json").read_text())["sections"]
    assert [r["section"] for r in rows] == ["01_helo", "07_names"] and all(r["notebook_seconds"] for r in rows)


@pytest.mark.notebooks
def test_jobs_passes_a_stop_signal_to_every_running_notebook(tmp_path):
    notebooks_dir, out = tmp_path / "nbs", tmp_path / "out"
    _training_notebooks(notebooks_dir, ["01_one", "02_two", "03_three"])
    proc = _start(["--notebooks", str(notebooks_dir), "--output", str(out), "--profile", "smoke", "--jobs", "2"])
    _wait_for([out / "runs" / name / "metrics.jsonl" for name in ("01_one", "02_two")], proc, timeout=180)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, (stdout, stderr)
    assert "Traceback" not in stderr
    assert _own_lines(stderr)[-1] == ("stopped by SIGTERM: 01_one, 02_two interrupted (a training run, if one was "
                                      "running, saved last/ to resume from); not run: 03_three; rerun: "
                                      "python -m charlm.reproduce "
                                      f"--only 01 --profile smoke --output {out} --notebooks {notebooks_dir}")
    from charlm.checkpoint import read_info

    for name in ("01_one", "02_two"):
        assert read_info(out / "runs" / name, prefer="last").stop_reason == "interrupted"
        assert not (out / f"{name}.after").exists()
    assert not (out / "03_three.pid").exists()
    assert json.loads((out / "results.json").read_text())["not_done"] == {
        "01_one": "interrupted by SIGTERM", "02_two": "interrupted by SIGTERM"}


def test_jobs_below_one_is_refused(tmp_path, capsys):
    assert reproduce.main(["--only", "01", "--profile", "smoke", "--output", str(tmp_path / "o"), "--jobs", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "error: jobs (--jobs) is 0; it must be at least 1\n" and not (tmp_path / "o").exists()
