"""The yandasoft backend: golden parsets, their content against the configuration, clear errors, and an
integration run where Yandasoft is installed (it is not on these machines: Apptainer cannot run here)."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from radsim.instrument import telescope as T
from radsim.sky.grid import Grid
from radsim.instrument.imaging import yandasoft as Y
from radsim.instrument.imaging.fast import ImagingError

GOLDEN = Path(__file__).parent / "golden" / "yandasoft"
OBS = T.Observation(187.5, -45.0, 943.5e6, 288e6, integration_s=300)
GRID = Grid(187.5, -45.0, 2560, 5.0 / 2560)


EMU_BEAM = Y.Beam(15.97, 14.85, 90.13)


def generated():
    wmax = Y.wmax_wavelengths(OBS)
    offsets = Y.feed_offsets_deg(Y.beams.footprint_offsets("closepack36", 0.9, 45.0))
    out = {
        "antennas.in": Y.antenna_definition(OBS),
        "sim.in": Y.csimulator_parset(OBS, noise_sigma_jy=0.0123, seeds=(11, 22), wmax=wmax, feed="beam07",
                                      feed_offset_deg=tuple(offsets[7])),
        "clean.in": Y.imager_parset(GRID, OBS, weighting="briggs", robust=0.0, niter=100000, gain=0.1, mgain=0.8,
                                    threshold_jy=75e-6, wmax=wmax, target_beam=EMU_BEAM),
    }
    out["linmos.in"], out["footprint.in"] = Y.linmos_parset(
        [f"sky-beam{b:02d}/image.radsim.restored" for b in range(36)], offsets, Y.direction(187.5, -45.0),
        fwhm_factor=1.02, cutoff=0.2)
    return out


def parse(text):
    return dict(line.split(" = ", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("name", ["antennas.in", "sim.in", "clean.in", "linmos.in", "footprint.in"])
def test_parsets_match_the_golden_files(name):
    assert generated()[name] == (GOLDEN / name).read_text()


def test_csimulator_parset_content():
    p = parse(generated()["sim.in"])
    for key in ("dataset", "sources.names", "sources.radsim.direction", "sources.radsim.model", "antennas.definition",
                "feeds.names", "feeds.spacing", "feeds.beam07", "spws.names", "spws.radsim",
                "simulation.integrationtime",
                "simulation.usehourangles", "simulation.referencetime", "simulation.elevationlimit", "observe.number",
                "observe.scan0", "gridder", "gridder.WProject.wmax", "gridder.WProject.nwplanes",
                "gridder.WProject.oversample", "gridder.WProject.maxsupport", "noise", "noise.rms", "noise.seed1",
                "noise.seed2", "corrupt"):
        assert f"Csimulator.{key}" in p, key
    assert p["Csimulator.observe.scan0"] == "[radsim, radsim, -4h, 4h]"
    assert p["Csimulator.spws.radsim"] == '[1, 943.500000MHz, 288.000000MHz, "XX YY"]'
    assert 15000 <= float(p["Csimulator.gridder.WProject.wmax"]) <= 22000     # ASKAP at 944 MHz: w < 20 klambda
    assert "noise.rms" not in parse(Y.csimulator_parset(OBS, noise_sigma_jy=0.0))


def test_imager_parset_content():
    p = parse(generated()["clean.in"])
    assert p["Cimager.Images.shape"] == "[2560, 2560]"
    assert p["Cimager.Images.cellsize"] == "[7.03125arcsec, 7.03125arcsec]"
    assert p["Cimager.Images.Names"] == "[image.radsim]"
    assert p["Cimager.preconditioner.Names"] == "[Wiener, GaussianTaper]"
    # the restoring beam is asked for (isPsfSize), not Yandasoft's reading of our taper and robust
    assert p["Cimager.preconditioner.GaussianTaper"] == "[15.970arcsec, 14.850arcsec, 90.13deg]"
    assert p["Cimager.preconditioner.GaussianTaper.isPsfSize"] == "true"
    assert float(p["Cimager.preconditioner.GaussianTaper.tolerance"]) <= 0.01
    assert p["Cimager.threshold.minorcycle"] == "[20%, 0.075mJy]"
    assert p["Cimager.restore.beam"] == "fit" and p["Cimager.solver"] == "Clean"
    natural = parse(Y.imager_parset(GRID, OBS, weighting="natural"))
    assert natural["Cimager.preconditioner.Names"] == "[]" and "Cimager.preconditioner.Wiener.robustness" not in natural
    uniform = parse(Y.imager_parset(GRID, OBS, weighting="uniform"))
    assert uniform["Cimager.preconditioner.Wiener.robustness"] == "-2"
    # imaging.restoring_beam other than 'fitted': the components restored with that beam (restore.beam takes a
    # quantity vector [maj, min, pa] in place of 'fit')
    fixed = parse(Y.imager_parset(GRID, OBS, target_beam=EMU_BEAM, restoring_beam=Y.Beam(16.0, 15.0, 30.0)))
    assert fixed["Cimager.restore.beam"] == "[16.000arcsec, 15.000arcsec, 30.00deg]"


def test_restoring_beam_setting_reaches_the_parset(tmp_path):
    from radsim.instrument.imaging.base import restoring_beam_for
    beam = Y.Beam(15.97, 14.85, 90.13)
    assert restoring_beam_for("fitted", beam) is None
    assert restoring_beam_for("radsim", beam) is beam
    assert restoring_beam_for((16.0, 15.0, 30.0), beam) == Y.Beam(16.0, 15.0, 30.0)
    grid = Grid(187.5, -45.0, 128, 4.0 / 3600)
    # the parsets are made at construction; nothing is run (runner: any object)
    im = Y.YandasoftImager(grid, OBS, noise_rms_jy=25e-6, workdir=tmp_path, restoring_beam="radsim", runner=object())
    b = im.expected_beam
    assert parse(im.imager_parset)["Cimager.restore.beam"] == (f"[{b.bmaj_arcsec:.3f}arcsec, {b.bmin_arcsec:.3f}"
                                                                f"arcsec, {b.bpa_deg:.2f}deg]")


def test_feed_offsets_follow_the_footprint():
    """closepack36 at 0.9 deg: 36 feeds, neighbours 0.9 deg apart, hour angle growing westwards (minus l)."""
    lm = Y.beams.footprint_offsets("closepack36", 0.9, 45.0)
    off = Y.feed_offsets_deg(lm)
    assert off.shape == (36, 2)
    assert np.allclose(off[:, 0], -np.degrees(lm[:, 0])) and np.allclose(off[:, 1], np.degrees(lm[:, 1]))
    d = np.hypot(*(off[:, None] - off[None]).transpose(2, 0, 1)) + np.eye(36) * 9
    assert d.min() == pytest.approx(0.9)
    p = parse(generated()["sim.in"])
    x, y = (float(v) for v in p["Csimulator.feeds.beam07"].strip("[]").split(","))
    assert (x, y) == pytest.approx(tuple(off[7]), abs=1e-6)
    assert p["Csimulator.feeds.names"] == "[beam07]" and p["Csimulator.feeds.spacing"] == "1deg"


def test_linmos_parset_follows_yandasoft_documentation():
    """Keys and values as linmos documents them: weights from the Gaussian primary-beam model (its default
    fwhmscaling is 1.09, ours 1.02), beam centres from feed offsets in the spacing's units, the cut-off on the
    weights (primary beam squared)."""
    p = parse(generated()["linmos.in"])
    assert p["linmos.weighttype"] == "FromPrimaryBeamModel" and p["linmos.weightstate"] == "Inherent"
    assert p["linmos.primarybeam"] == "GaussianPB"
    assert p["linmos.primarybeam.GaussianPB.aperture"] == "12"
    assert p["linmos.primarybeam.GaussianPB.fwhmscaling"] == "1.02"
    assert float(p["linmos.cutoff"]) == pytest.approx(0.04)
    assert p["linmos.feeds.centre"] == "[12h30m00.000, -45.00.00.000]"
    names = p["linmos.names"].strip("[]").split(", ")
    feeds = p["linmos.feeds.names"].strip("[]").split(", ")
    offsets = parse(generated()["footprint.in"])
    assert offsets["feeds.spacing"] == "1deg" and p["linmos.feeds.offsetsfile"] == "footprint.in"
    assert len(names) == len(feeds) == 36 and all(f"feeds.{f}" in offsets for f in feeds)


def test_fatal_lines_fail_the_run_whatever_the_exit_status(tmp_path):
    """Yandasoft 1.0.1's imager run serially prints this and exits 0 (FACTS.md, "Yandasoft as run")."""
    log = tmp_path / "yandasoft.log"
    log.write_text("INFO  csimulator finished\n")
    start = log.stat().st_size
    Y.check_log(log, "csimulator")                                    # a clean log passes
    with open(log, "a") as fh:
        fh.write("FATAL askap.imager (0, host) [2026-12-01] - This imager can only be run as a parallel MPI job "
                 "('comms_p.isParallel()' failed)\nMPI_ABORT was invoked on rank 0\n")
    with pytest.raises(ImagingError, match="(?s)imager failed .exit status 0 notwithstanding.*parallel MPI job"):
        Y.check_log(log, "imager", start)


