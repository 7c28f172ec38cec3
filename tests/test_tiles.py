import numpy as np
import pytest

from radsim.sky import catalogue as C
from radsim import tiles
from radsim.sky import counts
from radsim.sky.grid import Grid


def test_cut_order_and_origins():
    t = tiles.Tiling(100, 32)          # 3 x 3 tiles; the last 4 rows and columns are not tiled
    img = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    cut = t.cut(img)
    assert cut.shape == (9, 32, 32)
    for k, (oy, ox) in enumerate(t.origins()):
        assert np.array_equal(cut[k], img[oy:oy + 32, ox:ox + 32])
    assert t.tile_of(np.array([31.4, 31.6, 95.4, 95.6]), np.array([0, 0, 70, 70])).tolist() == [0, 1, 8, -1]


def test_labels_sum_to_the_catalogue_histogram_of_the_tiled_area():
    grid = Grid(0.0, -30.0, 100, 1.0 / 100)
    model = counts.CountsModel(counts.BUILTIN, 944e6)
    cat = C.draw(model, grid, 1e-7, 1e-3, np.random.SeedSequence(4))
    t = tiles.Tiling(100, 32)
    edges = np.geomspace(1e-7, 1e-5, 6)
    x, y = grid.lm_to_pixel(cat.l, cat.m)
    lab = tiles.label_counts(t, x, y, cat.flux_jy, edges)
    inside = (x < 95.5) & (y < 95.5)
    assert (~inside).sum() > 100
    assert np.array_equal(lab.sum(0), np.histogram(cat.flux_jy[inside], edges)[0])
    # each tile's labels are the histogram of the sources whose centre it holds
    k = 4
    oy, ox = t.origins()[k]
    mine = (x >= ox - 0.5) & (x < ox + 31.5) & (y >= oy - 0.5) & (y < oy + 31.5)
    assert np.array_equal(lab[k], np.histogram(cat.flux_jy[mine], edges)[0])


def test_expected_counts_follow_the_model_and_the_labels():
    grid = Grid(0.0, -30.0, 256, 2.0 / 256)
    model = counts.CountsModel(counts.BUILTIN, 944e6, "seed", {"s0_jy": 5e-6, "alpha": 0.3})
    t = tiles.Tiling(256, 64)
    edges = np.geomspace(1e-7, 1e-5, 6)
    exp = tiles.expected_counts(model, grid, t, edges)
    assert exp.sum() == pytest.approx(model.integrate(edges).sum() * grid.solid_angle_sr(), rel=1e-10)
    cat = C.draw(model, grid, 1e-7, 1e-5, np.random.SeedSequence(8))
    x, y = grid.lm_to_pixel(cat.l, cat.m)
    lab = tiles.label_counts(t, x, y, cat.flux_jy, edges)
    z = (lab - exp) / np.sqrt(exp)
    assert np.abs(z).max() < 4.5 and abs(z.mean()) < 4 / np.sqrt(z.size)
