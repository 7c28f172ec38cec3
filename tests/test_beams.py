"""PAF footprints, primary beams and the linear mosaic against analytic cases (radsim.instrument.beams), and
the fast imager's mosaic: sources attenuated by the model's value, noise maps as theory says."""
import math

import numpy as np
import pytest

from radsim.instrument import beams, telescope
from radsim.instrument.imaging import fast
from radsim.instrument.imaging.base import robust_rms
from radsim.sky.grid import Grid
from radsim.sky.render import Sky

F0 = 943.5e6


def _pairwise(offsets):
    d = np.hypot(*(offsets[:, None, :] - offsets[None, :, :]).transpose(2, 0, 1))
    return d + np.diag(np.full(len(offsets), np.inf))


def test_closepack36_is_a_triangular_grid_of_36_beams_at_the_pitch():
    pitch = math.radians(0.9)
    off = beams.footprint_offsets("closepack36", 0.9)
    assert off.shape == (36, 2)
    assert np.allclose(off.mean(axis=0), 0.0, atol=1e-12)
    d = _pairwise(off)
    assert d.min() == pytest.approx(pitch, rel=1e-12)
    neighbours = (np.abs(d - pitch) < 1e-9 * pitch).sum(axis=1)
    assert neighbours.max() == 6 and (neighbours == 6).sum() == 16     # the 4 x 4 interior: six neighbours each
    # rotation turns the pattern from north through east and keeps every distance
    rot = beams.footprint_offsets("closepack36", 0.9, 45.0)
    assert np.allclose(np.sort(_pairwise(rot).ravel()), np.sort(d.ravel()))
    pa = math.radians(45.0)
    east = off[:, 0] * math.cos(pa) + off[:, 1] * math.sin(pa)
    north = -off[:, 0] * math.sin(pa) + off[:, 1] * math.cos(pa)
    assert np.allclose(rot, np.stack([east, north], axis=1))


def test_square_footprints_and_single():
    off = beams.footprint_offsets("square_6x6", 1.0)
    assert off.shape == (36, 2)
    assert _pairwise(off).min() == pytest.approx(math.radians(1.0))
    assert np.ptp(off[:, 0]) == pytest.approx(math.radians(5.0))
    assert np.array_equal(beams.footprint_offsets("single", 0.9), np.zeros((1, 2)))
    with pytest.raises(beams.BeamsError, match="closepack30"):
        beams.footprint_offsets("closepack30", 0.9)


@pytest.mark.parametrize("model", ["gaussian", "airy"])
def test_primary_beam_half_power_at_half_the_fwhm(model):
    fwhm = beams.fwhm_rad(F0)
    assert math.degrees(fwhm) == pytest.approx(1.02 * 299792458.0 / F0 / 12.0 * 180 / math.pi)
    assert math.degrees(fwhm) == pytest.approx(1.55, abs=0.01)            # FACTS.md: about 1.55 deg
    assert beams.response(0.0, fwhm, model) == pytest.approx(1.0)
    assert beams.response(fwhm / 2, fwhm, model) == pytest.approx(0.5, abs=1e-6)
    if model == "airy":   # first null of (2 J1(x) / x)^2 at x = 3.8317
        assert beams.response(3.831706 / beams.AIRY_HALF_POWER_X * fwhm / 2, fwhm, model) < 1e-10


def test_band_averaged_beam_and_its_table():
    freqs = (800e6, 1088e6)
    pb = beams.PrimaryBeam("gaussian", freqs, (1.0, 3.0))
    r = np.linspace(0, math.radians(3.0), 1001)
    want = (beams.response(r, beams.fwhm_rad(800e6)) + 3 * beams.response(r, beams.fwhm_rad(1088e6))) / 4
    assert np.allclose(pb.exact(r), want, atol=1e-14)
    assert np.abs(pb(r) - want).max() < 1e-7
    assert pb.radius_at(0.2) == pytest.approx(r[np.flatnonzero(want >= 0.2)[-1]], abs=math.radians(0.01))


