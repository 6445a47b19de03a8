"""Re-run every section of the post: ``python -m charlm.reproduce`` (``make reproduce``).

Each section is a notebook ``notebooks/NN_<name>.ipynb``. This command prepares the data sets a notebook declares
(its metadata ``charlm.datasets``), runs it with papermill into ``<output>/<name>.ipynb`` with ``profile`` and
``output_dir`` set in the cell tagged ``parameters``, and writes ``<output>/results.md`` from the records the
notebooks leave in ``<output>/results/``. A notebook's old record is dropped before it runs, and a notebook that
fails or is stopped is listed as not done in the summary, so no earlier run's numbers stand in for it; a failure
names the notebook, the cell and the error, and the command that reruns only that one.

``--jobs N`` runs N notebooks at a time, each in its own process (and kernel) within its own time budget; a
notebook whose metadata says ``charlm.after: ["04", "06"]`` starts once those have finished.

A stop signal (Ctrl-C, SIGTERM from ``timeout`` or Slurm, SIGHUP) is passed to the running kernels as an interrupt:
a training run saves ``last/`` and stops, the cell ends, no further cell runs, and the command exits with
128 + the signal's number after one line saying so. A second signal interrupts the kernel again (training no
longer waits for its step); a third kills it.

Exit status: 0 when every selected notebook ran, 1 when one failed, 2 for a usage error, 128 + N on signal N.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charlm
from charlm.errors import CharlmError, check_int, check_keys, run_command
from charlm.paper import presets, results
from charlm.paper.presets import PROFILES, default_profile

_NOTEBOOK_RE = re.compile(r"^(\d+)_.+\.ipynb$")
# Parameters reproduce sets itself; -p may not override them, their own options do.
_RESERVED = {"profile": "--profile", "output_dir": "--output", "checkpoint_dir": "--checkpoint-dir"}
# Signals that stop a reproduction: Ctrl-C, what `timeout`, Slurm and `docker stop` send, a closed terminal.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def repo_root() -> Path:
    return Path(charlm.__file__).resolve().parents[1]


@dataclass
class Notebook:
    path: Path
    datasets: list[str]  # prepared before the notebook runs
    description: str
    after: list[str] = field(default_factory=list)  # numbers of the notebooks whose runs this one reads

    @property
    def name(self) -> str:  # "03_shakespeare"
        return self.path.stem

    @property
    def number(self) -> str:  # "03"
        return self.name.split("_", 1)[0]


def read_notebook(path: Path) -> Notebook:
    """Declared data sets, dependencies and description of one notebook (its JSON read directly: no kernel)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CharlmError(f"cannot read notebook {path} ({err}); restore it from git") from None
    meta = (nb.get("metadata") or {}).get("charlm") or {}
    for key, what in (("datasets", "data set names"), ("after", 'notebook numbers, e.g. ["04", "06"]')):
        value = meta.get(key) or []
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise CharlmError(f"{path.name}: metadata charlm.{key} must be a list of {what}; fix its metadata")
    headings = (line.lstrip("# ").strip() for cell in nb.get("cells", []) if cell.get("cell_type") == "markdown"
                for line in "".join(cell.get("source", "")).splitlines() if line.startswith("#"))
    return Notebook(path, meta.get("datasets") or [], " ".join(str(meta.get("description") or next(headings, "")).split()),
                    meta.get("after") or [])


def discover(notebooks_dir: Path) -> list[Notebook]:
    paths = sorted(p for p in notebooks_dir.glob("*.ipynb") if _NOTEBOOK_RE.match(p.name))
    if not paths:
        raise CharlmError(f"no NN_*.ipynb notebooks in {notebooks_dir}; pass --notebooks DIR")
    found = [read_notebook(p) for p in paths]
    numbers = {nb.number for nb in found}
    for nb in found:
        unknown = [n for n in nb.after if n not in numbers]
        if unknown:
            raise CharlmError(f"{nb.path.name}: metadata charlm.after names {', '.join(unknown)}, which no notebook in "
                              f"{notebooks_dir} has; fix its metadata")
    run_order(found)  # a circle of dependencies is refused here, before anything runs
    return found


