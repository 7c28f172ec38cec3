"""The ``fast`` backend: image-plane simulation of a synthesis image, pure Python + ducc0.

For one observation (computed once, reused for every sky):

* UVW of every baseline and integration (radsim.telescope), in wavelengths at the centre frequency;
* weights: natural, uniform or Briggs (robust) from the gridded weight density, times an optional Gaussian
  uv taper;
* the PSF on a grid twice the image size (ducc0 gridder), normalised to a peak of 1, and its FFT;
* the noise scale: per sky, white complex visibility noise (unit variance per component) is gridded with the
  same weights, so its correlation is exactly that of the observation, and scaled by rms / sqrt(sum w^2) to
  the requested rms (or the radiometer-equation rms);
* the clean beam, an elliptical Gaussian fitted to the PSF main lobe.

Per sky: dirty = sky (Jy/pixel) convolved with the PSF (zero-padded FFT: no wrap-around) + noise (Jy/beam);
Clark CLEAN (Hogbom minor cycles on the brightest pixels with the PSF, FFT major cycles; loop gain, a
threshold in units of the noise rms, an iteration limit, a major-cycle gain); restored = clean components
convolved with the clean beam + residual.

Approximations (stated in the README): no w-term (the sky is taken as flat, fine for a few degrees at low
resolution), no primary beam, one channel at the centre frequency, the noise taken as stationary.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import optimize

from radsim import telescope
from radsim.imaging import Beam, ImagedSky
from radsim.sky import FWHM_TO_SIGMA

SPEED_OF_LIGHT = 299_792_458.0
EPSILON = 1e-6              # ducc0 gridding accuracy


class ImagingError(ValueError):
    """Imaging that cannot be done as configured (e.g. a beam sampled by fewer than 2 pixels)."""


@dataclass(frozen=True)
class CleanSettings:
    niter: int = 100_000
    gain: float = 0.1
    mgain: float = 0.8
    threshold_sigma: float = 3.0
    max_candidates: int = 20_000


def ducc_to_image(d: np.ndarray) -> np.ndarray:
    """ducc0's dirty image is indexed [l, m] with l increasing; radsim's is [y, x] with x decreasing in l
    (east left) and y increasing in m, both centred on pixel n/2."""
    return np.ascontiguousarray(np.roll(d[::-1, :], 1, axis=0).T)


def image_weights(uv_lambda: np.ndarray, weighting: str, robust: float, cell_lambda: float, n_cells: int,
                  taper_arcsec: float | None = None, super_weight: float = 1.0) -> np.ndarray:
    """Imaging weights of visibilities at ``uv_lambda`` (n, 2) on the uv grid of an image of ``n_cells`` pixels
    (cells of ``cell_lambda``). Visibilities beyond that grid (|u| or |v| >= n_cells/2 cells, finer than the
    pixels can show) get weight 0, as WSClean drops them. Then natural (1), uniform (1 / W_cell) or Briggs
    (1 / (1 + W_cell f^2), f^2 = (5 10^-R)^2 / (sum W^2 / sum w)), W counting both (u, v) and (-u, -v) in
    boxes of ``super_weight`` cells (WSClean's -super-weight: for a wide field the image's own cells are so fine
    that every visibility sits alone and uniform weighting turns natural); times a Gaussian taper of FWHM
    ``taper_arcsec`` in the image."""
    if weighting not in ("natural", "uniform", "briggs"):
        raise ImagingError(f"unknown weighting {weighting!r} (natural, uniform, briggs)")
    iu = np.floor(uv_lambda[:, 0] / cell_lambda + 0.5).astype(np.int64)
    iv = np.floor(uv_lambda[:, 1] / cell_lambda + 0.5).astype(np.int64)
    half = n_cells // 2
    inside = (np.abs(iu) < half) & (np.abs(iv) < half)
    w = inside.astype(float)
    if weighting != "natural":
        box = cell_lambda * super_weight
        nb = int(math.ceil(n_cells / super_weight)) + 2
        hb = nb // 2
        uv_in = uv_lambda[inside]
        bu = np.floor(uv_in[:, 0] / box + 0.5).astype(np.int64)
        bv = np.floor(uv_in[:, 1] / box + 0.5).astype(np.int64)
        iu, iv = bu, bv
        half, n_cells = hb, nb
        idx = np.concatenate([(iv + half) * n_cells + iu + half, (-iv + half) * n_cells - iu + half])
        density = np.bincount(idx, minlength=n_cells * n_cells).astype(float)
        cell = density[idx[:iu.size]]
        if weighting == "uniform":
            w[inside] = 1.0 / cell
        else:
            f2 = (5.0 * 10.0 ** (-robust)) ** 2 / ((density ** 2).sum() / (2.0 * iu.size))
            w[inside] = 1.0 / (1.0 + cell * f2)
    if taper_arcsec:
        theta = math.radians(taper_arcsec / 3600.0)
        q2 = (uv_lambda ** 2).sum(axis=1)
        w = w * np.exp(-(math.pi * theta) ** 2 * q2 / (4.0 * math.log(2.0)))
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
    return Beam(smaj * to_arcsec, smin * to_arcsec, math.degrees(pa) % 180.0)


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
    d = _grid(np.ascontiguousarray(uvw_lambda), np.array([SPEED_OF_LIGHT]),
              np.ones((uvw_lambda.shape[0], 1), np.complex128), weights, n, grid.pixel_rad)
    return fit_beam(ducc_to_image(d / float(d[n // 2, n // 2])), grid.pixel_deg * 3600.0,
                    theoretical_beam_pixels(uvw_lambda[:, :2], weights, grid.pixel_rad))


def external_observation_setup(grid, observation, uvw_m, *, weighting, robust, taper_arcsec, super_weight,
                               noise_rms_jy, system_temperature_k, aperture_efficiency, n_channels=1):
    """For the external backends (wsclean, yandasoft), before any work: the weights approximating the imager's,
    the expected beam (refused when sampled by fewer than 2 pixels), and the per-visibility noise sigma (per real
    and imaginary part, per polarisation product, per channel) with the Stokes I image rms it gives:
    rms = sigma sqrt(sum w^2) / sum w / sqrt(2 n_channels). Either the rms is asked for and sigma follows, or
    sigma comes from the radiometer equation. Returns (beam, sigma_vis_jy, noise_rms_jy)."""
    uvw_lambda = uvw_m.reshape(-1, 3) * observation.frequency_hz / SPEED_OF_LIGHT
    w = image_weights(uvw_lambda[:, :2], weighting, robust, 1.0 / (grid.npix * grid.pixel_rad), grid.npix,
                      taper_arcsec, super_weight)
    beam = estimate_beam(grid, uvw_lambda, w)
    check_beam_sampling(beam, grid.pixel_deg * 3600.0)
    factor = math.sqrt((w ** 2).sum()) / w.sum() / math.sqrt(2.0 * n_channels)
    if system_temperature_k is not None:
        from radsim import telescope
        sigma = telescope.visibility_noise_jy(system_temperature_k, aperture_efficiency, observation.dish_diameter_m,
                                              observation.bandwidth_hz / n_channels, observation.integration_s)
        return beam, sigma, sigma * factor
    rms = float(noise_rms_jy or 0.0)
    return beam, rms / factor, rms


def gaussian_kernel(beam: Beam, pixel_arcsec: float) -> np.ndarray:
    from radsim.imaging.none import gaussian_beam_kernel
    return gaussian_beam_kernel(beam, pixel_arcsec)


class PsfConvolver:
    """Linear convolution of (n, n) images with a (2n, 2n) kernel centred on pixel n, through a cached FFT.

    A kernel exactly 2n wide holds every offset -n..n-1 once, so a circular convolution on the 2n grid of the
    zero-padded image is the linear one on the output window: no wrap-around, and 2.25x fewer points than 3n.
    Single precision (relative error ~1e-7 of the brightest source, far below the noise)."""

    def __init__(self, kernel: np.ndarray, n: int):
        if kernel.shape != (2 * n, 2 * n):
            raise ValueError(f"kernel shape {kernel.shape} is not (2n, 2n) = {(2 * n, 2 * n)}")
        self.n = n
        self.shape = (2 * n, 2 * n)
        self.kernel_ft = scipy.fft.rfft2(np.fft.ifftshift(kernel).astype(np.float32))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        ft = scipy.fft.rfft2(np.asarray(image, dtype=np.float32), self.shape)
        ft *= self.kernel_ft
        return scipy.fft.irfft2(ft, self.shape)[:self.n, :self.n].astype(np.float64)


def robust_rms(image: np.ndarray, stride: int = 7) -> float:
    """1.4826 x the median absolute deviation of a strided subsample (the rms of the Gaussian part)."""
    sample = image.ravel()[::stride]
    return float(1.4826 * np.median(np.abs(sample - np.median(sample))))


def clark_clean(dirty: np.ndarray, psf2: np.ndarray, convolve, threshold: float, s: CleanSettings,
                patch: int = 8):
    """Clark CLEAN with vectorised minor cycles.

    Major cycle: residual = dirty - model * PSF (exact, FFT), stop level = max(threshold, (1 - mgain) peak,
    f peak, threshold_sigma x rms) with f the highest PSF sidelobe outside the patch (Clark's rule: minor cycles
    never chase what the truncated PSF cannot describe) and rms the robust (MAD) rms of the residual measured at
    every major cycle, as WSClean's -auto-threshold does: in a wide field the far sidelobes of thousands of
    bright sources make a sea that patch-based minor cycles cannot remove, only major cycles; cleaning stops
    when the peak is below max(threshold, threshold_sigma x rms). A major cycle that raises the residual peak ends the CLEAN
    (``diverged`` in the returned info).
    Minor step: every pixel above the stop level that is a local maximum (3x3) and the brightest of its
    ``patch`` x ``patch`` cell is cleaned at once: ``gain`` x its value joins the model and the PSF within
    ``patch`` pixels is subtracted around it (Clark's truncated PSF; peaks treated as independent within a
    step, which the next major cycle corrects). ``psf2`` is the (2n, 2n) PSF centred on pixel n; ``convolve``
    convolves an (n, n) image with it. Returns (model Jy/pixel, residual, components, major cycles)."""
    n = dirty.shape[0]
    residual = dirty.astype(np.float64, copy=True)
    model = np.zeros_like(residual)
    h = patch
    kernel = psf2[n - h:n + h + 1, n - h:n + h + 1].ravel()
    ky, kx = np.divmod(np.arange((2 * h + 1) ** 2), 2 * h + 1)
    ky -= h
    kx -= h
    ncell = -(-n // h)
    outside = np.abs(psf2[1:, 1:]).copy()
    outside[n - 1 - h:n + h, n - 1 - h:n + h] = 0.0
    sidelobe = float(outside.max())
    components = majors = 0
    diverged = False
    last_peak = np.inf
    while components < s.niter:
        peak = float(np.abs(residual).max())
        floor = max(threshold, s.threshold_sigma * robust_rms(residual))
        if peak <= 1.1 * floor or peak > 0.97 * last_peak:   # done, or a major cycle gained less than 3%
            diverged = peak > 1.1 * last_peak
            break
        last_peak = peak
        stop = max(floor, (1.0 - s.mgain) * peak, sidelobe * peak)
        while components < s.niter:
            a = np.abs(residual)
            cand = np.flatnonzero(a.ravel() > stop)
            if cand.size == 0:
                break
            cy, cx = np.divmod(cand, n)
            v = a.ravel()[cand]
            # local maxima among the 8 neighbours (edges compare with themselves)
            local = np.ones(cand.size, bool)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if dy or dx:
                        local &= v >= a[np.clip(cy + dy, 0, n - 1), np.clip(cx + dx, 0, n - 1)]
            cand, cy, cx, v = cand[local], cy[local], cx[local], v[local]
            # the brightest of each cell
            cell = (cy // h) * ncell + cx // h
            order = np.lexsort((-v, cell))
            first = np.concatenate([[True], cell[order][1:] != cell[order][:-1]])
            pick = order[first]
            if s.niter - components < pick.size:
                pick = pick[np.argsort(-v[pick])[:s.niter - components]]
            py, px = cy[pick], cx[pick]
            amp = s.gain * residual[py, px]
            model[py, px] += amp
            yy = py[:, None] + ky[None, :]
            xx = px[:, None] + kx[None, :]
            ok = (yy >= 0) & (yy < n) & (xx >= 0) & (xx < n)
            residual.ravel()[:] -= np.bincount((yy * n + xx)[ok], weights=(amp[:, None] * kernel[None, :])[ok],
                                               minlength=n * n)
            components += pick.size
        residual = dirty - convolve(model)
        majors += 1
    return model, residual, components, majors, diverged


class FastImager:
    """Everything that depends only on the observation, computed once; :meth:`image` images one sky."""

    name = "fast"

    def __init__(self, grid, observation: telescope.Observation, *, weighting="briggs", robust=0.0,
                 taper_arcsec=None, super_weight=1.0, noise_rms_jy=None, system_temperature_k=None,
                 aperture_efficiency=0.8, clean: CleanSettings = CleanSettings()):
        t0 = time.perf_counter()
        self.grid = grid
        self.n = grid.npix
        if self.n % 2 or self.n < 32:
            raise ImagingError(f"the fast imager needs an even field.npix >= 32, got {self.n}")
        self.pixel_arcsec = grid.pixel_deg * 3600.0
        self.observation = observation
        self.clean = clean
        wavelength = SPEED_OF_LIGHT / observation.frequency_hz
        uvw = observation.uvw_m().reshape(-1, 3) / wavelength                # wavelengths
        self.n_vis = uvw.shape[0]
        n2 = 2 * self.n
        # weighting grid: the image's own uv cells, as WSClean uses
        self.weights = image_weights(uvw[:, :2], weighting, robust, 1.0 / (self.n * grid.pixel_rad), self.n,
                                     taper_arcsec, super_weight)
        self.dropped_fraction = float(np.mean(self.weights == 0))
        if self.dropped_fraction == 1.0:
            raise ImagingError("no visibility falls on the image's uv grid")
        uvw_c = np.ascontiguousarray(uvw)
        freq = np.array([SPEED_OF_LIGHT])                                    # uvw already in wavelengths
        ones = np.ones((self.n_vis, 1), np.complex128)
        pix = grid.pixel_rad
        d = _grid(uvw_c, freq, ones, self.weights, n2, pix)
        self.psf2 = ducc_to_image(d / float(d[self.n, self.n]))                                 # (2n, 2n), peak 1 at [n, n]
        self.psf = self.psf2[self.n // 2:self.n // 2 + self.n, self.n // 2:self.n // 2 + self.n].copy()
        self.beam = fit_beam(self.psf2, self.pixel_arcsec,
                             theoretical_beam_pixels(uvw[:, :2], self.weights, grid.pixel_rad))
        check_beam_sampling(self.beam, self.pixel_arcsec)
        self.convolve = PsfConvolver(self.psf2, self.n)
        self.beam_kernel = gaussian_kernel(self.beam, self.pixel_arcsec)
        self._uvw, self._freq = uvw_c, freq
        sum_w, sum_w2 = self.weights.sum(), (self.weights ** 2).sum()
        if system_temperature_k is not None:
            sigma_vis = telescope.visibility_noise_jy(system_temperature_k, aperture_efficiency,
                                                      observation.dish_diameter_m, observation.bandwidth_hz,
                                                      observation.integration_s)
            # Stokes I from two polarisation products; the dirty image is normalised by sum(w)
            self.noise_rms_jy = sigma_vis * math.sqrt(sum_w2) / sum_w / math.sqrt(2.0)
        elif noise_rms_jy is not None:
            self.noise_rms_jy = float(noise_rms_jy)
        else:
            self.noise_rms_jy = 0.0
        self._noise_scale = self.noise_rms_jy / math.sqrt(sum_w2)
        self.setup_s = time.perf_counter() - t0

    def noise(self, rng: np.random.Generator) -> np.ndarray:
        """A noise image (Jy/beam) with the rms and correlation of the observation."""
        if self.noise_rms_jy == 0.0:
            return np.zeros((self.n, self.n))
        vis = np.empty((self.n_vis, 1), np.complex128)
        vis.real[:, 0] = rng.standard_normal(self.n_vis)
        vis.imag[:, 0] = rng.standard_normal(self.n_vis)
        field = _grid(self._uvw, self._freq, vis, self.weights, self.n, self.grid.pixel_rad)
        return self._noise_scale * ducc_to_image(field)

    def image(self, sky: np.ndarray, rng: np.random.Generator) -> ImagedSky:
        timings = {}
        t = time.perf_counter()
        dirty = self.convolve(np.asarray(sky, dtype=np.float64)) + self.noise(rng)
        timings["dirty"] = time.perf_counter() - t
        t = time.perf_counter()
        threshold = self.clean.threshold_sigma * self.noise_rms_jy
        if threshold == 0.0:
            threshold = 1e-3 * float(np.abs(dirty).max())
        model, residual, iterations, majors, diverged = clark_clean(dirty, self.psf2, self.convolve, threshold,
                                                                    self.clean)
        timings["clean"] = time.perf_counter() - t
        t = time.perf_counter()
        from radsim.imaging.none import convolve_same
        restored = convolve_same(model, self.beam_kernel) + residual
        timings["restore"] = time.perf_counter() - t
        return ImagedSky(restored.astype(np.float32), self.beam, residual.astype(np.float32),
                         self.psf.astype(np.float32), model.astype(np.float32), self.noise_rms_jy, "fast", timings,
                         {"clean_iterations": iterations, "major_cycles": majors, "threshold_jy": threshold,
                          "clean_diverged": diverged,
                          "dropped_visibility_fraction": self.dropped_fraction})


def _grid(uvw, freq, ms, weights, npix, pixel_rad) -> np.ndarray:
    import ducc0
    return ducc0.wgridder.ms2dirty(uvw, freq, ms, np.ascontiguousarray(weights[:, None]), npix, npix,
                                   pixel_rad, pixel_rad, 0, 0, EPSILON, False)
