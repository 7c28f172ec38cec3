#!/usr/bin/env python
"""Benchmark: the fast imager's two kinds of thermal noise (imaging.noise), on one core.

For the config's observation (default: the transfer pointing of configs/emu-seed-transfer.toml, 12 million
visibilities over 16 channels), prints the time of one noise image made in the image plane ('image': filtered
white noise) and from the visibilities ('visibilities': each visibility's noise drawn as the wsclean backend draws
it, imaged with the weights and the w-term), split into the draw and the gridding, the peak memory, and, with
WSClean installed, how far the visibility noise is from WSClean's own dirty image of the same draw (a sky of zero
flux, no CLEAN, one thread): the rms of the difference over the rms, and the ratio of the two images' scales at the
centre and in two corners.

    .venv/bin/python benchmarks/noise.py [--config configs/emu-seed-transfer.toml] [--repeats 3] [--no-wsclean]
"""
from common import ROOT, peak_rss_gib, pin_one_core  # first: sets one thread before numpy is imported

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "emu-seed-transfer.toml"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-wsclean", action="store_true")
    args = p.parse_args()
    pin_one_core()
    from radsim import config
    from radsim.instrument.imaging import fast

    cfg = config.load(args.config, ['imaging.noise="visibilities"', "imaging.niter=0"])
    t = time.perf_counter()
    paired = fast.from_config(cfg)
    setup = time.perf_counter() - t
    plain = fast.from_config(config.load(args.config, ["imaging.niter=0"]))
    vn = paired._visibility_noise
    print(f"# {Path(args.config).name}: {paired.n_vis / 1e6:.1f} million visibilities, {paired.window}^2 pixels; "
          f"set-up of the imager with visibility noise (PSF cache warm, the weights made again) {setup:.1f} s")
    times = {"image": [], "draw": [], "visibilities": []}
    for k in range(args.repeats):
        t = time.perf_counter()
        plain.noise(np.random.default_rng(k))
        times["image"].append(time.perf_counter() - t)
        t = time.perf_counter()
        vn.visibilities(np.random.default_rng(k))
        times["draw"].append(time.perf_counter() - t)
        t = time.perf_counter()
        paired.noise(np.random.default_rng(k))
        times["visibilities"].append(time.perf_counter() - t)
    best = {key: min(v) for key, v in times.items()}
    print(f"noise image, image plane:  {best['image']:.2f} s")
    print(f"noise image, visibilities: {best['visibilities']:.2f} s (draw {best['draw']:.2f} s, gridding with the "
          f"w-term {best['visibilities'] - best['draw']:.2f} s); best of {args.repeats}")
    print(f"peak memory {peak_rss_gib():.2f} GiB")
    if args.no_wsclean or not shutil.which("wsclean"):
        return
    from radsim.instrument.imaging import wsclean
    work = Path(tempfile.mkdtemp(prefix="radsim-bench-"))
    try:
        ws = wsclean.from_config(cfg, work)
        zero = np.zeros((ws.n, ws.n), np.float32)
        t = time.perf_counter()
        theirs = ws.image(zero, np.random.default_rng(123)).restored.astype(np.float64)
        ws_s = time.perf_counter() - t
        ws.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours = paired.image(zero, np.random.default_rng(123)).restored.astype(np.float64)
    other = plain.image(zero, np.random.default_rng(123)).restored.astype(np.float64)
    print(f"WSClean's dirty image of the same draw ({ws_s:.0f} s): rms {theirs.std() * 1e6:.3f} uJy/beam, fast "
          f"{ours.std() * 1e6:.3f}; difference {np.std(ours - theirs) / theirs.std():.1e} of the rms "
          f"(image-plane noise: {np.std(other - theirs) / theirs.std():.2f})")
    # the flux scale across the field, tile by tile: WSClean's image regressed on the fast imager's (a factor
    # n = sqrt(1 - l^2 - m^2) between them would show at the corners)
    t, m = 128, ours.shape[0]
    offset = (m / 2 - t / 2) * paired.grid.pixel_rad
    for name, (i, j) in (("centre", (m // t // 2, m // t // 2)), ("corner", (0, 0)), ("opposite corner", (-1, -1))):
        rows, cols = (slice(k * t, (k + 1) * t) if k >= 0 else slice(m - t, m) for k in (i, j))
        a, b = ours[rows, cols].ravel(), theirs[rows, cols].ravel()
        print(f"  {name} tile: WSClean / fast {(a @ b) / (a @ a):.7f}"
              + (f" (1 - n at the corner tiles' centres {1 - np.sqrt(1 - 2 * offset ** 2):.1e})" if i == 0 else ""))


if __name__ == "__main__":
    main()
