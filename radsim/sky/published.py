"""Published source counts used to calibrate and check the built-in model: Hopkins et al. 2003 (AJ 125, 465),
Matthews et al. 2021 (ApJ 909, 193) and the T-RECS "medium" catalogue (Bonaldi et al. 2019, MNRAS 482, 2).

All counts are Euclidean-normalised, S^2.5 dN/dS in Jy^1.5 sr^-1, S in Jy at 1.4 GHz.
"""
from __future__ import annotations

import numpy as np

HOPKINS2003_COEFFS = (0.859, 0.508, 0.376, -0.049, -0.121, 0.057, -0.008)
HOPKINS2003_RANGE_JY = (5e-5, 1.0)
MATTHEWS2021_SLOPE = -1.5             # dN/dS ~ S^-1.5 below 10 uJy
MATTHEWS2021_RANGE_JY = (2.5e-7, 1e-5)
TRECS_MEDIUM_PER_DEG2 = (1_461_510 + 28_263_241) / 25.0   # above 10 nJy at 1.4 GHz
TRECS_MEDIUM_AGN_FRACTION = 1_461_510 / (1_461_510 + 28_263_241)
TRECS_MEDIUM_FLUX_MIN_JY = 1e-8


def hopkins2003_euclidean(s_jy) -> np.ndarray:
    """Hopkins et al. 2003 (AJ 125, 465) polynomial fit: log10(S^2.5 dN/dS) = sum_i a_i x^i, x = log10(S/mJy)."""
    x = np.log10(np.asarray(s_jy, dtype=float) * 1e3)
    return 10.0 ** sum(a * x ** i for i, a in enumerate(HOPKINS2003_COEFFS))
