#!/usr/bin/env python
"""Benchmark: the fast imager's two kinds of thermal noise (imaging.noise), on one core.

For the config's observation (default: the transfer pointing of configs/emu-seed-transfer.toml, 12 million
visibilities over 16 channels), prints the time of one noise image made in the image plane ('image': filtered
white noise) and from the visibilities ('visibilities': each visibility's noise drawn as the wsclean backend draws
it, imaged with the weights and the w-term), split into the draw and the gridding, the peak memory, and, with
WSClean installed, how far the visibility noise is from WSClean's own dirty image of the same draw (a sky of zero
flux, no CLEAN, one thread): the rms of the difference over the rms, and the ratio of the two images' scales at the
centre and in two corners.

With ``--w-nodes K`` (default 5) it also times the image-plane noise with the w-term ('image-w', filtered at
each of K x K nodes) and, over ``--draws`` draws of each kind, measures how much of the w-term's shear each
carries in the four corner facets: the noise's autocorrelation there (lags up to 12 pixels) projected on the
difference between the corner node's expected autocorrelation and the flat sky's, 0 for a flat-sky noise and 1
for the w-term's whole shear, with its standard error over the draws.

    .venv/bin/python benchmarks/noise.py [--config configs/emu-seed-transfer.toml] [--repeats 3] [--no-wsclean]
                                         [--w-nodes 5] [--draws 16]
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
    p.add_argument("--w-nodes", type=int, default=5, help="nodes of the image-w noise (0: leave it out)")
    p.add_argument("--draws", type=int, default=16, help="draws of each noise for the w-term's shear (0: none)")
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
    if args.w_nodes:
        w_term(args, paired, plain)
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


def w_term(args, paired, plain):
    """The image-w noise's time, and the share of the w-term's shear in the corner facets of each kind of noise."""
    import scipy.fft

    from radsim import config
    from radsim.instrument.imaging import fast
    t = time.perf_counter()
    faceted = fast.from_config(config.load(args.config, ["imaging.niter=0", f"imaging.w_nodes={args.w_nodes}",
                                                         'imaging.noise="image-w"']))
    setup = time.perf_counter() - t
    times = []
    for k in range(args.repeats):
        t = time.perf_counter()
        faceted.noise(np.random.default_rng(k))
        times.append(time.perf_counter() - t)
    print(f"noise image, image plane with the w-term ({args.w_nodes}^2 nodes): {min(times):.2f} s; set-up "
          f"{setup:.0f} s ({'PSF cache warm' if faceted.cache_hit else 'PSFs and filters made'})")
    if not args.draws:
        return
    m, lag = faceted.window, 12
    spans = faceted._faceted_noise.spans

    def expected(filt):
        ac = np.fft.fftshift(scipy.fft.irfft2(filt.astype(np.float64) ** 2, (2 * m, 2 * m)))
        return (ac / ac[m, m])[m - lag:m + lag + 1, m - lag:m + lag + 1]

    flat = expected(plain._noise_filter)
    corners = [(a, b) for a in (0, -1) for b in (0, -1)]
    shear = {c: expected(faceted._faceted_noise.filters[c]) - flat for c in corners}

    def measured(image, c):
        (y0, y1), (x0, x1) = spans[c[0]], spans[c[1]]
        f = image[y0:y1, x0:x1]
        shape = (2 * f.shape[0], 2 * f.shape[1])
        ac = np.fft.fftshift(np.real(np.fft.ifft2(np.abs(np.fft.fft2(f, shape)) ** 2)))
        pairs = np.fft.fftshift(np.real(np.fft.ifft2(np.abs(np.fft.fft2(np.ones_like(f), shape)) ** 2)))
        ac = ac / np.rint(pairs).clip(1)
        h, w = f.shape
        ac = ac[h - lag:h + lag + 1, w - lag:w + lag + 1]
        return ac / ac[lag, lag]

    print(f"share of the w-term's shear of the noise's correlation in the four corner facets, {args.draws} draws "
          f"each (0: flat sky, 1: the w-term's)")
    for name, imager in (("image", plain), ("image-w", faceted), ("visibilities", paired)):
        t = time.perf_counter()
        shares = []
        for k in range(args.draws):
            image = imager.noise(np.random.default_rng(1000 + k))
            shares.append(np.mean([np.sum((measured(image, c) - flat) * shear[c]) / np.sum(shear[c] ** 2)
                                   for c in corners]))
        print(f"  {name:13s} {np.mean(shares):+.3f} +- {np.std(shares, ddof=1) / np.sqrt(len(shares)):.3f} "
              f"({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