def test_imager_runs_under_mpi(monkeypatch, tmp_path):
    """The imager is launched with 2 ranks by mpirun, or by the launcher asked for; csimulator runs serially."""
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    for prog in ("csimulator", "imager"):
        (tmp_path / prog).write_text("#!/bin/sh\nexit 0\n")
        (tmp_path / prog).chmod(0o755)
    runner = Y.YandasoftRunner(image="")
    assert runner.command("imager", "clean.in", tmp_path, 2)[:3] == ["mpirun", "-np", "2"]
    assert runner.command("csimulator", "sim.in", tmp_path)[0].endswith("csimulator")
    monkeypatch.setenv("RADSIM_YANDASOFT_LAUNCHER", "srun --mpi=pmix -n {ranks}")
    assert runner.command("imager", "clean.in", tmp_path, 4)[:4] == ["srun", "--mpi=pmix", "-n", "4"]


def test_directions_round_trip():
    from astropy.coordinates import Angle
    for ra, dec in ((187.5, -45.0), (0.1234567, 12.3456789), (359.99, -0.5)):
        assert Angle(Y.hms(ra), unit="hourangle").degree == pytest.approx(ra, abs=1e-5)
        sign, rest = Y.dms_dots(dec)[0], Y.dms_dots(dec)[1:]
        d, m, s = rest.split(".", 2)
        assert (1 if sign == "+" else -1) * (int(d) + int(m) / 60 + float(s) / 3600) == pytest.approx(dec, abs=1e-6)


