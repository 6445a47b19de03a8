"""Re-run every section of the post: ``python -m charlm.reproduce`` (``make reproduce``).

Each section is a notebook ``notebooks/NN_<name>.ipynb``. This command prepares the data sets a notebook declares
(its metadata ``charlm.datasets``), runs it with papermill into ``<output>/<name>.ipynb`` with ``profile`` and
``output_dir`` set in the cell tagged ``parameters``, and writes ``<output>/results.md`` from the records the
notebooks leave in ``<output>/results/``. A notebook's old record is dropped before it runs, so a failed run never
shows last run's numbers; a failure names the notebook, the cell and the error, and how to rerun only that one.

Exit status: 0 when every selected notebook ran, 1 when one failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import charlm
from charlm.errors import CharlmError, run_command
from charlm.paper import results
from charlm.paper.presets import PROFILES, default_profile

_NOTEBOOK_RE = re.compile(r"^(\d+)_.+\.ipynb$")
# Parameters reproduce sets itself; -p may not override them, their own options do.
_RESERVED = {"profile": "--profile", "output_dir": "--output", "checkpoint_dir": "--checkpoint-dir"}


def repo_root() -> Path:
    return Path(charlm.__file__).resolve().parents[1]


@dataclass
class Notebook:
    path: Path
    datasets: list[str]  # prepared before the notebook runs
    description: str

    @property
    def name(self) -> str:  # "03_shakespeare"
        return self.path.stem

    @property
    def number(self) -> str:  # "03"
        return self.name.split("_", 1)[0]


def read_notebook(path: Path) -> Notebook:
    """Declared data sets and description of one notebook (its JSON read directly: no kernel)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CharlmError(f"cannot read notebook {path} ({err}); restore it from git") from None
    meta = (nb.get("metadata") or {}).get("charlm") or {}
    needs = meta.get("datasets") or []
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise CharlmError(f"{path.name}: metadata charlm.datasets must be a list of data set names; fix its metadata")
    headings = (line.lstrip("# ").strip() for cell in nb.get("cells", []) if cell.get("cell_type") == "markdown"
                for line in "".join(cell.get("source", "")).splitlines() if line.startswith("#"))
    return Notebook(path, needs, " ".join(str(meta.get("description") or next(headings, "")).split()))


def discover(notebooks_dir: Path) -> list[Notebook]:
    paths = sorted(p for p in notebooks_dir.glob("*.ipynb") if _NOTEBOOK_RE.match(p.name))
    if not paths:
        raise CharlmError(f"no NN_*.ipynb notebooks in {notebooks_dir}; pass --notebooks DIR")
    return [read_notebook(p) for p in paths]


def _matches(token: str, nb: Notebook) -> bool:
    token = token.strip().removesuffix(".ipynb")
    if token in (nb.number, nb.name, nb.name.split("_", 1)[1]):
        return True
    return token.isdigit() and int(token) == int(nb.number)  # "3" selects "03_..."


def select(notebooks: Sequence[Notebook], only: Sequence[str] | None) -> list[Notebook]:
    """The notebooks ``--only`` names (by number, full name or name without number), in order."""
    if not only:
        return list(notebooks)
    unknown = [t for t in only if not any(_matches(t, nb) for nb in notebooks)]
    if unknown:
        raise CharlmError(f"unknown notebook(s) {', '.join(unknown)}; available: "
                          f"{', '.join(nb.name for nb in notebooks)} (pass --only with a number or name)")
    return [nb for nb in notebooks if any(_matches(t, nb) for t in only)]


