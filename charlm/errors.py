"""The one exception type users see: its message is a single line naming the problem and the fix."""

import errno
import math
import sys
from typing import Callable, Iterable


class CharlmError(Exception):
    """A user-facing error. The CLI prints ``str(err)`` on one line and exits non-zero, without a traceback."""


def run_command(command: Callable[[], int], interrupted: str = "interrupted", error_status: int = 1) -> int:
    """Run a command-line entry point: a CharlmError becomes one 'error: ...' line on stderr, never a traceback."""
    try:
        return command()
    except CharlmError as err:
        print(f"error: {err}", file=sys.stderr)
        return error_status
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    except BrokenPipeError:  # `charlm sample ... | head` is a normal way to use a command
        return 0
    except OSError as err:  # a file-system error met outside a checkpoint write: still one line, what and where
        print(f"error: {os_error_message(err)}", file=sys.stderr)
        return error_status


def os_error_message(err: OSError, where: object = None) -> str:
    """One line for a file-system error: what happened, where, and what to do."""
    where = where if where is not None else (err.filename or "a file")
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the disk of {where}; free some space and run again"
    if err.errno == errno.EROFS:
        return f"{where} is on a read-only file system; choose a writable location"
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{where}: a part of that path is a file, not a directory; give a directory path"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write {where}; choose a location you can write to"
    return f"cannot use {where}: {err.strerror or err}; check the path"


def _setting(name: str) -> str:
    """A setting as both its Python and its command-line name: ``eval_interval (--eval-interval)``."""
    return f"{name} (--{name.replace('_', '-')})" if name.isidentifier() else name


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int within bounds, or a CharlmError naming the setting (a bool or 32.5 is not an int)."""
    name = _setting(name)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON and YAML write 40.0 for 40
        else:
            raise CharlmError(f"{name} must be a whole number, not {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise CharlmError(f"{name} is {value}; it must be {bounds}")
    return value


def check_float(name: str, value: object, minimum: float | None = None, *, above: bool = False,
                maximum: float | None = None) -> float:
    """``value`` as a finite float, >= minimum (> minimum with ``above``) and <= maximum, or a CharlmError."""
    name = _setting(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CharlmError(f"{name} must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise CharlmError(f"{name} is {value}; it must be a finite number")
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise CharlmError(f"{name} is {value:g}; it must be {'above' if above else 'at least'} {minimum:g}")
    if maximum is not None and value > maximum:
        raise CharlmError(f"{name} is {value:g}; it must be at most {maximum:g}")
    return value


def check_keys(what: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Unknown keys are typos: name them and list the valid ones, rather than silently ignoring them."""
    valid = sorted(valid)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise CharlmError(f"unknown {what} {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")
