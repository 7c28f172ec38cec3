"""ASKAP's phased-array-feed beams: footprints, primary-beam models and the linear mosaic that combines them.

Positions are offsets on the field's tangent plane (direction cosines l east, m north, as radians for small
offsets), images ``[y, x]`` on the field's pixel grid (radsim.sky.grid: x decreases with l).

Footprints (ASKAP's footprint names, a beam pitch and a rotation, as in the survey tile definitions; e.g. EMU
tiles: ``closepack36``, 0.9 deg, 45 deg):

* ``single``: one beam on the field centre (a quick look, or the seed study's single image without a mosaic);
* ``closepack36``: a triangular grid of 6 rows of 6 beams, rows ``pitch sqrt(3)/2`` apart and alternate rows
  shifted by half a pitch (each beam has six neighbours at one pitch);
* ``square_KxK`` (``square_6x6`` as RACS used): a square grid, ``pitch`` apart.

The pattern is centred on the field centre and turned by ``rotation_deg`` from north through east.

Primary beams (power patterns, peak 1 on the beam centre), FWHM = ``fwhm_factor`` lambda / D (ASKAP's
footprint tools use 1.02 for a fully illuminated 12-m dish: 1.55 deg at 943.5 MHz), scaling as 1/frequency:

* ``gaussian``: exp(-4 ln 2 r^2 / FWHM^2);
* ``airy``: (2 J1(x) / x)^2 with x = 1.6163 x 2 r / FWHM (the Airy pattern of the same half-power width).

A multi-frequency-synthesis image of a flat-spectrum source sees the band-averaged beam
A_eff(r) = sum_c W_c A(r, nu_c) / sum_c W_c, W_c the imaging weight of channel c; the simulation attenuates the sky
by A_eff and the mosaic corrects with the same A_eff (as linmos is given the beam model at the reference
frequency; here the model is exact, so the correction is too).

Linear mosaic (Yandasoft's linmos with ``weighttype = FromPrimaryBeamModel``): per pixel,
M = sum_b A_b I_b / sum_b A_b^2 over the beams with A_b >= cutoff. With the same thermal noise sigma_b in every
beam image, the mosaic's noise is sigma_b / sqrt(sum_b A_b^2): the noise (sensitivity) map.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy import special

from radsim.errors import RadsimError

SPEED_OF_LIGHT = 299_792_458.0
AIRY_HALF_POWER_X = 1.616339948      # (2 J1(x) / x)^2 = 1/2
PRIMARY_BEAMS = ("none", "gaussian", "airy")


class BeamsError(RadsimError, ValueError):
    """A footprint or primary beam that cannot be made as configured."""


def footprint_offsets(name: str, pitch_deg: float, rotation_deg: float = 0.0) -> np.ndarray:
    """(n_beams, 2) beam-centre offsets (l east, m north) in radians from the field centre, in ASKAP's beam order
    (row by row from the south-east corner before the rotation)."""
    if name == "single":
        return np.zeros((1, 2))
    if pitch_deg <= 0:
        raise BeamsError(f"imaging.beam_pitch_deg = {pitch_deg}: must be > 0")
    square = re.fullmatch(r"square_(\d+)x(\d+)", name)
    if name == "closepack36":
        row, col = np.divmod(np.arange(36), 6)
        x = col - 2.5 + np.where(row % 2, 0.25, -0.25)
        y = (row - 2.5) * math.sqrt(3.0) / 2.0
    elif square:
        ny, nx = int(square.group(1)), int(square.group(2))
        if nx < 1 or ny < 1:
            raise BeamsError(f"imaging.footprint = {name!r}: needs at least one beam")
        row, col = np.divmod(np.arange(nx * ny), nx)
        x, y = col - (nx - 1) / 2.0, row - (ny - 1) / 2.0
    else:
        raise BeamsError(f"imaging.footprint = {name!r}: expected 'single', 'closepack36' or 'square_KxK' "
                         f"(e.g. 'square_6x6')")
    pa = math.radians(rotation_deg)
    # x east, y north; a rotation from north through east
    east = x * math.cos(pa) + y * math.sin(pa)
    north = -x * math.sin(pa) + y * math.cos(pa)
    return np.radians(pitch_deg) * np.stack([east, north], axis=1)


def fwhm_rad(frequency_hz, dish_diameter_m: float = 12.0, fwhm_factor: float = 1.02):
    """Primary-beam FWHM (rad): fwhm_factor x lambda / D."""
    return fwhm_factor * SPEED_OF_LIGHT / np.asarray(frequency_hz, dtype=float) / dish_diameter_m


def response(r_rad, fwhm, model: str = "gaussian"):
    """Power response (peak 1) at angular distance ``r_rad`` from the beam centre of a beam of FWHM ``fwhm`` (rad)."""
    r = np.asarray(r_rad, dtype=float)
    if model == "none":
        return np.ones_like(r)
    if model == "gaussian":
        return np.exp(-4.0 * math.log(2.0) * (r / fwhm) ** 2)
    if model == "airy":
        x = AIRY_HALF_POWER_X * 2.0 * r / fwhm
        safe = np.where(x == 0.0, 1.0, x)
        return np.where(x == 0.0, 1.0, (2.0 * special.j1(safe) / safe) ** 2)
    raise BeamsError(f"imaging.primary_beam = {model!r}: expected one of {', '.join(PRIMARY_BEAMS)}")


@dataclass(frozen=True)
class PrimaryBeam:
    """A band-averaged primary beam: the model at each channel frequency, averaged with the channels' imaging
    weights (see the module docstring)."""

    model: str = "gaussian"
    frequencies_hz: tuple = (943.5e6,)
    channel_weights: tuple = (1.0,)
    dish_diameter_m: float = 12.0
    fwhm_factor: float = 1.02

    def __post_init__(self):
        response(0.0, 1.0, self.model)              # refuse an unknown model before any work

    @property
    def fwhm_centre_rad(self) -> float:
        """FWHM (rad) at the weighted mean frequency."""
        f = np.average(self.frequencies_hz, weights=self.channel_weights)
        return float(fwhm_rad(f, self.dish_diameter_m, self.fwhm_factor))

    def exact(self, r_rad) -> np.ndarray:
        """The band-averaged response at ``r_rad`` (rad), channel by channel."""
        r = np.asarray(r_rad, dtype=float)
        if self.model == "none":
            return np.ones_like(r)
        w = np.asarray(self.channel_weights, dtype=float)
        out = np.zeros_like(r)
        for f, wc in zip(self.frequencies_hz, w / w.sum()):
            out += wc * response(r, fwhm_rad(f, self.dish_diameter_m, self.fwhm_factor), self.model)
        return out

    def __call__(self, r_rad) -> np.ndarray:
        """The band-averaged response at ``r_rad`` (rad): :meth:`exact` tabulated every 1/20000 of 5 FWHM and
        interpolated linearly (error below 1e-8), 0 beyond 5 FWHM."""
        r = np.asarray(r_rad, dtype=float)
        if self.model == "none":
            return np.ones_like(r)
        table_r, table = self._table()
        return np.interp(r, table_r, table, right=0.0)

    def _table(self):
        cached = self.__dict__.get("_cached_table")
        if cached is None:
            table_r = np.linspace(0.0, 5.0 * self.fwhm_centre_rad, 20001)
            cached = (table_r, self.exact(table_r))
            object.__setattr__(self, "_cached_table", cached)
        return cached

    def radius_at(self, level: float) -> float:
        """The smallest radius (rad) beyond which the response stays below ``level`` (0 < level < 1)."""
        if self.model == "none":
            return math.inf
        r = np.linspace(0.0, 4.0 * self.fwhm_centre_rad, 4001)
        above = np.flatnonzero(self(r) >= level)
        return float(r[above[-1]]) if above.size else 0.0


@dataclass(frozen=True)
class Window:
    """An (size x size) beam image on the field's pixel grid: its first row and column ``(y0, x0)`` may lie outside
    the field (the part outside holds no sky)."""

    y0: int
    x0: int
    size: int

    def overlap(self, npix: int):
        """(field slices, window slices) of the part of the window inside an (npix x npix) field."""
        ya, yb = max(self.y0, 0), min(self.y0 + self.size, npix)
        xa, xb = max(self.x0, 0), min(self.x0 + self.size, npix)
        return ((slice(ya, yb), slice(xa, xb)),
                (slice(ya - self.y0, yb - self.y0), slice(xa - self.x0, xb - self.x0)))

    def extract(self, image: np.ndarray) -> np.ndarray:
        """The window's part of an (npix x npix) image, zero outside the field."""
        out = np.zeros((self.size, self.size), dtype=image.dtype)
        field, win = self.overlap(image.shape[0])
        out[win] = image[field]
        return out


