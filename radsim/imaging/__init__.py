"""Imaging backends: one interface from a sky-model image to what a telescope delivers.

A backend takes the sky model (Jy/pixel, ``image[y, x]``), its grid and a random generator and returns an
:class:`ImagedSky`. Backends: ``none`` (the sky model, optionally convolved with a Gaussian restoring beam);
``fast``, ``wsclean`` and ``yandasoft`` are being built (see the imaging issue).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Beam:
    """An elliptical Gaussian beam: FWHM major and minor axes (arcsec), position angle (deg, east of north)."""

    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float = 0.0

    def area_sr(self) -> float:
        """Solid angle of the beam, pi bmaj bmin / (4 ln 2) (sr)."""
        return float(np.pi * np.radians(self.bmaj_arcsec / 3600) * np.radians(self.bmin_arcsec / 3600)
                     / (4 * np.log(2)))

    def area_pixels(self, pixel_arcsec: float) -> float:
        """Beam solid angle in pixels (Jy/beam = this x Jy/pixel for a smooth source)."""
        return float(np.pi * self.bmaj_arcsec * self.bmin_arcsec / (4 * np.log(2)) / pixel_arcsec ** 2)

    def fits_keywords(self) -> dict:
        return {"BMAJ": self.bmaj_arcsec / 3600, "BMIN": self.bmin_arcsec / 3600, "BPA": self.bpa_deg}


@dataclass
class ImagedSky:
    """The product of a backend. Images are float32 ``[y, x]``."""

    restored: np.ndarray                 # Jy/beam (Jy/pixel when beam is None)
    beam: Beam | None
    residual: np.ndarray | None = None   # Jy/beam
    psf: np.ndarray | None = None        # peak 1
    model: np.ndarray | None = None      # clean components, Jy/pixel
    noise_rms_jy: float = 0.0            # Jy/beam, expected rms of the noise in ``restored``
    backend: str = "none"
    timings_s: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)   # backend details (CLEAN iterations, versions, ...)

    @property
    def units(self) -> str:
        return "JY/PIXEL" if self.beam is None else "JY/BEAM"
