"""The one exception type users see: its message is a single line naming the problem and the fix."""

import sys
from typing import Callable


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
