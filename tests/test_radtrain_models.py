"""radtrain.models and the evaluation arithmetic against hand-computed values."""
import math

import numpy as np
import pytest

from radtrain import evaluate, models
from radtrain.config import ConfigError, ModelConfig, from_dict, load


@pytest.mark.parametrize("arch", ["seed-small", "seed-large", "resnet"])
@pytest.mark.parametrize("head", ["mse", "gaussian"])
def test_architectures_give_one_or_two_outputs_per_bin(arch, head):
    cfg = ModelConfig(architecture=arch, head=head)
    model = models.build(cfg, 32, 5)
    out = model.predict(np.zeros((3, 32, 32, 1), np.float32), verbose=0)
    assert out.shape == (3, 5 if head == "mse" else 10) and out.dtype == np.float32


def test_sizes_differ_and_aux_inputs_join_the_head():
    small = models.build(ModelConfig(architecture="seed-small"), 64, 10)
    large = models.build(ModelConfig(architecture="seed-large"), 64, 10)
    assert large.count_params() > 2 * small.count_params()
    conv = [layer for layer in large.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in conv] == [32, 32, 64, 64, 128, 128, 256, 256]
    with_aux = models.build(ModelConfig(filters=[4], dense_units=[8]), 16, 3, n_aux=2)
    out = with_aux.predict({"image": np.zeros((2, 16, 16, 1), np.float32), "aux": np.ones((2, 2), np.float32)},
                           verbose=0)
    assert out.shape == (2, 3)
    with pytest.raises(ValueError, match="pooling blocks do not fit"):
        models.build(ModelConfig(filters=[4] * 6), 32, 3)


def test_output_bias_starts_at_the_target_mean():
    model = models.build(ModelConfig(filters=[4], dense_units=[4]), 16, 3, target_mean=[1.0, 2.0, 3.5])
    assert np.allclose(model.get_layer("counts").get_weights()[1], [1.0, 2.0, 3.5])
    gauss = models.build(ModelConfig(filters=[4], dense_units=[4], head="gaussian"), 16, 3, target_mean=[1, 2, 3])
    assert np.allclose(gauss.get_layer("counts").get_weights()[1], [1, 2, 3, 0, 0, 0])


def test_gaussian_nll_matches_the_formula():
    y = np.array([[1.0, -2.0]], np.float32)
    mean, log_var = np.array([0.5, -1.0]), np.array([0.0, math.log(4.0)])
    got = float(models.gaussian_nll(y, np.concatenate([mean, log_var])[None].astype(np.float32)).numpy()[0])
    want = np.mean(0.5 * (np.log(2 * np.pi) + log_var + (y[0] - mean) ** 2 / np.exp(log_var)))
    assert got == pytest.approx(want, rel=1e-6)
    m, s = models.split_output(np.concatenate([mean, log_var])[None], "gaussian")
    assert np.allclose(m, [mean]) and np.allclose(s, [[1.0, 2.0]])


def test_seed_residual_and_per_sky_sums():
    true = np.array([[10.0, 20.0, 30.0], [1.0, 2.0, 3.0]])
    pred = np.array([[12.0, 20.0, 27.0], [1.0, 3.0, 3.0]])
    assert np.allclose(evaluate.residual_dy(pred, true), [[0.1, 0.0, -0.15], [0.0, 0.5, 0.0]])
    assert np.allclose(evaluate.relative_error(pred, true), [[0.2, 0.0, -0.1], [0.0, 0.5, 0.0]])
    ids, sums = evaluate.sum_by(np.array([[1.0], [2.0], [4.0]]), np.array([7, 3, 7]))
    assert ids.tolist() == [3, 7] and sums[:, 0].tolist() == [2.0, 5.0]


def test_bin_correlation_tells_a_shared_error_from_independent_ones():
    rng = np.random.default_rng(2)
    shared = rng.normal(size=(4000, 1))
    together = shared + 0.1 * rng.normal(size=(4000, 5))        # one error moving every bin (a learned shape)
    apart = rng.normal(size=(4000, 5))                          # each bin on its own
    c = evaluate.bin_correlation(together)
    assert c["neighbours"] > 0.95 and c["all_pairs"] > 0.95 and np.allclose(np.diag(c["matrix"]), 1.0)
    c = evaluate.bin_correlation(apart)
    assert abs(c["neighbours"]) < 0.1 and abs(c["all_pairs"]) < 0.1
    assert np.isnan(evaluate.bin_correlation(apart[:2])["all_pairs"])     # too few rows to say


