"""``radtrain fit``: train a network on a radsim dataset, data-parallel, resumable.

The run directory and its record are described in :mod:`radtrain.rundir`. Only rank 0 writes there. Running the
same command again continues an unfinished run from its last checkpoint (a requeued Slurm job does exactly
that); a run made with another config or dataset is refused, and a run directory is replaced only with
``overwrite``.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np

from radsim.dataset import atomic
from radtrain import __version__, data, distributed, models
from radtrain.checkpoints import CheckpointStore
from radtrain.config import RadtrainConfig
from radtrain.rundir import (
    RUN_FORMAT,
    RUN_VERSION,
    TrainError,
    read_history,
    read_run,
    truncate_history,
    write_run,
)

log = logging.getLogger("radtrain")
__all__ = ["TrainError", "fit", "read_history", "read_run"]


# --------------------------------------------------------------------------------------------------------------
# the run directory

def dataset_identity(ds) -> dict:
    """What a run needs to know about its dataset: where it is, what it is, and the image properties that
    prediction checks (median beam and noise of the training skies)."""
    imaging = ds.imaging_summary("train")
    return {"path": str(ds.directory.resolve()), "tiles_hash": ds.tiles_hash, "config_hash": ds.config_hash,
            "bin_edges_jy": ds.bin_edges_jy.tolist(), "tile_size": ds.tile_size, "pixel_deg": ds.pixel_deg,
            "frequency_hz": ds.frequency_hz, "image_units": ds.image_units, "imaging_backend": ds.imaging_backend,
            "detection_threshold_jy": ds.detection_threshold_jy, "beam_arcsec": imaging["beam_arcsec"],
            "noise_rms_jy": imaging["noise_rms_jy"], "sensitivity_factor": ds.sensitivity_factor,
            "split": {"by": ds.split["by"], "fractions": ds.split["fractions"], "seed": ds.split.get("seed"),
                      "digest": data.split_digest(ds),
                      "n_tiles": {name: ds.n_tiles(name) for name in ("train", "validation", "test")}}}


def _versions(engine) -> dict:
    import tensorflow as tf
    return {"radtrain": __version__, "tensorflow": tf.__version__, "numpy": np.__version__, "engine": engine.name,
            **distributed.versions()}


def _stopped_early(epoch: int, patience: int) -> str:
    """The run record's ``stopped`` for a run that early stopping ended after ``epoch``."""
    return f"early stopping after epoch {epoch} (no improvement for {patience} epochs)"


def _mixed_identities(ds, mix_dirs) -> list[dict]:
    """The identities of the datasets mixed into the training (``radtrain fit --mix``), checked against the
    main dataset ``ds``: the same bins, tiles, pixel scale and frequency, other tiles, a non-empty train split."""
    identities = []
    for mix_dir in mix_dirs:
        mix = data.open_dataset(mix_dir)
        data.check_split(mix, "train")
        pairs = {"bin edges": (mix.bin_edges_jy, ds.bin_edges_jy), "tile size": (mix.tile_size, ds.tile_size),
                 "pixel scale": (mix.pixel_deg, ds.pixel_deg), "frequency": (mix.frequency_hz, ds.frequency_hz)}
        differ = [what for what, (a, b) in pairs.items()
                  if np.shape(a) != np.shape(b) or not np.allclose(a, b, rtol=1e-9)]
        if mix.image_units != ds.image_units:
            differ.append("image units")
        if differ:
            raise data.DataError(f"{mix.directory}: another {', '.join(differ)} than {ds.directory}; a dataset "
                                 "mixed into training must have the main dataset's labels and tiles")
        if any(mix.tiles_hash == other["tiles_hash"] for other in identities) or mix.tiles_hash == ds.tiles_hash:
            raise data.DataError(f"{mix.directory}: given twice (the same tiles as another dataset of this run)")
        crossed = _crossed_splits(ds, mix)
        if crossed:
            log.warning("%s: realisations %s are split otherwise than the same ids of %s, drawn with the same seed: "
                        "if they are the same skies imaged again, the validation skies are not all held out from "
                        "training (only early stopping and the best epoch read them); simulate the mixed-in skies "
                        "with the main dataset's realisations.n and fractions so that the splits agree",
                        mix.directory, ", ".join(map(str, crossed)), ds.directory)
        identities.append(dataset_identity(mix))
    return identities


