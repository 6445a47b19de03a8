"""The one exception type users see: its message is a single line naming the problem and the fix."""


class CharlmError(Exception):
    """A user-facing error. The CLI prints ``str(err)`` on one line and exits non-zero, without a traceback."""
