"""Plots of evaluation and prediction results (matplotlib, Agg backend); each function writes one PNG and
returns its path."""
from __future__ import annotations

import math

import numpy as np

from radsim.dataset import atomic


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    fig.tight_layout()
    atomic.save_figure(fig, path, dpi=110)
    _plt().close(fig)
    return path


def _threshold(ax, threshold):
    """Mark the detection threshold and the fluxes 10x and 100x below it."""
    if not threshold:
        return
    ax.axvline(threshold, color="k", lw=1.2)
    ax.text(threshold, 0.98, " threshold", transform=ax.get_xaxis_transform(), va="top", fontsize=7)
    for f in (10, 100):
        ax.axvline(threshold / f, color="0.5", lw=0.8, ls=":")
        ax.text(threshold / f, 0.02, f" /{f}", transform=ax.get_xaxis_transform(), fontsize=7, color="0.4")


def counts_per_sky(m: dict, path, max_skies: int = 12):
    """Predicted and true counts per bin of each sky, with the count model's expectation."""
    plt = _plt()
    skies = m["skies"][:max_skies]
    n = len(skies)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    centres = np.asarray(m["bin_centres_jy"])
    for ax, sky in zip(axes.flat, skies):
        ax.step(m["bin_edges_jy"], np.r_[sky["true"], sky["true"][-1]], where="post", color="C0", label="true")
        ax.plot(centres, sky["expected"], color="C2", lw=1, label="model")
        if "pred_lo68" in sky:   # calibrated counts with their 68% (bars) and 95% (band) intervals
            p = np.asarray(sky["pred_corrected"])
            ax.fill_between(centres, sky["pred_lo95"], sky["pred_hi95"], color="C3", alpha=0.12, lw=0,
                            label="95% interval")
            yerr = np.clip([p - np.asarray(sky["pred_lo68"]), np.asarray(sky["pred_hi68"]) - p], 0, None)
            ax.plot(centres, sky["pred"], "x", ms=3, color="0.5", label="network")
            ax.errorbar(centres, p, yerr=yerr, fmt="o", ms=3, color="C3", label="calibrated (68%)")
        else:
            ax.errorbar(centres, sky["pred"], fmt="o", ms=3, color="C3", label="predicted")
        ax.set(xscale="log", yscale="log", title=f"sky {sky['id']} ({sky['n_tiles']} tiles)")
        _threshold(ax, m.get("detection_threshold_jy"))
        ax.set_xlabel("S (Jy)")
        ax.set_ylabel("sources per bin")
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"N(S) per sky, {m['split']} split")
    return _save(fig, path)


def scatter(pred: np.ndarray, true: np.ndarray, edges, path):
    """Predicted against true counts per tile, one panel per bin, with the 1:1 line."""
    plt = _plt()
    nb = true.shape[1]
    cols = min(5, nb)
    rows = math.ceil(nb / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat[:nb]):
        lo, hi = float(min(true[:, i].min(), pred[:, i].min())), float(max(true[:, i].max(), pred[:, i].max()))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.plot(true[:, i], pred[:, i], ".", ms=2, alpha=0.6)
        ax.set_title(f"{edges[i]:.2g}–{edges[i + 1]:.2g} Jy", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[nb:]:
        ax.axis("off")
    fig.supxlabel("true sources per tile")
    fig.supylabel("predicted")
    return _save(fig, path)


def prediction(result: dict, path):
    """N(S) estimated for one image, with its uncertainty."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    centres = np.asarray(result["bin_centres_jy"])
    yerr, c = None, np.asarray(result["counts"])
    if "interval_68" in result:
        ax.plot(centres, c, "x", color="0.5", label="network")
        c = np.asarray(result["counts_corrected"])
        ax.fill_between(centres, *result["interval_95"], color="C3", alpha=0.12, lw=0, label="95% interval")
        yerr = np.clip([c - np.asarray(result["interval_68"][0]), np.asarray(result["interval_68"][1]) - c], 0, None)
    ax.errorbar(centres, c, yerr=yerr, fmt="o", capsize=2, color="C3",
                label="predicted")
    ax.set(xscale="log", yscale="log", xlabel="S (Jy)", ylabel="sources per bin",
           title=f"{result['image_name']}: {result['n_tiles']} tiles, {result['area_deg2']:.3g} deg²")
    _threshold(ax, result.get("detection_threshold_jy"))
    ax.legend(fontsize=8)
    return _save(fig, path)
