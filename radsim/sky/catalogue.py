"""Source catalogues of one field: drawn from a counts model, or read from a T-RECS catalogue.

A :class:`Catalogue` holds numpy columns, one row per source (a double-lobed AGN is one source):

=================  =======  =====================================================================
column             dtype    meaning
=================  =======  =====================================================================
l, m               float64  direction cosines about the field centre (l east, m north)
flux_jy            float64  total flux density at the observing frequency (Jy)
cls                int8     class: 0 SFG, 1 flat-spectrum AGN, 2 steep-spectrum AGN (radsim.sky.counts)
major_arcsec       float32  FWHM of the (each) Gaussian component's major axis; 0 for a point
minor_arcsec       float32  FWHM of its minor axis
pa_deg             float32  position angle of the major axis (or of the lobe axis), east of north
lobe_sep_arcsec    float32  separation of the two lobes of a steep-spectrum AGN; 0 otherwise
spectral_index     float32  per-source spectral index alpha (S ~ nu^alpha)
=================  =======  =====================================================================

Morphology of drawn sources (documented assumptions):

* SFG: elliptical Gaussians. Median FWHM from the Windhorst, Mathis & Neuschaefer (1990) size-flux relation
  theta_med = 2 arcsec (S_1.4GHz / 1 mJy)^0.3, log-normal scatter 0.2 dex; axis ratio of a randomly inclined
  disc of intrinsic thickness 0.2, q = sqrt(0.2^2 + (1 - 0.2^2) cos^2 i) with cos i uniform; uniform PA.
* Flat-spectrum AGN: points (compact cores).
* Steep-spectrum AGN: two circular Gaussian lobes of half the flux each, separated by
  5 arcsec (S_1.4GHz / 1 mJy)^0.3 (log-normal scatter 0.3 dex), lobe FWHM 0.3 of the separation, uniform PA.

Sampling is vectorised and chunked: sources are drawn in chunks of ``CHUNK`` rows, chunk k from its own
random stream, so that memory stays bounded for 1e8 sources and the result does not depend on who draws it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Iterator

import numpy as np

from radsim.errors import RadsimError
from radsim.sky.counts import CLASSES, SPECTRAL_INDEX, SPECTRAL_INDEX_SCATTER, SR_PER_DEG2

CHUNK = 1 << 20
U_TABLE = 1 << 16            # inverse-CDF table on a uniform grid of u (fast path)
U_TAIL = 1.0 - 1.0 / 1024    # u above this: exact interpolation in the fine CDF (bright tail)
SFG_SIZE_1MJY_ARCSEC, SFG_SIZE_SLOPE, SFG_SIZE_SCATTER_DEX, SFG_DISC_THICKNESS = 2.0, 0.3, 0.2, 0.2
AGN_SEP_1MJY_ARCSEC, AGN_SEP_SLOPE, AGN_SEP_SCATTER_DEX, AGN_LOBE_FRACTION = 5.0, 0.3, 0.3, 0.3

COLUMNS = {
    "l": np.float64, "m": np.float64, "flux_jy": np.float64, "cls": np.int8,
    "major_arcsec": np.float32, "minor_arcsec": np.float32, "pa_deg": np.float32,
    "lobe_sep_arcsec": np.float32, "spectral_index": np.float32,
}


@dataclass
class Catalogue:
    l: np.ndarray
    m: np.ndarray
    flux_jy: np.ndarray
    cls: np.ndarray
    major_arcsec: np.ndarray
    minor_arcsec: np.ndarray
    pa_deg: np.ndarray
    lobe_sep_arcsec: np.ndarray
    spectral_index: np.ndarray

    def __post_init__(self):
        for f in fields(self):
            setattr(self, f.name, np.asarray(getattr(self, f.name), dtype=COLUMNS[f.name]))
        n = {getattr(self, f.name).shape for f in fields(self)}
        if len(n) != 1 or len(next(iter(n))) != 1:
            raise ValueError(f"catalogue columns must be 1-d and of equal length, got shapes {n}")

    def __len__(self) -> int:
        return self.flux_jy.size

    def columns(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def select(self, mask) -> "Catalogue":
        return Catalogue(**{k: v[mask] for k, v in self.columns().items()})

    @classmethod
    def concatenate(cls, parts) -> "Catalogue":
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in COLUMNS})

    @classmethod
    def empty(cls) -> "Catalogue":
        return cls(**{k: np.zeros(0, dtype=t) for k, t in COLUMNS.items()})

    def counts_per_class(self) -> np.ndarray:
        return np.bincount(self.cls, minlength=len(CLASSES))


# --------------------------------------------------------------------------------------------------------------
# drawing from a counts model

@dataclass(frozen=True)
class SourcePlan:
    """How many sources of each class one realisation holds, and the tables to draw their fluxes."""

    n_per_class: np.ndarray      # (3,) int
    mean_per_class: np.ndarray   # (3,) expected numbers (model integral x solid angle)
    tables: list                 # per class (cdf, ln S grid, ln S at u = k / U_TABLE) or None
    frequency_hz: float
    solid_angle_sr: float

    @property
    def total(self) -> int:
        return int(self.n_per_class.sum())

    @property
    def n_chunks(self) -> int:
        return max(1, -(-self.total // CHUNK))


def plan_sources(model, grid, flux_min_jy: float, flux_max_jy: float, rng: np.random.Generator) -> SourcePlan:
    """Poisson numbers of sources per class over the field, from the model integral between the flux limits."""
    omega = grid.solid_angle_sr()
    mean = model.number_per_sr(flux_min_jy, flux_max_jy) * omega
    n = rng.poisson(mean).astype(np.int64)
    tables = []
    for cdf, lns in model.inverse_cdf_tables(flux_min_jy, flux_max_jy):
        tables.append(None if cdf is None else (cdf, lns, np.interp(np.linspace(0.0, 1.0, U_TABLE + 1), cdf, lns)))
    return SourcePlan(n, mean, tables, model.frequency_hz, omega)


def inverse_cdf_ln_flux(u, table) -> np.ndarray:
    """ln S for uniform deviates ``u``: linear interpolation in a table uniform in u, and in the fine CDF
    itself for the bright tail where ln S changes fast with u."""
    cdf, lns, uniform = table
    t = u * U_TABLE
    i = np.minimum(t.astype(np.int64), U_TABLE - 1)
    # below + (t - i) * (uniform[i + 1] - below), in place: a 1M-row chunk's temporaries cost more than the sums
    below = uniform[i]
    i += 1
    step = uniform[i]
    step -= below
    i -= 1
    out = t
    out -= i
    out *= step
    out += below
    tail = u > U_TAIL
    out[tail] = np.interp(u[tail], cdf, lns)
    return out


def uniform_positions(grid, n: int, rng: np.random.Generator):
    """(l, m) uniform per solid angle over the image footprint: uniform in (l, m) accepted with
    probability n_min / n(l, m), n = sqrt(1 - l^2 - m^2) (dOmega = dl dm / n)."""
    l0, l1, m0, m1 = grid.lm_bounds()
    n_min = math.sqrt(max(1e-12, 1.0 - max(l0 * l0, l1 * l1) - max(m0 * m0, m1 * m1)))
    l = rng.uniform(l0, l1, n)
    m = rng.uniform(m0, m1, n)
    todo = np.flatnonzero(~_accepted(l, m, n_min, rng))
    while todo.size:     # redraw the few rejected (1 in 1700 at 2.5 deg from the centre) in the same order
        lt = rng.uniform(l0, l1, todo.size)
        mt = rng.uniform(m0, m1, todo.size)
        accept = _accepted(lt, mt, n_min, rng)
        l[todo[accept]] = lt[accept]
        m[todo[accept]] = mt[accept]
        todo = todo[~accept]
    return l, m


def _accepted(l, m, n_min: float, rng) -> np.ndarray:
    """Uniform deviate * sqrt(1 - l^2 - m^2) < n_min, evaluated in that order."""
    t = l * l
    np.subtract(1.0, t, out=t)
    t -= m * m
    np.sqrt(t, out=t)
    t *= rng.random(l.size)
    return t < n_min


def flux_at_1400(flux_jy, cls, frequency_hz):
    """Flux at 1.4 GHz from the class-mean spectral index (used by the size-flux relations)."""
    return flux_jy * ((1.4e9 / frequency_hz) ** SPECTRAL_INDEX)[cls]


def draw_morphology(flux_jy, cls, frequency_hz, rng: np.random.Generator):
    """Shapes for drawn sources: (major, minor, pa, lobe_sep, spectral_index) columns (see module doc)."""
    n = flux_jy.size
    major = np.zeros(n, np.float32)
    minor = np.zeros(n, np.float32)
    sep = np.zeros(n, np.float32)
    pa = rng.random(n, dtype=np.float32) * np.float32(180.0)
    alpha = rng.standard_normal(n, dtype=np.float32)
    alpha *= SPECTRAL_INDEX_SCATTER.astype(np.float32)[cls]
    alpha += SPECTRAL_INDEX.astype(np.float32)[cls]
    s14_mjy = (flux_at_1400(flux_jy, cls, frequency_hz) * 1e3).astype(np.float32)
    scatter = rng.standard_normal(n, dtype=np.float32)
    (sfg, n_sfg), (steep, n_steep) = _rows_of_classes(cls, (0, 2))
    if n_sfg:
        size = SFG_SIZE_1MJY_ARCSEC * s14_mjy[sfg] ** SFG_SIZE_SLOPE * 10.0 ** (SFG_SIZE_SCATTER_DEX * scatter[sfg])
        cos_i = rng.random(n_sfg, dtype=np.float32)
        q = np.sqrt(SFG_DISC_THICKNESS ** 2 + (1 - SFG_DISC_THICKNESS ** 2) * cos_i ** 2)
        major[sfg] = size
        minor[sfg] = size * q
    if n_steep:
        s = AGN_SEP_1MJY_ARCSEC * s14_mjy[steep] ** AGN_SEP_SLOPE * 10.0 ** (AGN_SEP_SCATTER_DEX * scatter[steep])
        sep[steep] = s
        major[steep] = AGN_LOBE_FRACTION * s
        minor[steep] = AGN_LOBE_FRACTION * s
    return major, minor, pa, sep, alpha


def _rows_of_classes(cls: np.ndarray, classes) -> list[tuple]:
    """(rows, number of rows) of each class in ``classes``: slices when the classes come in order (drawn chunks:
    no copies of 1M-row columns), else boolean masks."""
    if not np.any(cls[1:] < cls[:-1]):
        bounds = np.searchsorted(cls, [(c, c + 1) for c in classes])
        return [(slice(a, b), int(b - a)) for a, b in bounds]
    masks = [cls == c for c in classes]
    return [(m, int(m.sum())) for m in masks]


def draw_chunk(plan: SourcePlan, grid, k: int, rng: np.random.Generator) -> Catalogue:
    """Chunk ``k`` of a realisation's catalogue (global rows k*CHUNK .. (k+1)*CHUNK, classes in order)."""
    start, stop = k * CHUNK, min((k + 1) * CHUNK, plan.total)
    bounds = np.concatenate([[0], np.cumsum(plan.n_per_class)])
    cls = np.empty(max(0, stop - start), np.int8)
    flux = np.empty(cls.size)
    u = rng.random(cls.size)
    for c in range(len(CLASSES)):
        lo, hi = max(start, bounds[c]), min(stop, bounds[c + 1])
        if hi <= lo:
            continue
        sl = slice(lo - start, hi - start)
        cls[sl] = c
        flux[sl] = np.exp(inverse_cdf_ln_flux(u[sl], plan.tables[c]))
    l, m = uniform_positions(grid, cls.size, rng)
    major, minor, pa, sep, alpha = draw_morphology(flux, cls, plan.frequency_hz, rng)
    return Catalogue(l, m, flux, cls, major, minor, pa, sep, alpha)


