"""The ``yandasoft`` backend: ASKAP's own software (Yandasoft: ``csimulator`` and ``imager``), run directly or
inside an Apptainer image (``$RADSIM_IMAGE``).

Per sky, in a work directory: the sky model as ``sky-model.fits`` (Jy/pixel; axes RA, Dec, Stokes, Freq as
Yandasoft reads a model), an antenna definition from ASKAP's pads, a ``csimulator`` parset (one feed, one
spectral window, one scan over the hour-angle range, W-projection, thermal noise of the per-visibility sigma
for the requested image rms, seeded) and an ``imager`` parset (image name, shape, cell size, direction,
W-projection, Hogbom Clean with the config's iterations, gain and thresholds, Wiener preconditioning for the
weighting, an optional Gaussian taper, restore with a fitted beam). Parset keys follow Yandasoft's
documentation and its regression-test parsets. The restored image, residual and PSF are read back.

Weighting: natural -> no preconditioner; briggs R -> Wiener robustness R; uniform -> Wiener robustness -2.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from radsim.instrument import telescope
from radsim.instrument.imaging.base import (SPEED_OF_LIGHT, Beam, ImagedSky, ImagingError, external_observation_setup,
                                            external_settings, observation_of, release_workdir, run_logged,
                                            weighting_settings)
from radsim.sky.grid import Grid, write_image_fits

IMAGE_NAME = "image.radsim"
INSTALL_HINT = ("Yandasoft is not installed here: run inside the radsim Apptainer image (set RADSIM_IMAGE to the "
                ".sif file, see containers/README.md), put csimulator and imager on PATH, or choose "
                "imaging.backend = 'fast' or 'wsclean'")


def hms(ra_deg: float) -> str:
    """Right ascension as Yandasoft writes it: 12h30m00.000."""
    total = (ra_deg % 360.0) / 15.0 * 3600.0
    h, rem = divmod(round(total, 3), 3600.0)
    m, s = divmod(rem, 60.0)
    return f"{int(h):02d}h{int(m):02d}m{s:06.3f}"


def dms_dots(dec_deg: float) -> str:
    """Declination as Yandasoft writes it: -45.00.00.000."""
    sign = "-" if dec_deg < 0 else "+"
    total = round(abs(dec_deg) * 3600.0, 3)
    d, rem = divmod(total, 3600.0)
    m, s = divmod(rem, 60.0)
    return f"{sign}{int(d):02d}.{int(m):02d}.{s:06.3f}"


def direction(ra_deg: float, dec_deg: float) -> str:
    return f"[{hms(ra_deg)}, {dms_dots(dec_deg)}, J2000]"


def mjd_to_yandasoft_date(mjd: float) -> str:
    from astropy.time import Time
    t = Time(mjd, format="mjd", scale="utc").datetime
    return t.strftime("%Y%b%d")


def antenna_definition(observation, telescope_name: str = "ASKAP", names=None) -> str:
    """An antenna definition file: global (ITRF) pad coordinates, 12 m dishes, equatorial mounts."""
    names = names or telescope.ASKAP_PAD_NAMES[:observation.n_antennas]
    lines = [f"antennas.telescope = {telescope_name}",
             f"antennas.{telescope_name}.coordinates = global",
             f"antennas.{telescope_name}.names = [{', '.join(names)}]",
             f"antennas.{telescope_name}.diameter = {observation.dish_diameter_m:g}m",
             f"antennas.{telescope_name}.scale = 1.0",
             f"antennas.{telescope_name}.mount = equatorial"]
    for name, (x, y, z) in zip(names, np.asarray(observation.positions_itrf_m)):
        lines.append(f"antennas.{telescope_name}.{name} = [{x:.6f}, {y:.6f}, {z:.6f}]")
    return "\n".join(lines) + "\n"


def wmax_wavelengths(observation) -> float:
    """Largest |w| of the observation in wavelengths, rounded up to 1000."""
    w = np.abs(observation.uvw_m()[..., 2]).max() * observation.frequency_hz / SPEED_OF_LIGHT
    return float(math.ceil(w / 1000.0) * 1000.0)


def csimulator_parset(observation, *, dataset="obs.ms", model="sky-model", antennas="antennas.in",
                      noise_sigma_jy=0.0, seeds=(1, 2), n_channels=1, wmax=20000.0, nwplanes=129) -> str:
    """The csimulator parset (keys prefixed Csimulator.)."""
    width_mhz = observation.bandwidth_hz / n_channels / 1e6
    first_mhz = observation.frequency_hz / 1e6 - (n_channels - 1) / 2.0 * width_mhz
    p = {
        "dataset": dataset,
        "sources.names": "[radsim]",
        "sources.radsim.direction": direction(observation.ra_deg, observation.dec_deg),
        "sources.radsim.model": model,
        "imagetype": "fits",
        "antennas.definition": antennas,
        "feeds.names": "[feed0]",
        "feeds.feed0": "[0.0, 0.0]",
        "spws.names": "[radsim]",
        "spws.radsim": f'[{n_channels}, {first_mhz:.6f}MHz, {width_mhz:.6f}MHz, "XX YY"]',
        "simulation.blockage": "0.01",
        "simulation.elevationlimit": f"{observation.elevation_limit_deg:g}deg",
        "simulation.autocorrwt": "0.0",
        "simulation.integrationtime": f"{observation.integration_s:g}s",
        "simulation.usehourangles": "True",
        "simulation.referencetime": f"[{mjd_to_yandasoft_date(observation.date_mjd)}, UTC]",
        "observe.number": "1",
        "observe.scan0": f"[radsim, radsim, {observation.ha_start_h:g}h, {observation.ha_end_h:g}h]",
        "gridder": "WProject",
        "gridder.WProject.wmax": f"{wmax:g}",
        "gridder.WProject.nwplanes": str(nwplanes),
        "gridder.WProject.oversample": "4",
        "gridder.WProject.maxsupport": "1024",
        "noise": "true" if noise_sigma_jy > 0 else "false",
        "corrupt": "false",
    }
    if noise_sigma_jy > 0:
        p["noise.rms"] = f"{noise_sigma_jy:.8g}"
        p["noise.seed1"] = str(int(seeds[0]))
        p["noise.seed2"] = str(int(seeds[1]))
    return "".join(f"Csimulator.{k} = {v}\n" for k, v in p.items())


def imager_parset(grid, observation, *, dataset="obs.ms", weighting="briggs", robust=0.0, taper_arcsec=None,
                  niter=100_000, gain=0.1, mgain=0.8, threshold_jy=0.0, ncycles=10, wmax=20000.0,
                  nwplanes=129) -> str:
    """The imager parset (keys prefixed Cimager.)."""
    cell = f"{grid.pixel_deg * 3600.0:.10g}arcsec"
    f = f"{observation.frequency_hz:.10g}"
    threshold = f"{threshold_jy * 1e3:.6g}mJy"
    p = {
        "dataset": dataset,
        "imagetype": "fits",
        "Images.Names": f"[{IMAGE_NAME}]",
        "Images.shape": f"[{grid.npix}, {grid.npix}]",
        "Images.cellsize": f"[{cell}, {cell}]",
        f"Images.{IMAGE_NAME}.frequency": f"[{f}, {f}]",
        f"Images.{IMAGE_NAME}.nchan": "1",
        f"Images.{IMAGE_NAME}.direction": direction(observation.ra_deg, observation.dec_deg),
        "gridder": "WProject",
        "gridder.WProject.wmax": f"{wmax:g}",
        "gridder.WProject.nwplanes": str(nwplanes),
        "gridder.WProject.oversample": "4",
        "gridder.WProject.maxsupport": "1024",
        "gridder.snapshotimaging": "false",
        "solver": "Clean",
        "solver.Clean.algorithm": "Hogbom",
        "solver.Clean.niter": str(niter),
        "solver.Clean.gain": f"{gain:g}",
        "solver.Clean.scales": "[0]",
        "solver.Clean.verbose": "false",
        "threshold.minorcycle": f"[{100.0 * (1.0 - mgain):g}%, {threshold}]",
        "threshold.majorcycle": threshold,
        "ncycles": str(ncycles),
    }
    names = []
    if weighting in ("briggs", "uniform"):
        names.append("Wiener")
        p["preconditioner.Wiener.robustness"] = f"{robust if weighting == 'briggs' else -2.0:g}"
    if taper_arcsec:
        names.append("GaussianTaper")
        p["preconditioner.GaussianTaper"] = f"[{taper_arcsec:g}arcsec, {taper_arcsec:g}arcsec, 0deg]"
    p["preconditioner.Names"] = f"[{', '.join(names)}]"
    p["restore"] = "true"
    p["restore.beam"] = "fit"
    return "".join(f"Cimager.{k} = {v}\n" for k, v in p.items())


def model_header(grid, frequency_hz: float, bandwidth_hz: float):
    """The sky-model header with the axes in Yandasoft's order: RA, Dec, Stokes, Freq."""
    h = grid.header(frequency_hz, bandwidth_hz)
    for key in ("CTYPE", "CRVAL", "CDELT", "CRPIX", "CUNIT"):
        h[f"{key}3"], h[f"{key}4"] = h[f"{key}4"], h[f"{key}3"]
    return h


