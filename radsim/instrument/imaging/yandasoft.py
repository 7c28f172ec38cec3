"""The ``yandasoft`` backend: ASKAP's own software (Yandasoft: ``csimulator`` and ``imager``), run directly or
inside an Apptainer image (``$RADSIM_IMAGE``).

Per sky and per PAF beam (radsim.instrument.beams), in a work directory ``<tag>-beamNN`` (``<tag>`` for one
beam): the sky model as ``sky-model.fits`` (the band-limited sky of radsim.sky.render times that beam's
primary beam, Jy/pixel; axes RA, Dec, Stokes, Freq as Yandasoft reads a model), an antenna definition from
ASKAP's pads, a ``csimulator`` parset (one feed at the beam's offset, ``feeds.spacing = 1deg``, offsets in hour
angle and declination as linmos reads them; one spectral window, one scan over the hour-angle range,
W-projection, thermal noise of the per-visibility sigma for the beam's noise, seeded) and an ``imager`` parset
(image name, shape, cell size, the field centre as direction, W-projection, Hogbom Clean with the config's
iterations, gain and thresholds, Wiener preconditioning for the weighting, restore with a fitted beam). The
imager is started under MPI with ``imaging.yandasoft_ranks`` ranks (it refuses a serial run and still exits 0):
``mpirun -np N`` unless ``$RADSIM_YANDASOFT_LAUNCHER`` gives another launcher (e.g. ``srun -n {ranks}``), inside
the container when there is one; every program's log is checked for FATAL lines, whatever its exit status.
radsim mosaics the beams as for the other backends, and writes ``linmos.in`` beside them: Yandasoft's own
linear mosaic of the same images (weighttype FromPrimaryBeamModel, GaussianPB with aperture 12 m and
fwhmscaling = imaging.pb_fwhm_factor, cutoff on the weights = pb_cutoff^2) for those who run it.

Beams: Yandasoft's Wiener robustness and our Briggs robust are different filters, so for the same robust the
beams differ (13.9" x 13.2" against fast's 16.6" x 15.2" on quickstart, FACTS.md). The imager parset therefore
asks for the restoring beam itself: ``preconditioner.GaussianTaper = [bmaj, bmin, pa]`` of the beam the
configured weighting and taper give (radsim's weights, as for fast and WSClean) with
``preconditioner.GaussianTaper.isPsfSize = true`` (Yandasoft then tapers until the fitted PSF has that size,
within ``tolerance``; ASKAP's own pipeline sets EMU's beam this way). Weighting: natural -> no Wiener filter;
briggs R -> Wiener robustness R; uniform -> Wiener robustness -2. Parset keys follow Yandasoft's documentation
and its regression-test parsets.
"""
from __future__ import annotations

import math
import os
import shlex
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from radsim.instrument import beams, telescope
from radsim.instrument.imaging.base import (SPEED_OF_LIGHT, Beam, ImagedSky, ImagingError, external_observation_setup,
                                            external_settings, footprint_settings, observation_of, release_workdir,
                                            restoring_beam_for, run_logged, weighting_settings)
from radsim.sky.grid import Grid, write_image_fits
from radsim.sky.render import Sky

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
                      noise_sigma_jy=0.0, seeds=(1, 2), n_channels=1, wmax=20000.0, nwplanes=129,
                      feed="feed0", feed_offset_deg=(0.0, 0.0)) -> str:
    """The csimulator parset (keys prefixed Csimulator.); ``feed_offset_deg`` (hour angle, declination) of the
    beam from the field centre."""
    width_mhz = observation.bandwidth_hz / n_channels / 1e6
    first_mhz = observation.frequency_hz / 1e6 - (n_channels - 1) / 2.0 * width_mhz
    p = {
        "dataset": dataset,
        "sources.names": "[radsim]",
        "sources.radsim.direction": direction(observation.ra_deg, observation.dec_deg),
        "sources.radsim.model": model,
        "imagetype": "fits",
        "antennas.definition": antennas,
        "feeds.names": f"[{feed}]",
        "feeds.spacing": "1deg",
        f"feeds.{feed}": f"[{feed_offset_deg[0]:.6f}, {feed_offset_deg[1]:.6f}]",
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
                  nwplanes=129, target_beam: Beam | None = None, restoring_beam: Beam | None = None) -> str:
    """The imager parset (keys prefixed Cimager.). With ``target_beam`` the Gaussian taper is the restoring beam
    asked for (``isPsfSize``, module docstring) instead of ``taper_arcsec``. ``restoring_beam``: the beam the
    components are restored with (None: Yandasoft's fit to its PSF)."""
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
    if target_beam is not None:
        names.append("GaussianTaper")
        p["preconditioner.GaussianTaper"] = (f"[{target_beam.bmaj_arcsec:.3f}arcsec, "
                                             f"{target_beam.bmin_arcsec:.3f}arcsec, "
                                             f"{target_beam.bpa_deg:.2f}deg]")
        p["preconditioner.GaussianTaper.isPsfSize"] = "true"
        p["preconditioner.GaussianTaper.tolerance"] = "0.005"
    elif taper_arcsec:
        names.append("GaussianTaper")
        p["preconditioner.GaussianTaper"] = f"[{taper_arcsec:g}arcsec, {taper_arcsec:g}arcsec, 0deg]"
    p["preconditioner.Names"] = f"[{', '.join(names)}]"
    p["restore"] = "true"
    p["restore.beam"] = "fit" if restoring_beam is None else (
        f"[{restoring_beam.bmaj_arcsec:.3f}arcsec, {restoring_beam.bmin_arcsec:.3f}arcsec, "
        f"{restoring_beam.bpa_deg:.2f}deg]")
    return "".join(f"Cimager.{k} = {v}\n" for k, v in p.items())


