"""Per-sky intervals on the counts read from an image, calibrated on skies held out for the purpose.

The tiles of one sky are not independent draws: they share the sky's N(S), and the network errs on a given
count shape in the same direction on every tile. Summing per-tile variances as independent therefore makes
intervals far too narrow on a whole image. Instead, the error of the summed counts is measured on calibration
skies (simulated skies that neither trained, validated nor test the network) and turned into a prediction
interval for a new sky.

The model, per bin, works on the counts per tile of an image (its summed counts over its ``n`` tiles), in logs:
``u = log(pred / n)``, ``v = log(true / n)``. A network trained with a squared loss on tiles that carry little
information shrinks each tile's prediction towards the training mean, so its summed counts move less than the
truth between skies (regression dilution): ``v = alpha + beta u + e`` with beta above 1. alpha and beta are fitted
by least squares on the calibration skies (classical calibration: the calibrated count is ``n exp(alpha + beta
u)``), and ``e`` is normal with variance ``s^2(n) = a + c / n``: ``a`` shared by every tile of a sky (it does not
average down), ``c / n`` the part that does. ``a`` and ``c`` come from a least-squares fit to the variance of the
residual ``e`` on the calibration skies whole and cut into 2 and 4 interleaved parts. The interval of level
``p`` for a new image is the normal-theory prediction interval of the regression (e.g. Draper & Smith 1998,
Applied Regression Analysis, sec. 3.1):

    v in alpha + beta u0 +- t_{m-2, (1+p)/2} s(n) sqrt(1 + 1/m + (u0 - mean u)^2 / S_uu)     (m calibration skies)

Student's t carries the uncertainty of estimating the line and ``s`` from a few skies.

The spread is not the same for every sky: skies whose faint counts are suppressed (steeply negative alpha) err
2-4 times more than the rest (pointing networks, 48 calibration skies), and one ``s`` for all then gives intervals
too wide for most skies and too narrow for those. With at least ``MIN_SKIES_SPREAD`` calibration skies the
variance is modelled as multiplicative in the sky's own network count (Harvey 1976, Econometrica 44, 461):
``s^2(n, u) = (a + c / n) exp(gamma (u - mean u))``, ``gamma`` the slope of ``log e^2`` against ``u`` over the
whole calibration skies, ``a`` and ``c`` then fitted to the residuals divided by that factor; ``u`` is held to
the calibration skies' range, so the spread is never extrapolated. With fewer skies ``gamma`` is 0. A split-conformal
interval (the distribution-free alternative) needs at least 19 calibration skies for a 95% interval and is
coarse below a few dozen; the normal model is checked instead by the coverage it achieves on the test skies
(``radtrain evaluate``).

A network trained on standardised counts can predict a count at or below zero for a sky far below its training
mean. Its log would be arbitrary (an outlier that tilts the line and inflates ``s`` for every sky), so network
counts per tile are read as at least half the smallest positive count per tile, network's or true, of any
calibration sky (``floor``, per bin): below it the calibration cannot tell counts apart. The interval that the
calibration skies' spread then gives such a sky is honest about how little its network count says.
"""
from __future__ import annotations

import numpy as np

LEVELS = (0.68, 0.95)
PARTS = (1, 2, 4)             # each calibration sky whole, in halves and in quarters (interleaved tiles)
FORMAT = 4                    # 3: the per-bin floor of the network counts; 4: the spread's slope gamma
MIN_SKIES = 4                 # a line and a spread: at least 2 degrees of freedom
MIN_SKIES_SPREAD = 20         # a spread that changes with the count: from this many calibration skies
FLOOR = 1e-3                  # counts per tile below this are taken as this (logs of empty bins)


def log_per_tile(counts: np.ndarray, n_tiles, floor=FLOOR) -> np.ndarray:
    """log(counts / n_tiles): the log of the counts per tile of images of ``n_tiles`` tiles, each at least
    ``floor`` (scalar or per bin)."""
    counts = np.asarray(counts, dtype=np.float64)
    n = np.asarray(n_tiles, dtype=np.float64)
    if counts.ndim == 2 and n.ndim == 1:
        n = n[:, None]
    return np.log(np.maximum(counts / n, floor))


def parts(n_tiles: int, k: int) -> np.ndarray:
    """Group (0..k-1) of each of a sky's ``n_tiles`` tiles when cut into ``k`` interleaved parts."""
    return np.arange(n_tiles) % k


