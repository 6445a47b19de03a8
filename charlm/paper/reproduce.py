"""Re-run every section of the post: ``python -m charlm.reproduce``.

Each section is a notebook ``notebooks/NN_<name>.ipynb``. This command prepares the data sets each
notebook declares, executes the notebooks with papermill into ``<output>/<name>.ipynb`` (injecting
``profile`` and ``output_dir`` into the cell tagged ``parameters``), and finally writes
``<output>/results.md`` from the records the notebooks left in ``<output>/results/``.

Each notebook ends with ``charlm.paper.results.record("<its file name without .ipynb>", metrics,
output_dir)``: using the file name as the section lets this command drop a notebook's previous
record before rerunning it, so a failed run never shows last run's numbers.

Notebook metadata read here (all optional)::

    "metadata": {"charlm": {"datasets": ["linux", {"name": "linux", "full": true}],
                            "description": "one line for --list"}}

Kernel: papermill starts a Jupyter kernel by name. To make sure notebooks run with the interpreter
that runs this command (the one with charlm and torch installed), ``python3`` is used only when its
kernelspec launches this interpreter; otherwise a kernelspec for ``sys.executable`` is installed
into ``sys.prefix`` (``ipykernel install --sys-prefix``) under a name derived from its path.

Exit status: 0 when every selected notebook ran, 1 when one failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charlm
from charlm.paper import results
from charlm.errors import CharlmError, run_command
from charlm.paper.profiles import PROFILES, default_profile
_NOTEBOOK_RE = re.compile(r"^(\d+)_.+\.ipynb$")
# Parameters reproduce sets itself; -p may not override them, their own options do.
_RESERVED = {"profile": "--profile", "output_dir": "--output", "checkpoint_dir": "--checkpoint-dir"}


def repo_root() -> Path:
    return Path(charlm.__file__).resolve().parents[1]


@dataclass(frozen=True)
class DatasetNeed:
    name: str
    full: bool = False


@dataclass
class Notebook:
    path: Path
    number: str  # the "NN" prefix, as written
    datasets: list[DatasetNeed] = field(default_factory=list)
    description: str = ""
    parameters: frozenset[str] = frozenset()  # names assigned in the cell tagged "parameters"

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def title(self) -> str:
        """The name without its number: "03_wikipedia" -> "wikipedia"."""
        return self.name.split("_", 1)[1]


# --------------------------------------------------------------------------- discovery and selection


def _first_heading(cells: list[Mapping[str, Any]]) -> str:
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        for line in (source if isinstance(source, str) else "".join(source)).splitlines():
            if line.lstrip().startswith("#"):
                return line.strip().lstrip("#").strip()
    return ""


def _dataset_needs(raw: Any, path: Path) -> list[DatasetNeed]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CharlmError(f"{path.name}: metadata charlm.datasets must be a list of names; fix the notebook metadata")
    needs = []
    for item in raw:
        if isinstance(item, str):
            needs.append(DatasetNeed(item))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            needs.append(DatasetNeed(item["name"], bool(item.get("full", False))))
        else:
            raise CharlmError(f"{path.name}: metadata charlm.datasets has {item!r}; use a name or "
                              '{"name": ..., "full": true}')
    return needs


def _parameter_names(cells: list[Mapping[str, Any]], path: Path) -> frozenset[str]:
    """The names the cell tagged ``parameters`` assigns: what papermill can set, so what -p may name."""
    for cell in cells:
        if "parameters" in ((cell.get("metadata") or {}).get("tags") or []):
            source = cell.get("source", "")
            try:
                tree = ast.parse(source if isinstance(source, str) else "".join(source))
            except SyntaxError as err:
                raise CharlmError(f"{path.name}: its parameters cell is not valid Python ({err.msg}); fix the notebook") from None
            return frozenset(target.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                             for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                             if isinstance(target, ast.Name))
    return frozenset()


def read_notebook_info(path: Path) -> Notebook:
    """Number, declared data sets and description of one notebook (read as plain JSON: no kernel)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CharlmError(f"cannot read notebook {path} ({err}); restore it from git") from None
    meta = (nb.get("metadata") or {}).get("charlm") or {}
    description = meta.get("description") or _first_heading(nb.get("cells") or [])
    return Notebook(path=path, number=path.name.split("_", 1)[0], datasets=_dataset_needs(meta.get("datasets"), path),
                    description=" ".join(str(description).split()),
                    parameters=_parameter_names(nb.get("cells") or [], path))