def iter_chunks(plan: SourcePlan, grid, seed_sequence_of_chunk) -> Iterator[Catalogue]:
    """All chunks of a realisation; ``seed_sequence_of_chunk(k)`` gives chunk k's SeedSequence."""
    for k in range(plan.n_chunks):
        yield draw_chunk(plan, grid, k, np.random.default_rng(seed_sequence_of_chunk(k)))


def draw(model, grid, flux_min_jy, flux_max_jy, seed_sequence: np.random.SeedSequence) -> Catalogue:
    """A whole catalogue in memory (convenient for small fields; realisations stream chunks instead)."""
    plan = plan_sources(model, grid, flux_min_jy, flux_max_jy, np.random.default_rng(seed_sequence.spawn(1)[0]))
    children = seed_sequence.spawn(plan.n_chunks + 1)[1:]
    return Catalogue.concatenate(iter_chunks(plan, grid, lambda k: children[k]))


# --------------------------------------------------------------------------------------------------------------
# T-RECS catalogues

TRECS_CLASS = {1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 2}   # RadioClass / PopFlag -> radsim class


class TrecsError(RadsimError, ValueError):
    pass


def _flux_columns(names) -> dict[float, str]:
    """Intensity columns I<freq MHz> -> frequency in Hz."""
    out = {}
    for name in names:
        if name.startswith("I") and name[1:].replace(".", "", 1).isdigit():
            out[float(name[1:]) * 1e6] = name
    return out


