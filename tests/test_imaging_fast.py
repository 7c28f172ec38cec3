"""The `fast` imager against analytic cases and against the ducc0 gridder imaging visibilities directly."""
import math

import numpy as np
import pytest

from radsim.instrument import telescope as T
from radsim.sky.grid import Grid
from radsim.instrument.imaging import fast
from radsim.instrument.imaging.base import weighting_grid_size

N = 256
PIX = 4.0


@pytest.fixture(scope="module")
def grid():
    return Grid(187.5, -45.0, N, PIX / 3600)


@pytest.fixture(scope="module")
def obs():
    return T.Observation(187.5, -45.0, 944e6, 288e6, integration_s=600)


@pytest.fixture(scope="module")
def imager(grid, obs):
    return fast.FastImager(grid, obs, noise_rms_jy=25e-6)


def test_dirty_image_equals_gridding_the_visibilities(grid, obs, imager):
    """A point source off-centre, imaged as sky * PSF, equals ducc0 imaging its visibilities
    V = exp(-2 pi i (u l + v m)) with the same weights: checks the PSF's orientation and the convolution."""
    x0, y0 = 150, 97                                       # asymmetric offsets from the centre (128, 128)
    l, m = grid.pixel_to_lm(x0, y0)
    uvw = obs.uvw_m().reshape(-1, 3) / (fast.SPEED_OF_LIGHT / obs.frequency_hz)
    vis = np.exp(-2j * np.pi * (uvw[:, 0] * l + uvw[:, 1] * m))[:, None]
    direct = fast.ducc_to_image(fast.grid_dirty(np.ascontiguousarray(uvw), np.array([fast.SPEED_OF_LIGHT]), vis,
                                           imager.weights, N, grid.pixel_rad)) / imager.weights.sum()
    sky = np.zeros((N, N))
    sky[y0, x0] = 1.0
    ours = imager.convolve(sky)
    assert np.unravel_index(np.argmax(ours), ours.shape) == (y0, x0)
    # row and column 0 lie outside ducc0's field (its l, m run from -n/2 to n/2 - 1 pixels)
    assert np.abs(ours - direct)[1:, 1:].max() < 1e-5


