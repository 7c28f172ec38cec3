"""The counts models against published figures and analytic integrals."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

from radsim.sky import counts
from radsim.sky import published

BASE = counts.CountsModel(counts.BUILTIN, 1.4e9)


def test_hopkins_2003_within_25_percent():
    s = np.geomspace(5e-5, 1.0, 200)
    ratio = counts.euclidean(s, BASE.dnds_total(s)) / published.hopkins2003_euclidean(s)
    assert np.all(np.abs(ratio - 1) < 0.25), (ratio.min(), ratio.max())


def test_faint_slope_matches_matthews_2021():
    lo, hi = published.MATTHEWS2021_RANGE_JY
    slope = math.log(BASE.dnds_total(hi)[0] / BASE.dnds_total(lo)[0]) / math.log(hi / lo)
    assert slope == pytest.approx(-1.5, abs=0.2)
    # and locally, everywhere in that range
    s = np.geomspace(lo, hi, 50)
    local = np.gradient(np.log(BASE.dnds_total(s)), np.log(s))
    assert np.all(np.abs(local + 1.5) < 0.25)


def test_number_above_10_nJy_matches_trecs_medium():
    per_sr = BASE.number_per_sr(1e-8, 10.0)
    per_deg2 = per_sr.sum() * counts.SR_PER_DEG2
    assert per_deg2 == pytest.approx(published.TRECS_MEDIUM_PER_DEG2, rel=0.25)
    agn_fraction = (per_sr[1] + per_sr[2]) / per_sr.sum()
    assert agn_fraction == pytest.approx(published.TRECS_MEDIUM_AGN_FRACTION, abs=0.01)


def test_valid_over_1e_9_to_10_jy():
    s = np.geomspace(1e-9, 10.0, 400)
    n = BASE.dnds(s)
    assert np.all(np.isfinite(n)) and np.all(n > 0)
    e = counts.euclidean(s, n.sum(0))
    assert np.all(np.diff(e[s > 1.0]) < 0), "Euclidean counts must fall beyond ~1 Jy"
    assert np.all(np.diff(np.log(n.sum(0))) < 0), "dN/dS must decrease with flux"
    # SFG dominate the faint sky, AGN the bright
    assert n[0, 0] / n[:, 0].sum() > 0.9 and n[0, -1] / n[:, -1].sum() < 1e-3


def test_integrate_matches_quad():
    model = counts.CountsModel(counts.BUILTIN, 944e6, "seed", {"s0_jy": 5e-5, "alpha": 0.25})
    edges = np.geomspace(1e-7, 1e-5, 6)
    got = model.integrate(edges)
    for c in range(3):
        for i in range(5):
            ref = quad(lambda s: model.dnds(s)[c, 0], edges[i], edges[i + 1], epsrel=1e-12)[0]
            assert got[c, i] == pytest.approx(ref, rel=1e-9)


def test_frequency_carry_is_a_flux_rescaling():
    # a class with spectral index a: N(>S) at nu equals N(>S / r) at 1.4 GHz, r = (nu / 1.4 GHz)^a
    nu = 944e6
    at_nu = counts.CountsModel(counts.BUILTIN, nu)
    for c, a in enumerate(counts.SPECTRAL_INDEX):
        r = (nu / 1.4e9) ** a
        n_nu = at_nu.integrate([1e-6, 1e-3])[c, 0]
        n_14 = BASE.integrate([1e-6 / r, 1e-3 / r])[c, 0]
        assert n_nu == pytest.approx(n_14, rel=1e-9)
    assert counts.AGN_FLAT_FRACTION == pytest.approx(BASE.dnds(1e-3)[1, 0] / BASE.dnds(1e-3)[1:, 0].sum())


@pytest.mark.parametrize("name,params,s,expected", [
    ("seed", {"s0_jy": 5e-5, "alpha": 0.2}, 1e-6, (1 + 50) ** 0.2),
    ("suppression", {}, 1e-5, (1 + 0.1 * 5 ** 3) ** -0.4),
    ("two_power", {}, 1e-6, 1 - 0.2 * 70 ** 0.71 + 8 * 1.0),
    ("tanh", {}, 2e-6, 1 + math.tanh(5) ** 4),
    ("bump", {"amplitude": 2.0, "centre_jy": 1e-6, "width_dex": 0.5}, 1e-6, 3.0),
    ("bump", {"amplitude": 2.0, "centre_jy": 1e-6, "width_dex": 0.5}, 1e-5, 1 + 2 * math.exp(-2)),
    ("per_bin", {"factors": [2.0, 0.5], "edges_jy": [1e-7, 1e-6, 1e-5]}, 3e-7, 2.0),
    ("per_bin", {"factors": [2.0, 0.5], "edges_jy": [1e-7, 1e-6, 1e-5]}, 3e-6, 0.5),
    ("per_bin", {"factors": [2.0, 0.5], "edges_jy": [1e-7, 1e-6, 1e-5]}, 3e-5, 1.0),
])
def test_modifier_values(name, params, s, expected):
    resolved = counts.resolve_modifier(name, params)
    assert counts.modifier_function(name, resolved)(np.array([s]))[0] == pytest.approx(expected, rel=1e-12)


def test_random_envelope_lies_between_its_curves_and_is_seeded():
    draw = lambda seed: counts.resolve_modifier("random_envelope", {}, np.random.default_rng(seed))
    p1, p2 = draw(1), draw(1)
    assert p1 == p2 and draw(2) != p1
    f = counts.modifier_function("random_envelope", p1)
    s = np.geomspace(1e-9, 10, 500)
    lo = (1 + 5e-5 / s) ** -0.5
    hi = (1 + 5e-5 / s) ** 0.29
    m = f(s)
    assert np.all(m >= lo - 1e-12) and np.all(m <= hi + 1e-12)
    assert np.ptp((m - lo)[s < 1e-6] / (hi - lo)[s < 1e-6]) > 0.3   # really random, not one of the bounds


def test_modified_model_is_base_times_modifier():
    m = counts.CountsModel(counts.BUILTIN, 944e6, "seed", {"s0_jy": 5e-6, "alpha": -0.37})
    s = np.geomspace(1e-8, 1e-2, 30)
    assert np.allclose(m.dnds(s), m.base_dnds(s) * (1 + 5e-6 / s) ** -0.37, rtol=1e-14)


def test_table_round_trip(tmp_path):
    s = np.geomspace(1e-9, 10, 400)
    path = tmp_path / "t.ecsv"
    counts.write_table(path, s, counts.builtin_dnds_1400(s), 1.4e9, {"source": "test"})
    table = counts.read_table(path)
    probe = np.geomspace(2e-9, 5.0, 77)
    assert np.allclose(table.dnds(probe, 1.4e9), counts.BUILTIN.dnds(probe, 1.4e9), rtol=2e-3)
    assert table.valid_range_jy == pytest.approx((1e-9, 10.0))
    bad = tmp_path / "bad.ecsv"
    bad.write_text("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: x, datatype: float64}\nx\n1.0\n")
    with pytest.raises(ValueError, match="not a radsim counts table"):
        counts.read_table(bad)


def test_inverse_cdf_tables_are_normalised_and_monotone():
    m = counts.CountsModel(counts.BUILTIN, 944e6, "per_bin", {"factors": [1.0, 0.0, 3.0],
                                                               "edges_jy": [1e-7, 1e-6, 1e-5, 1e-4]})
    for cdf, lns in m.inverse_cdf_tables(1e-8, 1e-2):
        assert cdf[0] == 0 and cdf[-1] == pytest.approx(1.0) and np.all(np.diff(cdf) >= 0)
        assert lns[0] == pytest.approx(math.log(1e-8)) and lns[-1] == pytest.approx(math.log(1e-2))
