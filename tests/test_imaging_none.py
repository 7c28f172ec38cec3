"""The `none` backend against analytic cases: point-source peak, flux scale, beam shape, no wrap-around."""
import numpy as np
import pytest

from radsim.instrument.imaging import Beam
from radsim.instrument.imaging import none

PIX = 2.0   # arcsec


def test_without_beam_the_sky_is_returned():
    sky = np.random.default_rng(0).random((32, 32))
    out = none.image(sky, PIX)
    assert out.beam is None and out.units == "JY/PIXEL" and np.allclose(out.restored, sky)


def test_point_source_peak_equals_its_flux():
    sky = np.zeros((128, 128))
    sky[60, 70] = 3e-3
    out = none.image(sky, PIX, Beam(15.0, 11.0, 30.0))
    assert out.units == "JY/BEAM"
    assert out.restored.max() == pytest.approx(3e-3, rel=1e-6) and np.unravel_index(out.restored.argmax(),
                                                                                     sky.shape) == (60, 70)


def test_flux_scale_on_an_extended_source():
    # a Gaussian sky source of 5 mJy, FWHM 20 arcsec: integrated flux = sum(image) / beam area in pixels
    y, x = np.mgrid[:256, :256]
    s = 20.0 / PIX / np.sqrt(8 * np.log(2))
    blob = np.exp(-0.5 * ((x - 128) ** 2 + (y - 120) ** 2) / s ** 2)
    sky = 5e-3 * blob / blob.sum()
    beam = Beam(12.0, 12.0)
    out = none.image(sky, PIX, beam)
    assert out.restored.sum(dtype=np.float64) / beam.area_pixels(PIX) == pytest.approx(5e-3, rel=1e-4)
    # peak of a Gaussian source convolved with a Gaussian beam: S * bmaj^2 / (bmaj^2 + fwhm^2)
    assert out.restored.max() == pytest.approx(5e-3 * 12 ** 2 / (12 ** 2 + 20 ** 2), rel=2e-3)


def test_beam_orientation_and_width():
    k = none.gaussian_beam_kernel(Beam(20.0, 8.0, 0.0), PIX)
    c = k.shape[0] // 2
    # PA 0: major axis north-south (along y); half maximum at FWHM/2 = 5 pixels
    assert k[c + 5, c] == pytest.approx(0.5, rel=1e-9) and k[c, c + 2] == pytest.approx(0.5, rel=1e-9)
    k90 = none.gaussian_beam_kernel(Beam(20.0, 8.0, 90.0), PIX)
    assert k90[c, c - 5] == pytest.approx(0.5, rel=1e-9) and k90[c + 2, c] == pytest.approx(0.5, rel=1e-9)


def test_no_wrap_around():
    sky = np.zeros((64, 64))
    sky[0, 0] = 1.0
    out = none.image(sky, PIX, Beam(10.0, 10.0))
    # circular convolution would put ~0.8 of the peak on the far corner; round-off is ~1e-15
    assert np.abs(out.restored[-12:, -12:]).max() < 1e-9 and out.restored[0, 0] == pytest.approx(1.0, rel=1e-6)


def test_undersampled_beam_is_refused():
    with pytest.raises(ValueError, match="fewer than 2 pixels"):
        none.image(np.zeros((16, 16)), 7.0, Beam(10.0, 10.0))


def test_with_a_footprint_the_sky_model_is_what_the_mosaic_covers(tiny_dict):
    """Primary beams and a footprint: the sky model (convolved with the beam) where a beam reaches the cut-off, 0
    beyond; and the same tiles as the fast imager of the same configuration, each with no noise."""
    from radsim import config
    from radsim.instrument.imaging.base import build_imager
    from radsim.run import pipeline
    tiny_dict["field"].update({"npix": 256, "size_deg": 256 * 6.0 / 3600})
    tiny_dict["tiles"].update({"size": 32, "sensitivity_factor": 2.0})
    tiny_dict["imaging"] = {"backend": "none", "beam_arcsec": 15.0, "footprint": "square_2x2", "beam_pitch_deg": 0.2,
                            "primary_beam": "gaussian", "pb_fwhm_factor": 0.1, "pb_cutoff": 0.3}
    cfg = config.from_dict(tiny_dict)
    r = pipeline.make_realisation(cfg, 0)
    imager = build_imager(cfg)
    covered = np.isfinite(imager.noise_map_jy)
    assert 0.2 < covered.mean() < 0.95
    plain = none.image(r.sky, cfg.field.pixel_arcsec, Beam(15.0, 15.0)).restored
    assert np.allclose(r.imaged.restored[covered], plain[covered]) and np.all(r.imaged.restored[~covered] == 0)
    tiny_dict["imaging"]["backend"] = "fast"
    tiny_dict["imaging"].pop("beam_arcsec")
    tiny_dict["imaging"]["taper_arcsec"] = 10.0
    fast_cfg = config.from_dict(tiny_dict)
    fast_tiles = pipeline.make_realisation(fast_cfg, 0).tile_origin
    assert 0 < len(r.tile_origin) < (256 // 32) ** 2
    assert np.array_equal(r.tile_origin, fast_tiles) and np.all(r.tile_noise == 0)


def test_a_fixed_restoring_beam_reaches_the_sky_model(tiny_dict):
    """imaging.restoring_beam = [bmaj, bmin, pa] is the none backend's beam too: a point source keeps
    peak = flux, and the image carries that beam."""
    from radsim import config
    from radsim.instrument.imaging.base import build_imager
    tiny_dict["imaging"] = {"backend": "none", "restoring_beam": [60.0, 40.0, 45.0]}
    imager = build_imager(config.from_dict(tiny_dict))
    n = tiny_dict["field"]["npix"]
    sky = np.zeros((n, n), np.float32)
    sky[n // 2, n // 2] = 1e-3
    r = imager.image(sky, np.random.default_rng(0))
    assert r.beam == Beam(60.0, 40.0, 45.0)
    assert r.restored.max() == pytest.approx(1e-3, rel=1e-3)