def parse_value(text: str) -> Any:
    """A ``-p`` value: JSON when it parses (numbers, true, null, lists), else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def notebook_parameters(notebooks: Sequence[Notebook], parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each notebook's share of ``parameters`` (those its ``parameters`` cell assigns); a name that no notebook
    assigns is an error listing the valid ones, where papermill would only warn and run with the defaults."""
    import papermill

    known = {nb.name: set(papermill.inspect_notebook(str(nb.path))) for nb in notebooks}
    unknown = sorted(set(parameters) - set().union(*known.values()))
    if unknown:
        valid = sorted(set().union(*known.values()) - set(_RESERVED))
        raise CharlmError(f"-p {', '.join(unknown)}: no selected notebook has such a parameter; valid: {', '.join(valid)}")
    return {name: {k: v for k, v in parameters.items() if k in names} for name, names in known.items()}


# --------------------------------------------------------------------------- the kernel


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
    """A kernelspec that runs this interpreter (the one with charlm installed): python3 when it does (a user-wide
    python3 kernelspec may point elsewhere), else one installed into sys.prefix for it."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    own = "charlm-" + hashlib.sha1(os.path.abspath(sys.executable).encode()).hexdigest()[:8]
    for name in ("python3", own):
        with contextlib.suppress(NoSuchKernel):
            if _runs_this_python(KernelSpecManager().get_kernel_spec(name).argv):
                return name
    install(kernel_name=own, display_name=f"Python (charlm, {sys.prefix})", prefix=sys.prefix)
    return own


@contextlib.contextmanager
def kernel_environment(mirror: Path | None) -> Iterator[None]:
    """The data mirror and this checkout on PYTHONPATH for the kernels (they start in notebooks/, not the root)."""
    saved = {k: os.environ.get(k) for k in ("CHARLM_DATA_MIRROR", "PYTHONPATH")}
    if mirror is not None:
        os.environ["CHARLM_DATA_MIRROR"] = str(mirror)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root()), saved["PYTHONPATH"]) if p)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- running


def failure_report(nb: Notebook, err: BaseException, rerun: str, executed: Path) -> str:
    """A few lines a reader can act on: which notebook and cell, what it said, how to rerun only that one."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        first = next((line.strip() for line in (err.source or "").splitlines() if line.strip()), "(empty cell)")
        said = [line for line in str(err.evalue).strip().splitlines() if line.strip()]
        lines = [f"FAILED {nb.name}: cell In [{err.exec_count}] of {nb.path.name}, which starts: {first}",
                 f"  error: {err.ename}: {said[-1].strip() if said else ''}".rstrip()]
    else:
        lines = [f"FAILED {nb.name}: {type(err).__name__}: {err}"]
    if executed.exists():
        lines.append(f"  partially executed notebook: {executed}")
    return "\n".join([*lines, f"  rerun only this one: {rerun}"])


def run_one(nb: Notebook, out_dir: Path, parameters: dict[str, Any], mirror: Path | None, kernel: str) -> str:
    """Prepare the notebook's data and execute it; the failure report, or '' when it ran."""
    import papermill

    datasets = importlib.import_module("charlm.datasets")  # only when a notebook runs: --list needs no data module

    rerun = f"python -m charlm.reproduce --only {nb.number} --profile {parameters['profile']}"
    try:
        for name in nb.datasets:
            datasets.path(name, mirror=mirror, progress=True)
    except CharlmError as err:
        return f"FAILED {nb.name}: preparing its data: {err}\n  rerun only this one: {rerun}"
    executed = out_dir / nb.path.name
    try:
        papermill.execute_notebook(str(nb.path), str(executed), parameters=parameters, kernel_name=kernel,
                                   cwd=str(nb.path.parent), progress_bar=sys.stdout.isatty())
    except Exception as err:  # one notebook's failure is reported, not raised: the rest may still run
        return failure_report(nb, err, rerun, executed)
    return ""


def relativize(path: Path, prefixes: dict[str, str]) -> None:
    """Rewrite absolute path prefixes in a written text file (papermill's metadata, a printed path, a record):
    ``{"/home/me/charlm/": ""}`` leaves paths relative to the repository."""
    text = original = path.read_text(encoding="utf-8")
    for absolute in sorted(prefixes, key=len, reverse=True):
        text = text.replace(absolute, prefixes[absolute])
    if text != original:
        path.write_text(text, encoding="utf-8")


