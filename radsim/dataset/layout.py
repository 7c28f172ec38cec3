"""A dataset directory of `radsim simulate`: what is planned, what is done, the split and the manifest.

Plain functions over files; no MPI (radsim.run.driver is the MPI shell around them). The layout (version 1)::

    DIR/manifest.json        format version, config and hashes, versions, bin edges, pixel scale, frequency,
                             backend, shards, realisations (with rank and per-stage times), split, runs
    DIR/shards/*.h5          radsim.dataset.shards files; only complete shards carry their final name
    DIR/logs/                per-run logs of external imagers when kept

The shards are the ground truth: a realisation is done when it is in a shard under its final name. The
manifest is rewritten (atomically) from the shards at the start and at the end of every run.
"""
from __future__ import annotations

import json
import platform
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from radsim import __version__
from radsim.dataset import atomic, reader
from radsim.dataset.reader import FORMAT, MANIFEST, SHARDS, SPLITS
from radsim.errors import RadsimError
from radsim.run import realisations


class DatasetError(RadsimError, RuntimeError):
    """A dataset directory that cannot be used as asked; the message names the path and the cause."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------------------------------------------
# what is on disk

def read_manifest(out) -> dict | None:
    """The manifest of ``out``, or None when there is none."""
    if not (Path(out) / MANIFEST).exists():
        return None
    try:
        return reader.read_manifest(out)
    except reader.ShardError as exc:
        raise DatasetError(str(exc)) from None


def write_manifest(out, manifest: dict) -> None:
    """Write ``manifest.json`` atomically."""
    atomic.write_json(Path(out) / MANIFEST, manifest)


def shard_paths(out) -> list[Path]:
    """Complete shards of a dataset (final names), sorted."""
    d = Path(out) / SHARDS
    return sorted(p for p in d.glob("*.h5") if not p.name.startswith(".")) if d.is_dir() else []


def stale_temporaries(out) -> list[Path]:
    """Shards left half-written by an interrupted run (hidden temporary names)."""
    d = Path(out) / SHARDS
    return sorted(d.glob(".*.tmp")) if d.is_dir() else []


def scan_shards(out) -> list[dict]:
    """The complete shards of ``out`` with their realisations table (read cheaply: no tile data).

    Raises DatasetError naming a shard that does not open or lists a realisation another shard has too."""
    found, owner = [], {}
    for path in shard_paths(out):
        try:
            table, n_tiles, attrs = reader.shard_summary(path)
        except reader.ShardError as exc:
            raise DatasetError(f"{exc}\n  move this shard out of {Path(out) / SHARDS} (its realisations will be "
                               f"made again) or restore it, then run again") from None
        ids = [int(i) for i in table["id"]]
        for i in ids:
            if i in owner:
                raise DatasetError(f"{path}: realisation {i} is also in {owner[i]}; a dataset holds each once")
            owner[i] = path
        found.append({"path": path, "table": table, "n_tiles": n_tiles, "bytes": path.stat().st_size,
                      "tiles_hash": attrs.get("tiles_hash", ""),
                      "tile_versions": json.loads(attrs["tile_versions"]) if attrs.get("tile_versions") else None})
    return found


def tile_versions(cfg) -> dict:
    """The versions of the software that shapes the tiles (a resumed dataset must be made with the same)."""
    import astropy
    import ducc0
    import erfa
    import scipy
    from radsim import TILES_REVISION, __version__ as radsim_version
    return {"radsim": radsim_version, "radsim_tiles": TILES_REVISION, "numpy": np.__version__,
            "scipy": scipy.__version__, "ducc0": ducc0.__version__, "astropy": astropy.__version__,
            "pyerfa": erfa.__version__}


class Journal:
    """What one rank made in this run, one realisation index per line in ``DIR/logs/journal-rank{R}.txt``: after a
    kill, the realisations made but in no complete shard are the ones the kill lost (:func:`lost_realisations`)."""

    def __init__(self, out, rank: int):
        d = Path(out) / "logs"
        d.mkdir(exist_ok=True)
        self.fh = open(d / f"journal-rank{rank:04d}.txt", "a")

    def made(self, index: int) -> None:
        self.fh.write(f"{index}\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def lost_realisations(out, done: set) -> list[int]:
    """Realisations that the ranks' journals say were made but no complete shard holds (lost to a kill); the
    journals are then cleared for the next run."""
    made = set()
    for path in sorted((Path(out) / "logs").glob("journal-rank*.txt")):
        made.update(int(line) for line in path.read_text().split() if line.strip().isdigit())
        path.unlink()
    return sorted(made - set(done))


def next_sequence(out) -> int:
    """The first shard sequence number no shard (complete or not) of ``out`` uses."""
    seqs = [int(p.name.split("-")[1].split(".")[0]) for p in (*shard_paths(out), *stale_temporaries(out))
            if p.name.lstrip(".").startswith("rank")]
    return max(seqs, default=-1) + 1


def supersede(out) -> Path:
    """Move a dataset's manifest, shards and logs into ``out/superseded-<time>/`` (never deleted)."""
    out = Path(out)
    dest = out / f"superseded-{time.strftime('%Y%m%dT%H%M%S')}"
    dest.mkdir()
    for name in (MANIFEST, SHARDS, "logs"):
        if (out / name).exists():
            shutil.move(str(out / name), str(dest / name))
    return dest