def run_order(notebooks: Sequence[Notebook]) -> list[Notebook]:
    """``notebooks`` in number order, moved only as far as their ``after`` requires (among those given)."""
    given = {nb.number for nb in notebooks}
    done: set[str] = set()
    ordered: list[Notebook] = []
    waiting = list(notebooks)
    while waiting:
        ready = next((nb for nb in waiting if all(n in done or n not in given for n in nb.after)), None)
        if ready is None:
            raise CharlmError(f"notebooks {', '.join(nb.name for nb in waiting)} wait for each other "
                              "(metadata charlm.after); fix their metadata")
        waiting.remove(ready)
        ordered.append(ready)
        done.add(ready.number)
    return ordered


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


def check_parameters(nb: Notebook, share: dict[str, Any], notebooks_dir: Path) -> None:
    """Refuse, before a kernel starts, the values a section's ``setup`` would refuse in it: its preset's configs are
    built here with ``seed`` and ``overrides`` applied, by the configs' own checks. Notebooks without presets
    (not sections of the post) are left to themselves."""
    if nb.name not in presets.sections():
        return
    from charlm.model import ModelConfig  # imported here: --list and --help need no torch
    from charlm.trainer import TrainConfig

    overrides = share.get("overrides")
    if overrides is not None and not isinstance(overrides, dict):
        raise CharlmError(f'-p overrides {json.dumps(overrides)}: give a JSON object, e.g. -p overrides '
                          '\'{"max_seconds": 60}\'')
    overrides = dict(overrides or {})
    model_keys = set(ModelConfig.__dataclass_fields__) - {"vocab_size"}
    check_keys("override(s)", overrides, {*TrainConfig.__dataclass_fields__, *model_keys, "threads", "max_chars"})
    preset = presets.load(nb.name, share["profile"])
    for key in ("threads", "max_chars"):
        if overrides.get(key) is not None:
            check_int(key, overrides[key], 1)
    seed = share.get("seed")
    preset.train_config(seed, {k: v for k, v in overrides.items() if k not in model_keys | {"threads", "max_chars"}})
    ModelConfig.from_dict({"vocab_size": 1, **preset.model, **{k: v for k, v in overrides.items() if k in model_keys}})
    checkpoint = share.get("checkpoint")
    if checkpoint is not None and not (notebooks_dir / str(checkpoint)).expanduser().exists():
        raise CharlmError(f"-p checkpoint {checkpoint}: no such run directory (paths are taken from {notebooks_dir}, "
                          "where the kernel starts); give an existing one")


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


# --------------------------------------------------------------------------- stopping


