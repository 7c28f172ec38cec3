"""Drawn catalogues against the model integrals (within Poisson errors), and the T-RECS reader."""
import math

import numpy as np
import pytest
from astropy.table import Table

from radsim.sky import catalogue as C
from radsim.sky import counts
from radsim.sky.grid import Grid

GRID = Grid(187.5, -45.0, 256, 2.0 / 256)
MODEL = counts.CountsModel(counts.BUILTIN, 944e6, "seed", {"s0_jy": 5e-5, "alpha": 0.25})


@pytest.fixture(scope="module")
def cat():
    return C.draw(MODEL, GRID, 1e-7, 1e-2, np.random.SeedSequence(123))


def test_numbers_per_class_are_poisson_around_the_model(cat):
    mean = MODEL.number_per_sr(1e-7, 1e-2) * GRID.solid_angle_sr()
    n = cat.counts_per_class()
    assert np.all(np.abs(n - mean) < 4 * np.sqrt(mean)), (n, mean)


def test_flux_histogram_matches_model_integrals(cat):
    edges = np.geomspace(1e-7, 1e-2, 26)
    omega = GRID.solid_angle_sr()
    for c in range(3):
        expected = MODEL.integrate(edges)[c] * omega
        got = np.histogram(cat.flux_jy[cat.cls == c], edges)[0]
        ok = expected > 20
        z = (got[ok] - expected[ok]) / np.sqrt(expected[ok])
        assert np.all(np.abs(z) < 4.5), (c, z)
        chi2 = float((z ** 2).sum())
        assert chi2 < ok.sum() + 5 * math.sqrt(2 * ok.sum()), (c, chi2, ok.sum())


def test_positions_uniform_over_the_footprint(cat):
    x, y = GRID.lm_to_pixel(cat.l, cat.m)
    assert x.min() >= -0.5 and x.max() < 255.5 and y.min() >= -0.5 and y.max() < 255.5
    n = len(cat)
    for v in (x, y):
        quarters = np.histogram(v, [-0.5, 63.5, 127.5, 191.5, 255.5])[0]
        assert np.all(np.abs(quarters - n / 4) < 4 * np.sqrt(n / 4))


def test_morphology(cat):
    sfg, flat, steep = (cat.cls == k for k in range(3))
    assert np.all(cat.major_arcsec[flat] == 0) and np.all(cat.lobe_sep_arcsec[~steep] == 0)
    q = cat.minor_arcsec[sfg] / cat.major_arcsec[sfg]
    assert q.min() >= 0.2 - 1e-6 and q.max() <= 1.0 + 1e-6
    # median SFG size follows Windhorst et al. 1990: 2 arcsec (S_1.4 / 1 mJy)^0.3
    s14 = C.flux_at_1400(cat.flux_jy[sfg], 0, 944e6)
    ratio = cat.major_arcsec[sfg] / (2.0 * (s14 * 1e3) ** 0.3)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    assert np.std(np.log10(ratio)) == pytest.approx(0.2, abs=0.01)
    assert np.all(cat.lobe_sep_arcsec[steep] > 0)
    assert np.allclose(cat.major_arcsec[steep], 0.3 * cat.lobe_sep_arcsec[steep], rtol=1e-6)
    assert np.mean(cat.spectral_index[sfg]) == pytest.approx(-0.7, abs=0.01)


def test_chunks_do_not_change_the_sources():
    """Two chunks drawn from their own streams equal the same chunks in any order."""
    plan = C.plan_sources(MODEL, GRID, 1e-8, 1e-2, np.random.default_rng(5))
    assert plan.n_chunks >= 2, "the test needs a multi-chunk realisation"
    ss = lambda k: np.random.SeedSequence(9, spawn_key=(k,))
    forward = list(C.iter_chunks(plan, GRID, ss))
    again = C.draw_chunk(plan, GRID, 1, np.random.default_rng(ss(1)))
    assert np.array_equal(forward[1].flux_jy, again.flux_jy) and np.array_equal(forward[1].l, again.l)
    total = C.Catalogue.concatenate(forward)
    assert len(total) == plan.total and np.array_equal(total.counts_per_class(), plan.n_per_class)


def test_inverse_cdf_fast_path_matches_exact_interpolation():
    plan = C.plan_sources(MODEL, GRID, 1e-8, 1e-2, np.random.default_rng(5))
    u = np.random.default_rng(0).random(200_000)
    for table in plan.tables:
        exact = np.interp(u, table[0], table[1])
        assert np.max(np.abs(C.inverse_cdf_ln_flux(u, table) - exact)) < 1e-4


def test_resample_scales_counts_and_keeps_morphology(cat):
    rng = np.random.default_rng(3)
    for factor in (0.5, 2.0):
        out = C.resample(cat, lambda s: np.full_like(s, factor), GRID, rng)
        assert abs(len(out) - factor * len(cat)) < 4 * math.sqrt(factor * len(cat))
        assert set(np.unique(out.major_arcsec)) <= set(np.unique(cat.major_arcsec))
    # a flux-dependent modifier: counts per bin follow m(S) n(S)
    m = lambda s: (1 + 5e-6 / s) ** 0.5
    out = C.resample(cat, m, GRID, rng)
    edges = np.geomspace(1e-7, 1e-5, 5)
    before = np.histogram(cat.flux_jy, edges)[0]
    after = np.histogram(out.flux_jy, edges)[0]
    mid = np.sqrt(edges[1:] * edges[:-1])
    assert np.all(np.abs(after / before / m(mid) - 1) < 0.1)


# ---- T-RECS -------------------------------------------------------------------------------------------------

