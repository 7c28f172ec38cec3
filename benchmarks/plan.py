"""How well `radsim plan` predicts runs made with other imaging modes: the built-in calibration, then each dataset
given alone (as `radsim scaling DIR` would fit it), plans every dataset's own config on its own ranks, beside its
measured wall time. On the diagonal a calibration plans its own run; off it the plan adds or takes off what the
imaging modes cost beyond the fast imager's PSF major cycle (radsim.studies.scaling.extra_imaging_s).

    .venv/bin/python benchmarks/plan.py runs/mc/plan-flat-image runs/mc/plan-flat runs/mc/plan-exact \
        runs/mc/transfer-wsclean-linear runs/mc/plan-flat-60s runs/mc/plan-exact-60s
"""
import argparse
import json
from pathlib import Path

import common  # noqa: F401  (one thread)

from radsim import config
from radsim.studies import scaling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", help="finished radsim dataset directories")
    args = ap.parse_args()
    runs = [scaling.read_simulation(d) for d in args.datasets]
    configs = [config.from_dict(json.loads((Path(d) / "manifest.json").read_text())["config"]) for d in args.datasets]
    print("| calibrated on | imaging | planned | imaging | ranks | measured wall (s) | planned wall (s) | error |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    calibrations = [("built-in (emu-seed mosaics)", scaling.DEFAULT_MODEL)]
    calibrations += [(f"`{Path(cal.path).name}`", scaling.fit_model([cal])) for cal in runs]
    for name, model in calibrations:
        for run, cfg in zip(runs, configs):
            p = scaling.plan(cfg, 1, run.ranks, model)
            print(f"| {name} | {model.sim_imaging_mode} | `{Path(run.path).name}` | {run.imaging_mode} | "
                  f"{run.ranks} | {run.wall_s:.1f} | {p['wall_s']:.1f} | {p['wall_s'] / run.wall_s - 1:+.0%} |")


if __name__ == "__main__":
    main()
