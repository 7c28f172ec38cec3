"""radtrain.data on a real radsim dataset: disjoint per-rank parts, equal steps, statistics, the target and
pixel transforms and their inverses, the 8 symmetries of a tile, seeded tf.data pipelines."""
import numpy as np
import pytest

from radtrain import data
from radsim.dataset.reader import Dataset


def tiles_of(ds, split, part):
    d = data.load_part(ds, split, part)
    return {(int(r), bytes(img.tobytes())) for r, img in zip(d["realisation"], d["images"])}


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("split", ["train", "validation"])
def test_rank_parts_are_disjoint_cover_the_split_and_match_their_counts(train_dataset, split, size):
    ds = Dataset(train_dataset)
    parts = data.rank_parts(ds, split, size)
    assert len(parts) == size
    whole = ds.load(split)
    expected = {(int(r), bytes(img.tobytes())) for r, img in zip(whole["realisation"], whole["images"])}
    seen = set()
    for part in parts:
        got = tiles_of(ds, split, part)
        assert len(got) == part.n_tiles
        assert not (got & seen), "two ranks read the same tile"
        seen |= got
    assert seen == expected
    n_shards = len(ds.shards_for(split))
    if n_shards >= size:       # whole shards, balanced: 16-tile shards differ by at most one shard
        assert all(p.stride == 1 for p in parts)
        assert max(p.n_tiles for p in parts) - min(p.n_tiles for p in parts) <= 16
    else:                      # interleaved tiles: counts differ by at most one
        assert all(p.stride == size for p in parts)
        assert max(p.n_tiles for p in parts) - min(p.n_tiles for p in parts) <= 1


def test_steps_per_epoch_is_what_the_smallest_rank_fills(train_dataset):
    ds = Dataset(train_dataset)
    parts = data.rank_parts(ds, "train", 4)                   # 6 shards of 16 tiles on 4 ranks: 32/32/16/16
    assert sorted(p.n_tiles for p in parts) == [16, 16, 32, 32]
    assert data.steps_per_epoch(parts, 8) == 2
    with pytest.raises(data.DataError, match="fewer than one batch of 32"):
        data.steps_per_epoch(parts, 32)


def test_check_split_names_an_empty_split(train_dataset):
    ds = Dataset(train_dataset)
    assert data.check_split(ds, "test") == 16
    ds.split = {**ds.split, "n_tiles": {**ds.split["n_tiles"], "test": 0}}
    with pytest.raises(data.DataError, match="'test' split has no tiles"):
        data.check_split(ds, "test")


