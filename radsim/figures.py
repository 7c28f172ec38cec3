"""Plots of radsim products (matplotlib, Agg backend; files only)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from radsim.dataset import atomic  # noqa: E402
from radsim.sky import counts, published  # noqa: E402


def counts_plot(models, labels_edges_jy, threshold_jy, frequency_hz, out, names=None, max_curves=30):
    """S^2.5 dN/dS of the base and modified models.

    Left: the built-in base model at 1.4 GHz against the published figures. Right: the configured base and the
    modified models at the observing frequency, label bins shaded, detection threshold marked."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 5.2), constrained_layout=True)
    s = np.geomspace(*counts.VALID_RANGE_JY, 600)
    b = counts.BUILTIN.dnds(s, counts.REFERENCE_FREQUENCY_HZ)
    ax0.loglog(s, counts.euclidean(s, b.sum(0)), "k-", lw=2, label="built-in model (total)")
    ax0.loglog(s, counts.euclidean(s, b[0]), "C0--", label="SFG")
    ax0.loglog(s, counts.euclidean(s, b[1] + b[2]), "C3--", label="AGN")
    sh = np.geomspace(*published.HOPKINS2003_RANGE_JY, 100)
    ax0.loglog(sh, published.hopkins2003_euclidean(sh), "C1", lw=4, alpha=0.6, label="Hopkins et al. 2003 fit")
    sm = np.geomspace(*published.MATTHEWS2021_RANGE_JY, 20)
    e_anchor = counts.euclidean(sm[-1], b.sum(0)[np.searchsorted(s, sm[-1])])
    ax0.loglog(sm, e_anchor * (sm / sm[-1]) ** (2.5 + published.MATTHEWS2021_SLOPE), "C2", lw=4, alpha=0.6,
               label="Matthews et al. 2021: slope S$^{-1.5}$ (anchored at 10 $\\mu$Jy)")
    ax0.set_title("base model at 1.4 GHz vs published counts")
    base_model = models[0]
    sc = np.geomspace(*base_model.base.valid_range_at(frequency_hz), 600)
    ax1.loglog(sc, counts.euclidean(sc, base_model.base_dnds(sc).sum(0)), "k-", lw=2, label="base")
    for i, m in enumerate(models[:max_curves]):
        label = (names[i] if names else None) if i < 8 else None
        ax1.loglog(sc, counts.euclidean(sc, m.dnds_total(sc)), lw=1, alpha=0.8, label=label)
    edges = np.asarray(labels_edges_jy)
    ax1.axvspan(edges[0], edges[-1], color="0.85", zorder=0, label="label bins")
    for e in edges:
        ax1.axvline(e, color="0.6", lw=0.5, zorder=0)
    ax1.axvline(threshold_jy, color="r", ls=":", lw=2, label=f"detection threshold {threshold_jy:.2g} Jy")
    ax1.set_title(f"models at {frequency_hz / 1e6:.1f} MHz ({len(models)} parameter sets"
                  + (f", {max_curves} shown)" if len(models) > max_curves else ")"))
    for ax in (ax0, ax1):
        ax.set_xlabel("S (Jy)")
        ax.set_ylabel(r"S$^{2.5}$ dN/dS (Jy$^{1.5}$ sr$^{-1}$)")
        ax.set_ylim(1e-5, 3e3)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    atomic.save_figure(fig, out, dpi=110)
    plt.close(fig)


def _stretch(img, rms=None):
    """asinh stretch scaled by a robust noise-like level (median absolute deviation)."""
    level = rms or 1.4826 * np.median(np.abs(img - np.median(img))) or float(np.std(img)) or 1.0
    return np.arcsinh(img / (3 * level))


