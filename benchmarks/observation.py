#!/usr/bin/env python
"""Benchmark: one whole realisation observed as ASKAP observes EMU (issue 17), on one core.

Builds the imager once (uv coverage, weights, PSF, noise filter, footprint: "setup"), then makes one
realisation end to end (catalogue, sky, labels, every beam imaged and CLEANed, the mosaic, tiles) and prints
the split per stage and per imaging step, the peak resident memory, and the realism figures:

* the restored mosaic's robust rms over the tiled area, against the expected one: the robust rms of the sky
  convolved with the restoring beam plus a pure-noise mosaic (the requested survey rms combined with the
  confusion);
* restored minus (sky convolved with the restoring beam): its rms against the noise map;
* the noise map against the local rms of the pure-noise mosaic (boxes of 64 pixels over the tiled area).

Goals (issue 17): a whole configs/emu-seed.toml realisation (36 beams) in under 90 s and 4 GiB; the
single-pointing set-up (configs/emu-seed-single.toml) no slower than before (34.8 s with 16 channels and 30 s
integrations; 25 s as shipped before).

    .venv/bin/python benchmarks/observation.py [--config configs/emu-seed.toml] [--index 0]
"""
import argparse
import time
from pathlib import Path

import numpy as np
from common import (  # first: sets one thread before numpy is imported
    ROOT,
    peak_rss_gib,
    pin_one_core,
)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "emu-seed.toml"))
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="config overrides, as radsim --set")
    args = p.parse_args()
    pin_one_core()
    from radsim import config
    from radsim.instrument.imaging.base import (
        build_imager,
        convolve_same,
        gaussian_beam_kernel,
        robust_rms,
    )
    from radsim.run import pipeline
    cfg = config.load(args.config, args.set)
    t0 = time.perf_counter()
    imager = build_imager(cfg)
    setup = time.perf_counter() - t0
    rss_setup = peak_rss_gib()
    t0 = time.perf_counter()
    r = pipeline.make_realisation(cfg, args.index, imager=imager, sky_model=False)  # as simulate
    wall = time.perf_counter() - t0
    rss = peak_rss_gib()
    im = r.imaged
    print(f"# {Path(args.config).name} realisation {args.index}: {cfg.field.npix}^2 pixels, {r.n_sources:,} sources, "
          f"{im.info.get('n_beams', 1)} beams of {getattr(imager, 'window', cfg.field.npix)}^2 pixels, "
          f"{getattr(imager, 'n_vis', 0):,} visibilities, one core")
    print()
    print("| stage | time (s) |")
    print("|---|---:|")
    print(f"| setup (once per configuration) | {setup:.1f} |")
    for stage, seconds in r.timings_s.items():
        print(f"| {stage} | {seconds:.1f} |")
    for step, seconds in im.timings_s.items():
        print(f"| image: {step} | {seconds:.1f} |")
    print(f"| **realisation** | **{wall:.1f}** |")
    print()
    print(f"peak resident memory: {rss_setup:.2f} GiB after setup, {rss:.2f} GiB after the realisation")
    print(f"goal: realisation < 90 s and < 4 GiB -> {'met' if wall < 90 and rss < 4 else 'NOT met'}")
    print()
    b = im.beam
    print(f"restoring beam {b.bmaj_arcsec:.2f} x {b.bmin_arcsec:.2f} arcsec, PA {b.bpa_deg:.0f} deg; "
          f"CLEAN: {im.info.get('clean_iterations')} components, "
          f"stops {im.info.get('clean_stops', im.info.get('clean_stop'))}")
    n = cfg.field.npix
    area = np.zeros((n, n), bool)
    s = cfg.tiles.size
    for y, x in r.tile_origin:
        area[y:y + s, x:x + s] = True
    print(f"tiles: {len(r.tile_origin)} of {(n // s) ** 2}; tile noise {1e6 * r.tile_noise.min():.1f}.."
          f"{1e6 * r.tile_noise.max():.1f} uJy/beam")
    t0 = time.perf_counter()
    truth_sky = r.observed.band_limited()   # the sky the imager observed
    truth = convolve_same(truth_sky, gaussian_beam_kernel(b, cfg.field.pixel_arcsec))
    pure = imager.image(np.zeros((n, n), np.float32), np.random.default_rng(12345))
    expected = robust_rms((truth + pure.restored)[area], 1)
    measured = robust_rms(im.restored[area], 1)
    print(f"restored robust rms over the tiles: {1e6 * measured:.2f} uJy/beam; expected (sky * beam + pure-noise "
          f"mosaic) {1e6 * expected:.2f} ({100 * (measured / expected - 1):+.1f}%); sky * beam alone "
          f"{1e6 * robust_rms(truth[area], 1):.2f}; requested survey rms {1e6 * im.noise_rms_jy:.2f}")
    diff = (im.restored - truth)[area]
    noise = im.noise_map[area] if im.noise_map is not None else np.full(diff.shape, im.noise_rms_jy)
    noise_rms = np.sqrt(np.mean(noise ** 2))
    print(f"restored - sky * beam: rms {1e6 * diff.std():.2f} uJy/beam, noise map rms {1e6 * noise_rms:.2f}"
          f" ({100 * (diff.std() / noise_rms - 1):+.1f}%)")
    if im.noise_map is not None:
        ratios = []
        for y in range(0, n, 64):
            for x in range(0, n, 64):
                if area[y:y + 64, x:x + 64].all():
                    ratios.append(pure.restored[y:y + 64, x:x + 64].std() / np.mean(im.noise_map[y:y + 64, x:x + 64]))
        ratios = np.array(ratios)
        print(f"pure-noise mosaic local rms / noise map over {ratios.size} boxes of 64^2: "
              f"median {np.median(ratios):.3f}, range {ratios.min():.3f}..{ratios.max():.3f}")
    print(f"(checks: {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
