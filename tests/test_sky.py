"""Rendering against analytic cases: flux conservation, centroids, shapes and orientation."""
import numpy as np
import pytest
from scipy.stats import norm

from radsim.sky import render as sky
from radsim.sky.catalogue import Catalogue
from radsim.sky.grid import Grid

GRID = Grid(187.5, -45.0, 200, 0.5 / 200)   # 9 arcsec pixels
PIX = GRID.pixel_deg * 3600


def make(x, y, flux, cls=0, major=0.0, minor=0.0, pa=0.0, sep=0.0):
    x, y = np.atleast_1d(x).astype(float), np.atleast_1d(y).astype(float)
    n = x.size
    l, m = GRID.pixel_to_lm(x, y)
    full = lambda v, t=float: np.broadcast_to(np.asarray(v, dtype=t), n).copy()
    return Catalogue(l, m, full(flux), full(cls, np.int8), full(major), full(minor), full(pa), full(sep), full(-0.7))


def moments(img):
    y, x = np.indices(img.shape)
    t = img.sum()
    cx, cy = (img * x).sum() / t, (img * y).sum() / t
    return t, cx, cy, (img * (x - cx) ** 2).sum() / t, (img * (y - cy) ** 2).sum() / t, \
        (img * (x - cx) * (y - cy)).sum() / t


def test_flux_is_conserved_for_sources_inside_the_field():
    rng = np.random.default_rng(0)
    n = 3000
    cls = rng.integers(0, 3, n)
    major = np.where(cls == 1, 0.0, rng.uniform(0, 60, n))   # points and Gaussians up to ~7 pixels FWHM
    cat = make(rng.uniform(30, 170, n), rng.uniform(30, 170, n), 10 ** rng.uniform(-7, -2, n), cls, major,
               major * rng.uniform(0.2, 1, n), rng.uniform(0, 180, n), np.where(cls == 2, rng.uniform(0, 90, n), 0))
    img = sky.render(cat, GRID)
    assert img.dtype == np.float32
    assert img.sum(dtype=np.float64) == pytest.approx(cat.flux_jy.sum(), rel=1e-6)
    assert np.all(img >= 0)


def test_points_at_the_edge_keep_their_flux():
    x = np.array([-0.49, 199.49, 0.0, 100.0, 199.2])
    y = np.array([100.0, -0.3, 199.45, 199.4, 0.1])
    img = sky.render(make(x, y, 1.0), GRID)
    assert img.sum(dtype=np.float64) == pytest.approx(5.0, rel=1e-6)


def test_point_has_subpixel_centroid():
    for x, y in [(50.3, 60.77), (120.0, 80.5), (10.91, 150.02)]:
        t, cx, cy, *_ = moments(sky.render(make(x, y, 2e-3), GRID).astype(float))
        assert t == pytest.approx(2e-3, rel=1e-6)
        assert (cx, cy) == pytest.approx((x, y), abs=1e-5)


def test_gaussian_shape_and_orientation():
    fwhm = 6 * PIX
    sigma2 = (6 * sky.FWHM_TO_SIGMA) ** 2
    # PA 0: major axis north (along +y); PA 90: east (along -x)
    _, cx, cy, vx, vy, cxy = moments(sky.render(make(100.2, 99.6, 1.0, 0, fwhm, fwhm / 2, 0.0), GRID).astype(float))
    assert (cx, cy) == pytest.approx((100.2, 99.6), abs=1e-3)
    assert vy == pytest.approx(sigma2 + 1 / 12, rel=0.02) and vx == pytest.approx(sigma2 / 4 + 1 / 12, rel=0.03)
    _, _, _, vx, vy, _ = moments(sky.render(make(100, 100, 1.0, 0, fwhm, fwhm / 2, 90.0), GRID).astype(float))
    assert vx == pytest.approx(sigma2 + 1 / 12, rel=0.02) and vy == pytest.approx(sigma2 / 4 + 1 / 12, rel=0.03)
    # PA 45: the major axis runs north-east, i.e. towards -x, +y: negative x-y covariance
    _, _, _, vx, vy, cxy = moments(sky.render(make(100, 100, 1.0, 0, fwhm, fwhm / 2, 45.0), GRID).astype(float))
    assert cxy == pytest.approx(-(sigma2 - sigma2 / 4) / 2, rel=0.05)


def test_small_sources_are_points():
    img = sky.render(make(100.25, 100.0, 1.0, 0, 0.3 * PIX, 0.3 * PIX), GRID)
    assert np.count_nonzero(img) == 2          # cloud-in-cell on two pixels (y on a pixel centre)


def test_double_lobed_agn():
    sep = 20 * PIX
    img = sky.render(make(100, 100, 1.0, 2, 0.1 * PIX, 0.1 * PIX, 0.0, sep), GRID).astype(float)
    assert img.sum() == pytest.approx(1.0, rel=1e-6)
    top, bottom = img[100:], img[:100]
    assert top.sum() == pytest.approx(0.5, rel=1e-6) and bottom.sum() == pytest.approx(0.5, rel=1e-6)
    assert moments(top)[2] + 100 == pytest.approx(110, abs=1e-4)
    assert moments(bottom)[2] == pytest.approx(90, abs=1e-4)


