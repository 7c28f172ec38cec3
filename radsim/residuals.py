"""How far a reading of N(S) is from the truth, measured the way the seed study did; shared by radtrain's
evaluation of a CNN and radsim's P(D) baseline so that both are scored by the same numbers.

- the seed's residual per bin, ``dy_i = (y_pred_i - y_true_i) / mean_over_bins(y_true)``;
- the relative error per bin, ``(y_pred_i - y_true_i) / y_true_i``, which does not let the populous faint bins
  hide the sparse bright ones.

Counts are numbers of sources per bin (per tile, or per sky: a realisation's tiles summed).
"""
from __future__ import annotations

import numpy as np


def residual_dy(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """The seed's residual per bin: (pred - true) / mean over bins of true, row by row ((N, n_bins) in and
    out)."""
    true = np.asarray(true, dtype=np.float64)
    return (np.asarray(pred, dtype=np.float64) - true) / true.mean(axis=-1, keepdims=True)


def relative_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(pred - true) / true per bin (NaN where true is 0)."""
    true = np.asarray(true, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(true > 0, (np.asarray(pred, dtype=np.float64) - true) / true, np.nan)


def sum_by(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique groups, per-group sums of the rows of ``values``)."""
    ids, inverse = np.unique(groups, return_inverse=True)
    out = np.zeros((ids.size,) + values.shape[1:], dtype=np.float64)
    np.add.at(out, inverse, values)
    return ids, out


def spread(x: np.ndarray) -> dict:
    """{"mean": per-column mean, "std": per-column sample standard deviation (0 for one row)}, NaN ignored."""
    x = np.asarray(x, dtype=np.float64)
    return {"mean": np.nanmean(x, axis=0).tolist(),
            "std": (np.nanstd(x, axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])).tolist()}
