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
by least squares on the calibration skies (the truth regressed on the reading, the inverse estimator of
calibration; Krutchkoff 1967, Technometrics 9, 425: the calibrated count is ``n exp(alpha + beta u)``), and
``e`` is normal with variance ``s^2(n) = a + c / n``: ``a`` shared by every tile of a sky (it does not average
down), ``c / n`` the part that does. ``a`` and ``c`` come from a least-squares fit to the variance of the
residual ``e`` on the calibration skies whole and cut into 2 and 4 interleaved parts. The interval of level
``p`` for a new image is the normal-theory prediction interval of the regression (e.g. Draper & Smith 1998,
Applied Regression Analysis, sec. 3.1):

    v in alpha + beta u0 +- t_{m-2, (1+p)/2} s(n) sqrt(1 + 1/m + (u0 - mean u)^2 / S_uu)     (m calibration skies)

Student's t carries the uncertainty of estimating the line and ``s`` from a few skies.

A per-bin line cannot undo an error that depends on the sky's count *shape*: a network that flattens the slope
of N(S) reads a steep sky too high in its faint bins and too low in its bright ones, by amounts that the bin's own
count does not reveal but the other bins do. On request (``shape_terms`` K, from ``MIN_SKIES_SHAPE`` calibration
skies on) the line therefore also takes the sky's scores on the first K principal components of the calibration
skies' whole-sky ``u`` vectors (their main modes of variation, e.g. level and slope; principal-component
regression, Jolliffe 2002, Principal Component Analysis, ch. 8): ``v_b = alpha_b + beta_b u_b + sum_j delta_bj p_j
+ e``. The prediction interval is the same normal-theory interval with the leverage of the whole design row,
``x0' (X'X)^-1 x0`` in place of ``1/m + (u0 - mean u)^2 / S_uu``, and ``t`` with ``m - 2 - K`` degrees of freedom.
It is not the default: on the pointing networks (96 calibration skies of drawn (S0, alpha)) K = 2 took the
calibrated |mean dy| at 0.1-1 uJy from 0.12-0.29 to 0.02-0.08 on 144 test skies drawn the same way, at the same
coverage (10 of 10 bins within 68 +- 8% and 95 +- 5%); but on the 48 pointings of the 12 fixed test pairs, several
at the edge of the calibration range where a linear shape correction misfits, its 95% intervals were within
95 +- 5% in 2-5 of 10 bins against 8-9 (worst bin 81% against 83-90%).

A network trained on a box of count shapes responds less and less towards the box's edges: a straight line fitted
over the whole range then misreads the skies between its ends. On request (``curved``, from ``MIN_SKIES_CURVE``
calibration skies on) the line takes a term in u^2 per bin, ``v_b = alpha_b + beta_b u_b + kappa_b u_b^2 (+ shape
terms) + e``, with the same normal-theory interval (the leverage of the row, t with one degree of freedom fewer).
Beyond the calibration skies' range the square goes on along its tangent at the range's end, so the parabola is
never extrapolated. Its spread is one for every count (``gamma`` 0): fitted on a curved line's residuals, a slope
in the spread narrowed the pointing networks' 95% intervals on the fixed test pairs. It is not the default. On the
mosaics (24 listed calibration skies) it took the calibrated error on 48 mosaics of drawn shapes from 0.076 to
0.005 at 1-10 uJy (seed-small; every network within 0.10) while the 12 test pairs stayed within 0.03, but it did
not make the intervals hold on both (docs/results.md). On the pointing networks (96 drawn calibration skies) it
took the fixed test pairs' error from 1 to 10 uJy from 0.044-0.065 to 0.017-0.020 and their 68% intervals from
1-7 to 6-9 of 10 bins within goal (docs/results-pointings.md). In the faintest bins the fitted parabola can turn inside
the calibration range (:func:`turning_bins`), where the network's count says little.

