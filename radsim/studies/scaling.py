"""Scaling studies: read simulation and training runs, tabulate speed-up and parallel efficiency, fit a cost
model and predict large runs.

A simulation run is a dataset directory (``manifest.json``: its ``runs`` records wall time, ranks and per-rank
set-up/busy time; its ``realisations`` the per-stage time of each realisation and its shard bytes). A training
run is a radtrain run directory, read through its documented run record alone (``run.json``: per launch the
ranks, batch per rank, the own-timer profile of data and allreduce time per step, and the throughput: step time
and tiles/s). Both are plain files of documented layout, so this module imports neither MPI nor radtrain.

Definitions (N ranks; rate = realisations/s or tiles/s from wall-clock time):

- strong scaling: the same total work (realisations, or the global batch for training) on 1..N ranks;
  speed-up S(N) = rate(N) / rate(N0), efficiency E(N) = S(N) N0 / N, against the run with the fewest ranks N0;
- weak scaling: the same work per rank (realisations per rank, or the batch per rank); efficiency
  E(N) = (rate(N) / N) / (rate(N0) / N0).

Cost model (documented in docs/scaling.md), fitted to the measured runs:

- simulation: wall(N, R) = t_setup + ceil(R / N) t_real + R b / B_io, with t_real the mean time of one
  realisation on one core (the sum of its stages, write included), t_setup the ranks' set-up (imaging
  geometry, PSF), b the bytes of one realisation and B_io the file system's aggregate write bandwidth (infinite
  unless given; writes are already inside t_real on one rank);
- training: step(1) = c B; step(N > 1) = c_N B + o + t_allreduce(N), t_allreduce(N) = a + 2 (N - 1) / N V / beta
  (ring allreduce of the gradient volume V), with c the compute time per tile of one rank, c_N and o the
  compute per tile and fixed overhead per step once ranks work together (Horovod's negotiation cycle, ranks
  sharing a node), fitted over batch sizes, and a, beta the latency and bandwidth of the interconnect measured
  by the runs' own allreduce timers; tiles/s(N) = N B / step(N).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from radsim.dataset import atomic
from radsim.errors import RadsimError

STAGES = ("catalogue", "render", "labels", "image", "tiles", "write")


class ScalingError(RadsimError, ValueError):
    """A directory that is not a finished simulation or training run."""


@dataclass
class SimRun:
    path: str
    ranks: int
    nodes: int
    realisations: int
    wall_s: float
    setup_s: float
    stage_s: dict            # stage -> mean seconds per realisation
    bytes_per_realisation: float
    npix: int
    sources_per_realisation: float
    kind: str = "simulation"
    imaging_mode: str | None = None       # imaging_mode() of the run's config; None when it cannot be read
    image_extra_s: float | None = None    # extra_imaging_s() of the run's config

    @property
    def rate(self) -> float:
        """Realisations per second (wall clock)."""
        return self.realisations / self.wall_s

    @property
    def t_real(self) -> float:
        return sum(self.stage_s.values())


@dataclass
class TrainRun:
    path: str
    ranks: int
    batch_per_rank: int
    steps_per_epoch: int
    tiles_per_s: float
    step_s: float
    data_s: float
    allreduce_s: float
    allreduce_mb: float
    parameters: int
    wall_s: float
    kind: str = "training"

    @property
    def rate(self) -> float:
        return self.tiles_per_s

    @property
    def global_batch(self) -> int:
        return self.batch_per_rank * self.ranks


def read_simulation(path) -> SimRun:
    """The run of a dataset directory that made most of its realisations."""
    path = Path(path)
    m = json.loads((path / "manifest.json").read_text())
    runs = [r for r in m.get("runs", []) if r.get("made")]
    if not runs:
        raise ScalingError(f"{path}: no simulation run made any realisation")
    run = max(runs, key=lambda r: r["made"])
    recs = [r for r in m["realisations"] if r.get("timings_s")]
    stage_s = {s: statistics.fmean(r["timings_s"].get(s, 0.0) for r in recs) for s in STAGES}
    total_bytes = sum(s.get("bytes", 0) for s in m["shards"])
    mode = extra = None
    try:
        from radsim import config
        cfg = config.from_dict(m["config"], str(path / "manifest.json"))
    except (KeyError, TypeError, ValueError, OSError):
        pass                       # a manifest of an older config: the calibration says it does not know
    else:
        mode, extra = imaging_mode(cfg), extra_imaging_s(cfg)
    return SimRun(path=str(path), ranks=run["ranks"], nodes=len(run.get("hosts", [])) or 1,
                  realisations=run["made"], wall_s=run["wall_s"],
                  setup_s=max(r["setup_s"] for r in run["rank_info"]), stage_s=stage_s,
                  bytes_per_realisation=total_bytes / max(1, len(m["realisations"])), npix=m["npix"],
                  sources_per_realisation=statistics.fmean(r["n_sources"] for r in m["realisations"]),
                  imaging_mode=mode, image_extra_s=extra)


def read_training(path) -> TrainRun:
    """The last launch of a radtrain run, from its run record (``run.json``, documented in radtrain.rundir):
    the launch's ``ranks``, ``batch_per_rank``, ``steps_per_epoch``, ``parameters``, ``wall_s``, ``profile`` and
    ``throughput`` (medians over its epochs after the first, which includes tracing). Nothing else of the run
    directory is read."""
    path = Path(path)
    try:
        run = json.loads((path / "run.json").read_text())
    except (OSError, ValueError) as exc:
        raise ScalingError(f"{path}: cannot read the run record run.json: {exc}") from None
    if not isinstance(run, dict) or run.get("format") != "radtrain-run":
        raise ScalingError(f"{path}/run.json: not a radtrain run record")
    if not run.get("runs"):
        raise ScalingError(f"{path}: the training run has no launch record")
    launch = run["runs"][-1]
    through = launch.get("throughput") or {}
    if not through.get("epochs"):
        raise ScalingError(f"{path}: no epoch recorded")
    prof = launch.get("profile", {})
    return TrainRun(path=str(path), ranks=launch["ranks"], batch_per_rank=launch["batch_per_rank"],
                    steps_per_epoch=launch["steps_per_epoch"], tiles_per_s=through["tiles_per_s"],
                    step_s=through["step_s"], data_s=prof.get("data_s", 0.0), allreduce_s=prof.get("allreduce_s", 0.0),
                    allreduce_mb=prof.get("allreduce_mb", 0.0), parameters=launch.get("parameters", 0),
                    wall_s=launch.get("wall_s", float("nan")))


def read_run(path):
    path = Path(path)
    if (path / "manifest.json").exists():
        return read_simulation(path)
    if (path / "run.json").exists():
        return read_training(path)
    raise ScalingError(f"{path}: neither a radsim dataset (manifest.json) nor a radtrain run (run.json)")


# --------------------------------------------------------------------------------------------------------------
# tables

def _work(run) -> tuple:
    """(total work, work per rank) keys for grouping strong and weak scaling series."""
    if run.kind == "simulation":
        return (run.realisations, run.npix), (run.realisations / run.ranks, run.npix)
    return (run.global_batch,), (run.batch_per_rank,)


def series(run) -> tuple[str | None, str | None]:
    """(series name, mode) from a sweep directory name such as ``sim-strong-n4`` or ``train-weak-n2``
    (jobs/scaling.sh); (None, None) for other names, whose runs are compared in both modes by their work."""
    m = re.match(r"^(.*(strong|weak).*?)-n\d+$", Path(run.path).name)
    return (m.group(1), m.group(2)) if m else (None, None)


def scaling_rows(runs) -> list[dict]:
    """One row per run: its rate, and strong / weak speed-up and efficiency against the run of the same kind
    with the fewest ranks and the same total work / work per rank (None when there is no such baseline). Runs
    of a named sweep series (jobs/scaling.sh) are compared only within their series."""
    rows = []
    for run in sorted(runs, key=lambda r: (r.kind, series(r)[0] or "", r.ranks, r.path)):
        strong_key, weak_key = _work(run)
        name, only = series(run)
        row = {"kind": run.kind, "path": run.path, "ranks": run.ranks, "rate": run.rate, "series": name,
               "rate_unit": "realisations/s" if run.kind == "simulation" else "tiles/s",
               "strong_speedup": None, "strong_efficiency": None, "weak_efficiency": None}
        for mode, key in (("strong", strong_key), ("weak", weak_key)):
            if only is not None and mode != only:
                continue
            peers = [r for r in runs if r.kind == run.kind and _work(r)[0 if mode == "strong" else 1] == key
                     and series(r)[0] == name]
            base = min(peers, key=lambda r: r.ranks)
            if base is run and len(peers) == 1:
                continue
            ratio = run.rate / base.rate
            if mode == "strong":
                row["strong_speedup"] = ratio
                row["strong_efficiency"] = ratio * base.ranks / run.ranks
            else:
                row["weak_efficiency"] = ratio * base.ranks / run.ranks
        if run.kind == "simulation":
            row.update(wall_s=run.wall_s, realisations=run.realisations, setup_s=run.setup_s,
                       **{f"{s}_s": run.stage_s[s] for s in STAGES},
                       io_mb_per_s=run.bytes_per_realisation / run.stage_s["write"] / 2 ** 20
                       if run.stage_s["write"] > 0 else None)
        else:
            row.update(batch_per_rank=run.batch_per_rank, step_s=run.step_s, data_s=run.data_s,
                       allreduce_s=run.allreduce_s, allreduce_mb=run.allreduce_mb)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------------------
# cost model

@dataclass
class CostModel:
    """Fitted parameters (units in the names); see the module docstring for the formulas."""
    sim_t_real_s: float | None = None
    sim_t_setup_s: float | None = None
    sim_stage_s: dict = field(default_factory=dict)
    sim_bytes_per_realisation: float | None = None
    sim_sources_per_realisation: float | None = None
    sim_npix: int | None = None
    train_compute_s_per_tile: float | None = None
    train_allreduce_latency_s: float | None = None
    train_allreduce_gb_per_s: float | None = None
    train_allreduce_mb: float | None = None
    train_multi_compute_s_per_tile: float | None = None
    train_step_overhead_s: float = 0.0
    sim_imaging_mode: str | None = None         # imaging_mode() of the calibration runs (None: not recorded)
    sim_image_extra_s: float | None = None      # extra_imaging_s() of the calibration runs

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CostModel":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    # -- simulation
    def sim_wall_s(self, ranks: int, realisations: int, io_gb_per_s: float | None = None,
                   t_real_s: float | None = None) -> float:
        t_real = self.sim_t_real_s if t_real_s is None else t_real_s
        wall = self.sim_t_setup_s + math.ceil(realisations / ranks) * t_real
        if io_gb_per_s:
            wall = max(wall, self.sim_t_setup_s + realisations * self.sim_bytes_per_realisation / (io_gb_per_s * 1e9))
        return wall

    # -- training
    def allreduce_s(self, ranks: int, volume_mb: float | None = None) -> float:
        if ranks <= 1:
            return 0.0
        v = (self.train_allreduce_mb if volume_mb is None else volume_mb) * 2 ** 20
        return self.train_allreduce_latency_s + 2 * (ranks - 1) / ranks * v / (self.train_allreduce_gb_per_s * 1e9)

    def train_step_s(self, ranks: int, batch_per_rank: int, volume_mb: float | None = None) -> float:
        if ranks <= 1:
            return self.train_compute_s_per_tile * batch_per_rank
        c = self.train_multi_compute_s_per_tile or self.train_compute_s_per_tile
        return c * batch_per_rank + self.train_step_overhead_s + self.allreduce_s(ranks, volume_mb)

    def train_tiles_per_s(self, ranks: int, batch_per_rank: int, volume_mb: float | None = None) -> float:
        return ranks * batch_per_rank / self.train_step_s(ranks, batch_per_rank, volume_mb)


def fit_model(runs) -> CostModel:
    """Fit the cost model to measured runs (either kind may be missing)."""
    model = CostModel()
    sims = [r for r in runs if r.kind == "simulation"]
    if sims:
        one = min(sims, key=lambda r: r.ranks)
        model.sim_stage_s = {s: statistics.fmean(r.stage_s[s] for r in sims) for s in STAGES}
        # one realisation on one core: the busiest rank's time per realisation in the fewest-rank run
        model.sim_t_real_s = statistics.fmean(r.t_real for r in sims)
        model.sim_t_setup_s = statistics.fmean(r.setup_s for r in sims)
        model.sim_bytes_per_realisation = one.bytes_per_realisation
        model.sim_sources_per_realisation = one.sources_per_realisation
        model.sim_npix = one.npix
        modes = {r.imaging_mode for r in sims}
        if len(modes) == 1 and None not in modes:
            model.sim_imaging_mode = one.imaging_mode
            model.sim_image_extra_s = one.image_extra_s
    trains = [r for r in runs if r.kind == "training"]
    if trains:
        singles = [r for r in trains if r.ranks == 1] or [min(trains, key=lambda r: r.ranks)]
        model.train_compute_s_per_tile = statistics.fmean(
            (r.step_s - (r.allreduce_s if r.ranks > 1 else 0.0)) / r.batch_per_rank for r in singles)
        multi = [r for r in trains if r.ranks > 1 and r.allreduce_s > 0]
        model.train_allreduce_mb = statistics.fmean(r.allreduce_mb for r in trains)
        if multi:
            # t = a + 2 (N-1)/N V / beta: least squares in (a, 1/beta) when volumes or rank counts differ,
            # otherwise all of it attributed to bandwidth with a = 0
            xs = [2 * (r.ranks - 1) / r.ranks * r.allreduce_mb * 2 ** 20 for r in multi]
            ts = [r.allreduce_s for r in multi]
            if len(set(xs)) > 1:
                mx, mt = statistics.fmean(xs), statistics.fmean(ts)
                slope = sum((x - mx) * (t - mt) for x, t in zip(xs, ts)) / sum((x - mx) ** 2 for x in xs)
                model.train_allreduce_latency_s = max(0.0, mt - slope * mx)
                model.train_allreduce_gb_per_s = 1.0 / max(slope, 1e-15) / 1e9
            else:
                model.train_allreduce_latency_s = 0.0
                model.train_allreduce_gb_per_s = xs[0] / ts[0] / 1e9
        else:
            model.train_allreduce_latency_s, model.train_allreduce_gb_per_s = 0.0, float("inf")
        # with several ranks a step also pays a fixed overhead (Horovod's negotiation cycle, ranks sharing a
        # node's memory and cores): step - allreduce = c_N B + o, fitted when batches differ
        if multi:
            bs = [r.batch_per_rank for r in multi]
            ys = [r.step_s - r.allreduce_s for r in multi]
            if len(set(bs)) > 1:
                mb, my = statistics.fmean(bs), statistics.fmean(ys)
                slope = sum((b - mb) * (y - my) for b, y in zip(bs, ys)) / sum((b - mb) ** 2 for b in bs)
                model.train_multi_compute_s_per_tile = slope
                model.train_step_overhead_s = max(0.0, my - slope * mb)
            else:
                model.train_multi_compute_s_per_tile = model.train_compute_s_per_tile
                model.train_step_overhead_s = max(0.0, statistics.fmean(
                    y - model.train_compute_s_per_tile * b for b, y in zip(bs, ys)))
    return model


def predictions(model: CostModel, runs) -> list[dict]:
    """The model's prediction beside each measurement (rate in the run's units) and its relative error."""
    out = []
    for run in runs:
        if run.kind == "simulation" and model.sim_t_real_s:
            predicted = run.realisations / model.sim_wall_s(run.ranks, run.realisations)
        elif run.kind == "training" and model.train_compute_s_per_tile:
            predicted = model.train_tiles_per_s(run.ranks, run.batch_per_rank, run.allreduce_mb)
        else:
            continue
        out.append({"kind": run.kind, "path": run.path, "ranks": run.ranks, "measured": run.rate,
                    "predicted": predicted, "error": predicted / run.rate - 1.0})
    return out


# --------------------------------------------------------------------------------------------------------------
# report

def _fmt(v, spec=".3g"):
    return "" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def write_report(runs, out) -> dict:
    """scaling.csv, scaling.md, model.json and plots (speedup.png, efficiency.png, stages.png) in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = scaling_rows(runs)
    model = fit_model(runs)
    preds = {(p["kind"], p["path"]): p for p in predictions(model, runs)}
    for row in rows:
        p = preds.get((row["kind"], row["path"]))
        row["predicted_rate"] = p["predicted"] if p else None
        row["model_error"] = p["error"] if p else None
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("kind", "path", "ranks"), k))
    buf = io.StringIO()
    w = csv.DictWriter(buf, keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic.write_text(out / "scaling.csv", buf.getvalue())
    atomic.write_json(out / "model.json", model.to_dict())
    md = ["| kind | ranks | run | rate | strong speed-up | strong eff. | weak eff. | model | model error |",
          "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r['kind']} | {r['ranks']} | `{Path(r['path']).name}` | {_fmt(r['rate'])} {r['rate_unit']} | "
                  f"{_fmt(r['strong_speedup'], '.2f')} | {_fmt(r['strong_efficiency'], '.2f')} | "
                  f"{_fmt(r['weak_efficiency'], '.2f')} | {_fmt(r['predicted_rate'])} | "
                  f"{_fmt(r['model_error'] * 100 if r['model_error'] is not None else None, '+.1f')}% |")
    sims = [r for r in rows if r["kind"] == "simulation"]
    if sims:
        md += ["", "Simulation, mean seconds per realisation and stage (one core), set-up per rank, write speed:", "",
               "| ranks | run | setup | " + " | ".join(STAGES) + " | write MB/s |",
               "|---:|---|---:|" + "---:|" * len(STAGES) + "---:|"]
        for r in sims:
            md.append(f"| {r['ranks']} | `{Path(r['path']).name}` | {r['setup_s']:.2f} | "
                      + " | ".join(f"{r[f'{s}_s']:.3f}" for s in STAGES) + f" | {_fmt(r['io_mb_per_s'], '.0f')} |")
    trains = [r for r in rows if r["kind"] == "training"]
    if trains:
        md += ["", "Training, seconds per step (own timers: the input pipeline alone, one gradient allreduce):", "",
               "| ranks | run | batch/rank | step | data | allreduce | gradient MB |",
               "|---:|---|---:|---:|---:|---:|---:|"]
        for r in trains:
            md.append(f"| {r['ranks']} | `{Path(r['path']).name}` | {r['batch_per_rank']} | {r['step_s']:.4f} | "
                      f"{r['data_s']:.4f} | {r['allreduce_s']:.4f} | {r['allreduce_mb']:.2f} |")
    atomic.write_text(out / "scaling.md", "\n".join(md) + "\n")
    from radsim import figures
    figures.scaling(rows, out)
    return {"rows": rows, "model": model, "markdown": "\n".join(md), "out": str(out)}


# --------------------------------------------------------------------------------------------------------------
# planning a large run

# Measured on the development machine (2 cores, benchmarks/README.md, benchmarks/observation.py): one
# configs/emu-seed.toml realisation (2560^2 pixels, 29.3 million sources, a mosaic of 36 PAF beams) with the fast
# imager on one core, after a 21.7-s setup. Used by `radsim plan` when no calibration from a scaling report is
# given (the single-image set-up of configs/emu-seed-single.toml images about 5x faster: calibrate with
# `radsim scaling` for it).
DEFAULT_MODEL = CostModel(sim_t_real_s=68.6, sim_t_setup_s=21.7,
                          sim_stage_s={"catalogue": 5.3, "render": 3.1, "labels": 1.3, "image": 58.0,
                                       "tiles": 0.04, "write": 0.04},
                          sim_bytes_per_realisation=282 * (128 * 128 * 4 + 10 * 8 + 20),
                          sim_sources_per_realisation=29.3e6,
                          sim_npix=2560, sim_imaging_mode="fast", sim_image_extra_s=0.0)
SOURCE_STAGES = ("catalogue", "render", "labels")     # time grows with the number of sources
PIXEL_STAGES = ("image", "tiles", "write")            # time grows with the number of pixels


# What imaging modes cost beyond the fast imager's PSF major cycle with image-plane noise (the built-in calibration's
# mode), on one core of the development machine (benchmarks/README.md, "Planning by imaging mode"). `radsim simulate`
# of the transfer pointing's 12 fixed pairs (configs/emu-seed-transfer.toml: one beam, a 1024^2 window, 754,110 rows
# x 16 channels = 12.07 million visibilities; and with 60-s integrations, 6.03 million) on 2 ranks, nothing else
# running, 2026-12-07; image stage per sky: 1.05 s with the PSF and image-plane noise; with the noise drawn on the
# visibilities 6.37 s (3.88 s at 6.03 million); with that and the exact major cycle 54.21 s (32.40 s); by WSClean
# (linear restore) 178.9 s; with 9 x 9 w nodes and the visibilities' noise about 16 s (tenth session).
# Each part that grids visibilities costs a + b x (million visibilities) per beam, a for a 1024^2 window growing with
# its pixels: the two integrations fix a and b; WSClean, measured once, is taken as b alone.


def _per_beam(at_12, at_6) -> tuple[float, float]:
    """(a, b) of a + b x million visibilities through the measurements at 12.07 and 6.03 million."""
    b = (at_12 - at_6) / (12.07 - 6.03)
    return at_12 - b * 12.07, b


EXTRA_IMAGING_PER_BEAM = {"visibility noise": _per_beam(6.37 - 1.05, 3.88 - 1.05),
                          "exact major cycle": _per_beam(54.21 - 6.37, 32.40 - 3.88),
                          "wsclean": (0.0, (178.9 - 1.05) / 12.07)}
EXTRA_IMAGING_S_PER_BEAM_NODE2_MPIX = (16.0 - 6.37) / 81 / (1024 ** 2 / 1e6)
W_NODE_PSFS_S_PER_NODE2_MVIS = 643.0 / 81 / 12.07
# The parts that grid visibilities were measured at the w-gridder's default accuracy (imaging.gridder_epsilon =
# 1e-5); a looser one takes a narrower kernel. The exact major cycle's imaging of realisation 0 of the same pointing
# on one core (benchmarks/major_cycle.py --epsilons, benchmarks/README.md): 50.0, 41.4, 38.7 and 34.3 s at 1e-5,
# 1e-4, 3e-4 and 1e-3; as (epsilon, time / time at 1e-5), interpolated in log epsilon.
GRIDDER_EPSILON_COST = ((1e-5, 1.0), (1e-4, 41.4 / 50.0), (3e-4, 38.7 / 50.0), (1e-3, 34.3 / 50.0))


def gridding_cost_factor(epsilon: float) -> float:
    """What gridding visibilities costs at the w-gridder's accuracy ``epsilon`` relative to 1e-5 (the accuracy the
    extras above were measured at): GRIDDER_EPSILON_COST interpolated in log10(epsilon), held at its ends."""
    import numpy as np
    eps, cost = zip(*GRIDDER_EPSILON_COST)
    return float(np.interp(math.log10(epsilon), np.log10(eps), cost))


def imaging_mode(cfg) -> str:
    """The imaging mode whose cost `radsim plan` scales: 'none', 'wsclean', 'yandasoft', or 'fast' with what it adds
    (', exact major cycle', ', K x K w nodes', ', visibility noise')."""
    im = cfg.imaging
    if im.backend != "fast":
        return im.backend
    return "fast" + "".join(part for part, used in (
        (", exact major cycle", im.major_cycle == "visibilities"),
        (f", {im.w_nodes} x {im.w_nodes} w nodes", bool(im.w_nodes)),
        (", visibility noise", im.noise == "visibilities")) if used)


def extra_imaging_s(cfg) -> float | None:
    """Seconds per realisation on one core that a config's imaging mode costs beyond the fast imager's PSF major
    cycle with image-plane noise (the measurements above, scaled by beams, window pixels and visibilities, and for
    the fast imager's by :func:`gridding_cost_factor`); 0 for 'fast' and 'none', None where nothing was measured
    (yandasoft)."""
    im = cfg.imaging
    if im.backend == "none":
        return 0.0
    if im.backend not in ("fast", "wsclean"):
        return None
    from radsim.run.pipeline import imaging_work
    n_beams, mvis, window = imaging_work(cfg)
    parts = [im.backend] if im.backend == "wsclean" else [
        part for part, used in (("exact major cycle", im.major_cycle == "visibilities"),
                                ("visibility noise", im.noise == "visibilities")) if used]
    extra = sum((n_beams * (a * (window / 1024) ** 2 + b * mvis)
                 for a, b in (EXTRA_IMAGING_PER_BEAM[part] for part in parts)), 0.0)
    if im.backend == "fast":          # every part of the fast imager's extra grids with ducc0 at gridder_epsilon
        extra *= gridding_cost_factor(im.gridder_epsilon)
    if im.backend == "fast" and im.w_nodes:
        extra += EXTRA_IMAGING_S_PER_BEAM_NODE2_MPIX * n_beams * im.w_nodes ** 2 * window ** 2 / 1e6
    return extra


def extra_setup_s(cfg) -> float:
    """Seconds of set-up that a config's imaging mode adds to the fast imager's: the w nodes' PSFs (made once per
    PSF cache: ``RADSIM_CACHE_DIR``), 0 for every other mode."""
    if cfg.imaging.backend != "fast" or not cfg.imaging.w_nodes:
        return 0.0
    from radsim.run.pipeline import imaging_work
    return W_NODE_PSFS_S_PER_NODE2_MVIS * cfg.imaging.w_nodes ** 2 * imaging_work(cfg)[1]


def expected_sources(cfg, sample: int = 16) -> float:
    """Mean expected number of sources per realisation of a config (model integral over the field), over up to
    ``sample`` realisations spread over the plan."""
    return expected_sources_range(cfg, sample)[0]


def expected_sources_range(cfg, sample: int = 16) -> tuple[float, float]:
    """(mean, largest) expected number of sources per realisation, over up to ``sample`` realisations."""
    import numpy as np

    from radsim.run import pipeline, realisations
    from radsim.sky import catalogue
    from radsim.sky.grid import Grid
    n = realisations.n_realisations(cfg)
    grid = Grid.from_config(cfg.field)
    means = []
    for index in sorted({int(i) for i in np.linspace(0, n - 1, min(sample, n))}):
        real = realisations.get(cfg, index)
        model = pipeline.build_model(cfg, real)
        plan = catalogue.plan_sources(model, grid, cfg.sources.flux_min_jy, cfg.sources.flux_max_jy,
                                      np.random.default_rng(0))
        means.append(float(plan.mean_per_class.sum()))
    return float(np.mean(means)), float(np.max(means))


def plan(cfg, nodes: int, cores_per_node: int, model: CostModel | None = None,
         io_gb_per_s: float | None = None, sources: float | None = None, done: int = 0) -> dict:
    """Predicted wall time, core-hours and dataset size of simulating ``cfg`` on ``nodes`` x ``cores_per_node``
    ranks: the calibration's per-stage times scaled to this config (source stages by the expected number of
    sources, pixel stages and set-up by the number of pixels, the imaging stage by N^2 log N). An imaging mode
    that grids every visibility in every major cycle (the exact major cycle, WSClean) or convolves with w-node PSFs
    adds its measured extra cost (:func:`extra_imaging_s`, :func:`extra_setup_s`) to the fast imager's. ``done``
    realisations are already made (a dataset being resumed): only the rest are planned, and none left costs
    nothing."""
    from radsim.run import realisations
    model = model if model is not None and model.sim_t_real_s else DEFAULT_MODEL
    planned = realisations.n_realisations(cfg)
    n_real = max(0, planned - done)
    sources, most = expected_sources_range(cfg) if sources is None else (sources, sources)
    npix = cfg.field.npix
    ratio_src = sources / model.sim_sources_per_realisation
    ratio_pix = (npix / model.sim_npix) ** 2
    ratio_img = ratio_pix * math.log(npix) / math.log(model.sim_npix)
    stage = {}
    for s in STAGES:
        base = model.sim_stage_s.get(s, 0.0)
        stage[s] = base * (ratio_src if s in SOURCE_STAGES else ratio_img if s == "image" else ratio_pix)
    mode, extra = imaging_mode(cfg), extra_imaging_s(cfg)
    known = model.sim_image_extra_s is not None           # the calibration records its imaging mode
    differs = known and mode != model.sim_imaging_mode
    imaging_note = None
    if cfg.imaging.backend == "none":
        stage["image"] = 0.0
    elif not known:
        if mode != "fast":
            imaging_note = (f"the calibration does not record its imaging mode; this config images with '{mode}', "
                            "which can cost 5-170x the fast imager's PSF major cycle: calibrate with runs of it")
    elif extra is None:
        imaging_note = (f"no cost was measured for '{mode}' imaging: the image stage is the calibration's "
                        f"('{model.sim_imaging_mode}') scaled by pixels, likely far too short")
    else:
        # the PSF major cycle's part scales with pixels, the mode's extra with its own work (beams x visibilities);
        # what the calibration measured of its own extra (at most its image stage) carries its machine's speed
        measured = model.sim_stage_s.get("image", 0.0)
        own = min(measured, model.sim_image_extra_s)
        stage["image"] = (measured - own) * ratio_img + (
            own * extra / model.sim_image_extra_s if model.sim_image_extra_s > 0.0 else extra)
        if differs:
            imaging_note = (f"this config images with '{mode}', the calibration with '{model.sim_imaging_mode}': the "
                            f"image stage includes {extra:,.0f} s of it measured on one pointing of the development "
                            "machine (benchmarks/README.md), scaled by its beams and visibilities"
                            + (f", and its set-up {extra_setup_s(cfg):,.0f} s of w-node PSFs unless they are "
                               "cached" if cfg.imaging.w_nodes else "") + "; calibrate with runs of this config for a "
                            "firmer prediction")
    t_real = sum(stage.values())
    # the slowest realisation (the most sources) bounds the wall time from below when ranks outnumber realisations
    t_slowest = t_real + sum(stage[s] for s in SOURCE_STAGES) * (most / sources - 1.0)
    n_tiles = (npix // cfg.tiles.size) ** 2
    bytes_per_real = n_tiles * (cfg.tiles.size ** 2 * 4 + cfg.labels.n_bins * 8 + 16)
    setup = model.sim_t_setup_s * ratio_pix + (extra_setup_s(cfg) if differs else 0.0)
    scaled = CostModel(**{**model.to_dict(), "sim_t_setup_s": setup, "sim_bytes_per_realisation": bytes_per_real})
    ranks = nodes * cores_per_node
    wall = max(scaled.sim_wall_s(ranks, n_real, io_gb_per_s, t_real_s=t_real), scaled.sim_t_setup_s + t_slowest)
    one_rank = scaled.sim_wall_s(1, n_real, None, t_real_s=t_real)
    if n_real == 0:
        wall = one_rank = 0.0
    return {"split_tiles": split_tiles(cfg, n_tiles), "realisations": n_real, "planned_realisations": planned,
            "ranks": ranks, "nodes": nodes, "cores_per_node": cores_per_node,
            "sources_per_realisation": sources, "stage_s": stage, "t_realisation_s": t_real,
            "t_slowest_realisation_s": t_slowest,
            "setup_s": scaled.sim_t_setup_s, "wall_s": wall, "core_hours": wall * ranks / 3600.0,
            "efficiency": one_rank / (ranks * wall) if wall else 1.0, "dataset_bytes": n_real * bytes_per_real,
            "tiles": n_real * n_tiles, "imaging_mode": mode, "imaging_note": imaging_note,
            "calibration": "measured runs" if model is not DEFAULT_MODEL else
            "built-in (benchmarks/README.md, emu-seed on the development machine)",
            "extrapolation": {"pixels": ratio_pix, "sources": ratio_src,
                              "calibrated_npix": model.sim_npix,
                              "calibrated_sources": model.sim_sources_per_realisation}}


def split_tiles(cfg, tiles_per_realisation: int) -> dict:
    """Tiles of each split of the whole planned dataset ({train, validation, test}), as ``radsim simulate`` will
    assign them (a per-tile split: the fractions of all tiles). Every tile of each image is counted: a mosaic keeps
    those within ``tiles.sensitivity_factor`` of its best noise, so this bounds its splits from above."""
    from radsim.dataset import layout
    from radsim.run import realisations
    split = layout.assign_split(cfg)
    if split["by"] == "tile":
        total = realisations.n_realisations(cfg) * tiles_per_realisation
        return {name: int(round(f * total)) for name, f in split["fractions"].items()}
    return {name: len(split[name]) * tiles_per_realisation for name in ("train", "validation", "test")}


def format_plan(p: dict) -> str:
    h = p["wall_s"] / 3600.0
    stages = ", ".join(f"{s} {v:.2f}" for s, v in p["stage_s"].items())
    planned = p.get("planned_realisations", p["realisations"])
    if planned and not p["realisations"]:
        return f"nothing left: all {planned} realisations are made"
    left = f" of {planned}" if planned != p["realisations"] else ""
    return "\n".join([
        f"{p['realisations']}{left} realisations {'left ' if left else ''}on {p['nodes']} node(s) x "
        f"{p['cores_per_node']} cores = {p['ranks']} ranks",
        f"  per realisation: {p['sources_per_realisation']:,.0f} sources expected, {p['t_realisation_s']:.2f} s on "
        f"one core ({stages}), the slowest {p.get('t_slowest_realisation_s', p['t_realisation_s']):.2f} s; set-up "
        f"{p['setup_s']:.1f} s per rank",
        f"  predicted wall time {h:.2f} h ({p['wall_s']:.0f} s), {p['core_hours']:.1f} core-hours, parallel "
        f"efficiency {p['efficiency']:.2f}",
        f"  dataset: {p['tiles']:,} tiles, {p['dataset_bytes'] / 1e9:.2f} GB",
        f"  imaging: {p.get('imaging_mode', '?')}",
        f"  calibration: {p['calibration']}"]
        + ([f"  caution: calibrated at {p['extrapolation']['calibrated_npix']} pixels and "
            f"{p['extrapolation']['calibrated_sources']:,.0f} sources per realisation, extrapolated "
            f"x{p['extrapolation']['pixels']:.3g} in pixels and x{p['extrapolation']['sources']:.3g} in sources "
            "(set-up time does not grow exactly with pixels); calibrate with runs of this config "
            "(CONFIG=... bash jobs/scaling.sh) for a firmer prediction"]
           if not (0.25 <= p["extrapolation"]["pixels"] <= 4 and 0.1 <= p["extrapolation"]["sources"] <= 10)
           else [])
        + ([f"  caution: {p['imaging_note']}"] if p.get("imaging_note") else []))
