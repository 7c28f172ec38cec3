"""The classical baseline: source counts read from each sky's pixel histogram by a P(D) fit (radsim.baseline.pofd).

For every sky of a dataset split, the pixels of its tiles (the whole image: the tiles cover it) are fitted with
the P(D) of the dataset's own count-model family, the seed law n(S) = (1 + S0/S)^alpha n_base(S) with the
dataset's base counts, free (log10 S0, alpha). The fitted model's integral over each label bin and the sky's
solid angle is the baseline's reading of N(S), scored with the same residuals as the CNN (radsim.dataset.metrics).

What the fit knows about the instrument, from the dataset's config (the imaging set-up is rebuilt, a few
seconds for ``fast``):

- ``none`` with a beam: every source is seen through the Gaussian restoring beam, no noise.
- ``fast``: sources brighter than CLEAN's stopping level (``imaging.auto_threshold`` x the image's robust rms)
  are restored with the fitted clean beam; fainter ones stay in the residual seen through the dirty beam's main
  lobe. Its far side lobes are left out: the sea they make of the faint sources is near Gaussian and its level
  depends on how much of it CLEAN took (on the emu-seed field the side-lobe model is 34% wider than the real
  residual), so it joins the Gaussian noise, whose rms is fitted as a nuisance parameter (bounded between half the
  imager's noise rms and NOISE_MAX times it).
- Mosaics (a PAF footprint with primary beams): the linear mosaic is primary-beam corrected, so a source's
  response is the same everywhere, but the noise follows the noise map. The tiles are fitted in NOISE_GROUPS
  groups of similar noise (the dataset's ``tile_noise``), each with the fitted noise rms scaled by its median
  noise over the image's: one source model, one noise level, the noise map's shape.
- Sources are point-like and deposited on the pixel grid by cloud-in-cell, as radsim.sky.render renders them: the
  beam's response is averaged over sub-pixel positions. Extended sources and CLEAN's imperfections are not
  modelled; pixels are taken as independent (the estimate stays unbiased).

Units: fluxes in Jy, pixel values in Jy/beam (Jy/pixel for a ``none`` dataset without a beam).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from radsim.baseline import pofd
from radsim.dataset.metrics import relative_error, residual_dy, spread, sum_by
from radsim.errors import RadsimError
from radsim.sky import counts

#: parameters fitted, with their starting point, bounds and first steps: log10 S0 (Jy) and alpha of the seed law
FIT_START = {"log10_s0": math.log10(2e-5), "alpha": 0.0}
#: the bounds are those of the seed's parameters (S0 5e-6..5e-5 Jy, alpha -0.6..+0.3), widened a little: the
#: prior a CNN trained on the seed's skies has too, and without which an image that hardly constrains the faint
#: counts (a restored one, with noise and side lobes) lets the fit run to any S0
FIT_BOUNDS = {"log10_s0": (math.log10(2.5e-6), math.log10(1e-4)), "alpha": (-0.8, 0.5)}
FIT_STEPS = {"log10_s0": 0.3, "alpha": 0.15}
#: other starting points tried first (the best one starts the search): S0 is free only where alpha is not 0
FIT_STARTS = [{"log10_s0": ls, "alpha": a} for ls in (-5.3, -4.8, -4.3) for a in (-0.6, -0.3, 0.3)]
#: the dirty beam kept in the model of restored images: within this many FWHM of its peak
MAIN_LOBE_FWHM = 1.0
#: the fitted Gaussian part (noise and the far side lobes' sea) may reach this many times the imager's noise
NOISE_MAX = 8.0
#: the pixels fitted: those between these quantiles of the image (the likelihood truncated to match)
FIT_QUANTILES = (0.001, 0.999)
#: a mosaic's tiles are fitted in this many groups of similar noise (quantiles of tile_noise)
NOISE_GROUPS = 4
#: tiles whose noise differs by less than this fraction are one group (a single pointing: one group)
NOISE_SPREAD_MIN = 0.01


class BaselineError(RadsimError, ValueError):
    """A dataset the P(D) baseline cannot fit; the message says why."""


def subpixel_part(beam: np.ndarray, pixel_sr: float, offsets: int = 4, core: int = 24,
                  s_lo_jy: float = 0.0, s_hi_jy: float = math.inf) -> pofd.BeamPart:
    """The responses of a point source placed at a uniformly random position within a pixel and deposited by
    cloud-in-cell: the beam map (peak at its centre pixel) interpolated bilinearly at ``offsets`` x ``offsets``
    sub-pixel positions within ``core`` pixels of the peak (where the beam changes on the pixel scale), the
    map itself beyond (side lobes, smooth). Each value stands for its share of a pixel's solid angle."""
    b = np.asarray(beam, dtype=float)
    ny, nx = b.shape
    cy, cx = ny // 2, nx // 2
    h = min(core, cy - 1, cx - 1)
    inner = b[cy - h - 1:cy + h + 2, cx - h - 1:cx + h + 2]          # one pixel of margin for the shifts
    values = []
    fractions = (np.arange(offsets) + 0.5) / offsets
    for fy in fractions:
        for fx in fractions:
            # a source at (fx, fy) from a pixel centre puts (1-fx)(1-fy) on it and the rest on its neighbours
            shifted = ((1 - fx) * (1 - fy) * inner[1:-1, 1:-1] + fx * (1 - fy) * inner[1:-1, :-2]
                       + (1 - fx) * fy * inner[:-2, 1:-1] + fx * fy * inner[:-2, :-2])
            values.append(shifted.ravel())
    share = pixel_sr / offsets ** 2
    weights = [np.full(v.size, share) for v in values]
    outer = np.ones(b.shape, bool)
    outer[cy - h:cy + h + 1, cx - h:cx + h + 1] = False
    values.append(b[outer])
    weights.append(np.full(int(outer.sum()), pixel_sr))
    v, w = np.concatenate(values), np.concatenate(weights)
    keep = v != 0.0
    return pofd.BeamPart(v[keep], w[keep], s_lo_jy, s_hi_jy)


