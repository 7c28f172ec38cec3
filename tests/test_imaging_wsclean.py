"""The wsclean backend with the real WSClean on a real Measurement Set, and the fast imager against it."""
import os
import shutil

import numpy as np
import pytest

from radsim.instrument import ms as ms_mod
from radsim.instrument import telescope as T
from radsim.sky.grid import Grid
from radsim.instrument.imaging import fast
from radsim.instrument.imaging.fast import ImagingError

HAVE_WSCLEAN = shutil.which("wsclean") is not None
if not HAVE_WSCLEAN and os.environ.get("CI"):
    raise RuntimeError("CI must run the WSClean tests: scripts/setup.sh installs Debian's wsclean")
pytestmark = pytest.mark.skipif(not HAVE_WSCLEAN, reason="WSClean is not installed (scripts/setup.sh installs "
                                                          "Debian's wsclean when run as root)")

OBS = T.Observation(187.5, -45.0, 944e6, 288e6, integration_s=600)


def wsclean(grid, tmp_path, **kw):
    from radsim.instrument.imaging.wsclean import WscleanImager
    return WscleanImager(grid, OBS, workdir=tmp_path / "work", **kw)


def test_measurement_set_layout(tmp_path):
    from casacore import tables
    uvw = OBS.uvw_m()
    ms_mod.write_ms(tmp_path / "a.ms", OBS, uvw, OBS.times_mjd(), n_channels=4)
    with tables.table(str(tmp_path / "a.ms"), ack=False) as t:
        assert t.nrows() == uvw.shape[0] * 630
        assert np.allclose(t.getcol("UVW"), uvw.reshape(-1, 3))
        assert t.getcol("DATA").shape == (t.nrows(), 4, 2)
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        assert np.all(a1 < a2) and a2.max() == 35
    for sub, rows in (("ANTENNA", 36), ("SPECTRAL_WINDOW", 1), ("POLARIZATION", 1), ("DATA_DESCRIPTION", 1),
                      ("FIELD", 1), ("OBSERVATION", 1), ("FEED", 36)):
        with tables.table(str(tmp_path / "a.ms" / sub), ack=False) as t:
            assert t.nrows() == rows, sub
    with tables.table(str(tmp_path / "a.ms" / "SPECTRAL_WINDOW"), ack=False) as t:
        f = t.getcell("CHAN_FREQ", 0)
        assert f.mean() == pytest.approx(944e6) and np.diff(f) == pytest.approx([72e6] * 3)


def test_point_source_restored_peak_and_beam(tmp_path):
    grid = Grid(187.5, -45.0, 256, 4.0 / 3600)
    im = wsclean(grid, tmp_path, noise_rms_jy=0.0)
    sky = np.zeros((256, 256), np.float32)
    sky[128, 128] = 2e-3
    r = im.image(sky, np.random.default_rng(0))
    assert r.restored[128, 128] == pytest.approx(2e-3, rel=0.02)
    assert r.units == "JY/BEAM" and r.info["wsclean_version"].startswith("WSClean version")
    # the fitted beam is the PSF's main lobe
    from radsim.instrument.imaging.none import gaussian_beam_kernel
    k = gaussian_beam_kernel(r.beam, 4.0, half_size=20)
    p = r.psf[128 - 20:128 + 21, 128 - 20:128 + 21]
    lobe = p > 0.5
    assert np.abs(k[lobe] - p[lobe]).max() < 0.05
    im.close()
    assert not (tmp_path / "work").exists()


def test_fast_matches_wsclean_beam_and_psf(tmp_path):
    """Briggs 0 (the default): fitted beams within 5%, PSF main-lobe region correlation > 0.99."""
    grid = Grid(187.5, -45.0, 256, 4.0 / 3600)
    ws = wsclean(grid, tmp_path, noise_rms_jy=0.0, niter=0).image(np.zeros((256, 256), np.float32),
                                                                  np.random.default_rng(0))
    fa = fast.FastImager(grid, OBS, noise_rms_jy=0.0)
    assert fa.beam.bmaj_arcsec == pytest.approx(ws.beam.bmaj_arcsec, rel=0.05)
    assert fa.beam.bmin_arcsec == pytest.approx(ws.beam.bmin_arcsec, rel=0.05)
    c, r = 128, 5
    region = (slice(c - r, c + r + 1), slice(c - r, c + r + 1))
    assert np.corrcoef(fa.psf[region].ravel(), ws.psf[region].ravel())[0, 1] > 0.99