def _crossed_splits(ds, mix) -> list[int]:
    """Realisation ids that train in one of two datasets split by realisation with the same seed and validate in
    the other (a dataset's split depends on its seed, fractions and number of realisations)."""
    by_realisation = ds.split["by"] == mix.split["by"] == "realisation"
    if not by_realisation or ds.split.get("seed") != mix.split.get("seed"):
        return []
    main = {i: split for split in ("train", "validation") for i in ds.realisations(split)}
    return sorted(i for split in ("train", "validation") for i in mix.realisations(split)
                  if main.get(i, split) != split)


def _prepare(cfg: RadtrainConfig, dataset_dir, run_dir: Path, overwrite: bool, engine, mix_dirs=()) -> dict:
    """Rank 0: check the dataset and the run directory; returns the run record and whether to start fresh,
    resume or do nothing."""
    ds = data.open_dataset(dataset_dir)
    data.check_split(ds, "train")
    data.check_split(ds, "validation")
    identity = dataset_identity(ds)
    mixed = _mixed_identities(ds, mix_dirs)
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainError(f"{run_dir}: exists and is not a directory")
    if (run_dir / "run.json").exists() and not overwrite:
        run = read_run(run_dir)
        changed = []
        if run["config_hash"] != cfg.hash():
            old = run["config"]
            new = cfg.model_dump(mode="json")
            changed = [f"{s}.{k}" for s in new for k in new[s] if old.get(s, {}).get(k) != new[s][k]]
            changed = [f"config ({', '.join(changed) or 'values'})"]
        if run["dataset"]["tiles_hash"] != identity["tiles_hash"]:
            changed.append(f"dataset (trained on {run['dataset']['path']}, tiles hash differs)")
        if [m["tiles_hash"] for m in run.get("mixed", [])] != [m["tiles_hash"] for m in mixed]:
            changed.append("--mix datasets (trained with "
                           + (", ".join(m["path"] for m in run.get("mixed", [])) or "none") + ")")
        if changed:
            raise TrainError(f"{run_dir} holds a run with another {' and '.join(changed)}; choose another --out, "
                             "or pass --overwrite to replace it")
        if run["status"] == "complete":
            return {"mode": "complete", "run": run}
        patience = cfg.train.patience
        if patience and run["early_stopping"]["wait"] >= patience:
            # the record's last epoch met the stopping rule, but the run was killed before it was marked complete:
            # training on would add epochs that an uninterrupted run never trains
            run["status"] = "complete"
            run["stopped"] = _stopped_early(run["epochs_done"], patience)
            write_run(run_dir, run)
            log.info("%s: the run had stopped early after epoch %d but was not marked complete; marked now",
                     run_dir, run["epochs_done"])
            return {"mode": "complete", "run": run}
        if run["epochs_done"] > 0 and not _checkpoint_at(run_dir, run["epochs_done"]):
            raise TrainError(f"{run_dir}: the run has finished {run['epochs_done']} epochs but its checkpoint is "
                             f"missing ({run_dir / 'checkpoints'}); pass --overwrite to train from scratch")
        for stale in atomic.stale_temporaries(run_dir):     # left by a writer killed mid-write
            log.info("removing %s, left by an interrupted write", stale.name)
            atomic.remove(stale)
        return {"mode": "resume", "run": run}
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise TrainError(f"{run_dir} is not empty and holds no radtrain run; choose another --out, or pass "
                             "--overwrite to replace its contents")
        log.warning("--overwrite: removing the contents of %s", run_dir)
        for child in run_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ".write-test").write_text("ok")
        (run_dir / ".write-test").unlink()
    except OSError as exc:
        raise TrainError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}") from None
    log.info("estimating preprocessing statistics from up to %d training tiles", cfg.data.stats_tiles)
    stats = data.statistics(ds, cfg.data.stats_tiles)
    run = {"format": RUN_FORMAT, "format_version": RUN_VERSION, "status": "running",
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": cfg.model_dump(mode="json"),
           "config_hash": cfg.hash(), "dataset": identity, "mixed": mixed, "statistics": stats.to_dict(),
           "epochs_done": 0,
           "best": None, "early_stopping": {"best": None, "wait": 0}, "versions": _versions(engine), "runs": []}
    atomic.write_text(run_dir / "config.toml", cfg.to_toml())
    write_run(run_dir, run)
    return {"mode": "fresh", "run": run}


