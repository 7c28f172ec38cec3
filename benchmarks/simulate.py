#!/usr/bin/env python
"""Benchmark: `radsim simulate` with 1 and 2 MPI ranks (mpirun) - realisations per second and parallel
efficiency, from the job's wall time (start-up included) and from the manifest's per-rank busy time.

Efficiency at N ranks = (rate with N ranks) / (N x rate with 1 rank). Goal (issue 4): at least 0.9 at 2 ranks.

    .venv/bin/python benchmarks/simulate.py [--config configs/quickstart.toml] [--repeats 6] [--ranks 1 2]
"""
from common import ROOT  # first: sets one thread per process before numpy is imported

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(ranks: int, cfg: str, out: Path, overrides: list[str]) -> tuple[float, dict]:
    exe = str(Path(sys.executable).with_name("radsim"))
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), exe, "simulate", cfg, "--out", str(out)]
    for o in overrides:
        cmd += ["--set", o]
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "manifest.json").read_text())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(ROOT / "configs" / "quickstart.toml"))
    p.add_argument("--repeats", type=int, default=6, help="realisations.repeats (quickstart: 4 sets x repeats)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    overrides = [f"realisations.repeats={args.repeats}"]
    base = Path(tempfile.mkdtemp(prefix="radsim-sim-"))
    rows = []
    try:
        for n in args.ranks:
            wall, m = run(n, args.config, base / f"n{n}", overrides)
            run_info = m["runs"][-1]
            made = run_info["made"]
            setup = max(r["setup_s"] for r in run_info["rank_info"])
            busy = [r["busy_s"] for r in run_info["rank_info"]]
            rows.append((n, made, wall, run_info["wall_s"], setup, busy))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"# radsim simulate {Path(args.config).name} with realisations.repeats={args.repeats}, "
          f"{os.cpu_count()} cores, one thread per rank")
    print()
    print("| ranks | realisations | job wall (s) | realisations/s | efficiency | driver wall (s) | imager set-up (s) "
          "| busy per rank (s) | efficiency (busy) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    r1 = rows[0][1] / rows[0][2]
    b1 = rows[0][1] / max(rows[0][5])
    for n, made, wall, dwall, setup, busy in rows:
        rate = made / wall
        print(f"| {n} | {made} | {wall:.1f} | {rate:.3f} | {rate / (n * r1) * rows[0][0]:.2f} | {dwall:.1f} | "
              f"{setup:.1f} | {', '.join(f'{b:.1f}' for b in busy)} | "
              f"{made / max(busy) / (n * b1) * rows[0][0]:.2f} |")


if __name__ == "__main__":
    main()