def stale_cells(executed: Path, source: Path) -> list[int]:
    """Numbers (from 1) of the code cells where an executed copy differs from its source notebook, papermill's
    injected parameters aside: [] when the outputs show the code as it is."""
    def code(path: Path) -> list[str]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
                and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]

    ran, now = code(executed), code(source)
    differ = [i + 1 for i, (a, b) in enumerate(zip(ran, now)) if a != b]
    return differ + list(range(min(len(ran), len(now)) + 1, max(len(ran), len(now)) + 1))


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


def _parameters(args: argparse.Namespace, profile: str, out_dir: Path, notebooks_dir: Path) -> dict[str, Any]:
    # Paths as the kernel sees them from notebooks_dir, its working directory: relative, so an executed notebook
    # that is committed names no folder of the machine that ran it.
    params: dict[str, Any] = {"profile": profile, "output_dir": os.path.relpath(out_dir, notebooks_dir)}
    if args.checkpoint_dir is not None:
        params["checkpoint_dir"] = os.path.relpath(args.checkpoint_dir.expanduser().resolve(), notebooks_dir)
    for key, value in args.parameter:
        if key in _RESERVED:
            raise CharlmError(f"-p {key} is set by reproduce; use {_RESERVED[key]} instead")
        params[key] = parse_value(value)
    return params


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    notebooks_dir = (args.notebooks or root / "notebooks").expanduser().resolve()
    selected = select(discover(notebooks_dir), args.only)
    if args.list:
        width = max(len(nb.name) for nb in selected)
        print("\n".join(f"{nb.name.ljust(width)}  [{', '.join(nb.datasets) or '-'}]  {nb.description}".rstrip()
                        for nb in selected))
        return 0
    out_dir = (args.output or root / "outputs").expanduser().resolve()
    mirror = args.mirror.expanduser().resolve() if args.mirror is not None else None
    parameters = _parameters(args, args.profile or default_profile(), out_dir, notebooks_dir)
    shares = notebook_parameters(selected, parameters)
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel = ensure_kernel()
    print(f"charlm reproduce: profile {parameters['profile']}, {len(selected)} notebook(s), outputs in {out_dir}",
          flush=True)
    failed: list[str] = []
    with kernel_environment(mirror):
        for i, nb in enumerate(selected, 1):
            print(f"[{i}/{len(selected)}] {nb.name} ...", flush=True)
            start = time.monotonic()
            record = out_dir / results.RESULTS_SUBDIR / f"{nb.name}.json"
            record.unlink(missing_ok=True)
            report = run_one(nb, out_dir, shares[nb.name], mirror, kernel)
            seconds = time.monotonic() - start
            print(f"[{i}/{len(selected)}] {nb.name} {'FAILED' if report else 'ok'} ({seconds:.1f} s)", flush=True)
            for written in (out_dir / nb.path.name, record):
                if written.is_file():
                    relativize(written, {str(root) + os.sep: ""})
            if record.is_file():
                results.add_fields(record, notebook_seconds=round(seconds, 1))
            if report:
                failed.append(nb.name)
                print(report, file=sys.stderr, flush=True)
                if not args.keep_going:
                    break
    md_path, _ = results.write_summary(out_dir)
    records = results.load_all(out_dir)
    if records:
        print("\n" + results.terminal_table(records))
    print(f"\nresults: {md_path}")
    if failed:
        not_run = [nb.name for nb in selected[selected.index(next(n for n in selected if n.name == failed[-1])) + 1:]]
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}"
              + (f"; not run: {', '.join(not_run)} (use --keep-going to run past failures)"
                 if not_run and not args.keep_going else ""), file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), error_status=2)


if __name__ == "__main__":
    sys.exit(main())
