"""How long ``radtrain fit`` will take, before it runs: the epochs left times one epoch of a rank's tiles, at the
seconds per tile measured on a machine.

A rank's epoch is its share of the training tiles (``train.steps_per_epoch`` x batch when that is set) at the
training rate, then its share of the validation tiles at the validation rate. The rates come from a finished
run of the same network (``--calibration RUN``: the medians of its history.csv over the epochs after the first,
which carries TensorFlow's tracing) or, for the networks measured here, from :data:`BUILT_IN`. The first epoch
costs its measured extra once, and each launch its set-up. Early stopping (``train.patience``) can end the
training sooner: the plan is for every epoch of ``train.epochs`` that is left.

Plain numbers in and out (seconds, tiles); the command line (``radtrain plan``) opens the datasets and runs.
"""
from __future__ import annotations

import math
import statistics

from radtrain.errors import RadtrainError

# a launch's cost before its run record starts: importing TensorFlow and Horovod (5 s, measured with the cores
# shared) and estimating the preprocessing statistics from up to 2048 training tiles (7 s in the pilot's log)
LAUNCH_S = 12.0

# Measured on the development machine (2 cores, no GPU, TensorFlow 2.15 on the CPU, one rank, batch 32, 128 x 128
# tiles): seed-small from pointing-small-wide-exact (2026-12-07, 4352 training and 1024 validation tiles, 30 epochs
# in 440 s): the medians of its history.csv over epochs 2-30 and its run record's set-up
BUILT_IN = {
    "seed-small": {"train_s_per_tile": 12.844 / 4352, "validation_s_per_tile": 1.2588 / 1024,
                   "first_epoch_extra_s": 7.13, "setup_s": 3.83, "ranks": 1, "batch_per_rank": 32,
                   "tile_size": 128, "source": "built-in: seed-small on the 2-core development machine "
                                               "(pointing-small-wide-exact, 2026-12-07)"},
}


class PlanError(RadtrainError, ValueError):
    """A plan that cannot be made; the message says what is missing."""


def rates_from_run(run: dict, history: list[dict], source: str) -> dict:
    """The rates of a trained run (its run record and history.csv rows, as :mod:`radtrain.rundir` reads them):
    seconds per training tile and per validation tile on one rank, the first epoch's extra seconds and the set-up
    (s), with the ranks, batch per rank, tile size and network they were measured with."""
    launches = run.get("runs") or []
    if len(history) < 2 or not launches:
        raise PlanError(f"{source}: needs a run record and two or more epochs in history.csv to measure its rates, "
                        f"found {len(history)} epoch(s)")
    ranks = int(launches[-1]["ranks"])
    split = run["dataset"]["split"]["n_tiles"]
    n_val = split["validation"] + sum(m["split"]["n_tiles"]["validation"] for m in run.get("mixed", []))
    train_s = statistics.median(r["train_s"] for r in history[1:])
    val_s = statistics.median(r["validation_s"] for r in history[1:])
    rate = statistics.median(r["tiles_per_s_per_rank"] for r in history[1:])
    return {"train_s_per_tile": 1.0 / rate, "validation_s_per_tile": val_s / max(1, math.ceil(n_val / ranks)),
            "first_epoch_extra_s": max(0.0, history[0]["train_s"] - train_s
                                       + history[0]["validation_s"] - val_s),
            "setup_s": float(statistics.median(r.get("setup_s", 0.0) for r in launches)), "ranks": ranks,
            "batch_per_rank": int(launches[-1]["batch_per_rank"]), "tile_size": int(run["dataset"]["tile_size"]),
            "architecture": run["config"]["model"]["architecture"], "source": source}


def built_in(architecture: str) -> dict:
    """The built-in rates of a network; an error naming what to do for one not measured here."""
    if architecture not in BUILT_IN:
        raise PlanError(f"no built-in rate for model.architecture={architecture!r} (measured: "
                        f"{', '.join(BUILT_IN)}): pass --calibration RUN, a run of it trained on the machine it "
                        "will run on")
    return {**BUILT_IN[architecture], "architecture": architecture}


def epochs_done(run: dict, epochs: int, patience: int) -> int:
    """The epochs a run record already holds, as ``radtrain fit`` continuing it would count them: all of them when
    it is complete or its last epoch met the early-stopping rule (``patience``; 0: none)."""
    stopped = patience and run["early_stopping"]["wait"] >= patience
    return epochs if run["status"] == "complete" or stopped else int(run["epochs_done"])


def plan_fit(n_train: int, n_validation: int, *, epochs: int, batch_per_rank: int, rates: dict, ranks: int = 1,
             steps_per_epoch: int = 0, epochs_done: int = 0) -> dict:
    """The plan of one training: tiles of the train and validation splits (mixed-in datasets' included), the
    config's epochs, batch per rank and ``steps_per_epoch`` (0: the whole split), ``ranks`` and the epochs a run
    already holds. Returns seconds (``wall_s``: set-up, the first epoch's extra when the training starts, and
    ``epochs_left`` epochs of ``epoch_s``), with the per-rank tiles and a ``notes`` list of what the rates do not
    cover."""
    if ranks < 1:
        raise PlanError(f"ranks must be 1 or more, got {ranks}")
    steps = steps_per_epoch or math.ceil(n_train / ranks / batch_per_rank)
    train_tiles = steps * batch_per_rank
    val_tiles = math.ceil(n_validation / ranks)
    epoch_s = train_tiles * rates["train_s_per_tile"] + val_tiles * rates["validation_s_per_tile"]
    left = max(0, epochs - epochs_done)
    wall = 0.0
    if left:
        tracing = rates["first_epoch_extra_s"] if epochs_done == 0 else 0.0
        wall = LAUNCH_S + rates["setup_s"] + tracing + left * epoch_s
    notes = []
    if ranks != rates["ranks"]:
        notes.append(f"rates measured on {rates['ranks']} rank(s), planned on {ranks}: the gradient allreduce at "
                     f"{ranks} ranks is not modelled (benchmarks/README.md: 0.69-0.81 parallel efficiency at 2)")
    if batch_per_rank != rates["batch_per_rank"]:
        notes.append(f"rates measured at batch {rates['batch_per_rank']} per rank, planned at {batch_per_rank}")
    return {"epochs": epochs, "epochs_done": epochs_done, "epochs_left": left, "ranks": ranks,
            "steps_per_epoch": steps, "train_tiles_per_rank": train_tiles, "validation_tiles_per_rank": val_tiles,
            "epoch_s": epoch_s, "wall_s": wall, "calibration": rates["source"], "notes": notes}


def format_plan(p: dict, patience: int = 0) -> str:
    """The plan as the lines ``radtrain plan`` prints."""
    if p["epochs_left"] == 0:
        return f"nothing left: all {p['epochs']} epochs are trained"
    lines = [f"{p['epochs_left']} of {p['epochs']} epochs left on {p['ranks']} rank(s): "
             f"{p['wall_s'] / 60:.1f} min ({p['wall_s'] / 3600:.2f} h)",
             f"  an epoch: {p['steps_per_epoch']} steps, {p['train_tiles_per_rank']:,} training and "
             f"{p['validation_tiles_per_rank']:,} validation tiles per rank, {p['epoch_s']:.1f} s"]
    if patience:
        lines.append(f"  early stopping (patience {patience}) can end it sooner: this is every epoch left")
    lines.append(f"  calibration: {p['calibration']}")
    lines += [f"  note: {n}" for n in p["notes"]]
    return "\n".join(lines)
