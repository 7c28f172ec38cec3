"""P(D): the probability distribution of pixel values of a confused radio image, and a fit of source counts to
it (the classical way to read counts below the detection threshold, Scheuer 1957; Condon 1974).

For sources scattered at random with differential counts n(S) (Jy^-1 sr^-1), observed with a beam b (peak 1,
Jy/beam per Jy), the number of sources per pixel whose response lies in [x, x + dx] is R(x) dx with
R(x) = integral over the beam of n(x / b) / b dOmega. Pixel values D are then a compound Poisson sum plus
Gaussian noise, with characteristic function

    ln phi(omega) = integral R(x) (exp(i omega x) - 1) dx - sigma^2 omega^2 / 2.

:func:`pofd` evaluates R on a regular grid of D (responses binned exactly from the cumulative counts N(>S) for
every beam pixel), exponentiates its Fourier transform and transforms back (the FFT method of e.g. Patanchon et
al. 2009). Responses smaller than half a grid step land in the zero bin and only shift the mean, which an
interferometric image (no zero spacing) does not measure anyway: P(D) is returned for D - <D>, and fits
compare mean-subtracted distributions.

For a power law n(S) = k S^-gamma with 1 < gamma < 2 the characteristic function is known in closed form,
ln phi(omega) = Omega_e k Gamma(1 - gamma) (-i omega)^(gamma - 1) with Omega_e = integral b^(gamma-1) dOmega
(:func:`powerlaw_log_cf`); tests/test_pofd.py checks :func:`pofd` against it.

A beam can be given as a map (values on pixels of ``pixel_sr``) or as a list of :class:`BeamPart`: beam values
with the solid angle each stands for, for sources in a flux range only. Restored interferometric images need
that: sources CLEAN found are restored with the Gaussian clean beam, fainter ones stay in the residual convolved
with the dirty beam and its side lobes (:func:`compress` turns a 2560^2 dirty beam into a few hundred values, and
folds its faintest side lobes into Gaussian noise by Campbell's theorem).

Units: fluxes S in Jy, pixel values D in Jy/beam, solid angles in sr, counts per sr.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeamPart:
    """Beam values b (peak 1: Jy/beam per Jy) and the solid angle (sr) each stands for, seen by sources with
    fluxes in [s_lo_jy, s_hi_jy). ``tail_b2_sr``: the sum of b^2 x solid angle of responses too small to bin,
    treated as Gaussian noise of variance ``tail_b2_sr`` x integral of S^2 n(S) dS over the part's fluxes."""
    values: np.ndarray
    solid_angle_sr: np.ndarray
    s_lo_jy: float = 0.0
    s_hi_jy: float = math.inf
    tail_b2_sr: float = 0.0


def beam_part(beam, pixel_sr: float, s_lo_jy: float = 0.0, s_hi_jy: float = math.inf) -> BeamPart:
    """A beam map (values on pixels of ``pixel_sr`` sr) as a :class:`BeamPart`, zeros dropped."""
    b = np.asarray(beam, dtype=float).ravel()
    b = b[b != 0.0]
    return BeamPart(b, np.full(b.size, float(pixel_sr)), s_lo_jy, s_hi_jy)


def compress(part: BeamPart, b_min: float = 1e-4, per_decade: int = 100) -> BeamPart:
    """The same part with its values binned in log |b| (``per_decade`` bins per decade, each sign apart; a bin
    is represented by its solid-angle-weighted mean value), values with |b| < ``b_min`` folded into the
    Gaussian tail: a dirty beam of millions of pixels becomes a few hundred values, changing P(D) only below
    the grid's resolution."""
    b, w = np.asarray(part.values, float), np.asarray(part.solid_angle_sr, float)
    small = np.abs(b) < b_min
    tail = part.tail_b2_sr + float(np.sum(w[small] * b[small] ** 2))
    b, w = b[~small], w[~small]
    values, weights = [], []
    for sign in (1.0, -1.0):
        m = sign * b > 0
        if not m.any():
            continue
        lb = np.log10(np.abs(b[m]))
        k = np.floor((lb - math.log10(b_min)) * per_decade).astype(int)
        total = np.bincount(k, weights=w[m])
        moment = np.bincount(k, weights=w[m] * b[m])
        keep = total > 0
        values.append(moment[keep] / total[keep])
        weights.append(total[keep])
    return BeamPart(np.concatenate(values) if values else np.zeros(0), np.concatenate(weights) if weights
                    else np.zeros(0), part.s_lo_jy, part.s_hi_jy, tail)


def _parts(beam, pixel_sr) -> list[BeamPart]:
    if isinstance(beam, BeamPart):
        return [beam]
    if isinstance(beam, (list, tuple)) and beam and all(isinstance(b, BeamPart) for b in beam):
        return list(beam)
    return [beam_part(beam, pixel_sr)]


