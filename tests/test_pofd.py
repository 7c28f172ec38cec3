"""radsim.baseline.pofd against analytic P(D) results: the closed-form characteristic function of power-law counts,
the moments of truncated power laws (Campbell's theorem), Gaussian noise alone, and a fit that recovers the
counts it simulated."""
import math

import numpy as np
import pytest

from radsim.baseline import pofd

ARCSEC = math.radians(1 / 3600)


def gaussian_beam(sigma_pix: float, half: int = 40):
    """A peak-1 Gaussian beam sampled on (2 half + 1)^2 pixels."""
    y, x = np.mgrid[-half:half + 1, -half:half + 1]
    return np.exp(-(x ** 2 + y ** 2) / (2 * sigma_pix ** 2))


def test_characteristic_function_matches_the_power_law_closed_form():
    k, gamma = 1e3, 1.5                                 # n(S) = k S^-1.5 (Jy^-1 sr^-1)
    pixel_sr = (2 * ARCSEC) ** 2
    sigma_pix = 4.0
    beam = gaussian_beam(sigma_pix)
    omega_e = 2 * math.pi * (sigma_pix ** 2) * pixel_sr / (gamma - 1)    # integral of b^(gamma-1)
    omega = np.array([1e3, 3e3, 1e4, 3e4])            # 1/Jy: responses from 30 uJy to 1 mJy matter
    numeric = pofd.log_cf(lambda s: k * s ** -gamma, 1e-13, 1e4, beam, pixel_sr, omega)
    exact = pofd.powerlaw_log_cf(k, gamma, omega_e, omega)
    assert np.allclose(numeric, exact, rtol=2e-3)
    # and the FFT route: the Fourier transform of pofd()'s density is the same characteristic function
    # and the FFT route, in a confused case (200 x the counts, a little noise): the Fourier transform of
    # pofd()'s density has the closed form's modulus (the mean, a phase, is taken out)
    k2, sigma = 200 * k, 1e-5
    d, p = pofd.pofd(lambda s: k2 * s ** -gamma, 1e-13, 1e4, beam, pixel_sr, noise_sigma=sigma, d_max=0.05,
                     n=2 ** 15)
    step = d[1] - d[0]
    phi = np.array([np.sum(p * np.exp(1j * w * d)) * step for w in omega])
    want = pofd.powerlaw_log_cf(k2, gamma, omega_e, omega).real - 0.5 * (sigma * omega) ** 2
    assert -2.5 < want.min() < want.max() < -0.2                                 # a real test: far from 0
    # the grid holds responses up to d_max; brighter ones (the power law's heavy tail) are left out, which at
    # these omega (omega x >> 1) raises ln|phi| by their number per pixel, computed here from N(>S) directly
    top = (len(d) // 2 - 0.5) * step
    b = beam.ravel()
    excluded = pixel_sr * np.sum(k2 * (top / b) ** (1 - gamma) / (gamma - 1))
    assert 0.01 < excluded < 0.1
    assert np.allclose(np.log(np.abs(phi)), want + excluded, rtol=0.01)


def test_moments_follow_campbells_theorem_with_noise():
    # truncated power law: mean = sum b Omega int S n dS, variance = sum b^2 Omega int S^2 n dS + sigma^2
    k, gamma, s1, s2 = 5e4, 2.2, 1e-6, 1e-3
    pixel_sr = (3 * ARCSEC) ** 2
    beam = gaussian_beam(2.5, half=15)
    sigma = 2e-5

    def moment(m):
        return k * (s2 ** (m + 1 - gamma) - s1 ** (m + 1 - gamma)) / (m + 1 - gamma)

    mean = pixel_sr * beam.sum() * moment(1)
    var = pixel_sr * (beam ** 2).sum() * moment(2) + sigma ** 2
    dnds = lambda s: k * s ** -gamma      # noqa: E731
    assert pofd.mean_response(dnds, s1, s2, beam, pixel_sr) == pytest.approx(mean, rel=1e-3)
    d, p = pofd.pofd(dnds, s1, s2, beam, pixel_sr, noise_sigma=sigma, d_max=40 * math.sqrt(var), n=2 ** 15)
    step = d[1] - d[0]
    assert p.sum() * step == pytest.approx(1.0, abs=1e-6)
    got_mean = np.sum(d * p) * step
    got_var = np.sum((d - got_mean) ** 2 * p) * step
    assert abs(got_mean) < 1e-3 * math.sqrt(var)            # the mean is taken out
    assert got_var == pytest.approx(var, rel=0.01)
    # the distribution is skewed towards bright responses, unlike noise alone
    third = np.sum((d - got_mean) ** 3 * p) * step
    assert third > 0


def test_noise_alone_is_gaussian():
    d, p = pofd.pofd(lambda s: 0 * s, 1e-6, 1e-3, np.ones((1, 1)), 1e-10, noise_sigma=3e-5, d_max=3e-4, n=4096)
    assert np.allclose(p, np.exp(-d ** 2 / (2 * 9e-10)) / math.sqrt(2 * math.pi * 9e-10), atol=1e-3 * p.max())


# pixels drawn from the P(D) of k0 S^-1.7 between S1 and S2 through a Gaussian beam, with noise SIGMA
GAMMA, K0, SIGMA, S1, S2 = 1.7, 3e4, 1e-5, 1e-8, 1e-3
PIXEL_SR = (3 * ARCSEC) ** 2


def dnds_of(params):
    return lambda s: 10 ** params["log10_k"] * s ** -GAMMA


def simulated_pixels(n: int, seed: int):
    beam = gaussian_beam(2.0, half=10)
    d, p = pofd.pofd(dnds_of({"log10_k": math.log10(K0)}), S1, S2, beam, PIXEL_SR, SIGMA, d_max=2e-3, n=2 ** 14)
    rng = np.random.default_rng(seed)
    return beam, np.interp(rng.random(n), np.cumsum(p) / p.sum(), d), rng


def test_fit_recovers_the_counts_it_simulated():
    """Pixels drawn from the P(D) of k0 S^-1.7 (independent pixels): the fit finds k0 within its error."""
    beam, pixels, _ = simulated_pixels(20000, 3)
    k0, sigma, pixel_sr, s1, s2 = K0, SIGMA, PIXEL_SR, S1, S2
    result = pofd.fit(pixels, dnds_of, {"log10_k": math.log10(k0) + 0.3}, beam, pixel_sr, sigma, s1, s2,
                      bounds={"log10_k": (3.0, 6.0)}, n=2 ** 13)
    assert result.success and result.n_pixels == 20000
    assert result.params["log10_k"] == pytest.approx(math.log10(k0), abs=0.03)


def test_beam_parts_split_by_flux_add_up_to_the_whole():
    """Sources below S_c seen through one beam and above it through another: with the same beam on both sides
    the P(D) is the single-beam one; with a dirty beam (negative side lobes) below, the variance is Campbell's
    sum over the two parts."""
    k, gamma, s1, s2, sc = 5e2, 2.2, 1e-6, 1e-3, 3e-5     # sigma ~ 0.1 mJy
    pixel_sr = (3 * ARCSEC) ** 2
    beam = gaussian_beam(2.5, half=15)
    dnds = lambda s: k * s ** -gamma      # noqa: E731
    whole = pofd.pofd(dnds, s1, s2, beam, pixel_sr, 1e-5, d_max=2e-3, n=2 ** 14)[1]
    parts = [pofd.beam_part(beam, pixel_sr, s_hi_jy=sc), pofd.beam_part(beam, pixel_sr, s_lo_jy=sc)]
    split = pofd.pofd(dnds, s1, s2, parts, None, 1e-5, d_max=2e-3, n=2 ** 14)[1]
    assert np.allclose(split, whole, atol=2e-3 * whole.max())

    dirty = beam - 0.3 * gaussian_beam(6.0, half=15)                 # a negative bowl around the main lobe
    parts = [pofd.beam_part(dirty, pixel_sr, s_hi_jy=sc), pofd.beam_part(beam, pixel_sr, s_lo_jy=sc)]
    d, p = pofd.pofd(dnds, s1, s2, parts, None, 1e-5, d_max=2e-3, n=2 ** 15)
    step = d[1] - d[0]

    def moment2(lo, hi):
        return k * (hi ** (3 - gamma) - lo ** (3 - gamma)) / (3 - gamma)
    var = pixel_sr * ((dirty ** 2).sum() * moment2(s1, sc) + (beam ** 2).sum() * moment2(sc, s2)) + 1e-10
    got = np.sum(d ** 2 * p) * step - (np.sum(d * p) * step) ** 2
    assert got == pytest.approx(var, rel=0.01)


def test_compress_keeps_the_distribution_and_folds_the_faint_side_lobes_into_noise():
    k, gamma, s1, s2 = 5e2, 2.2, 1e-6, 1e-3
    pixel_sr = (3 * ARCSEC) ** 2
    rng = np.random.default_rng(0)
    # a main lobe and a field of weak side lobes of both signs
    beam = gaussian_beam(2.5, half=60) + 3e-3 * rng.standard_normal((121, 121))
    dnds = lambda s: k * s ** -gamma      # noqa: E731
    full = pofd.beam_part(beam, pixel_sr)
    small = pofd.compress(full, b_min=1e-2, per_decade=100)
    assert small.values.size < 500 < full.values.size
    assert small.tail_b2_sr > 0
    # the solid angle and the b^2-weighted solid angle (the variance) are kept
    assert small.solid_angle_sr.sum() + np.sum(full.solid_angle_sr[np.abs(full.values) < 1e-2]) == \
        pytest.approx(full.solid_angle_sr.sum())
    assert np.sum(small.solid_angle_sr * small.values ** 2) + small.tail_b2_sr == \
        pytest.approx(np.sum(full.solid_angle_sr * full.values ** 2), rel=1e-3)
    a = pofd.pofd(dnds, s1, s2, full, None, 1e-5, d_max=2e-3, n=2 ** 14)[1]
    b = pofd.pofd(dnds, s1, s2, small, None, 1e-5, d_max=2e-3, n=2 ** 14)[1]
    assert np.allclose(a, b, atol=5e-3 * a.max())


def test_truncated_fit_ignores_outliers_and_fits_the_noise():
    """0.5% of the pixels replaced by negative artefacts (as CLEAN leaves around bright sources) 6-15 sigma beyond the
    noise: the fit on the central 99.4% still finds the counts and the noise, fitted as a parameter; the
    full-range fit widens the noise to cover them."""
    beam, pixels, rng = simulated_pixels(40000, 5)
    k0, sigma, pixel_sr, s1, s2 = K0, SIGMA, PIXEL_SR, S1, S2
    bad = rng.choice(pixels.size, 200, replace=False)
    pixels[bad] = -rng.uniform(6e-5, 1.5e-4, bad.size)
    start = {"log10_k": math.log10(k0) - 0.3, "noise_sigma": 2 * sigma}
    bounds = {"log10_k": (3.0, 6.0), "noise_sigma": (1e-6, 1e-4)}
    robust = pofd.fit(pixels, dnds_of, start, beam, pixel_sr, 0.0, s1, s2, bounds=bounds, n=2 ** 13,
                      quantiles=(0.006, 0.994))
    assert robust.success and robust.n_pixels < 40000
    assert robust.params["log10_k"] == pytest.approx(math.log10(k0), abs=0.04)
    assert robust.params["noise_sigma"] == pytest.approx(sigma, rel=0.1)
    naive = pofd.fit(pixels, dnds_of, start, beam, pixel_sr, 0.0, s1, s2, bounds=bounds, n=2 ** 13)
    assert naive.params["noise_sigma"] > 1.3 * sigma


def test_several_noise_levels_cost_one_source_model_and_match_pofd():
    dnds = dnds_of({"log10_k": math.log10(K0)})
    beam = gaussian_beam(2.0, half=10)
    d, ps = pofd.pofd_noises(dnds, S1, S2, beam, PIXEL_SR, [SIGMA, 2 * SIGMA], d_max=2e-3, n=2 ** 13)
    for p, sigma in zip(ps, (SIGMA, 2 * SIGMA)):
        d1, p1 = pofd.pofd(dnds, S1, S2, beam, PIXEL_SR, sigma, d_max=2e-3, n=2 ** 13)
        assert np.array_equal(d, d1) and np.allclose(p, p1, atol=1e-9 * p1.max())


def test_mosaic_noise_groups_fit_the_counts_and_the_noise_map():
    """Pixels of a mosaic: one source population, the noise 1.0x and 1.6x in two groups of tiles (its edges).
    Fitted in groups with the noise map's ratio, the counts and the noise come back."""
    beam = gaussian_beam(2.0, half=10)
    d, (p1, p2) = pofd.pofd_noises(dnds_of({"log10_k": math.log10(K0)}), S1, S2, beam, PIXEL_SR,
                                   [SIGMA, 1.6 * SIGMA], d_max=2e-3, n=2 ** 14)
    rng = np.random.default_rng(8)
    groups = [np.interp(rng.random(20000), np.cumsum(p) / p.sum(), d) for p in (p1, p2)]
    start = {"log10_k": math.log10(K0) - 0.3, "noise_sigma": 2 * SIGMA}
    bounds = {"log10_k": (3.0, 6.0), "noise_sigma": (1e-6, 1e-4)}
    grouped = pofd.fit(groups, dnds_of, start, beam, PIXEL_SR, 0.0, S1, S2, bounds=bounds, n=2 ** 13,
                       noise_scales=[1.0, 1.6])
    assert grouped.success and grouped.n_pixels == 40000
    assert grouped.params["log10_k"] == pytest.approx(math.log10(K0), abs=0.04)
    assert grouped.params["noise_sigma"] == pytest.approx(SIGMA, rel=0.05)


def test_noise_groups_split_a_mosaic_and_leave_a_single_pointing_whole():
    from radsim.baseline.fit import noise_groups
    group, scales = noise_groups(np.full(100, 25e-6))
    assert scales.tolist() == [1.0] and not group.any()
    noise = 25e-6 * np.linspace(0.95, 1.6, 400)
    group, scales = noise_groups(noise, 4)
    assert np.bincount(group).tolist() == [100] * 4 and np.all(np.diff(scales) > 0)
    assert np.allclose(scales, [np.median(noise[group == g]) / np.median(noise) for g in range(4)])
