"""Files appear under their final name only when complete: the one atomic-write helper of radsim and radtrain.

Every writer of both programs goes through here: write to a hidden temporary name in the same directory, fsync
the data, rename onto the final name (atomic within a file system, POSIX rename(2)), fsync the directory so the
rename itself survives a crash. A process killed at any moment therefore leaves either the old file or the new
one, never a torn one; a temporary left behind by a kill is hidden (leading dot) and removed by the next writer.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np


def temporary_name(path: str | Path) -> Path:
    """The hidden temporary beside ``path`` (``.tmp-<pid>-<name>``); it keeps the name's suffix, which some
    writers (Keras, astropy) read to choose a format."""
    path = Path(path)
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def fsync_directory(directory: str | Path) -> None:
    """Make a rename or a new entry in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: str | Path, final: str | Path) -> None:
    """fsync the file ``tmp``, rename it onto ``final`` and fsync the parent directory."""
    tmp, final = Path(tmp), Path(final)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_directory(final.parent)


def remove(path: str | Path) -> None:
    """Remove a file or a directory tree if it is there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path`` for the caller to write; on success commit it onto ``path``; on any
    exception remove it."""
    path = Path(path)
    tmp = temporary_name(path)
    remove(tmp)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        if tmp.exists():
            remove(tmp)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path: str | Path, obj, indent: int | None = 1) -> None:
    """``obj`` as JSON (numpy scalars and arrays as numbers and lists), newline-terminated."""
    write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def read_record(path: str | Path, fmt: str, error: type[Exception], missing: str) -> dict:
    """A JSON record (written by :func:`write_json`) whose ``format`` is ``fmt``. Failures raise ``error`` naming
    the path: ``missing`` when there is no file, else why it cannot be read or is not such a record."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(missing) from None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != fmt:
        raise error(f"{path}: not a {fmt} record")
    return record


def stale_temporaries(directory: str | Path) -> list[Path]:
    """Temporaries left in ``directory`` by killed writers (``.tmp-<pid>-*`` of processes no longer alive)."""
    out = []
    for p in Path(directory).glob(".tmp-*-*"):
        pid = p.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            out.append(p)
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def save_figure(fig, path: str | Path, **savefig_kwargs) -> Path:
    """A matplotlib figure written atomically (the format from ``path``'s suffix)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or None, **savefig_kwargs)
    return Path(path)
