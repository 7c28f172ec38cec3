#!/usr/bin/env python
"""Benchmark: HDF5 shard write and read speed and size per compression filter, against dd on the same disk.

Tiles are real: restored tiles (fast imager, EMU noise, 7 arcsec pixels) of configs/quickstart.toml realisations,
appended 400 at a time as a configs/emu-seed.toml realisation is (its 2560^2 image cut into tiles of 128^2), repeated
to the volume asked for. Each filter writes one shard through radsim.dataset.shards.ShardWriter (one tile per chunk,
Fletcher32 on, fsync and rename at the end) and reads it back through radsim.reader.read_shard (checksums verified).
`dd if=/dev/zero bs=4M conv=fsync` writes the same volume to the same directory in the same run.
Reads are from the page cache unless the script may drop it (root: /proc/sys/vm/drop_caches).

    .venv/bin/python benchmarks/shard_io.py [--mib 512] [--dir /path/on/the/target/disk]
"""
from common import ROOT, pin_one_core  # first: sets one thread before numpy is imported

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def dd_mib_s(directory: Path, mib: int) -> float:
    target = directory / "dd.bin"
    t0 = time.perf_counter()
    p = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=4M", f"count={max(1, mib // 4)}", "conv=fsync"],
                       capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    target.unlink()
    found = re.search(r"copied, ([\d.]+) s", p.stderr)
    return (mib // 4 * 4) / (float(found.group(1)) if found else wall)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mib", type=int, default=512, help="volume of tiles written per filter (MiB)")
    p.add_argument("--dir", help="directory on the disk to measure (default: a temporary directory)")
    p.add_argument("--realisations", type=int, default=4, help="distinct realisations made for the tiles")
    p.add_argument("--tiles", type=int, default=400, help="tiles appended per realisation (emu-seed: 400)")
    p.add_argument("--commit-every", type=int, default=12,
                   help="realisations per shard under the commit interval (the 300 s default at ~25 s per emu-seed "
                        "realisation on one core: 12)")
    args = p.parse_args()
    pin_one_core()
    import numpy as np
    from radsim import config
    from radsim.run import pipeline
    from radsim.dataset import reader, shards
    cfg = config.load(ROOT / "configs" / "quickstart.toml")
    made = [pipeline.make_realisation(cfg, i) for i in range(args.realisations)]
    pool = {k: np.concatenate([getattr(r, k) for r in made]) for k in ("tiles", "labels", "expected", "tile_origin")}
    pick = np.arange(args.tiles) % len(pool["tiles"])
    batch = {k: v[pick] for k, v in pool.items()}
    per = batch["tiles"].nbytes
    reps = max(1, int(args.mib * 2 ** 20 // per))
    total_mib = reps * per / 2 ** 20
    runs = ROOT / "runs"
    base = Path(args.dir or tempfile.mkdtemp(prefix="radsim-io-", dir=runs if runs.is_dir() else None))
    base.mkdir(parents=True, exist_ok=True)
    dropped = drop_caches()
    print(f"# {reps} realisations x {args.tiles} tiles of {cfg.tiles.size}^2 float32 = "
          f"{total_mib:.0f} MiB per filter, in {base}; "
          f"reads {'after dropping the page cache' if dropped else 'from the page cache'}")
    print()
    print("| writer | write (MiB/s) | read (MiB/s) | size (% of raw) |")
    print("|---|---:|---:|---:|")
    dd_before = dd_mib_s(base, int(total_mib))
    results = {}
    for comp in ("none", "lzf", "gzip"):
        d = base / comp
        w = shards.ShardWriter(d, 0, tile_size=cfg.tiles.size, bin_edges_jy=cfg.labels.edges_jy,
                               compression=comp, max_bytes=2 ** 62)
        t0 = time.perf_counter()
        for k in range(reps):
            w.add(k, batch["tiles"], batch["labels"], batch["expected"], batch["tile_origin"], {"n_sources": 1})
        (info,) = w.close()
        t_write = time.perf_counter() - t0
        drop_caches()
        t0 = time.perf_counter()
        back = reader.read_shard(info.path, ("images",))
        t_read = time.perf_counter() - t0
        assert np.array_equal(back["images"][: args.tiles], batch["tiles"])
        size = info.path.stat().st_size
        results[comp] = total_mib / t_write
        print(f"| HDF5 {comp} | {total_mib / t_write:.0f} | {total_mib / t_read:.0f} "
              f"| {100 * size / (reps * per):.1f} |")
        info.path.unlink()
    commits = commit_schemes(shards, reader, cfg, batch, reps, base, args.commit_every, total_mib)
    dd_after = dd_mib_s(base, int(total_mib))
    dd = (dd_before + dd_after) / 2
    print(f"| dd bs=4M conv=fsync | {dd:.0f} (before {dd_before:.0f}, after {dd_after:.0f}) | | |")
    print()
    print("HDF5 write throughput / dd: " + ", ".join(f"{c} {v / dd:.2f}" for c, v in results.items()))
    print()
    print("| commit scheme (uncompressed) | shards | write (MiB/s) | / one shard |")
    print("|---|---:|---:|---:|")
    one_shard = commits['one shard (before: complete at 1 GiB or the end)'][1]
    for name, (n, rate) in commits.items():
        print(f"| {name} | {n} | {rate:.0f} | {rate / one_shard:.2f} |")


def commit_schemes(shards, reader, cfg, batch, reps, base, every, total_mib) -> dict:
    """Write throughput of the same volume as one shard completed at the end (the old scheme with the default
    1 GiB shards) and with a shard completed every ``every`` realisations and every realisation (the commit
    interval), interleaved three times on the same disk; the best of three each."""
    schemes = {"one shard (before: complete at 1 GiB or the end)": reps + 1,
               f"commit every {every} realisations (300 s default)": every, "commit every realisation": 1}
    best = {name: (0, 0.0) for name in schemes}
    for _ in range(3):
        for name, k in schemes.items():
            d = base / "commit"
            w = shards.ShardWriter(d, 0, tile_size=cfg.tiles.size, bin_edges_jy=cfg.labels.edges_jy,
                                   max_bytes=2 ** 62)
            t0 = time.perf_counter()
            for i in range(reps):
                w.add(i, batch["tiles"], batch["labels"], batch["expected"], batch["tile_origin"], {"n_sources": 1})
                if (i + 1) % k == 0:
                    w.commit()
            done = w.close()
            rate = total_mib / (time.perf_counter() - t0)
            best[name] = max(best[name], (len(done), rate), key=lambda x: x[1])
            for info in done:
                info.path.unlink()
    return best


if __name__ == "__main__":
    main()
