"""The base of every error radsim reports to its user.

Each stage raises its own subclass (``ConfigError``, ``ImagingError``, ``ShardError``, ...), with a message that
names the key, file or rank concerned, the cause and what to do. The command line prints any
:class:`RadsimError` as one ``radsim: error: ...`` line; every other exception is a bug and keeps its traceback.
Subclasses that describe a bad value also derive from ``ValueError`` (and so on), so library callers may catch
those as usual.
"""


class RadsimError(Exception):
    """An error the user can act on (bad input, a missing program, a full disk); never a bug. The command line
    exits with ``exit_status``: 2 for bad input, 1 where the environment failed (a write, a rank)."""

    exit_status = 2