The spread is not the same for every sky: skies whose faint counts are suppressed (steeply negative alpha) err
2-4 times more than the rest (pointing networks, 48 calibration skies), and one ``s`` for all then gives intervals
too wide for most skies and too narrow for those. With at least ``MIN_SKIES_SPREAD`` calibration skies the
variance is modelled as multiplicative in the sky's own network count (Harvey 1976, Econometrica 44, 461):
``s^2(n, u) = (a + c / n) exp(gamma (u - mean u))``, ``gamma`` the slope of ``log e^2`` against ``u`` over the
whole calibration skies, ``a`` and ``c`` then fitted to the residuals divided by that factor; ``u`` is held to
the calibration skies' range, so the spread is never extrapolated. With fewer skies ``gamma`` is 0. The normal
model is checked by the coverage it achieves on the test skies (``radtrain evaluate``).

The skies' residuals are not normal: a few count shapes err far more than the rest, and a normal spread fitted to
all of them is too wide for most skies at 68% and too narrow at 95%. On request (``conformal``, from
``MIN_SKIES_CONFORMAL`` calibration skies) the multiple of the spread is instead, per level and bin, the
ceil((m + 1) p)-th smallest of the m calibration skies' studentised residuals |e| / (s sqrt(1 - h)) (split-conformal
prediction with normalised scores, Lei et al. 2018, JASA 113, 1094): an interval that covers as often as claimed,
whatever the residuals' distribution, for skies exchangeable with the calibration skies, i.e. drawn as they were.
It needs 19 skies for a 95% interval and is coarse below a few dozen.

