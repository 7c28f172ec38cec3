"""The ``wsclean`` backend: a simulated ASKAP Measurement Set, imaged by the real WSClean.

Per observation (once): UVW and times, a template Measurement Set (radsim.instrument.ms), the WSClean version.
Per sky, in a work directory: copy the template MS; write the sky model as ``sky-model.fits`` (Jy/pixel);
``wsclean -predict`` fills MODEL_DATA; DATA = MODEL_DATA + seeded complex Gaussian noise of the per-visibility
sigma that gives the requested image rms (or the radiometer-equation sigma); ``wsclean`` images and cleans
DATA (size, scale, weighting, taper, niter, gain, mgain, auto-threshold from the config); the restored image,
residual, PSF and model are read back, the beam from the restored image's header.

External programs are run with argument lists; their output goes to a log next to the products, and a
failure raises with the tail of the log (the log is kept). The MS and logs are deleted after each sky unless
``keep`` is set.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from radsim.instrument import ms as ms_mod
from radsim.instrument import telescope
from radsim.instrument.imaging.base import (Beam, ImagedSky, ImagingError, external_observation_setup,
                                            external_settings, observation_of, release_workdir, run_logged,
                                            weighting_settings)
from radsim.sky.grid import Grid, write_image_fits

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




class WscleanImager:
    name = "wsclean"

    def __init__(self, grid, observation: telescope.Observation, *, weighting="briggs", robust=0.0,
                 taper_arcsec=None, super_weight=1.0, noise_rms_jy=None, system_temperature_k=None,
                 aperture_efficiency=0.8, niter=100_000, gain=0.1, mgain=0.8, auto_threshold=3.0,
                 workdir=None, keep=False, threads=1, n_channels=1, extra_args=()):
        t0 = time.perf_counter()
        self.exe = wsclean_executable()
        self.version = wsclean_version(self.exe)
        self.grid = grid
        self.n = grid.npix
        self.pixel_arcsec = grid.pixel_deg * 3600.0
        self.observation = observation
        self.keep = keep
        self.threads = threads
        self.n_channels = n_channels
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="radsim-wsclean-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        uvw = observation.uvw_m()
        times = observation.times_mjd()
        self.n_rows = uvw.shape[0] * uvw.shape[1]
        self.template = self.workdir / "template.ms"
        if self.template.exists():
            shutil.rmtree(self.template)
        ms_mod.write_ms(self.template, observation, uvw, times, n_channels)
        self.expected_beam, self.sigma_vis, self.noise_rms_jy = external_observation_setup(
            grid, observation, uvw, weighting=weighting, robust=robust, taper_arcsec=taper_arcsec,
            super_weight=super_weight, noise_rms_jy=noise_rms_jy, system_temperature_k=system_temperature_k,
            aperture_efficiency=aperture_efficiency, n_channels=n_channels)
        weight_args = {"natural": ["-weight", "natural"], "uniform": ["-weight", "uniform"],
                       "briggs": ["-weight", "briggs", f"{robust:g}"]}[weighting]
        self.image_args = [
            "-size", str(self.n), str(self.n), "-scale", f"{self.pixel_arcsec:.10g}asec", *weight_args,
            "-super-weight", f"{super_weight:g}", "-niter", str(niter), "-gain", f"{gain:g}",
            "-mgain", f"{mgain:g}", "-auto-threshold", f"{auto_threshold:g}", "-data-column", "DATA",
            "-pol", "I", "-make-psf", "-no-update-model-required", "-j", str(threads)]
        if taper_arcsec:
            self.image_args += ["-taper-gaussian", f"{taper_arcsec:g}asec"]
        self.extra_args = [str(a) for a in extra_args]     # passed to both wsclean runs (e.g. -nwlayers 1)
        self.image_args += self.extra_args
        self.setup_s = time.perf_counter() - t0
        self.beam = None

    def image(self, sky: np.ndarray, rng: np.random.Generator, tag: str = "sky") -> ImagedSky:
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
        header = self.grid.header(self.observation.frequency_hz, self.observation.bandwidth_hz)
        write_image_fits(work / "sky-model.fits", np.asarray(sky, dtype=np.float32), header)
        timings["ms"] = time.perf_counter() - t
        ok = False
        try:
            t = time.perf_counter()
            run_logged([self.exe, "-predict", "-name", "sky", "-size", str(self.n), str(self.n), "-scale",
                        f"{self.pixel_arcsec:.10g}asec", "-j", str(self.threads), *self.extra_args, str(ms_path)],
                       log, work)
            timings["predict"] = time.perf_counter() - t
            t = time.perf_counter()
            with tables.table(str(ms_path), readonly=False, ack=False) as tab:
                model = tab.getcol("MODEL_DATA")
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
            info = {"wsclean_version": self.version, "clean_iterations": int(hdr.get("WSCMINOR", -1)),
                    "major_cycles": int(hdr.get("WSCMAJOR", -1)), "sigma_vis_jy": self.sigma_vis}
            ok = True
            return ImagedSky(read["image"], beam, read["residual"], read["psf"], read["model"], self.noise_rms_jy,
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
                         **external_settings(im, workdir), extra_args=im.wsclean_args)