def feed_offsets_deg(offsets_lm_rad: np.ndarray) -> np.ndarray:
    """Beam offsets (l east, m north; rad) as Yandasoft's feeds take them: (hour angle, declination) in degrees,
    the hour angle growing westwards (linmos documentation: "offsets correspond to hour angle and
    declination")."""
    return np.degrees(np.stack([-offsets_lm_rad[:, 0], offsets_lm_rad[:, 1]], axis=1))


def linmos_parset(names, offsets_deg, centre: str, *, outname="image.radsim.mosaic.restored",
                  outweight="weights.radsim.mosaic", fwhm_factor=1.02, aperture_m=12.0, cutoff=0.2,
                  offsetsfile="footprint.in") -> tuple[str, str]:
    """Yandasoft's linmos parset for the beam images ``names`` (keys prefixed linmos.) and its feed-offsets file
    (``offsetsfile``; linmos matches ``feeds.names`` to the images in order): weights from its Gaussian
    primary-beam model (its fwhmscaling defaults to 1.09: set to ours), beam centres from the feed offsets
    (hour angle, declination; degrees), and the cut-off on the weights (primary beam squared)."""
    feeds = [f"beam{b:02d}" for b in range(len(names))]
    p = {"names": f"[{', '.join(names)}]", "imagetype": "fits", "outname": outname, "outweight": outweight,
         "weighttype": "FromPrimaryBeamModel", "weightstate": "Inherent",
         "primarybeam": "GaussianPB", "primarybeam.GaussianPB.aperture": f"{aperture_m:g}",
         "primarybeam.GaussianPB.fwhmscaling": f"{fwhm_factor:g}", "cutoff": f"{cutoff ** 2:.6g}",
         "feeds.centre": centre.replace(", J2000", ""), "feeds.offsetsfile": offsetsfile,
         "feeds.names": f"[{', '.join(feeds)}]"}
    offsets = {"feeds.spacing": "1deg",
               **{f"feeds.{f}": f"[{x:.6f}, {y:.6f}]" for f, (x, y) in zip(feeds, offsets_deg)}}
    return ("".join(f"linmos.{k} = {v}\n" for k, v in p.items()),
            "".join(f"{k} = {v}\n" for k, v in offsets.items()))


FATAL_MARKS = ("FATAL", "can only be run as a parallel MPI job", "MPI_ABORT")


def check_log(log: Path, program: str, start: int = 0) -> None:
    """Raise with the offending lines when the part of ``log`` after byte ``start`` reports a fatal error: Yandasoft's
    programs may exit with status 0 after one (FACTS.md: a serial imager aborts and still exits 0)."""
    with open(log, "rb") as fh:
        fh.seek(start)
        text = fh.read().decode(errors="replace")
    bad = [line.strip() for line in text.splitlines() if any(mark in line for mark in FATAL_MARKS)]
    if bad:
        raise ImagingError(f"Yandasoft's {program} failed (exit status 0 notwithstanding); log kept at {log}:\n"
                           + "\n".join(bad[:10]))


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

    def command(self, program: str, parset: str, work: Path, ranks: int = 1) -> list[str]:
        """The argument list that runs ``program -c parset`` in ``work``; with ``ranks`` > 1 under the MPI launcher
        (``$RADSIM_YANDASOFT_LAUNCHER``, a template with ``{ranks}``, default ``mpirun -np {ranks}``; inside the
        container when there is one)."""
        launch = []
        if ranks > 1:
            template = os.environ.get("RADSIM_YANDASOFT_LAUNCHER", "mpirun -np {ranks}")
            launch = shlex.split(template.format(ranks=ranks))
        if self.image:
            return [self.apptainer, "exec", "--bind", f"{work}:{work}", "--pwd", str(work), self.image,
                    *launch, program, "-c", parset]
        return [*launch, shutil.which(program) or program, "-c", parset]


