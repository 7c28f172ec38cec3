"""The P(D) baseline (radsim.baseline.fit, `radsim pofd`) on real datasets made by `radsim simulate`: it reads the
seed law's counts back from sky-model images, runs through the fast imager's dirty and clean beams, and refuses
what it does not model."""
import json
import math

import numpy as np
import pytest

from conftest import TINY, toml_dumps
from radsim import config
from radsim.baseline import pofd
from radsim.baseline import fit as pofd_fit
from radsim.instrument.imaging import Beam
from radsim.instrument.imaging.none import gaussian_beam_kernel


def test_subpixel_responses_keep_the_flux_and_lower_the_peak():
    pixel_sr = math.radians(7.03 / 3600) ** 2
    kernel = gaussian_beam_kernel(Beam(15.0, 15.0), 7.03)
    part = pofd_fit.subpixel_part(kernel, pixel_sr, offsets=4)
    # cloud-in-cell moves flux between pixels, never creates or loses it
    assert np.sum(part.values * part.solid_angle_sr) == pytest.approx(kernel.sum() * pixel_sr, rel=1e-9)
    assert np.sum(part.solid_angle_sr) == pytest.approx(kernel.size * pixel_sr, rel=1e-9)
    # a source between pixel centres peaks below 1: the brightest response is 7/8 of the beam's peak plus 1/8 of
    # its value one pixel away, along each axis (the source 1/8 pixel from a centre)
    s = 15.0 / 7.03 / math.sqrt(8 * math.log(2))
    e1 = math.exp(-1 / (2 * s * s))
    assert part.values.max() == pytest.approx((7 / 8 + e1 / 8) ** 2, rel=1e-6)


def test_backends_without_a_kept_psf_are_refused():
    cfg = config.from_dict({**TINY, "imaging": {"backend": "wsclean"}})
    with pytest.raises(ValueError, match="'none' and 'fast'.*'wsclean'"):
        pofd_fit.instrument(cfg, imager=None)


@pytest.fixture(scope="module")
def sky_models(tmp_path_factory):
    """Two 0.5 deg skies of sky models (15 arcsec beam, no noise), sources from 10 nJy as in emu-seed: the seed
    law with alpha = +0.25 and -0.4 (S0 = 50 uJy), both in the test split."""
    from conftest import radsim_exe
    import subprocess
    tmp = tmp_path_factory.mktemp("pofd")
    d = json.loads(json.dumps(TINY))
    d["field"].update(npix=256)
    d["sources"]["flux_min_jy"] = 1e-8
    d["tiles"]["size"] = 128
    d["run"]["seed"] = 11
    d["imaging"] = {"backend": "none", "beam_arcsec": 15.0}
    d["dataset"] = {"train_fraction": 0.0, "validation_fraction": 0.0, "test_fraction": 1.0}
    d["realisations"] = {"mode": "list", "sets": [{"s0_jy": 5e-5, "alpha": 0.25}, {"s0_jy": 5e-5, "alpha": -0.4}]}
    (tmp / "cfg.toml").write_text(toml_dumps(d))
    proc = subprocess.run(radsim_exe() + ["simulate", str(tmp / "cfg.toml"), "--out", str(tmp / "ds")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return tmp


def test_pofd_reads_the_seed_law_back_from_sky_models(sky_models, run_radsim):
    out = sky_models / "pofd"
    proc = run_radsim("pofd", sky_models / "ds", "--out", out)
    assert "P(D) baseline on the test split" in proc.stdout and (out / "dy.png").stat().st_size > 10_000
    m = json.loads((out / "pofd.json").read_text())
    assert m["method"] == "pofd" and m["backend"] == "none" and m["n_skies"] == 2
    skies = {s["modifier"]["alpha"]: s for s in m["skies"]}
    for alpha, sky in skies.items():
        assert sky["success"]
        assert sky["fit"]["alpha"] == pytest.approx(alpha, abs=0.15)
        true, pred = np.array(sky["true"]), np.array(sky["pred"])
        # the labels are the sources drawn; the fitted model's integral matches them where P(D) sees them
        assert np.all(np.abs(pred[-2:] / true[-2:] - 1) < 0.15)
    # and the two skies' faint counts, about 40x apart in truth, are told apart
    ratio_true = skies[0.25]["true"][0] / skies[-0.4]["true"][0]
    ratio_pred = skies[0.25]["pred"][0] / skies[-0.4]["pred"][0]
    assert ratio_true > 30 and ratio_pred > 0.5 * ratio_true
    # dy and relative errors are those of the skies' counts
    true = np.array([s["true"] for s in m["skies"]])
    pred = np.array([s["pred"] for s in m["skies"]])
    assert np.allclose(m["per_sky"]["relative_error"]["mean"], ((pred - true) / true).mean(axis=0))
    assert np.allclose(m["per_sky"]["dy"]["mean"], ((pred - true) / true.mean(axis=1, keepdims=True)).mean(axis=0))


def test_pofd_on_restored_images_models_clean_and_fits_the_noise(train_dataset, run_radsim, tmp_path):
    proc = run_radsim("pofd", train_dataset, "--out", tmp_path / "pofd")
    m = json.loads((tmp_path / "pofd" / "pofd.json").read_text())
    assert m["backend"] == "fast" and m["n_skies"] >= 1
    cfg = config.from_dict(json.loads((train_dataset / "manifest.json").read_text())["config"])
    noise = cfg.imaging.noise_rms_jy
    for sky in m["skies"]:
        # CLEAN's level: auto_threshold x the image's robust rms, never below auto_threshold x the noise
        assert sky["clean_level_jy"] >= cfg.imaging.auto_threshold * noise * (1 - 1e-9)
        assert 0.5 * noise <= sky["fit"]["noise_sigma"] <= pofd_fit.NOISE_MAX * noise
        assert np.all(np.isfinite(sky["pred"])) and np.all(np.array(sky["pred"]) > 0)
    assert "noise" in proc.stdout


def test_pofd_names_a_missing_split(train_dataset, run_radsim, tmp_path):
    proc = run_radsim("pofd", train_dataset, "--split", "nonsense", "--out", tmp_path / "x", check=False)
    assert proc.returncode == 2 and "nonsense split holds no skies" in proc.stderr
    proc = run_radsim("pofd", tmp_path / "nothing", "--out", tmp_path / "x", check=False)
    assert proc.returncode == 2 and "cannot open the dataset" in proc.stderr


def test_seed_law_counts_match_the_realisations_expectation(sky_models):
    """The baseline's counts of the true parameters equal what radsim expected for the sky (the tiles'
    `expected`, summed): the same model integral over the same solid angle."""
    from radsim.dataset import reader
    ds = reader.Dataset(sky_models / "ds")
    cfg = config.from_dict(ds.manifest["config"])
    t = ds.load("test")
    rows = t["realisation"] == 0
    pixel_sr = math.radians(cfg.field.pixel_deg) ** 2
    omega = rows.sum() * ds.tile_size ** 2 * pixel_sr
    got = pofd_fit.seed_law_counts(cfg, {"log10_s0": math.log10(5e-5), "alpha": 0.25}, ds.bin_edges_jy, omega)
    assert np.allclose(got, t["expected"][rows].sum(axis=0), rtol=2e-3)
    assert isinstance(pofd.BeamPart, type)