def _checkpoint_at(run_dir: Path, epoch: int):
    return CheckpointStore(None, run_dir / "checkpoints").at(epoch)


# --------------------------------------------------------------------------------------------------------------

def _threads(engine) -> int | None:
    """On CPU, share the node's cores between the ranks on it (TensorFlow otherwise gives each rank all);
    returns the threads each rank may use (None on GPU nodes: no limit)."""
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        return None
    local = int(os.environ.get("HOROVOD_LOCAL_SIZE") or os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE")
                or os.environ.get("SLURM_NTASKS_PER_NODE", "1").split("(")[0] or 1)
    cores = len(os.sched_getaffinity(0))
    per_rank = max(1, cores // max(1, local)) if local > 1 else cores
    if os.environ.get("RADTRAIN_THREADS_PER_RANK", "").isdigit():     # fixed per-rank resources (scaling studies)
        per_rank = max(1, int(os.environ["RADTRAIN_THREADS_PER_RANK"]))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(per_rank)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, per_rank))
    except RuntimeError:        # TensorFlow already started in this process (a notebook, a test): keep its pool
        log.debug("TensorFlow already initialised: thread pools left as they are")
    return per_rank


def profile(engine, train_ds, model, steps: int, repeats: int = 10) -> dict:
    """Own timers for scaling studies (seconds per training step), measured once before training on every
    rank: ``data_s`` the input pipeline producing one batch on its own (with prefetch it overlaps the step;
    the step waits only for what exceeds the compute), and ``allreduce_s`` one allreduce of a buffer the size
    of all gradients (float32) among the ranks, averaged over ``repeats``, with its volume in MB."""
    n = min(repeats, steps)
    it = iter(train_ds)
    next(it)
    t0 = time.perf_counter()
    for _ in range(n):
        next(it)
    data_s = (time.perf_counter() - t0) / n
    grads = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"data_s": data_s, "allreduce_s": engine.time_allreduce(grads, repeats),
            "allreduce_mb": grads * 4 / 2 ** 20}


def _decide(cfg: RadtrainConfig, dataset_dir, run_dir: Path, overwrite: bool, engine, mix_dirs=()) -> dict:
    """Rank 0 prepares (:func:`_prepare`), every rank gets its decision; an error stops every rank alike."""
    decision = None
    if engine.rank == 0:
        try:
            decision = _prepare(cfg, dataset_dir, run_dir, overwrite, engine, mix_dirs)
        except (TrainError, data.DataError) as exc:
            decision = {"mode": "error", "message": str(exc)}
    decision = engine.broadcast_object(decision)
    if decision["mode"] == "error":
        raise TrainError(decision["message"])
    return decision