def test_gaussians_beyond_the_edge_lose_only_the_outside_part():
    fwhm = 6 * PIX
    img = sky.render(make(0.0, 100.0, 1.0, 0, fwhm, fwhm, 0.0), GRID).astype(float)
    sigma = 6 * sky.FWHM_TO_SIGMA
    assert img.sum() == pytest.approx(norm.cdf(0.5 / sigma), abs=0.005)   # the part at x > -0.5 pixel


def test_accumulating_chunks_equals_rendering_at_once():
    rng = np.random.default_rng(1)
    n = 500
    cat = make(rng.uniform(0, 199, n), rng.uniform(0, 199, n), rng.random(n), rng.integers(0, 3, n),
               rng.uniform(0, 40, n), rng.uniform(0, 20, n), rng.uniform(0, 180, n), rng.uniform(0, 60, n))
    acc = sky.SkyAccumulator(GRID)
    acc.add(cat.select(slice(0, 200)))
    acc.add(cat.select(slice(200, None)))
    assert np.allclose(acc.image64(), sky.render(cat, GRID), rtol=1e-6, atol=1e-12)


def test_kept_sky_is_the_same_whether_transformed_in_chunks_or_at_once(monkeypatch):
    """The points' Fourier series is linear: transformed in chunks (bounded memory) it is the series of all of
    them. The kept columns join the chunks in order; the Gaussian components' parameters are kept only when
    asked for (WSClean's exact visibilities), their pixel image always."""
    rng = np.random.default_rng(2)
    n = 2000
    cat = make(rng.uniform(0, 199, n), rng.uniform(0, 199, n), rng.random(n), rng.integers(0, 3, n),
               rng.uniform(0, 40, n), rng.uniform(0, 20, n), rng.uniform(0, 180, n), rng.uniform(0, 60, n))
    skies = {}
    for keep in (True, False):
        acc = sky.SkyAccumulator(GRID, keep_points=True, keep_components=keep)
        for k in range(0, n, 300):
            acc.add(cat.select(slice(k, k + 300)))
        skies[keep] = acc.sky()
        assert not acc._points                                   # drained as they were joined
    full, lean = skies[True], skies[False]
    assert full.gaussians is not None and len(full.gaussians[0]) > 0 and lean.gaussians is None
    for a, b in ((full.points_x, lean.points_x), (full.points_jy, lean.points_jy), (full.pixels, lean.pixels)):
        assert np.array_equal(a, b)
    px, _ = sky.components(cat.select(slice(0, 300)), GRID)
    assert np.array_equal(full.points_x[:px[0].size], px[0].astype(np.float32)[(px[0] >= -0.5) & (px[1] >= -0.5)
                                                                            & (px[0] < 199.5) & (px[1] < 199.5)])
    whole = full.band_limited()
    monkeypatch.setattr(sky, "NUFFT_CHUNK", 97)
    chunked = full.band_limited()
    assert np.abs(chunked - whole).max() <= 1e-5 * np.abs(whole).max()
    assert chunked.sum() == pytest.approx(whole.sum(), rel=1e-5)


def test_streamed_points_give_the_kept_points_series_bit_for_bit(monkeypatch):
    """Points transformed as they come (memory that does not grow with the sources) give exactly the band-limited
    sky of the kept points, batch for batch; such a sky has no pixelised model and says how to get one."""
    monkeypatch.setattr(sky, "NUFFT_CHUNK", 700)            # several batches, split across the catalogue chunks
    rng = np.random.default_rng(3)
    n = 3000                                                # mostly points (below a third of a 9" pixel)
    cat = make(rng.uniform(-5, 204, n), rng.uniform(-5, 204, n), rng.random(n), rng.integers(0, 3, n),
               rng.uniform(0, 4, n), rng.uniform(0, 2, n), rng.uniform(0, 180, n), rng.uniform(0, 4, n))
    made = {}
    for stream in (False, True):
        acc = sky.SkyAccumulator(GRID, keep_points=True, keep_components=False, stream_points=stream)
        for k in range(0, n, 450):
            acc.add(cat.select(slice(k, k + 450)))
        made[stream] = acc.sky()
    kept, streamed = made[False], made[True]
    assert streamed.points_jy.size == 0 and kept.points_jy.size > 2000
    assert np.array_equal(streamed.band_limited(), kept.band_limited())
    assert streamed.flux_jy == pytest.approx(kept.flux_jy, rel=1e-12)
    with pytest.raises(ValueError, match="sky_model=True"):
        streamed.model
    assert kept.model.sum() == pytest.approx(kept.flux_jy, rel=1e-5)


@pytest.mark.parametrize("n", [50, 40_000])          # a few stamps' pixels, and more than an eighth of the image
def test_deposit_is_bincount_bit_for_bit(n):
    rng = np.random.default_rng(n)
    image = rng.random(202 * 202)
    index = rng.integers(0, 300, n) * 97 % image.size   # repeated pixels, in no order
    weights = rng.random(n) * 10.0 ** rng.uniform(-12, 0, n)
    expected = image + np.bincount(index, weights=weights, minlength=image.size)
    sky._deposit(image, index, weights)
    assert np.array_equal(image, expected)
