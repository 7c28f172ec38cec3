import numpy as np
import pytest
from astropy.wcs import WCS
from scipy.integrate import dblquad

from radsim.sky.grid import Grid

GRID = Grid(187.5, -45.0, 512, 5.0 / 512)


def test_pixels_match_astropy_wcs():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 511.5, 1000)
    y = rng.uniform(-0.5, 511.5, 1000)
    l, m = GRID.pixel_to_lm(x, y)
    ra, dec = GRID.lm_to_radec(l, m)
    w = WCS(GRID.header(944e6, 288e6)).celestial
    px, py = w.all_world2pix(ra, dec, 0)
    assert np.max(np.abs(px - x)) < 1e-6 and np.max(np.abs(py - y)) < 1e-6
    l2, m2 = GRID.radec_to_lm(ra, dec)
    assert np.allclose(l2, l, atol=1e-14) and np.allclose(m2, m, atol=1e-14)


def test_reference_pixel_is_the_centre_and_east_is_left():
    ra, dec = GRID.lm_to_radec(*GRID.pixel_to_lm(256, 256))
    assert ra == pytest.approx(187.5) and dec == pytest.approx(-45.0)
    ra_left, _ = GRID.lm_to_radec(*GRID.pixel_to_lm(100, 256))
    assert ra_left > 187.5


def test_solid_angle_matches_direct_integration():
    l0, l1, m0, m1 = GRID.lm_bounds()
    ref = dblquad(lambda m, l: 1 / np.sqrt(1 - l * l - m * m), l0, l1, m0, m1, epsabs=0, epsrel=1e-12)[0]
    assert GRID.solid_angle_sr() == pytest.approx(ref, rel=1e-10)
    assert GRID.solid_angle_sr() == pytest.approx(np.radians(5.0) ** 2, rel=2e-3)
    # tiles add up to the whole
    boxes = [(x0 - 0.5, x0 + 127.5, y0 - 0.5, y0 + 127.5) for y0 in range(0, 512, 128) for x0 in range(0, 512, 128)]
    assert GRID.solid_angles_sr(boxes).sum() == pytest.approx(GRID.solid_angle_sr(), rel=1e-12)


def test_header_is_complete():
    h = GRID.header(944e6, 288e6)
    assert h["BUNIT"] == "JY/PIXEL" and h["CTYPE1"] == "RA---SIN" and h["CTYPE2"] == "DEC--SIN"
    assert h["CTYPE3"] == "FREQ" and h["CRVAL3"] == 944e6 and h["CDELT3"] == 288e6 and h["CTYPE4"] == "STOKES"
    assert h["CDELT1"] == pytest.approx(-5.0 / 512) and h["CRPIX1"] == 257
