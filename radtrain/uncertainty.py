"""Per-sky intervals on the counts read from an image, calibrated on skies held out for the purpose.

The tiles of one sky are not independent draws: they share the sky's N(S), and the network errs on a given
count shape in the same direction on every tile. Summing per-tile variances as independent therefore makes
intervals far too narrow on a whole image. Instead, the error of the summed counts is measured on calibration
skies (simulated skies that neither trained, validated nor test the network) and turned into a prediction
interval for a new sky.

The error model, per bin: the relative error of a sky's summed counts, ``e = (true - pred) / pred``, is drawn
from a normal distribution of mean ``bias`` and variance ``s^2(n) = a + c / n`` for an image of ``n`` tiles:
``a`` is the part shared by every tile of a sky (it does not average down), ``c / n`` the part that does. ``a``
and ``c`` come from a least-squares fit to the variance of ``e`` measured on the calibration skies whole and cut
into 2 and 4 interleaved parts. The interval of level ``p`` for a new sky of ``n`` tiles is the normal-theory
prediction interval (e.g. Geisser 1993, Predictive Inference, ch. 2):

    true in pred (1 + bias +- t_{m-1, (1+p)/2} s(n) sqrt(1 + 1/m))      (m calibration skies)

Student's t carries the uncertainty of estimating ``bias`` and ``s`` from a few skies. A split-conformal
interval (the distribution-free alternative) needs at least 19 calibration skies for a 95% interval and is
coarse below a few dozen; the normal model is checked instead by the coverage it achieves on the test skies
(``radtrain evaluate``).
"""
from __future__ import annotations

import numpy as np

LEVELS = (0.68, 0.95)
PARTS = (1, 2, 4)             # each calibration sky whole, in halves and in quarters (interleaved tiles)
FORMAT = 1


def relative_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(true - pred) / pred, per sky and bin; pred below one count is taken as one count."""
    pred = np.asarray(pred, dtype=np.float64)
    return (np.asarray(true, dtype=np.float64) - pred) / np.maximum(pred, 1.0)


def parts(n_tiles: int, k: int) -> np.ndarray:
    """Group (0..k-1) of each of a sky's ``n_tiles`` tiles when cut into ``k`` interleaved parts."""
    return np.arange(n_tiles) % k


def calibrate(tile_pred: np.ndarray, tile_true: np.ndarray, realisation: np.ndarray) -> dict:
    """The error model from the per-tile predicted and true counts (N, bins) of calibration skies (the tiles'
    ``realisation`` ids). Returns a JSON-able dict: per-bin ``bias``, ``a``, ``c``, the number of skies and
    their median number of tiles, and the variance measured at each part size."""
    tile_pred = np.asarray(tile_pred, dtype=np.float64)
    tile_true = np.asarray(tile_true, dtype=np.float64)
    realisation = np.asarray(realisation)
    ids = np.unique(realisation)
    if ids.size < 3:
        raise ValueError(f"calibration needs at least 3 skies, got {ids.size}")
    whole, points = [], []           # points: (n tiles, per-bin squared deviation) per part size
    for k in PARTS:
        errors, sizes = [], []
        for i in ids:
            sel = np.flatnonzero(realisation == i)
            g = parts(sel.size, k)
            for j in range(k):
                t = sel[g == j]
                if t.size == 0:
                    continue
                errors.append(relative_error(tile_pred[t].sum(axis=0), tile_true[t].sum(axis=0)))
                sizes.append(t.size)
        errors = np.asarray(errors)
        if k == 1:
            whole = errors
        points.append((float(np.mean(sizes)), errors.var(axis=0, ddof=1)))
    bias = whole.mean(axis=0)
    a, c = _fit_variance(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    return {"format": FORMAT, "n_skies": int(ids.size),
            "n_tiles_median": float(np.median([np.sum(realisation == i) for i in ids])),
            "bias": bias.tolist(), "a": a.tolist(), "c": c.tolist(),
            "measured": {"n_tiles": [p[0] for p in points], "variance": [p[1].tolist() for p in points]},
            "sky_errors": whole.tolist()}


def _fit_variance(n: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bin, a >= 0 and c >= 0 of var = a + c / n by non-negative least squares over the part sizes."""
    from scipy.optimize import nnls
    design = np.stack([np.ones_like(n), 1.0 / n], axis=1)
    a, c = np.empty(var.shape[1]), np.empty(var.shape[1])
    for b in range(var.shape[1]):
        (a[b], c[b]), _ = nnls(design, var[:, b])
    return a, c


def interval(counts: np.ndarray, n_tiles, model: dict, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) counts per bin of the ``level`` prediction interval for images whose summed counts are
    ``counts`` (bins,) or (skies, bins), each of ``n_tiles`` tiles (scalar or one per sky)."""
    from scipy.stats import t
    counts = np.asarray(counts, dtype=np.float64)
    n = np.asarray(n_tiles, dtype=np.float64)
    if counts.ndim == 2:
        n = np.broadcast_to(n, counts.shape[:1])[:, None]
    m = model["n_skies"]
    s = np.sqrt(np.asarray(model["a"]) + np.asarray(model["c"]) / n)
    half = t.ppf(0.5 + level / 2, m - 1) * s * np.sqrt(1.0 + 1.0 / m)
    centre = 1.0 + np.asarray(model["bias"])
    scale = np.maximum(counts, 1.0)
    return counts + scale * (centre - 1.0 - half), counts + scale * (centre - 1.0 + half)


def corrected(counts: np.ndarray, model: dict) -> np.ndarray:
    """Counts with the calibration skies' mean relative error taken out: pred (1 + bias)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts + np.maximum(counts, 1.0) * np.asarray(model["bias"])


def coverage(true: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fraction per bin of skies (rows) whose true counts lie within [lo, hi]."""
    true = np.asarray(true)
    return ((true >= lo) & (true <= hi)).mean(axis=0)
