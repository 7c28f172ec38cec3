#!/usr/bin/env python
"""Benchmark: building the container images from scratch on the local Debian bookworm base (mmdebstrap).

Builds each Dockerfile target with --no-cache (radsim, and radtrain's CPU variant) and prints the wall time of
every build step that took more than a second, the total, what a change to the source costs (the project
layer alone: its dependencies stay cached) and the image size. Starts the Docker engine and makes the base with
tests/localdocker.py when needed (root). About 12 minutes on 2 cores.

    .venv/bin/python benchmarks/containers.py [--targets radsim radtrain]
"""
import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import localdocker  # noqa: E402

TAGS = {"radsim": "radsim-bench:0.1.0", "radtrain": "radtrain-bench:0.1.0-cpu"}
ARGS = {"radsim": {"RADSIM_BASE": localdocker.BASE},
        "radtrain": {"RADTRAIN_BASE": localdocker.BASE, "RADTRAIN_VARIANT": "cpu"}}


def steps(log: str) -> list[tuple[str, float]]:
    """(step, seconds) for every step of a BuildKit --progress=plain log that ran."""
    names, done = {}, {}
    for line in log.splitlines():
        if m := re.match(r"#(\d+) \[(\S+ \d+/\d+)\] (.*)", line):
            names.setdefault(m.group(1), f"[{m.group(2)}] {m.group(3)}")
        elif m := re.match(r"#(\d+) DONE ([\d.]+)s", line):
            done[m.group(1)] = float(m.group(2))
    return [(names[k], done[k]) for k in names if k in done]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=["radsim", "radtrain"], choices=list(TAGS))
    args = ap.parse_args()
    why = localdocker.unavailable()
    if why:
        sys.exit(f"no Docker engine: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        engine = localdocker.Engine(Path(tmp))
        engine.start()
        try:
            localdocker.ensure_base()
            for target in args.targets:
                log = Path(tmp) / f"{target}.log"
                total = localdocker.build(ROOT, target, TAGS[target], ARGS[target], log, "--no-cache")
                print(f"\n{target} ({', '.join(f'{k}={v}' for k, v in ARGS[target].items())}), uncached:")
                project = 0.0
                for name, seconds in steps(log.read_text()):
                    if seconds >= 1:
                        print(f"  {seconds:7.1f} s  {name[:100]}")
                    if "--project-only" in name or name.endswith("COPY --from=src /src /src"):
                        project += seconds
                size = localdocker.image_size(TAGS[target])
                print(f"  total {total:.0f} s; a source change rebuilds the project layer only: {project:.0f} s; "
                      f"image {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB)")
        finally:
            engine.stop()


if __name__ == "__main__":
    main()