def discover(notebooks_dir: Path) -> list[Notebook]:
    if not notebooks_dir.is_dir():
        raise CharlmError(f"notebooks folder {notebooks_dir} does not exist; pass --notebooks DIR")
    paths = sorted(p for p in notebooks_dir.glob("*.ipynb") if _NOTEBOOK_RE.match(p.name))
    if not paths:
        raise CharlmError(f"no NN_*.ipynb notebooks in {notebooks_dir}; pass --notebooks DIR")
    return [read_notebook_info(p) for p in paths]


def _matches(token: str, nb: Notebook) -> bool:
    token = token.strip()
    if token.endswith(".ipynb"):
        token = token[: -len(".ipynb")]
    if token in (nb.number, nb.name, nb.title):
        return True
    return token.isdigit() and int(token) == int(nb.number)  # "3" selects "03_..."


def select(notebooks: Sequence[Notebook], only: Sequence[str] | None) -> list[Notebook]:
    """The notebooks ``--only`` names (by number prefix, full name or name without number), in order."""
    if not only:
        return list(notebooks)
    unknown = [t for t in only if not any(_matches(t, nb) for nb in notebooks)]
    if unknown:
        raise CharlmError(f"unknown notebook(s) {', '.join(unknown)}; available: "
                          f"{', '.join(nb.name for nb in notebooks)} (pass --only with a number or name)")
    return [nb for nb in notebooks if any(_matches(t, nb) for t in only)]


# --------------------------------------------------------------------------- environment


def parse_value(text: str) -> Any:
    """A ``-p`` value: JSON when it parses (numbers, true, null, lists), else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _runs_this_python(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    major, minor = sys.version_info[:2]
    # jupyter_client swaps these bare names for sys.executable when it launches the kernel.
    if argv[0] in ("python", f"python{major}", f"python{major}.{minor}"):
        return True
    # Same bin/ folder, not resolved: every venv's python links to one base interpreter.
    return Path(os.path.abspath(argv[0])).parent == Path(os.path.abspath(sys.executable)).parent


def ensure_kernel() -> str:
    """Name of a kernelspec that runs this interpreter, installing one into sys.prefix if needed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    own = "charlm-" + hashlib.sha1(os.path.abspath(sys.executable).encode()).hexdigest()[:8]
    for name in ("python3", own):
        try:
            if _runs_this_python(ksm.get_kernel_spec(name).argv):
                return name
        except NoSuchKernel:
            pass
    try:
        from ipykernel.kernelspec import install
    except ImportError:
        raise CharlmError("ipykernel is not installed in this environment; run: pip install -e '.[notebooks]'") from None
    display = f"Python {sys.version_info[0]}.{sys.version_info[1]} (charlm, {sys.prefix})"
    try:
        install(kernel_name=own, display_name=display, prefix=sys.prefix)
    except OSError:
        install(kernel_name=own, display_name=display, user=True)  # read-only prefix
    if not _runs_this_python(KernelSpecManager().get_kernel_spec(own).argv):
        raise CharlmError(f"kernelspec {own} does not launch {sys.executable}; remove it with "
                          f"'jupyter kernelspec remove {own}' and rerun")
    return own


@contextlib.contextmanager
def kernel_environment(mirror: Path | None) -> Iterator[None]:
    """Environment the kernels inherit: the data mirror, and this checkout on PYTHONPATH.

    PYTHONPATH makes the notebooks import the charlm this command came from even when charlm is
    not installed (or installed from another checkout): kernels start in notebooks/, not the root.
    """
    saved = {k: os.environ.get(k) for k in ("CHARLM_DATA_MIRROR", "PYTHONPATH")}
    try:
        if mirror is not None:
            os.environ["CHARLM_DATA_MIRROR"] = str(mirror)
        root = repo_root()
        if (root / "charlm" / "__init__.py").is_file():
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), saved["PYTHONPATH"]) if p)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    notebook: Notebook
    ok: bool
    seconds: float
    report: str = ""