def test_interval_coverage_of_true_gaussian_errors():
    rng = np.random.default_rng(1)
    n = 20000
    std = rng.uniform(0.5, 2.0, size=(n, 2))
    mean = rng.normal(size=(n, 2))
    y = mean + std * rng.normal(size=(n, 2))
    for z, p in ((evaluate.Z68, 0.68), (evaluate.Z95, 0.95)):
        cov = evaluate.coverage(y, mean, std, z)
        assert np.all(np.abs(cov - p) < 4 * math.sqrt(p * (1 - p) / n))


def test_training_config_defaults_overrides_and_errors(tmp_path):
    cfg = from_dict({}, overrides=["train.epochs=5", "model.head=gaussian", "data.aux_inputs=['rms']"])
    assert cfg.train.epochs == 5 and cfg.model.head == "gaussian" and cfg.data.aux_inputs == ["rms"]
    path = tmp_path / "t.toml"
    path.write_text(cfg.to_toml())
    assert load(path) == cfg and load(path).hash() == cfg.hash()
    with pytest.raises(ConfigError, match=r"model.architecture = 'vgg'"):
        from_dict({"model": {"architecture": "vgg"}})
    with pytest.raises(ConfigError, match=r"train.epoch .*unknown key"):
        from_dict({"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match="expected section.key=value"):
        from_dict({}, overrides=["epochs=3"])
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.toml")


def test_the_gpu_benchmark_times_each_network_as_models_builds_it(tmp_path):
    """benchmarks/gpu.py (the GPU-against-CPU figures of benchmarks/README.md) on radtrain's own stack: a rate for
    training, training fed from the host and prediction per network, and the parameter counts of models.build."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu.py"), "--stack", "tf", "--seconds", "0.1",
                           "--batches", "4", "--json", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [r["network"] for r in rows] == ["seed-small", "seed-large", "resnet"]
    for r in rows:
        built = models.build(ModelConfig(architecture=r["network"]), 128, 10)
        assert r["params"] == built.count_params()
        assert r["device"] == "cpu" and r["batch"] == 4 and r["train_steps"] >= 3
        assert all(r[k] > 0 for k in ("train_tiles_per_s", "train_from_host_tiles_per_s", "predict_tiles_per_s"))
        assert f"{r['network']:<11} float32" in proc.stdout


@pytest.mark.parametrize("aux", [[], ["width", "noise"]])
def test_tiles_are_predicted_a_chunk_at_a_time_with_the_counts_of_one_pass(monkeypatch, aux):
    """predict_tiles feeds the network PREDICT_CHUNK tiles at a time (so that calibrating on hundreds of skies does
    not hold every tile's network input at once): whole batches per chunk, so the counts are bit-identical to one
    pass, and each chunk's tiles keep their own noise for the noise input."""
    from radtrain import data
    rng = np.random.default_rng(3)
    cfg = from_dict({"model": {"filters": [4], "dense_units": [8]}, "data": {"aux_inputs": aux}})
    model = models.build(cfg.model, 16, 3, n_aux=len(aux))
    images = rng.normal(0.0, 1e-4, (300, 16, 16)).astype(np.float32)
    noise = rng.uniform(2e-5, 4e-5, 300)
    stats = data.Statistics(pixel_mean=0.0, pixel_std=1e-4, noise=1e-4, aux_mean=[0.0] * 4, aux_std=[1.0] * 4,
                            label_mean=[1.0] * 3, label_std=[1.0] * 3, n_tiles=300)
    x = data.preprocess(images, stats, cfg.data.preprocess, cfg.data.asinh_scale)
    a = data.aux_inputs(images, stats, cfg.data.aux_inputs, noise)
    whole = model.predict(x if a is None else {"image": x, "aux": a}, batch_size=64, verbose=0)
    monkeypatch.setattr(evaluate, "PREDICT_CHUNK", 100)        # 64-tile batches: chunks of 64, 300 = 4 x 64 + 44
    chunked = evaluate.predict_tiles(model, cfg, stats, images, noise)
    assert np.array_equal(chunked["mean"], whole.astype(np.float64))
    assert chunked["counts"].shape == (300, 3)
    if aux:     # each chunk read its own tiles' noise: another noise changes the last tiles' counts only
        other = evaluate.predict_tiles(model, cfg, stats, images, np.concatenate([noise[:256], noise[256:] * 2]))
        assert np.array_equal(other["mean"][:256], chunked["mean"][:256])
        assert not np.allclose(other["mean"][256:], chunked["mean"][256:])


@pytest.mark.parametrize("chunk", [8, 24, 40, 1000])
def test_a_split_is_predicted_a_shard_at_a_time_with_the_counts_of_one_pass(train_dataset, monkeypatch, chunk):
    """predict_split (what calibrate and evaluate run) reads one shard's tiles at a time, and its network calls
    are PREDICT_CHUNK tiles across shard boundaries as in one pass over the whole split: its counts and the tiles'
    labels are bit-identical to reading the split whole. 16-tile shards, 8-tile batches: chunks of 8 (two per
    shard), 24 and 40 (running over two and three shards) and the whole split in one."""
    from radtrain import data
    ds = data.open_dataset(train_dataset)
    cfg = from_dict({"model": {"filters": [4], "dense_units": [8]}, "data": {"aux_inputs": ["width", "noise"]}})
    model = models.build(cfg.model, ds.tile_size, 5, n_aux=2)
    stats = data.Statistics(pixel_mean=0.0, pixel_std=1e-4, noise=1e-4, aux_mean=[0.0] * 4, aux_std=[1.0] * 4,
                            label_mean=[1.0] * 5, label_std=[1.0] * 5, n_tiles=1)
    monkeypatch.setattr(evaluate, "PREDICT_CHUNK", chunk)
    whole = data.load(ds, "train")
    one = evaluate.predict_tiles(model, cfg, stats, whole["images"], whole["tile_noise"], batch_size=8)
    loaded, called, network = [], [], evaluate._network_output
    load = data.load

    def counting_load(ds_, split, **kwargs):
        out = load(ds_, split, **kwargs)
        loaded.append(len(out["realisation"] if "realisation" in out else next(iter(out.values()))))
        return out

    def counting_network(net, cfg_, stats_, images, noise):
        called.append(len(images))
        return network(net, cfg_, stats_, images, noise)

    monkeypatch.setattr(data, "load", counting_load)
    monkeypatch.setattr(evaluate, "_network_output", counting_network)
    pred, tiles = evaluate.predict_split(model, cfg, stats, ds, "train", keep=("labels", "realisation", "expected"),
                                         batch_size=8)
    n = len(whole["images"])
    assert n > 40 and len(ds.shards_for("train")) > 2
    for key in ("mean", "std", "counts"):
        assert (pred[key] is None and one[key] is None) or np.array_equal(pred[key], one[key]), key
    for key in ("labels", "realisation", "expected"):
        assert np.array_equal(tiles[key], whole[key]), key
    assert max(loaded) == 16 and sum(loaded) == n          # a shard at a time, every tile once
    size = min(chunk, n)
    assert called == [size] * (n // size) + ([n % size] if n % size else []), called


@pytest.mark.parametrize("arch", ["seed-small", "seed-large", "resnet"])
def test_the_predictor_gives_keras_predicts_output_bit_for_bit(arch):
    """models.predictor (what calibrate, evaluate and predict read tiles with) runs the same inference pass as Keras's
    predict on the same batches, the last one partial: the same output to the bit, with and without the aux input,
    and an empty (0, outputs) for no tiles."""
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 1.0, (20, 32, 32, 1)).astype(np.float32)
    aux = rng.normal(0.0, 1.0, (20, 2)).astype(np.float32)
    for n_aux, inputs in ((0, x), (2, {"image": x, "aux": aux})):
        model = models.build(ModelConfig(architecture=arch, head="gaussian"), 32, 5, n_aux=n_aux)
        out = models.predictor(model, 8)(inputs)
        assert out.dtype == np.float32 and out.shape == (20, 10)
        assert np.array_equal(out, model.predict(inputs, batch_size=8, verbose=0))
        empty = x[:0] if n_aux == 0 else {"image": x[:0], "aux": aux[:0]}
        assert models.predictor(model, 8)(empty).shape == (0, 10)