def _trecs_columns(n, rng):
    s1400 = 10 ** rng.uniform(-4, 0, n)                      # mJy
    return {"I1400": s1400.astype(np.float32), "I1900": (s1400 * (1.9 / 1.4) ** -0.7).astype(np.float32),
            "I150": (s1400 * (0.15 / 1.4) ** -0.7).astype(np.float32),
            "x_coord": rng.uniform(-1, 1, n).astype(np.float32), "y_coord": rng.uniform(-1, 1, n).astype(np.float32),
            "size": rng.uniform(0.1, 20, n).astype(np.float32), "latitude": np.zeros(n, np.float32),
            "longitude": np.zeros(n, np.float32), "redshift": rng.uniform(0, 3, n).astype(np.float32)}


def test_read_trecs_2019_split_files(tmp_path):
    rng = np.random.default_rng(1)
    sfg = Table(_trecs_columns(300, rng))
    sfg["e1"] = rng.uniform(-0.3, 0.3, 300).astype(np.float32)
    sfg["e2"] = rng.uniform(-0.3, 0.3, 300).astype(np.float32)
    sfg["PopFlag"] = rng.integers(1, 4, 300).astype(np.int16)
    agn = Table(_trecs_columns(100, rng))
    agn["PopFlag"] = np.repeat([4, 5, 6, 6], 25).astype(np.int16)
    agn["Rs"] = rng.uniform(0.1, 0.9, 100).astype(np.float32)
    agn["PA"] = rng.uniform(0, 180, 100).astype(np.float32)
    sfg.write(tmp_path / "sfg.fits")
    agn.write(tmp_path / "agn.fits")
    s = C.read_trecs(tmp_path / "sfg.fits", 1.4e9)
    a = C.read_trecs(tmp_path / "agn.fits", 1.6e9)
    assert np.all(s.cls == 0) and np.array_equal(np.bincount(a.cls, minlength=3), [0, 50, 50])
    assert np.allclose(s.flux_jy, sfg["I1400"] * 1e-3, rtol=1e-6)
    # 1.6 GHz lies between the 1.4 and 1.9 GHz columns: log-log interpolation of a power law is exact
    assert np.allclose(a.flux_jy, agn["I1400"] * 1e-3 * (1.6 / 1.4) ** -0.7, rtol=1e-5)
    e = np.hypot(sfg["e1"], sfg["e2"])
    assert np.allclose(s.minor_arcsec / s.major_arcsec, (1 - e) / (1 + e), rtol=1e-5)
    steep = a.cls == 2
    rs = np.asarray(agn["Rs"])[steep]
    size = np.asarray(agn["size"])[steep]
    assert np.allclose(a.lobe_sep_arcsec[steep], size * rs, rtol=1e-6)
    assert np.allclose(a.major_arcsec[steep], size * rs * (1 - rs), rtol=1e-5)
    assert np.allclose(np.degrees(s.l), sfg["x_coord"], atol=1e-6)


def test_read_trecs_single_file_and_missing_columns(tmp_path):
    rng = np.random.default_rng(2)
    t = Table(_trecs_columns(60, rng))
    t["RadioClass"] = np.repeat([1, 2, 3, 4, 5, 6], 10).astype(np.int16)
    t["axis ratio"] = rng.uniform(0.2, 1, 60).astype(np.float32)
    t["PA"] = rng.uniform(0, 180, 60).astype(np.float32)
    t["Rs"] = rng.uniform(0.1, 0.9, 60).astype(np.float32)
    t.write(tmp_path / "new.fits")
    c = C.read_trecs(tmp_path / "new.fits", 1.4e9)
    assert np.array_equal(np.bincount(c.cls), [30, 20, 10])
    assert np.allclose((c.minor_arcsec / c.major_arcsec)[c.cls == 0], t["axis ratio"][:30], rtol=1e-5)
    with pytest.raises(C.TrecsError, match="outside the catalogue's columns"):
        C.read_trecs(tmp_path / "new.fits", 30e9)
    t.remove_column("Rs")
    t.write(tmp_path / "norc.fits")
    with pytest.raises(C.TrecsError, match=r"missing column\(s\) \['Rs'\]"):
        C.read_trecs(tmp_path / "norc.fits", 1.4e9)
    t.remove_column("RadioClass")
    t.write(tmp_path / "noclass.fits")
    with pytest.raises(C.TrecsError, match="RadioClass"):
        C.read_trecs(tmp_path / "noclass.fits", 1.4e9)
    (tmp_path / "junk.fits").write_text("not fits")
    with pytest.raises(C.TrecsError, match="cannot read"):
        C.read_trecs(tmp_path / "junk.fits", 1.4e9)


def test_morphology_by_class_slices_is_the_masks_bit_for_bit(monkeypatch):
    """Drawn chunks hold their classes in order, so shapes are computed on slices, not masked copies: the same
    columns, and the same random stream, as per-class masks give."""
    rng = np.random.default_rng(8)
    flux = 10.0 ** rng.uniform(-8, -2, 5000)
    cls = np.sort(rng.integers(0, 3, 5000)).astype(np.int8)
    fast = C.draw_morphology(flux, cls, 943.5e6, np.random.default_rng(1))
    monkeypatch.setattr(C, "_rows_of_classes", lambda cls, classes: [(cls == c, int((cls == c).sum()))
                                                                      for c in classes])
    masked = C.draw_morphology(flux, cls, 943.5e6, np.random.default_rng(1))
    for a, b in zip(fast, masked):
        assert np.array_equal(a, b)
    monkeypatch.undo()                                            # unsorted classes take masks
    (rows, n), = C._rows_of_classes(cls, (1,))
    (mask, n_mask), = C._rows_of_classes(cls[::-1], (1,))
    assert isinstance(rows, slice) and isinstance(mask, np.ndarray) and n == n_mask == int((cls == 1).sum())
    assert np.array_equal(cls[rows], cls[cls == 1])
