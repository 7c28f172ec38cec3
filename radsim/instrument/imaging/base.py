"""The imaging interface: one :class:`Imager` protocol, the backend registry, and what the backends share.

An imager is built once per configuration (everything that depends only on the observation: uv coverage,
weights, PSF, clean beam, the PAF footprint and its noise map; for the external programs a template Measurement
Set) and then images every sky of the run: ``imager.image(sky, rng)`` takes the sky (a radsim.sky.render.Sky
with every source at its position, or the sky-model image in Jy/pixel, ``image[y, x]``) and a random generator
(the noise) and returns an :class:`ImagedSky`. ``close()`` releases what it holds (working directories).

Backends (``imaging.backend``), each one module of this package with a ``from_config(cfg, workdir)``:

- ``none``: the sky model itself, or convolved with a Gaussian restoring beam;
- ``fast``: the built-in image-plane imager (ducc0 gridding, Clark CLEAN);
- ``wsclean``: WSClean on a simulated Measurement Set;
- ``yandasoft``: Yandasoft's csimulator and imager (in the Apptainer image).

Adding a backend is one new module here plus one line in :data:`BACKENDS`.
"""
from __future__ import annotations

import importlib
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.fft
from scipy import optimize

from radsim.errors import RadsimError
from radsim.sky.render import FWHM_TO_SIGMA

BACKENDS = {   # imaging.backend -> the module that builds it
    "none": "radsim.instrument.imaging.none",
    "fast": "radsim.instrument.imaging.fast",
    "wsclean": "radsim.instrument.imaging.wsclean",
    "yandasoft": "radsim.instrument.imaging.yandasoft",
}


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
    noise_map: np.ndarray | None = None  # Jy/beam, the thermal noise per pixel of a mosaic (None: uniform)

    @property
    def units(self) -> str:
        return "JY/PIXEL" if self.beam is None else "JY/BEAM"


@runtime_checkable
class Imager(Protocol):
    """What every backend provides. ``beam`` is the restoring beam (None: images in Jy/pixel), ``noise_rms_jy``
    the expected rms of the noise in a restored image (Jy/beam; for a mosaic its median over the tiled area).
    Optional: ``noise_map_jy`` (the mosaic's noise per pixel, which chooses the tiles; None or absent: uniform)
    and ``observes_points`` (True: ``image`` takes a radsim.sky.render.Sky, every source at its position;
    absent: the sky-model image), ``observes_components`` (True: that Sky keeps its Gaussian components'
    parameters, not only their pixel image)."""

    name: str
    beam: Beam | None
    noise_rms_jy: float

    def image(self, sky: np.ndarray, rng: np.random.Generator) -> ImagedSky: ...

    def close(self) -> None: ...


