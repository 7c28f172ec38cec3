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


def plot_residuals(entries, out, title=""):
    """Residuals of several readings of N(S) side by side, one PNG: ``entries`` is a list of (label, metrics) or
    (label, metrics, level) with metrics in the layout of ``radtrain evaluate`` or ``radsim pofd`` (``level``,
    default ``per_sky``, holds dy and relative_error as mean and std per bin; bin centres; detection threshold).
    Left: the seed's dy per bin (mean and spread over skies) with the +-0.05 and +-0.10 bands; right: the
    relative error. The threshold and the fluxes 10x and 100x below it are marked. When
    some residual exceeds 1 the y axis is linear within +-0.1 and logarithmic beyond."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radsim.dataset import atomic
    entries = [(e[0], e[1], e[2] if len(e) > 2 else "per_sky") for e in entries]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    n = len(entries)
    for ax, key, ylabel in ((axes[0], "dy", "dy = (pred − true) / mean(true)"),
                            (axes[1], "relative_error", "(pred − true) / true")):
        ax.axhspan(-0.10, 0.10, color="0.93")
        ax.axhspan(-0.05, 0.05, color="0.85")
        ax.axhline(0, color="k", lw=0.8)
        for j, (label, m, level) in enumerate(entries):
            centres = np.asarray(m["bin_centres_jy"])
            shift = 10 ** (0.03 * (j - (n - 1) / 2))
            if key not in m[level]:
                continue
            r = m[level][key]
            ax.errorbar(centres * shift, r["mean"], yerr=r["std"], fmt="o-" if "pofd" in label.lower() else "o",
                        ms=4, lw=0.8, capsize=2, label=label, color=f"C{j}")
        threshold = entries[0][1].get("detection_threshold_jy")
        if threshold:
            for factor, style in ((1, "-"), (10, "--"), (100, ":")):
                ax.axvline(threshold / factor, color="0.4", ls=style, lw=0.8)
                ax.text(threshold / factor, 0.98, " threshold" if factor == 1 else f" /{factor}", fontsize=7,
                        transform=ax.get_xaxis_transform(), va="top", color="0.3")
        ax.set(xscale="log", xlabel="S (Jy)", ylabel=ylabel)
        extent = max(float(np.nanmax(np.abs(np.asarray(m[level][key]["mean"])) +
                                     np.asarray(m[level][key]["std"]))) for _, m, level in entries
                     if key in m[level])
        if extent > 1.0:          # residuals of very different sizes: linear within +-0.1, logarithmic beyond
            ax.set_yscale("symlog", linthresh=0.1, linscale=1.5)
    axes[0].legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic.save_figure(fig, out, dpi=110)
    plt.close(fig)
    return out
