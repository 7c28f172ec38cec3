"""Sharded HDF5 tiles written, rolled over, read back and verified; corrupt and truncated shards named."""
import numpy as np
import pytest

from radsim.dataset import reader, shards

EDGES = np.geomspace(1e-7, 1e-5, 6)


def fake_realisation(index, n=16, t=32, seed=0):
    rng = np.random.default_rng(seed + index)
    return dict(index=index, tiles=rng.normal(size=(n, t, t)).astype(np.float32),
                labels=rng.poisson(50, (n, 5)).astype(np.float32), expected=np.full((n, 5), 50.0),
                tile_origin=np.stack([np.arange(n) // 4 * t, np.arange(n) % 4 * t], axis=1),
                row={"set_index": index // 2, "repeat": index % 2, "seed": 7, "n_sources": 1000 + index,
                     "modifier": {"name": "seed", "alpha": 0.1 * index}, "noise_rms_jy": 25e-6,
                     "beam_major_arcsec": 16.6, "beam_minor_arcsec": 15.2, "beam_pa_deg": 93.0})


def write(tmp_path, indices, max_bytes=2 ** 31):
    w = shards.ShardWriter(tmp_path / "shards", 3, tile_size=32, bin_edges_jy=EDGES,
                           attrs={"config_hash": "abc", "pixel_deg": 0.002}, max_bytes=max_bytes)
    reals = [fake_realisation(i) for i in indices]
    for r in reals:
        w.add(r["index"], r["tiles"], r["labels"], r["expected"], r["tile_origin"], r["row"])
    return w.close(), reals


def test_round_trip_and_rollover(tmp_path):
    infos, reals = write(tmp_path, [4, 9, 2, 7, 5], max_bytes=100_000)   # each realisation ~66 kB of tiles
    assert len(infos) >= 3 and sum(i.n_tiles for i in infos) == 80
    assert sorted(r for i in infos for r in i.realisations) == [2, 4, 5, 7, 9]
    assert [p.name for p in sorted((tmp_path / "shards").iterdir())] == [i.path.name for i in infos]
    by_index = {r["index"]: r for r in reals}
    for info in infos:
        d = reader.read_shard(info.path)
        assert reader.verify_shard(info.path) == []
        assert d["attrs"]["config_hash"] == "abc" and np.allclose(d["attrs"]["bin_edges_jy"], EDGES)
        for idx in info.realisations:
            mine = d["realisation"] == idx
            assert np.array_equal(d["images"][mine], by_index[idx]["tiles"])
            assert np.array_equal(d["labels"][mine], by_index[idx]["labels"])
            row = d["realisations"][d["realisations"]["id"] == idx][0]
            assert row["n_sources"] == 1000 + idx and row["beam_minor_arcsec"] == 15.2
    import h5py
    with h5py.File(infos[0].path) as f:
        assert f["images"].chunks == (1, 32, 32) and f["images"].fletcher32


def test_unfinished_shard_is_never_under_its_final_name(tmp_path):
    w = shards.ShardWriter(tmp_path / "s", 0, tile_size=32, bin_edges_jy=EDGES)
    r = fake_realisation(1)
    w.add(1, r["tiles"], r["labels"], r["expected"], r["tile_origin"], r["row"])
    assert [p.name for p in (tmp_path / "s").iterdir()] == [".rank0000-0000.h5.tmp"]
    w.abort()
    assert list((tmp_path / "s").iterdir()) == []


def test_corrupt_shard_is_named(tmp_path):
    infos, _ = write(tmp_path, [1])
    path = infos[0].path
    import h5py
    with h5py.File(path) as f:                      # where tile 5's chunk lies in the file
        info = f["images"].id.get_chunk_info(5)
    data = bytearray(path.read_bytes())
    start = info.byte_offset + 100
    data[start:start + 64] = bytes(b ^ 0xFF for b in data[start:start + 64])
    path.write_bytes(bytes(data))
    problems = reader.verify_shard(path)
    assert problems and str(path) in problems[0] and "verify" in problems[0]


def test_truncated_and_foreign_files_are_named(tmp_path):
    infos, _ = write(tmp_path, [1])
    path = infos[0].path
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(reader.ShardError, match="truncated or corrupt"):
        reader.read_shard(path)
    import h5py
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(reader.ShardError, match="not a radsim shard"):
        reader.read_shard(other)
    with pytest.raises(reader.ShardError, match="not found"):
        reader.read_shard(tmp_path / "none.h5")


def test_wrong_tile_size_is_refused(tmp_path):
    w = shards.ShardWriter(tmp_path / "s", 0, tile_size=16, bin_edges_jy=EDGES)
    r = fake_realisation(1)
    with pytest.raises(reader.ShardError, match="tile size 16"):
        w.add(1, r["tiles"], r["labels"], r["expected"], r["tile_origin"], r["row"])
