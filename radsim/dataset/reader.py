"""The one way to read a radsim dataset: the contract between simulation and training (layout version 1).

A dataset directory holds ``manifest.json`` (radsim.dataset.layout writes it) and ``shards/*.h5`` (radsim.dataset.shards
writes them). A shard ``shards/rank{R:04d}-{K:04d}.h5`` holds whole realisations:

=================  ===============================  =================================================
dataset            shape, dtype                     meaning
=================  ===============================  =================================================
images             (N, T, T) float32                tiles (Jy/beam, or Jy/pixel for backend none);
                                                    one tile per chunk, Fletcher32 checksums
labels             (N, n_bins) float32              sources per label flux bin
expected           (N, n_bins) float32              the counts model's expectation per bin
realisation        (N,) int64                       realisation index of each tile
tile_origin        (N, 2) int32                     (row, column) of the tile in its image
tile_noise         (N,) float32                     the tile's thermal noise (Jy/beam; median of the
                                                    mosaic's noise map over the tile)
realisations       (M,) compound                    one row per realisation: id, set_index, repeat,
                                                    seed, modifier (JSON), n_sources, noise_rms_jy,
                                                    beam_major_arcsec, beam_minor_arcsec, beam_pa_deg,
                                                    the rank that made it and its per-stage wall
                                                    times (s): catalogue, render, labels, image,
                                                    tiles, write
=================  ===============================  =================================================

File attributes: ``format_version``, ``bin_edges_jy``, ``tile_size`` and the writer's (config hash, pixel
scale, frequency, imaging backend, ...). A shard under its final name is always whole.

radtrain imports this module and nothing else of radsim's (besides the residual metrics and the atomic-write
helper beside it)::

    from radsim.dataset.reader import Dataset
    ds = Dataset("runs/sim")                       # checks the manifest; refuses an unfinished dataset
    train = ds.load("train")                       # dict of numpy arrays: images, labels, realisation, ...
    ds.bin_edges_jy, ds.tile_size, ds.pixel_deg    # what the tiles are
    ds.tiles_per_shard("train")                    # {shard path: tiles of the split in it}
    ds.records("train")                            # one dict per realisation: id, modifier, beam, noise, ...
    ds.load("train", shards=my_paths)              # the split's tiles of some shards only
    ds.load_realisations([3, 4])                   # the tiles of some skies, whatever their split
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from radsim.dataset import atomic
from radsim.errors import RadsimError

FORMAT_VERSION = 2           # 2: tile_noise
FORMAT = "radsim-dataset"
MANIFEST = "manifest.json"
SHARDS = "shards"
SPLITS = ("train", "validation", "test")
TILE_DATASETS = ("images", "labels", "expected", "realisation", "tile_origin", "tile_noise")
REALISATION_DTYPE = np.dtype([
    ("id", "<i8"), ("set_index", "<i8"), ("repeat", "<i8"), ("seed", "<i8"), ("modifier", "S4096"),
    ("n_sources", "<i8"), ("noise_rms_jy", "<f8"), ("beam_major_arcsec", "<f8"), ("beam_minor_arcsec", "<f8"),
    ("beam_pa_deg", "<f8"), ("rank", "<i4"), ("catalogue_s", "<f8"), ("render_s", "<f8"), ("labels_s", "<f8"),
    ("image_s", "<f8"), ("tiles_s", "<f8"), ("write_s", "<f8"), ("clean_stop", "S16")])
STAGES = ("catalogue", "render", "labels", "image", "tiles", "write")


class ShardError(RadsimError, ValueError):
    """A shard that cannot be read or does not verify; the message names the file."""


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
    table, n_tiles, attrs = shard_summary(path)
    return table, n_tiles, attrs.get("tiles_hash", "")


def shard_summary(path) -> tuple[np.ndarray, int, dict]:
    """A shard's realisations table, number of tiles and attributes (strings decoded), without the tile data."""
    try:
        with open_shard(path) as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            return f["realisations"][...], int(f["images"].shape[0]), attrs
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
            return {name: _joined([f[name][a:b] for a, b in runs]) if runs else f[name][:0] for name in names}
        except OSError as exc:
            raise ShardError(f"{path}: data do not verify (Fletcher32 checksum or read failure): {exc}") from None


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The parts end to end; one part as it is, not copied (a shard's tiles read whole would otherwise be held
    three times over while they are joined)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


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
        problems.append(f"{path}: labels have {d['labels'].shape[1]} bins, "
                        f"bin_edges_jy {len(d['attrs']['bin_edges_jy'])}")
    return problems


# --------------------------------------------------------------------------------------------------------------
# reading a dataset

