"""The pixel grid of a field: a square SIN (orthographic) projection about the field centre.

Positions inside radsim are direction cosines (l, m) about the field centre: l towards east (increasing RA),
m towards north, dimensionless (radians for small offsets). For the SIN projection the FITS intermediate
world coordinates are (180/pi) (l, m) degrees, so pixels are linear in (l, m):

    x = (crpix1 - 1) + (180/pi) l / cdelt1,   y = (crpix2 - 1) + (180/pi) m / cdelt2,

0-based pixel coordinates, pixel centres at integers, array index image[y, x]. As in WSClean, cdelt1 < 0
(east to the left) and the reference pixel is crpix = npix/2 + 1 (1-based).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from radsim import __version__
from radsim.dataset import atomic

_GL8 = np.polynomial.legendre.leggauss(8)


@dataclass(frozen=True)
class Grid:
    centre_ra_deg: float
    centre_dec_deg: float
    npix: int
    pixel_deg: float

    @classmethod
    def from_config(cls, field) -> "Grid":
        return cls(field.centre_ra_deg, field.centre_dec_deg, field.npix, field.pixel_deg)

    # ---- pixel <-> (l, m)
    @property
    def crpix0(self) -> float:
        """0-based reference pixel (both axes)."""
        return self.npix // 2

    @property
    def pixel_rad(self) -> float:
        return math.radians(self.pixel_deg)

    def lm_to_pixel(self, l, m):
        """(l, m) direction cosines -> 0-based pixel coordinates (x, y)."""
        return self.crpix0 - np.asarray(l) / self.pixel_rad, self.crpix0 + np.asarray(m) / self.pixel_rad

    def pixel_to_lm(self, x, y):
        return (self.crpix0 - np.asarray(x)) * self.pixel_rad, (np.asarray(y) - self.crpix0) * self.pixel_rad

    def lm_bounds(self):
        """(l_min, l_max, m_min, m_max) of the image footprint (pixel edges)."""
        l_a, m_a = self.pixel_to_lm(-0.5, -0.5)
        l_b, m_b = self.pixel_to_lm(self.npix - 0.5, self.npix - 0.5)
        return min(l_a, l_b), max(l_a, l_b), min(m_a, m_b), max(m_a, m_b)

    # ---- (l, m) <-> (ra, dec)
    def lm_to_radec(self, l, m):
        """Direction cosines -> (ra, dec) in degrees (exact SIN inverse)."""
        l = np.asarray(l, dtype=float)
        m = np.asarray(m, dtype=float)
        d0 = math.radians(self.centre_dec_deg)
        n = np.sqrt(1.0 - l * l - m * m)
        dec = np.arcsin(m * math.cos(d0) + n * math.sin(d0))
        ra = math.radians(self.centre_ra_deg) + np.arctan2(l, n * math.cos(d0) - m * math.sin(d0))
        return np.degrees(ra) % 360.0, np.degrees(dec)

    def radec_to_lm(self, ra_deg, dec_deg):
        ra = np.radians(ra_deg)
        dec = np.radians(dec_deg)
        d0 = math.radians(self.centre_dec_deg)
        dra = ra - math.radians(self.centre_ra_deg)
        l = np.cos(dec) * np.sin(dra)
        m = np.sin(dec) * math.cos(d0) - np.cos(dec) * math.sin(d0) * np.cos(dra)
        return l, m

    # ---- solid angles
    def solid_angle_sr(self, x0=-0.5, x1=None, y0=-0.5, y1=None) -> float:
        """Solid angle (sr) of the pixel-coordinate rectangle [x0, x1] x [y0, y1] (default: the whole image).

        dOmega = dl dm / sqrt(1 - l^2 - m^2), integrated by 8x8-point Gauss-Legendre quadrature."""
        x1 = self.npix - 0.5 if x1 is None else x1
        y1 = self.npix - 0.5 if y1 is None else y1
        return float(self.solid_angles_sr(np.array([[x0, x1, y0, y1]]))[0])

    def solid_angles_sr(self, boxes) -> np.ndarray:
        """Solid angles (sr) of many pixel rectangles, rows (x0, x1, y0, y1)."""
        b = np.asarray(boxes, dtype=float)
        t, w = _GL8
        xs = 0.5 * (b[:, 1:2] - b[:, 0:1]) * t[None, :] + 0.5 * (b[:, 1:2] + b[:, 0:1])
        ys = 0.5 * (b[:, 3:4] - b[:, 2:3]) * t[None, :] + 0.5 * (b[:, 3:4] + b[:, 2:3])
        l, _ = self.pixel_to_lm(xs, 0.0)
        _, m = self.pixel_to_lm(0.0, ys)
        inv_n = 1.0 / np.sqrt(1.0 - l[:, :, None] ** 2 - m[:, None, :] ** 2)
        integral = np.einsum("i,j,kij->k", w, w, inv_n)
        area_pix = 0.25 * (b[:, 1] - b[:, 0]) * (b[:, 3] - b[:, 2])
        return integral * area_pix * self.pixel_rad ** 2

    # ---- FITS
    def header(self, frequency_hz: float, bandwidth_hz: float, bunit: str = "JY/PIXEL"):
        """A full 4-axis FITS header (RA---SIN, DEC--SIN, FREQ, STOKES), as WSClean writes its images."""
        from astropy.io import fits
        h = fits.Header()
        h["BUNIT"] = bunit
        h["BTYPE"] = "Intensity"
        axes = [
            ("RA---SIN", self.centre_ra_deg, -self.pixel_deg, self.crpix0 + 1, "deg"),
            ("DEC--SIN", self.centre_dec_deg, self.pixel_deg, self.crpix0 + 1, "deg"),
            ("FREQ", frequency_hz, bandwidth_hz, 1.0, "Hz"),
            ("STOKES", 1.0, 1.0, 1.0, ""),
        ]
        for i, (ctype, crval, cdelt, crpix, cunit) in enumerate(axes, start=1):
            h[f"CTYPE{i}"] = ctype
            h[f"CRVAL{i}"] = crval
            h[f"CDELT{i}"] = cdelt
            h[f"CRPIX{i}"] = crpix
            h[f"CUNIT{i}"] = cunit
        h["RADESYS"] = "FK5"
        h["EQUINOX"] = 2000.0
        h["LONPOLE"] = 180.0
        h["LATPOLE"] = self.centre_dec_deg
        h["SPECSYS"] = "TOPOCENT"
        h["RESTFRQ"] = frequency_hz
        return h

    def wcs(self, frequency_hz: float = 1.4e9, bandwidth_hz: float = 1e6):
        from astropy.wcs import WCS
        return WCS(self.header(frequency_hz, bandwidth_hz))


def write_image_fits(path, image: np.ndarray, header, extra: dict | None = None) -> None:
    """A 2-d image (float32) written atomically as the 4-d (1, 1, ny, nx) FITS cube ``header`` (from
    :meth:`Grid.header`) describes; ``extra`` adds header cards."""
    from astropy.io import fits
    h = header.copy()
    for k, v in (extra or {}).items():
        h[k] = v
    h["ORIGIN"] = f"radsim {__version__}"
    with atomic.atomic_path(path) as tmp:
        fits.PrimaryHDU(np.asarray(image, dtype=np.float32)[None, None], header=h).writeto(tmp)