@dataclass
class Instrument:
    """What the P(D) model needs of an image: its beam parts (compressed), Gaussian noise (Jy/beam), pixel
    solid angle (sr)."""
    parts: list
    noise_sigma: float
    pixel_sr: float
    clean_level_jy: float | None = None


def instrument(cfg, imager, image_values=None, sidelobes: bool = False) -> Instrument:
    """The instrument model of an image made with ``cfg``'s imaging set-up (``imager`` from
    radsim.instrument.imaging.build_imager); ``image_values`` (the image's pixels) set CLEAN's stopping level for
    ``fast``. ``sidelobes``: keep the dirty beam's far side lobes in the model (by default only its main lobe,
    within MAIN_LOBE_FWHM x the beam's FWHM of the peak, is kept; see the module's notes)."""
    backend = cfg.imaging.backend
    pixel_sr = math.radians(cfg.field.pixel_deg) ** 2
    pixel_arcsec = cfg.field.pixel_deg * 3600.0
    if backend == "none":
        if imager.beam is None:
            kernel = np.zeros((3, 3))
            kernel[1, 1] = 1.0
        else:
            from radsim.instrument.imaging.none import gaussian_beam_kernel
            kernel = gaussian_beam_kernel(imager.beam, pixel_arcsec)
        return Instrument([pofd.compress(subpixel_part(kernel, pixel_sr))], 0.0, pixel_sr)
    if backend == "fast":
        from radsim.instrument.imaging.fast import robust_rms
        from radsim.instrument.imaging.none import gaussian_beam_kernel
        if image_values is None:
            raise BaselineError("the fast backend's P(D) model needs the image's pixels (CLEAN's stopping level)")
        level = max(cfg.imaging.auto_threshold * robust_rms(np.asarray(image_values, np.float64).ravel(), 1),
                    cfg.imaging.auto_threshold * imager.noise_rms_jy)
        psf = imager.psf
        if not sidelobes:
            c = psf.shape[0] // 2
            h = int(math.ceil(MAIN_LOBE_FWHM * imager.beam.bmaj_arcsec / pixel_arcsec))
            psf = psf[c - h:c + h + 1, c - h:c + h + 1]
        dirty = pofd.compress(subpixel_part(psf, pixel_sr, s_hi_jy=level))
        clean = pofd.compress(subpixel_part(gaussian_beam_kernel(imager.beam, pixel_arcsec), pixel_sr,
                                            s_lo_jy=level))
        return Instrument([dirty, clean], float(imager.noise_rms_jy), pixel_sr, level)
    raise BaselineError(f"the P(D) baseline models the 'none' and 'fast' backends; this dataset was imaged with "
                     f"{backend!r} (its PSF and CLEAN are not kept in the dataset)")


