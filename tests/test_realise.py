"""`radsim realise` end to end through the installed command: files, their contents, determinism."""
import json

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from radsim import config, tiles
from radsim.dataset import products
from radsim.sky.grid import Grid


@pytest.fixture(scope="module")
def realised(tmp_path_factory):
    from conftest import TINY, radsim_exe, toml_dumps  # noqa: F401
    import subprocess
    d = tmp_path_factory.mktemp("realise")
    cfg_path = d / "tiny.toml"
    cfg_path.write_text(toml_dumps(TINY))
    out = d / "r3"
    proc = subprocess.run(radsim_exe() + ["realise", str(cfg_path), "--index", "3", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return cfg_path, out, proc.stdout


def test_files_and_summary(realised):
    cfg_path, out, stdout = realised
    assert sorted(p.name for p in out.iterdir()) == ["catalogue.fits", "sky.fits", "tiles.h5"]
    assert "realisation 3 (parameter set 1, repeat 1)" in stdout and "alpha" in stdout
    for word in ("sources", "SFG", "AGN", "flux", "catalogue", "render", "labels", "sources/s", "peak memory"):
        assert word in stdout


def test_sky_fits_header_and_flux(realised):
    cfg_path, out, _ = realised
    cfg = config.load(cfg_path)
    with fits.open(out / "sky.fits") as h:
        img, hdr = h[0].data, h[0].header
    assert img.shape == (1, 1, 128, 128) and hdr["BUNIT"] == "JY/PIXEL" and hdr["CTYPE3"] == "FREQ"
    assert hdr["CRVAL3"] == cfg.field.frequency_hz and hdr["CTYPE4"] == "STOKES"
    w = WCS(hdr).celestial
    ra, dec = w.all_pix2world([[64, 64]], 0)[0]
    assert (ra, dec) == pytest.approx((187.5, -45.0))
    grid = Grid.from_config(cfg.field)
    cat = products.read_catalogue_fits(out / "catalogue.fits", grid)
    assert img.sum(dtype=np.float64) == pytest.approx(cat.flux_jy.sum(), rel=1e-3)


def test_tiles_h5_labels_are_the_catalogue_counted_per_tile(realised):
    cfg_path, out, _ = realised
    cfg = config.load(cfg_path)
    grid = Grid.from_config(cfg.field)
    cat = products.read_catalogue_fits(out / "catalogue.fits", grid)
    with fits.open(out / "catalogue.fits") as h:
        assert h["CATALOGUE"].header["NAXIS2"] == len(cat) > 1000
    with h5py.File(out / "tiles.h5") as f:
        images, labels, expected = f["images"][:], f["labels"][:], f["expected"][:]
        assert f["images"].fletcher32 and f["images"].chunks == (1, 32, 32)
        assert np.array_equal(f["realisation"][:], np.full(16, 3))
        edges = f.attrs["bin_edges_jy"]
        assert f.attrs["config_hash"] == cfg.hash()
        assert json.loads(f.attrs["modifier"])["alpha"] == 0.25
        origins = f["tile_origin"][:]
    t = tiles.Tiling(128, 32)
    x, y = grid.lm_to_pixel(cat.l, cat.m)
    assert np.array_equal(labels, tiles.label_counts(t, x, y, cat.flux_jy, edges))
    with fits.open(out / "sky.fits") as h:
        sky = h[0].data[0, 0]
    assert np.array_equal(images, t.cut(sky)) and np.array_equal(origins, t.origins())
    z = (labels.sum(0) - expected.sum(0)) / np.sqrt(expected.sum(0))
    assert np.all(np.abs(z) < 4)


def test_same_config_same_bits_and_other_index_differs(realised, tmp_path, run_radsim):
    cfg_path, out, _ = realised
    run_radsim("realise", cfg_path, "--index", 3, "--out", tmp_path / "again", "--no-catalogue")
    run_radsim("realise", cfg_path, "--index", 2, "--out", tmp_path / "other", "--no-catalogue")
    with h5py.File(out / "tiles.h5") as a, h5py.File(tmp_path / "again" / "tiles.h5") as b, \
            h5py.File(tmp_path / "other" / "tiles.h5") as c:
        assert np.array_equal(a["images"][:], b["images"][:]) and np.array_equal(a["labels"][:], b["labels"][:])
        assert not np.array_equal(a["images"][:], c["images"][:])
    assert not (tmp_path / "again" / "catalogue.fits").exists()


def test_existing_output_is_not_clobbered(realised, run_radsim):
    cfg_path, out, _ = realised
    before = (out / "tiles.h5").read_bytes()
    proc = run_radsim("realise", cfg_path, "--index", 0, "--out", out, check=False)
    assert proc.returncode == 2 and "already holds" in proc.stderr and "--overwrite" in proc.stderr
    assert (out / "tiles.h5").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_bad_inputs_give_clear_errors(tmp_path, run_radsim, write_config, tiny_dict):
    proc = run_radsim("realise", tmp_path / "none.toml", "--out", tmp_path / "o", check=False)
    assert proc.returncode == 2 and "config file not found" in proc.stderr and "Traceback" not in proc.stderr
    path = write_config(tiny_dict)
    proc = run_radsim("realise", path, "--out", tmp_path / "o", "--set", "field.npix=0", check=False)
    assert proc.returncode == 2 and "field.npix = 0" in proc.stderr
    proc = run_radsim("realise", path, "--out", tmp_path / "o", "--index", "99", check=False)
    assert proc.returncode == 2 and "out of range" in proc.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_radsim("realise", path, "--out", blocker / "sub", check=False)
    assert proc.returncode == 2 and "cannot create output directory" in proc.stderr
    proc = run_radsim("realise", path, "--out", tmp_path / "o2", "--set", "sources.flux_min_jy=1e-12", check=False)
    assert proc.returncode == 2 and "outside the range of counts.base" in proc.stderr


def test_help_explains_units(run_radsim):
    top = run_radsim("--help").stdout
    assert "realise" in top and "counts" in top and "Jy" in top
    sub = run_radsim("realise", "--help").stdout
    assert "--index" in sub and "--set" in sub and "Jy/pixel" in sub
    assert "S^2.5 dN/dS" in run_radsim("counts", "plot", "--help").stdout


def test_counts_plot(tmp_path, run_radsim, write_config, tiny_dict):
    path = write_config(tiny_dict)
    out = tmp_path / "plots" / "counts.png"
    proc = run_radsim("counts", "plot", path, "--out", out)
    assert "2 parameter sets" in proc.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_counts_from_trecs_table_is_a_usable_base(tmp_path, run_radsim, write_config, tiny_dict):
    from astropy.table import Table
    from radsim.sky import catalogue as C
    from radsim.sky import counts
    # a T-RECS-like catalogue drawn from the built-in model, written with T-RECS column names
    grid = Grid(0.0, 0.0, 400, 2.0 / 400)
    model = counts.CountsModel(counts.BUILTIN, 1.4e9)
    cat = C.draw(model, grid, 1e-7, 1.0, np.random.SeedSequence(11))
    t = Table({"I1400": (cat.flux_jy * 1e3).astype(np.float32),
               "I1000": (cat.flux_jy * 1e3 * (1.0 / 1.4) ** -0.7).astype(np.float32),
               "x_coord": np.degrees(cat.l).astype(np.float32), "y_coord": np.degrees(cat.m).astype(np.float32),
               "size": cat.major_arcsec, "axis ratio": np.ones(len(cat), np.float32),
               "PA": cat.pa_deg, "Rs": np.full(len(cat), 0.5, np.float32),
               "RadioClass": np.array([1, 4, 6], np.int16)[cat.cls]})
    t.write(tmp_path / "trecs.fits")
    table = tmp_path / "trecs-counts.ecsv"
    proc = run_radsim("counts", "from-trecs", tmp_path / "trecs.fits", "--frequency-hz", "1.4e9", "--out", table)
    assert "wrote" in proc.stdout
    base = counts.read_table(table)
    edges = np.geomspace(1e-6, 1e-4, 3)
    area = np.degrees(np.ptp(cat.l)) * np.degrees(np.ptp(cat.m))
    got = counts.CountsModel(base, 1.4e9).integrate(edges).sum(0) * area * counts.SR_PER_DEG2
    want = np.histogram(cat.flux_jy, edges)[0]
    assert np.all(np.abs(got / want - 1) < 0.05)
    tiny_dict["counts"]["base"] = str(table)
    tiny_dict["sources"]["flux_min_jy"] = 2e-7
    tiny_dict["sources"]["flux_max_jy"] = 0.3
    proc = run_radsim("realise", write_config(tiny_dict), "--out", tmp_path / "r", "--no-catalogue")
    assert "sources" in proc.stdout
    proc = run_radsim("counts", "from-trecs", tmp_path / "missing.fits", "--frequency-hz", "1.4e9",
                      "--out", table, check=False)
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_preview(realised, tmp_path, run_radsim):
    _, out, _ = realised
    png = tmp_path / "p.png"
    proc = run_radsim("preview", out, "--out", png, "--tile", 5)
    assert "wrote" in proc.stdout and png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 30_000
    proc = run_radsim("preview", out, "--tile", 99, check=False)
    assert proc.returncode == 2 and "out of range" in proc.stderr
    proc = run_radsim("preview", tmp_path, check=False)
    assert proc.returncode == 2 and "not a realisation directory" in proc.stderr


def test_realise_with_the_fast_imager(tmp_path, run_radsim, write_config, tiny_dict):
    tiny_dict["field"].update({"npix": 128, "size_deg": 128 * 5.0 / 3600})      # 5 arcsec pixels
    tiny_dict["imaging"] = {"backend": "fast", "noise_rms_jy": 25e-6, "integration_s": 900.0}
    out = tmp_path / "fast"
    proc = run_radsim("realise", write_config(tiny_dict), "--index", 1, "--out", out, "--no-catalogue")
    assert "imaging fast: beam" in proc.stdout and "CLEAN iterations" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["psf.fits", "residual.fits", "restored.fits", "sky.fits",
                                                       "tiles.h5"]
    with fits.open(out / "restored.fits") as h:
        restored, hdr = h[0].data[0, 0], h[0].header
    assert hdr["BUNIT"] == "JY/BEAM" and 8 / 3600 < hdr["BMIN"] <= hdr["BMAJ"] < 20 / 3600 and "BPA" in hdr
    with fits.open(out / "psf.fits") as h:
        assert h[0].data[0, 0].max() == pytest.approx(1.0)
    with h5py.File(out / "tiles.h5") as f:
        assert np.array_equal(f["images"][:], tiles.Tiling(128, 32).cut(restored))
        assert f["images"].attrs["units"] == "Jy/beam" and f.attrs["imaging_backend"] == "fast"
        assert f.attrs["noise_rms_jy"] == pytest.approx(25e-6)
    png = tmp_path / "p.png"
    run_radsim("preview", out, "--out", png)
    assert png.stat().st_size > 50_000


def test_simulate_streams_the_points_and_gets_the_same_tiles(tiny_dict, monkeypatch):
    """What simulate asks for (sky_model=False: the points transformed in batches as they come, none kept) gives
    bit for bit the tiles of a realisation that keeps its points and offers its sky model."""
    from radsim.instrument.imaging.base import build_imager
    from radsim.run import pipeline
    from radsim.sky import render
    monkeypatch.setattr(render, "NUFFT_CHUNK", 2000)        # several batches even for this small field
    tiny_dict["field"].update({"npix": 128, "size_deg": 128 * 5.0 / 3600})
    tiny_dict["imaging"] = {"backend": "fast", "noise_rms_jy": 25e-6, "integration_s": 900.0}
    cfg = config.from_dict(tiny_dict)
    imager = build_imager(cfg)
    kept = pipeline.make_realisation(cfg, 1, imager=imager)
    streamed = pipeline.make_realisation(cfg, 1, imager=imager, sky_model=False)
    assert kept.n_sources > 3 * 2000 and streamed.observed.points_jy.size == 0
    assert np.array_equal(kept.tiles, streamed.tiles) and np.array_equal(kept.labels, streamed.labels)
    assert streamed.flux_in_image_jy == pytest.approx(kept.flux_in_image_jy, rel=1e-12)
    assert kept.sky.shape == (128, 128)
    with pytest.raises(ValueError, match="sky_model=True"):
        streamed.sky


def test_imaging_errors_before_any_work(tmp_path, run_radsim, write_config, tiny_dict):
    tiny_dict["imaging"] = {"backend": "fast"}
    tiny_dict["field"]["centre_dec_deg"] = 40.0
    out = tmp_path / "north"
    proc = run_radsim("realise", write_config(tiny_dict), "--out", out, check=False)
    assert proc.returncode == 2 and "below the limit of 15 deg" in proc.stderr
    assert not (out / "sky.fits").exists()
    tiny_dict["field"]["centre_dec_deg"] = -45.0
    tiny_dict["imaging"] = {"backend": "fast", "weighting": "uniform"}    # 14 arcsec pixels: beam < 2 pixels
    proc = run_radsim("realise", write_config(tiny_dict), "--out", out, check=False)
    assert proc.returncode == 2 and "fewer than 2 pixels" in proc.stderr


def test_realise_with_yandasoft_missing_says_what_to_do(tmp_path, run_radsim, write_config, tiny_dict):
    tiny_dict["field"].update({"npix": 128, "size_deg": 128 * 5.0 / 3600})
    tiny_dict["imaging"] = {"backend": "yandasoft"}
    proc = run_radsim("realise", write_config(tiny_dict), "--out", tmp_path / "y", check=False)
    assert proc.returncode == 2 and "RADSIM_IMAGE" in proc.stderr and "containers/README.md" in proc.stderr
    assert not (tmp_path / "y" / "sky.fits").exists()


def test_realise_with_a_restoring_beam_only(tmp_path, run_radsim, write_config, tiny_dict):
    """Backend none with a beam: the seed's no-telescope-effects images, in Jy/beam."""
    tiny_dict["imaging"] = {"backend": "none", "beam_arcsec": 45.0}
    out = tmp_path / "beam"
    run_radsim("realise", write_config(tiny_dict), "--out", out, "--no-catalogue")
    with fits.open(out / "restored.fits") as h:
        restored, hdr = h[0].data[0, 0], h[0].header
    with fits.open(out / "sky.fits") as h:
        sky = h[0].data[0, 0]
    with fits.open(out / "psf.fits") as h:
        psf = h[0].data[0, 0]
    assert hdr["BUNIT"] == "JY/BEAM" and hdr["BMAJ"] == pytest.approx(45.0 / 3600)
    assert psf.shape == sky.shape and np.unravel_index(psf.argmax(), psf.shape) == (64, 64)
    beam_pixels = np.pi * 45.0 ** 2 / (4 * np.log(2)) / (0.5 * 3600 / 128) ** 2
    inner = (slice(20, 108), slice(20, 108))
    assert restored[inner].sum() / beam_pixels == pytest.approx(sky[inner].sum(), rel=0.05)


def test_tiles_h5_records_the_beam(tmp_path, run_radsim, write_config, tiny_dict):
    import h5py
    tiny_dict["imaging"] = {"backend": "none", "beam_arcsec": 40.0}
    out = tmp_path / "b"
    run_radsim("realise", write_config(tiny_dict), "--out", out, "--no-catalogue")
    with h5py.File(out / "tiles.h5") as f:
        assert (f.attrs["beam_major_arcsec"], f.attrs["beam_minor_arcsec"], f.attrs["beam_pa_deg"]) == (40.0, 40.0, 0.0)
        assert f.attrs["image_units"] == "JY/BEAM" and f.attrs["imaging_backend"] == "none"


def test_overwrite_removes_the_previous_realisations_products(tmp_path, run_radsim, write_config, tiny_dict):
    """--overwrite with another backend and without the catalogue: the old catalogue.fits and restored images
    would describe another sky, so they go, and the summary lists only what this run wrote."""
    tiny_dict["field"].update({"npix": 128, "size_deg": 128 * 5.0 / 3600})
    tiny_dict["imaging"] = {"backend": "fast", "noise_rms_jy": 25e-6, "integration_s": 900.0}
    out = tmp_path / "r"
    run_radsim("realise", write_config(tiny_dict), "--index", 0, "--out", out)
    assert (out / "catalogue.fits").exists() and (out / "restored.fits").exists()
    tiny_dict["imaging"] = {"backend": "none"}
    proc = run_radsim("realise", write_config(tiny_dict, "none.toml"), "--index", 1, "--out", out, "--no-catalogue",
                      "--overwrite")
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["sky.fits", "tiles.h5"]
    assert "wrote " + str(out) + "/: sky.fits, tiles.h5" in proc.stdout
    assert "removed catalogue.fits, restored.fits, residual.fits, psf.fits" in proc.stdout
