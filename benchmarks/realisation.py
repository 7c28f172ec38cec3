#!/usr/bin/env python
"""Benchmark: one sky realisation (catalogue + sky image + labels) on one core.

Prints wall time and sources/s per stage and the peak resident memory, as a Markdown table.
Goal (issue 2): one configs/emu-seed.toml realisation (tens of millions of sources) in under 10 s and 2 GiB.

    .venv/bin/python benchmarks/realisation.py [--config configs/emu-seed.toml] [--index 0] [--repeat 3]
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "emu-seed.toml"))
    p.add_argument("--index", type=int, default=0, help="realisation (0: the unmodified counts of emu-seed)")
    p.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from radsim import config, pipeline
    cfg = config.load(args.config)
    best = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = pipeline.make_realisation(cfg, args.index)
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, result)
    wall, r = best
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    n = r.n_sources
    print(f"# one realisation: {Path(args.config).name} index {args.index}, {cfg.field.npix}^2 pixels, "
          f"{n:,} sources, one core ({platform.processor() or platform.machine()}), best of {args.repeat}")
    print()
    print("| stage | time (s) | sources/s |")
    print("|---|---:|---:|")
    for stage, seconds in r.timings_s.items():
        print(f"| {stage} | {seconds:.2f} | {n / seconds:,.0f} |")
    print(f"| **total** | **{wall:.2f}** | **{n / wall:,.0f}** |")
    print()
    print(f"peak resident memory: {rss_gib:.2f} GiB")
    print(f"goal: < 10 s and < 2 GiB -> {'met' if wall < 10 and rss_gib < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