def _seed_law(cfg, base, params: dict) -> counts.CountsModel:
    return counts.CountsModel(base, cfg.field.frequency_hz, "seed",
                              {"s0_jy": 10.0 ** params["log10_s0"], "alpha": params["alpha"]})


def seed_law_dnds(cfg):
    """params -> dN/dS (Jy^-1 sr^-1, all classes) of the seed law on the config's base counts."""
    base = counts.load_base(cfg.counts.base)
    return lambda params: _seed_law(cfg, base, params).dnds_total


def seed_law_counts(cfg, params: dict, edges_jy, solid_angle_sr: float) -> np.ndarray:
    """Numbers of sources per label bin in ``solid_angle_sr`` for fitted seed-law parameters."""
    model = _seed_law(cfg, counts.load_base(cfg.counts.base), params)
    return model.integrate(edges_jy).sum(axis=0) * solid_angle_sr


def noise_groups(tile_noise: np.ndarray, groups: int = NOISE_GROUPS) -> tuple[np.ndarray, np.ndarray]:
    """(group of each tile, noise scale of each group): tiles split at quantiles of their noise (Jy/beam) into
    up to ``groups`` groups, each scaled by its median noise over the median of all tiles (one group when the
    noise hardly varies)."""
    tile_noise = np.asarray(tile_noise, dtype=np.float64)
    median = float(np.median(tile_noise))
    if not median > 0 or (tile_noise.max() - tile_noise.min()) <= NOISE_SPREAD_MIN * median:
        return np.zeros(tile_noise.size, np.int64), np.ones(1)
    edges = np.quantile(tile_noise, np.linspace(0.0, 1.0, groups + 1)[1:-1])
    group = np.searchsorted(edges, tile_noise, side="right")
    present = np.unique(group)
    group = np.searchsorted(present, group)
    return group, np.array([np.median(tile_noise[group == g]) / median for g in range(present.size)])


def fit_sky(values: np.ndarray, cfg, inst: Instrument, n: int = 2 ** 14,
            quantiles: tuple[float, float] = FIT_QUANTILES, tile_noise: np.ndarray | None = None) \
        -> pofd.PofdFit:
    """The seed-law fit of one image's pixels (Jy/beam). With noise in the image, its rms is fitted too (from
    the imager's rms, within a factor 0.5..3): it absorbs the Gaussian-like broadening that CLEAN's leftovers
    add (the quickstart's alpha = 0 sky: 28.8 uJy/beam fitted for 25 put in), which the counts would otherwise
    take up as a flood of faint sources. ``values`` (tiles, T, T) with ``tile_noise`` (Jy/beam per tile):
    a mosaic's tiles fitted in groups of similar noise."""
    start, bounds, steps = dict(FIT_START), dict(FIT_BOUNDS), dict(FIT_STEPS)
    scales = None
    if tile_noise is not None and inst.noise_sigma > 0:
        group, scales = noise_groups(tile_noise)
        if scales.size > 1:
            values = [np.asarray(values)[group == g] for g in range(scales.size)]
        else:
            scales = None
    if inst.noise_sigma > 0:
        start["noise_sigma"] = inst.noise_sigma
        bounds["noise_sigma"] = (0.5 * inst.noise_sigma, NOISE_MAX * inst.noise_sigma)
        steps["noise_sigma"] = 0.5 * inst.noise_sigma
    return pofd.fit(values, seed_law_dnds(cfg), start, inst.parts, None, inst.noise_sigma,
                    cfg.sources.flux_min_jy, cfg.sources.flux_max_jy, bounds=bounds, n=n, quantiles=quantiles,
                    steps=steps, starts=FIT_STARTS, noise_scales=scales)


