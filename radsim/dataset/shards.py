"""Writing shards: each rank appends whole realisations to its own HDF5 files (the format is defined in
radsim.dataset.reader). A shard is written under a hidden temporary name and renamed when complete (fsync
first), so a shard under its final name is always whole; the writer rolls over to a new shard when one exceeds
``max_bytes``.
"""
from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radsim.dataset import atomic
from radsim.dataset.reader import FORMAT_VERSION, REALISATION_DTYPE, ShardError

RESERVE_BYTES = 128 << 10    # room kept free to complete a shard (its metadata) and write the logs


@dataclass
class ShardInfo:
    path: Path
    realisations: list[int] = field(default_factory=list)
    n_tiles: int = 0


def shard_name(rank: int, sequence: int) -> str:
    return f"rank{rank:04d}-{sequence:04d}.h5"


class ShardWriter:
    """Appends realisations to shards of one rank. A shard is completed (renamed to its final name, so its
    realisations count as done) when it reaches ``max_bytes``, when ``commit_interval_s`` have passed since it was
    started, and on :meth:`commit` or :meth:`close`: a kill loses at most the realisations of the last interval."""

    def __init__(self, directory, rank: int, *, tile_size: int, bin_edges_jy, attrs: dict | None = None,
                 max_bytes: int = 2 ** 31, compression: str | None = None, first_sequence: int = 0,
                 commit_interval_s: float = float("inf"), reserve_bytes: int = 0):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.tile_size = int(tile_size)
        self.bin_edges = np.asarray(bin_edges_jy, dtype=float)
        self.attrs = dict(attrs or {})
        self.max_bytes = int(max_bytes)
        self.commit_interval_s = float(commit_interval_s)
        self.reserve_bytes = RESERVE_BYTES + int(reserve_bytes)
        self.compression = None if compression in (None, "none") else compression
        self.sequence = first_sequence
        self.completed: list[ShardInfo] = []
        self._file = None
        self._tmp = None
        self._info = None

    # -- shard life cycle
    def _open(self):
        import h5py
        final = self.directory / shard_name(self.rank, self.sequence)
        self._tmp = final.with_name(f".{final.name}.tmp")
        self._info = ShardInfo(final)
        self._bytes = 0
        self._opened = time.monotonic()
        f = h5py.File(self._tmp, "w")
        t, nb = self.tile_size, self.bin_edges.size - 1
        opts = {"fletcher32": True, "compression": self.compression}
        f.create_dataset("images", (0, t, t), np.float32, maxshape=(None, t, t), chunks=(1, t, t), **opts)
        f.create_dataset("labels", (0, nb), np.float32, maxshape=(None, nb), chunks=(256, nb), **opts)
        f.create_dataset("expected", (0, nb), np.float32, maxshape=(None, nb), chunks=(256, nb), **opts)
        f.create_dataset("realisation", (0,), np.int64, maxshape=(None,), chunks=(1024,), **opts)
        f.create_dataset("tile_origin", (0, 2), np.int32, maxshape=(None, 2), chunks=(1024, 2), **opts)
        f.create_dataset("tile_noise", (0,), np.float32, maxshape=(None,), chunks=(1024,), **opts)
        f.create_dataset("realisations", (0,), REALISATION_DTYPE, maxshape=(None,), chunks=(8,), fletcher32=True)
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["bin_edges_jy"] = self.bin_edges
        f.attrs["tile_size"] = self.tile_size
        for k, v in self.attrs.items():
            f.attrs[k] = v
        self._file = f

    def _finish(self):
        if self._file is None:
            return
        self._file.flush()
        self._file.close()
        self._file = None
        atomic.commit(self._tmp, self._info.path)
        self.completed.append(self._info)
        self.sequence += 1

    def add(self, index: int, tiles, labels, expected, tile_origin, row: dict, tile_noise=None) -> float:
        """Append one realisation's tiles; ``row`` fills the ``realisations`` table (missing fields are 0;
        ``write_s`` is measured here); ``tile_noise`` (Jy/beam per tile) defaults to the row's noise_rms_jy.
        Returns the seconds spent writing."""
        t0 = time.perf_counter()
        tiles = np.asarray(tiles, dtype=np.float32)
        n = tiles.shape[0]
        if tile_noise is None:
            tile_noise = np.full(n, row.get("noise_rms_jy", 0.0), np.float32)
        if tiles.shape[1:] != (self.tile_size, self.tile_size):
            raise ShardError(f"tiles of shape {tiles.shape[1:]} do not match the tile size {self.tile_size}")
        self._check_space(sum(np.asarray(v).nbytes for v in (tiles, labels, expected, tile_origin)))
        if self._file is None:
            self._open()
        f = self._file
        for name, value in (("images", tiles), ("labels", labels), ("expected", expected),
                            ("realisation", np.full(n, index)), ("tile_origin", tile_origin),
                            ("tile_noise", tile_noise)):
            d = f[name]
            start = d.shape[0]
            d.resize(start + n, axis=0)
            d[start:] = np.asarray(value, dtype=d.dtype)
        rec = np.zeros(1, REALISATION_DTYPE)
        for key in REALISATION_DTYPE.names:
            if key in row:
                rec[key] = json.dumps(row[key]).encode() if key == "modifier" else row[key]
        rec["id"] = index
        rec["rank"] = self.rank
        rec["write_s"] = time.perf_counter() - t0
        r = f["realisations"]
        r.resize(r.shape[0] + 1, axis=0)
        r[-1] = rec[0]
        self._info.realisations.append(int(index))
        self._info.n_tiles += n
        # rollover by the bytes of data written (no flush and stat per realisation); the file is a little
        # larger (metadata, checksums)
        self._bytes += sum(np.asarray(v).nbytes for v in (tiles, labels, expected, tile_origin)) + rec.nbytes
        if self._bytes >= self.max_bytes or time.monotonic() - self._opened >= self.commit_interval_s:
            self._finish()
        return time.perf_counter() - t0

    def _check_space(self, nbytes: int) -> None:
        """Refuse a write the file system has no room for, before HDF5 meets the full disk (it then reports the
        failure only when its caches are flushed, from destructors, and can crash on close). The open shard is
        completed first, with the room kept in reserve for that, so every realisation already written is kept."""
        st = os.statvfs(self.directory)
        free = st.f_bavail * st.f_frsize
        # the shard's metadata (chunk index) grows with it: keep about 1/256 of it besides the fixed reserve
        reserve = self.reserve_bytes + (self._bytes // 256 if self._file is not None else 0)
        if free >= 2 * nbytes + reserve:
            return
        self._finish()
        raise OSError(errno.ENOSPC, f"No space left on device ({free / 2 ** 20:.2f} MiB free, a realisation needs "
                                    f"{nbytes / 2 ** 20:.2f} MiB and {reserve / 2 ** 20:.2f} MiB are kept to "
                                    f"complete the shard and the manifest)", str(self.directory))

    def commit(self) -> None:
        """Complete the open shard now (the next realisation starts a new one)."""
        self._finish()

    @property
    def pending(self) -> list[int]:
        """Realisations in the open shard, not yet committed."""
        return list(self._info.realisations) if self._file is not None else []

    def close(self) -> list[ShardInfo]:
        """Finish the open shard; returns every shard this writer completed."""
        self._finish()
        return self.completed

    def abort(self) -> None:
        """Drop the shard being written (its realisations were not completed into a shard)."""
        if self._file is not None:
            try:
                self._file.close()
            except Exception:   # noqa: BLE001 - e.g. a full disk: the file is dropped anyway
                pass
            self._file = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()

