#!/usr/bin/env python
"""Benchmark: the peak memory and speed of reading tiles with a network (radtrain.evaluate.predict_tiles, what
radtrain calibrate, evaluate and predict run on every tile), fed PREDICT_CHUNK tiles at a time or all at once;
and, with --dataset, of reading a dataset's split whole before predicting (as calibrate and evaluate did) or a shard
at a time (radtrain.evaluate.predict_split, what they do now).

The network is configs/train-seed-small.toml's (seed-small, asinh input, the width beside the image) with its
initial weights, the tiles 128 x 128 float32 noise: the memory and time do not depend on what the network has
learnt. 36864 tiles are 576 pointings of 64 tiles, the calibration of RUN-likelihood-unpaired. Each way runs in a
process of its own, since the peak resident memory is a process's:

    .venv/bin/python benchmarks/predict.py [--tiles 36864] [--chunk 2048 8192 0]     # 0: all at once
    .venv/bin/python benchmarks/predict.py --dataset DIR [--split test]

--make-dataset DIR first simulates one there (resumed if it is there; 2 ranks): configs/quickstart.toml with a field
of 1024^2 pixels (64 tiles of 128^2 per sky), 576 skies, all held out as the test split: the volume of
RUN-likelihood-unpaired's calibration skies (2.25 GiB of tiles), in shards of the shipped size (1024 MiB).
"""
from common import ROOT, peak_rss_gib  # first: sets one thread per library before numpy is imported

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def network(tile: int, n_bins: int):
    """configs/train-seed-small.toml's config, its network with initial weights for ``tile``-pixel tiles and
    ``n_bins`` bins, and statistics for tiles of 1e-4 noise."""
    from radtrain import data, models
    from radtrain.config import load
    cfg = load(ROOT / "configs" / "train-seed-small.toml")
    model = models.build(cfg.model, tile, n_bins, n_aux=len(cfg.data.aux_inputs))
    stats = data.Statistics(pixel_mean=0.0, pixel_std=1e-4, noise=1e-4, aux_mean=[0.0] * 4, aux_std=[1.0] * 4,
                            label_mean=[1.0] * n_bins, label_std=[1.0] * n_bins, n_tiles=1)
    return cfg, model, stats


def one(tiles: int, chunk: int) -> None:
    from radtrain import evaluate
    cfg, model, stats = network(128, 10)
    images = np.random.default_rng(0).standard_normal((tiles, 128, 128), dtype=np.float32)   # no float64 copy
    images *= np.float32(1e-4)
    before = peak_rss_gib()
    evaluate.PREDICT_CHUNK = chunk if chunk > 0 else tiles
    t0 = time.perf_counter()
    evaluate.predict_tiles(model, cfg, stats, images)
    seconds = time.perf_counter() - t0
    how = "all at once" if chunk <= 0 else f"{chunk} at a time"
    print(f"{tiles:7d} tiles ({images.nbytes / 2 ** 30:.2f} GiB), {how:>15}: {seconds:6.1f} s "
          f"({tiles / seconds:5.0f} tiles/s), peak resident memory "
          f"{peak_rss_gib():.2f} GiB ({before:.2f} GiB with the tiles and the network, before reading them)",
          flush=True)


def one_split(dataset: str, split: str, way: str) -> None:
    from radtrain import data, evaluate
    ds = data.open_dataset(dataset)
    cfg, model, stats = network(ds.tile_size, ds.bin_edges_jy.size - 1)
    before = peak_rss_gib()
    t0 = time.perf_counter()
    if way == "whole":
        tiles = data.load(ds, split)
        pred = evaluate.predict_tiles(model, cfg, stats, tiles["images"], tiles["tile_noise"])
    else:
        pred, tiles = evaluate.predict_split(model, cfg, stats, ds, split)
    seconds = time.perf_counter() - t0
    n, shards = len(pred["counts"]), ds.tiles_per_shard(split)
    gib = n * ds.tile_size ** 2 * 4 / 2 ** 30
    how = "split read whole" if way == "whole" else "a shard at a time"
    print(f"{n:7d} tiles ({gib:.2f} GiB in {len(shards)} shards, the largest "
          f"{max(shards.values()) * ds.tile_size ** 2 * 4 / 2 ** 30:.2f} GiB), {how:>17}: {seconds:6.1f} s "
          f"({n / seconds:5.0f} tiles/s), peak resident memory {peak_rss_gib():.2f} GiB "
          f"({before:.2f} GiB with the network, before reading)", flush=True)


#: configs/quickstart.toml's overrides for --make-dataset: 2 deg at its 7 arcsec pixels, 4 sets x 144 skies, all test
MAKE_DATASET = ("field.size_deg=2.0", "field.npix=1024", "realisations.repeats=144", "dataset.train_fraction=0.0",
                "dataset.validation_fraction=0.0", "dataset.test_fraction=1.0")


def make_dataset(out: str) -> None:
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    sets = [a for o in MAKE_DATASET for a in ("--set", o)]
    subprocess.run(["mpirun", "-n", "2", str(Path(sys.executable).with_name("radsim")), "simulate",
                    str(ROOT / "configs" / "quickstart.toml"), *sets, "--out", out], check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=36864)
    ap.add_argument("--chunk", type=int, nargs="+", default=[2048, 8192, 0], help="tiles per chunk; 0: all at once")
    ap.add_argument("--dataset", help="a radsim dataset: read its --split whole, then a shard at a time")
    ap.add_argument("--make-dataset", action="store_true", help="simulate --dataset first (see above)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one == "tiles":
        one(args.tiles, args.chunk[0])
        return
    if args.one:
        one_split(args.dataset, args.split, args.one)
        return
    if args.dataset:
        if args.make_dataset:
            make_dataset(args.dataset)
        for way in ("whole", "shards"):
            subprocess.run([sys.executable, __file__, "--one", way, "--dataset", args.dataset, "--split", args.split],
                           check=True)
        return
    for chunk in args.chunk:
        subprocess.run([sys.executable, __file__, "--one", "tiles", "--tiles", str(args.tiles), "--chunk", str(chunk)],
                       check=True)


if __name__ == "__main__":
    main()