def baseline(dataset, cfg, split: str = "test", progress=None) -> dict:
    """Fit every sky of a split of ``dataset`` (radsim.dataset.reader.Dataset made with ``cfg``); returns metrics in the
    layout of ``radtrain evaluate``'s (per-sky dy and relative error, a table of skies) plus the fits."""
    from radsim.instrument.imaging import build_imager
    t0 = time.perf_counter()
    imager = build_imager(cfg)
    setup_s = time.perf_counter() - t0
    tiles = dataset.load(split, datasets=("images", "labels", "expected", "realisation", "tile_origin",
                                          "tile_noise"))
    if tiles["labels"].shape[0] == 0:
        raise BaselineError(f"{dataset.directory}: the {split} split holds no tiles")
    edges = np.asarray(dataset.bin_edges_jy)
    ids, sky_true = sum_by(tiles["labels"].astype(np.float64), tiles["realisation"])
    _, sky_expected = sum_by(tiles["expected"].astype(np.float64), tiles["realisation"])
    from radsim.sky.grid import Grid
    grid = Grid.from_config(cfg.field)
    t = dataset.tile_size
    records = {r["id"]: r for r in dataset.records()}
    skies, preds = [], []
    for k, sky in enumerate(ids):
        ts = time.perf_counter()
        rows = np.flatnonzero(tiles["realisation"] == sky)
        values = tiles["images"][rows]
        inst = instrument(cfg, imager, values)
        result = fit_sky(values, cfg, inst, tile_noise=tiles["tile_noise"][rows])
        o = tiles["tile_origin"][rows].astype(float)                  # (row y, column x) of each tile
        boxes = np.stack([o[:, 1] - 0.5, o[:, 1] + t - 0.5, o[:, 0] - 0.5, o[:, 0] + t - 0.5], axis=1)
        pred = seed_law_counts(cfg, result.params, edges, float(grid.solid_angles_sr(boxes).sum()))
        preds.append(pred)
        skies.append({"id": int(sky), "modifier": records.get(int(sky), {}).get("modifier"),
                      "n_tiles": int(rows.size), "true": sky_true[k].tolist(), "pred": pred.tolist(),
                      "expected": sky_expected[k].tolist(), "fit": result.params, "success": result.success,
                      "message": result.message, "clean_level_jy": inst.clean_level_jy,
                      "seconds": time.perf_counter() - ts})
        if progress:
            progress(k + 1, ids.size, skies[-1])
    sky_pred = np.array(preds)
    centres = np.sqrt(edges[:-1] * edges[1:])
    threshold = cfg.labels.detection_threshold_jy
    return {
        "method": "pofd", "dataset": str(dataset.directory.resolve()), "split": split,
        "split_by": dataset.split["by"], "backend": cfg.imaging.backend, "n_skies": int(ids.size),
        "n_tiles": int(tiles["labels"].shape[0]), "bin_edges_jy": edges.tolist(), "bin_centres_jy": centres.tolist(),
        "detection_threshold_jy": threshold, "factor_below_threshold": (threshold / centres).tolist(),
        "model": "seed law (1 + S0/S)^alpha x base counts; fitted log10_s0, alpha",
        "per_sky": {"dy": spread(residual_dy(sky_pred, sky_true)),
                    "relative_error": spread(relative_error(sky_pred, sky_true))},
        "skies": skies, "setup_seconds": setup_s, "seconds": time.perf_counter() - t0,
    }


def format_table(m: dict) -> str:
    """Per-bin mean and spread of dy and of the relative error over the skies, for the terminal."""
    e, f = m["bin_edges_jy"], m["factor_below_threshold"]
    dy, rel = m["per_sky"]["dy"], m["per_sky"]["relative_error"]
    lines = [f"P(D) baseline on the {m['split']} split of {m['dataset']} ({m['backend']}): {m['n_skies']} skies",
             f"{'bin (Jy)':>22} {'x below thr':>11} {'dy sky':>16} {'rel err sky':>16}"]
    for i in range(len(e) - 1):
        lines.append(f"{e[i]:10.3g}-{e[i + 1]:<11.3g} {f[i]:11.1f} {dy['mean'][i]:+7.3f}±{dy['std'][i]:<7.3f} "
                     f"{rel['mean'][i]:+7.3f}±{rel['std'][i]:<7.3f}")
    return "\n".join(lines)