def build_imager(cfg, workdir=None) -> Imager:
    """The imaging backend of ``cfg`` (a :class:`radsim.config.RadsimConfig`), with everything that depends only
    on the observation computed: build it once and image every realisation with it. ``workdir`` keeps the
    external programs' files and logs (None: a temporary directory, removed by ``close()``)."""
    name = cfg.imaging.backend
    if name not in BACKENDS:
        raise ImagingError(f"imaging.backend = {name!r}: expected one of {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name]).from_config(cfg, workdir)


def observation_of(cfg):
    """The :class:`~radsim.instrument.telescope.Observation` that a config's field and imaging sections describe."""
    from radsim.instrument import telescope
    im = cfg.imaging
    return telescope.Observation(
        cfg.field.centre_ra_deg, cfg.field.centre_dec_deg, cfg.field.frequency_hz, cfg.field.bandwidth_hz,
        im.ha_start_h, im.ha_end_h, im.integration_s, im.date_mjd, im.elevation_limit_deg)


def weighting_settings(im) -> dict:
    """The keywords every synthesis backend takes from the imaging section: weighting and noise."""
    return {"weighting": im.weighting, "robust": im.robust, "taper_arcsec": im.taper_arcsec,
            "super_weight": im.super_weight, "noise_rms_jy": im.noise_rms_jy,
            "system_temperature_k": im.system_temperature_k, "aperture_efficiency": im.aperture_efficiency,
            "restoring_beam": im.restoring_beam}


def restoring_beam_for(setting, fitted: Beam) -> Beam | None:
    """The beam to restore with for ``imaging.restoring_beam``: None for 'fitted' (the imager fits its own PSF),
    ``fitted`` (radsim's fit to the PSF of the weights) for 'radsim', the given (bmaj", bmin", bpa deg) else."""
    if setting == "fitted":
        return None
    if setting == "radsim":
        return fitted
    return Beam(*(float(v) for v in setting))


def clean_settings(im):
    """The built-in CLEAN's settings (radsim.instrument.imaging.fast.CleanSettings) from the imaging section."""
    from radsim.instrument.imaging.fast import CleanSettings
    return CleanSettings(im.niter, im.gain, im.mgain, im.auto_threshold, im.auto_mask, im.psf_patch_pixels,
                         final_major=im.final_major)


def footprint_settings(im) -> dict:
    """The PAF footprint and primary beam of the imaging section (radsim.instrument.beams.make_footprint)."""
    return {"name": im.footprint, "pitch_deg": im.beam_pitch_deg, "rotation_deg": im.footprint_rotation_deg,
            "primary_beam": im.primary_beam, "fwhm_factor": im.pb_fwhm_factor, "cutoff": im.pb_cutoff}


def external_settings(im, workdir) -> dict:
    """The keywords the external backends (wsclean, yandasoft) take besides the weighting: CLEAN's and where
    to work."""
    return {"niter": im.niter, "gain": im.gain, "mgain": im.mgain, "auto_threshold": im.auto_threshold,
            "workdir": workdir, "keep": im.keep_ms}


def release_workdir(workdir: Path, keep: bool) -> None:
    """Remove an external backend's work directory if it is empty, unless it is to be kept."""
    if not keep:
        try:
            Path(workdir).rmdir()
        except OSError:
            pass


SPEED_OF_LIGHT = 299_792_458.0
EPSILON = 1e-6              # ducc0 gridding accuracy


class ImagingError(RadsimError, ValueError):
    """Imaging that cannot be done as configured (e.g. a beam sampled by fewer than 2 pixels)."""


# --------------------------------------------------------------------------------------------------------------
# weighting, gridding and beams (shared by the backends)

def ducc_to_image(d: np.ndarray) -> np.ndarray:
    """ducc0's dirty image is indexed [l, m] with l increasing; radsim's is [y, x] with x decreasing in l
    (east left) and y increasing in m, both centred on pixel n/2."""
    return np.ascontiguousarray(np.roll(d[::-1, :], 1, axis=0).T)


def grid_dirty(uvw, freq, ms, weights, npix, pixel_rad) -> np.ndarray:
    """ducc0's dirty image (npix x npix, no w-term) of visibilities ``ms`` (rows x channels) at ``uvw`` (m, or
    wavelengths with freq = c) and channel frequencies ``freq`` (Hz), weighted by ``weights`` (rows, or rows x
    channels)."""
    import ducc0
    w = weights if weights.ndim == 2 else weights[:, None]
    w = np.ascontiguousarray(w, dtype=np.float32 if ms.dtype == np.complex64 else np.float64)   # ducc0: one precision
    return ducc0.wgridder.ms2dirty(np.ascontiguousarray(uvw), np.asarray(freq, dtype=np.float64), ms,
                                   w, npix, npix, pixel_rad, pixel_rad, 0, 0, EPSILON, False)


#: WSClean's default -padding: its weighting grid is the uv grid of the image padded by this factor
WSCLEAN_PADDING = 1.2


def _even(k: int) -> int:
    return k + (k % 2)


def weighting_grid_size(n_cells: int, super_weight: float = 1.0, padding: float = WSCLEAN_PADDING) -> int:
    """Side W of WSClean's weighting grid for an image of ``n_cells`` pixels (its ImageWeights): the padded
    image, ceil(padding n) made even, divided by the super-weight factor, rounded and made even. Its boxes are
    1 / (W pixel) wide in the uv plane."""
    padded = _even(math.ceil(round(padding * n_cells, 6)))
    return max(2, _even(int(round(padded / super_weight))))


def _gaussian_taper(u, v, taper_arcsec: float):
    """A Gaussian uv taper whose image-plane FWHM is ``taper_arcsec`` (u, v in wavelengths)."""
    theta = math.radians(taper_arcsec / 3600.0)
    q2 = np.square(u, dtype=np.float64) + np.square(v, dtype=np.float64)
    return np.exp(-(math.pi * theta) ** 2 * q2 / (4.0 * math.log(2.0)))


def image_weights(uv_lambda: np.ndarray, weighting: str, robust: float, cell_lambda: float, n_cells: int,
                  taper_arcsec: float | None = None, super_weight: float = 1.0,
                  padding: float = WSCLEAN_PADDING) -> np.ndarray:
    """Imaging weights of visibilities at ``uv_lambda`` (n, 2) for an image of ``n_cells`` pixels whose uv cells
    are ``cell_lambda`` wide (padded by ``padding`` for the inversion), exactly as WSClean 3 computes them (its
    ImageWeights; checked against the weight grid WSClean saves with -save-weights): natural (1), uniform
    (1 / W_box) or Briggs
    (1 / (1 + W_box f^2), f^2 = (5 10^-R)^2 / (sum W_box^2 / sum w)), W_box the number of visibilities in a box
    of WSClean's weighting grid (:func:`weighting_grid_size`: the padded image's uv cells times the
    super-weight factor, WSClean's -super-weight; a wide field's own cells are so fine that every visibility
    sits alone and uniform weighting turns natural). Each visibility is folded to v >= 0 and counted in box
    (floor(u / box) + W/2, floor(v / box)); visibilities beyond the grid (finer than the pixels can show) get
    weight 0, as WSClean drops them. A Gaussian taper of FWHM ``taper_arcsec`` in the image multiplies the
    weights: for uniform and Briggs weighting WSClean evaluates it on the grid, at each box's lower corner, and so
    does this (the far side lobes of the PSF depend on such details: an imager whose weights differ only there
    makes a visibly different confusion pattern); for natural weighting at each visibility."""
    if weighting not in ("natural", "uniform", "briggs"):
        raise ImagingError(f"unknown weighting {weighting!r} (natural, uniform, briggs)")
    side = weighting_grid_size(n_cells, super_weight, padding)
    half = side // 2
    box = n_cells * cell_lambda / side
    # indices in int32 and a float32 result: tens of millions of visibilities in bounded memory
    flip = uv_lambda[:, 1] < 0
    bu = np.floor(np.where(flip, -uv_lambda[:, 0], uv_lambda[:, 0]) / box).astype(np.int32) + half
    bv = np.floor(np.abs(uv_lambda[:, 1]) / box).astype(np.int32)
    del flip
    inside = (bu >= 0) & (bu < side) & (bv < half)
    w = inside.astype(np.float32)
    if weighting == "natural":
        if taper_arcsec:
            w *= _gaussian_taper(uv_lambda[:, 0], uv_lambda[:, 1], taper_arcsec).astype(np.float32)
        return w
    index = bv[inside] * np.int32(side) + bu[inside]
    del bu, bv
    count = np.bincount(index, minlength=half * side).astype(np.float64)
    if weighting == "uniform":
        grid = np.divide(1.0, count, out=np.zeros_like(count), where=count > 0)
    else:
        f2 = (5.0 * 10.0 ** (-robust)) ** 2 / ((count ** 2).sum() / count.sum())
        grid = 1.0 / (1.0 + count * f2)
    if taper_arcsec:
        gy, gx = np.divmod(np.arange(half * side), side)
        grid *= _gaussian_taper((gx - half) * box, gy * box, taper_arcsec)
    w[inside] = grid[index]
    return w


def fit_beam(psf: np.ndarray, pixel_arcsec: float, estimate_pixels: float = 2.0,
             box_factor: float = 10.0) -> Beam:
    """Elliptical Gaussian (peak 1, centred) fitted by least squares to every PSF pixel in a box about
    ``box_factor`` x the theoretical beam (``estimate_pixels``, lambda / B_max in pixels) wide, refitted in a
    larger box when the fitted major axis needs one: WSClean's convention, so that restoring beams agree with
    WSClean's for the same PSF. The shoulder of a naturally weighted PSF widens such a fit well beyond the
    half-power core."""
    c = psf.shape[0] // 2

    def fit_in(width, start):
        h = max(2, int(math.ceil(width / 2.0)))
        h = min(h, c)
        y, x = np.mgrid[-h:h + 1, -h:h + 1]
        dy, dx = y.ravel().astype(float), x.ravel().astype(float)
        vals = psf[c - h:c + h + 1, c - h:c + h + 1].ravel().astype(float)

        def model(p):
            smaj, smin, pa = p
            u = -math.sin(pa) * dx + math.cos(pa) * dy
            v = math.cos(pa) * dx + math.sin(pa) * dy
            return np.exp(-0.5 * ((u / smaj) ** 2 + (v / smin) ** 2))

        fit = optimize.least_squares(lambda p: model(p) - vals, start, bounds=([0.05, 0.05, -10], [1e4, 1e4, 10]))
        return fit.x, 2 * h + 1

    s0 = max(estimate_pixels * FWHM_TO_SIGMA, 0.3)
    (smaj, smin, pa), box = fit_in(estimate_pixels * box_factor, [s0 * 1.2, s0, 0.3])
    if smin > smaj:
        smaj, smin, pa = smin, smaj, pa + math.pi / 2
    major_px = smaj / FWHM_TO_SIGMA
    if major_px * box_factor * 0.8 > box:
        (smaj, smin, pa), _ = fit_in(major_px * box_factor, [smaj, smin, pa])
        if smin > smaj:
            smaj, smin, pa = smin, smaj, pa + math.pi / 2
    to_arcsec = pixel_arcsec / FWHM_TO_SIGMA
    # to the precision WSClean takes a beam in (-beam-shape, 1e-4 arcsec and 1e-3 deg): the fit's last digits
    # differ between machines and builds of the same libraries (1e-9 arcsec measured between this project's
    # container and its host), and a restoring beam that differs there makes tiles that are not bit-identical
    return Beam(round(smaj * to_arcsec, 4), round(smin * to_arcsec, 4), round(math.degrees(pa) % 180.0, 3) % 180.0)


def theoretical_beam_pixels(uv_lambda: np.ndarray, weights: np.ndarray, pixel_rad: float) -> float:
    """lambda / B_max in pixels, over the visibilities that carry weight (WSClean's 'theoretical' beam)."""
    q = np.hypot(uv_lambda[:, 0], uv_lambda[:, 1])[weights > 0]
    return float(1.0 / q.max() / pixel_rad) if q.size else 2.0


def check_beam_sampling(beam: Beam, pixel_arcsec: float) -> None:
    """Refuse a beam sampled by fewer than 2 pixels (along its minor axis)."""
    if min(beam.bmaj_arcsec, beam.bmin_arcsec) < 2 * pixel_arcsec:
        raise ImagingError(
            f"the synthesised beam ({beam.bmaj_arcsec:.3g} x {beam.bmin_arcsec:.3g} arcsec) is sampled by fewer "
            f"than 2 pixels of {pixel_arcsec:.3g} arcsec; use smaller pixels or a uv taper (imaging.taper_arcsec)")


def estimate_beam(grid, uvw_lambda: np.ndarray, weights: np.ndarray) -> Beam:
    """The clean beam the weights give, from a PSF gridded on the image's own grid (for the external backends'
    checks before any work)."""
    n = grid.npix
    d = grid_dirty(np.ascontiguousarray(uvw_lambda), np.array([SPEED_OF_LIGHT]),
              np.ones((uvw_lambda.shape[0], 1), np.complex128), weights, n, grid.pixel_rad)
    return fit_beam(ducc_to_image(d / float(d[n // 2, n // 2])), grid.pixel_deg * 3600.0,
                    theoretical_beam_pixels(uvw_lambda[:, :2], weights, grid.pixel_rad))


def gaussian_beam_kernel(beam: Beam, pixel_arcsec: float, half_size: int | None = None) -> np.ndarray:
    """The beam on the pixel grid, peak 1 at the centre pixel, ``[y, x]`` with north up and east left
    (PA measured from north towards east, i.e. towards -x)."""
    smaj = beam.bmaj_arcsec * FWHM_TO_SIGMA / pixel_arcsec
    smin = beam.bmin_arcsec * FWHM_TO_SIGMA / pixel_arcsec
    h = half_size if half_size is not None else int(math.ceil(5 * smaj)) + 1
    y, x = np.mgrid[-h:h + 1, -h:h + 1].astype(float)
    pa = math.radians(beam.bpa_deg)
    u = -math.sin(pa) * x + math.cos(pa) * y          # along the major axis
    v = math.cos(pa) * x + math.sin(pa) * y
    return np.exp(-0.5 * ((u / smaj) ** 2 + (v / smin) ** 2))


def convolve_same(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear (zero-padded, no wrap-around) convolution, output the size of ``image``; kernel centred."""
    ny, nx = image.shape
    ky, kx = kernel.shape
    shape = (scipy.fft.next_fast_len(ny + ky - 1, real=True), scipy.fft.next_fast_len(nx + kx - 1, real=True))
    full = scipy.fft.irfft2(scipy.fft.rfft2(image, shape) * scipy.fft.rfft2(kernel, shape), shape)
    oy, ox = ky // 2, kx // 2
    return full[oy:oy + ny, ox:ox + nx]


def robust_rms(image: np.ndarray, stride: int = 7) -> float:
    """1.4826 x the median absolute deviation of a strided subsample (the rms of the Gaussian part)."""
    sample = image.ravel()[::stride]
    return float(1.4826 * np.median(np.abs(sample - np.median(sample))))


# --------------------------------------------------------------------------------------------------------------
# what the external backends (wsclean, yandasoft) share

def external_observation_setup(grid, observation, uvw_m, *, weighting, robust, taper_arcsec, super_weight,
                               noise_rms_jy, system_temperature_k, aperture_efficiency, n_channels=1,
                               padding=WSCLEAN_PADDING):
    """For the external backends (wsclean, yandasoft), before any work: the weights approximating the imager's
    (every visibility at each of the ``n_channels`` channel centres, as the imager grids them), the expected
    beam (refused when sampled by fewer than 2 pixels), and the per-visibility noise sigma (per real and
    imaginary part, per polarisation product, per channel) with the Stokes I image rms it gives:
    rms = sigma sqrt(sum w^2) / sum w / sqrt(2), the sums over visibilities and channels. Either the rms is
    asked for and sigma follows, or sigma comes from the radiometer equation. Returns (beam, sigma_vis_jy,
    noise_rms_jy)."""
    from radsim.instrument.imaging.fast import channel_frequencies_hz
    freq = channel_frequencies_hz(observation.frequency_hz, observation.bandwidth_hz, n_channels)
    rows = uvw_m.reshape(-1, 3)
    uvw_lambda = (rows[:, None, :] * (freq / SPEED_OF_LIGHT)[None, :, None]).reshape(-1, 3)
    w = image_weights(uvw_lambda[:, :2], weighting, robust, 1.0 / (grid.npix * grid.pixel_rad), grid.npix,
                      taper_arcsec, super_weight, padding).astype(np.float64)
    beam = estimate_beam(grid, uvw_lambda, w)
    check_beam_sampling(beam, grid.pixel_deg * 3600.0)
    factor = math.sqrt((w ** 2).sum()) / w.sum() / math.sqrt(2.0)
    if system_temperature_k is not None:
        from radsim.instrument import telescope
        sigma = telescope.visibility_noise_jy(system_temperature_k, aperture_efficiency, observation.dish_diameter_m,
                                              observation.bandwidth_hz / n_channels, observation.integration_s)
        return beam, sigma, sigma * factor
    rms = float(noise_rms_jy or 0.0)
    return beam, rms / factor, rms


def run_logged(args: list[str], log: Path, cwd: Path) -> None:
    """Run a program (argument list, no shell) with its output in ``log``; raise with the log's tail."""
    with open(log, "ab") as fh:
        fh.write(("$ " + " ".join(args) + "\n").encode())
        fh.flush()
        rc = subprocess.run(args, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd).returncode
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ImagingError(f"{Path(args[0]).name} failed with exit status {rc}; log kept at {log}:\n{tail}")
