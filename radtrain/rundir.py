"""A training run directory and its run record: what ``radtrain fit`` writes, in the one documented layout.

::

    RUN/run.json          the run record (below)
    RUN/config.toml       the full training config
    RUN/checkpoints/      the last two epochs' model and optimizer state (radtrain.checkpoints)
    RUN/best.weights.h5   weights of the epoch with the lowest validation loss (evaluate, predict)
    RUN/history.csv       one row per epoch: HISTORY_FIELDS
    RUN/tensorboard/      TensorBoard logs

``run.json`` (format ``radtrain-run``, version 1) holds ``status`` (running, complete), ``config`` and
``config_hash``, ``dataset`` (path, tiles hash, bin edges, tile size, pixel scale, beam and noise of the training
skies, the split), ``mixed`` (the same for each dataset mixed into training by ``fit --mix``; absent in runs made
before it), ``statistics`` (preprocessing), ``epochs_done``, ``best`` (epoch, val_loss),
``early_stopping``, ``versions`` and ``runs``: one record per launch of ``radtrain fit`` with ``ranks``,
``device``, ``initial_epoch``, ``steps_per_epoch``, ``batch_per_rank``, ``global_batch``, ``learning_rate``,
``parameters``, ``setup_s``, ``wall_s`` (when finished), ``profile`` (``data_s``, ``allreduce_s`` per step,
``allreduce_mb``) and ``throughput`` (medians over the launch's epochs after its first, which includes
TensorFlow's tracing: ``tiles_per_s``, ``tiles_per_s_per_rank``, ``step_s``; ``epochs`` counted). Studies read
it through :func:`read_run` alone (radsim's scaling report does).

Every file is written atomically (radsim.dataset.atomic): a kill at any moment leaves the old or the new one.
"""
from __future__ import annotations

import csv
import io
import statistics
import time
from pathlib import Path

from radsim.dataset import atomic
from radtrain.errors import RadtrainError

RUN_FORMAT = "radtrain-run"
RUN_VERSION = 1
HISTORY_FIELDS = ("epoch", "loss", "val_loss", "learning_rate", "train_s", "validation_s", "step_s",
                  "tiles_per_s_per_rank", "tiles_per_s", "weights_agree", "weights_digests")


class TrainError(RadtrainError, RuntimeError):
    """A training run that cannot start or continue; the message says why and what to do."""


def read_run(run_dir) -> dict:
    """The run record of ``run_dir`` (see the module's documentation for its fields)."""
    return atomic.read_record(Path(run_dir) / "run.json", RUN_FORMAT, TrainError,
                              f"{run_dir}: not a radtrain run directory (no run.json)")


def write_run(run_dir, run: dict) -> None:
    """Write run.json atomically."""
    run["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic.write_json(Path(run_dir) / "run.json", run)


def read_history(run_dir) -> list[dict]:
    """history.csv as dicts (numbers as floats, ``weights_agree`` as bool, ``weights_digests`` as a list)."""
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))

    def value(k, v):
        return v == "True" if k == "weights_agree" else v.split(";") if k == "weights_digests" else float(v)
    return [{k: value(k, v) for k, v in r.items()} for r in rows]


def write_history(run_dir, rows: list[dict]) -> None:
    """Rewrite history.csv atomically with ``rows`` (a few hundred bytes per epoch: rewriting is cheap)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        digests = r.get("weights_digests", "")
        w.writerow({**r, "epoch": int(r["epoch"]),
                    "weights_digests": ";".join(digests) if isinstance(digests, list) else digests})
    atomic.write_text(Path(run_dir) / "history.csv", buf.getvalue())


def append_history(run_dir, row: dict) -> None:
    write_history(run_dir, [*read_history(run_dir), row])


def truncate_history(run_dir, epochs: int) -> None:
    """Drop rows past the checkpoint a run resumes from (epochs finished after the last checkpoint)."""
    write_history(run_dir, [r for r in read_history(run_dir) if r["epoch"] <= epochs])


def launch_throughput(rows: list[dict]) -> dict:
    """The throughput of one launch from its history rows: medians over the epochs after the first."""
    later = rows[1:] or rows
    if not later:
        return {"epochs": 0}
    return {"epochs": len(rows), "tiles_per_s": statistics.median(float(r["tiles_per_s"]) for r in later),
            "tiles_per_s_per_rank": statistics.median(float(r["tiles_per_s_per_rank"]) for r in later),
            "step_s": statistics.median(float(r["step_s"]) for r in later)}
