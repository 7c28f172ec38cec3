"""Realisations whose sources come from a T-RECS catalogue, re-sampled to the modifier."""
import numpy as np
import pytest
from astropy.table import Table

from radsim.sky import catalogue as C
from radsim import config
from radsim.sky import counts
from radsim.run import pipeline
from radsim.sky.grid import Grid


@pytest.fixture(scope="module")
def trecs_file(tmp_path_factory):
    """A T-RECS-like catalogue over 1 deg x 1 deg (larger than the 0.5 deg test field), drawn from the
    built-in model, written with T-RECS column names (fluxes in mJy at 780 MHz and 1 GHz)."""
    grid = Grid(0.0, 0.0, 200, 1.0 / 200)
    cat = C.draw(counts.CountsModel(counts.BUILTIN, 943.5e6), grid, 1e-7, 1e-2, np.random.SeedSequence(21))
    to = lambda nu: (cat.flux_jy * 1e3 * (nu / 943.5e6) ** -0.7).astype(np.float32)
    t = Table({"I780": to(780e6), "I1000": to(1000e6),
               "x_coord": np.degrees(cat.l).astype(np.float32), "y_coord": np.degrees(cat.m).astype(np.float32),
               "size": cat.major_arcsec, "axis ratio": np.where(cat.major_arcsec > 0, 0.5, 1).astype(np.float32),
               "PA": cat.pa_deg, "Rs": np.full(len(cat), 0.4, np.float32),
               "RadioClass": np.array([1, 4, 6], np.int16)[cat.cls]})
    path = tmp_path_factory.mktemp("trecs") / "trecs.fits"
    t.write(path)
    return path


def _cfg(tiny_dict, path, **sources):
    tiny_dict["sources"].update({"trecs_catalogues": [str(path)], **sources})
    return config.from_dict(tiny_dict)


def test_trecs_sky_follows_the_modifier(tiny_dict, trecs_file):
    cfg = _cfg(tiny_dict, trecs_file)
    r = pipeline.make_realisation(cfg, 2)              # set 1: seed law alpha = 0.25
    assert r.modifier_params["alpha"] == 0.25
    grid = Grid.from_config(cfg.field)
    inside = C.crop_to_field(pipeline.load_trecs(cfg.sources.trecs_catalogues, cfg.field.frequency_hz), grid)
    inside = inside.select(inside.flux_jy >= 1e-7)
    m = (1 + 5e-5 / inside.flux_jy) ** 0.25
    assert r.mean_per_class.sum() == pytest.approx(m.sum(), rel=1e-9)
    assert abs(r.n_sources - m.sum()) < 4 * np.sqrt(m.sum())
    assert r.n_sources > 1.3 * len(inside)               # the modifier really added sources
    z = (r.labels.sum(0) - r.expected.sum(0)) / np.sqrt(r.expected.sum(0))
    assert np.all(np.abs(z) < 4.5)
    again = pipeline.make_realisation(cfg, 2)
    assert np.array_equal(r.tiles, again.tiles) and np.array_equal(r.labels, again.labels)


def test_trecs_sky_keeps_the_morphology(tiny_dict, trecs_file, tmp_path):
    from radsim.dataset import products
    cfg = _cfg(tiny_dict, trecs_file)
    grid = Grid.from_config(cfg.field)
    sink = products.CatalogueFitsWriter(tmp_path / "c.fits", grid, cfg.field.frequency_hz)
    pipeline.make_realisation(cfg, 3, sink=sink)
    sink.close()
    out = products.read_catalogue_fits(tmp_path / "c.fits", grid)
    src = pipeline.load_trecs(cfg.sources.trecs_catalogues, cfg.field.frequency_hz)
    assert set(np.unique(out.major_arcsec)) <= set(np.unique(src.major_arcsec))
    steep = out.cls == 2
    assert np.allclose(out.major_arcsec[steep], out.lobe_sep_arcsec[steep] * 0.6, rtol=1e-5)


def test_catalogue_smaller_than_the_field_is_refused(tiny_dict, trecs_file):
    tiny_dict["field"]["size_deg"] = 2.0
    cfg = _cfg(tiny_dict, trecs_file)
    with pytest.raises(C.TrecsError, match="less than the 2 x 2 deg field"):
        pipeline.make_realisation(cfg, 0)


def test_missing_trecs_file_is_named(tiny_dict, tmp_path):
    tiny_dict["sources"]["trecs_catalogues"] = [str(tmp_path / "gone.fits")]
    with pytest.raises(config.ConfigError, match="sources.trecs_catalogues = .*gone.fits.*no such file"):
        config.from_dict(tiny_dict)


def test_realise_command_with_trecs(tiny_dict, trecs_file, write_config, run_radsim, tmp_path):
    tiny_dict["sources"]["trecs_catalogues"] = [str(trecs_file)]
    proc = run_radsim("realise", write_config(tiny_dict), "--index", 1, "--out", tmp_path / "r")
    assert "sources" in proc.stdout and (tmp_path / "r" / "tiles.h5").exists()
