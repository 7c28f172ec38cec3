"""The ``none`` backend: the sky model itself (Jy/pixel), or convolved with a Gaussian restoring beam (Jy/beam):
the seed study's "no telescope effects" training set.

With a PAF footprint and primary beams (radsim.instrument.beams) it gives the sky model as the linear mosaic
would weight it: sum_b A_b (A_b S) / sum_b A_b^2 = S wherever a beam reaches the cut-off, 0 beyond, and the
mosaic's relative sensitivity for choosing the tiles, so that its tiles are those of the synthesis backends
for the same configuration (they hold no noise: their tile noise is 0)."""
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
    """The ``none`` backend behind the common imager interface. ``footprint`` (a
    radsim.instrument.beams.Footprint) makes it a mosaic's sky model (module docstring)."""

    name = "none"

    def __init__(self, pixel_arcsec: float, beam: Beam | None = None, footprint=None):
        self.pixel_arcsec = pixel_arcsec
        self.beam = beam
        self.noise_rms_jy = 0.0
        self.noise_map_jy = None
        self._covered = None
        if beam is not None:
            image(np.zeros((8, 8)), pixel_arcsec, beam)      # the sampling check, before any work
        if footprint is not None:
            from radsim.instrument import beams
            weight_sum = footprint.weight_sum()
            self._covered = weight_sum > 0
            self.noise_map_jy = beams.noise_map(weight_sum, 1.0).astype(np.float32)   # relative: tiles only

    def image(self, sky: np.ndarray, rng=None) -> ImagedSky:
        imaged = image(sky, self.pixel_arcsec, self.beam)
        if self._covered is not None:
            imaged.restored = np.where(self._covered, imaged.restored, 0.0).astype(np.float32)
        return imaged

    def close(self) -> None:
        pass


def from_config(cfg, workdir=None) -> NoneImager:
    im = cfg.imaging
    footprint = None
    if im.footprint != "single" or im.primary_beam != "none":
        from radsim.instrument import beams
        from radsim.instrument.imaging.fast import channel_frequencies_hz
        from radsim.sky.grid import Grid
        freq = channel_frequencies_hz(cfg.field.frequency_hz, cfg.field.bandwidth_hz, im.n_channels)
        pb = beams.PrimaryBeam(im.primary_beam, tuple(freq), (1.0,) * freq.size, fwhm_factor=im.pb_fwhm_factor)
        footprint = beams.make_footprint(Grid.from_config(cfg.field), im.footprint, im.beam_pitch_deg,
                                         im.footprint_rotation_deg, pb, im.pb_cutoff, whole_field=True)
    beam = Beam(im.beam_arcsec, im.beam_arcsec) if im.beam_arcsec else None
    if not isinstance(im.restoring_beam, str):      # a fixed beam for every backend
        beam = Beam(*(float(v) for v in im.restoring_beam))
    return NoneImager(cfg.field.pixel_arcsec, beam, footprint)