@dataclass(frozen=True)
class Footprint:
    """The beams of one observation on a field's pixel grid: centres (pixels), one window per beam, the primary
    beam and the linmos cut-off."""

    centres_xy: np.ndarray           # (n_beams, 2) pixel coordinates (x, y) of the beam centres
    windows: tuple                   # Window per beam
    primary_beam: PrimaryBeam
    pixel_rad: float
    npix: int
    cutoff: float = 0.2

    @property
    def n_beams(self) -> int:
        return len(self.windows)

    @property
    def size(self) -> int:
        return self.windows[0].size

    def attenuation(self, b: int) -> np.ndarray:
        """(size, size) primary-beam response of beam b over its window."""
        w = self.windows[b]
        y, x = np.ogrid[w.y0:w.y0 + w.size, w.x0:w.x0 + w.size]
        cx, cy = self.centres_xy[b]
        r = np.hypot(x - cx, y - cy) * self.pixel_rad
        return self.primary_beam(r)

    def weight_sum(self) -> np.ndarray:
        """(npix, npix) sum_b A_b^2 over the beams above the cut-off: the mosaic's relative sensitivity."""
        total = np.zeros((self.npix, self.npix))
        for b in range(self.n_beams):
            a = self.attenuation(b)
            a = np.where(a >= self.cutoff, a, 0.0)
            field, win = self.windows[b].overlap(self.npix)
            total[field] += a[win] ** 2
        return total