def test_antenna_definition_holds_every_pad():
    p = parse(generated()["antennas.in"])
    assert p["antennas.ASKAP.coordinates"] == "global" and p["antennas.ASKAP.diameter"] == "12m"
    for i, name in enumerate(T.ASKAP_PAD_NAMES):
        xyz = [float(v) for v in p[f"antennas.ASKAP.{name}"].strip("[]").split(",")]
        assert xyz == pytest.approx(T.ASKAP_PADS_ITRF_M[i], abs=1e-6)


def test_model_image_axes_in_yandasoft_order():
    h = Y.model_header(GRID, 943.5e6, 288e6)
    assert [h[f"CTYPE{i}"] for i in range(1, 5)] == ["RA---SIN", "DEC--SIN", "STOKES", "FREQ"]
    assert h["CRVAL4"] == 943.5e6 and h["BUNIT"] == "JY/PIXEL"


def test_missing_yandasoft_names_the_container(monkeypatch, tmp_path):
    monkeypatch.delenv("RADSIM_IMAGE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImagingError, match="RADSIM_IMAGE"):
        Y.YandasoftRunner()


def test_container_without_apptainer_is_refused(monkeypatch, tmp_path):
    image = tmp_path / "radsim.sif"
    image.write_bytes(b"not really an image")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImagingError, match="neither apptainer nor singularity"):
        Y.YandasoftRunner(str(image))


def test_runner_command_through_apptainer(monkeypatch, tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    exe = fake_bin / "apptainer"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    image = tmp_path / "radsim.sif"
    image.write_bytes(b"x")
    monkeypatch.setenv("PATH", str(fake_bin))
    cmd = Y.YandasoftRunner(str(image)).command("imager", "clean.in", tmp_path / "work")
    assert cmd == [str(exe), "exec", "--bind", f"{tmp_path / 'work'}:{tmp_path / 'work'}", "--pwd",
                   str(tmp_path / "work"), str(image), "imager", "-c", "clean.in"]


@pytest.mark.skipif(shutil.which("csimulator") is None or shutil.which("imager") is None,
                    reason="Yandasoft (csimulator, imager) is not on PATH: it is not packaged for Debian and runs "
                           "inside the radsim Apptainer image, which cannot run on these machines")
def test_point_source_through_yandasoft(tmp_path):
    grid = Grid(187.5, -45.0, 256, 4.0 / 3600)
    obs = T.Observation(187.5, -45.0, 944e6, 288e6, integration_s=600)
    im = Y.YandasoftImager(grid, obs, noise_rms_jy=0.0, workdir=tmp_path)
    sky = np.zeros((256, 256), np.float32)
    sky[128, 128] = 2e-3
    r = im.image(sky, np.random.default_rng(0))
    assert r.restored[128, 128] == pytest.approx(2e-3, rel=0.02)
    assert 8 < r.beam.bmin_arcsec <= r.beam.bmaj_arcsec < 16