def cumulative_counts(dnds, s_min: float, s_max: float, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(S grid, N(>S) per sr) between s_min and s_max on a log grid, N(>s_max) = 0; ``dnds(S)`` returns
    dN/dS (Jy^-1 sr^-1) for an array of fluxes."""
    s = np.geomspace(s_min, s_max, n)
    f = np.asarray(dnds(s), dtype=float) * s                 # dN / d ln S
    pieces = 0.5 * (f[1:] + f[:-1]) * np.diff(np.log(s))
    above = np.concatenate([np.cumsum(pieces[::-1])[::-1], [0.0]])
    return s, above


def _n_above(s_grid, above, s):
    """N(>s) interpolated in log S (flat beyond the grid: N(>s) = N(>s_min) below it, 0 above it)."""
    s = np.asarray(s, dtype=float)
    out = np.interp(np.log(np.clip(s, s_grid[0], s_grid[-1])), np.log(s_grid), above)
    return np.where(s > s_grid[-1], 0.0, out)


def _n_above_in(s_grid, above, s, lo: float, hi: float):
    """N(>s) of the sources with fluxes in [lo, hi) only."""
    s = np.asarray(s, dtype=float)
    n_hi = float(_n_above(s_grid, above, hi)) if math.isfinite(hi) else 0.0
    return np.where(s < hi, np.maximum(_n_above(s_grid, above, np.maximum(s, lo)) - n_hi, 0.0), 0.0)


def response_histogram(s_grid, above, beam, pixel_sr: float | None, step: float, n: int) -> np.ndarray:
    """Mean number of sources per image pixel whose response falls in each bin of the periodic D grid
    ``k * step`` (k = 0..n-1, negative k wrapped to the top), bins centred on the grid points; ``beam`` holds the
    beam's values on pixels of ``pixel_sr`` each (positive and negative side lobes), or is a list of
    :class:`BeamPart`."""
    r = np.zeros(n)
    half = n // 2
    k = np.arange(1, half)
    lower = (k - 0.5) * step
    upper = (k + 0.5) * step
    for part in _parts(beam, pixel_sr):
        b, w = np.asarray(part.values, float), np.asarray(part.solid_angle_sr, float)
        for sign in (1.0, -1.0):
            m = sign * b > 0
            if not m.any():
                continue
            bs, ws = np.abs(b[m]), w[m]
            # sources seen with response b: those with S in [lower / b, upper / b) fall in bin k
            counts = (ws[:, None] * (_n_above_in(s_grid, above, lower[None, :] / bs[:, None], part.s_lo_jy,
                                                 part.s_hi_jy)
                                     - _n_above_in(s_grid, above, upper[None, :] / bs[:, None], part.s_lo_jy,
                                                   part.s_hi_jy))).sum(axis=0)
            if sign > 0:
                r[k] += counts
            else:
                r[n - k] += counts
    return r


def _tail_variance(parts, s_grid, dnds) -> float:
    """Variance (Jy^2/beam^2) of the responses folded into the parts' Gaussian tails."""
    return sum(p.tail_b2_sr * _second_moment(s_grid, dnds, p.s_lo_jy, p.s_hi_jy) for p in parts if p.tail_b2_sr)


def pofd(dnds, s_min: float, s_max: float, beam, pixel_sr: float | None, noise_sigma: float = 0.0,
         d_max: float | None = None, n: int = 2 ** 14) -> tuple[np.ndarray, np.ndarray]:
    """(D values, probability density P(D)) of mean-subtracted pixel values D - <D> in Jy/beam on ``n`` points
    from -d_max to d_max (default: 12 sigma of noise and confusion), for counts ``dnds`` between s_min and
    s_max, a beam map (values on pixels of ``pixel_sr``) or list of :class:`BeamPart`, and Gaussian noise
    ``noise_sigma``. The mean is taken out because an interferometric image does not measure it (and so that
    the grid need only span the fluctuations); :func:`mean_response` gives it."""
    d, (p,) = pofd_noises(dnds, s_min, s_max, beam, pixel_sr, [noise_sigma], d_max, n)
    return d, p


def pofd_noises(dnds, s_min: float, s_max: float, beam, pixel_sr: float | None, noise_sigmas,
                d_max: float | None = None, n: int = 2 ** 14) -> tuple[np.ndarray, list]:
    """:func:`pofd` for several levels of Gaussian noise at the cost of one: the sources' characteristic function
    is computed once and each noise level only multiplies it (pixels of a mosaic, whose noise rises towards its
    edges, are fitted in groups of similar noise). Returns the grid and one density per level."""
    s_grid, above = cumulative_counts(dnds, s_min, s_max)
    parts = _parts(beam, pixel_sr)
    tail = _tail_variance(parts, s_grid, dnds)
    if d_max is None:
        second = sum(float(np.sum(p.solid_angle_sr * np.asarray(p.values, float) ** 2))
                     * _second_moment(s_grid, dnds, p.s_lo_jy, p.s_hi_jy) for p in parts)
        d_max = 12.0 * math.sqrt(second + tail + max(noise_sigmas) ** 2)
    step = 2.0 * d_max / n
    r = response_histogram(s_grid, above, parts, pixel_sr, step, n)
    omega = 2.0 * np.pi * np.fft.fftfreq(n, d=step)
    x = np.fft.fftfreq(n, d=1.0 / (n * step))              # the response of each bin, negative ones wrapped
    mean = float(np.sum(r * x))
    sources = n * np.fft.ifft(r) - r.sum() - 1j * omega * mean - 0.5 * tail * omega ** 2
    d = np.fft.fftfreq(n, d=1.0 / (n * step))
    order = np.argsort(d)
    densities = []
    for sigma in noise_sigmas:
        p = np.real(np.fft.fft(np.exp(sources - 0.5 * sigma ** 2 * omega ** 2))) / n / step
        densities.append(np.clip(p[order], 0.0, None))
    return d[order], densities


def mean_response(dnds, s_min: float, s_max: float, beam, pixel_sr: float) -> float:
    """<D> (Jy/beam): the sum over the beam of b Omega_pixel times the integral of S n(S) dS (Campbell)."""
    s = np.geomspace(s_min, s_max, 4096)
    flux_per_sr = float(np.trapz(np.asarray(dnds(s), dtype=float) * s * s, np.log(s)))
    return pixel_sr * float(np.asarray(beam, dtype=float).sum()) * flux_per_sr


def _second_moment(s_grid, dnds, lo: float = 0.0, hi: float = math.inf) -> float:
    """Integral of S^2 n(S) dS over the grid's fluxes in [lo, hi) (Jy^2 sr^-1)."""
    s = s_grid[(s_grid >= lo) & (s_grid < hi)]
    if s.size < 2:
        return 0.0
    f = np.asarray(dnds(s), dtype=float) * s ** 3
    return float(np.trapz(f, np.log(s)))


def log_cf(dnds, s_min, s_max, beam, pixel_sr, omega) -> np.ndarray:
    """ln phi(omega) of the confusion part (no noise) by direct integration over S for every beam pixel, the
    responses not binned (exact to the integration grid): the reference :func:`pofd` is checked against."""
    s_grid, above = cumulative_counts(dnds, s_min, s_max)
    b = np.asarray(beam, dtype=float).ravel()
    b = b[b != 0.0]
    omega = np.atleast_1d(np.asarray(omega, dtype=float))
    # integrate over ln S for each beam pixel: sum_p Omega_p int n(S) S (exp(i w S b_p) - 1) d ln S
    f = np.asarray(dnds(s_grid), dtype=float) * s_grid
    w = np.gradient(np.log(s_grid))
    out = np.zeros(omega.size, dtype=complex)
    for chunk in np.array_split(b, max(1, b.size // 256)):
        phase = np.exp(1j * omega[:, None, None] * chunk[None, :, None] * s_grid[None, None, :]) - 1.0
        out += pixel_sr * (phase * (f * w)[None, None, :]).sum(axis=(1, 2))
    return out


def powerlaw_log_cf(k: float, gamma: float, omega_e: float, omega) -> np.ndarray:
    """Closed-form ln phi(omega) for n(S) = k S^-gamma (1 < gamma < 2) from 0 to infinity and a beam whose
    integral of b^(gamma-1) is ``omega_e`` (sr)."""
    omega = np.asarray(omega, dtype=float)
    return omega_e * k * math.gamma(1.0 - gamma) * (-1j * omega) ** (gamma - 1.0)


# --------------------------------------------------------------------------------------------------------------
# fitting counts to an image's pixel distribution

@dataclass
class PofdFit:
    params: dict
    log_likelihood: float
    n_pixels: int
    success: bool
    message: str


def data_histogram(values, d_max: float, n: int, centre: float | None = None) -> np.ndarray:
    """Counts of ``values`` minus ``centre`` (default: their median) at the nearest points of :func:`pofd`'s
    grid (``n`` points, step 2 d_max / n, from -d_max), values beyond the grid counted at its ends."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    step = 2.0 * d_max / n
    centre = float(np.median(v)) if centre is None else centre
    index = np.clip(np.rint((v - centre) / step).astype(np.int64) + n // 2, 0, n - 1)
    return np.bincount(index, minlength=n).astype(float)


def median_aligned(d: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The density ``p`` on the grid ``d`` shifted so that its median is at D = 0."""
    cdf = np.cumsum(p)
    median = float(np.interp(0.5 * cdf[-1], cdf, d))
    return np.interp(d + median, d, p, left=0.0, right=0.0)


def fit(values, dnds_of, initial: dict, beam, pixel_sr: float | None, noise_sigma: float, s_min: float,
        s_max: float, bounds: dict | None = None, n: int = 2 ** 13, d_max: float | None = None,
        quantiles: tuple[float, float] | None = None, steps: dict | None = None,
        starts: list[dict] | None = None, noise_scales=None) -> PofdFit:
    """Fit the parameters of a count model to pixel values (an image's pixels, Jy/beam) by maximising the P(D)
    likelihood of their values, pixels taken as independent (which leaves the estimate unbiased; correlated
    pixels only make its likelihood surface too narrow). ``dnds_of(params)`` returns a dN/dS function of S;
    ``initial`` and ``bounds`` (name -> (low, high)) give the parameters to vary. A parameter named
    ``noise_sigma`` is the Gaussian noise (Jy/beam), fitted instead of ``noise_sigma``.

    Data and model are compared about their medians: an image's mean depends on its few brightest sources (and
    an interferometer does not measure it), its median hardly. ``quantiles`` (low, high): fit only the pixels
    between these quantiles of the data, with the likelihood truncated to the same range, so that pixels the
    model cannot describe (CLEAN's artefacts around bright sources, resolved sources) cannot pull the fit; the
    grid then spans 1.5 x that range (``d_max``), fine enough for the faintest responses, and responses beyond it
    (pixels far outside the fitted range anyway) are left out of the model.

    The simplex search (Nelder-Mead) starts from the best of ``initial`` and ``starts`` (other starting points,
    for likelihoods with flat directions, such as S0 when alpha = 0), with initial steps ``steps`` (name ->
    step; default 5% of the value).

    ``noise_scales``: ``values`` is then a list of pixel groups, group g with Gaussian noise noise_scales[g] x
    the noise (a mosaic's pixels grouped by their noise-map level); the likelihood is the sum over the groups,
    each about its own median, with one model of the sources."""
    from scipy.optimize import minimize
    names = list(initial)
    bounds = bounds or {}
    groups = list(values) if noise_scales is not None else [values]
    scales = list(noise_scales) if noise_scales is not None else [1.0]
    xs = []
    for g in groups:
        v = np.asarray(g, dtype=float).ravel()
        v = v[np.isfinite(v)]
        xs.append(v - np.median(v))
    pooled = np.concatenate(xs)
    if quantiles is not None:
        lo, hi = np.quantile(pooled, quantiles)
    if d_max is None:
        d_max = 1.5 * max(abs(lo), abs(hi)) if quantiles is not None else 1.2 * float(np.max(np.abs(pooled)))
    counts = [data_histogram(x, d_max, n, centre=0.0) for x in xs]      # each x is already median-subtracted
    step = 2.0 * d_max / n
    window = np.ones(n, bool)
    if quantiles is not None:
        k = np.arange(n) - n // 2
        window = (k >= np.floor(lo / step)) & (k <= np.ceil(hi / step))
    used = [(c > 0) & window for c in counts]

    def negative(point):
        params = dict(zip(names, point))
        for name, (low, high) in bounds.items():
            if not low <= params[name] <= high:
                return 1e300
        sigma = params.pop("noise_sigma", noise_sigma)
        d, ps = pofd_noises(dnds_of(params), s_min, s_max, beam, pixel_sr, [sigma * f for f in scales],
                            d_max=d_max, n=n)
        total = 0.0
        for p, c, u in zip(ps, counts, used):
            p = median_aligned(d, p)
            inside = max(float(p[window].sum()) * step, 1e-300)
            total -= float(np.sum(c[u] * np.log(np.maximum(p[u], 1e-300) / inside)))
        return total

    candidates = [initial] + [{**initial, **s} for s in (starts or [])]
    x0 = min((np.array([c[k] for k in names], dtype=float) for c in candidates), key=negative)
    simplex = [x0]
    for i, name in enumerate(names):
        vertex = x0.copy()
        vertex[i] += (steps or {}).get(name, 0.05 * x0[i] if x0[i] != 0 else 0.00025)
        simplex.append(vertex)
    res = minimize(negative, x0, method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-3, "maxiter": 600, "initial_simplex": np.array(simplex)})
    return PofdFit(dict(zip(names, map(float, res.x))), -float(res.fun),
                   int(sum(c[u].sum() for c, u in zip(counts, used))), bool(res.success),
                   str(res.message))