def _inputs(cfg: RadtrainConfig, sets: list, stats, engine, threads) -> dict:
    """This rank's training and validation pipelines (disjoint parts of each split of each dataset in ``sets``,
    the main one first) and the steps per epoch. ``train`` makes a new training pipeline at each call: tf.data
    shares a dataset's reshuffle seeds among all its iterators, so a pipeline that :func:`profile` had read (its
    prefetch running ahead by as many passes as the timing allowed) would hand training another order."""
    import tensorflow as tf
    dc, tc = cfg.data, cfg.train
    parts = {split: [data.rank_parts(ds, split, engine.size) if ds.n_tiles(split) else None for ds in sets]
             for split in ("train", "validation")}
    per_rank = {split: [sum(p[r].n_tiles for p in parts[split] if p) for r in range(engine.size)]
                for split in parts}
    if min(per_rank["validation"]) == 0:
        raise TrainError(f"{sets[0].directory}: the validation split has fewer tiles than the {engine.size} ranks")
    steps = tc.steps_per_epoch or data.steps_per_epoch([data.Part((), 0, 1, n) for n in per_rank["train"]],
                                                       dc.batch_size)

    def arrays(split):
        loaded = [data.load_part(ds, split, p[engine.rank]) for ds, p in zip(sets, parts[split])
                  if p and p[engine.rank].n_tiles]
        d = {k: np.concatenate([one[k] for one in loaded]) for k in loaded[0]}
        return (data.preprocess(d["images"], stats, dc.preprocess, dc.asinh_scale),
                data.encode(d["labels"], stats, dc.target),
                data.aux_inputs(d["images"], stats, dc.aux_inputs, d["tile_noise"]))

    x, y, aux = arrays("train")
    # held as tensors: the pipelines made from them share their memory (from numpy arrays each would copy the tiles)
    x, y, aux = (None if a is None else tf.convert_to_tensor(a) for a in (x, y, aux))
    vx, vy, vaux = arrays("validation")
    seed = tc.seed + 1000003 * engine.rank

    def train_batches():
        return data.make_dataset(x, y, aux, batch_size=dc.batch_size, shuffle=True, shuffle_buffer=dc.shuffle_buffer,
                                 augment=dc.augment, seed=seed, repeat=True, drop_remainder=True, threads=threads)
    val_ds = data.make_dataset(vx, vy, vaux, batch_size=dc.batch_size, threads=threads)
    main = parts["train"][0][engine.rank]
    log.info("rank %d: %d training tiles (%d from %d shards of the main dataset, %s), %d validation tiles; "
             "%d steps of %d per epoch", engine.rank, x.shape[0], main.n_tiles, len(main.shards),
             "whole shards" if main.stride == 1 else f"every {engine.size}th tile", vx.shape[0], steps,
             dc.batch_size)
    return {"train": train_batches, "validation": val_ds, "steps": steps}


def _compiled_model(cfg: RadtrainConfig, ds, run: dict, stats, engine, device: str):
    """The network, compiled with the distributed optimizer (learning rate scaled by the number of ranks)."""
    import tensorflow as tf
    dc, tc = cfg.data, cfg.train
    if tc.mixed_precision:
        if device == "cpu":
            log.warning("train.mixed_precision: no GPU here, training in float32")
        else:
            tf.keras.mixed_precision.set_global_policy("mixed_float16")
    tf.keras.utils.set_random_seed(tc.seed)
    n_bins = len(run["dataset"]["bin_edges_jy"]) - 1
    model = models.build(cfg.model, ds.tile_size, n_bins, len(dc.aux_inputs),
                         target_mean=data.encode(np.asarray(stats.label_mean)[None], stats, dc.target)[0])
    optimizer = engine.distributed_optimizer(tf.keras.optimizers.Adam(tc.learning_rate * engine.size),
                                             compression=tc.gradient_compression)
    loss, metrics = models.loss_and_metrics(cfg.model)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model, optimizer


def _restore(store: CheckpointStore, ckpt, run_dir: Path, run: dict, decision: dict, engine) -> int:
    """Restore a resumed run from the checkpoint of the epoch its run record commits; returns the epoch training
    goes on from."""
    if decision["mode"] != "resume" or run["epochs_done"] == 0:
        return 0
    path = store.at(run["epochs_done"])
    if path is None:
        raise TrainError(f"{run_dir}: checkpoint missing on rank {engine.rank} (is the run directory on a "
                         "file system every rank sees?)")
    ckpt.restore(path).expect_partial()
    initial_epoch = int(ckpt.epoch.numpy())
    log.info("resuming %s from its checkpoint after epoch %d", run_dir, initial_epoch)
    if engine.rank == 0:
        truncate_history(run_dir, initial_epoch)
        run["epochs_done"] = initial_epoch
    return initial_epoch


