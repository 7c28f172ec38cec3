"""Sharded HDF5 tiles: the contract between simulation and training (dataset layout version 1).

A shard ``shards/rank{R:04d}-{K:04d}.h5`` holds whole realisations:

=================  ===============================  =================================================
dataset            shape, dtype                     meaning
=================  ===============================  =================================================
images             (N, T, T) float32                tiles (Jy/beam, or Jy/pixel for backend none);
                                                    one tile per chunk, Fletcher32 checksums
labels             (N, n_bins) float32              sources per label flux bin
expected           (N, n_bins) float32              the counts model's expectation per bin
realisation        (N,) int64                       realisation index of each tile
tile_origin        (N, 2) int32                     (row, column) of the tile in its image
realisations       (M,) compound                    one row per realisation: id, set_index, repeat,
                                                    seed, modifier (JSON), n_sources, noise_rms_jy,
                                                    beam_major_arcsec, beam_minor_arcsec, beam_pa_deg,
                                                    the rank that made it and its per-stage wall
                                                    times (s): catalogue, render, labels, image,
                                                    tiles, write
=================  ===============================  =================================================

File attributes: ``format_version``, ``bin_edges_jy``, ``tile_size`` and any attributes the writer is given
(config hash, pixel scale, frequency, imaging backend, ...). A shard is written under a hidden temporary name
and renamed when complete (fsync first), so a shard under its final name is always whole; the writer rolls
over to a new shard when one exceeds ``max_bytes``.

This module is the one documented way to read a dataset (radtrain imports it)::

    from radsim.shards import Dataset
    ds = Dataset("runs/sim")                       # checks the manifest; refuses an unfinished dataset
    train = ds.load("train")                       # dict of numpy arrays: images, labels, realisation, ...
    ds.bin_edges_jy, ds.tile_size, ds.pixel_deg    # what the tiles are
    for path in ds.shards_for("train"): ...        # or shard by shard (e.g. disjoint shards per rank)
    ds.load("train", shards=my_paths)              # the split's tiles of some shards only

A dataset directory holds ``manifest.json`` (written by radsim.dataset) and ``shards/*.h5``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
FORMAT = "radsim-dataset"
MANIFEST = "manifest.json"
SHARDS = "shards"
SPLITS = ("train", "validation", "test")
TILE_DATASETS = ("images", "labels", "expected", "realisation", "tile_origin")
REALISATION_DTYPE = np.dtype([
    ("id", "<i8"), ("set_index", "<i8"), ("repeat", "<i8"), ("seed", "<i8"), ("modifier", "S4096"),
    ("n_sources", "<i8"), ("noise_rms_jy", "<f8"), ("beam_major_arcsec", "<f8"), ("beam_minor_arcsec", "<f8"),
    ("beam_pa_deg", "<f8"), ("rank", "<i4"), ("catalogue_s", "<f8"), ("render_s", "<f8"), ("labels_s", "<f8"),
    ("image_s", "<f8"), ("tiles_s", "<f8"), ("write_s", "<f8")])
STAGES = ("catalogue", "render", "labels", "image", "tiles", "write")


class ShardError(ValueError):
    """A shard that cannot be read or does not verify; the message names the file."""


@dataclass
class ShardInfo:
    path: Path
    realisations: list[int] = field(default_factory=list)
    n_tiles: int = 0


def shard_name(rank: int, sequence: int) -> str:
    return f"rank{rank:04d}-{sequence:04d}.h5"


class ShardWriter:
    """Appends realisations to shards of one rank, rolling over at ``max_bytes``."""

    def __init__(self, directory, rank: int, *, tile_size: int, bin_edges_jy, attrs: dict | None = None,
                 max_bytes: int = 2 ** 31, compression: str | None = None, first_sequence: int = 0):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.tile_size = int(tile_size)
        self.bin_edges = np.asarray(bin_edges_jy, dtype=float)
        self.attrs = dict(attrs or {})
        self.max_bytes = int(max_bytes)
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
        f = h5py.File(self._tmp, "w")
        t, nb = self.tile_size, self.bin_edges.size - 1
        opts = {"fletcher32": True, "compression": self.compression}
        f.create_dataset("images", (0, t, t), np.float32, maxshape=(None, t, t), chunks=(1, t, t), **opts)
        f.create_dataset("labels", (0, nb), np.float32, maxshape=(None, nb), chunks=(256, nb), **opts)
        f.create_dataset("expected", (0, nb), np.float32, maxshape=(None, nb), chunks=(256, nb), **opts)
        f.create_dataset("realisation", (0,), np.int64, maxshape=(None,), chunks=(1024,), **opts)
        f.create_dataset("tile_origin", (0, 2), np.int32, maxshape=(None, 2), chunks=(1024, 2), **opts)
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
        with open(self._tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self._info.path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.completed.append(self._info)
        self.sequence += 1

    def add(self, index: int, tiles, labels, expected, tile_origin, row: dict) -> float:
        """Append one realisation's tiles; ``row`` fills the ``realisations`` table (missing fields are 0;
        ``write_s`` is measured here). Returns the seconds spent writing."""
        t0 = time.perf_counter()
        tiles = np.asarray(tiles, dtype=np.float32)
        n = tiles.shape[0]
        if tiles.shape[1:] != (self.tile_size, self.tile_size):
            raise ShardError(f"tiles of shape {tiles.shape[1:]} do not match the tile size {self.tile_size}")
        if self._file is None:
            self._open()
        f = self._file
        for name, value in (("images", tiles), ("labels", labels), ("expected", expected),
                            ("realisation", np.full(n, index)), ("tile_origin", tile_origin)):
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
        if self._bytes >= self.max_bytes:
            self._finish()
        return time.perf_counter() - t0

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


# --------------------------------------------------------------------------------------------------------------
# reading and verifying

def open_shard(path):
    """Open a shard read-only, with a clear error when it is not a readable radsim shard."""
    import h5py
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"{path}: shard not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ShardError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    missing = [d for d in (*TILE_DATASETS, "realisations") if d not in f]
    version = f.attrs.get("format_version")
    if missing:
        f.close()
        raise ShardError(f"{path}: not a radsim shard (missing datasets {missing})")
    if version != FORMAT_VERSION:
        f.close()
        raise ShardError(f"{path}: shard format version {version}, this radsim reads {FORMAT_VERSION}")
    return f


def shard_table(path) -> tuple[np.ndarray, int, str]:
    """A shard's realisations table, number of tiles and tiles hash, read without the tile data."""
    try:
        with open_shard(path) as f:
            th = f.attrs.get("tiles_hash", "")
            return f["realisations"][...], int(f["images"].shape[0]), th.decode() if isinstance(th, bytes) else str(th)
    except OSError as exc:
        raise ShardError(f"{path}: cannot read the realisations table: {exc}") from None