def preview_plot(sky, tiles, labels, expected, origins, edges_jy, threshold_jy, out, tile_index=None, title="",
                 restored=None, psf=None, beam=None, noise_rms_jy=None, pixel_arcsec=None):
    """One page: the sky model with the tile grid, the restored image and the PSF (when imaged), one tile, its
    labels against the model expectation, and the labels of all tiles summed against the expectation. One page
    laid out panel by panel (about 60 lines): kept whole so that the layout reads top to bottom."""
    from matplotlib.patches import Ellipse, Rectangle
    n, t, _ = tiles.shape
    k = int(np.argmax(labels.sum(1))) if tile_index is None else int(tile_index)
    fig, ax = plt.subplots(2, 3, figsize=(17, 10.5), constrained_layout=True)
    oy, ox = origins[k]

    def grid_overlay(a):
        for (gy, gx) in origins:
            a.add_patch(Rectangle((gx - 0.5, gy - 0.5), t, t, fill=False, ec="w", lw=0.3, alpha=0.5))
        a.add_patch(Rectangle((ox - 0.5, oy - 0.5), t, t, fill=False, ec="c", lw=1.5))
        a.set_xlabel("x (pixel)")
        a.set_ylabel("y (pixel)")

    a = ax[0, 0]
    a.imshow(_stretch(sky), origin="lower", cmap="inferno")
    grid_overlay(a)
    a.set_title(f"sky model (Jy/pixel, asinh stretch), {n} tiles of {t} px")
    a = ax[0, 1]
    if restored is not None:
        a.imshow(_stretch(restored, noise_rms_jy), origin="lower", cmap="inferno")
        grid_overlay(a)
        a.set_title("restored image (Jy/beam, asinh stretch at 3 sigma)")
    else:
        a.axis("off")
        a.text(0.5, 0.5, "not imaged (backend none)", ha="center", transform=a.transAxes)
    a = ax[0, 2]
    if psf is not None:
        c = psf.shape[0] // 2
        h = min(c, int(6 * beam.bmaj_arcsec / pixel_arcsec) if beam is not None and pixel_arcsec else 32)
        a.imshow(psf[c - h:c + h + 1, c - h:c + h + 1], origin="lower", cmap="RdBu_r", vmin=-0.2, vmax=1,
                 extent=(-h - 0.5, h + 0.5, -h - 0.5, h + 0.5))
        if beam is not None and pixel_arcsec:
            a.add_patch(Ellipse((0, 0), beam.bmin_arcsec / pixel_arcsec, beam.bmaj_arcsec / pixel_arcsec,
                                angle=beam.bpa_deg, fill=False, ec="k", lw=1.5))
            a.set_title(f"PSF (centre) and fitted beam {beam.bmaj_arcsec:.1f} x {beam.bmin_arcsec:.1f} arcsec")
        a.set_xlabel("offset (pixel)")
    else:
        a.axis("off")
    a = ax[1, 0]
    unit = "uJy/beam" if restored is not None else "uJy/pixel"
    im = a.imshow(tiles[k] * 1e6, origin="lower", cmap="inferno", vmax=np.percentile(tiles[k] * 1e6, 99.5))
    fig.colorbar(im, ax=a, label=unit)
    a.set_title(f"tile {k} (origin y={oy}, x={ox}), as the CNN sees it")
    centres = np.sqrt(edges_jy[1:] * edges_jy[:-1])
    for a, lab, exp, what in ((ax[1, 1], labels[k], expected[k], f"tile {k}"),
                              (ax[1, 2], labels.sum(0), expected.sum(0), f"all {n} tiles")):
        a.step(edges_jy, np.append(exp, exp[-1]), where="post", color="k", label="model expectation")
        a.errorbar(centres, lab, yerr=np.sqrt(np.maximum(lab, 1)), fmt="o", color="C0", label="labels (sources)")
        a.axvline(threshold_jy, color="r", ls=":", label=f"detection threshold {threshold_jy:.2g} Jy")
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlim(edges_jy[0] * 0.8, max(edges_jy[-1], threshold_jy) * 1.3)
        a.set_xlabel("S (Jy)")
        a.set_ylabel("sources per label bin")
        a.set_title(f"labels of {what}")
        a.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    atomic.save_figure(fig, out, dpi=90)
    plt.close(fig)


def scaling(rows, out):
    """speedup.png and efficiency.png (against ranks, ideal lines, strong and weak series per program) and
    stages.png (simulation: stacked seconds per realisation per stage; training: step time split into compute
    and allreduce) from radsim.studies.scaling.scaling_rows; returns the paths. Three figures of the same rows
    (about 65 lines), kept together so that they share their axes' conventions."""
    from pathlib import Path
    out = Path(out)
    paths = []
    series = []
    for kind in ("simulation", "training"):
        for mode, key in (("strong", "strong_efficiency"), ("weak", "weak_efficiency")):
            pts = sorted((r["ranks"], r[key], r.get("strong_speedup")) for r in rows
                         if r["kind"] == kind and r[key] is not None)
            if pts:
                series.append((f"{kind}, {mode}", mode, pts))
    for name, ylabel in (("speedup", "speed-up"), ("efficiency", "parallel efficiency")):
        fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
        ranks = sorted({r["ranks"] for r in rows}) or [1]
        if name == "speedup":
            ax.plot(ranks, ranks, "k--", lw=1, label="ideal")
        else:
            ax.axhline(1.0, color="k", ls="--", lw=1, label="ideal")
            ax.axhline(0.9, color="0.6", ls=":", lw=1)
            ax.axhline(0.8, color="0.6", ls=":", lw=1)
        for label, mode, pts in series:
            n = [p[0] for p in pts]
            if name == "speedup":
                if mode != "strong":
                    continue
                y = [p[2] for p in pts]
            else:
                y = [p[1] for p in pts]
            ax.plot(n, y, "o-", label=label)
        ax.set(xlabel="ranks", ylabel=ylabel, xticks=ranks)
        if name == "efficiency":
            ax.set_ylim(0, 1.15)
        ax.legend(fontsize=8)
        path = out / f"{name}.png"
        atomic.save_figure(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)
    sims = [r for r in rows if r["kind"] == "simulation"]
    trains = [r for r in rows if r["kind"] == "training"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    stages = ("catalogue", "render", "labels", "image", "tiles", "write")
    for i, r in enumerate(sims):
        bottom = 0.0
        for j, s in enumerate(stages):
            axes[0].bar(i, r[f"{s}_s"], bottom=bottom, color=f"C{j}", label=s if i == 0 else None)
            bottom += r[f"{s}_s"]
    axes[0].set(xticks=range(len(sims)), xticklabels=[f"{r['ranks']} rk\n{Path(r['path']).name}" for r in sims],
                ylabel="s per realisation (one core)", title="simulation: time per stage")
    for i, r in enumerate(trains):
        compute = max(r["step_s"] - r["allreduce_s"], 0.0)
        axes[1].bar(i, compute, color="C0", label="compute (step - allreduce)" if i == 0 else None)
        axes[1].bar(i, min(r["allreduce_s"], r["step_s"]), bottom=compute, color="C3",
                    label="allreduce (own timer)" if i == 0 else None)
    axes[1].set(xticks=range(len(trains)),
                xticklabels=[f"{r['ranks']} rk\nb={r['batch_per_rank']}" for r in trains],
                ylabel="s per step", title="training: step time")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    path = out / "stages.png"
    atomic.save_figure(fig, path, dpi=110)
    plt.close(fig)
    paths.append(path)
    return paths