class Stopped(Exception):
    """A stop signal reached the runner; raised where the notebook is to end (after the cell that was running)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """While notebooks run, turn Ctrl-C, SIGTERM and SIGHUP into an orderly stop.

    The kernel runs in its own session (jupyter_client starts it so), so a terminal's Ctrl-C does not reach it and
    a dying runner would orphan it: the runner passes each signal on as SIGINT, the kernel's interrupt, which a
    training run answers by saving ``last/`` and returning. The notebook then ends when its cell does
    (:meth:`after_cell`, a hook papermill's client calls). While data is prepared (:meth:`interruptible`) a signal
    raises :class:`Stopped` at once: there is nothing to save. Anywhere else it is only recorded, and the runner
    starts nothing new. ``children`` are runner processes of ``--jobs``: they get the signal itself and stop their
    kernels the same way.
    """

    def __init__(self) -> None:
        self.signum: int | None = None  # the first stop signal
        self.count = 0
        self.kernels: list[Any] = []  # kernel managers of the running notebook (see kernel_manager_class)
        self.children: list[subprocess.Popen] = []
        self.previous: dict[int, Any] = {}
        self._interruptible = False

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            # A signal the runner was started ignoring (nohup's SIGHUP) stays ignored.
            self.previous = {s: signal.signal(s, self._handler) for s in STOP_SIGNALS
                             if signal.getsignal(s) is not signal.SIG_IGN}
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _kernel_groups(self) -> list[int]:
        groups = []
        for km in self.kernels:
            provisioner = getattr(km, "provisioner", None)
            group = getattr(provisioner, "pgid", None) or getattr(provisioner, "pid", None)
            if group and getattr(provisioner, "process", None) is not None and provisioner.process.poll() is None:
                groups.append(group)
        return groups

    def _handler(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signum)
        groups = self._kernel_groups()
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                # Interrupt twice; the third time the kernel (and what it started, e.g. pdflatex) is killed.
                os.killpg(group, signal.SIGKILL if self.count >= 3 else signal.SIGINT)
        if self._interruptible:
            raise Stopped(self.signum)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A stretch of the runner's own work that a signal may cut short (it raises Stopped there)."""
        if self.signum is not None:
            raise Stopped(self.signum)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def after_cell(self, **_: Any) -> None:
        """papermill's on_cell_start and on_cell_executed hook: no cell starts or follows after a stop."""
        if self.signum is not None:
            raise Stopped(self.signum)

    def kernel_manager_class(self) -> type:
        """The kernel manager papermill's client creates, recording itself here so a signal can reach its kernel."""
        from jupyter_client.manager import AsyncKernelManager

        stop = self

        class TrackedKernelManager(AsyncKernelManager):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                stop.kernels.append(self)

        return TrackedKernelManager


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    status: str  # "ok", "failed" or "interrupted"
    report: str = ""  # what failed and how to rerun it, for stderr
    seconds: float = 0.0
    rerun: str = ""  # the command that reruns only this notebook


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


def run_one(nb: Notebook, out_dir: Path, parameters: dict[str, Any], mirror: Path | None, kernel: str,
            rerun: str, stop: StopSignals) -> Outcome:
    """Prepare the notebook's data and execute it; a failure is reported in the outcome, not raised."""
    import papermill

    datasets = importlib.import_module("charlm.datasets")  # only when a notebook runs: --list needs no data module

    try:
        with stop.interruptible():
            for name in nb.datasets:
                datasets.path(name, mirror=mirror, progress=True)
    except CharlmError as err:
        return Outcome("failed", f"FAILED {nb.name}: preparing its data: {err}\n  rerun only this one: {rerun}")
    executed = out_dir / nb.path.name
    stop.kernels.clear()
    try:
        papermill.execute_notebook(str(nb.path), str(executed), parameters=parameters, kernel_name=kernel,
                                   cwd=str(nb.path.parent), progress_bar=sys.stdout.isatty(),
                                   kernel_manager_class=stop.kernel_manager_class(),
                                   on_cell_start=stop.after_cell, on_cell_executed=stop.after_cell)
    except Stopped:
        return Outcome("interrupted")
    except Exception as err:  # one notebook's failure is reported, not raised: the rest may still run
        if stop.signum is not None:  # the interrupt ended the cell with an error (outside training): a stop
            return Outcome("interrupted")
        return Outcome("failed", failure_report(nb, err, rerun, executed))
    finally:
        stop.kernels.clear()
    return Outcome("ok")


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
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run N notebooks at a time, each in its own process (default 1); each gets "
                        "CHARLM_THREADS = cores / N unless it is set")
    p.add_argument("--list", action="store_true", help="list the notebooks, their data sets and descriptions")
    # Set by a --jobs runner for its children: the parent writes the one summary when all have finished.
    p.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
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


def rerun_arguments(args: argparse.Namespace, profile: str) -> list[str]:
    """Every option this run was given that a rerun of one notebook needs, as typed (paths too)."""
    given = ["--profile", profile]
    for option, value in (("--output", args.output), ("--notebooks", args.notebooks), ("--mirror", args.mirror),
                          ("--checkpoint-dir", args.checkpoint_dir)):
        if value is not None:
            given += [option, str(value)]
    for key, value in args.parameter:
        given += ["-p", key, value]
    return given


def _rerun(nb: Notebook, options: list[str]) -> str:
    return shlex.join(["python", "-m", "charlm.reproduce", "--only", nb.number, *options])


def _previous_not_done(out_dir: Path) -> dict[str, str]:
    """What the last summary in ``out_dir`` listed as not done (kept until those sections run again)."""
    try:
        found = json.loads((out_dir / "results.json").read_text(encoding="utf-8")).get("not_done") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _what_happened(outcome: Outcome, signum: int | None) -> str:
    if outcome.status == "interrupted":
        return f"interrupted by {signal.Signals(signum).name if signum else 'a signal'}"
    if not outcome.report:
        return "failed (its output above says where)"
    lines = outcome.report.splitlines()  # as failure_report writes them
    where = lines[0].split(": ", 1)[-1].split(", which starts")[0]
    error = next((line.strip()[len("error: "):] for line in lines[1:] if line.strip().startswith("error: ")), "")
    return f"failed ({where})" + (f": {error}" if error else "")


