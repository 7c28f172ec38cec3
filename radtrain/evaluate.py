"""``radtrain evaluate``: how well a trained run reads N(S) back, measured the way the seed study did.

Outputs are transformed back from the training target to counts per bin, then compared with the labels:

- MSE, in the training target's units and in counts;
- the seed's residual per bin, ``dy_i = (y_pred_i - y_true_i) / mean_over_bins(y_true)``, per tile and per sky
  (the tiles of one realisation summed first): its mean and spread per bin;
- the relative error per bin of the per-sky counts, ``(y_pred_i - y_true_i) / y_true_i``, which does not let
  the populous faint bins hide the sparse bright ones;
- with a gaussian head, the fraction of true targets inside the predicted 68% and 95% intervals per tile;
- once the run is calibrated (``radtrain calibrate``, :mod:`radtrain.uncertainty`), the per-sky 68% and 95%
  intervals and the fraction of skies whose true counts they cover, per bin, and the per-sky residuals of the
  counts with the calibration's bias taken out.

Plots: predicted and true N(S) of each sky with the count model's expectation and the detection threshold;
dy per bin; predicted against true counts per bin.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from radsim.dataset import atomic
from radsim.dataset.metrics import (
    plot_residuals,
    relative_error,
    residual_dy,
    spread,
    sum_by,
)
from radtrain import data, models, uncertainty
from radtrain.config import RadtrainConfig
from radtrain.train import TrainError, read_run

Z68, Z95 = 0.994457883, 1.959963985    # half-widths (in sigma) of the central 68% and 95% Gaussian intervals


def coverage(y_true: np.ndarray, mean: np.ndarray, std: np.ndarray, z: float) -> np.ndarray:
    """Fraction per bin of true targets within mean +- z std."""
    return (np.abs(np.asarray(y_true) - mean) <= z * std).mean(axis=0)


def bin_correlation(residuals: np.ndarray) -> dict:
    """Correlation between bins of residuals (rows: tiles or skies, columns: bins): the matrix and the mean
    correlation of neighbouring bins and of all pairs (NaN with fewer than 3 rows)."""
    r = np.asarray(residuals, dtype=np.float64)
    nb = r.shape[1]
    if r.shape[0] < 3:
        c = np.full((nb, nb), np.nan)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.corrcoef(r, rowvar=False)
    off = c[~np.eye(nb, dtype=bool)]

    def mean(x):
        x = x[np.isfinite(x)]
        return float(x.mean()) if x.size else float("nan")
    return {"matrix": np.round(c, 4).tolist(), "neighbours": mean(np.diagonal(c, 1)), "all_pairs": mean(off)}


# --------------------------------------------------------------------------------------------------------------

def load_model(run_dir, run: dict | None = None):
    """(run record, config, statistics, Keras model with the best weights) of a trained run: everything the run
    directory holds, without its dataset."""
    run_dir = Path(run_dir)
    run = read_run(run_dir) if run is None else run
    cfg = RadtrainConfig.model_validate(run["config"])
    stats = data.Statistics.from_dict(run["statistics"])
    weights = run_dir / "best.weights.h5"
    if not weights.is_file():
        raise TrainError(f"{run_dir}: no trained weights ({weights.name} missing; status {run['status']!r}, "
                         f"{run['epochs_done']} epochs); run radtrain fit to (continue to) train it")
    model = models.build(cfg.model, run["dataset"]["tile_size"], len(run["dataset"]["bin_edges_jy"]) - 1,
                         len(cfg.data.aux_inputs))
    model.load_weights(str(weights))
    return run, cfg, stats, model


def load_run(run_dir, dataset_dir=None):
    """(run record, config, statistics, dataset, Keras model with the best weights) of a trained run, checking
    that the dataset has the run's binning and tile size."""
    run, cfg, stats, model = load_model(run_dir)
    path = dataset_dir or run["dataset"]["path"]
    if dataset_dir is None and not Path(path).exists():
        raise TrainError(f"the run's dataset {path} is not there any more; pass --dataset DIR")
    ds = data.open_dataset(path)
    edges = np.asarray(run["dataset"]["bin_edges_jy"])
    if ds.bin_edges_jy.shape != edges.shape or not np.allclose(ds.bin_edges_jy, edges, rtol=1e-9):
        raise data.DataError(f"{ds.directory}: labels of another binning ({ds.bin_edges_jy.size - 1} bins "
                             f"{ds.bin_edges_jy[0]:.3g}..{ds.bin_edges_jy[-1]:.3g} Jy) than the run "
                             f"({edges.size - 1} bins {edges[0]:.3g}..{edges[-1]:.3g} Jy)")
    if ds.tile_size != run["dataset"]["tile_size"]:
        raise data.DataError(f"{ds.directory}: tiles of {ds.tile_size} pixels, the run was trained on "
                             f"{run['dataset']['tile_size']}")
    for trained in trained_on(run):
        data.check_same_split(ds, trained, run_dir)
    return run, cfg, stats, ds, model


