"""The ``radtrain`` command line.

Training, evaluation and prediction are not implemented yet (they come with the radtrain issue); until then the
command only answers --help and --version and says so, rather than pretending to work.
"""
from __future__ import annotations

import argparse
import sys

from radtrain import __version__


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="radtrain",
                                description="Train a CNN on radsim tiles to read N(S) back (not implemented yet: "
                                            "this version of radtrain has no commands).")
    p.add_argument("--version", action="version", version=f"radtrain {__version__}")
    p.parse_args(argv)
    print("radtrain: no commands in this version; training arrives with the radtrain issue", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