def prepare_datasets(nb: Notebook, mirror: Path | None, progress: bool) -> None:
    if not nb.datasets:
        return
    datasets = importlib.import_module("charlm.datasets")  # loaded only when a notebook needs data
    for need in nb.datasets:
        datasets.path(need.name, mirror=mirror, full=need.full, progress=progress)


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "(empty cell)")


def _last_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _source_cell_index(executed: Path, cell_index: int) -> int:
    """Index in the source notebook of the executed copy's cell: papermill inserts a parameters cell."""
    try:
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return cell_index
    injected = sum("injected-parameters" in (c.get("metadata", {}).get("tags") or []) for c in cells[:cell_index])
    return cell_index - injected


def failure_report(nb: Notebook, executed: Path, err: BaseException, rerun: str) -> str:
    """A few lines a reader can act on: which notebook and cell, what it said, where to look."""
    from papermill.exceptions import PapermillExecutionError

    lines = []
    if isinstance(err, PapermillExecutionError):
        src_index = _source_cell_index(executed, err.cell_index)
        lines.append(f"FAILED {nb.name}: cell {src_index} of {nb.path.name} "
                     f"(cell {err.cell_index}, In [{err.exec_count}], in the executed copy)")
        lines.append(f"  cell starts: {_first_line(err.source or '')}")
        lines.append(f"  error:       {err.ename}: {_last_line(err.evalue)}".rstrip())
    else:
        lines.append(f"FAILED {nb.name}: {type(err).__name__}: {_last_line(str(err)) or repr(err)}")
    if executed.exists():
        lines.append(f"  partially executed notebook: {executed}")
    lines.append(f"  rerun only this one: {rerun}")
    return "\n".join(lines)


def run_notebook(nb: Notebook, out_dir: Path, parameters: Mapping[str, Any], kernel_name: str,
                 progress_bar: bool) -> tuple[Path, BaseException | None]:
    import papermill

    executed = out_dir / nb.path.name
    try:
        papermill.execute_notebook(str(nb.path), str(executed), parameters=dict(parameters), kernel_name=kernel_name,
                                   cwd=str(nb.path.parent), progress_bar=progress_bar)
    except Exception as err:  # any failure of one notebook is reported, not raised: the rest may still run
        return executed, err
    return executed, None


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m charlm.reproduce",
                                description="Re-run every section of the post, one notebook each, into an outputs folder.")
    p.add_argument("--profile", choices=PROFILES,
                   help="smoke: seconds per notebook; cpu: a laptop-sized run; paper: the post's sizes "
                        "(default: paper with a CUDA GPU, else cpu)")
    p.add_argument("--only", nargs="+", metavar="NB", help="run only these notebooks: number (03), name, or both")
    p.add_argument("--output", type=Path, help="where executed notebooks and results go (default: <repo>/outputs)")
    p.add_argument("--notebooks", type=Path, help="folder of NN_*.ipynb notebooks (default: <repo>/notebooks)")
    p.add_argument("--mirror", type=Path, help="offline data mirror with MANIFEST.tsv (default: $CHARLM_DATA_MIRROR)")
    p.add_argument("--checkpoint-dir", type=Path, help="passed to the notebooks as checkpoint_dir")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="extra notebook parameter; VALUE is parsed as JSON when it can be (repeatable)")
    p.add_argument("--keep-going", action="store_true", help="run the remaining notebooks after a failure")
    p.add_argument("--list", action="store_true", help="list the notebooks, their data sets and descriptions")
    return p


def _list(notebooks: Sequence[Notebook]) -> str:
    width = max(len(nb.name) for nb in notebooks)
    rows = []
    for nb in notebooks:
        data = ", ".join(d.name + (" (full)" if d.full else "") for d in nb.datasets) or "-"
        rows.append(f"{nb.name.ljust(width)}  [{data}]  {nb.description}".rstrip())
    return "\n".join(rows)


