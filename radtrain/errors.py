"""The base of every error radtrain reports to its user (see radsim.errors for the convention): the command
line prints a :class:`RadtrainError` as one ``radtrain: error: ...`` line; any other exception is a bug and keeps
its traceback."""


class RadtrainError(Exception):
    """An error the user can act on (bad config, unusable dataset or run directory, a full disk); never a bug. The
    command line exits with ``exit_status``."""

    exit_status = 2
