#!/usr/bin/env python
"""Benchmark: one sky realisation (catalogue + sky image + labels) on one core.

Prints wall time and sources/s per stage and the peak resident memory, as a Markdown table. Imaging is left
out (backend none); benchmarks/imaging.py times it.
Goal (issue 2): one configs/emu-seed.toml realisation (tens of millions of sources) in under 10 s and 2 GiB.

    .venv/bin/python benchmarks/realisation.py [--config configs/emu-seed.toml] [--index 0] [--repeat 3]
"""
from common import ROOT, peak_rss_gib, pin_one_core  # first: sets one thread before numpy is imported

import argparse
import platform
import time
from pathlib import Path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "emu-seed.toml"))
    p.add_argument("--index", type=int, default=0, help="realisation (0: the unmodified counts of emu-seed)")
    p.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = p.parse_args()
    pin_one_core()
    from radsim import config
    from radsim.run import pipeline
    cfg = config.load(args.config, ["imaging.backend=none"])   # this benchmark: catalogue, sky, labels
    t0 = time.perf_counter()
    imager = pipeline.build_imager(cfg)        # once per configuration (the mosaic's primary beams, noise map)
    setup = time.perf_counter() - t0
    best = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = pipeline.make_realisation(cfg, args.index, imager=imager)
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, result)
    wall, r = best
    rss_gib = peak_rss_gib()
    n = r.n_sources
    print(f"# one realisation: {Path(args.config).name} index {args.index}, {cfg.field.npix}^2 pixels, "
          f"{n:,} sources, one core ({platform.processor() or platform.machine()}), best of {args.repeat}")
    print()
    print("| stage | time (s) | sources/s |")
    print("|---|---:|---:|")
    print(f"| setup (once per configuration, not in the total) | {setup:.2f} | - |")
    for stage, seconds in r.timings_s.items():
        print(f"| {stage} | {seconds:.2f} | {n / seconds:,.0f} |")
    print(f"| **total** | **{wall:.2f}** | **{n / wall:,.0f}** |")
    print()
    print(f"peak resident memory: {rss_gib:.2f} GiB")
    print(f"goal: < 10 s and < 2 GiB -> {'met' if wall < 10 and rss_gib < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