def test_linear_mosaic_of_white_noise_has_the_theoretical_noise_map():
    """Independent unit white noise in every beam image: the mosaic's rms is 1 / sqrt(sum A^2) pixel by pixel."""
    grid = Grid(187.5, -45.0, 96, 0.01)
    pb = beams.PrimaryBeam("gaussian", (F0,), (1.0,), fwhm_factor=0.25)     # FWHM 0.39 deg on a 0.96 deg field
    fp = beams.make_footprint(grid, "square_2x2", 0.3, 0.0, pb, cutoff=0.1)
    expected = beams.noise_map(fp.weight_sum(), 1.0)
    rng = np.random.default_rng(0)
    trials = 400
    stack = np.empty((trials, 96, 96))
    for t in range(trials):
        mosaic = beams.Mosaic(fp)
        for b in range(fp.n_beams):
            mosaic.add(b, rng.standard_normal((fp.size, fp.size)))
        stack[t] = mosaic.result()
    covered = np.isfinite(expected)
    ratio = stack.std(axis=0)[covered] / expected[covered]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)
    assert np.abs(ratio - 1).max() < 5 * math.sqrt(0.5 / trials) + 0.01          # sampling error of an rms
    # the cut-off: no beam contributes where its response is below 0.1
    assert np.all(stack[:, ~covered] == 0.0)


# ---- the fast imager's mosaic -------------------------------------------------------------------------------

OBS = telescope.Observation(187.5, -45.0, F0, 1e6, -4.0, 4.0, 600.0)
GRID = Grid(187.5, -45.0, 160, 7.0 / 3600)


def _imager(footprint, noise=0.0, niter=0, pb="gaussian", factor=0.15, **kw):
    return fast.FastImager(GRID, OBS, weighting="briggs", taper_arcsec=10.0, noise_rms_jy=noise,
                           clean=fast.CleanSettings(niter=niter, threshold_sigma=1.0, auto_mask=5.0, psf_patch=12),
                           footprint={"name": footprint, "pitch_deg": 0.1, "primary_beam": pb, "fwhm_factor": factor,
                                      "cutoff": 0.1}, **kw)


def test_a_source_off_the_beam_centre_is_attenuated_by_the_model_then_corrected():
    """One beam, FWHM 0.23 deg: a 1 Jy point 0.1 deg east appears in the beam image with the primary beam's
    value at its position, and at 1 Jy/beam in the primary-beam-corrected image."""
    im = _imager("single")
    x0, y0 = GRID.lm_to_pixel(math.radians(0.1), math.radians(0.02))
    x0, y0 = float(np.rint(x0)), float(np.rint(y0))          # on a pixel centre: the peak is sampled
    sky = Sky(np.zeros((160, 160), np.float32), np.array([x0], np.float32), np.array([y0], np.float32),
              np.array([1.0], np.float32), np.zeros((160, 160), np.float32))
    (b, a, restored, residual, model, info), = im.beam_images(im.observed(sky), np.random.default_rng(0), {})
    cx, cy = im.footprint.centres_xy[0]
    expected = float(im.footprint.primary_beam(math.hypot(x0 - cx, y0 - cy) * GRID.pixel_rad))
    assert 0.2 < expected < 0.8
    assert restored[int(y0), int(x0)] == pytest.approx(expected, rel=2e-3)
    mosaic = im.image(sky, np.random.default_rng(0)).restored
    assert mosaic[int(y0), int(x0)] == pytest.approx(1.0, rel=2e-3)


def test_fast_mosaic_noise_matches_its_noise_map():
    """A 2 x 2 footprint on pure noise: the restored mosaic's local rms follows the noise map (within 10%) and the
    survey rms (the median over the surveyed area) is the one asked for."""
    im = _imager("square_2x2", noise=30e-6, niter=1000, survey_factor=1.5)
    area = beams.survey_area(im.weight_sum, 1.5)
    assert np.median(im.noise_map_jy[area]) == pytest.approx(30e-6, rel=1e-6)
    rng = np.random.default_rng(3)
    images = np.stack([im.image(np.zeros((160, 160), np.float32), rng).restored for _ in range(12)])
    boxes = 20
    ok = 0
    for y in range(0, 160, boxes):
        for x in range(0, 160, boxes):
            sel = (slice(None), slice(y, y + boxes), slice(x, x + boxes))
            if not area[sel[1:]].all():
                continue
            ratio = images[sel].std() / float(np.mean(im.noise_map_jy[sel[1:]]))
            assert ratio == pytest.approx(1.0, abs=0.1), (y, x)
            ok += 1
    assert ok >= 16
    assert robust_rms(images[:, area].ravel(), 1) == pytest.approx(30e-6, rel=0.05)
