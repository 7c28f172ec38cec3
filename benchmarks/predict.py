#!/usr/bin/env python
"""Benchmark: the peak memory and speed of reading tiles with a network (radtrain.evaluate.predict_tiles, what
radtrain calibrate, evaluate and predict run on every tile), fed PREDICT_CHUNK tiles at a time or all at once.

The network is configs/train-seed-small.toml's (seed-small, asinh input, the width beside the image) with its
initial weights, the tiles 128 x 128 float32 noise: the memory and time do not depend on what the network has
learnt. 36864 tiles are 576 pointings of 64 tiles, the calibration of RUN-likelihood-unpaired. Each way runs in a
process of its own, since the peak resident memory is a process's:

    .venv/bin/python benchmarks/predict.py [--tiles 36864] [--chunk 2048 8192 0]     # 0: all at once
"""
from common import ROOT, peak_rss_gib  # first: sets one thread per library before numpy is imported

import argparse
import subprocess
import sys
import time

import numpy as np


def one(tiles: int, chunk: int) -> None:
    from radtrain import data, evaluate, models
    from radtrain.config import load
    cfg = load(ROOT / "configs" / "train-seed-small.toml")
    model = models.build(cfg.model, 128, 10, n_aux=len(cfg.data.aux_inputs))
    images = np.random.default_rng(0).standard_normal((tiles, 128, 128), dtype=np.float32)   # no float64 copy
    images *= np.float32(1e-4)
    stats = data.Statistics(pixel_mean=0.0, pixel_std=1e-4, noise=1e-4, aux_mean=[0.0] * 4, aux_std=[1.0] * 4,
                            label_mean=[1.0] * 10, label_std=[1.0] * 10, n_tiles=tiles)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=36864)
    ap.add_argument("--chunk", type=int, nargs="+", default=[2048, 8192, 0], help="tiles per chunk; 0: all at once")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.tiles, args.chunk[0])
        return
    for chunk in args.chunk:
        subprocess.run([sys.executable, __file__, "--one", "--tiles", str(args.tiles), "--chunk", str(chunk)],
                       check=True)


if __name__ == "__main__":
    main()
