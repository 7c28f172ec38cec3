"""Differential source counts dN/dS: base models, modifiers and their integrals.

Units: flux densities S in Jy at a stated frequency, dN/dS in Jy^-1 sr^-1.

Populations and classes
-----------------------
Two populations, star-forming galaxies (SFG) and active galactic nuclei (AGN). AGN are split into two
morphological classes with their own spectral index, so that counts can be carried between frequencies
and rendered: flat-spectrum (FSRQ / BL Lac, compact) and steep-spectrum (two lobes). Class codes follow
``CLASSES``: 0 SFG, 1 flat-spectrum AGN, 2 steep-spectrum AGN.

The built-in base model
-----------------------
Each population's counts at 1.4 GHz are a smoothly broken power law

    n(S) = K x^-a (1 + x^((b - a)/d))^-d,   x = S / S_b,

faint slope ``a``, bright slope ``b``, break ``S_b`` and transition width ``d`` (in dex-like units). The ten
parameters were fitted (``scripts/calibrate_counts.py``, a minimax fit in units of each tolerance) to
these published figures:

* Hopkins et al. 2003 (AJ 125, 465) polynomial fit of the 1.4 GHz Euclidean counts, 50 uJy - 1 Jy: the
  model is within 16% everywhere in that range;
* Matthews et al. 2021 (MeerKAT DEEP2 + P(D)): dN/dS ~ S^-1.5 below 10 uJy; the model's mean slope between
  0.25 and 10 uJy is -1.63;
* T-RECS "medium" (Bonaldi et al. 2019, MNRAS 482, 2): 1.19e6 sources per deg^2 above 10 nJy, 4.9% AGN;
  the model gives 0.998e6 per deg^2 and 4.9%;
* the bright end keeps falling beyond the Euclidean peak near 1 Jy (S^2.5 n = 150 Jy^1.5 sr^-1 at 10 Jy).

These targets pull against each other (the Hopkins fit falls steeply at its faint end while T-RECS has many
faint sources), and the fit spends about two thirds of each tolerance; the tests in tests/test_counts.py check
every figure. The model is meant to be valid from 1e-9 to 10 Jy. A fixed 15% of AGN at 1.4 GHz are
flat-spectrum. Counts are carried to another frequency with each class's mean spectral index
(S_nu = S_1.4 (nu / 1.4 GHz)^alpha): SFG -0.7, flat AGN -0.1, steep AGN -0.75 (the faint population's
index is about -0.7, e.g. Condon 1992, ARA&A 30, 575).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from radsim.errors import RadsimError

CLASSES = ("sfg", "agn_flat", "agn_steep")
POPULATION_OF_CLASS = ("SFG", "AGN", "AGN")
SPECTRAL_INDEX = np.array([-0.7, -0.1, -0.75])      # mean S ~ nu^alpha per class
SPECTRAL_INDEX_SCATTER = np.array([0.15, 0.2, 0.15])  # Gaussian scatter of the per-source index
AGN_FLAT_FRACTION = 0.15
REFERENCE_FREQUENCY_HZ = 1.4e9
VALID_RANGE_JY = (1e-9, 10.0)
SR_PER_DEG2 = (math.pi / 180.0) ** 2

# (K [Jy^-1 sr^-1], S_b [Jy], a, b, d), fitted as described in the module docstring.
BUILTIN_PARAMETERS = {
    "SFG": (3.625511970488238e10, 1.8467667824602363e-04, 1.5702440459250073, 3.62981976880081, 2.6121732407703484),
    "AGN": (1.9162427332246683e04, 3.86997434487668e-01, 1.5359207908121533, 3.216551859696745, 2.0858478950513084),
}


class CountsError(RadsimError, ValueError):
    """A counts table that cannot be used; the message names the file."""


def broken_power_law(s_jy, k, s_break_jy, a, b, d):
    """Smoothly broken power law K x^-a (1 + x^((b-a)/d))^-d with x = S/S_b (Jy^-1 sr^-1)."""
    x = np.asarray(s_jy, dtype=float) / s_break_jy
    return k * x ** (-a) * (1.0 + x ** ((b - a) / d)) ** (-d)


def builtin_dnds_1400(s_jy) -> np.ndarray:
    """Built-in counts at 1.4 GHz per class, shape (3, len(S)) (Jy^-1 sr^-1)."""
    s = np.atleast_1d(np.asarray(s_jy, dtype=float))
    sfg = broken_power_law(s, *BUILTIN_PARAMETERS["SFG"])
    agn = broken_power_law(s, *BUILTIN_PARAMETERS["AGN"])
    return np.stack([sfg, AGN_FLAT_FRACTION * agn, (1 - AGN_FLAT_FRACTION) * agn])


# --------------------------------------------------------------------------------------------------------------
# base models: per-class dN/dS at their native frequency, carried to another frequency

@dataclass(frozen=True)
class BaseModel:
    """Per-class dN/dS known at ``frequency_hz`` through ``dnds_native`` (S in Jy -> array (3, n))."""

    name: str
    frequency_hz: float
    dnds_native: Callable[[np.ndarray], np.ndarray]
    valid_range_jy: tuple[float, float]

    def dnds(self, s_jy, frequency_hz: float) -> np.ndarray:
        """Per-class dN/dS at ``frequency_hz`` (Jy^-1 sr^-1), shape (3, len(S)).

        A source of flux S_0 at the native frequency has S = r S_0 at the new one, r = (nu/nu_0)^alpha, so
        n_nu(S) = n_0(S / r) / r for each class.
        """
        s = np.atleast_1d(np.asarray(s_jy, dtype=float))
        ratio = (frequency_hz / self.frequency_hz) ** SPECTRAL_INDEX
        out = np.empty((len(CLASSES), s.size))
        for c, r in enumerate(ratio):
            out[c] = self.dnds_native(s / r)[c] / r
        return out

    def valid_range_at(self, frequency_hz: float) -> tuple[float, float]:
        """Flux range (Jy at ``frequency_hz``) in which every class is defined."""
        ratio = (frequency_hz / self.frequency_hz) ** SPECTRAL_INDEX
        return self.valid_range_jy[0] * ratio.max(), self.valid_range_jy[1] * ratio.min()


BUILTIN = BaseModel("builtin", REFERENCE_FREQUENCY_HZ, builtin_dnds_1400, VALID_RANGE_JY)


def tabulated_model(flux_jy, dnds_per_class, frequency_hz: float, name: str = "table") -> BaseModel:
    """A base model interpolated (linearly in log S - log n) in a table of per-class dN/dS (Jy^-1 sr^-1).

    Zero entries (no sources of that class in a flux bin) stay zero; outside the table the counts are zero and
    ``valid_range_jy`` says where the table holds."""
    flux = np.asarray(flux_jy, dtype=float)
    table = np.asarray(dnds_per_class, dtype=float)
    if table.shape != (len(CLASSES), flux.size) or flux.size < 2 or np.any(np.diff(flux) <= 0):
        raise CountsError("a counts table needs increasing fluxes and one dN/dS row per class "
                         f"({', '.join(CLASSES)})")
    logs = np.log(flux)
    tiny = 1e-300
    logn = np.log(np.maximum(table, tiny))

    def dnds(s):
        ls = np.log(np.asarray(s, dtype=float))
        out = np.exp(np.stack([np.interp(ls, logs, row, left=np.log(tiny), right=np.log(tiny)) for row in logn]))
        out[out < 1e-290] = 0.0
        return out

    return BaseModel(name, frequency_hz, dnds, (float(flux[0]), float(flux[-1])))


def read_table(path) -> BaseModel:
    """Read a counts table written by :func:`write_table` (ECSV)."""
    from astropy.table import Table
    t = Table.read(path, format="ascii.ecsv")
    missing = [c for c in ("flux_jy", *(f"dnds_{c}" for c in CLASSES)) if c not in t.colnames]
    if missing:
        raise CountsError(f"{path}: not a radsim counts table (missing columns {missing})")
    return tabulated_model(t["flux_jy"], [t[f"dnds_{c}"] for c in CLASSES], float(t.meta["frequency_hz"]),
                           name=str(path))


def write_table(path, flux_jy, dnds_per_class, frequency_hz: float, meta: dict | None = None) -> None:
    """Write a per-class counts table as ECSV (columns flux_jy, dnds_<class> in Jy^-1 sr^-1)."""
    from astropy.table import Table
    t = Table({"flux_jy": np.asarray(flux_jy)})
    for c, row in zip(CLASSES, dnds_per_class):
        t[f"dnds_{c}"] = np.asarray(row)
    t.meta.update(meta or {})
    t.meta["frequency_hz"] = float(frequency_hz)
    t.meta["units"] = "flux_jy in Jy; dnds_* in Jy^-1 sr^-1"
    t.write(path, format="ascii.ecsv", overwrite=True)


def load_base(spec: str) -> BaseModel:
    """``"builtin"`` or the path of a counts table."""
    return BUILTIN if spec == "builtin" else read_table(spec)


# --------------------------------------------------------------------------------------------------------------
# modifiers: dimensionless multipliers m(S) of the base counts, S in Jy at the observing frequency

REQUIRED = object()


@dataclass(frozen=True)
class Modifier:
    function: Callable[..., np.ndarray]
    params: dict          # name -> default (REQUIRED when none)
    doc: str
    random: tuple = ()    # parameters drawn per realisation when not given


def _seed_law(s, s0_jy, alpha):
    return (1.0 + s0_jy / s) ** alpha


def _suppression(s, amplitude, s1_jy, power, exponent):
    return (1.0 + amplitude * (s1_jy / s) ** power) ** exponent


def _two_power(s, a1, s1_jy, p1, a2, s2_jy, p2):
    return np.maximum(1.0 - a1 * (s1_jy / s) ** p1 + a2 * (s2_jy / s) ** p2, 0.0)


def _tanh(s, s1_jy, power):
    return 1.0 + np.tanh(s1_jy / s) ** power


def envelope_knots_log10_jy(knots_per_decade: int) -> np.ndarray:
    lo, hi = (math.log10(v) for v in VALID_RANGE_JY)
    return np.linspace(lo, hi, int(round((hi - lo) * knots_per_decade)) + 1)


def _random_envelope(s, s0_jy, alpha_low, alpha_high, knots_per_decade, knots):
    a = _seed_law(s, s0_jy, alpha_low)
    b = _seed_law(s, s0_jy, alpha_high)
    x = envelope_knots_log10_jy(knots_per_decade)
    knots = np.asarray(knots, dtype=float)
    if knots.size != x.size:
        raise ValueError(f"random_envelope: expected {x.size} knots for knots_per_decade={knots_per_decade}, "
                         f"got {knots.size}")
    u = np.interp(np.log10(s), x, knots)
    return np.minimum(a, b) + u * np.abs(b - a)


def _bump(s, amplitude, centre_jy, width_dex):
    return 1.0 + amplitude * np.exp(-0.5 * ((np.log10(s) - math.log10(centre_jy)) / width_dex) ** 2)


def _per_bin(s, factors, edges_jy):
    edges = np.asarray(edges_jy, dtype=float)
    factors = np.asarray(factors, dtype=float)
    if factors.size != edges.size - 1:
        raise ValueError(f"per_bin: {factors.size} factors for {edges.size - 1} bins")
    i = np.searchsorted(edges, s, side="right") - 1
    inside = (i >= 0) & (i < factors.size)
    return np.where(inside, factors[np.clip(i, 0, factors.size - 1)], 1.0)


MODIFIERS: dict[str, Modifier] = {
    "none": Modifier(lambda s: np.ones_like(s), {}, "m(S) = 1: the base counts."),
    "seed": Modifier(_seed_law, {"s0_jy": REQUIRED, "alpha": REQUIRED},
                     "The seed study's law m(S) = (1 + S0/S)^alpha."),
    "suppression": Modifier(_suppression, {"amplitude": 0.1, "s1_jy": 5e-5, "power": 3.0, "exponent": -0.4},
                            "m(S) = (1 + A (S1/S)^p)^q; defaults are the seed's (1 + 0.1 (5e-5/S)^3)^-0.4."),
    "two_power": Modifier(_two_power, {"a1": 0.2, "s1_jy": 7e-5, "p1": 0.71, "a2": 8.0, "s2_jy": 1e-6, "p2": 1.75},
                          "m(S) = 1 - a1 (s1/S)^p1 + a2 (s2/S)^p2 (floored at 0); defaults are the seed's."),
    "tanh": Modifier(_tanh, {"s1_jy": 1e-5, "power": 4.0}, "m(S) = 1 + tanh(S1/S)^p; defaults are the seed's."),
    "random_envelope": Modifier(
        _random_envelope,
        {"s0_jy": 5e-5, "alpha_low": -0.5, "alpha_high": 0.29, "knots_per_decade": 4, "knots": REQUIRED},
        "A random curve between the seed laws with alpha_low and alpha_high: at knots log-spaced over "
        "1e-9..10 Jy a uniform fraction of the way between the two curves is drawn per realisation, "
        "interpolated linearly in log S.", random=("knots",)),
    "bump": Modifier(_bump, {"amplitude": REQUIRED, "centre_jy": REQUIRED, "width_dex": REQUIRED},
                     "A new population: m(S) = 1 + A exp(-(log10 S - log10 Sc)^2 / (2 w^2))."),
    "per_bin": Modifier(_per_bin, {"factors": REQUIRED, "edges_jy": REQUIRED},
                        "Free multipliers per flux bin (edges default to the label bins), 1 outside."),
}


def check_modifier_params(name: str, params: dict, complete: bool) -> None:
    """Raise ValueError for an unknown or (when ``complete``) missing parameter of modifier ``name``."""
    spec = MODIFIERS[name].params
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ValueError(f"modifier {name!r} has no parameter(s) {unknown}; it takes {sorted(spec) or 'none'}")
    if complete:
        random = MODIFIERS[name].random
        missing = [k for k, v in spec.items() if v is REQUIRED and k not in params and k not in random]
        if missing:
            raise ValueError(f"modifier {name!r} needs parameter(s) {missing}")
    if name == "per_bin" and "factors" in params and "edges_jy" in params:
        if len(params["factors"]) != len(params["edges_jy"]) - 1:
            raise ValueError(f"modifier 'per_bin' has {len(params['factors'])} factors for "
                             f"{len(params['edges_jy']) - 1} bins (edges_jy, default the label bins)")
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ValueError(f"modifier {name!r} parameter {key!r} = {value!r}: expected a number or list of numbers")
        if key.endswith("_jy") and any(v <= 0 for v in values):
            raise ValueError(f"modifier {name!r} parameter {key!r} = {value!r}: expected a positive flux (Jy)")


def resolve_modifier(name: str, params: dict, rng: np.random.Generator | None = None) -> dict:
    """All parameters of modifier ``name``: defaults filled in, per-realisation random ones drawn from ``rng``."""
    spec = MODIFIERS[name]
    out = {k: v for k, v in spec.params.items() if v is not REQUIRED}
    out.update(params)
    if name == "random_envelope" and "knots" not in out:
        if rng is None:
            raise ValueError("random_envelope needs a random generator to draw its knots")
        out["knots"] = rng.random(envelope_knots_log10_jy(out["knots_per_decade"]).size).tolist()
    check_modifier_params(name, out, complete=True)
    return out


def modifier_function(name: str, params: dict) -> Callable[[np.ndarray], np.ndarray]:
    """m(S) for fully resolved parameters."""
    fn = MODIFIERS[name].function
    return lambda s: fn(np.asarray(s, dtype=float), **params)


def modifier_breakpoints(name: str, params: dict) -> list[float]:
    """Fluxes (Jy) where m(S) has a kink or a step; integration grids include them."""
    if name == "per_bin":
        return [float(e) for e in params["edges_jy"]]
    if name == "random_envelope":
        return list(10.0 ** envelope_knots_log10_jy(params["knots_per_decade"]))
    return []


# --------------------------------------------------------------------------------------------------------------
# the model used by a realisation

_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


@dataclass(frozen=True)
class CountsModel:
    """Per-class dN/dS at ``frequency_hz``: base model times modifier (Jy^-1 sr^-1)."""

    base: BaseModel
    frequency_hz: float
    modifier_name: str = "none"
    modifier_params: dict = field(default_factory=dict)

    @property
    def modifier(self):
        return modifier_function(self.modifier_name, self.modifier_params)

    def dnds(self, s_jy) -> np.ndarray:
        """Per-class dN/dS, shape (3, len(S))."""
        s = np.atleast_1d(np.asarray(s_jy, dtype=float))
        return self.base.dnds(s, self.frequency_hz) * self.modifier(s)[None, :]

    def dnds_total(self, s_jy) -> np.ndarray:
        return self.dnds(s_jy).sum(axis=0)

    def base_dnds(self, s_jy) -> np.ndarray:
        return self.base.dnds(np.atleast_1d(np.asarray(s_jy, dtype=float)), self.frequency_hz)

    def breakpoints(self) -> list[float]:
        return modifier_breakpoints(self.modifier_name, self.modifier_params)

    def integrate(self, edges_jy, per_decade: int = 20) -> np.ndarray:
        """Number of sources per sr in each interval of ``edges_jy``, per class: shape (3, len(edges)-1).

        Gauss-Legendre (16 nodes) in ln S on sub-intervals of at most 1/per_decade dex, split at the
        modifier's breakpoints: exact to ~1e-12 for these smooth pieces."""
        edges = np.asarray(edges_jy, dtype=float)
        out = np.zeros((len(CLASSES), edges.size - 1))
        bp = np.asarray(self.breakpoints(), dtype=float)
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
            inner = bp[(bp > lo) & (bp < hi)]
            knots = np.log(np.concatenate([[lo], inner, [hi]]))
            pieces = []
            for a, b in zip(knots[:-1], knots[1:]):
                n = max(1, int(math.ceil((b - a) / math.log(10) * per_decade)))
                pieces.append(np.linspace(a, b, n + 1))
            grid = np.concatenate([p[:-1] if j < len(pieces) - 1 else p for j, p in enumerate(pieces)])
            a, b = grid[:-1, None], grid[1:, None]
            x = (0.5 * (b - a) * _GL_X[None, :] + 0.5 * (a + b)).ravel()
            w = (0.5 * (b - a) * _GL_W[None, :]).ravel()
            s = np.exp(x)
            out[:, i] = (self.dnds(s) * s * w).sum(axis=1)
        return out

    def number_per_sr(self, s_min_jy: float, s_max_jy: float) -> np.ndarray:
        """Sources per sr between two fluxes, per class (3,)."""
        return self.integrate([s_min_jy, s_max_jy])[:, 0]

    def inverse_cdf_tables(self, s_min_jy: float, s_max_jy: float, n: int = 16385):
        """Per-class tables (cdf, ln S) for inverse-CDF sampling between two fluxes.

        The CDF is the cumulative trapezoid of S n(S) in ln S on a grid of ``n`` points plus the modifier's
        breakpoints, normalised to 1."""
        grid = np.log(np.geomspace(s_min_jy, s_max_jy, n))
        bp = [math.log(b) for b in self.breakpoints() if s_min_jy < b < s_max_jy]
        if bp:
            eps = 1e-9
            grid = np.unique(np.concatenate([grid, np.array(bp) - eps, np.array(bp) + eps]))
        s = np.exp(grid)
        dens = self.dnds(s) * s
        cum = np.concatenate([np.zeros((len(CLASSES), 1)),
                              np.cumsum(0.5 * (dens[:, 1:] + dens[:, :-1]) * np.diff(grid), axis=1)], axis=1)
        tables = []
        for c in range(len(CLASSES)):
            total = cum[c, -1]
            tables.append((cum[c] / total if total > 0 else None, grid))
        return tables


def euclidean(s_jy, dnds) -> np.ndarray:
    """Euclidean-normalised counts S^2.5 dN/dS (Jy^1.5 sr^-1)."""
    return np.asarray(s_jy) ** 2.5 * np.asarray(dnds)
