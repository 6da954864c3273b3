"""The one usage error every ``repro`` subcommand raises, and ``cli.main`` turns into exit 2.

Exit codes (``cli.py``): 0 success, 1 the data or the check failed, 2 the command could not do
its job as asked, because an input cannot be read (missing, a directory, no permission) or an
output cannot be written. Subcommands raise :class:`UsageError` with a one-line message instead
of each printing and returning 2 its own way.
"""

from __future__ import annotations


class UsageError(Exception):
    """The command cannot run as asked; the message says what to fix (no traceback)."""


class UnreadableInput(UsageError):
    """An input file cannot be read: ``cannot read PATH: reason``."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = str(path)
        self.reason = reason