def _parameters(args: argparse.Namespace, profile: str, out_dir: Path, selected: Sequence[Notebook]) -> dict[str, Any]:
    params: dict[str, Any] = {"profile": profile, "output_dir": str(out_dir)}
    if args.checkpoint_dir is not None:
        params["checkpoint_dir"] = str(args.checkpoint_dir.expanduser().resolve())
    # papermill only warns about a name the notebook does not have, then runs the defaults: a typo would cost a
    # whole default training run. A -p name must be a parameter of a selected notebook.
    valid = set().union(*(nb.parameters for nb in selected)) - set(_RESERVED)
    for key, value in args.parameter:
        if key in _RESERVED:
            raise CharlmError(f"-p {key} is set by reproduce; use {_RESERVED[key]} instead")
        if key not in valid:
            raise CharlmError(f"-p {key}: no selected notebook has that parameter; valid: {', '.join(sorted(valid))}")
        params[key] = parse_value(value)
    return params


def _for_notebook(parameters: Mapping[str, Any], nb: Notebook) -> dict[str, Any]:
    """The parameters this notebook declares (reproduce's own are passed to all)."""
    return {k: v for k, v in parameters.items() if k in nb.parameters or k in _RESERVED}


def _rerun_command(nb: Notebook, profile: str) -> str:
    return f"python -m charlm.reproduce --only {nb.number} --profile {profile}"


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    notebooks = discover((args.notebooks or root / "notebooks").expanduser().resolve())
    selected = select(notebooks, args.only)
    if args.list:
        print(_list(selected))
        return 0
    out_dir = (args.output or root / "outputs").expanduser().resolve()
    mirror = args.mirror.expanduser().resolve() if args.mirror is not None else None
    profile = args.profile or default_profile()
    parameters = _parameters(args, profile, out_dir, selected)
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel = ensure_kernel()
    interactive = sys.stdout.isatty()
    print(f"charlm reproduce: profile {profile}, {len(selected)} notebook(s), outputs in {out_dir}", flush=True)

    outcomes: list[Outcome] = []
    with kernel_environment(mirror):
        for i, nb in enumerate(selected, 1):
            print(f"[{i}/{len(selected)}] {nb.name} ...", flush=True)
            start = time.monotonic()
            executed = out_dir / nb.path.name
            # A failed run must not leave last run's record in the summary as if it were this run's.
            (out_dir / results.RESULTS_SUBDIR / f"{nb.name}.json").unlink(missing_ok=True)
            try:
                prepare_datasets(nb, mirror, progress=True)
            except Exception as err:  # CharlmError, or a network/disk error the data module let through
                message = str(err) if isinstance(err, CharlmError) else f"{type(err).__name__}: {err}"
                report = f"FAILED {nb.name}: preparing its data: {message}\n  rerun only this one: " \
                         f"{_rerun_command(nb, profile)}"
                outcomes.append(Outcome(nb, False, time.monotonic() - start, report))
            else:
                executed, err = run_notebook(nb, out_dir, _for_notebook(parameters, nb), kernel,
                                             progress_bar=interactive)
                report = "" if err is None else failure_report(nb, executed, err, _rerun_command(nb, profile))
                outcomes.append(Outcome(nb, err is None, time.monotonic() - start, report))
            last = outcomes[-1]
            print(f"[{i}/{len(selected)}] {nb.name} {'ok' if last.ok else 'FAILED'} ({last.seconds:.1f} s)", flush=True)
            if not last.ok:
                print(last.report, file=sys.stderr, flush=True)
                if not args.keep_going:
                    break
    return _finish(outcomes, selected, out_dir)


def _finish(outcomes: list[Outcome], selected: Sequence[Notebook], out_dir: Path) -> int:
    md_path, _ = results.write_summary(out_dir)
    rows = results.summary_rows(results.load_all(out_dir))
    print()
    if rows:
        print(results.terminal_table(rows))
    ran = {o.notebook.name for o in outcomes if o.ok}
    earlier = [r["section"] for r in rows if r["section"] not in ran]
    if earlier:
        print(f"(from earlier runs, not this one: {', '.join(earlier)})")
    print(f"\nresults: {md_path}")
    failed = [o for o in outcomes if not o.ok]
    not_run = [nb.name for nb in selected[len(outcomes):]]
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(o.notebook.name for o in failed)}"
              + (f"; not run: {', '.join(not_run)} (use --keep-going to run past failures)" if not_run else ""),
              file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), error_status=2)

if __name__ == "__main__":
    sys.exit(main())
