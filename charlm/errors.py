"""The one exception type users see: its message is a single line naming the problem and the fix."""

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
    except OSError as err:  # a file-system error the code did not foresee: still one line saying what and where
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}; check the path, its permissions and the free space", file=sys.stderr)
        return error_status


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int within bounds, or a CharlmError naming the setting (a bool or 32.5 is not an int)."""
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
