#!/usr/bin/env python
"""Benchmark: the fast imager's two major cycles (``imaging.major_cycle``), on one core.

For the config's observation (default: the transfer pointing of configs/emu-seed-transfer.toml, 12 million
visibilities over 16 channels, a 1024^2 window), prints the time of one application of the instrument to a sparse
CLEAN model (5,000 components): the PSF convolution ('psf', flat sky) and the prediction to every visibility and
imaging again with the w-term ('visibilities', ducc0's w-gridder), then images the sky of one realisation with
both (the visibility noise of the same draw, the config's CLEAN) and prints each one's time for the dirty image
and for CLEAN, its major cycles and components, the whole imaging time and the peak memory. With ``--epsilons``
the exact cycle again at each of those accuracies of ducc0's w-gridder (``imaging.gridder_epsilon``): the same
times, and how far its restored image lies from the first one's (rms and largest difference, in units of the
image's noise rms).

    .venv/bin/python benchmarks/major_cycle.py [--config configs/emu-seed-transfer.toml] [--index 0] [--repeats 2]
                                               [--epsilons 1e-5 1e-4 3e-4 1e-3]
"""
from common import ROOT, best_of, peak_rss_gib, pin_one_core  # first: sets one thread before numpy is imported

import argparse
import time
from pathlib import Path

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "emu-seed-transfer.toml"))
    p.add_argument("--index", type=int, default=0, help="the realisation whose sky is imaged")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--epsilons", type=float, nargs="*", default=[],
                   help="also the exact cycle at these imaging.gridder_epsilon values (the first is the reference)")
    args = p.parse_args()
    pin_one_core()
    from radsim import config
    from radsim.instrument.imaging import fast
    from radsim.run import pipeline

    imagers, setups = {}, {}
    for name in fast.MAJOR_CYCLES:
        cfg = config.load(args.config, ['imaging.noise="visibilities"', f'imaging.major_cycle="{name}"'])
        t = time.perf_counter()
        imagers[name] = fast.from_config(cfg)
        setups[name] = time.perf_counter() - t
    m = imagers["psf"].window
    print(f"# {Path(args.config).name}: {imagers['psf'].n_vis / 1e6:.1f} million visibilities, {m}^2 window, "
          f"one core; set-up {setups['psf']:.1f} s (psf), {setups['visibilities']:.1f} s (visibilities)")
    rng = np.random.default_rng(1)
    model = np.zeros((m, m))
    model.ravel()[rng.choice(m * m, 5000, replace=False)] = rng.exponential(1e-4, 5000)
    print("\n| one application to a 5,000-component model | time (s) |")
    print("|---|---:|")
    for name, imager in imagers.items():
        operator = imager.beam_operator(0)
        print(f"| {name} | {best_of(lambda: operator(model), args.repeats):.2f} |")

    sky_cfg = config.load(args.config, ["imaging.backend=none"])
    t = time.perf_counter()
    sky = pipeline.make_realisation(sky_cfg, args.index).sky
    print(f"\n# the sky model of realisation {args.index} ({time.perf_counter() - t:.1f} s), each pixel a point")
    print("\n| major_cycle | dirty image (s) | CLEAN (s) | imaging (s) | major cycles | components | stop |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, imager in imagers.items():
        t = time.perf_counter()
        r = imager.image(sky, np.random.default_rng(0))
        total = time.perf_counter() - t
        print(f"| {name} | {r.timings_s.get('dirty', 0.0):.1f} | {r.timings_s.get('clean', 0.0):.1f} | "
              f"{total:.1f} | {r.info['major_cycles']} | {r.info['clean_iterations']} | {r.info['clean_stop']} |")
    if args.epsilons:
        print("\n| gridder_epsilon | one application (s) | dirty image (s) | CLEAN (s) | imaging (s) | major cycles | "
              "restored - first, rms / noise | largest / noise |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        first = None
        for eps in args.epsilons:
            cfg = config.load(args.config, ['imaging.noise="visibilities"', 'imaging.major_cycle="visibilities"',
                                            f"imaging.gridder_epsilon={eps!r}"])
            imager = fast.from_config(cfg)
            operator = imager.beam_operator(0)
            once = best_of(lambda: operator(model), args.repeats)
            t = time.perf_counter()
            r = imager.image(sky, np.random.default_rng(0))
            total = time.perf_counter() - t
            first = r.restored if first is None else first
            diff = (r.restored - first) / imager.noise_rms_jy
            print(f"| {eps:g} | {once:.2f} | {r.timings_s.get('dirty', 0.0):.1f} | "
                  f"{r.timings_s.get('clean', 0.0):.1f} | {total:.1f} | {r.info['major_cycles']} | "
                  f"{diff.std():.2e} | {np.abs(diff).max():.2e} |")
    print(f"\npeak resident memory: {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
