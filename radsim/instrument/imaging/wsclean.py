"""The ``wsclean`` backend: a simulated ASKAP Measurement Set, imaged by the real WSClean.

Per observation (once): UVW and times, a template Measurement Set (radsim.instrument.ms, ``n_channels`` across
the band), the WSClean version, the footprint (radsim.instrument.beams).
Per sky and per PAF beam, in a work directory: copy the template MS; predict the visibilities of the sky times
that beam's primary beam from the source list (:func:`predict`: points by ducc0's type-3 non-uniform FFT with
the w-term, Gaussian components by a direct transform with their Gaussian visibility factor, each at its
exact position); DATA = those + seeded complex Gaussian noise of the per-visibility sigma that gives the beam's
thermal noise (or the radiometer-equation sigma); ``wsclean`` images and cleans DATA (size, scale, weighting,
taper, niter, gain, mgain, auto-threshold and auto-mask from the config) over the whole field; the restored
image, residual, PSF and model are read back, the beam from the restored image's header. radsim then mosaics
the beams as the fast imager does (weights = primary beam squared, the cut-off, primary-beam correction). A
sky given only as an image (Jy/pixel) is predicted by ``wsclean -predict`` as before.

External programs are run with argument lists; their output goes to a log next to the products, and a
failure raises with the tail of the log (the log is kept). The MS and logs are deleted after each sky unless
``keep`` is set.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from radsim.instrument import beams, telescope
from radsim.instrument import ms as ms_mod
from radsim.instrument.imaging.base import (SPEED_OF_LIGHT, WSCLEAN_PADDING, Beam, ImagedSky, ImagingError,
                                            convolve_same, external_observation_setup, external_settings,
                                            footprint_settings, gaussian_beam_kernel, observation_of,
                                            release_workdir, restoring_beam_for, run_logged, weighting_settings)
from radsim.sky.grid import Grid, write_image_fits
from radsim.sky.render import Sky

INSTALL_HINT = ("install Debian's wsclean (apt-get install wsclean), or run inside the radsim container "
                "(RADSIM_IMAGE, see containers/README.md), or choose imaging.backend = 'fast'")


def wsclean_executable() -> str:
    """The wsclean program: $RADSIM_WSCLEAN or ``wsclean`` on PATH; a clear error when missing."""
    exe = os.environ.get("RADSIM_WSCLEAN") or shutil.which("wsclean")
    if not exe:
        raise ImagingError(f"imaging.backend = 'wsclean' but the wsclean program is not found; {INSTALL_HINT}")
    return exe


def wsclean_version(exe: str) -> str:
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("WSClean version"):
            return line.strip()
    return "unknown"


#: relative accuracy of the predicted visibilities: the NUFFT's error, about epsilon x the field's summed flux
#: (< 1 Jy), stays far below the thermal noise of one visibility (tens of mJy for EMU) and, averaged over
#: millions of visibilities, below 1e-3 of the image noise; 1e-7 cost 6x the time for nothing visible
PREDICT_EPSILON = 1e-5

#: WSClean grids with its w-gridder (ducc0's, the same as radsim's) unless wsclean_args choose a gridder: WSClean
#: 3.1's default w-stacking picks too few w-layers for ASKAP's 10-h tracks at 943 MHz (w to 19,000 wavelengths)
#: and loses 1.3% of a point source's peak 0.5 deg from the phase centre and 2.5% at 0.6 deg (measured on a
#: 1 x 1 deg field; the w-gridder: 0.2%)
GRIDDER_ARGS = ("-use-wgridder",)
GRIDDER_CHOICES = ("-use-wgridder", "-use-idg", "-nwlayers", "-nwlayers-factor", "-gridder")


def padding_of(extra_args) -> float:
    """WSClean's -padding among ``extra_args`` (its default otherwise): its weighting grid is the padded image's."""
    args = [str(a) for a in extra_args]
    if "-padding" in args:
        at = args.index("-padding") + 1
        try:
            return float(args[at])
        except (IndexError, ValueError):
            raise ImagingError(f"imaging.wsclean_args: -padding needs a number, got {args[at:at + 1]}") from None
    return WSCLEAN_PADDING


def gridder_args(extra_args) -> list[str]:
    """The gridder WSClean is told to use: :data:`GRIDDER_ARGS` unless ``extra_args`` choose one."""
    return [] if any(str(a) in GRIDDER_CHOICES for a in extra_args) else list(GRIDDER_ARGS)


#: points whose NUFFT inputs are worked out at a time (:func:`nufft_inputs`): a pointing of the wider prior holds up
#: to 10^8 sources, and whole-length temporaries held 80 bytes per source at the NUFFT call instead of 40 (a peak of
#: 16.8 GiB instead of 14.1 for 74 million; benchmarks/README.md)
INPUT_BLOCK = 1 << 22


def nufft_inputs(grid, x, y, flux, gain=None) -> tuple[np.ndarray, np.ndarray]:
    """The type-3 NUFFT's inputs for point sources at pixel coordinates ``x``, ``y`` with fluxes ``flux`` (Jy):
    coordinates 2 pi (l, m, n - 1) (points, 3) float64 and fluxes (points,) complex128, times ``gain(x, y)`` (e.g. a
    primary beam's response) where given. Worked out :data:`INPUT_BLOCK` points at a time into the two arrays, so
    that no other array of the full length is made; each value is the same as the whole arrays' would be."""
    size = np.size(flux)
    coord_in = np.empty((size, 3))
    points_in = np.empty(size, np.complex128)
    for start in range(0, size, INPUT_BLOCK):
        block = slice(start, start + INPUT_BLOCK)
        xb, yb, fb = x[block], y[block], flux[block]
        l, m = grid.pixel_to_lm(np.asarray(xb, float), np.asarray(yb, float))
        coord_in[block, 0] = 2.0 * np.pi * l
        coord_in[block, 1] = 2.0 * np.pi * m
        coord_in[block, 2] = 2.0 * np.pi * (np.sqrt(1.0 - l * l - m * m) - 1.0)
        points_in[block] = fb * gain(xb, yb) if gain is not None else fb
    return coord_in, points_in


def predict(grid, uvw_m: np.ndarray, freq_hz: np.ndarray, x, y, flux, gaussians=(),
            epsilon: float = PREDICT_EPSILON, threads: int = 1, gain=None):
    """Visibilities (rows, channels) complex128 of point sources at pixel coordinates ``x``, ``y`` (float) with
    fluxes ``flux`` (Jy), V = sum S exp(+2 pi i (u l + v m + w (n - 1))) (the sign of the Measurement Sets that
    radsim writes, as WSClean's -predict fills them), by ducc0's type-3 NUFFT; plus the
    Gaussian components ``gaussians`` = (x, y, flux, sigma_major_pix, sigma_minor_pix, pa_rad) by a direct
    transform, each times its Gaussian's visibility exp(-2 pi^2 (sigma_major^2 u'^2 + sigma_minor^2 v'^2)).
    ``epsilon``: the NUFFT's relative accuracy; ``threads``: its threads; ``gain``: a function of the points'
    ``x``, ``y`` that multiplies their fluxes (a primary beam's response), applied block by block."""
    import ducc0
    scale = freq_hz / SPEED_OF_LIGHT
    uvw = (uvw_m[:, None, :] * scale[None, :, None]).reshape(-1, 3)       # wavelengths
    vis = np.zeros(uvw.shape[0], np.complex128)
    if np.size(flux):
        coord_in, points_in = nufft_inputs(grid, np.asarray(x), np.asarray(y), np.asarray(flux), gain)
        vis = ducc0.nufft.experimental.nu2nu(points_in=points_in, coord_in=coord_in,
                                              coord_out=np.ascontiguousarray(uvw), forward=False, epsilon=epsilon,
                                              nthreads=threads)
    gx, gy, gf, smaj, smin, pa = (np.asarray(a, float) for a in gaussians) if len(gaussians) else ([],) * 6
    for k in range(len(gf)):
        l, m = grid.pixel_to_lm(gx[k], gy[k])
        n1 = math.sqrt(1.0 - l * l - m * m) - 1.0
        # the major axis lies along PA east of north: (l, m) direction (sin pa, cos pa)
        up = uvw[:, 0] * math.sin(pa[k]) + uvw[:, 1] * math.cos(pa[k])
        vp = uvw[:, 0] * math.cos(pa[k]) - uvw[:, 1] * math.sin(pa[k])
        s_maj, s_min = smaj[k] * grid.pixel_rad, smin[k] * grid.pixel_rad
        vis += gf[k] * np.exp(2j * np.pi * (uvw[:, 0] * l + uvw[:, 1] * m + uvw[:, 2] * n1)
                              - 2.0 * np.pi ** 2 * ((s_maj * up) ** 2 + (s_min * vp) ** 2))
    return vis.reshape(uvw_m.shape[0], freq_hz.size)


#: up to this many extended (Gaussian) components are predicted exactly, each by a direct transform; beyond it
#: (a realistic field holds millions) all of them are predicted from their pixel-integrated image, each pixel a
#: point at its centre, as WSClean -predict does from a model image
MAX_DIRECT_GAUSSIANS = 200


#: how the wsclean backend's restored image is made (imaging.wsclean_restore): WSClean's own, or its model
#: convolved with its restoring beam without wrap-around, plus its residual
RESTORES = ("wsclean", "linear")


class WscleanImager:
    name = "wsclean"
    observes_points = True          # image() takes a radsim.sky.render.Sky
    observes_components = True      # with its Gaussian components' parameters (Sky.gaussians)

    def __init__(self, grid, observation: telescope.Observation, *, weighting="briggs", robust=0.0,
                 taper_arcsec=None, super_weight=1.0, noise_rms_jy=None, system_temperature_k=None,
                 aperture_efficiency=0.8, niter=100_000, gain=0.1, mgain=0.8, auto_threshold=3.0,
                 workdir=None, keep=False, threads=1, n_channels=1, extra_args=(), auto_mask=None,
                 footprint: dict | None = None, survey_factor: float = 1.25, restoring_beam="fitted",
                 restore: str = "wsclean"):
        t0 = time.perf_counter()
        if restore not in RESTORES:
            raise ImagingError(f"imaging.wsclean_restore must be one of {', '.join(RESTORES)}, got {restore!r}")
        self.restore = restore
        self.exe = wsclean_executable()
        self.version = wsclean_version(self.exe)
        self.grid = grid
        self.n = grid.npix
        self.pixel_arcsec = grid.pixel_deg * 3600.0
        self.observation = observation
        self.keep = keep
        self.threads = threads
        self.n_channels = n_channels
        self._box = None              # the pixel box's transform at each visibility, made when first needed
        # absolute: wsclean runs in a directory of its own, so a relative MS path would not be found
        self.workdir = Path(workdir).resolve() if workdir else Path(tempfile.mkdtemp(prefix="radsim-wsclean-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        uvw = observation.uvw_m()
        times = observation.times_mjd()
        self.n_rows = uvw.shape[0] * uvw.shape[1]
        self.template = self.workdir / "template.ms"
        if self.template.exists():
            shutil.rmtree(self.template)
        ms_mod.write_ms(self.template, observation, uvw, times, n_channels)
        from casacore import tables
        with tables.table(str(self.template), ack=False) as tab:
            self.uvw_ms = tab.getcol("UVW")
        with tables.table(str(self.template / "SPECTRAL_WINDOW"), ack=False) as tab:
            self.freq_hz = np.asarray(tab.getcell("CHAN_FREQ", 0), dtype=float)
        # the footprint: every beam imaged over the whole field (WSClean images about the phase centre)
        fp = dict(footprint or {})
        pb_model = fp.pop("primary_beam", "none")
        pb = beams.PrimaryBeam(pb_model, tuple(self.freq_hz), (1.0,) * self.freq_hz.size,
                               observation.dish_diameter_m, fp.pop("fwhm_factor", 1.02))
        self.footprint = beams.make_footprint(grid, primary_beam=pb, whole_field=True, **fp)
        self._has_pb = pb_model != "none"
        self.weight_sum = self.footprint.weight_sum()
        survey_rms = noise_rms_jy
        if noise_rms_jy is not None and system_temperature_k is None:
            noise_rms_jy = beams.beam_noise_for(self.weight_sum, float(noise_rms_jy), survey_factor)
        self.expected_beam, self.sigma_vis, self.beam_noise_jy = external_observation_setup(
            grid, observation, uvw, weighting=weighting, robust=robust, taper_arcsec=taper_arcsec,
            super_weight=super_weight, noise_rms_jy=noise_rms_jy, system_temperature_k=system_temperature_k,
            aperture_efficiency=aperture_efficiency, n_channels=n_channels, padding=padding_of(extra_args))
        noise_map = beams.noise_map(self.weight_sum, self.beam_noise_jy)
        self.noise_rms_jy = float(np.median(noise_map[beams.survey_area(self.weight_sum, survey_factor)])) \
            if survey_rms is None or system_temperature_k is not None else float(survey_rms)
        self.noise_map_jy = noise_map.astype(np.float32) if self._has_pb or self.footprint.n_beams > 1 else None
        weight_args = {"natural": ["-weight", "natural"], "uniform": ["-weight", "uniform"],
                       "briggs": ["-weight", "briggs", f"{robust:g}"]}[weighting]
        self.image_args = [
            "-size", str(self.n), str(self.n), "-scale", f"{self.pixel_arcsec:.10g}asec", *weight_args,
            "-super-weight", f"{super_weight:g}", "-niter", str(niter), "-gain", f"{gain:g}",
            "-mgain", f"{mgain:g}", "-auto-threshold", f"{auto_threshold:g}", "-data-column", "DATA",
            "-pol", "I", "-make-psf", "-no-update-model-required", "-j", str(threads)]
        if auto_mask:
            self.image_args += ["-auto-mask", f"{auto_mask:g}"]
        if taper_arcsec:
            self.image_args += ["-taper-gaussian", f"{taper_arcsec:g}asec"]
        self.restoring_beam = restoring_beam_for(restoring_beam, self.expected_beam)
        if self.restoring_beam is not None:
            b = self.restoring_beam
            self.image_args += ["-beam-shape", f"{b.bmaj_arcsec:.4f}asec", f"{b.bmin_arcsec:.4f}asec",
                                f"{b.bpa_deg:.3f}deg"]
        # passed to both wsclean runs (e.g. -nwlayers 1), after the gridder unless they choose their own
        self.extra_args = gridder_args(extra_args) + [str(a) for a in extra_args]
        self.image_args += self.extra_args
        self.setup_s = time.perf_counter() - t0
        self.beam = None

    def image(self, sky, rng: np.random.Generator, tag: str = "sky") -> ImagedSky:
        """Image a sky: a :class:`radsim.sky.render.Sky` (every beam predicted from its sources, imaged, then
        mosaicked) or a pixel image (Jy/pixel; one beam without a primary beam, predicted by wsclean)."""
        if not isinstance(sky, Sky):
            if self.footprint.n_beams > 1 or self._has_pb:
                sky = Sky.from_image(sky)
            else:
                return self._image_one(sky, None, rng, tag)
        fp = self.footprint
        restored, residual, model = (beams.Mosaic(fp) for _ in range(3))
        timings, info = {}, {}
        points = (sky.points_x, sky.points_y, sky.points_jy)
        components = getattr(sky, "gaussians", None)
        many = components is not None and len(components[0]) > MAX_DIRECT_GAUSSIANS
        pixels, info_gauss = None, None
        if not sky.box_integrated and np.any(sky.pixels):       # a pixel image: each pixel a point at its centre
            yy, xx = np.nonzero(sky.pixels)
            points = (np.concatenate([points[0], xx]), np.concatenate([points[1], yy]),
                      np.concatenate([points[2], sky.pixels[yy, xx]]))
        elif many and np.any(sky.pixels):
            # the Gaussians' stamps integrate each pixel: as points at the pixel centres their visibilities carry
            # the pixel box's transform, divided out below (as the fast imager does)
            yy, xx = np.nonzero(sky.pixels)
            pixels = (xx.astype(float), yy.astype(float), sky.pixels[yy, xx].astype(float))
            info_gauss = f"{len(components[0])} extended components predicted from their pixel image"
        for b in range(fp.n_beams):
            a = fp.attenuation(b) if self._has_pb else np.ones((fp.size, fp.size))
            cx, cy = fp.centres_xy[b]

            def response(x, y, cx=cx, cy=cy):       # the beam's primary beam at pixel coordinates x, y
                return fp.primary_beam(np.hypot(x - cx, y - cy) * self.grid.pixel_rad)
            gauss = tuple(components) if components is not None and not many else ()
            if gauss:
                g_att = fp.primary_beam(np.hypot(gauss[0] - cx, gauss[1] - cy) * self.grid.pixel_rad)
                gauss = (*gauss[:2], gauss[2] * g_att, *gauss[3:])
            t = time.perf_counter()
            vis = predict(self.grid, self.uvw_ms, self.freq_hz, *points, gauss, threads=self.threads, gain=response)
            if pixels is not None:
                vis += predict(self.grid, self.uvw_ms, self.freq_hz, *pixels, threads=self.threads,
                               gain=response) / self._pixel_box
            timings["predict"] = timings.get("predict", 0.0) + time.perf_counter() - t
            one = self._image_one(None, vis, rng, tag if fp.n_beams == 1 else f"{tag}-beam{b:02d}")
            for k, v in one.timings_s.items():
                timings[k] = timings.get(k, 0.0) + v
            info = one.info
            restored.add(b, one.restored, a)
            residual.add(b, one.residual, a)
            model.add(b, one.model, a)
        info = {**info, "n_beams": fp.n_beams, "beam_noise_jy": self.beam_noise_jy,
                **({"extended_predicted": info_gauss} if info_gauss else {})}
        return ImagedSky(restored.result().astype(np.float32), self.beam, residual.result().astype(np.float32),
                         one.psf, model.result().astype(np.float32), self.noise_rms_jy, "wsclean", timings, info,
                         noise_map=self.noise_map_jy)

    @property
    def _pixel_box(self) -> np.ndarray:
        """(rows, channels) transform of the pixel box at each visibility, sinc(u dl) sinc(v dm), held above
        its value at the pixel Nyquist limit (2 / pi) where the pixelised model no longer describes the sky."""
        if self._box is None:
            lam = self.uvw_ms[:, None, :2] * (self.freq_hz / SPEED_OF_LIGHT)[None, :, None]
            box = np.prod(np.sinc(np.clip(np.abs(lam) * self.grid.pixel_rad, 0.0, 0.5)), axis=-1)
            self._box = box
        return self._box

    def _image_one(self, sky: np.ndarray | None, vis: np.ndarray | None, rng: np.random.Generator,
                   tag: str) -> ImagedSky:
        """One beam: DATA = ``vis`` (rows, channels; or ``sky`` predicted by wsclean) + noise, imaged by wsclean."""
        from astropy.io import fits
        from casacore import tables

        timings = {}
        t = time.perf_counter()
        work = self.workdir / tag
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        ms_path = work / "obs.ms"
        shutil.copytree(self.template, ms_path)
        log = work / "wsclean.log"
        if sky is not None:
            header = self.grid.header(self.observation.frequency_hz, self.observation.bandwidth_hz)
            write_image_fits(work / "sky-model.fits", np.asarray(sky, dtype=np.float32), header)
        timings["ms"] = time.perf_counter() - t
        ok = False
        try:
            t = time.perf_counter()
            if sky is not None:
                run_logged([self.exe, "-predict", "-name", "sky", "-size", str(self.n), str(self.n), "-scale",
                            f"{self.pixel_arcsec:.10g}asec", "-j", str(self.threads), *self.extra_args,
                            str(ms_path)], log, work)
                timings["predict"] = time.perf_counter() - t
            t = time.perf_counter()
            with tables.table(str(ms_path), readonly=False, ack=False) as tab:
                if vis is None:
                    model = tab.getcol("MODEL_DATA")
                else:                                   # Stokes I: XX = YY = I
                    model = np.repeat(vis[:, :, None], 2, axis=2)
                noise = self.sigma_vis * (rng.standard_normal(model.shape) + 1j * rng.standard_normal(model.shape))
                tab.putcol("DATA", (model + noise).astype(np.complex64))
            timings["noise"] = time.perf_counter() - t
            t = time.perf_counter()
            run_logged([self.exe, "-name", "img", *self.image_args, str(ms_path)], log, work)
            timings["image"] = time.perf_counter() - t
            read = {}
            for part in ("image", "residual", "psf", "model"):
                path = work / f"img-{part}.fits"
                if not path.exists() and part == "residual":      # niter 0: no CLEAN, the residual is the dirty
                    path = work / "img-dirty.fits"
                if not path.exists() and part == "model":
                    read[part] = np.zeros((self.n, self.n), np.float32)
                    continue
                with fits.open(path) as h:
                    read[part] = np.asarray(h[0].data[0, 0], dtype=np.float32)
                    if part == "image":
                        hdr = h[0].header
            beam = Beam(hdr["BMAJ"] * 3600.0, hdr["BMIN"] * 3600.0, hdr["BPA"] % 180.0)
            self.beam = beam
            if self.restore == "linear" and np.any(read["model"]):
                # WSClean convolves the model with the restoring beam by a transform of the image's own size, so a
                # beam on one edge spills onto the opposite one; restored again here without wrapping round
                kernel = gaussian_beam_kernel(beam, self.pixel_arcsec)
                read["image"] = (convolve_same(read["model"].astype(np.float64), kernel)
                                 + read["residual"]).astype(np.float32)
            info = {"wsclean_version": self.version, "clean_iterations": int(hdr.get("WSCMINOR", -1)),
                    "major_cycles": int(hdr.get("WSCMAJOR", -1)), "sigma_vis_jy": self.sigma_vis}
            ok = True
            return ImagedSky(read["image"], beam, read["residual"], read["psf"], read["model"], self.beam_noise_jy,
                             "wsclean", timings, info)
        finally:
            if ok and not self.keep:
                shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        """Remove the template MS (and the work directory if it is empty) unless asked to keep them."""
        if not self.keep:
            shutil.rmtree(self.template, ignore_errors=True)
        release_workdir(self.workdir, self.keep)


def from_config(cfg, workdir=None) -> WscleanImager:
    im = cfg.imaging
    return WscleanImager(Grid.from_config(cfg.field), observation_of(cfg), **weighting_settings(im),
                         **external_settings(im, workdir), extra_args=im.wsclean_args, n_channels=im.n_channels,
                         auto_mask=im.auto_mask, footprint=footprint_settings(im),
                         survey_factor=cfg.tiles.sensitivity_factor, restore=im.wsclean_restore)
