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

Units: fluxes S in Jy, pixel values D in Jy/beam, solid angles in sr, counts per sr.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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


def response_histogram(s_grid, above, beam, pixel_sr: float, step: float, n: int) -> np.ndarray:
    """Mean number of sources per image pixel whose response falls in each bin of the periodic D grid
    ``k * step`` (k = 0..n-1, negative k wrapped to the top), bins centred on the grid points; ``beam`` holds the
    beam's values on pixels of ``pixel_sr`` each (positive and negative side lobes)."""
    b = np.asarray(beam, dtype=float).ravel()
    b = b[b != 0.0]
    r = np.zeros(n)
    half = n // 2
    k = np.arange(1, half)
    lower = (k - 0.5) * step
    upper = (k + 0.5) * step
    for sign in (1.0, -1.0):
        bs = np.abs(b[sign * b > 0])
        if bs.size == 0:
            continue
        # sources of one beam pixel with response in [lower, upper): S in [lower / b, upper / b)
        counts = pixel_sr * (_n_above(s_grid, above, lower[None, :] / bs[:, None])
                             - _n_above(s_grid, above, upper[None, :] / bs[:, None])).sum(axis=0)
        if sign > 0:
            r[k] += counts
        else:
            r[n - k] += counts
    return r


def pofd(dnds, s_min: float, s_max: float, beam, pixel_sr: float, noise_sigma: float = 0.0,
         d_max: float | None = None, n: int = 2 ** 14) -> tuple[np.ndarray, np.ndarray]:
    """(D values, probability density P(D)) of mean-subtracted pixel values D - <D> in Jy/beam on ``n`` points
    from -d_max to d_max (default: 12 sigma of noise and confusion), for counts ``dnds`` between s_min and
    s_max, a beam map (values on pixels of ``pixel_sr``) and Gaussian noise ``noise_sigma``. The mean is taken
    out because an interferometric image does not measure it (and so that the grid need only span the
    fluctuations); :func:`mean_response` gives it."""
    s_grid, above = cumulative_counts(dnds, s_min, s_max)
    if d_max is None:
        b = np.asarray(beam, dtype=float).ravel()
        second = pixel_sr * float((b ** 2).sum()) * _second_moment(s_grid, dnds)
        d_max = 12.0 * math.sqrt(second + noise_sigma ** 2)
    step = 2.0 * d_max / n
    r = response_histogram(s_grid, above, beam, pixel_sr, step, n)
    omega = 2.0 * np.pi * np.fft.fftfreq(n, d=step)
    x = np.fft.fftfreq(n, d=1.0 / (n * step))              # the response of each bin, negative ones wrapped
    mean = float(np.sum(r * x))
    log_cf = n * np.fft.ifft(r) - r.sum() - 1j * omega * mean - 0.5 * (noise_sigma * omega) ** 2
    p = np.real(np.fft.fft(np.exp(log_cf))) / n / step
    d = np.fft.fftfreq(n, d=1.0 / (n * step))
    order = np.argsort(d)
    return d[order], np.clip(p[order], 0.0, None)


def mean_response(dnds, s_min: float, s_max: float, beam, pixel_sr: float) -> float:
    """<D> (Jy/beam): the sum over the beam of b Omega_pixel times the integral of S n(S) dS (Campbell)."""
    s = np.geomspace(s_min, s_max, 4096)
    flux_per_sr = float(np.trapz(np.asarray(dnds(s), dtype=float) * s * s, np.log(s)))
    return pixel_sr * float(np.asarray(beam, dtype=float).sum()) * flux_per_sr


def _second_moment(s_grid, dnds) -> float:
    """Integral of S^2 n(S) dS over the grid (Jy^2 sr^-1)."""
    f = np.asarray(dnds(s_grid), dtype=float) * s_grid ** 3
    return float(np.trapz(f, np.log(s_grid)))


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


def histogram_log_likelihood(values: np.ndarray, d: np.ndarray, p: np.ndarray) -> float:
    """Log-likelihood of independent pixel values, mean-subtracted, under the zero-mean density p on the grid
    d, with the density floored at 1e-300."""
    v = np.asarray(values, dtype=float)
    v = v - v.mean()
    density = np.interp(v, d, p, left=0.0, right=0.0)
    return float(np.log(np.maximum(density, 1e-300)).sum())


def fit(values, dnds_of, initial: dict, beam, pixel_sr: float, noise_sigma: float, s_min: float, s_max: float,
        bounds: dict | None = None, n: int = 2 ** 13, d_max: float | None = None) -> PofdFit:
    """Fit the parameters of a count model to pixel values (an image's pixels, Jy/beam) by maximising the P(D)
    likelihood of their mean-subtracted values. ``dnds_of(params)`` returns a dN/dS function of S;
    ``initial`` and ``bounds`` (name -> (low, high)) give the parameters to vary."""
    from scipy.optimize import minimize
    names = list(initial)
    bounds = bounds or {}
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if d_max is None:
        d_max = 1.2 * float(np.max(np.abs(v - v.mean())))

    def negative(x):
        params = dict(zip(names, x))
        for name, (lo, hi) in bounds.items():
            if not lo <= params[name] <= hi:
                return 1e300
        d, p = pofd(dnds_of(params), s_min, s_max, beam, pixel_sr, noise_sigma, d_max=d_max, n=n)
        return -histogram_log_likelihood(v, d, p)

    x0 = np.array([initial[k] for k in names], dtype=float)
    res = minimize(negative, x0, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-3, "maxiter": 400})
    return PofdFit(dict(zip(names, map(float, res.x))), -float(res.fun), int(v.size), bool(res.success),
                   str(res.message))