def read_manifest(directory) -> dict:
    """The manifest of a dataset directory, checked for format and version."""
    path = Path(directory) / MANIFEST
    manifest = atomic.read_record(path, FORMAT, ShardError, f"{path}: missing (not a radsim dataset directory?)")
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
        self.tiles_hash = m["tiles_hash"]             # identity of the tiles (what was simulated)
        self.config_hash = m["config_hash"]
        self.imaging_backend = m.get("imaging_backend")
        self.detection_threshold_jy = m.get("detection_threshold_jy")
        imaging, tiles = m.get("config", {}).get("imaging", {}), m.get("config", {}).get("tiles", {})
        mosaic = imaging.get("footprint", "single") != "single" or imaging.get("primary_beam", "none") != "none"
        # a mosaic's tiles lie where the noise is within this factor of its best (radsim.tiles.select); None:
        # every tile of the image
        self.sensitivity_factor = float(tiles.get("sensitivity_factor", 1.25)) if mosaic else None

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

    def records(self, split: str | None = None) -> list[dict]:
        """One dict per realisation in the dataset (of ``split``, or all), sorted by id: ``id``, ``set_index``,
        ``repeat``, ``modifier`` (name and parameters), ``n_sources``, ``n_tiles``, ``shard``, ``noise_rms_jy``
        (Jy/beam), ``beam_arcsec`` ([major, minor, position angle (deg)]; zeros for sky models), ``rank`` and
        ``timings_s`` (per stage)."""
        recs = sorted(self.manifest["realisations"], key=lambda r: r["id"])
        if split is None:
            return recs
        wanted = set(self.realisations(split))
        return [r for r in recs if r["id"] in wanted]

    def tiles_per_shard(self, split: str) -> dict[Path, int]:
        """{shard path: number of the split's tiles in it}, for the shards that hold any (a per-tile split reads
        each shard's small ``realisation`` column, since its tiles are drawn when read)."""
        if self.split["by"] == "tile":
            return {path: int(self.load(split, shards=[path], datasets=("realisation",))["realisation"].size)
                    for path in self.shards_for(split)}
        out: dict[Path, int] = {}
        for r in self.records(split):
            path = self.directory / r["shard"]
            out[path] = out.get(path, 0) + int(r["n_tiles"])
        return {self.directory / s["path"]: out[self.directory / s["path"]] for s in self.manifest["shards"]
                if self.directory / s["path"] in out}

    def n_tiles(self, split: str) -> int:
        """Number of tiles in a split."""
        if self.split["by"] == "tile":
            return sum(self.tiles_per_shard(split).values())
        return int(self.split.get("n_tiles", {}).get(self._check(split), 0))

    def imaging_summary(self, split: str = "train") -> dict:
        """What the images of a split's skies look like: median restoring beam ``beam_arcsec`` ([major, minor,
        PA]; None for sky models in Jy/pixel) and median ``noise_rms_jy`` (Jy/beam); all skies when the split has
        none."""
        recs = self.records(split) or self.records()
        beams = np.array([r["beam_arcsec"] for r in recs if r.get("beam_arcsec")], dtype=float).reshape(-1, 3)
        return {"beam_arcsec": np.median(beams, axis=0).tolist() if beams.size else None,
                "noise_rms_jy": float(np.median([r.get("noise_rms_jy", 0.0) for r in recs])) if recs else 0.0}

    def load_realisations(self, ids, datasets=TILE_DATASETS) -> dict:
        """The tiles of the realisations ``ids``, whatever their split, as numpy arrays in shard order (checksums
        verified while reading); only the shards that hold them are opened, and only their rows read. Raises
        ShardError naming an id the dataset does not hold."""
        wanted = np.unique(np.asarray(ids, dtype=np.int64))
        shard_of = {int(r["id"]): r["shard"] for r in self.manifest["realisations"]}
        absent = [int(i) for i in wanted if int(i) not in shard_of]
        if absent:
            raise ShardError(f"{self.directory}: holds no realisation {absent[0]}"
                             + (f" (nor {len(absent) - 1} more)" if len(absent) > 1 else ""))
        names = tuple(dict.fromkeys(("realisation", *datasets)))
        parts = {name: [] for name in names}
        for path in dict.fromkeys(self.directory / shard_of[int(i)] for i in wanted):
            for name, rows in _read_rows(path, names, lambda real: np.flatnonzero(np.isin(real, wanted))).items():
                parts[name].append(rows)
        return {name: _joined(p) for name, p in parts.items() if name in datasets}

    def _check(self, split):
        if split not in SPLITS:
            raise ShardError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
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
                 "tile_origin": (0, 2), "tile_noise": (0,)}
        return {name: _joined(p) if p else np.zeros(empty[name], np.float32) for name, p in parts.items()
                if name in datasets}