class YandasoftRunner:
    """How Yandasoft's programs are started: directly, or through ``apptainer exec IMAGE`` (the work directory
    bound into the container)."""

    def __init__(self, image: str | None = None):
        self.image = image if image is not None else os.environ.get("RADSIM_IMAGE") or None
        if self.image:
            self.apptainer = shutil.which("apptainer") or shutil.which("singularity")
            if not self.apptainer:
                raise ImagingError(f"RADSIM_IMAGE={self.image} is set but neither apptainer nor singularity is on "
                                   "PATH; load your cluster's apptainer module, or unset RADSIM_IMAGE")
            if not Path(self.image).is_file():
                raise ImagingError(f"RADSIM_IMAGE={self.image}: no such container image")
        else:
            missing = [p for p in ("csimulator", "imager") if shutil.which(p) is None]
            if missing:
                raise ImagingError(f"imaging.backend = 'yandasoft' but {', '.join(missing)} not found on PATH. "
                                   f"{INSTALL_HINT}")

    def command(self, program: str, parset: str, work: Path) -> list[str]:
        if self.image:
            return [self.apptainer, "exec", "--bind", f"{work}:{work}", "--pwd", str(work), self.image,
                    program, "-c", parset]
        return [shutil.which(program), "-c", parset]


class YandasoftImager:
    name = "yandasoft"

    def __init__(self, grid, observation: telescope.Observation, *, weighting="briggs", robust=0.0,
                 taper_arcsec=None, super_weight=1.0, noise_rms_jy=None, system_temperature_k=None,
                 aperture_efficiency=0.8, niter=100_000, gain=0.1, mgain=0.8, auto_threshold=3.0,
                 workdir=None, keep=False, runner: YandasoftRunner | None = None):
        t0 = time.perf_counter()
        self.runner = runner or YandasoftRunner()
        self.grid = grid
        self.n = grid.npix
        self.observation = observation
        self.keep = keep
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="radsim-yandasoft-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        uvw = observation.uvw_m()                     # refuses a field below the elevation limit
        wavelength = SPEED_OF_LIGHT / observation.frequency_hz
        self.expected_beam, self.sigma_vis, self.noise_rms_jy = external_observation_setup(
            grid, observation, uvw, weighting=weighting, robust=robust, taper_arcsec=taper_arcsec,
            super_weight=super_weight, noise_rms_jy=noise_rms_jy, system_temperature_k=system_temperature_k,
            aperture_efficiency=aperture_efficiency)
        self.wmax = float(math.ceil(np.abs(uvw[..., 2]).max() / wavelength / 1000.0) * 1000.0)
        self.antennas = antenna_definition(observation)
        self.imager_parset = imager_parset(grid, observation, weighting=weighting, robust=robust,
                                           taper_arcsec=taper_arcsec, niter=niter, gain=gain, mgain=mgain,
                                           threshold_jy=auto_threshold * self.noise_rms_jy, wmax=self.wmax)
        self.setup_s = time.perf_counter() - t0
        self.beam = None

    def parsets(self, seeds=(1, 2)) -> dict[str, str]:
        """The files written for one sky (name -> text)."""
        return {"antennas.in": self.antennas,
                "sim.in": csimulator_parset(self.observation, noise_sigma_jy=self.sigma_vis, seeds=seeds,
                                            wmax=self.wmax),
                "clean.in": self.imager_parset}

    def image(self, sky: np.ndarray, rng: np.random.Generator, tag: str = "sky") -> ImagedSky:
        from astropy.io import fits

        timings = {}
        work = self.workdir / tag
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        seeds = rng.integers(1, 2**31 - 1, size=2)
        for name, text in self.parsets(tuple(seeds)).items():
            (work / name).write_text(text)
        write_image_fits(work / "sky-model.fits", np.asarray(sky, dtype=np.float32),
                                  model_header(self.grid, self.observation.frequency_hz,
                                               self.observation.bandwidth_hz))
        log = work / "yandasoft.log"
        ok = False
        try:
            t = time.perf_counter()
            run_logged(self.runner.command("csimulator", "sim.in", work), log, work)
            timings["csimulator"] = time.perf_counter() - t
            t = time.perf_counter()
            run_logged(self.runner.command("imager", "clean.in", work), log, work)
            timings["imager"] = time.perf_counter() - t
            name = IMAGE_NAME.removeprefix("image.")
            found = {}
            for part, candidates in (("restored", [f"{IMAGE_NAME}.restored.fits"]),
                                     ("residual", [f"residual.{name}.fits"]),
                                     ("psf", [f"psf.image.{name}.fits", f"psf.{name}.fits"])):
                path = next((work / c for c in candidates if (work / c).exists()), None)
                if path is None:
                    raise ImagingError(f"Yandasoft's imager wrote no {candidates[0]} in {work}; log kept at {log}")
                with fits.open(path) as h:
                    found[part] = np.asarray(np.squeeze(h[0].data), dtype=np.float32)
                    if part == "restored":
                        hdr = h[0].header
            beam = Beam(hdr["BMAJ"] * 3600.0, hdr["BMIN"] * 3600.0, hdr["BPA"] % 180.0)
            self.beam = beam
            ok = True
            return ImagedSky(found["restored"], beam, found["residual"], found["psf"], None, self.noise_rms_jy,
                             "yandasoft", timings, {"sigma_vis_jy": self.sigma_vis, "container": self.runner.image})
        finally:
            if ok and not self.keep:
                shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        release_workdir(self.workdir, self.keep)


def from_config(cfg, workdir=None) -> YandasoftImager:
    im = cfg.imaging
    return YandasoftImager(Grid.from_config(cfg.field), observation_of(cfg), **weighting_settings(im),
                         **external_settings(im, workdir))