def test_point_source_restored_peak_and_beam(imager):
    sky = np.zeros((N, N))
    sky[N // 2, N // 2] = 2e-3
    r = imager.image(sky, np.random.default_rng(0))
    # the peak, less the noise the same generator put there (image() draws the noise first)
    noise = imager.noise(np.random.default_rng(0))[N // 2, N // 2]
    assert r.restored[N // 2, N // 2] - noise == pytest.approx(2e-3, rel=0.02)
    assert r.units == "JY/BEAM" and r.info["clean_iterations"] > 10
    assert np.abs(r.residual).max() < 5 * 25e-6
    # the fitted beam is the PSF's main lobe
    from radsim.instrument.imaging.none import gaussian_beam_kernel
    k = gaussian_beam_kernel(imager.beam, PIX, half_size=20)
    p = imager.psf2[N - 20:N + 21, N - 20:N + 21]
    lobe = p > 0.5
    assert np.abs(k[lobe] - p[lobe]).max() < 0.05
    assert 8 < imager.beam.bmin_arcsec <= imager.beam.bmaj_arcsec < 16      # ASKAP, robust 0, 944 MHz


NEAR = (slice(N // 2 - 5, N // 2 + 6), slice(N // 2 - 5, N // 2 + 6))


def mean_autocorrelation(im, first_seed: int, realisations: int = 8) -> np.ndarray:
    """The noise images' autocorrelation, peak 1 at the centre, averaged over realisations."""
    acs = []
    for seed in range(first_seed, first_seed + realisations):
        f = np.fft.fft2(im.noise(np.random.default_rng(seed)))
        ac = np.fft.fftshift(np.real(np.fft.ifft2(f * np.conj(f))))
        acs.append(ac / ac[N // 2, N // 2])
    return np.mean(acs, axis=0)


def test_noise_rms_and_correlation(grid, obs):
    im = fast.FastImager(grid, obs, weighting="natural", noise_rms_jy=30e-6)
    noise = im.noise(np.random.default_rng(1))
    assert noise.std() == pytest.approx(30e-6, rel=0.05) and abs(noise.mean()) < 3e-6
    # natural weighting: the noise autocorrelation is the PSF (averaged over realisations; no mean subtraction,
    # which would bias the broad low-level pedestal of a natural-weighting PSF)
    ac = mean_autocorrelation(im, first_seed=100)
    assert np.abs(ac[NEAR] - im.psf[NEAR]).max() < 0.03
    # the restored image of an empty sky has the requested rms
    r = im.image(np.zeros((N, N)), np.random.default_rng(2))
    assert r.restored.std() == pytest.approx(30e-6, rel=0.05)


def test_flux_scale_on_an_extended_source(grid, obs):
    """Jy/pixel in, Jy/beam out: the restored image integrates to the source flux (cleaned deeply: emission left
    in the residual has no integrated flux, the dirty beam integrating to about zero)."""
    imager = fast.FastImager(grid, obs, noise_rms_jy=0.0)
    y, x = np.mgrid[:N, :N]
    s = 30.0 / PIX / math.sqrt(8 * math.log(2))            # a 30 arcsec FWHM Gaussian of 10 mJy
    blob = np.exp(-0.5 * ((x - 120) ** 2 + (y - 135) ** 2) / s ** 2)
    sky = 1e-2 * blob / blob.sum()
    r = imager.image(sky, np.random.default_rng(3))
    box = (slice(80, 176), slice(64, 176))
    total = r.restored[box].sum(dtype=np.float64) / imager.beam.area_pixels(PIX)
    assert total == pytest.approx(1e-2, rel=0.02)
    assert r.model.sum(dtype=np.float64) == pytest.approx(1e-2, rel=0.02)


def test_radiometer_noise(grid, obs):
    im = fast.FastImager(grid, obs, system_temperature_k=50.0, aperture_efficiency=0.8)
    sigma_vis = T.visibility_noise_jy(50.0, 0.8, 12.0, 288e6, 600.0)
    w = im.weights
    assert im.noise_rms_jy == pytest.approx(sigma_vis * np.sqrt((w ** 2).sum()) / w.sum() / np.sqrt(2))
    assert im.noise(np.random.default_rng(4)).std() == pytest.approx(im.noise_rms_jy, rel=0.05)


def test_same_generator_same_image(imager):
    sky = np.zeros((N, N))
    sky[40, 200] = 1e-3
    a = imager.image(sky, np.random.default_rng(9)).restored
    b = imager.image(sky, np.random.default_rng(9)).restored
    assert np.array_equal(a, b)


def test_undersampled_beam_is_refused_before_imaging(obs):
    coarse = Grid(187.5, -45.0, 64, 8.0 / 3600)
    with pytest.raises(fast.ImagingError, match="fewer than 2 pixels"):
        fast.FastImager(coarse, obs, weighting="uniform")


def test_weights_drop_visibilities_beyond_the_grid():
    # WSClean's weighting grid for 64 pixels: the padded image (78) in boxes of 640 / 78 wavelengths; (-10, -5) is
    # folded onto (10, 5), so the first three share a box; (400, 0) lies beyond the grid
    uv = np.array([[10.0, 5.0], [10.0, 5.0], [-10.0, -5.0], [400.0, 0.0]])
    assert weighting_grid_size(64) == 78 and weighting_grid_size(64, super_weight=5.0) == 16
    w = fast.image_weights(uv, "uniform", 0.0, cell_lambda=10.0, n_cells=64)
    assert w[3] == 0 and np.allclose(w[:3], 1 / 3)
    nat = fast.image_weights(uv, "natural", 0.0, 10.0, 64, taper_arcsec=60.0)
    assert nat[3] == 0 and 0 < nat[0] < 1


def far_sidelobe_rms(psf2: np.ndarray, n: int, pixel_arcsec: float, beyond_arcsec: float) -> float:
    """rms of a PSF (2n box, peak at [n, n]) farther than ``beyond_arcsec`` from its peak, within the image."""
    y, x = np.mgrid[-n // 2:n // 2, -n // 2:n // 2]
    part = psf2[n - n // 2:n + n // 2, n - n // 2:n + n // 2]
    return float(np.sqrt(np.mean(part[np.hypot(x, y) * pixel_arcsec > beyond_arcsec] ** 2)))


def test_channels_fill_the_uv_plane_and_lower_the_far_sidelobes(grid, obs):
    """Multi-frequency synthesis: 16 channels across the 288 MHz band sample 16x the uv points. Far from the
    peak the PSF's sidelobes are a sum of that many phasors and fall towards 1/sqrt(number of points) (4x);
    nearer they are the tracks' structure, which channels smear radially (the band is 30% of the frequency).
    Measured on a 1.4 deg field (20 arcsec pixels, 60 arcsec taper): beyond 0.55 deg 2.3x lower."""
    wide = Grid(187.5, -45.0, N, 20.0 / 3600)
    one = fast.FastImager(wide, obs, weighting="natural", noise_rms_jy=30e-6, taper_arcsec=60.0)
    many = fast.FastImager(wide, obs, weighting="natural", noise_rms_jy=30e-6, taper_arcsec=60.0, n_channels=16)
    assert many.n_vis == 16 * one.n_vis
    ratios = [far_sidelobe_rms(one.psf2, N, 20.0, r) / far_sidelobe_rms(many.psf2, N, 20.0, r)
              for r in (300.0, 1000.0, 2000.0)]
    assert ratios[0] > 1.4 and ratios[2] > 2.0 and ratios[0] < ratios[1] < ratios[2], ratios
    # the main lobe barely changes: the beam scales as 1 / frequency across a band centred on 944 MHz
    assert many.beam.bmaj_arcsec == pytest.approx(one.beam.bmaj_arcsec, rel=0.1)
    # on the fixture's field: the noise keeps its rms and, for natural weighting, has the PSF as autocorrelation
    im = fast.FastImager(grid, obs, weighting="natural", noise_rms_jy=30e-6, n_channels=16)
    ac = mean_autocorrelation(im, first_seed=200)
    assert np.abs(ac[NEAR] - im.psf[NEAR]).max() < 0.03
    assert im.noise(np.random.default_rng(3)).std() == pytest.approx(30e-6, rel=0.05)


def test_noise_rms_holds_for_briggs_weighting_with_channels(grid, obs):
    im = fast.FastImager(grid, obs, weighting="briggs", robust=0.0, noise_rms_jy=20e-6, n_channels=8)
    stds = [im.noise(np.random.default_rng(k)).std() for k in range(4)]
    assert np.mean(stds) == pytest.approx(20e-6, rel=0.03)
    r = im.image(np.zeros((N, N)), np.random.default_rng(9))
    assert r.restored.std() == pytest.approx(20e-6, rel=0.05)


def test_a_point_between_pixels_is_imaged_where_it_is(grid, obs, imager):
    """A source at a sub-pixel position (radsim.sky.render.Sky keeps it there) gives the dirty image that ducc0
    makes from its exact visibilities: no pixelisation of the sky."""
    from radsim.sky.render import Sky
    x0, y0 = 150.37, 97.81
    l, m = grid.pixel_to_lm(x0, y0)
    uvw = obs.uvw_m().reshape(-1, 3) / (fast.SPEED_OF_LIGHT / obs.frequency_hz)
    vis = np.exp(-2j * np.pi * (uvw[:, 0] * l + uvw[:, 1] * m))[:, None]
    direct = fast.ducc_to_image(fast.grid_dirty(np.ascontiguousarray(uvw), np.array([fast.SPEED_OF_LIGHT]), vis,
                                                imager.weights, N, grid.pixel_rad)) / imager.weights.sum()
    zero = np.zeros((N, N), np.float32)
    sky = Sky(zero, np.array([x0], np.float32), np.array([y0], np.float32), np.array([1.0], np.float32), zero)
    dirty = imager.convolve(imager.observed(sky))
    inner = (slice(64, 192), slice(64, 192))
    assert np.abs(dirty - direct)[inner].max() < 2e-3
    assert dirty.max() == pytest.approx(direct.max(), rel=1e-3) and dirty.max() < 0.97   # between pixels


def deep_imager(grid, obs, final_major="peak"):
    """8 channels across the band, WSClean-style auto-masking: CLEAN down to 1 sigma where it found sources."""
    return fast.FastImager(grid, obs, noise_rms_jy=25e-6, n_channels=8, taper_arcsec=6.0,
                           clean=fast.CleanSettings(threshold_sigma=1.0, auto_mask=5.0, psf_patch=12,
                                                    final_major=final_major))


@pytest.fixture(scope="module")
def deep(grid, obs):
    return deep_imager(grid, obs)


def test_clean_settings_refuse_an_unknown_final_major():
    with pytest.raises(ValueError, match="final_major 'last' is none of"):
        fast.CleanSettings(final_major="last")


def test_clean_leaves_pure_noise_alone(deep):
    rms = [deep.image(np.zeros((N, N), np.float32), np.random.default_rng(s)).restored.std() for s in range(4)]
    assert np.mean(rms) == pytest.approx(25e-6, rel=0.05)


@pytest.mark.parametrize("final_major", fast.FINAL_MAJOR)
def test_crowded_field_keeps_noise_and_flux(grid, obs, final_major):
    """A crowded sky (30 000 points on 0.08 deg^2, a source per 3 beams, with counts N(>S) ~ S^-1.5 from 1 uJy to
    20 mJy, plus 60 log-uniform from 1 to 20 mJy): restored minus the sky convolved with the restoring beam has
    the thermal rms (within 10%), and isolated sources brighter than 30 sigma have their peak = flux: the highest
    pixel near each equals the restoring beam sampled at the source's sub-pixel offset (within 3% in the
    median), whose median over these offsets is about 0.95 here (measured 0.948 against 0.948 expected). So with
    either rule for the major cycle that ends a CLEAN pass (CleanSettings.final_major)."""
    from conftest import crowded_sky, isolated_peaks
    from radsim.instrument.imaging.base import convolve_same, gaussian_beam_kernel
    deep = deep_imager(grid, obs, final_major)
    sky = crowded_sky(N)
    imaged = deep.image(sky, np.random.default_rng(5))
    assert imaged.info["clean_stop"] == "converged"
    truth = convolve_same(deep.observed(sky), gaussian_beam_kernel(deep.beam, deep.pixel_arcsec))
    inner = (slice(16, N - 16), slice(16, N - 16))
    assert (imaged.restored - truth)[inner].std() == pytest.approx(25e-6, rel=0.1)
    measured, sampled = isolated_peaks(sky, imaged.restored, deep.beam, PIX, 30 * 25e-6)
    assert measured.size >= 20
    assert 0.9 <= np.median(measured) <= 1.05
    assert np.median(measured / sampled) == pytest.approx(1.0, abs=0.03)
    assert 0.9 <= np.median(sampled) <= 0.97


def test_psf_cache_gives_the_same_images(grid, obs, tmp_path, monkeypatch):
    """With $RADSIM_CACHE_DIR the PSF, noise filter and beam are made once per configuration and read back by
    the next imager: bit-identical images; a damaged cache file is made again; no temporary files stay."""
    monkeypatch.setenv("RADSIM_CACHE_DIR", str(tmp_path / "cache"))
    sky = np.zeros((N, N), np.float32)
    sky[100, 140] = 1e-3
    first = fast.FastImager(grid, obs, noise_rms_jy=25e-6, n_channels=2)
    assert not first.cache_hit
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].name.startswith("fast-") and files[0].suffix == ".npz"
    second = fast.FastImager(grid, obs, noise_rms_jy=25e-6, n_channels=2)
    assert second.cache_hit and second.beam == first.beam
    a = first.image(sky, np.random.default_rng(4))
    b = second.image(sky, np.random.default_rng(4))
    assert np.array_equal(a.restored, b.restored) and np.array_equal(a.psf, b.psf)
    other = fast.FastImager(grid, obs, noise_rms_jy=25e-6, n_channels=2, taper_arcsec=20.0)   # another weighting
    assert not other.cache_hit and len(list((tmp_path / "cache").iterdir())) == 2
    files[0].write_bytes(b"not an npz")
    again = fast.FastImager(grid, obs, noise_rms_jy=25e-6, n_channels=2)
    assert not again.cache_hit
    assert np.array_equal(again.image(sky, np.random.default_rng(4)).restored, a.restored)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


def wide_field_points():
    """A 2 deg field of 256 pixels observed for 10 h in 2 channels, noise-free, with 40 points of 1-10 mJy at pixel
    centres: (n, grid, observation, imager keywords, sky image, point rows, point columns, the generator)."""
    n, size_deg = 256, 2.0
    grid = Grid(187.5, -45.0, n, size_deg / n)
    obs = T.Observation(187.5, -45.0, 943.5e6, 288e6, integration_s=300)
    kw = dict(noise_rms_jy=0.0, n_channels=2, taper_arcsec=100.0, super_weight=5.0)
    rng = np.random.default_rng(3)
    sky = np.zeros((n, n))
    ys, xs = rng.integers(5, n - 5, 40), rng.integers(5, n - 5, 40)
    sky[ys, xs] = rng.uniform(1e-3, 1e-2, 40)
    return n, grid, obs, kw, sky, ys, xs, rng


def test_w_nodes_bring_the_dirty_image_to_the_exact_w_corrected_one():
    """Over a 2 deg field the w-term shears each point's side lobes by its offset from the phase centre. The
    exact reference: the points' visibilities as radsim writes them into Measurement Sets for WSClean
    (wsclean.predict, with the w-term), imaged with w-correction by ducc0's w-gridder. With ``w_nodes`` the fast
    imager gives each point the exact PSF made at its nearest node, and its error against the reference falls
    with the number of nodes; without them it is exact only for a flat sky (w = 0)."""
    import ducc0
    from radsim.instrument.imaging.base import ducc_to_image
    from radsim.instrument.imaging.wsclean import predict
    n, grid, obs, kw, sky, ys, xs, rng = wide_field_points()
    flat = fast.FastImager(grid, obs, **kw)
    uvw = np.ascontiguousarray(obs.uvw_m().reshape(-1, 3))
    freq, w = flat.frequencies_hz, flat.weights.astype(np.float64)
    exact = {}
    for wg in (False, True):
        u = uvw if wg else np.ascontiguousarray(uvw * [1.0, 1.0, 0.0])
        vis = predict(grid, u, freq, xs.astype(float), ys.astype(float), sky[ys, xs])
        # ducc0's sign is the opposite of the MS's in u and v (and the same in w): give it (-u, -v, w)
        d = ducc0.wgridder.experimental.vis2dirty(
            uvw=np.ascontiguousarray(u * [-1.0, -1.0, 1.0]), freq=freq, vis=vis, wgt=w, npix_x=n, npix_y=n,
            pixsize_x=grid.pixel_rad, pixsize_y=grid.pixel_rad, epsilon=1e-7, do_wgridding=wg, divide_by_n=False)
        exact[wg] = ducc_to_image(d) / w.sum()
    inner = (slice(32, n - 32),) * 2
    rms = lambda a: float(np.std(a[inner]))
    assert rms(exact[False] - flat.convolve(sky)) < 1e-3 * rms(flat.convolve(sky))   # flat: the same image
    err = {0: rms(exact[True] - flat.convolve(sky))}
    assert err[0] > 0.003 * sky.max()                      # the w-term matters at 2 deg
    spread = lambda a: float(np.std(a[inner]))
    for k in (5, 9):
        faceted = fast.FastImager(grid, obs, w_nodes=k, **kw).convolve(sky)
        err[k] = rms(exact[True] - faceted)
        # every point keeps a whole PSF, so the side lobes' spread stays as it is in the exact image
        assert abs(spread(faceted) / spread(exact[True]) - 1.0) < 0.001, k
    # a point's error grows with its offset from the nearest node, about as 1 / (k - 1): 0.49 and 0.28 of the
    # flat sky's with 5 and 9 nodes here
    assert err[5] < 0.6 * err[0], err
    assert err[9] < 0.7 * err[5], err
    with pytest.raises(fast.ImagingError, match="w_nodes must be at least 2"):
        fast.FastImager(grid, obs, w_nodes=1, **kw)


def test_visibility_major_cycle_makes_the_exact_w_corrected_image():
    """With ``major_cycle="visibilities"`` the dirty image and CLEAN's major cycles predict the image to every
    visibility and image it again with the w-term (ducc0's w-gridder), as WSClean's major cycle does: the points
    of a 2 deg field come out as the exact reference of the test above (their visibilities as radsim writes them
    for WSClean, imaged with w-correction) to 1e-3 of its rms, where 9 x 9 w-term nodes leave 0.28 of the flat
    sky's error. A point at the phase centre comes back as the PSF; CLEAN of a noise-free field of bright points
    then ends with their flux in its model (to 0.16% here) and its residual at its threshold. ``w_nodes`` (the
    PSF's approximation of the same w-term) is refused with it."""
    import ducc0
    from radsim.instrument.imaging.base import ducc_to_image
    from radsim.instrument.imaging.wsclean import predict
    n, grid, obs, kw, sky, ys, xs, rng = wide_field_points()
    flat = fast.FastImager(grid, obs, **kw)
    exact = fast.FastImager(grid, obs, major_cycle="visibilities", **kw)
    uvw = np.ascontiguousarray(obs.uvw_m().reshape(-1, 3))
    freq, w = flat.frequencies_hz, flat.weights.astype(np.float64)
    vis = predict(grid, uvw, freq, xs.astype(float), ys.astype(float), sky[ys, xs])
    d = ducc0.wgridder.experimental.vis2dirty(
        uvw=np.ascontiguousarray(uvw * [-1.0, -1.0, 1.0]), freq=freq, vis=vis, wgt=w, npix_x=n + 2, npix_y=n + 2,
        pixsize_x=grid.pixel_rad, pixsize_y=grid.pixel_rad, epsilon=1e-7, do_wgridding=True, divide_by_n=False)
    reference = ducc_to_image(d)[1:n + 1, 1:n + 1] / w.sum()

    def rms(a):
        return float(np.std(a))
    ours = exact.beam_operator(0)(sky)
    assert rms(reference - ours) < 1e-3 * rms(reference)
    assert rms(reference - flat.convolve(sky)) > 0.05 * rms(reference)      # what the flat PSF misses here
    centre = np.zeros((n, n))
    centre[n // 2, n // 2] = 1.0
    psf = exact.beam_operator(0)(centre)
    core = (slice(n // 2 - 8, n // 2 + 9),) * 2       # the main lobe and first side lobes; the w-term shears the far
    assert psf[n // 2, n // 2] == pytest.approx(1.0, abs=1e-5)                  # ones even at the centre
    assert np.abs(psf[core] - exact.psf[core]).max() < 1e-4
    # noise-free CLEAN of the 40 points to 1e-3 of the brightest
    clean = fast.CleanSettings(threshold_sigma=0.0, psf_patch=12, final_major="threshold")
    r = fast.FastImager(grid, obs, major_cycle="visibilities", clean=clean, **kw).image(sky, rng)
    assert r.info["major_cycle"] == "visibilities" and r.info["clean_stop"] == "converged"
    assert r.model.sum() == pytest.approx(sky.sum(), rel=3e-3)
    assert np.abs(r.residual).max() < 1.2 * r.info["threshold_jy"]
    with pytest.raises(fast.ImagingError, match="leave w_nodes unset"):
        fast.FastImager(grid, obs, major_cycle="visibilities", w_nodes=5, **kw)
    with pytest.raises(fast.ImagingError, match="major_cycle must be one of"):
        fast.FastImager(grid, obs, major_cycle="exact", **kw)


def test_image_w_noise_is_correlated_as_the_w_term_shears_it_at_each_node():
    """noise="image-w": over a 2 deg field the noise of a w-corrected image is correlated, near each point, as the
    PSF of the squared imaging weights there (the w-term shears both alike). The exact reference is that PSF made
    by ducc0's w-gridder with the w-term (w_term_psfs of the squared weights); the autocorrelation of each node's
    filter matches it to the nearest-cell gridding's 0.3% at every node, where the flat-sky filter misses the
    corners by 3 times that. Each facet is its node's field of one white-noise draw, which the flat filter at
    every node turns into the flat-sky noise of the same draw; the rms is the one asked for."""
    import scipy.fft
    n, k = 256, 5
    grid = Grid(187.5, -45.0, n, 2.0 / n)
    obs = T.Observation(187.5, -45.0, 943.5e6, 288e6, integration_s=300)
    kw = dict(noise_rms_jy=25e-6, n_channels=2, taper_arcsec=100.0, super_weight=5.0)
    im = fast.FastImager(grid, obs, w_nodes=k, noise="image-w", **kw)
    flat = fast.FastImager(grid, obs, **kw)
    squared = im.weights.astype(np.float64) ** 2
    reference = fast.w_term_psfs(np.ascontiguousarray(obs.uvw_m().reshape(-1, 3)), im.frequencies_hz, squared, n,
                                 grid.pixel_rad, k)

    def autocorrelation(filt):
        ac = np.fft.fftshift(scipy.fft.irfft2(filt.astype(np.float64) ** 2, (2 * n, 2 * n)))
        return ac / ac[n, n]

    lags = (slice(n - 20, n + 21),) * 2
    filters = im._faceted_noise.filters
    err = np.array([[np.abs(autocorrelation(filters[a, b])[lags] - reference[a, b][lags]).max()
                     for b in range(k)] for a in range(k)])
    flat_ac = autocorrelation(flat._noise_filter)[lags]
    flat_err = np.array([[np.abs(flat_ac - reference[a, b][lags]).max() for b in range(k)] for a in range(k)])
    assert err.max() < 0.004, err
    corners = (0, -1)
    assert all(flat_err[a, b] > 2.5 * err[a, b] for a in corners for b in corners), (err, flat_err)
    # each facet from its node's field of the same white noise
    noise = im.noise(np.random.default_rng(7))
    white = np.random.default_rng(7).standard_normal((2 * n, 2 * n), dtype=np.float32)
    spans = im._faceted_noise.spans
    for a, b in ((0, 0), (2, 3), (4, 1)):
        field = scipy.fft.irfft2(scipy.fft.rfft2(white) * filters[a, b], (2 * n, 2 * n)) * im.beam_noise_jy
        (y0, y1), (x0, x1) = spans[a], spans[b]
        assert np.allclose(noise[y0:y1, x0:x1], field[y0:y1, x0:x1], rtol=0, atol=1e-5 * im.beam_noise_jy)
    assert spans[0][0] == 0 and spans[-1][1] == n and all(p[1] == q[0] for p, q in zip(spans, spans[1:]))
    same = fast.FacetedNoise(np.broadcast_to(flat._noise_filter / np.float32(flat.beam_noise_jy), filters.shape), n)
    assert np.allclose(same(np.random.default_rng(8), flat.beam_noise_jy), flat.noise(np.random.default_rng(8)),
                       rtol=0, atol=1e-5 * flat.beam_noise_jy)
    assert np.mean([im.noise(np.random.default_rng(s)).std() for s in range(4)]) == pytest.approx(25e-6, rel=0.03)
    assert im.image(np.zeros((n, n)), np.random.default_rng(9)).info["noise"] == "image-w"
    with pytest.raises(fast.ImagingError, match="imaging.noise = 'image-w' .* imaging.w_nodes, which is unset"):
        fast.FastImager(grid, obs, noise="image-w", **kw)


def test_image_w_noise_filters_join_a_psf_cache_made_without_them(tmp_path, monkeypatch):
    """A PSF cache made by a run with the w-term but another noise gains the image-w filters from the first run
    that needs them, and gives the next one the same noise."""
    monkeypatch.setenv("RADSIM_CACHE_DIR", str(tmp_path / "cache"))
    n = 64
    grid = Grid(187.5, -45.0, n, 1.0 / n)
    obs = T.Observation(187.5, -45.0, 943.5e6, 288e6, integration_s=1200)
    kw = dict(noise_rms_jy=25e-6, taper_arcsec=200.0, w_nodes=3)
    fast.FastImager(grid, obs, **kw)
    first = fast.FastImager(grid, obs, noise="image-w", **kw)
    second = fast.FastImager(grid, obs, noise="image-w", **kw)
    assert first.cache_hit and second.cache_hit and len(list((tmp_path / "cache").iterdir())) == 1
    with np.load(next((tmp_path / "cache").iterdir())) as cached:
        assert cached["w_noise_filters"].shape == (3, 3, 2 * n, n + 1)
    assert np.array_equal(first.noise(np.random.default_rng(1)), second.noise(np.random.default_rng(1)))


def test_visibility_noise_has_the_observation_rms_and_correlation(grid, obs):
    """noise="visibilities": the image of Gaussian noise on every visibility keeps the requested rms and, for
    natural weighting, has the PSF as autocorrelation, as the filtered image-plane noise does; the same generator
    gives the same image, and it does not depend on how many rows are drawn at a time."""
    im = fast.FastImager(grid, obs, weighting="natural", noise_rms_jy=30e-6, n_channels=4, noise="visibilities")
    stds = [im.noise(np.random.default_rng(k)).std() for k in range(4)]
    assert np.mean(stds) == pytest.approx(30e-6, rel=0.03)
    ac = mean_autocorrelation(im, first_seed=300)
    assert np.abs(ac[NEAR] - im.psf[NEAR]).max() < 0.03
    a = im.noise(np.random.default_rng(5))
    assert np.array_equal(a, im.noise(np.random.default_rng(5)))
    rows = im._visibility_noise.weights.shape[0]
    whole = np.random.default_rng(6).standard_normal((rows, 4, 2))
    vis = im._visibility_noise.visibilities(np.random.default_rng(6))
    assert np.allclose(vis.real, 0.5 * im._visibility_noise.sigma_vis * whole.sum(axis=2), rtol=1e-6, atol=0)
    # the Briggs weights of the transfer study, through a whole image: CLEAN leaves the noise alone
    br = fast.FastImager(grid, obs, weighting="briggs", robust=0.0, noise_rms_jy=20e-6, n_channels=4,
                         noise="visibilities")
    r = br.image(np.zeros((N, N)), np.random.default_rng(9))
    assert r.restored.std() == pytest.approx(20e-6, rel=0.05) and r.info["noise"] == "visibilities"


def test_visibility_noise_of_each_mosaic_beam(grid, obs):
    """Each PAF beam's window gets its own draw, imaged about the window's centre: with natural weighting (the
    same weights on any grid) a beam's noise image is the whole field's image of the same draw cut to its window
    (in units of each imager's beam noise),
    as WSClean images every beam over the whole field; no two beams share a realisation, and the mosaic is as
    noisy as with the image-plane noise."""
    footprint = {"name": "square_2x2", "pitch_deg": 0.1, "primary_beam": "gaussian", "fwhm_factor": 0.05,
                 "cutoff": 0.1}
    im = fast.FastImager(grid, obs, weighting="natural", noise_rms_jy=25e-6, n_channels=2, footprint=footprint,
                         noise="visibilities")
    whole = fast.FastImager(grid, obs, weighting="natural", noise_rms_jy=25e-6, n_channels=2, noise="visibilities")
    assert im.footprint.n_beams == 4 and im.window < N
    field = whole._visibility_noise.image(np.random.default_rng(8))
    rng = np.random.default_rng(8)
    beams = [im._visibility_noise.image(rng, im.window_centre_lm(b)) for b in range(4)]
    w = im.footprint.windows[0]
    # the mosaic's beams are noisier than the single image, for the same survey rms: compare in units of each
    cut = field[w.y0:w.y0 + w.size, w.x0:w.x0 + w.size] / whole.beam_noise_jy
    assert np.abs(beams[0] / im.beam_noise_jy - cut).max() < 1e-3
    assert max(abs(np.corrcoef(beams[0].ravel(), b.ravel())[0, 1]) for b in beams[1:]) < 0.05
    # the mosaic of pure noise, in units of its noise map, as noisy as with the image-plane noise
    image_plane = fast.FastImager(grid, obs, weighting="natural", noise_rms_jy=25e-6, n_channels=2,
                                  footprint=footprint)
    covered = im.noise_map_jy > 0
    ratio = [np.median(np.abs(i.image(np.zeros((N, N)), np.random.default_rng(10)).restored[covered])
                       / im.noise_map_jy[covered]) for i in (im, image_plane)]
    assert ratio[0] == pytest.approx(ratio[1], rel=0.05)


def test_gridder_epsilon_sets_the_accuracy_of_every_visibility_gridding():
    """``gridder_epsilon`` is the accuracy asked of ducc0's w-gridder wherever the fast imager grids visibilities: the
    exact major cycle's operator and the noise drawn on the visibilities. At 3e-4 both give the 1e-5 images (the
    default) of the 2 deg field's points and of the same noise draw to within 1e-3 of their rms, but not the same
    images: the kernel is another one."""
    n, grid, obs, kw, sky, ys, xs, rng = wide_field_points()
    kw = {**kw, "noise_rms_jy": 1e-4, "noise": "visibilities", "major_cycle": "visibilities"}
    default, coarse = (fast.FastImager(grid, obs, gridder_epsilon=eps, **kw) for eps in (1e-5, 3e-4))
    for make in (lambda imager: imager.beam_operator(0)(sky),
                 lambda imager: imager.noise(np.random.default_rng(5))):
        a, b = make(default), make(coarse)
        assert 1e-7 * a.std() < np.std(a - b) < 1e-3 * a.std()


def test_visibility_major_cycle_of_each_mosaic_beam(grid, obs):
    """With major_cycle="visibilities" each PAF beam's window is imaged about its own centre: a point inside beam
    3's window comes out of that beam's operator as the whole field's exact image of it, cut to the window (natural
    weighting: the same weights on any grid), and a mosaic of such beams is made end to end with its flux."""
    footprint = {"name": "square_2x2", "pitch_deg": 0.1, "primary_beam": "gaussian", "fwhm_factor": 0.05,
                 "cutoff": 0.1}
    kw = dict(weighting="natural", noise_rms_jy=0.0, n_channels=2, major_cycle="visibilities")
    im = fast.FastImager(grid, obs, footprint=footprint, **kw)
    whole = fast.FastImager(grid, obs, **kw)
    w = im.footprint.windows[3]
    sky = np.zeros((N, N))
    sky[w.y0 + w.size // 3, w.x0 + w.size // 2] = 1e-3
    cut = whole.beam_operator(0)(sky)[w.y0:w.y0 + w.size, w.x0:w.x0 + w.size]
    beam3 = im.beam_operator(3)(w.extract(sky))
    assert np.abs(beam3 - cut).max() < 1e-4 * 1e-3
    r = im.image(sky, np.random.default_rng(1))
    assert r.info["major_cycle"] == "visibilities" and r.info["n_beams"] == 4
    assert r.model.sum() == pytest.approx(1e-3, rel=0.02)


def test_unknown_noise_domain_is_refused(grid, obs):
    with pytest.raises(fast.ImagingError, match="imaging.noise must be one of image, image-w, visibilities"):
        fast.FastImager(grid, obs, noise_rms_jy=25e-6, noise="sky")
