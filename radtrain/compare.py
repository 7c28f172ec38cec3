"""``radtrain compare``: how a trained network's reading of the same skies moves between two datasets of them.

Two radsim datasets made from one config and seed but imaged differently (another imager, another noise model, a
noise level 0.1% off, a config change) hold the same skies with the same true counts. Each sky's tiles are read
by the run's network and summed, as ``radtrain evaluate`` does; per sky and bin the change of B's reading from
A's is given

- in percent of the sky's true count in that bin, ``100 (pred_B - pred_A) / true`` (skies with no source in the
  bin are left out of it), and
- in the seed's residual units, ``(pred_B - pred_A) / mean_over_bins(true)``: the change of ``dy`` that the goals
  of ``radtrain evaluate`` are stated in,

with the mean over skies and its standard error per bin. Reading both datasets' tiles with one network takes out
the skies' own scatter, which is most of a reading's error: a change far below the per-sky error is measured on
a few dozen skies.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from radsim.dataset import atomic
from radsim.dataset.metrics import residual_dy, spread
from radtrain import evaluate
from radtrain.data import DataError

COMPARE = "compare.json"


def change(a: dict, b: dict) -> dict:
    """The per-bin change of B's readings from A's (see the module's description) from two
    :func:`radtrain.evaluate.sky_counts` of the same skies, paired on the realisation ids both hold: a set imaged
    again for only its first skies (e.g. by WSClean, ``realisations.n`` smaller, the same seed) is compared on
    those. ``only_in`` gives how many skies of A and of B have no partner. Raises DataError when they share no id,
    or when a shared id's true counts differ (not the same sky)."""
    common, ia, ib = np.intersect1d(a["ids"], b["ids"], assume_unique=True, return_indices=True)
    if common.size == 0:
        raise DataError(f"the two datasets hold different skies (no realisation id in common among their "
                        f"{a['ids'].size} and {b['ids'].size}): compare needs one config and seed imaged two ways")
    true, true_b = a["true"][ia], b["true"][ib]
    if not np.array_equal(true, true_b):
        worst = int(np.argmax(np.abs(true - true_b).sum(axis=1)))
        raise DataError(f"the two datasets' true counts differ (most in realisation {int(common[worst])}): they "
                        "hold different skies (another seed, counts model or flux range?)")
    pred_a, pred_b = a["pred"][ia], b["pred"][ib]
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = np.where(true > 0, 100.0 * (pred_b - pred_a) / true, np.nan)
    dy = residual_dy(pred_b, true) - residual_dy(pred_a, true)
    only_in = [int(a["ids"].size - common.size), int(b["ids"].size - common.size)]
    return {"n_skies": int(common.size), "only_in": only_in, "percent": _mean_and_error(percent),
            "dy": _mean_and_error(dy)}


def _mean_and_error(x: np.ndarray) -> dict:
    """Per column: the mean over rows, its standard error and the number of rows, NaN left out."""
    n = np.sum(np.isfinite(x), axis=0)
    with warnings.catch_warnings():             # a column without a finite row is NaN, as it should be
        warnings.simplefilter("ignore", RuntimeWarning)
        s = spread(x)
    err = np.where(n > 1, np.asarray(s["std"]) / np.sqrt(np.maximum(n, 1)), np.nan)
    return {"mean": s["mean"], "stderr": err.tolist(), "n": n.astype(int).tolist()}


def compare(run_dir, dataset_a, dataset_b, split: str = "test", out=None) -> dict:
    """Read ``split`` of two datasets of the same skies with a trained run; return (and write to ``out``, default
    RUN/compare.json) the change of the second's readings from the first's per bin."""
    a, b = (evaluate.sky_counts(run_dir, d, split) for d in (dataset_a, dataset_b))
    run = evaluate.read_run(run_dir)
    result = {"run": str(run_dir), "datasets": [str(dataset_a), str(dataset_b)], "split": split,
              "bin_edges_jy": list(run["dataset"]["bin_edges_jy"]), **change(a, b)}
    atomic.write_json(Path(out) if out else Path(run_dir) / COMPARE, result)
    return result


def format_change(result: dict) -> str:
    """A table of the change per bin, for the terminal."""
    edges, pc, dy = result["bin_edges_jy"], result["percent"], result["dy"]
    only = result.get("only_in", [0, 0])
    unpaired = (f"; paired on the ids both hold, {only[0]} of the first's and {only[1]} of the second's skies left "
                "out" if any(only) else "")
    lines = [f"{result['datasets'][1]} read against {result['datasets'][0]} by {result['run']} "
             f"({result['n_skies']} skies of split {result['split']}{unpaired}): change of the reading per sky, "
             "mean +- standard error",
             f"{'bin (Jy)':>19}  {'% of true count':>17}  {'dy (seed units)':>21}  skies"]
    for k in range(len(edges) - 1):
        lines.append(f"{edges[k]:8.3g}-{edges[k + 1]:<9.3g}  {pc['mean'][k]:+7.3f} +- {pc['stderr'][k]:<6.3f}  "
                     f"{dy['mean'][k]:+9.5f} +- {dy['stderr'][k]:<8.5f}  {pc['n'][k]}")
    return "\n".join(lines)