class YandasoftImager:
    name = "yandasoft"
    observes_points = True          # image() takes a radsim.sky.render.Sky

    def __init__(self, grid, observation: telescope.Observation, *, weighting="briggs", robust=0.0,
                 taper_arcsec=None, super_weight=1.0, noise_rms_jy=None, system_temperature_k=None,
                 aperture_efficiency=0.8, niter=100_000, gain=0.1, mgain=0.8, auto_threshold=3.0,
                 workdir=None, keep=False, runner: YandasoftRunner | None = None, ranks: int = 2,
                 footprint: dict | None = None, survey_factor: float = 1.25, restoring_beam="fitted"):
        t0 = time.perf_counter()
        self.runner = runner or YandasoftRunner()
        self.ranks = ranks
        self.grid = grid
        self.n = grid.npix
        self.observation = observation
        self.keep = keep
        self.workdir = Path(workdir).resolve() if workdir else Path(tempfile.mkdtemp(prefix="radsim-yandasoft-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        uvw = observation.uvw_m()                     # refuses a field below the elevation limit
        wavelength = SPEED_OF_LIGHT / observation.frequency_hz
        fp = dict(footprint or {})
        pb_model = fp.pop("primary_beam", "none")
        self.fwhm_factor = fp.pop("fwhm_factor", 1.02)
        pb = beams.PrimaryBeam(pb_model, (observation.frequency_hz,), (1.0,), observation.dish_diameter_m,
                               self.fwhm_factor)
        self.footprint = beams.make_footprint(grid, primary_beam=pb, whole_field=True, **fp)
        self.offsets_deg = feed_offsets_deg(beams.footprint_offsets(fp.get("name", "single"), fp.get("pitch_deg", 0.9),
                                                                    fp.get("rotation_deg", 0.0)))
        self._has_pb = pb_model != "none"
        self.weight_sum = self.footprint.weight_sum()
        if noise_rms_jy is not None and system_temperature_k is None:
            beam_rms = beams.beam_noise_for(self.weight_sum, float(noise_rms_jy), survey_factor)
        else:
            beam_rms = noise_rms_jy
        self.expected_beam, self.sigma_vis, self.beam_noise_jy = external_observation_setup(
            grid, observation, uvw, weighting=weighting, robust=robust, taper_arcsec=taper_arcsec,
            super_weight=super_weight, noise_rms_jy=beam_rms, system_temperature_k=system_temperature_k,
            aperture_efficiency=aperture_efficiency)
        noise_map = beams.noise_map(self.weight_sum, self.beam_noise_jy)
        self.noise_rms_jy = float(np.median(noise_map[beams.survey_area(self.weight_sum, survey_factor)]))
        self.noise_map_jy = noise_map.astype(np.float32) if self._has_pb or self.footprint.n_beams > 1 else None
        self.wmax = float(math.ceil(np.abs(uvw[..., 2]).max() / wavelength / 1000.0) * 1000.0)
        self.antennas = antenna_definition(observation)
        self.imager_parset = imager_parset(grid, observation, weighting=weighting, robust=robust,
                                           taper_arcsec=taper_arcsec, niter=niter, gain=gain, mgain=mgain,
                                           threshold_jy=auto_threshold * self.beam_noise_jy, wmax=self.wmax,
                                           target_beam=self.expected_beam if weighting != "natural" or taper_arcsec
                                           else None,
                                           restoring_beam=restoring_beam_for(restoring_beam, self.expected_beam))
        self.setup_s = time.perf_counter() - t0
        self.beam = None

    def parsets(self, seeds=(1, 2), beam: int = 0) -> dict[str, str]:
        """The files written for one beam of one sky (name -> text)."""
        return {"antennas.in": self.antennas,
                "sim.in": csimulator_parset(self.observation, noise_sigma_jy=self.sigma_vis, seeds=seeds,
                                            wmax=self.wmax, feed=f"beam{beam:02d}",
                                            feed_offset_deg=tuple(self.offsets_deg[beam])),
                "clean.in": self.imager_parset}

    def linmos(self, tag: str = "sky") -> tuple[str, str]:
        """linmos.in and its footprint.in for the beam images of one sky (Yandasoft's own linear mosaic of them,
        run in the work directory)."""
        fp = self.footprint
        names = [f"{self._beam_dir(tag, b)}/{IMAGE_NAME}.restored" for b in range(fp.n_beams)]
        return linmos_parset(names, self.offsets_deg, direction(self.observation.ra_deg, self.observation.dec_deg),
                             fwhm_factor=self.fwhm_factor, cutoff=fp.cutoff)

    def _beam_dir(self, tag: str, b: int) -> str:
        return tag if self.footprint.n_beams == 1 else f"{tag}-beam{b:02d}"

    def image(self, sky, rng: np.random.Generator, tag: str = "sky") -> ImagedSky:
        """Image a sky (a :class:`radsim.sky.render.Sky`, or a pixel image in Jy/pixel): every beam simulated and
        imaged by Yandasoft, then the linear mosaic (module docstring)."""
        observed = sky.band_limited() if isinstance(sky, Sky) else np.asarray(sky, dtype=np.float64)
        fp = self.footprint
        restored, residual = beams.Mosaic(fp), beams.Mosaic(fp)
        timings, info = {}, {}
        linmos_in, footprint_in = self.linmos(tag)
        self.workdir.joinpath(f"{tag}-linmos.in").write_text(linmos_in.replace("footprint.in", f"{tag}-footprint.in"))
        self.workdir.joinpath(f"{tag}-footprint.in").write_text(footprint_in)
        for b in range(fp.n_beams):
            a = fp.attenuation(b) if self._has_pb else np.ones((self.n, self.n))
            one = self._image_one(observed * a, rng, self._beam_dir(tag, b), b)
            for k, v in one.timings_s.items():
                timings[k] = timings.get(k, 0.0) + v
            info = one.info
            restored.add(b, one.restored, a)
            residual.add(b, one.residual, a)
        if not self.keep:
            for name in (f"{tag}-linmos.in", f"{tag}-footprint.in"):
                self.workdir.joinpath(name).unlink(missing_ok=True)
        return ImagedSky(restored.result().astype(np.float32), self.beam, residual.result().astype(np.float32),
                         one.psf, None, self.noise_rms_jy, "yandasoft", timings,
                         {**info, "n_beams": fp.n_beams, "beam_noise_jy": self.beam_noise_jy},
                         noise_map=self.noise_map_jy)

    def _image_one(self, model: np.ndarray, rng: np.random.Generator, tag: str, beam: int) -> ImagedSky:
        from astropy.io import fits

        timings = {}
        work = self.workdir / tag
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        seeds = rng.integers(1, 2**31 - 1, size=2)
        for name, text in self.parsets(tuple(seeds), beam).items():
            (work / name).write_text(text)
        write_image_fits(work / "sky-model.fits", np.asarray(model, dtype=np.float32),
                         model_header(self.grid, self.observation.frequency_hz, self.observation.bandwidth_hz))
        log = work / "yandasoft.log"
        ok = False
        try:
            for program, parset, ranks in (("csimulator", "sim.in", 1), ("imager", "clean.in", self.ranks)):
                t = time.perf_counter()
                start = log.stat().st_size if log.exists() else 0
                run_logged(self.runner.command(program, parset, work, ranks), log, work)
                check_log(log, program, start)
                timings[program] = time.perf_counter() - t
            name = IMAGE_NAME.removeprefix("image.")
            found = {}
            for part, candidates in (("restored", [f"{IMAGE_NAME}.restored.fits"]),
                                     ("residual", [f"residual.{name}.fits"]),
                                     ("psf", [f"psf.image.{name}.fits", f"psf.{name}.fits"])):
                path = next((work / c for c in candidates if (work / c).exists()), None)
                if path is None:
                    raise ImagingError(f"Yandasoft's imager wrote no {candidates[0]} in {work} and reported no "
                                       f"FATAL error; log kept at {log}")
                with fits.open(path) as h:
                    found[part] = np.asarray(np.squeeze(h[0].data), dtype=np.float32)
                    if part == "restored":
                        hdr = h[0].header
            beam = Beam(hdr["BMAJ"] * 3600.0, hdr["BMIN"] * 3600.0, hdr["BPA"] % 180.0)
            self.beam = beam
            ok = True
            return ImagedSky(found["restored"], beam, found["residual"], found["psf"], None, self.beam_noise_jy,
                             "yandasoft", timings, {"sigma_vis_jy": self.sigma_vis, "container": self.runner.image,
                                                    "mpi_ranks": self.ranks})
        finally:
            if ok and not self.keep:
                shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        release_workdir(self.workdir, self.keep)


def from_config(cfg, workdir=None) -> YandasoftImager:
    im = cfg.imaging
    return YandasoftImager(Grid.from_config(cfg.field), observation_of(cfg), **weighting_settings(im),
                           **external_settings(im, workdir), ranks=im.yandasoft_ranks,
                           footprint=footprint_settings(im), survey_factor=cfg.tiles.sensitivity_factor)
