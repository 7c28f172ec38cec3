#!/usr/bin/env python
"""Fit the built-in two-population counts model (radsim.sky.counts) to the published figures.

Minimises the worst deviation, each in units of its tolerance in tests/test_counts.py:
  * the Hopkins et al. 2003 fit at 1.4 GHz, 50 uJy - 1 Jy (tolerance 25%);
  * the mean dN/dS slope between 0.25 and 10 uJy, -1.5 (Matthews et al. 2021; tolerance 0.2);
  * sources above 10 nJy, 1.19e6 per deg^2 (T-RECS medium; 25%), 4.9% of them AGN (1 percentage point);
  * S^2.5 n = 150 Jy^1.5 sr^-1 at 10 Jy (counts keep falling past the ~1 Jy peak; 0.3 dex);
  * SFG at most 5% of the counts at 10 mJy (0.3 dex).
Prints the parameters to paste into radsim/sky/counts.py:BUILTIN_PARAMETERS and the figures reached.
Run: .venv/bin/python scripts/calibrate_counts.py   (about a minute)
"""
import numpy as np
from scipy.optimize import minimize

from radsim.sky import counts
from radsim.sky import published

S_HOPKINS = np.geomspace(*published.HOPKINS2003_RANGE_JY, 40)


def unpack(p):
    return ((10 ** p[0], 10 ** p[1], p[2], p[3], 10 ** p[4]),
            (10 ** p[5], 10 ** p[6], p[7], p[8], 10 ** p[9]))


def number_per_deg2(pars, smin=1e-8, smax=10.0):
    ln = np.linspace(np.log(smin), np.log(smax), 20001)
    s = np.exp(ln)
    return np.trapz(counts.broken_power_law(s, *pars) * s, ln) * counts.SR_PER_DEG2


def terms(p):
    sfg, agn = unpack(p)
    total = lambda s: counts.broken_power_law(s, *sfg) + counts.broken_power_law(s, *agn)
    hop = np.max(np.abs(counts.euclidean(S_HOPKINS, total(S_HOPKINS))
                        / published.hopkins2003_euclidean(S_HOPKINS) - 1)) / 0.25
    lo, hi = published.MATTHEWS2021_RANGE_JY
    slope = np.log(total(hi) / total(lo)) / np.log(hi / lo)
    n_sfg, n_agn = number_per_deg2(sfg), number_per_deg2(agn)
    return np.array([
        hop,
        abs(slope - published.MATTHEWS2021_SLOPE) / 0.2,
        abs((n_sfg + n_agn) / published.TRECS_MEDIUM_PER_DEG2 - 1) / 0.25,
        abs(n_agn / (n_sfg + n_agn) - published.TRECS_MEDIUM_AGN_FRACTION) / 0.01,
        abs(np.log10(counts.euclidean(10.0, total(10.0)) / 150.0)) / 0.3,
        max(0.0, np.log10(counts.broken_power_law(1e-2, *sfg) / total(1e-2) / 0.05)) / 0.3,
    ]), slope, n_sfg + n_agn, n_agn / (n_sfg + n_agn)


def objective(p):
    t = terms(p)[0]
    return t.max() + 0.01 * t.sum()


def main():
    s, a = counts.BUILTIN_PARAMETERS["SFG"], counts.BUILTIN_PARAMETERS["AGN"]
    p = np.array([np.log10(s[0]), np.log10(s[1]), s[2], s[3], np.log10(s[4]),
                  np.log10(a[0]), np.log10(a[1]), a[2], a[3], np.log10(a[4])])
    for _ in range(3):
        p = minimize(objective, p, method="Nelder-Mead",
                     options=dict(maxiter=6000, xatol=1e-7, fatol=1e-8, adaptive=True)).x
    t, slope, n, f_agn = terms(p)
    sfg, agn = unpack(p)
    print("BUILTIN_PARAMETERS = {")
    print(f'    "SFG": {tuple(float(v) for v in sfg)},')
    print(f'    "AGN": {tuple(float(v) for v in agn)},')
    print("}")
    print("deviations in units of tolerance:", np.round(t, 3))
    print(f"slope 0.25-10 uJy {slope:.3f}; sources above 10 nJy {n:.4g} per deg^2; AGN fraction {f_agn:.4f}")


if __name__ == "__main__":
    main()