def _default_threads(jobs: int) -> str | None:
    """CHARLM_THREADS for each of ``jobs`` concurrent notebooks: the cores shared out (at least one each), unless
    the user set it; None leaves it unset."""
    if os.environ.get("CHARLM_THREADS", "").strip():
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return str(max(1, cores // jobs))


def _pump(stream: Any, prefix: str, sink: Any, lock: threading.Lock) -> None:
    """Copy a child's output line by line, each line prefixed with its section, so concurrent logs stay readable."""
    for line in iter(stream.readline, ""):
        with lock:
            sink.write(f"{prefix}{line}" if line.endswith("\n") else f"{prefix}{line}\n")
            sink.flush()
    stream.close()


def _run_serial(selected: list[Notebook], out_dir: Path, shares: dict[str, dict[str, Any]], mirror: Path | None,
                options: list[str], keep_going: bool, stop: StopSignals) -> dict[str, Outcome]:
    kernel = ensure_kernel()
    root = repo_root()
    outcomes: dict[str, Outcome] = {}
    with kernel_environment(mirror):
        for i, nb in enumerate(selected, 1):
            print(f"[{i}/{len(selected)}] {nb.name} ...", flush=True)
            start = time.monotonic()
            record = out_dir / results.RESULTS_SUBDIR / f"{nb.name}.json"
            record.unlink(missing_ok=True)
            try:
                outcome = run_one(nb, out_dir, shares[nb.name], mirror, kernel, _rerun(nb, options), stop)
            except Stopped:  # stopped while its data was prepared
                outcome = Outcome("interrupted")
            outcome.rerun = _rerun(nb, options)
            outcome.seconds = time.monotonic() - start
            outcomes[nb.name] = outcome
            status = {"ok": "ok", "failed": "FAILED", "interrupted": "INTERRUPTED"}[outcome.status]
            print(f"[{i}/{len(selected)}] {nb.name} {status} ({outcome.seconds:.1f} s)", flush=True)
            for written in (out_dir / nb.path.name, record):
                if written.is_file():
                    relativize(written, {str(root) + os.sep: ""})
            if outcome.status != "ok":
                record.unlink(missing_ok=True)  # half a run has no numbers to show
            elif record.is_file():
                results.add_fields(record, notebook_seconds=round(outcome.seconds, 1))
            if outcome.report:
                print(outcome.report, file=sys.stderr, flush=True)
            if stop.signum is not None or (outcome.status == "failed" and not keep_going):
                break
    return outcomes


def _run_parallel(selected: list[Notebook], out_dir: Path, args: argparse.Namespace, options: list[str],
                  stop: StopSignals) -> dict[str, Outcome]:
    """Each notebook in its own ``python -m charlm.reproduce --only NN`` process, ``args.jobs`` at a time, in
    dependency order; their output is copied here line by line, prefixed with the section's number."""
    ensure_kernel()  # installed once here, not raced by the children
    env = dict(os.environ)
    threads = _default_threads(args.jobs)
    if threads is not None:
        env["CHARLM_THREADS"] = threads
    print(f"{args.jobs} at a time, CHARLM_THREADS={env.get('CHARLM_THREADS', '(torch default)')} each", flush=True)
    lock = threading.Lock()
    waiting = list(selected)
    running: dict[str, tuple[Notebook, subprocess.Popen, float, list[threading.Thread]]] = {}
    outcomes: dict[str, Outcome] = {}
    given = {nb.number for nb in selected}
    halted = False  # a failure without --keep-going, or a stop signal: start nothing new
    while waiting or running:
        finished = {name for name in outcomes}
        done_numbers = {nb.number for nb in selected if nb.name in finished}
        while not halted and stop.signum is None and waiting and len(running) < args.jobs:
            ready = next((nb for nb in waiting if all(n in done_numbers or n not in given for n in nb.after)), None)
            if ready is None:
                break
            waiting.remove(ready)
            command = [sys.executable, "-m", "charlm.reproduce", "--only", ready.number, *options, "--no-summary"]
            # Its own session: a terminal's Ctrl-C reaches this runner only, which passes it on once.
            child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1, start_new_session=True)
            stop.children.append(child)
            pumps = [threading.Thread(target=_pump, args=(pipe, f"[{ready.number}] ", sink, lock), daemon=True)
                     for pipe, sink in ((child.stdout, sys.stdout), (child.stderr, sys.stderr))]
            for pump in pumps:
                pump.start()
            running[ready.name] = (ready, child, time.monotonic(), pumps)
            with lock:
                print(f"started {ready.name}" + (f" (after {', '.join(n for n in ready.after if n in given)})"
                                                 if any(n in given for n in ready.after) else ""), flush=True)
        if not running:
            break  # nothing can start: halted, or stopped
        time.sleep(0.1)
        for name, (nb, child, start, pumps) in list(running.items()):
            code = child.poll()
            if code is None:
                continue
            for pump in pumps:
                pump.join()
            del running[name]
            stop.children.remove(child)
            status = "ok" if code == 0 else "interrupted" if code > 128 or code < 0 else "failed"
            outcomes[name] = Outcome(status, seconds=time.monotonic() - start, rerun=_rerun(nb, options))
            with lock:
                print(f"finished {name}: {status} ({outcomes[name].seconds:.1f} s)", flush=True)
            if status == "failed" and not args.keep_going:
                halted = True
    return outcomes


def run(args: argparse.Namespace) -> int:
    root = repo_root()
    notebooks_dir = (args.notebooks or root / "notebooks").expanduser().resolve()
    selected = run_order(select(discover(notebooks_dir), args.only))
    if args.list:
        width = max(len(nb.name) for nb in selected)
        print("\n".join(f"{nb.name.ljust(width)}  [{', '.join(nb.datasets) or '-'}]  {nb.description}".rstrip()
                        + (f"  (after {', '.join(nb.after)})" if nb.after else "") for nb in selected))
        return 0
    jobs = check_int("jobs", args.jobs, 1)
    out_dir = (args.output or root / "outputs").expanduser().resolve()
    mirror = args.mirror.expanduser().resolve() if args.mirror is not None else None
    profile = args.profile or default_profile()
    parameters = _parameters(args, profile, out_dir, notebooks_dir)
    shares = notebook_parameters(selected, parameters)
    for nb in selected:  # every value a kernel would refuse is refused now, before one starts
        check_parameters(nb, shares[nb.name], notebooks_dir)
    options = rerun_arguments(args, profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"charlm reproduce: profile {profile}, {len(selected)} notebook(s), outputs in {out_dir}", flush=True)
    with StopSignals() as stop:
        if jobs > 1 and len(selected) > 1:
            outcomes = _run_parallel(selected, out_dir, args, options, stop)
        else:
            outcomes = _run_serial(selected, out_dir, shares, mirror, options, args.keep_going, stop)
        # Sections an earlier run left not done stay so until a record of theirs appears (by a rerun here or by
        # the notebook run by hand); this run's failures and stops join them, their records removed.
        records = out_dir / results.RESULTS_SUBDIR
        not_done = {k: v for k, v in _previous_not_done(out_dir).items()
                    if k not in outcomes and not (records / f"{k}.json").is_file()}
        not_done.update({name: _what_happened(o, stop.signum) for name, o in outcomes.items() if o.status != "ok"})
        if not args.no_summary:
            md_path, _ = results.write_summary(out_dir, not_done)
            records = results.load_all(out_dir)
            if records:
                print("\n" + results.terminal_table(records))
            print(f"\nresults: {md_path}")
    not_run = [nb.name for nb in selected if nb.name not in outcomes]
    failed = [nb.name for nb in selected if nb.name in outcomes and outcomes[nb.name].status == "failed"]
    if stop.signum is not None:
        stopped = [nb.name for nb in selected if nb.name in outcomes and outcomes[nb.name].status == "interrupted"]
        print(f"stopped by {signal.Signals(stop.signum).name}: "
              + (f"{', '.join(stopped)} interrupted (a training run, if one was running, saved last/ to resume from)"
                 if stopped else "no notebook was running")
              + (f"; not run: {', '.join(not_run)}" if not_run else "")
              + (f"; rerun: {outcomes[stopped[0]].rerun}" if stopped else ""), file=sys.stderr, flush=True)
        return 128 + stop.signum
    if failed:
        if jobs > 1 and len(selected) > 1:
            for name in failed:
                print(f"  rerun {name} alone: {outcomes[name].rerun}", file=sys.stderr)
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}"
              + (f"; not run: {', '.join(not_run)} (use --keep-going to run past failures)" if not_run else ""),
              file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), error_status=2)


if __name__ == "__main__":
    sys.exit(main())