def trained_on(run: dict) -> list[dict]:
    """The identities of the datasets a run trained and validated on: its dataset and those mixed in (fit --mix)."""
    return [run["dataset"], *run.get("mixed", [])]


PREDICT_CHUNK = 2048     # tiles preprocessed and predicted at a time (2048 tiles of 128^2 pixels: 128 MiB of input)


def predict_tiles(model, cfg: RadtrainConfig, stats, images: np.ndarray, tile_noise: np.ndarray | None = None,
                  batch_size: int = 64) -> dict:
    """Counts per bin predicted for (N, T, T) tiles (their thermal noise ``tile_noise`` in Jy/beam, needed when
    the run reads it): ``counts``, the target-space ``mean`` and ``std`` (None for an mse head) and, with a
    gaussian head, ``counts_lo``/``counts_hi`` (the 68% interval) and ``counts_std``."""
    # a chunk at a time: the network's float32 input and TensorFlow's copy of it are then a chunk's, not the whole
    # set's (calibrating on 576 skies of 64 tiles peaked at 10.4 GiB when they were); whole batches, so the counts
    # are those of one pass
    chunk, net = _chunk(batch_size), models.predictor(model, batch_size)
    out = [_network_output(net, cfg, stats, images[start:start + chunk],
                           None if tile_noise is None else tile_noise[start:start + chunk])
           for start in range(0, max(len(images), 1), chunk)]
    return _decoded(out, cfg, stats)


def predict_split(model, cfg: RadtrainConfig, stats, ds, split: str, keep=("labels", "realisation"),
                  batch_size: int = 64) -> tuple[dict, dict]:
    """:func:`predict_tiles` on a dataset's ``split``, read a shard at a time: the counts are bit-identical to
    reading the split whole, but only one shard's tiles are held at once (up to radsim's ``dataset.shard_max_mb``), not
    the split's. Returns the prediction and the split's ``keep`` datasets (all its tiles, in the reader's order)."""
    chunk, net = _chunk(batch_size), models.predictor(model, batch_size)
    kept = {name: [] for name in keep}
    out, images, noise = [], np.zeros((0, ds.tile_size, ds.tile_size), np.float32), np.zeros(0, np.float32)
    for path in ds.shards_for(split):
        t = data.load(ds, split, shards=[path], datasets=tuple(dict.fromkeys(("images", "tile_noise", *keep))))
        for name in keep:
            kept[name].append(t[name])
        shard, shard_noise = t.pop("images"), t.pop("tile_noise")
        del t
        # the chunks run across shards, as in one pass: the tail left from the shards before is topped up from
        # this shard's head, whole chunks are read from the shard in place, and its own tail waits for the next
        start = min(chunk - len(images), len(shard))
        images, noise = np.concatenate([images, shard[:start]]), np.concatenate([noise, shard_noise[:start]])
        if len(images) == chunk:
            out.append(_network_output(net, cfg, stats, images, noise))
            whole = start + (len(shard) - start) // chunk * chunk
            out += [_network_output(net, cfg, stats, shard[a:a + chunk], shard_noise[a:a + chunk])
                    for a in range(start, whole, chunk)]
            images, noise = shard[whole:].copy(), shard_noise[whole:].copy()
        del shard, shard_noise          # before the next shard is read: one shard's tiles at a time
    if len(images) or not out:
        out.append(_network_output(net, cfg, stats, images, noise))
    tiles = {name: np.concatenate(parts) if parts else data.load(ds, split, datasets=(name,))[name]
             for name, parts in kept.items()}
    return _decoded(out, cfg, stats), tiles