# --------------------------------------------------------------------------------------------------------------
# the split

def assign_split(cfg) -> dict:
    """The split of a config's planned realisations (not only those done, so it never changes as a dataset
    grows). ``realisation``/``set``: a seeded shuffle of the units, cut by the fractions; ``tile``: every tile
    drawn on its own by the reader (radsim.reader.tile_split) from the seed recorded here."""
    ds = cfg.dataset
    fractions = {"train": ds.train_fraction, "validation": ds.validation_fraction, "test": ds.test_fraction}
    split = {"by": ds.split_by, "fractions": fractions, "seed": cfg.run.seed}
    if ds.split_by == "tile":
        return split
    # realisation i belongs to parameter set i // repeats (radsim.run.realisations): no need to build the plan
    repeats = cfg.realisations.repeats
    n_real = realisations.n_realisations(cfg)
    unit = "set" if ds.split_by == "set" else "realisation"
    ids = list(range(realisations.n_sets(cfg) if unit == "set" else n_real))
    rng = np.random.default_rng(np.random.SeedSequence(cfg.run.seed, spawn_key=(realisations.SPLIT_STREAM,)))
    order = [ids[i] for i in rng.permutation(len(ids))]
    n_test = int(round(ds.test_fraction * len(ids)))
    n_val = int(round(ds.validation_fraction * len(ids)))
    if n_test + n_val > len(ids):
        n_val = len(ids) - n_test
    units = {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    for name in SPLITS:
        chosen = set(units[name])
        split[name] = sorted(i for i in range(n_real) if (i // repeats if unit == "set" else i) in chosen)
        if unit == "set":
            split[f"{name}_sets"] = sorted(chosen)
    return split


# --------------------------------------------------------------------------------------------------------------
# the manifest

def versions(extra: dict | None = None) -> dict:
    import astropy
    import ducc0
    import h5py
    out = {"radsim": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version, "astropy": astropy.__version__,
           "ducc0": ducc0.__version__, "platform": platform.platform()}
    out.update(extra or {})
    return out


def _row_record(row, shard: str, n_tiles: int) -> dict:
    modifier = json.loads(row["modifier"].decode() or "{}") if row["modifier"] else {}
    return {"id": int(row["id"]), "set_index": int(row["set_index"]), "repeat": int(row["repeat"]),
            "modifier": modifier, "n_sources": int(row["n_sources"]), "n_tiles": n_tiles, "shard": shard,
            "noise_rms_jy": float(row["noise_rms_jy"]),
            "beam_arcsec": [float(row["beam_major_arcsec"]), float(row["beam_minor_arcsec"]),
                            float(row["beam_pa_deg"])],
            "rank": int(row["rank"]), "timings_s": {s: float(row[f"{s}_s"]) for s in reader.STAGES},
            "clean_stop": row["clean_stop"].decode() if "clean_stop" in row.dtype.names else ""}


def build_manifest(cfg, out, found: list[dict], *, status: str, runs: list[dict], failed: list[dict],
                   version_info: dict, image_units: str) -> dict:
    """The manifest of ``out`` from its complete shards (``scan_shards``)."""
    out = Path(out)
    planned = realisations.n_realisations(cfg)
    shard_list, records = [], []
    for s in found:
        rel = str(s["path"].relative_to(out))
        # tiles per realisation: every realisation of a config has the same tiling
        ids = [int(i) for i in s["table"]["id"]]
        per = s["n_tiles"] // max(1, len(ids))
        shard_list.append({"path": rel, "realisations": ids, "n_tiles": s["n_tiles"], "bytes": s["bytes"]})
        records.extend(_row_record(row, rel, per) for row in s["table"])
    records.sort(key=lambda r: r["id"])
    done = {r["id"] for r in records}
    split = assign_split(cfg)
    if split["by"] != "tile":
        tiles_of = {r["id"]: r["n_tiles"] for r in records}
        split["n_tiles"] = {name: int(sum(tiles_of.get(i, 0) for i in split[name])) for name in SPLITS}
    return {
        "format": FORMAT, "format_version": reader.FORMAT_VERSION, "status": status, "updated": _now(),
        "config": cfg.model_dump(mode="json"), "config_hash": cfg.hash(), "tiles_hash": cfg.tiles_hash(),
        "versions": version_info,
        "bin_edges_jy": cfg.labels.edges_jy.tolist(), "label_units": "sources per tile per flux bin",
        "detection_threshold_jy": cfg.labels.detection_threshold_jy,
        "tile_size": cfg.tiles.size, "npix": cfg.field.npix, "pixel_deg": cfg.field.pixel_deg,
        "pixel_arcsec": cfg.field.pixel_arcsec, "frequency_hz": cfg.field.frequency_hz,
        "bandwidth_hz": cfg.field.bandwidth_hz, "imaging_backend": cfg.imaging.backend, "image_units": image_units,
        "planned": planned, "done": len(done), "missing": [i for i in range(planned) if i not in done],
        "n_tiles": int(sum(s["n_tiles"] for s in found)),
        "shards": shard_list, "realisations": records, "split": split, "failed": failed, "runs": runs,
    }


# --------------------------------------------------------------------------------------------------------------
# inspection

def inspect(out, verify: bool = True) -> tuple[dict, list[str]]:
    """Summary and problems of a dataset: every shard opens and (``verify``) its checksums verify, tiles and
    realisations match the manifest, no realisation twice, nothing planned missing."""
    out = Path(out)
    if not out.is_dir():
        return {}, [f"{out}: no such dataset directory"]
    try:
        manifest = read_manifest(out)
    except DatasetError as exc:
        return {}, [str(exc)]
    if manifest is None:
        return {}, [f"{out / MANIFEST}: missing (not a radsim dataset, or `radsim simulate` never started here)"]
    problems = []
    listed = {s["path"]: s for s in manifest["shards"]}
    on_disk = {str(p.relative_to(out)): p for p in shard_paths(out)}
    for rel in sorted(set(on_disk) - set(listed)):
        problems.append(f"{out / rel}: shard on disk but not in the manifest (written by a run that did not "
                        f"finish: run `radsim simulate` again to bring the manifest up to date)")
    seen: dict[int, str] = {}
    for rel, entry in listed.items():
        path = out / rel
        if rel not in on_disk:
            problems.append(f"{path}: listed in the manifest but missing")
            continue
        if verify:
            shard_problems = reader.verify_shard(path)
            problems.extend(shard_problems)
            if shard_problems:
                continue
        try:
            table, n_tiles, th = reader.shard_table(path)
        except reader.ShardError as exc:
            problems.append(str(exc))
            continue
        ids = sorted(int(i) for i in table["id"])
        if ids != sorted(entry["realisations"]):
            problems.append(f"{path}: holds realisations {ids}, the manifest lists {sorted(entry['realisations'])}")
        if n_tiles != entry["n_tiles"]:
            problems.append(f"{path}: holds {n_tiles} tiles, the manifest says {entry['n_tiles']}")
        if th and th != manifest["tiles_hash"]:
            problems.append(f"{path}: written from another config (tiles hash {th[:12]}, dataset "
                            f"{manifest['tiles_hash'][:12]})")
        for i in ids:
            if i in seen:
                problems.append(f"{path}: realisation {i} is also in {out / seen[i]}")
            seen[i] = rel
    if manifest["missing"]:
        problems.append(f"{out}: {len(manifest['missing'])} of {manifest['planned']} planned realisations are not "
                        f"in the dataset ({_short(manifest['missing'])}); run `radsim simulate` again to make them")
    missing_now = sorted(set(range(manifest["planned"])) - set(seen))
    if missing_now and missing_now != manifest["missing"] and not problems:
        problems.append(f"{out}: realisations {_short(missing_now)} are in no shard")
    summary = summarise(manifest)
    if manifest["status"] == "running" and not _locked(out):
        summary["status"] = "interrupted (the run writing it was killed; run `radsim simulate` again to resume)"
    if problems and summary["status"] == "complete":
        summary["status"] = "incomplete"
    return summary, problems


def _locked(out: Path) -> bool:
    """Whether a running `radsim simulate` holds the dataset's lock."""
    import fcntl
    if not (out / ".radsim.lock").exists():
        return False
    try:
        with open(out / ".radsim.lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False




def _short(ids, n=12) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:n])) + (f", ... ({len(ids)} in all)" if len(ids) > n else "")


def summarise(manifest: dict) -> dict:
    """The figures `radsim inspect` prints: sizes, split, parameter coverage, per-stage time per rank."""
    recs = manifest["realisations"]
    split = manifest["split"]
    if split["by"] == "tile":
        sizes = {name: f"{100 * split['fractions'][name]:.0f}% of tiles" for name in SPLITS}
    else:
        ids_done = {r["id"] for r in recs}
        sizes = {name: f"{sum(1 for i in split[name] if i in ids_done)} realisations, "
                       f"{split['n_tiles'][name]} tiles" for name in SPLITS}
    coverage: dict[str, list] = {}
    for r in recs:
        for key, value in r["modifier"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                coverage.setdefault(key, []).append(float(value))
    per_rank: dict[int, dict] = {}
    for r in recs:
        entry = per_rank.setdefault(r["rank"], {"realisations": 0, **{s: 0.0 for s in reader.STAGES}})
        entry["realisations"] += 1
        for s in reader.STAGES:
            entry[s] += r["timings_s"][s]
    return {
        "status": manifest["status"], "planned": manifest["planned"], "done": manifest["done"],
        "tiles": manifest["n_tiles"], "shards": len(manifest["shards"]),
        "bytes": sum(s["bytes"] for s in manifest["shards"]), "split_by": split["by"], "split": sizes,
        "parameter_sets": len({r["set_index"] for r in recs}),
        "coverage": {k: (min(v), max(v), len(set(v))) for k, v in sorted(coverage.items())},
        "per_rank_s": dict(sorted(per_rank.items())), "backend": manifest["imaging_backend"],
        "runs": len(manifest["runs"]), "failed": manifest["failed"],
        "clean_stop": dict(sorted(Counter(r["clean_stop"] for r in recs if r.get("clean_stop")).items())),
    }


def format_summary(out, s: dict) -> str:
    lines = [f"dataset {out}: {s['status']}, {s['done']} of {s['planned']} realisations "
             f"({s['parameter_sets']} parameter sets), {s['tiles']:,} tiles in {s['shards']} shards, "
             f"{s['bytes'] / 2 ** 20:.1f} MiB, imaging backend {s['backend']}, {s['runs']} run(s)",
             f"  split by {s['split_by']}: " + "; ".join(f"{k} {v}" for k, v in s["split"].items())]
    for key, (lo, hi, n) in s["coverage"].items():
        lines.append(f"  parameter {key}: {lo:.4g} .. {hi:.4g} ({n} distinct values)")
    if s["per_rank_s"]:
        lines.append("  time per rank (s, summed over its realisations): rank  realisations  "
                     + "  ".join(f"{st:>9}" for st in reader.STAGES))
        for rank, e in s["per_rank_s"].items():
            lines.append(f"      {rank:>4}  {e['realisations']:>12}  "
                         + "  ".join(f"{e[st]:9.2f}" for st in reader.STAGES))
    if s.get("clean_stop"):
        lines.append("  CLEAN stopped: " + ", ".join(f"{why} {n}" for why, n in s["clean_stop"].items()))
    if s["failed"]:
        lines.append(f"  failed in the last run: {len(s['failed'])} realisation(s): "
                     + _short([f["index"] for f in s["failed"]]))
    return "\n".join(lines)