def calibrate(tile_pred: np.ndarray, tile_true: np.ndarray, realisation: np.ndarray) -> dict:
    """The calibration from the per-tile predicted and true counts (N, bins) of calibration skies (the tiles'
    ``realisation`` ids). Returns a JSON-able dict: per bin ``alpha``, ``beta``, ``a``, ``c``, ``gamma``,
    ``u_mean``, ``u_ss``, ``u_range``, ``floor``; the number of skies and their median number of tiles; the
    residual variance (divided by the spread's factor) at each part size."""
    tile_pred = np.asarray(tile_pred, dtype=np.float64)
    tile_true = np.asarray(tile_true, dtype=np.float64)
    realisation = np.asarray(realisation)
    ids = np.unique(realisation)
    if ids.size < MIN_SKIES:
        raise ValueError(f"calibration needs at least {MIN_SKIES} skies, got {ids.size}")
    floor = _floor(np.array([tile_pred[realisation == i].mean(axis=0) for i in ids]),
                   np.array([tile_true[realisation == i].mean(axis=0) for i in ids]))

    def sums(k):
        u, v, sizes = [], [], []
        for i in ids:
            sel = np.flatnonzero(realisation == i)
            g = parts(sel.size, k)
            for j in range(k):
                t = sel[g == j]
                if t.size:
                    u.append(log_per_tile(tile_pred[t].sum(axis=0), t.size, floor))
                    v.append(log_per_tile(tile_true[t].sum(axis=0), t.size))
                    sizes.append(t.size)
        return np.asarray(u), np.asarray(v), np.asarray(sizes, dtype=np.float64)

    u, v, whole_sizes = sums(1)
    u_mean = u.mean(axis=0)
    u_ss = ((u - u_mean) ** 2).sum(axis=0)
    beta = _slope(u, v, u_mean, u_ss, 1.0)
    alpha = v.mean(axis=0) - beta * u_mean
    u_range = np.stack([u.min(axis=0), u.max(axis=0)])
    gamma = np.zeros_like(u_mean)
    if ids.size >= MIN_SKIES_SPREAD:
        gamma = _slope(u, np.log(np.maximum((v - (alpha + beta * u)) ** 2, 1e-12)), u_mean, u_ss, 0.0)
    points = []
    for k in PARTS:
        uk, vk, sizes = (u, v, whole_sizes) if k == 1 else sums(k)
        e = (vk - (alpha + beta * uk)) / np.sqrt(_spread_factor(uk, gamma, u_mean, u_range))
        # whole skies: the line took 2 degrees of freedom from the m residuals
        dof = e.shape[0] - 2 if k == 1 else e.shape[0]
        points.append((float(sizes.mean()), (e ** 2).sum(axis=0) / dof))
    a, c = _fit_variance(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    return {"format": FORMAT, "n_skies": int(ids.size),
            "n_tiles_median": float(np.median([np.sum(realisation == i) for i in ids])),
            "alpha": alpha.tolist(), "beta": beta.tolist(), "a": a.tolist(), "c": c.tolist(),
            "gamma": gamma.tolist(), "u_mean": u_mean.tolist(), "u_ss": u_ss.tolist(), "u_range": u_range.tolist(),
            "floor": floor.tolist(),
            "measured": {"n_tiles": [p[0] for p in points], "variance": [p[1].tolist() for p in points]},
            "sky_log_pred": u.tolist(), "sky_log_true": v.tolist()}


def _slope(u, y, u_mean, u_ss, default) -> np.ndarray:
    """Per bin, the least-squares slope of y against u over the skies (rows); ``default`` where u does not vary."""
    return np.where(u_ss > 0, ((u - u_mean) * (y - y.mean(axis=0))).sum(axis=0) / np.where(u_ss > 0, u_ss, 1.0),
                    default)


def _spread_factor(u, gamma, u_mean, u_range) -> np.ndarray:
    """exp(gamma (u - mean u)), u held to the calibration skies' range [u_range[0], u_range[1]] (per bin)."""
    u = np.clip(u, u_range[0], u_range[1])
    return np.exp(np.asarray(gamma) * (u - np.asarray(u_mean)))


def _floor(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per bin, half the smallest positive count per tile among the calibration skies' network and true counts
    (skies, bins): no calibration sky's network count is clipped, a sky's count at or below zero is."""
    positive = np.where(pred > 0, pred, np.inf)
    return np.maximum(0.5 * np.minimum(positive.min(axis=0), true.min(axis=0)), FLOOR)


def _fit_variance(n: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bin, a >= 0 and c >= 0 of var = a + c / n by non-negative least squares over the part sizes."""
    from scipy.optimize import nnls
    design = np.stack([np.ones_like(n), 1.0 / n], axis=1)
    a, c = np.empty(var.shape[1]), np.empty(var.shape[1])
    for b in range(var.shape[1]):
        (a[b], c[b]), _ = nnls(design, var[:, b])
    return a, c


def _line(counts, n_tiles, model: dict):
    """(n per image, log counts per tile u, the line alpha + beta u) for counts (bins,) or (images, bins)."""
    n = np.asarray(n_tiles, dtype=np.float64)
    if np.ndim(counts) == 2 and n.ndim == 1:
        n = n[:, None]
    u = log_per_tile(counts, n_tiles, np.asarray(model.get("floor", FLOOR)))
    return n, u, np.asarray(model["alpha"]) + np.asarray(model["beta"]) * u


def corrected(counts: np.ndarray, n_tiles, model: dict) -> np.ndarray:
    """Calibrated counts per bin, n exp(alpha + beta log(counts / n)), of images whose network counts are
    ``counts`` (bins,) or (images, bins), each of ``n_tiles`` tiles (scalar or one per image)."""
    n, _, centre = _line(counts, n_tiles, model)
    return n * np.exp(centre)


def interval(counts: np.ndarray, n_tiles, model: dict, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) counts per bin of the ``level`` prediction interval for images whose network counts are
    ``counts`` (bins,) or (images, bins), each of ``n_tiles`` tiles (scalar or one per image)."""
    from scipy.stats import t
    n, u, centre = _line(counts, n_tiles, model)
    m = model["n_skies"]
    s2 = np.asarray(model["a"]) + np.asarray(model["c"]) / n
    if "gamma" in model:
        s2 = s2 * _spread_factor(u, model["gamma"], model["u_mean"], np.asarray(model["u_range"]))
    u_ss = np.asarray(model["u_ss"])
    leverage = np.where(u_ss > 0, (u - np.asarray(model["u_mean"])) ** 2 / np.where(u_ss > 0, u_ss, 1.0), 0.0)
    half = t.ppf(0.5 + level / 2, m - 2) * np.sqrt(s2 * (1.0 + 1.0 / m + leverage))
    return n * np.exp(centre - half), n * np.exp(centre + half)


def coverage(true: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fraction per bin of skies (rows) whose true counts lie within [lo, hi]."""
    true = np.asarray(true)
    return ((true >= lo) & (true <= hi)).mean(axis=0)
