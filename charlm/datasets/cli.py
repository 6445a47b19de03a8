"""The command line of data/download.py: prepare named data sets, or --list what is there."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, Sequence

from charlm.datasets.http import NoNetworkError
from charlm.datasets.mirror import read_manifest
from charlm.datasets.sources import NAMES, SOURCES, _source
from charlm.datasets.store import default_mirror, default_root, meta, prepare, status
from charlm.errors import CharlmError, run_command


def _list(names: Iterable[str], root: Path, full: bool) -> None:
    rows = [("name", "present", "bytes", "verified", "source")]
    for name in names:
        variants = [False, True] if name == "linux" else [False]
        for is_full in variants:
            st = status(name, root, full=is_full)
            if is_full and not (st["present"] or full):
                continue  # the whole-tree variant is listed once it exists or was asked about
            source = st["source"] + ("  (PARTIAL: prefix only)" if st["partial"] else "")
            rows.append((name + (" --full" if is_full else ""), "yes" if st["present"] else "no",
                         f"{st['bytes']:,}" if st["present"] else "-",
                         ("yes" if st["verified"] else "NO") if st["present"] else "-", source))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    print(f"(data root: {root})")


def _report(name: str, text: Path, root: Path, full: bool) -> None:
    info = meta(name, root, full=full)
    line = f"{name}: {text} ({info['bytes']:,} bytes, {info['chars']:,} chars, verified)"
    if info.get("partial"):
        line += f" PARTIAL: {info['note']}"
    print(line)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="data/download.py",
        description="Fetch, verify and prepare the corpora of 'The Unreasonable Effectiveness of RNNs' into <root>/<name>/input.txt.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"data sets to prepare: {', '.join(NAMES)}, or all")
    p.add_argument("--list", action="store_true", help="show each data set: present, size, verified, source")
    p.add_argument("--force", action="store_true", help="fetch and prepare again even if a verified copy exists")
    p.add_argument("--mirror", metavar="DIR", help="offline mirror with MANIFEST.tsv (default: $CHARLM_DATA_MIRROR)")
    p.add_argument("--root", metavar="DIR", help="where prepared data sets live (default: $CHARLM_DATA_DIR or data/)")
    p.add_argument("--full", action="store_true", help="linux: the whole kernel tree (as the post) instead of the default subset")
    p.add_argument("--quiet", action="store_true", help="no progress bars or source/licence notes")
    return p


def _run(args: argparse.Namespace) -> int:
    root = Path(args.root).expanduser() if args.root else default_root()
    mirror = Path(args.mirror).expanduser() if args.mirror else default_mirror()
    everything = "all" in args.names
    names = list(NAMES) if everything else list(dict.fromkeys(args.names))
    for name in names:
        _source(name, SOURCES)
    if args.list:
        _list(names or NAMES, root, args.full)
        return 0
    if not names:
        raise CharlmError(f"name a data set or use --list; choose from: {', '.join(NAMES)}, all")
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    in_mirror = set(read_manifest(mirror)) if mirror and everything else set()
    skipped: list[str] = []
    failed = 0
    for name in names:
        src = SOURCES[name]
        full = args.full and name == "linux"
        offline_only = src.mirror_name is not None and src.mirror_name in in_mirror and not full
        if everything and mirror and src.url and not offline_only:
            # Not in the mirror: only a copy already verified here is used, and it is hashed once, here.
            st = status(name, root, full=full)
            if not st["verified"]:
                what = "the whole Linux tree (--full)" if full else name
                skipped.append(f"skipped {name}: {what} is not in the mirror; on a machine with internet run: python data/download.py {name}{' --full' if full else ''}")
                continue
            if not args.force:
                _report(name, st["path"], root, full)
                continue
        try:
            text = prepare(src, root=root, mirror=mirror, force=args.force, full=full, progress=not args.quiet, say=say)
        except NoNetworkError:
            raise  # every later set would fail the same way
        except CharlmError as err:
            if not everything:
                raise
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        _report(name, text, root, full)
    for line in skipped:
        print(line)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line of data/download.py; errors are one line on stderr and exit status 1."""
    args = _parser().parse_args(argv)
    return run_command(lambda: _run(args),
                       interrupted="error: interrupted; run the same command again to resume the download")