def test_fast_matches_wsclean_dirty_image_of_a_random_sky(tmp_path):
    """A random 1 deg^2 sky from the counts model, dirty images (no CLEAN, no noise), natural weighting, pixels
    fine enough for the longest baselines. Like for like (WSClean without w-correction, which the fast imager
    leaves out by design, and with its accurate edge mode) the correlation exceeds 0.99; against WSClean's
    default w-corrected imaging the w-term costs about 0.02 over a degree."""
    from radsim.sky import catalogue as C
    from radsim.sky import counts
    from radsim.sky import render as sky
    grid = Grid(187.5, -45.0, 1024, 1.0 / 1024)
    model = counts.CountsModel(counts.BUILTIN, 944e6)
    image = sky.render(C.draw(model, grid, 1e-6, 1e-2, np.random.SeedSequence(5)), grid)
    fa = fast.FastImager(grid, OBS, weighting="natural", noise_rms_jy=0.0,
                         clean=fast.CleanSettings(niter=0)).image(image, np.random.default_rng(0))
    like = wsclean(grid, tmp_path, weighting="natural", noise_rms_jy=0.0, niter=0,
                   extra_args=["-nwlayers", "1", "-no-small-inversion", "-padding", "1.5"])
    ws = like.image(image, np.random.default_rng(0))
    assert np.corrcoef(fa.restored.ravel(), ws.restored.ravel())[0, 1] > 0.99
    assert np.corrcoef(fa.psf.ravel(), ws.psf.ravel())[0, 1] > 0.99
    default = wsclean(grid, tmp_path, weighting="natural", noise_rms_jy=0.0, niter=0).image(
        image, np.random.default_rng(0))
    assert np.corrcoef(fa.restored.ravel(), default.restored.ravel())[0, 1] > 0.97


def test_noise_rms_matches_the_request(tmp_path):
    grid = Grid(187.5, -45.0, 256, 4.0 / 3600)
    im = wsclean(grid, tmp_path, weighting="natural", noise_rms_jy=40e-6, niter=0)
    r = im.image(np.zeros((256, 256), np.float32), np.random.default_rng(3))
    assert r.restored.std() == pytest.approx(40e-6, rel=0.05)


def test_failing_wsclean_raises_with_the_log_tail(tmp_path):
    from casacore import tables
    grid = Grid(187.5, -45.0, 128, 4.0 / 3600)
    im = wsclean(grid, tmp_path, noise_rms_jy=0.0)
    with tables.table(str(im.template / "OBSERVATION"), readonly=False, ack=False) as t:
        t.removerows([0])                       # WSClean refuses a set without observations
    with pytest.raises(ImagingError, match="wsclean failed with exit status") as exc:
        im.image(np.zeros((128, 128), np.float32), np.random.default_rng(0))
    assert "No observations in set" in str(exc.value)
    assert (tmp_path / "work" / "sky" / "wsclean.log").exists()


def test_missing_wsclean_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("RADSIM_WSCLEAN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImagingError, match="apt-get install wsclean"):
        wsclean(Grid(187.5, -45.0, 128, 4.0 / 3600), tmp_path)


def test_realise_with_wsclean(tmp_path, run_radsim, write_config, tiny_dict):
    import h5py
    import json
    tiny_dict["field"].update({"npix": 128, "size_deg": 128 * 5.0 / 3600})
    tiny_dict["imaging"] = {"backend": "wsclean", "integration_s": 900.0, "keep_ms": True}
    out = tmp_path / "ws"
    proc = run_radsim("realise", write_config(tiny_dict), "--out", out, "--no-catalogue")
    assert "imaging wsclean: beam" in proc.stdout
    assert {"restored.fits", "residual.fits", "psf.fits"} <= {p.name for p in out.iterdir()}
    assert (out / "imaging" / "sky" / "wsclean.log").exists() and (out / "imaging" / "sky" / "obs.ms").is_dir()
    with h5py.File(out / "tiles.h5") as f:
        assert json.loads(f.attrs["imaging_info"])["wsclean_version"].startswith("WSClean version 3")


def test_undersampled_beam_is_refused_before_any_work(tmp_path):
    coarse = Grid(187.5, -45.0, 64, 8.0 / 3600)
    with pytest.raises(ImagingError, match="fewer than 2 pixels"):
        wsclean(coarse, tmp_path, weighting="uniform")