def read_shard(path, datasets=TILE_DATASETS) -> dict:
    """Every requested dataset of a shard as numpy arrays (checksums verified by reading), plus the table."""
    with open_shard(path) as f:
        try:
            out = {name: f[name][...] for name in datasets}
            out["realisations"] = f["realisations"][...]
        except OSError as exc:
            raise ShardError(f"{path}: data do not verify (Fletcher32 checksum or read failure): {exc}") from None
        out["attrs"] = dict(f.attrs)
    return out


def _read_rows(path, names, select) -> dict:
    """The rows ``select(realisation column)`` (sorted indices) of the named datasets of a shard. A realisation's
    tiles are contiguous, so the rows are read as a few slices: only the chunks of the wanted tiles are read
    (and their checksums verified), not the whole shard."""
    with open_shard(path) as f:
        try:
            idx = np.asarray(select(f["realisation"][...]), dtype=np.int64)
            cuts = np.flatnonzero(np.diff(idx) != 1) + 1
            runs = [(int(r[0]), int(r[-1]) + 1) for r in np.split(idx, cuts) if r.size]
            return {name: np.concatenate([f[name][a:b] for a, b in runs]) if runs else f[name][:0]
                    for name in names}
        except OSError as exc:
            raise ShardError(f"{path}: data do not verify (Fletcher32 checksum or read failure): {exc}") from None


def verify_shard(path) -> list[str]:
    """Problems found in one shard (empty when it verifies): opens, every chunk's checksum, consistent lengths,
    realisation ids matching the table."""
    try:
        d = read_shard(path)
    except ShardError as exc:
        return [str(exc)]
    problems = []
    n = d["images"].shape[0]
    for name in TILE_DATASETS[1:]:
        if d[name].shape[0] != n:
            problems.append(f"{path}: {name} has {d[name].shape[0]} rows, images {n}")
    ids = np.unique(d["realisation"])
    table = np.sort(d["realisations"]["id"])
    if not np.array_equal(ids, table):
        problems.append(f"{path}: tiles of realisations {ids.tolist()} but table lists {table.tolist()}")
    if d["labels"].shape[1] != len(d["attrs"]["bin_edges_jy"]) - 1:
        problems.append(f"{path}: labels have {d['labels'].shape[1]} bins, bin_edges_jy {len(d['attrs']['bin_edges_jy'])}")
    return problems


