"""radsim.pofd against analytic P(D) results: the closed-form characteristic function of power-law counts,
the moments of truncated power laws (Campbell's theorem), Gaussian noise alone, and a fit that recovers the
counts it simulated."""
import math

import numpy as np
import pytest

from radsim import pofd

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


def test_fit_recovers_the_counts_it_simulated():
    """Pixels drawn from the P(D) of k0 S^-1.7 (independent pixels): the fit finds k0 within its error."""
    gamma, k0 = 1.7, 3e4
    pixel_sr = (3 * ARCSEC) ** 2
    beam = gaussian_beam(2.0, half=10)
    sigma = 1e-5
    s1, s2 = 1e-8, 1e-3

    def dnds_of(params):
        return lambda s: 10 ** params["log10_k"] * s ** -gamma

    d, p = pofd.pofd(dnds_of({"log10_k": math.log10(k0)}), s1, s2, beam, pixel_sr, sigma, d_max=2e-3, n=2 ** 14)
    rng = np.random.default_rng(3)
    cdf = np.cumsum(p) / p.sum()
    pixels = np.interp(rng.random(20000), cdf, d)
    result = pofd.fit(pixels, dnds_of, {"log10_k": math.log10(k0) + 0.3}, beam, pixel_sr, sigma, s1, s2,
                      bounds={"log10_k": (3.0, 6.0)}, n=2 ** 13)
    assert result.success and result.n_pixels == 20000
    assert result.params["log10_k"] == pytest.approx(math.log10(k0), abs=0.03)
