#!/usr/bin/env python
"""Benchmark: imaging one sky with each backend, on one core.

Makes the sky of one realisation once (catalogue + render), then images it with the fast imager and with
WSClean (-j 1) with the config's settings, and prints setup and imaging time per backend, the fast/wsclean
ratio, the beams, and the rms of the two restored images. Goal (issue 3): fast under 30 s for one
configs/emu-seed.toml realisation (2560 x 2560) on one core here.

    .venv/bin/python benchmarks/imaging.py [--config configs/emu-seed.toml] [--index 0] [--no-wsclean]
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
    p.add_argument("--config", default=str(ROOT / "configs" / "emu-seed.toml"))
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--no-wsclean", action="store_true")
    args = p.parse_args()
    pin_one_core()
    from radsim import config
    from radsim.instrument.imaging import build_imager
    from radsim.run import pipeline
    sky_cfg = config.load(args.config, ["imaging.backend=none"])
    t = time.perf_counter()
    sky = pipeline.make_realisation(sky_cfg, args.index).sky
    print(f"# sky of {Path(args.config).name} index {args.index}: {sky.shape[0]}^2 pixels, made in "
          f"{time.perf_counter() - t:.1f} s")
    rows = []
    backends = ["fast"] + ([] if args.no_wsclean or not shutil.which("wsclean") else ["wsclean"])
    for backend in backends:
        cfg = config.load(args.config, [f"imaging.backend={backend}"])
        work = Path(tempfile.mkdtemp(prefix="radsim-bench-"))
        t0 = time.perf_counter()
        imager = build_imager(cfg, work)
        setup = time.perf_counter() - t0
        t1 = time.perf_counter()
        r = imager.image(sky, np.random.default_rng(0))
        image_s = time.perf_counter() - t1
        imager.close()
        shutil.rmtree(work, ignore_errors=True)
        rows.append((backend, setup, image_s, r))
    print()
    print("| backend | setup (s) | imaging (s) | total (s) | beam (arcsec) | restored rms (uJy/beam) | CLEAN |")
    print("|---|---:|---:|---:|---|---:|---|")
    for backend, setup, image_s, r in rows:
        b = r.beam
        print(f"| {backend} | {setup:.1f} | {image_s:.1f} | {setup + image_s:.1f} | {b.bmaj_arcsec:.1f} x "
              f"{b.bmin_arcsec:.1f} | {1e6 * float(np.std(r.restored)):.1f} | "
              f"{r.info.get('clean_iterations', '?')} components, {r.info.get('major_cycles', '?')} majors |")
    if len(rows) == 2:
        ratio = (rows[0][1] + rows[0][2]) / (rows[1][1] + rows[1][2])
        corr = np.corrcoef(rows[0][3].restored.ravel(), rows[1][3].restored.ravel())[0, 1]
        print(f"\nfast / wsclean time: {ratio:.3f}; restored-image correlation {corr:.4f}")
    print(f"peak resident memory: {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