def test_a_per_tile_split_is_counted_and_shared_out(train_dataset, tmp_path):
    """The seed's per-tile split: the training set's tiles hard-linked and re-split by `radsim simulate` with
    dataset.split_by = "tile" (no tile made again); every split has tiles, counted from the shards, and the
    ranks' parts cover each split once."""
    import json
    import subprocess
    from conftest import radsim_exe
    tiled = tmp_path / "tiled"
    subprocess.run(["cp", "-al", str(train_dataset), str(tiled)], check=True)
    proc = subprocess.run(radsim_exe() + ["simulate", str(train_dataset.parent / "sim.toml"), "--set",
                                          'dataset.split_by="tile"', "--out", str(tiled)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "0 to make" in proc.stderr, proc.stderr
    ds = Dataset(tiled)
    assert ds.split["by"] == "tile"
    total = sum(r["n_tiles"] for r in ds.manifest["realisations"])
    counts = {split: data.check_split(ds, split) for split in ("train", "validation", "test")}
    assert sum(counts.values()) == total and min(counts.values()) > 0
    for split, n in counts.items():
        assert sum(p.n_tiles for p in data.rank_parts(ds, split, 2)) == n
    assert Dataset(train_dataset).split["by"] == "realisation"          # the original is untouched
    # and a network trains on it, its run recording the split
    from conftest import radtrain_exe, train_config
    proc = subprocess.run(radtrain_exe() + ["fit", str(train_config(tmp_path, train__epochs=1)), "--dataset",
                                            str(tiled), "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["dataset"]["split"]["by"] == "tile" and run["dataset"]["split"]["n_tiles"] == counts


def test_statistics_match_a_direct_computation(train_dataset):
    ds = Dataset(train_dataset)
    stats = data.statistics(ds, max_tiles=10_000)             # every training tile
    train = ds.load("train")
    pixels = train["images"].astype(np.float64)
    assert stats.n_tiles == 96
    assert stats.pixel_mean == pytest.approx(pixels.mean(), rel=1e-9)
    assert stats.pixel_std == pytest.approx(pixels.std(), rel=1e-9)
    assert stats.noise == pytest.approx(1.4826 * np.median(np.abs(pixels - np.median(pixels))), rel=1e-9)
    # restored images: the noise estimate is close to the simulated 25 uJy/beam (sources add a little)
    assert 20e-6 < stats.noise < 40e-6
    assert np.allclose(stats.label_mean, train["labels"].mean(axis=0))
    sub = data.statistics(ds, max_tiles=20)                   # every 5th tile: 20 of 96
    assert sub.n_tiles == 20 and sub == data.Statistics.from_dict(sub.to_dict())


def stats_for_tests():
    return data.Statistics(pixel_mean=1.0, pixel_std=2.0, noise=0.5, aux_mean=[0.0, 0.0, 0.0], aux_std=[1.0, 1.0, 1.0],
                           label_mean=[10.0, 100.0], label_std=[2.0, 20.0], n_tiles=1)


@pytest.mark.parametrize("target", ["log1p", "counts", "standardised"])
def test_targets_invert_exactly(target):
    s = stats_for_tests()
    counts = np.array([[0.0, 5.0], [12.0, 130.0], [3e4, 1.0]])
    y = data.encode(counts, s, target)
    assert y.dtype == np.float32
    assert np.allclose(data.decode(y, s, target), counts, rtol=1e-6, atol=1e-4)
    if target == "log1p":
        assert np.allclose(y, np.log10(1 + counts))
    if target == "standardised":
        assert np.allclose(y[1], [(12 - 10) / 2, (130 - 100) / 20])


def test_pixel_transforms():
    s = stats_for_tests()
    x = np.array([[[0.0, 1.0], [3.0, -1.5]]], dtype=np.float32)
    assert data.preprocess(x, s, "none").shape == (1, 2, 2, 1)
    assert np.allclose(data.preprocess(x, s, "standardise")[..., 0], (x - 1.0) / 2.0)
    assert np.allclose(data.preprocess(x, s, "asinh", asinh_scale=3.0)[..., 0], np.arcsinh(x / 1.5))
    aux = data.aux_features(x)
    assert np.allclose(aux[:, :2], [[2.5, np.sqrt((1 + 9 + 2.25) / 4)]])
    assert data.aux_inputs(x, s, []) is None
    assert np.allclose(data.aux_inputs(x, s, ["rms"]), [[np.sqrt(12.25 / 4)]])


def test_aux_features_are_each_tiles_own_whatever_the_block(monkeypatch):
    """aux_features works AUX_BLOCK tiles at a time (to bound its float64 copies): each tile's features are those
    it has alone, to the bit, across block boundaries and with the noise column kept in place."""
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 1e-4, (30, 16, 16)).astype(np.float32)
    noise = rng.uniform(2e-5, 3e-5, 30)
    alone = np.concatenate([data.aux_features(x[i:i + 1], noise[i:i + 1]) for i in range(30)])
    monkeypatch.setattr(data, "AUX_BLOCK", 7)
    assert np.array_equal(data.aux_features(x, noise), alone)
    assert np.array_equal(data.aux_features(x)[:, :3], alone[:, :3]) and np.isnan(data.aux_features(x)[:, 3]).all()


def test_width_is_the_gaussian_sigma_and_ignores_a_few_bright_sources():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 2.0, (3, 128, 128)).astype(np.float32)
    x[1, :4, :4] += 500.0                                     # a bright source: 16 of 16384 pixels
    total, rms, width, noise = data.aux_features(x, tile_noise=[2.0, 2.1, 2.2]).T
    assert noise.tolist() == pytest.approx([2.0, 2.1, 2.2]) and np.isnan(data.aux_features(x)[:, 3]).all()
    assert np.allclose(width, 2.0, rtol=0.03)
    assert rms[1] > 5 * rms[0] and abs(width[1] - width[0]) < 0.03 * width[0]


def test_dihedral_codes_are_the_eight_symmetries_of_a_square():
    import tensorflow as tf
    tile = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    got = [data.dihedral(tf.constant(tile), tf.constant(c, tf.int64)).numpy()[..., 0] for c in range(8)]
    want = [np.rot90(tile[..., 0], k) for k in range(4)] + [np.fliplr(np.rot90(tile[..., 0], k)) for k in range(4)]
    for g, w in zip(got, want):
        assert np.array_equal(g, w)
    assert len({g.tobytes() for g in got}) == 8


def test_pipeline_shuffles_by_seed_augments_and_keeps_labels():
    n = 40
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4, 4, 1)).astype(np.float32)
    y = np.arange(n, dtype=np.float32)[:, None] * [1.0, 2.0]
    aux = np.arange(n, dtype=np.float32)[:, None]

    def epoch(seed, augment):
        ds = data.make_dataset(x, y.astype(np.float32), aux, batch_size=8, shuffle=True, augment=augment, seed=seed)
        return [(inp["image"].numpy(), inp["aux"].numpy(), t.numpy()) for inp, t in ds]

    a, b, c = epoch(5, True), epoch(5, True), epoch(6, True)
    order = lambda batches: np.concatenate([t[:, 0] for _, _, t in batches])  # noqa: E731
    assert np.array_equal(order(a), order(b)) and not np.array_equal(order(a), order(c))
    assert sorted(order(a)) == list(range(n))                  # every tile once per epoch
    codes_seen = set()
    for images, aux_b, targets in a:
        for img, au, t in zip(images, aux_b, targets):
            i = int(t[0])
            assert t[1] == 2 * i and au[0] == i                # labels and aux stay with their tile
            variants = [np.rot90(x[i, ..., 0], k) for k in range(4)]
            variants += [np.fliplr(v) for v in variants]
            match = [k for k, v in enumerate(variants) if np.array_equal(v, img[..., 0])]
            assert match, "an augmented tile is not a flip/rotation of its original"
            codes_seen.add(match[0])
    assert len(codes_seen) >= 6                                 # 40 draws from 8 codes
    plain = epoch(5, False)
    assert all(np.array_equal(img, x[int(t[0])]) for images, _, targets in plain for img, t in zip(images, targets))