The intervals are calibrated over the calibration skies as a whole, not for each count shape. On pointings (96
calibration skies of (S0, alpha) drawn from a box) skies in the box's outer tenth were inside their 68% intervals
52-59% of the time and skies in its inner 60% 80-83% (docs/results-pointings.md); a wider calibration prior, a
kernel-weighted line and a spread growing with the sky's distance from the calibration skies' centre were tried
and none held at every shape. The misses gather at one edge: skies whose faint counts are the most suppressed
(alpha at the prior's low end) were inside their 68% intervals 17-29% of the time, read 0.2-0.7 too high (in log)
in the faint bins, against 45-87% at the prior's other three edges. A network trained on a prior wider by 0.15 dex
in S0 and 0.1 in alpha on each side (so that the calibration prior's edges are inside what it learnt), shape terms
(K = 2, 4) and the classical estimator (u regressed on v, then inverted; Eisenhart 1939, Ann. Math. Stat. 10,
162) all left that edge at 23-28% (docs/results-pointings.md, 2026-12-04): a bin's own count says too little of
how steeply a sky's faint counts fall to place such a sky. All bins together say more: fitting the count model the
calibration skies were drawn from to them (:mod:`radtrain.likelihood`, ``radtrain calibrate --likelihood``) covered
that edge 46-61% of the time, and fixed count shapes within 68 +- 8% in 8-9 of 10 bins. Calibration skies should
span more than the counts expected.

A network trained on standardised counts can predict a count at or below zero for a sky far below its training
mean. Its log would be arbitrary (an outlier that tilts the line and inflates ``s`` for every sky), so network
counts per tile are read as at least half the smallest positive count per tile, network's or true, of any
calibration sky (``floor``, per bin): below it the calibration cannot tell counts apart. The interval that the
calibration skies' spread then gives such a sky is honest about how little its network count says.

On request (``radtrain calibrate --likelihood``) the counts and intervals come instead from fitting the count
model the calibration skies were drawn from to all bins' network counts together (:mod:`radtrain.likelihood`);
the line's fields are still fitted and stored (where a count lies in the calibration range), but
:func:`corrected` and :func:`interval` then give the likelihood's.
"""
from __future__ import annotations

import numpy as np

from radtrain import likelihood

LEVELS = (0.68, 0.95)
PARTS = (1, 2, 4)             # each calibration sky whole, in halves and in quarters (interleaved tiles)
FORMAT = 8                    # 3: the per-bin floor of the network counts; 4: the spread's slope gamma;
                              # 5: the shape terms (principal-component scores of the sky's network counts);
                              # 6: the curved line (kappa); 7: conformal quantiles; 8: the count model's likelihood
READS = (4, 5, 6, 7, 8)       # a format-4 calibration is a format-8 one without shape terms, curvature, quantiles
                              # or likelihood
MIN_SKIES = 4                 # a line and a spread: at least 2 degrees of freedom
MIN_SKIES_SPREAD = 20         # a spread that changes with the count: from this many calibration skies
MIN_SKIES_SHAPE = 20          # the shape terms: from this many calibration skies
MIN_SKIES_CURVE = 20          # the curved line: from this many calibration skies
MIN_SKIES_CONFORMAL = 20      # conformal intervals: from this many (the 95% quantile needs 19)
FLOOR = 1e-3                  # counts per tile below this are taken as this (logs of empty bins)
EDGE = 0.1                    # range_position below this: at the edge of the calibration skies' counts


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


def calibrate(tile_pred: np.ndarray, tile_true: np.ndarray, realisation: np.ndarray, shape_terms: int = 0,
              curved: bool = False, conformal: bool = False) -> dict:
    """The calibration from the per-tile predicted and true counts (N, bins) of calibration skies (the tiles'
    ``realisation`` ids), with ``shape_terms`` principal components of the skies' network counts in the line (at
    most bins - 1; none below ``MIN_SKIES_SHAPE`` skies) and, if ``curved`` (from ``MIN_SKIES_CURVE`` skies), a
    term in u^2; if ``conformal`` (from ``MIN_SKIES_CONFORMAL`` skies), the quantiles of the skies' studentised
    residuals for the intervals of ``LEVELS`` (``conformal``: levels and quantiles per bin, else None). Returns a
    JSON-able dict: per bin ``alpha``, ``beta``, ``kappa`` (the u^2 coefficient, 0 for a straight line), the
    shape terms' ``delta`` (bins, K), ``xtx_inv`` (the design's (X'X)^-1), ``a``, ``c``, ``gamma``, ``u_mean``,
    ``u_ss``, ``u_range``, ``floor``; ``curved``; ``shape`` (the principal axes and their
    mean); the number of skies and their median number of tiles; the residual variance (divided by the spread's
    factor) at each part size."""
    tile_pred = np.asarray(tile_pred, dtype=np.float64)
    tile_true = np.asarray(tile_true, dtype=np.float64)
    realisation = np.asarray(realisation)
    ids = np.unique(realisation)
    if ids.size < MIN_SKIES:
        raise ValueError(f"calibration needs at least {MIN_SKIES} skies, got {ids.size}")
    if shape_terms < 0:
        raise ValueError(f"shape terms: expected 0 or more, got {shape_terms}")
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
    u_range = np.stack([u.min(axis=0), u.max(axis=0)])
    shape = _shape_basis(u, shape_terms) if ids.size >= MIN_SKIES_SHAPE else None
    curve = u_range if curved and ids.size >= MIN_SKIES_CURVE else None
    coef, xtx_inv = _fit_lines(_design(u, shape, curve), v, u_ss, curve is not None)
    gamma = np.zeros_like(u_mean)
    if ids.size >= MIN_SKIES_SPREAD and curve is None:
        gamma = _slope(u, np.log(np.maximum((v - _centre(_design(u, shape), coef)) ** 2, 1e-12)), u_mean, u_ss, 0.0)
    points = []
    for k in PARTS:
        uk, vk, sizes = (u, v, whole_sizes) if k == 1 else sums(k)
        e = (vk - _centre(_design(uk, shape, curve), coef)) / np.sqrt(_spread_factor(uk, gamma, u_mean, u_range))
        # whole skies: the line took its parameters' degrees of freedom from the m residuals
        dof = e.shape[0] - coef.shape[1] if k == 1 else e.shape[0]
        points.append((float(sizes.mean()), (e ** 2).sum(axis=0) / dof))
    a, c = _fit_variance(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    quantiles = None
    if conformal and ids.size >= MIN_SKIES_CONFORMAL:
        quantiles = _conformal(u, v, whole_sizes, _design(u, shape, curve), coef, xtx_inv, a, c,
                               _spread_factor(u, gamma, u_mean, u_range))
    shape = shape or {"mean": u_mean.tolist(), "axes": []}
    first = 3 if curve is not None else 2           # the shape terms' first column
    return {"format": FORMAT, "n_skies": int(ids.size),
            "n_tiles_median": float(np.median([np.sum(realisation == i) for i in ids])),
            "alpha": coef[:, 0].tolist(), "beta": coef[:, 1].tolist(), "curved": curve is not None,
            "kappa": (coef[:, 2] if curve is not None else np.zeros_like(u_mean)).tolist(),
            "delta": coef[:, first:].tolist(),
            "shape": shape, "xtx_inv": xtx_inv.tolist(), "a": a.tolist(), "c": c.tolist(),
            "gamma": gamma.tolist(), "u_mean": u_mean.tolist(), "u_ss": u_ss.tolist(), "u_range": u_range.tolist(),
            "floor": floor.tolist(), "conformal": quantiles,
            "measured": {"n_tiles": [p[0] for p in points], "variance": [p[1].tolist() for p in points]},
            "sky_log_pred": u.tolist(), "sky_log_true": v.tolist()}


def _conformal(u, v, sizes, x, coef, xtx_inv, a, c, factor) -> dict:
    """Per level of ``LEVELS`` and bin, the ceil((m + 1) p)-th smallest of the m calibration skies' studentised
    residuals |e| / (s sqrt(1 - h)) (s: the fitted spread for the sky's size and count, h: its leverage). A new
    sky's residual, divided by s sqrt(1 + h), is then below that quantile with probability about p (at least p
    for a line fitted on other skies) if it is exchangeable with the calibration skies (split-conformal prediction
    with normalised scores: Lei et al. 2018, JASA 113, 1094; the studentised residual stands for the leave-one-out
    one, as in the jackknife of Barber et al. 2021, Ann. Stat. 49, 486). Unlike Student's t it does not assume
    normal residuals."""
    e = v - _centre(x, coef)
    s2 = (a + c / sizes[:, None]) * factor
    leverage = _leverage(x, xtx_inv)
    score = np.abs(e) / np.sqrt(np.maximum(s2 * (1.0 - leverage), 1e-300))
    m = score.shape[0]
    ordered = np.sort(score, axis=0)
    return {"levels": list(LEVELS),
            "quantiles": [ordered[min(int(np.ceil((m + 1) * p)), m) - 1].tolist() for p in LEVELS]}


def _shape_basis(u: np.ndarray, k: int) -> dict | None:
    """The calibration skies' main modes of variation in log counts per tile (skies, bins): their mean and first
    ``k`` principal axes (at most bins - 1, so that no bin's own u lies in their span). None for none."""
    k = min(k, u.shape[1] - 1)
    if k < 1:
        return None
    mean = u.mean(axis=0)
    return {"mean": mean.tolist(), "axes": np.linalg.svd(u - mean, full_matrices=False)[2][:k].tolist()}


def _design(u: np.ndarray, shape: dict | None, curve=None) -> np.ndarray:
    """Per image and bin the row of the line's design (images, bins, 2 [+ 1] + K): 1, the bin's own u, for a
    curved line (``curve``: the calibration skies' range of u, (2, bins)) its square, and the image's scores on the
    K shape axes, the same in every bin. The scores are not held to the calibration range: with u itself in the
    row, holding them alone would break the balance of the fitted coefficients. The square is: beyond the range it
    goes on along its tangent at the range's end, so that the curve is never extrapolated (a parabola fitted inside
    the range could turn back outside it)."""
    u = np.atleast_2d(u)
    cols = [np.ones_like(u), u]
    if curve is not None:
        end = np.clip(u, np.asarray(curve)[0], np.asarray(curve)[1])
        cols.append(end * end + 2.0 * end * (u - end))
    if shape is not None and len(shape["axes"]):
        scores = (u - np.asarray(shape["mean"])) @ np.asarray(shape["axes"]).T
        cols += [np.broadcast_to(scores[:, None, j], u.shape) for j in range(scores.shape[1])]
    return np.stack(cols, axis=-1)


def _fit_lines(x: np.ndarray, v: np.ndarray, u_ss: np.ndarray, curved: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per bin the least-squares coefficients (bins, p) of v (skies, bins) on the design x (skies, bins, p) and
    (X'X)^-1 (bins, p, p) for the leverage. Where u does not vary over the skies its slope is held at 1 (and a
    curved line's u^2 term, column 2, at 0)."""
    n_bins, p = x.shape[1], x.shape[2]
    coef, xtx_inv = np.zeros((n_bins, p)), np.zeros((n_bins, p, p))
    for b in range(n_bins):
        keep = np.arange(p) if u_ss[b] > 0 else np.delete(np.arange(p), [1, 2] if curved else [1])
        xb, y = x[:, b, keep], v[:, b] - (0.0 if u_ss[b] > 0 else x[:, b, 1])
        coef[b, keep] = np.linalg.lstsq(xb, y, rcond=None)[0]
        xtx_inv[b][np.ix_(keep, keep)] = np.linalg.pinv(xb.T @ xb)
        if u_ss[b] <= 0:
            coef[b, 1] = 1.0
    return coef, xtx_inv


def _centre(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """The line's value (images, bins) for design rows x (images, bins, p) and coefficients (bins, p)."""
    return np.einsum("ibp,bp->ib", x, coef)


def _slope(u, y, u_mean, u_ss, default) -> np.ndarray:
    """Per bin, the least-squares slope of y against u over the skies (rows); ``default`` where u does not vary."""
    return np.where(u_ss > 0, ((u - u_mean) * (y - y.mean(axis=0))).sum(axis=0) / np.where(u_ss > 0, u_ss, 1.0),
                    default)


def _leverage(x: np.ndarray, xtx_inv: np.ndarray) -> np.ndarray:
    """Per row and bin, the leverage x (X'X)^-1 x' of design rows x (rows, bins, p)."""
    return np.einsum("ibp,bpq,ibq->ib", x, xtx_inv, x)


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


def _coefficients(model: dict) -> np.ndarray:
    """The line's coefficients (bins, 2 [+ 1] + K): alpha, beta, a curved line's kappa and the shape terms'
    delta."""
    cols = [model["alpha"], model["beta"]] + ([model["kappa"]] if model.get("curved") else [])
    coef = np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)
    delta = np.asarray(model.get("delta", []), dtype=np.float64)
    return np.concatenate([coef, delta], axis=1) if delta.size else coef


def _line(counts, n_tiles, model: dict):
    """(n per image, log counts per tile u, the design rows, the line) for counts (bins,) or (images, bins); the
    last three with a leading images axis."""
    n = np.asarray(n_tiles, dtype=np.float64)
    if np.ndim(counts) == 2 and n.ndim == 1:
        n = n[:, None]
    u = np.atleast_2d(log_per_tile(counts, n_tiles, np.asarray(model.get("floor", FLOOR))))
    x = _design(u, model.get("shape"), _curve(model))
    return n, u, x, _centre(x, _coefficients(model))


def _curve(model: dict):
    """The calibration skies' range of u for a curved line's u^2 term; None for a straight line."""
    return np.asarray(model["u_range"], dtype=np.float64) if model.get("curved") else None


def _shaped(values: np.ndarray, counts) -> np.ndarray:
    """``values`` (images, bins) back to the shape of ``counts`` ((bins,) for one image)."""
    return values[0] if np.ndim(counts) == 1 else values


def log_correction(u: np.ndarray, model: dict) -> np.ndarray:
    """The calibrated minus the network log count per tile (images, bins; natural log) for log network counts per
    tile ``u`` (images, bins)."""
    x = _design(np.asarray(u, dtype=np.float64), model.get("shape"), _curve(model))
    return _centre(x, _coefficients(model)) - x[..., 1]


def corrected(counts: np.ndarray, n_tiles, model: dict) -> np.ndarray:
    """Calibrated counts per bin, n exp(alpha + beta log(counts / n) + shape terms), of images whose network counts
    are ``counts`` (bins,) or (images, bins), each of ``n_tiles`` tiles (scalar or one per image); with a
    likelihood calibration, the count model's posterior-mean counts (:func:`radtrain.likelihood.estimate`) for
    every image the model fits, the line's for the others."""
    n, _, _, centre = _line(counts, n_tiles, model)
    line = _shaped(n * np.exp(centre), counts)
    if model.get("likelihood"):
        fit = likelihood.estimate(counts, n_tiles, model["likelihood"])
        return np.where(np.asarray(fit["fits"])[..., None], fit["counts"], line)
    return line


def interval(counts: np.ndarray, n_tiles, model: dict, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) counts per bin of the ``level`` prediction interval for images whose network counts are
    ``counts`` (bins,) or (images, bins), each of ``n_tiles`` tiles (scalar or one per image); with a likelihood
    calibration, its interval for every image the model fits, the line's for the others."""
    lo, hi = _line_interval(counts, n_tiles, model, level)
    if model.get("likelihood"):
        fit = likelihood.estimate(counts, n_tiles, model["likelihood"])
        j = likelihood.level_index(model["likelihood"], level)
        fits = np.asarray(fit["fits"])[..., None]
        return np.where(fits, fit["lo"][j], lo), np.where(fits, fit["hi"][j], hi)
    return lo, hi


def _line_interval(counts: np.ndarray, n_tiles, model: dict, level: float) -> tuple[np.ndarray, np.ndarray]:
    n, u, x, centre = _line(counts, n_tiles, model)
    m = model["n_skies"]
    s2 = np.asarray(model["a"]) + np.asarray(model["c"]) / n
    if "gamma" in model:
        s2 = s2 * _spread_factor(u, model["gamma"], model["u_mean"], np.asarray(model["u_range"]))
    if "xtx_inv" in model:
        leverage = _leverage(x, np.asarray(model["xtx_inv"]))
    else:                                   # a line alone: 1/m + (u - mean u)^2 / S_uu
        u_ss = np.asarray(model["u_ss"])
        leverage = 1.0 / m + np.where(u_ss > 0, (u - np.asarray(model["u_mean"])) ** 2
                                      / np.where(u_ss > 0, u_ss, 1.0), 0.0)
    half = interval_multiple(model, level, m - x.shape[-1]) * np.sqrt(s2 * (1.0 + leverage))
    return _shaped(n * np.exp(centre - half), counts), _shaped(n * np.exp(centre + half), counts)


def interval_multiple(model: dict, level: float, dof: int):
    """The multiple of the spread for a ``level`` interval: the calibration's conformal quantile (per bin) if it
    has one for that level, else Student's t with ``dof`` degrees of freedom."""
    from scipy.stats import t
    conformal = model.get("conformal")
    if conformal:
        for p, q in zip(conformal["levels"], conformal["quantiles"]):
            if abs(p - level) < 1e-9:
                return np.asarray(q, dtype=np.float64)
        raise ValueError(f"a {level:g} interval: this calibration's conformal quantiles are for levels "
                         f"{', '.join(f'{p:g}' for p in conformal['levels'])}")
    return t.ppf(0.5 + level / 2, dof)


def slope(model: dict, u=None) -> np.ndarray:
    """Per bin, the calibration line's slope d(log calibrated)/d(log network count) at log network counts per tile
    ``u`` (default: the calibration skies' mean); for a straight line its beta."""
    u = np.asarray(model["u_mean"] if u is None else u, dtype=np.float64)
    kappa = np.asarray(model.get("kappa") or np.zeros_like(u), dtype=np.float64) if model.get("curved") else 0.0
    return np.asarray(model["beta"], dtype=np.float64) + 2.0 * kappa * u


def turning_bins(model: dict) -> np.ndarray:
    """The bins whose curved line turns inside the calibration skies' range (its slope changes sign there): in
    them a higher network count does not always mean a higher calibrated count."""
    lo, hi = np.asarray(model["u_range"], dtype=np.float64)
    return np.flatnonzero(slope(model, lo) * slope(model, hi) < 0)


def range_position(counts: np.ndarray, n_tiles, model: dict) -> np.ndarray:
    """Per bin, where an image's network count per tile lies in the calibration skies' range of them: the distance
    of its log to the range's nearer end, in units of the range's width (0.5: the middle, 0: an end, negative:
    outside), for counts (bins,) or (images, bins). Near and beyond the ends the intervals are too narrow: the
    line is fitted from one side there (below ``EDGE`` on pointings, 68% intervals covered 14-61% of such bins)."""
    _, u, _, _ = _line(counts, n_tiles, model)
    lo, hi = np.asarray(model["u_range"], dtype=np.float64)
    width = np.where(hi > lo, hi - lo, 1e-12)     # calibration skies of one count: any other is beyond them
    q = (u - lo) / width
    return _shaped(np.minimum(q, 1.0 - q), counts)


def range_zones(position: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of ``range_position`` values: "inside" the calibration skies' range, at its "edge" (below ``EDGE``)
    and "outside" it."""
    position = np.asarray(position)
    return {"inside": position >= EDGE, "edge": (position >= 0) & (position < EDGE), "outside": position < 0}


def coverage(true: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fraction per bin of skies (rows) whose true counts lie within [lo, hi]."""
    true = np.asarray(true)
    return ((true >= lo) & (true <= hi)).mean(axis=0)