def trecs_flux_jy(table, frequency_hz: float, path="catalogue") -> np.ndarray:
    """Flux (Jy) at ``frequency_hz`` from the I<MHz> columns (mJy): the nearest column when one matches within
    0.1%, otherwise interpolated linearly in log S - log nu between the two columns around it."""
    cols = _flux_columns(table.colnames)
    if not cols:
        raise TrecsError(f"{path}: no flux column I<freq MHz> (e.g. I1400) found")
    freqs = np.array(sorted(cols))
    match = freqs[np.abs(freqs / frequency_hz - 1) < 1e-3]
    if match.size:
        return np.asarray(table[cols[match[0]]], dtype=float) * 1e-3
    if not freqs[0] < frequency_hz < freqs[-1]:
        raise TrecsError(f"{path}: frequency {frequency_hz:g} Hz is outside the catalogue's columns "
                         f"({freqs[0]:g}..{freqs[-1]:g} Hz); no extrapolation")
    hi = int(np.searchsorted(freqs, frequency_hz))
    f0, f1 = freqs[hi - 1], freqs[hi]
    s0 = np.asarray(table[cols[f0]], dtype=float)
    s1 = np.asarray(table[cols[f1]], dtype=float)
    t = math.log(frequency_hz / f0) / math.log(f1 / f0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (s0 > 0) & (s1 > 0)
        s = np.where(ok, np.exp((1 - t) * np.log(np.where(ok, s0, 1)) + t * np.log(np.where(ok, s1, 1))),
                     (1 - t) * s0 + t * s1)
    return s * 1e-3


def _require(table, names, path):
    missing = [n for n in names if n not in table.colnames]
    if missing:
        raise TrecsError(f"{path}: missing column(s) {missing} needed for a T-RECS catalogue")


def read_trecs(path, frequency_hz: float) -> Catalogue:
    """Read one T-RECS FITS catalogue: the 2019 split files (SFG with e1, e2, PopFlag; AGN with PopFlag 4/5/6)
    or the newer single file with RadioClass. Positions x_coord/y_coord (deg, flat offsets from the field
    centre, x towards east) become (l, m). Morphology as in the seed study: SFG ellipses of major axis
    ``size``; flat-spectrum AGN compact discs of diameter size*Rs; steep-spectrum AGN two lobes of half the flux
    separated by size*Rs, lobe diameter size*Rs*(1-Rs). Sizes are taken as Gaussian FWHM."""
    from astropy.table import Table
    try:
        table = Table.read(path, format="fits", hdu=1)
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError or IndexError by case
        raise TrecsError(f"{path}: cannot read as a FITS table: {exc}") from None
    _require(table, ["x_coord", "y_coord", "size"], path)
    cls = _trecs_classes(table, path)
    flux = trecs_flux_jy(table, frequency_hz, path)
    size = np.asarray(table["size"], dtype=float)
    size = np.where(size > 0, size, 0.0)
    n = len(table)
    major = np.zeros(n)
    minor = np.zeros(n)
    sep = np.zeros(n)
    pa = np.zeros(n)
    sfg = cls == 0
    if sfg.any():
        q, pa_sfg = _sfg_shapes(table, path)
        major[sfg] = size[sfg]
        minor[sfg] = size[sfg] * q[sfg]
        pa[sfg] = pa_sfg[sfg]
    agn = cls > 0
    if agn.any():
        _require(table, ["Rs"], path)
        rs = np.clip(np.asarray(table["Rs"], dtype=float), 0.0, 1.0)
        pa_agn = np.asarray(table["PA"], dtype=float) if "PA" in table.colnames else np.zeros(n)
        flat = cls == 1
        major[flat] = minor[flat] = size[flat] * rs[flat]
        steep = cls == 2
        sep[steep] = size[steep] * rs[steep]
        major[steep] = minor[steep] = size[steep] * rs[steep] * (1 - rs[steep])
        pa[agn] = pa_agn[agn]
    if "spectral_index" in table.colnames:
        alpha = np.asarray(table["spectral_index"], dtype=float)
    else:
        alpha = SPECTRAL_INDEX[cls]
    l = np.radians(np.asarray(table["x_coord"], dtype=float))
    m = np.radians(np.asarray(table["y_coord"], dtype=float))
    keep = flux > 0
    return Catalogue(l, m, flux, cls, major, minor, pa % 180.0, sep, alpha).select(keep)


def _trecs_classes(table, path) -> np.ndarray:
    """radsim's class (0 SFG, 1 flat-spectrum AGN, 2 steep-spectrum AGN) of every row of a T-RECS table."""
    if "RadioClass" in table.colnames:
        kind = np.asarray(table["RadioClass"], dtype=int)
    elif "PopFlag" in table.colnames:
        kind = np.asarray(table["PopFlag"], dtype=int)
        if "e1" in table.colnames:        # 2019 SFG file: PopFlag values are SFG sub-populations
            kind = np.ones_like(kind)
    else:
        raise TrecsError(f"{path}: missing column 'RadioClass' (or 'PopFlag') needed for a T-RECS catalogue")
    unknown = sorted(set(np.unique(kind)) - set(TRECS_CLASS))
    if unknown:
        raise TrecsError(f"{path}: unknown source class value(s) {unknown} (expected {sorted(TRECS_CLASS)})")
    return np.vectorize(TRECS_CLASS.get, otypes=[np.int8])(kind) if kind.size else np.zeros(0, np.int8)


def _sfg_shapes(table, path) -> tuple[np.ndarray, np.ndarray]:
    """(axis ratio, position angle in deg) of every row, from 'axis ratio' and 'PA' or from the ellipticity
    components e1, e2 of the 2019 SFG files (q = (1 - e) / (1 + e), PA = atan2(e2, e1) / 2)."""
    n = len(table)
    if "axis ratio" in table.colnames:
        q = np.clip(np.asarray(table["axis ratio"], dtype=float), 0.0, 1.0)
        return q, (np.asarray(table["PA"], dtype=float) if "PA" in table.colnames else np.zeros(n))
    if "e1" in table.colnames and "e2" in table.colnames:
        e1 = np.asarray(table["e1"], dtype=float)
        e2 = np.asarray(table["e2"], dtype=float)
        e = np.clip(np.hypot(e1, e2), 0.0, 0.999)
        return (1 - e) / (1 + e), np.degrees(0.5 * np.arctan2(e2, e1)) % 180.0
    raise TrecsError(f"{path}: missing column 'axis ratio' (or 'e1', 'e2') for star-forming galaxies")


def trecs_area_deg2(catalogue: Catalogue) -> float:
    """The area (deg^2) a T-RECS catalogue covers, from the extent of its flat coordinates."""
    if len(catalogue) < 2:
        raise TrecsError("cannot infer the catalogue area from fewer than 2 sources; give --area-deg2")
    return float(np.degrees(np.ptp(catalogue.l)) * np.degrees(np.ptp(catalogue.m)))


def histogram_counts(catalogue: Catalogue, area_deg2: float, per_decade: int = 10):
    """Per-class dN/dS (Jy^-1 sr^-1) of a catalogue, in log bins: returns (bin centres Jy, (3, n) array)."""
    flux = catalogue.flux_jy
    lo = math.floor(math.log10(flux.min()) * per_decade) / per_decade
    hi = math.ceil(math.log10(flux.max()) * per_decade) / per_decade + 1.0 / per_decade
    edges = 10.0 ** np.arange(lo, hi + 1e-9, 1.0 / per_decade)
    omega = area_deg2 * SR_PER_DEG2
    dnds = np.stack([np.histogram(flux[catalogue.cls == c], edges)[0] for c in range(len(CLASSES))])
    dnds = dnds / np.diff(edges)[None, :] / omega
    return np.sqrt(edges[:-1] * edges[1:]), dnds


def crop_to_field(catalogue: Catalogue, grid) -> Catalogue:
    """The sources whose centre lies on the image footprint of ``grid``."""
    x, y = grid.lm_to_pixel(catalogue.l, catalogue.m)
    edge = grid.npix - 0.5
    return catalogue.select((x >= -0.5) & (x < edge) & (y >= -0.5) & (y < edge))


def check_covers(catalogue: Catalogue, grid, path="catalogue") -> None:
    """Refuse a catalogue whose extent does not cover the field (part of the sky would be empty)."""
    l0, l1, m0, m1 = grid.lm_bounds()
    tol = 0.01 * (l1 - l0)
    if len(catalogue) == 0 or (catalogue.l.min() > l0 + tol or catalogue.l.max() < l1 - tol
                               or catalogue.m.min() > m0 + tol or catalogue.m.max() < m1 - tol):
        ext = (f"{np.degrees(np.ptp(catalogue.l)):.3g} x {np.degrees(np.ptp(catalogue.m)):.3g} deg"
               if len(catalogue) else "no sources")
        raise TrecsError(f"{path}: covers {ext}, less than the {np.degrees(l1 - l0):.3g} x "
                         f"{np.degrees(m1 - m0):.3g} deg field; use a larger catalogue or a smaller field")


def resample(catalogue: Catalogue, modifier, grid, rng: np.random.Generator) -> Catalogue:
    """Re-sample a catalogue to the counts m(S) n(S), keeping each source's morphology: source i appears
    Poisson(m(S_i)) times; its first copy keeps its position, further copies get new uniform positions
    in the field. The expected number at every flux is then exactly m(S) times the original."""
    copies = rng.poisson(modifier(catalogue.flux_jy))
    idx = np.repeat(np.arange(len(catalogue)), copies)
    out = catalogue.select(idx)
    first = np.concatenate([[True], idx[1:] != idx[:-1]]) if idx.size else np.zeros(0, bool)
    l, m = uniform_positions(grid, int((~first).sum()), rng)
    out.l[~first] = l
    out.m[~first] = m
    return out