def fit(cfg: RadtrainConfig, dataset_dir, run_dir, *, overwrite: bool = False, engine=None, mix_dirs=()) -> dict:
    """Train (or continue training) ``run_dir`` on ``dataset_dir``; returns the run record. ``mix_dirs``: more
    datasets of the same bins and tiles (e.g. some of the training skies imaged by another imager) whose train and
    validation splits join the main dataset's; the preprocessing statistics come from the main dataset alone."""
    import tensorflow as tf

    from radtrain.callbacks import make_callbacks
    tf.get_logger().setLevel("ERROR")        # TensorFlow's own warnings (slow callbacks, retracing) are noise here
    engine = engine or distributed.init()
    run_dir = Path(run_dir)
    threads = _threads(engine)
    device = distributed.pin_gpu(engine.local_rank)
    decision = _decide(cfg, dataset_dir, run_dir, overwrite, engine, tuple(mix_dirs))
    run = decision["run"]
    if decision["mode"] == "complete":
        log.info("%s: training already complete (%d epochs, best epoch %s); nothing to do (--overwrite to train "
                 "again)", run_dir, run["epochs_done"], (run.get("best") or {}).get("epoch"))
        return run

    t_setup = time.perf_counter()
    ds = data.open_dataset(dataset_dir)
    stats = data.Statistics.from_dict(run["statistics"])
    dc, tc = cfg.data, cfg.train
    sets = [ds] + [data.open_dataset(mix_dir) for mix_dir in mix_dirs]
    inputs = _inputs(cfg, sets, stats, engine, threads)
    steps = inputs["steps"]
    model, optimizer = _compiled_model(cfg, ds, run, stats, engine, device)
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=tf.Variable(0, dtype=tf.int64))
    store = CheckpointStore(ckpt, run_dir / "checkpoints")
    initial_epoch = _restore(store, ckpt, run_dir, run, decision, engine)
    learning_rate = tc.learning_rate * engine.size
    callbacks, early = make_callbacks(engine, run_dir, run, store, ckpt.epoch, steps, dc.batch_size, learning_rate,
                                      tc.patience)
    hosts = sorted(set(engine.allgather_object(socket.gethostname())))
    record = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ranks": engine.size, "hosts": hosts,
              "controller": getattr(engine, "controller", "none"), "device": device,
              "initial_epoch": initial_epoch, "steps_per_epoch": steps, "global_batch": dc.batch_size * engine.size,
              "batch_per_rank": dc.batch_size, "learning_rate": learning_rate,
              "parameters": int(model.count_params()), "setup_s": time.perf_counter() - t_setup,
              "profile": profile(engine, inputs["train"](), model, steps)}
    if engine.rank == 0:
        run["runs"].append(record)
        write_run(run_dir, run)
    log.info("training %s on %s: %d ranks on %s (%s, %s), global batch %d, learning rate %.3g, epochs %d..%d",
             cfg.model.architecture, " + ".join(str(one.directory) for one in sets), engine.size, ",".join(hosts),
             f"{engine.name} {record['controller']}" if engine.size > 1 else engine.name, device,
             dc.batch_size * engine.size, learning_rate, initial_epoch + 1, tc.epochs)
    if initial_epoch < tc.epochs:
        try:
            model.fit(inputs["train"](), validation_data=inputs["validation"], epochs=tc.epochs,
                      initial_epoch=initial_epoch, steps_per_epoch=steps, callbacks=callbacks, verbose=0)
        except OSError as exc:      # the run directory filled up or went away: the last checkpoint is whole
            raise TrainError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}; the epochs up to "
                             f"its last checkpoint are kept: free space and run the same command again to resume"
                             ) from None
    if engine.rank == 0:
        run["status"] = "complete"
        run["stopped"] = _stopped_early(early.stopped, tc.patience) if early.stopped else f"{tc.epochs} epochs"
        run["runs"][-1]["wall_s"] = time.perf_counter() - t_setup
        write_run(run_dir, run)
        log.info("done: %s; best epoch %s (val_loss %.4g); run %s", run["stopped"], run["best"]["epoch"],
                 run["best"]["val_loss"], run_dir)
    return run