def _chunk(batch_size: int) -> int:
    """Tiles per network call: PREDICT_CHUNK rounded down to whole batches (one batch at least)."""
    return max(PREDICT_CHUNK // batch_size, 1) * batch_size


def _network_output(net, cfg: RadtrainConfig, stats, images, noise) -> np.ndarray:
    """The network's raw output for some tiles (``net``: :func:`radtrain.models.predictor`)."""
    dc = cfg.data
    x = data.preprocess(images, stats, dc.preprocess, dc.asinh_scale)
    aux = data.aux_inputs(images, stats, dc.aux_inputs, noise)
    return net(x if aux is None else {"image": x, "aux": aux})


def _decoded(out: list[np.ndarray], cfg: RadtrainConfig, stats) -> dict:
    """Counts (and, with a gaussian head, their 68% interval) from the network's outputs, chunks in order."""
    dc = cfg.data
    mean, std = models.split_output(np.concatenate(out), cfg.model.head)
    result = {"mean": mean, "std": std, "counts": data.decode(mean, stats, dc.target)}
    if std is not None:
        lo, hi = data.decode(mean - std, stats, dc.target), data.decode(mean + std, stats, dc.target)
        result.update(counts_lo=lo, counts_hi=hi, counts_std=(hi - lo) / 2)
    return result


def evaluate(run_dir, split: str = "test", dataset_dir=None, out=None) -> dict:
    """Evaluate a run on a split; writes ``metrics.json`` and plots to ``out`` (default RUN/evaluate-SPLIT) and
    returns the metrics."""
    t0 = time.perf_counter()
    run, cfg, stats, ds, model = load_run(run_dir, dataset_dir)
    data.check_split(ds, split)
    pred, tiles = predict_split(model, cfg, stats, ds, split, keep=("labels", "realisation", "expected"))
    true = tiles["labels"].astype(np.float64)
    counts = pred["counts"]
    y_true = data.encode(true, stats, cfg.data.target)

    ids, sky_true = sum_by(true, tiles["realisation"])
    _, sky_pred = sum_by(counts, tiles["realisation"])
    _, sky_expected = sum_by(tiles["expected"].astype(np.float64), tiles["realisation"])
    _, n_tiles = sum_by(np.ones((true.shape[0], 1)), tiles["realisation"])
    edges = np.asarray(run["dataset"]["bin_edges_jy"])
    centres = np.sqrt(edges[:-1] * edges[1:])
    threshold = run["dataset"].get("detection_threshold_jy")
    records = {r["id"]: r for r in ds.records()}

    metrics = {
        "run": str(Path(run_dir).resolve()), "dataset": str(ds.directory.resolve()), "split": split,
        "split_by": ds.split["by"], "split_digest": data.split_digest(ds), "n_tiles": int(true.shape[0]),
        "n_skies": int(ids.size),
        "target": cfg.data.target, "head": cfg.model.head, "bin_edges_jy": edges.tolist(),
        "bin_centres_jy": centres.tolist(), "detection_threshold_jy": threshold,
        "factor_below_threshold": (threshold / centres).tolist() if threshold else None,
        "mse_target": float(np.mean((pred["mean"] - y_true) ** 2)),
        "mse_counts": float(np.mean((counts - true) ** 2)),
        "per_tile": {"dy": spread(residual_dy(counts, true)),
                     "residual_counts": spread(counts - true)},
        "per_sky": {"dy": spread(residual_dy(sky_pred, sky_true)),
                    "relative_error": spread(relative_error(sky_pred, sky_true))},
        # do the bins err together (the network reading a functional shape) or each on its own?
        "residual_correlation": {"per_tile": bin_correlation(counts - true),
                                 "per_sky": bin_correlation(relative_error(sky_pred, sky_true))},
    }
    _uncertainties(metrics, pred, y_true)
    metrics["skies"] = [
        {"id": int(i), "modifier": records.get(int(i), {}).get("modifier"), "n_tiles": int(n_tiles[k, 0]),
         "true": sky_true[k].tolist(), "pred": sky_pred[k].tolist(), "expected": sky_expected[k].tolist()}
        for k, i in enumerate(ids)]
    model_file = Path(run_dir) / CALIBRATION
    if model_file.is_file():
        _sky_intervals(metrics, read_calibration(run_dir), sky_pred, sky_true, n_tiles[:, 0], split)
    metrics["seconds"] = time.perf_counter() - t0
    return _write(metrics, Path(out) if out else Path(run_dir) / f"evaluate-{split}", counts, true, edges)


def _uncertainties(metrics: dict, pred: dict, y_true: np.ndarray) -> None:
    """With a gaussian head: per-tile coverage of its 68% and 95% intervals into ``metrics``. (Its variances are
    not summed into per-sky intervals: the tiles of a sky are not independent; see radtrain.uncertainty.)"""
    if pred["std"] is None:
        return
    metrics["coverage"] = {
        "68": {"per_bin": coverage(y_true, pred["mean"], pred["std"], Z68).tolist()},
        "95": {"per_bin": coverage(y_true, pred["mean"], pred["std"], Z95).tolist()}}
    for level in ("68", "95"):
        metrics["coverage"][level]["all"] = float(np.mean(metrics["coverage"][level]["per_bin"]))


def _sky_intervals(metrics: dict, model: dict, sky_pred, sky_true, n_tiles, split: str) -> None:
    """Calibrated per-sky intervals, their coverage per bin, and the bias-corrected residuals into ``metrics``."""
    same = any(src.get("split_digest") == metrics["split_digest"] and src.get("split") == split
               for src in calibration_sources(model))
    block = {"calibration": model.get("file"), "n_calibration_skies": model["n_skies"],
             "same_skies_as_calibration": same, "n_skies": int(sky_true.shape[0])}
    # where each sky's network count lies in the calibration skies' range, bin by bin: the coverage split by it
    position = uncertainty.range_position(sky_pred, n_tiles, model)
    zones = uncertainty.range_zones(position)
    for level in uncertainty.LEVELS:
        key = f"{round(level * 100)}"
        lo, hi = uncertainty.interval(sky_pred, n_tiles, model, level)
        cov = uncertainty.coverage(sky_true, lo, hi)
        hit = (sky_true >= lo) & (sky_true <= hi)
        block[key] = {"per_bin": cov.tolist(), "all": float(cov.mean()),
                      "by_calibration_range": {name: {"sky_bins": int(sel.sum()),
                                                      "coverage": float(hit[sel].mean()) if sel.any() else None}
                                               for name, sel in zones.items()}}
        for k, sky in enumerate(metrics["skies"]):
            sky[f"pred_lo{key}"], sky[f"pred_hi{key}"] = lo[k].tolist(), hi[k].tolist()
            if key == "68":
                sky["pred_sigma"] = ((hi[k] - lo[k]) / 2).tolist()
    fixed = uncertainty.corrected(sky_pred, n_tiles, model)
    for k, sky in enumerate(metrics["skies"]):
        sky["pred_corrected"] = fixed[k].tolist()
        sky["calibration_range"] = position[k].tolist()
    block["method"] = "likelihood" if model.get("likelihood") else "conformal" if model.get("conformal") else "normal"
    if model.get("likelihood"):             # the count model's parameters that fit each sky, and their ranges
        from radtrain import likelihood
        fit = likelihood.estimate(sky_pred, n_tiles, model["likelihood"])
        names = model["likelihood"]["parameters"]
        block["not_fit"] = int((~np.asarray(fit["fits"])).sum())
        block["imager_skies"] = model["likelihood"].get("imager_skies", 0)   # calibrated for another imager
        block["imager_term"] = model["likelihood"].get("imager_term")       # what those skies changed
        for k, sky in enumerate(metrics["skies"]):
            sky["fit"] = dict(zip(names, fit["params"][k].tolist()))
            sky["fit_chi2"], sky["fit_ok"] = float(fit["chi2"][k]), bool(fit["fits"][k])
            for j, level in enumerate(model["likelihood"]["levels"]):
                key = f"{round(level * 100)}"
                sky[f"fit_lo{key}"] = dict(zip(names, fit["params_lo"][j][k].tolist()))
                sky[f"fit_hi{key}"] = dict(zip(names, fit["params_hi"][j][k].tolist()))
    metrics["per_sky_intervals"] = block
    metrics["per_sky_corrected"] = {"dy": spread(residual_dy(fixed, sky_true)),
                                    "relative_error": spread(relative_error(fixed, sky_true))}


# --------------------------------------------------------------------------------------------------------------
# calibration of the per-sky intervals

CALIBRATION = "calibration.json"


def read_calibration(run_dir) -> dict:
    """The run's interval calibration (RUN/calibration.json), made by :func:`calibrate`."""
    import json
    path = Path(run_dir) / CALIBRATION
    try:
        model = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrainError(f"{path}: cannot read the interval calibration ({exc}); run radtrain calibrate again") \
            from None
    if model.get("format") not in uncertainty.READS:
        raise TrainError(f"{path}: calibration format {model.get('format')}, this radtrain reads "
                         f"{', '.join(map(str, uncertainty.READS))}; run radtrain calibrate again")
    model["file"] = str(path)
    return model


def calibrate(run_dir, dataset_dirs, split: str = "test", shape_terms: int = 0, curved: bool = False,
              conformal: bool = False, likelihood: bool = False, imager_dirs=(),
              imager_term: str = "shift-and-scatter") -> dict:
    """Measure the per-sky error model (:mod:`radtrain.uncertainty`) on the ``split`` skies of ``dataset_dirs``
    (one radsim dataset or several, e.g. skies of listed shapes and skies of shapes drawn from a prior, pooled
    into one calibration) and write it to RUN/calibration.json. The skies must be held out from training: the
    training dataset's train and validation splits are refused. ``shape_terms``: principal components of the
    skies' network counts in the calibration line; ``curved``: a term in u^2 too; ``conformal``: intervals from
    the quantiles of the skies' residuals instead of the normal model (:func:`radtrain.uncertainty.calibrate`);
    ``likelihood``: counts and intervals from the fit of the count model the skies were drawn from
    (:mod:`radtrain.likelihood`; the skies' count-model parameters come from their datasets' records);
    ``imager_dirs``: with ``likelihood``, datasets of some of the calibration skies imaged again as the fields to be
    read are (simulated with the same config and ``run.seed``, only the imager changed): the likelihood then reads
    images of that imager (:func:`radtrain.likelihood.fit`'s ``imager``); ``imager_term``: what they change,
    "shift-and-scatter" or "shift" (:data:`radtrain.likelihood.IMAGER_TERMS`, spelt with hyphens)."""
    t0 = time.perf_counter()
    dirs = [dataset_dirs] if isinstance(dataset_dirs, (str, Path)) else list(dataset_dirs)
    if not dirs:
        raise TrainError("calibrate: no dataset of calibration skies given")
    imager_dirs = [imager_dirs] if isinstance(imager_dirs, (str, Path)) else list(imager_dirs or ())
    if imager_term != "shift-and-scatter" and not imager_dirs:
        raise TrainError(f"calibrate: --imager-term {imager_term} says what the skies imaged again change; give "
                         f"them with --imager-dataset")
    if imager_dirs and not likelihood:
        raise TrainError("calibrate: --imager-dataset calibrates the count model's likelihood for another imager; "
                         "give --likelihood too")
    preds, labels, skies, sources, modifiers = [], [], [], [], {}
    for dataset_dir in dirs:
        run, cfg, stats, ds, model = load_run(run_dir, dataset_dir)
        if any(ds.tiles_hash == trained.get("tiles_hash") for trained in trained_on(run)) and split != "test":
            raise TrainError(f"{ds.directory}: the {split!r} split holds skies {run_dir} was trained or validated "
                             f"on; calibrate on held-out skies (a dataset simulated for the purpose, or --split test)")
        if any(src["tiles_hash"] == ds.tiles_hash for src in sources):
            raise TrainError(f"{ds.directory}: given twice (the same tiles as another --dataset)")
        data.check_split(ds, split)
        pred, tiles = predict_split(model, cfg, stats, ds, split)
        preds.append(pred["counts"])
        labels.append(tiles["labels"])
        # realisation ids are per dataset: tag them with the dataset's place so that skies stay apart
        skies.append(np.stack([np.full(tiles["realisation"].shape, len(sources)), tiles["realisation"]], axis=1))
        modifiers.update({(len(sources), int(r["id"])): r.get("modifier") for r in ds.records()})
        sources.append({"dataset": str(ds.directory.resolve()), "split": split,
                        "split_digest": data.split_digest(ds), "tiles_hash": ds.tiles_hash,
                        "n_skies": int(np.unique(tiles["realisation"]).size)})
    keys, sky = np.unique(np.concatenate(skies), axis=0, return_inverse=True)
    sky = sky.ravel()
    names = " + ".join(f"{s['dataset']} ({s['split']} split)" for s in sources)
    pred, label = np.concatenate(preds), np.concatenate(labels).astype(np.float64)
    try:
        result = uncertainty.calibrate(pred, label, sky, shape_terms, curved, conformal)
    except ValueError as exc:
        raise TrainError(f"{names}: {exc}; simulate more calibration skies") from None
    if likelihood:
        from radtrain import likelihood as lik
        sky_true = sum_by(label, sky)[1]
        imager = _imager_pairs(run_dir, imager_dirs, split, keys, modifiers, sky_true) if imager_dirs else None
        if imager:
            imager["term"] = imager_term.replace("-", " ")
        try:
            name, free, params = lik.free_parameters([modifiers.get((int(a), int(b))) for a, b in keys])
            result["likelihood"] = lik.fit(params, free, sum_by(pred, sky)[1], sky_true,
                                           np.bincount(sky, minlength=keys.shape[0]), model_name=name,
                                           imager=imager)
        except ValueError as exc:
            raise TrainError(f"{names}: {exc}") from None
        if imager:
            result["likelihood"]["imager_sources"] = imager["sources"]
    result["sources"] = sources
    if len(sources) == 1:                   # one dataset: also at the top level, as before
        result.update({k: v for k, v in sources[0].items() if k != "n_skies"})
    result["seconds"] = time.perf_counter() - t0
    atomic.write_json(Path(run_dir) / CALIBRATION, result)
    return result


def sky_counts(run_dir, dataset_dir, split: str) -> dict:
    """A dataset's ``split`` read by a trained run, sky by sky: ``ids`` (realisation ids, sorted), ``pred`` and
    ``true`` ((skies, bins) network and true counts summed over each sky's tiles), ``n_tiles`` (tiles per sky) and
    the ``dataset`` itself."""
    _, cfg, stats, ds, model = load_run(run_dir, dataset_dir)
    data.check_split(ds, split)
    pred, tiles = predict_split(model, cfg, stats, ds, split)
    ids, sky_pred = sum_by(pred["counts"].astype(np.float64), tiles["realisation"])
    sky_true = sum_by(tiles["labels"].astype(np.float64), tiles["realisation"])[1]
    n_tiles = np.unique(tiles["realisation"], return_counts=True)[1]      # in the order of ids
    return {"ids": ids, "pred": sky_pred, "true": sky_true, "n_tiles": n_tiles, "dataset": ds}


def _imager_pairs(run_dir, dataset_dirs, split: str, keys: np.ndarray, modifiers: dict, sky_true: np.ndarray) -> dict:
    """The calibration skies imaged again (:func:`calibrate`'s ``imager_dirs``): their places among the calibration
    skies ``keys`` ((dataset, realisation) pairs), network counts and tiles per sky. A sky is the calibration sky
    with its realisation id, count model parameters and true counts."""
    where = {}
    for k, (a, b) in enumerate(keys):
        where.setdefault(int(b), []).append(k)
    index, preds, n_tiles, sources = [], [], [], []
    for dataset_dir in dataset_dirs:
        read = sky_counts(run_dir, dataset_dir, split)
        ds, ids, pred, true, per_sky = (read[k] for k in ("dataset", "ids", "pred", "true", "n_tiles"))
        records = {int(r["id"]): r.get("modifier") for r in ds.records()}
        for i, r in enumerate(ids):
            same = [k for k in where.get(int(r), ()) if modifiers.get(tuple(int(x) for x in keys[k])) == records.get(
                int(r)) and np.allclose(sky_true[k], true[i], rtol=1e-6)]
            if not same:
                raise TrainError(f"{ds.directory}: sky {int(r)} is none of the calibration skies (the same "
                                 f"realisation, count model parameters and true counts); simulate the calibration "
                                 f"dataset's config with its run.seed, changing only the imager")
            if same[0] in index:
                raise TrainError(f"{ds.directory}: sky {int(r)} is imaged again more than once")
            index.append(same[0])
            preds.append(pred[i])
            n_tiles.append(int(per_sky[i]))
        sources.append({"dataset": str(ds.directory.resolve()), "split": split, "tiles_hash": ds.tiles_hash,
                        "n_skies": int(ids.size)})
    return {"index": np.asarray(index), "pred": np.asarray(preds), "n_tiles": np.asarray(n_tiles),
            "sources": sources}


def calibration_sources(c: dict) -> list[dict]:
    """The datasets a calibration was measured on (``dataset``, ``split``, ``split_digest``; one or more)."""
    if "sources" in c:
        return c["sources"]
    return [{k: c.get(k) for k in ("dataset", "split", "split_digest", "tiles_hash")} | {"n_skies": c["n_skies"]}]


def format_calibration(c: dict, edges) -> str:
    """The calibration as a table for the terminal."""
    n = c["n_tiles_median"]
    u = np.asarray(c["sky_log_pred"])
    factor = np.exp(uncertainty.log_correction(u, c))
    n_params = 2 + bool(c.get("curved")) + len(c.get("shape", {}).get("axes", []))
    k = uncertainty.interval_multiple(c, 0.95, c["n_skies"] - n_params) * np.sqrt(1 + 1 / c["n_skies"])
    where = " + ".join(f"{s['n_skies']} of the {s['split']} split of {s['dataset']}" for s in calibration_sources(c))
    curve = " + kappa u^2" if c.get("curved") else ""
    spread = ("; intervals: conformal (quantiles of the skies' residuals)" if c.get("conformal")
              else "; intervals: normal (Student's t)")
    if c.get("likelihood"):
        spread = "; counts and intervals: the count model's likelihood (below)"
    lines = [f"calibrated on {c['n_skies']} skies ({where}; median {n:.0f} tiles each); the line: alpha + beta u"
             f"{curve} + {len(c.get('shape', {}).get('axes', []))} shape term(s){spread}",
             f"{'bin (Jy)':>22} {'x corr':>7} {'(16-84%)':>13} {'beta':>6} {'sigma(sky)':>11} {'shared':>8} "
             f"{'95% x/':>8} {'gamma':>7}"]
    for i, (be, a, cc, g) in enumerate(zip(uncertainty.slope(c), c["a"], c["c"], c["gamma"])):
        s = np.sqrt(a + cc / n)
        ki = np.broadcast_to(k, len(c["a"]))[i]
        lo, mid, hi = np.percentile(factor[:, i], [16, 50, 84])
        lines.append(f"{edges[i]:10.3g}-{edges[i + 1]:<11.3g} {mid:7.3f} {f'{lo:.3f}-{hi:.3f}':>13} {be:6.2f} "
                     f"{s:11.3f} {np.sqrt(a):8.3f} {np.exp(ki * s):8.3f} {g:+7.2f}")
    lines.append("log(true per tile) = alpha + beta u + shape terms (the sky's scores on the calibration skies' "
                 f"main modes of variation, from {uncertainty.MIN_SKIES_SHAPE} skies), u = log(predicted per tile); "
                 "'x corr': the factor calibrated / network count, median and 16-84% range over the calibration "
                 "skies; 'beta': the slope on the bin's own u, a curved line's at the calibration skies' mean u "
                 "(above 1: the network shrinks); 'sigma(sky)': the "
                 "scatter (natural log) for an image of the median size; 'shared': the part that does not average "
                 "down over tiles; '95% x/': the 95% interval's factor at the calibration skies' mean; 'gamma': how "
                 "the spread changes with the sky's count (variance x exp(gamma (u - mean u)); 0 below "
                 f"{uncertainty.MIN_SKIES_SPREAD} calibration skies)")
    if c.get("likelihood"):
        from radtrain import likelihood
        lines.append(likelihood.describe(c["likelihood"]))
        lines.extend(likelihood.transfer_table(c["likelihood"], edges))
    return "\n".join(lines)


def _write(metrics: dict, out: Path, counts: np.ndarray, true: np.ndarray, edges: np.ndarray) -> dict:
    """metrics.json and the plots (counts per sky, residuals per tile and per sky, scatter) in ``out``."""
    from radtrain import plots
    title = f"residuals, {metrics['split']} split ({metrics['n_skies']} skies, {metrics['n_tiles']} tiles)"
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_json(out / "metrics.json", metrics)
        metrics["plots"] = [str(p) for p in (
            plots.counts_per_sky(metrics, out / "counts.png"),
            plot_residuals([("per tile", metrics, "per_tile"), ("per sky", metrics)], out / "dy.png", title=title),
            plots.scatter(counts, true, edges, out / "scatter.png"))]
        atomic.write_json(out / "metrics.json", metrics)
    except OSError as exc:
        raise TrainError(f"cannot write {out}: {exc.strerror or exc}; choose a writable directory with --out") \
            from None
    metrics["out"] = str(out)
    return metrics


def format_metrics(m: dict) -> str:
    """A short table of the metrics for the terminal."""
    lines = [f"{m['split']} split of {m['dataset']}: {m['n_tiles']} tiles, {m['n_skies']} skies "
             f"(split by {m['split_by']}); MSE {m['mse_target']:.4g} (target {m['target']}), "
             f"{m['mse_counts']:.4g} (counts^2)",
             f"{'bin (Jy)':>22} {'x below thr':>11} {'dy tile':>16} {'dy sky':>16} {'rel err sky':>16}"]
    f = m["factor_below_threshold"] or [float("nan")] * len(m["bin_centres_jy"])
    e = m["bin_edges_jy"]
    for i in range(len(m["bin_centres_jy"])):
        t, s, r = m["per_tile"]["dy"], m["per_sky"]["dy"], m["per_sky"]["relative_error"]
        lines.append(f"{e[i]:10.3g}-{e[i + 1]:<11.3g} {f[i]:11.1f} {t['mean'][i]:+7.3f}±{t['std'][i]:<7.3f} "
                     f"{s['mean'][i]:+7.3f}±{s['std'][i]:<7.3f} {r['mean'][i]:+7.3f}±{r['std'][i]:<7.3f}")
    if "coverage" in m:
        lines.append(f"interval coverage per tile (gaussian head): 68% -> {m['coverage']['68']['all']:.3f}, "
                     f"95% -> {m['coverage']['95']['all']:.3f}")
    if "per_sky_intervals" in m:
        c = m["per_sky_intervals"]
        if "per_sky_corrected" in m:
            lines.append(f"calibrated ({c.get('method', 'normal')}) dy per sky, mean per bin: " + " ".join(
                f"{x:+.3f}" for x in m["per_sky_corrected"]["dy"]["mean"]))
        if c.get("not_fit"):
            lines.append(f"  {c['not_fit']} of {c['n_skies']} skies fit the count model worse than every "
                         f"calibration sky: read by the calibration line instead")
        lines.append(f"per-sky interval coverage ({c['n_skies']} skies, calibrated on {c['n_calibration_skies']}"
                     + (", THE SAME SKIES" if c["same_skies_as_calibration"] else "") + "): "
                     + ", ".join(f"{k}% -> {c[k]['all']:.3f} (bins {min(c[k]['per_bin']):.2f}-"
                                 f"{max(c[k]['per_bin']):.2f})" for k in ("68", "95")))
        by = c["68"].get("by_calibration_range", {})
        parts = [f"{name} {v['coverage']:.2f} ({v['sky_bins']} sky-bins)" for name, v in by.items() if v["sky_bins"]]
        if parts:
            lines.append("  68% coverage by where the network count lies in the calibration skies' range (edge: "
                         f"its outer {uncertainty.EDGE:g}): " + ", ".join(parts))
    else:
        lines.append("no per-sky intervals: run `radtrain calibrate RUN --dataset CALIBRATION_SKIES`")
    if m.get("out"):
        lines.append(f"wrote {m['out']}/metrics.json and plots: {', '.join(Path(p).name for p in m['plots'])}")
    return "\n".join(lines)