def make_footprint(grid, name: str = "single", pitch_deg: float = 0.9, rotation_deg: float = 0.0,
                   primary_beam: PrimaryBeam | None = None, cutoff: float = 0.2, margin_pixels: int = 16,
                   whole_field: bool = False) -> Footprint:
    """The footprint ``name`` on ``grid`` (radsim.sky.grid.Grid). Each beam is imaged on a square window centred on
    it and wide enough to hold the response above ``cutoff`` plus ``margin_pixels`` (so that sources just beyond
    what the mosaic uses still lie in the image), even-sized; a window that would be as wide as the field is the
    whole field (as it is with ``whole_field``, and for ``single``)."""
    pb = primary_beam or PrimaryBeam("none")
    if not 0.0 < cutoff < 1.0:
        raise BeamsError(f"imaging.pb_cutoff = {cutoff}: must lie between 0 and 1")
    offsets = footprint_offsets(name, pitch_deg, rotation_deg)
    n = grid.npix
    x, y = grid.lm_to_pixel(offsets[:, 0], offsets[:, 1])
    radius = pb.radius_at(cutoff) / grid.pixel_rad
    size = n if not math.isfinite(radius) else min(n, 2 * (int(math.ceil(radius)) + margin_pixels))
    size += size % 2
    if name == "single" or whole_field or size >= n:
        windows = (Window(0, 0, n),) * len(x)
    else:
        windows = tuple(Window(int(round(cy)) - size // 2, int(round(cx)) - size // 2, size)
                        for cx, cy in zip(x, y))
    return Footprint(np.stack([x, y], axis=1), windows, pb, grid.pixel_rad, n, cutoff)


class Mosaic:
    """Accumulates beam images into a linear mosaic (module docstring): ``add(b, image)`` per beam, then
    ``result()``."""

    def __init__(self, footprint: Footprint):
        self.footprint = footprint
        n = footprint.npix
        self.numerator = np.zeros((n, n))
        self.weights = np.zeros((n, n))

    def add(self, b: int, image: np.ndarray, attenuation: np.ndarray | None = None) -> None:
        fp = self.footprint
        a = fp.attenuation(b) if attenuation is None else attenuation
        a = np.where(a >= fp.cutoff, a, 0.0)
        field, win = fp.windows[b].overlap(fp.npix)
        self.numerator[field] += (a * image)[win]
        self.weights[field] += (a ** 2)[win]

    def result(self) -> np.ndarray:
        """The mosaic; 0 where no beam reaches the cut-off."""
        covered = self.weights > 0
        out = np.zeros_like(self.numerator)
        out[covered] = self.numerator[covered] / self.weights[covered]
        return out


def noise_map(weight_sum: np.ndarray, beam_noise_jy: float) -> np.ndarray:
    """The mosaic's thermal noise (Jy/beam) from sum_b A_b^2: beam_noise / sqrt(sum A^2); inf where uncovered."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weight_sum > 0, beam_noise_jy / np.sqrt(weight_sum), np.inf)


def survey_area(weight_sum: np.ndarray, factor: float) -> np.ndarray:
    """Pixels whose mosaic noise is within ``factor`` of the best (sum A^2 >= max / factor^2)."""
    return weight_sum >= weight_sum.max() / factor ** 2


def beam_noise_for(weight_sum: np.ndarray, survey_rms_jy: float, factor: float) -> float:
    """The per-beam thermal noise (Jy/beam) that gives the mosaic a median noise of ``survey_rms_jy`` over the
    surveyed area (noise within ``factor`` of the best): sigma_b = survey rms x sqrt(median sum A^2 there)."""
    return float(survey_rms_jy * math.sqrt(np.median(weight_sum[survey_area(weight_sum, factor)])))
