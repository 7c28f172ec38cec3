"""The ``none`` backend: the sky model itself (Jy/pixel), or convolved with a Gaussian restoring beam (Jy/beam):
the seed study's "no telescope effects" training set."""
from __future__ import annotations

import time

import numpy as np

from radsim.instrument.imaging.base import Beam, ImagedSky, ImagingError, convolve_same, gaussian_beam_kernel


def image(sky: np.ndarray, pixel_arcsec: float, beam: Beam | None = None) -> ImagedSky:
    """The sky model as it is (``beam`` None, Jy/pixel) or convolved with the beam (Jy/beam): a point source of
    S Jy has a peak of S Jy/beam, and the image sum divided by the beam area in pixels is the total flux."""
    t0 = time.perf_counter()
    if beam is None:
        return ImagedSky(np.asarray(sky, dtype=np.float32), None, backend="none",
                         timings_s={"image": time.perf_counter() - t0})
    if min(beam.bmaj_arcsec, beam.bmin_arcsec) < 2 * pixel_arcsec:
        raise ImagingError(f"the beam ({beam.bmaj_arcsec:g} x {beam.bmin_arcsec:g} arcsec) is sampled by fewer than "
                         f"2 pixels of {pixel_arcsec:.3g} arcsec; use more pixels or a larger beam")
    kernel = gaussian_beam_kernel(beam, pixel_arcsec)
    restored = convolve_same(np.asarray(sky, dtype=np.float64), kernel).astype(np.float32)
    # the PSF as an image of the sky's size, peak on the reference pixel (n // 2, n // 2)
    n = sky.shape[0]
    h = kernel.shape[0] // 2
    psf = np.zeros(sky.shape, np.float32)
    c = n // 2
    lo, hi = max(0, c - h), min(n, c + h + 1)
    psf[lo:hi, lo:hi] = kernel[lo - c + h:hi - c + h, lo - c + h:hi - c + h]
    return ImagedSky(restored, beam, psf=psf, backend="none", timings_s={"image": time.perf_counter() - t0})


class NoneImager:
    """The ``none`` backend behind the common imager interface."""

    name = "none"

    def __init__(self, pixel_arcsec: float, beam: Beam | None = None):
        self.pixel_arcsec = pixel_arcsec
        self.beam = beam
        self.noise_rms_jy = 0.0
        if beam is not None:
            image(np.zeros((8, 8)), pixel_arcsec, beam)      # the sampling check, before any work

    def image(self, sky: np.ndarray, rng=None) -> ImagedSky:
        return image(sky, self.pixel_arcsec, self.beam)

    def close(self) -> None:
        pass


def from_config(cfg, workdir=None) -> NoneImager:
    im = cfg.imaging
    return NoneImager(cfg.field.pixel_arcsec, Beam(im.beam_arcsec, im.beam_arcsec) if im.beam_arcsec else None)