# --------------------------------------------------------------------------------------------------------------
# reading a dataset

def read_manifest(directory) -> dict:
    """The manifest of a dataset directory, checked for format and version."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ShardError(f"{path}: missing (not a radsim dataset directory?)") from None
    except (OSError, ValueError) as exc:
        raise ShardError(f"{path}: cannot read the manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ShardError(f"{path}: not a radsim dataset manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ShardError(f"{path}: dataset format version {manifest.get('format_version')}, this radsim reads "
                         f"{FORMAT_VERSION}")
    return manifest


def tile_split(realisation, seed: int, fractions: dict) -> np.ndarray:
    """Split name of every tile for a per-tile split: tile k of realisation i draws u from the stream
    ``SeedSequence(seed, spawn_key=(2, i))`` (k-th number; tiles in the order written) and goes to train when
    u < f_train, to validation when u < f_train + f_validation, else to test."""
    realisation = np.asarray(realisation)
    out = np.empty(realisation.shape, dtype=object)
    cuts = np.cumsum([fractions["train"], fractions["validation"]])
    for i in np.unique(realisation):
        where = np.flatnonzero(realisation == i)
        u = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, int(i)))).random(where.size)
        out[where] = np.array(SPLITS, dtype=object)[np.searchsorted(cuts, u, side="right")]
    return out


class Dataset:
    """A radsim dataset opened for reading. ``allow_incomplete`` admits one whose simulation has not finished
    (its manifest lists what was complete when it was last written)."""

    def __init__(self, directory, allow_incomplete: bool = False):
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        m = self.manifest
        if m["status"] != "complete" and not allow_incomplete:
            raise ShardError(f"{self.directory}: the simulation has not finished ({m['done']} of {m['planned']} "
                             f"realisations, status {m['status']!r}); run `radsim simulate` again to complete it")
        self.bin_edges_jy = np.asarray(m["bin_edges_jy"])
        self.tile_size = int(m["tile_size"])
        self.pixel_deg = float(m["pixel_deg"])
        self.frequency_hz = float(m["frequency_hz"])
        self.image_units = m["image_units"]
        self.split = m["split"]

    @property
    def shard_paths(self) -> list[Path]:
        return [self.directory / s["path"] for s in self.manifest["shards"]]

    def realisations(self, split: str) -> list[int]:
        """Realisation ids with tiles in a split (all realisations for a per-tile split)."""
        done = sorted(r["id"] for r in self.manifest["realisations"])
        if self.split["by"] == "tile":
            return done
        members = set(self.split[self._check(split)])
        return [i for i in done if i in members]

    def shards_for(self, split: str) -> list[Path]:
        """The shards that hold tiles of a split."""
        wanted = set(self.realisations(split))
        return [self.directory / s["path"] for s in self.manifest["shards"] if wanted & set(s["realisations"])]

    def _check(self, split):
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
        return split

    def load(self, split: str, shards=None, datasets=TILE_DATASETS) -> dict:
        """The tiles of a split as numpy arrays (concatenated over ``shards``, by default all of the split's),
        checksums verified while reading."""
        self._check(split)
        names = tuple(dict.fromkeys(("realisation", *datasets)))
        parts = {name: [] for name in names}
        members = None if self.split["by"] == "tile" else set(self.split[split])
        for path in (self.shards_for(split) if shards is None else shards):
            for name, rows in _read_rows(path, names, lambda real: np.flatnonzero(
                    tile_split(real, self.split["seed"], self.split["fractions"]) == split if members is None
                    else np.isin(real, list(members)))).items():
                parts[name].append(rows)
        t, nb = self.tile_size, self.bin_edges_jy.size - 1
        empty = {"images": (0, t, t), "labels": (0, nb), "expected": (0, nb), "realisation": (0,),
                 "tile_origin": (0, 2)}
        return {name: np.concatenate(p) if p else np.zeros(empty[name], np.float32) for name, p in parts.items()
                if name in datasets}
