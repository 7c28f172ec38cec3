"""``radtrain fit``: train a network on a radsim dataset, data-parallel, resumable.

A run directory holds everything about one training run::

    RUN/run.json          what was trained on what (config, dataset identity, statistics), its state and history
    RUN/config.toml       the full training config
    RUN/checkpoints/      the last two epochs' model and optimizer state (resume)
    RUN/best.weights.h5   weights of the epoch with the lowest validation loss (evaluate, predict)
    RUN/history.csv       one row per epoch: losses, learning rate, times, tiles/s, weight agreement
    RUN/tensorboard/      TensorBoard logs

Only rank 0 writes there. Running the same command again continues an unfinished run from its last checkpoint
(a requeued Slurm job does exactly that); a run made with another config or dataset is refused, and a run
directory is replaced only with ``overwrite``.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from radtrain import __version__, data, distributed, models
from radtrain.config import RadtrainConfig

log = logging.getLogger("radtrain")
RUN_FORMAT = "radtrain-run"
RUN_VERSION = 1
HISTORY_FIELDS = ("epoch", "loss", "val_loss", "learning_rate", "train_s", "validation_s", "step_s",
                  "tiles_per_s_per_rank", "tiles_per_s", "weights_agree", "weights_digests")


class TrainError(RuntimeError):
    """A training run that cannot start or continue; the message says why and what to do."""


# --------------------------------------------------------------------------------------------------------------
# run directory

def read_run(run_dir) -> dict:
    path = Path(run_dir) / "run.json"
    try:
        run = json.loads(path.read_text())
    except FileNotFoundError:
        raise TrainError(f"{run_dir}: not a radtrain run directory (no run.json)") from None
    except (OSError, ValueError) as exc:
        raise TrainError(f"{path}: cannot read: {exc}") from None
    if run.get("format") != RUN_FORMAT:
        raise TrainError(f"{path}: not a radtrain run record")
    return run


def write_run(run_dir, run: dict) -> None:
    """Write run.json atomically."""
    run["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    path = Path(run_dir) / "run.json"
    tmp = path.with_name(".run.json.tmp")
    tmp.write_text(json.dumps(run, indent=1))
    os.replace(tmp, path)


def dataset_identity(ds) -> dict:
    """What a run needs to know about its dataset: where it is, what it is, and the image properties that
    prediction checks (median beam and noise of the training skies)."""
    m = ds.manifest
    train = set(ds.realisations("train"))
    recs = [r for r in m["realisations"] if r["id"] in train] or m["realisations"]
    beams = np.array([r["beam_arcsec"] for r in recs if r.get("beam_arcsec")], dtype=float).reshape(-1, 3)
    return {"path": str(ds.directory.resolve()), "tiles_hash": m["tiles_hash"], "config_hash": m["config_hash"],
            "bin_edges_jy": list(m["bin_edges_jy"]), "tile_size": ds.tile_size, "pixel_deg": ds.pixel_deg,
            "frequency_hz": ds.frequency_hz, "image_units": ds.image_units,
            "imaging_backend": m.get("imaging_backend"),
            "detection_threshold_jy": m.get("detection_threshold_jy"),
            "beam_arcsec": np.median(beams, axis=0).tolist() if beams.size else None,
            "noise_rms_jy": float(np.median([r.get("noise_rms_jy", 0.0) for r in recs])),
            "split": {"by": ds.split["by"], "fractions": ds.split["fractions"],
                      "n_tiles": {name: data.split_size(ds, name) for name in ("train", "validation", "test")}}}


def _versions(engine) -> dict:
    import tensorflow as tf
    out = {"radtrain": __version__, "tensorflow": tf.__version__, "numpy": np.__version__, "engine": engine.name}
    try:
        import horovod
        out["horovod"] = horovod.__version__
    except ImportError:
        pass
    return out


def _prepare(cfg: RadtrainConfig, dataset_dir, run_dir: Path, overwrite: bool, engine) -> dict:
    """Rank 0: check the dataset and the run directory; returns the run record and whether to start fresh,
    resume or do nothing."""
    ds = data.open_dataset(dataset_dir)
    data.check_split(ds, "train")
    data.check_split(ds, "validation")
    identity = dataset_identity(ds)
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
        if changed:
            raise TrainError(f"{run_dir} holds a run with another {' and '.join(changed)}; choose another --out, "
                             "or pass --overwrite to replace it")
        if run["status"] == "complete":
            return {"mode": "complete", "run": run}
        if run["epochs_done"] > 0 and not _latest_checkpoint(run_dir):
            raise TrainError(f"{run_dir}: the run has finished {run['epochs_done']} epochs but its checkpoint is "
                             f"missing ({run_dir / 'checkpoints'}); pass --overwrite to train from scratch")
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
           "config_hash": cfg.hash(), "dataset": identity, "statistics": stats.to_dict(), "epochs_done": 0,
           "best": None, "early_stopping": {"best": None, "wait": 0}, "versions": _versions(engine), "runs": []}
    (run_dir / "config.toml").write_text(cfg.to_toml())
    write_run(run_dir, run)
    return {"mode": "fresh", "run": run}


def _latest_checkpoint(run_dir: Path):
    import tensorflow as tf
    return tf.train.latest_checkpoint(str(run_dir / "checkpoints"))


# --------------------------------------------------------------------------------------------------------------
# callbacks (Keras)

def _callback_base():
    import tensorflow as tf
    return tf.keras.callbacks.Callback


def weights_digest(model) -> str:
    """Short SHA-256 of all weights (bit-exact identity of a model's state)."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]


def make_callbacks(engine, run_dir: Path, run: dict, manager, ckpt, steps: int, batch: int, learning_rate: float,
                   patience: int):
    """The callback list, the same collectives in the same order on every rank; writers on rank 0 only."""
    Base = _callback_base()

    class Timer(Base):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.t_val = None

        def on_test_begin(self, logs=None):
            if self.t_val is None:
                self.t_val = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            t1 = time.perf_counter()
            t_val = self.t_val or t1
            train_s = t_val - self.t0
            self.row = {"train_s": train_s, "validation_s": t1 - t_val, "step_s": train_s / steps,
                        "tiles_per_s_per_rank": steps * batch / train_s,
                        "tiles_per_s": steps * batch / train_s * engine.size}

    class Agreement(Base):
        """Every rank's weight digest gathered at each epoch end: data parallelism keeps them identical."""
        def on_epoch_end(self, epoch, logs=None):
            self.digests = engine.allgather_object(weights_digest(self.model))
            self.agree = len(set(self.digests)) == 1
            if not self.agree:
                log.warning("epoch %d: the ranks' weights differ: %s", epoch + 1, self.digests)

    class EarlyStop(Base):
        """Stop when the validation loss has not improved for ``patience`` epochs (state kept in run.json, so a
        resumed run counts on); every rank sees the same averaged loss and stops together."""
        def __init__(self):
            super().__init__()
            self.best = run["early_stopping"]["best"]
            self.wait = run["early_stopping"]["wait"]
            self.stopped = None

        def on_epoch_end(self, epoch, logs=None):
            loss = float(logs["val_loss"])
            self.improved = self.best is None or loss < self.best
            if self.improved:
                self.best, self.wait = loss, 0
            else:
                self.wait += 1
                if patience and self.wait >= patience:
                    self.model.stop_training = True
                    self.stopped = epoch + 1

    class Recorder(Base):
        """Rank 0: checkpoint, best weights, history row, run.json and one log line per epoch."""
        def on_epoch_end(self, epoch, logs=None):
            ckpt.epoch.assign(epoch + 1)
            manager.save(checkpoint_number=epoch + 1)
            if early.improved:
                self.model.save_weights(str(run_dir / "best.weights.h5"))
                run["best"] = {"epoch": epoch + 1, "val_loss": float(logs["val_loss"])}
            lr = float(self.model.optimizer.learning_rate.numpy()) if hasattr(
                self.model.optimizer.learning_rate, "numpy") else float(self.model.optimizer.learning_rate)
            row = {"epoch": epoch + 1, "loss": float(logs["loss"]), "val_loss": float(logs["val_loss"]),
                   "learning_rate": lr, **timer.row, "weights_agree": agreement.agree,
                   "weights_digests": ";".join(agreement.digests)}
            _append_history(run_dir, row)
            run["epochs_done"] = epoch + 1
            run["early_stopping"] = {"best": early.best, "wait": early.wait}
            write_run(run_dir, run)
            log.info("epoch %d/%d  loss %.4g  val_loss %.4g%s  lr %.3g  %.1f s  %.0f tiles/s (%d ranks)%s",
                     epoch + 1, self.params["epochs"], row["loss"], row["val_loss"],
                     " *" if early.improved else "", lr, row["train_s"] + row["validation_s"], row["tiles_per_s"],
                     engine.size, "" if agreement.agree else "  WEIGHTS DIFFER")

    timer, agreement, early = Timer(), Agreement(), EarlyStop()
    cbs = engine.callbacks(learning_rate=learning_rate, warmup_epochs=run["config"]["train"]["warmup_epochs"],
                           steps_per_epoch=steps)
    cbs += [timer, agreement, early]
    if engine.rank == 0:
        import tensorflow as tf
        cbs += [Recorder(), tf.keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), profile_batch=0)]
    return cbs, early


def _append_history(run_dir: Path, row: dict) -> None:
    path = run_dir / "history.csv"
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, HISTORY_FIELDS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def read_history(run_dir) -> list[dict]:
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))

    def value(k, v):
        return v == "True" if k == "weights_agree" else v.split(";") if k == "weights_digests" else float(v)
    return [{k: value(k, v) for k, v in r.items()} for r in rows]


def _truncate_history(run_dir: Path, epochs: int) -> None:
    """Drop rows past the checkpoint a run resumes from (epochs finished after the last checkpoint)."""
    rows = [r for r in read_history(run_dir) if r["epoch"] <= epochs]
    path = run_dir / "history.csv"
    if path.exists():
        path.unlink()
    for r in rows:
        _append_history(run_dir, {**r, "epoch": int(r["epoch"]), "weights_digests": ";".join(r["weights_digests"])})


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


def fit(cfg: RadtrainConfig, dataset_dir, run_dir, *, overwrite: bool = False, engine=None) -> dict:
    """Train (or continue training) ``run_dir`` on ``dataset_dir``; returns the run record."""
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")        # TensorFlow's own warnings (slow callbacks, retracing) are noise here
    engine = engine or distributed.init()
    run_dir = Path(run_dir)
    threads = _threads(engine)
    device = distributed.pin_gpu(engine.local_rank)

    decision = None
    if engine.rank == 0:
        try:
            decision = _prepare(cfg, dataset_dir, run_dir, overwrite, engine)
        except (TrainError, data.DataError) as exc:
            decision = {"mode": "error", "message": str(exc)}
    decision = engine.broadcast_object(decision)
    if decision["mode"] == "error":
        raise TrainError(decision["message"])
    run = decision["run"]
    if decision["mode"] == "complete":
        log.info("%s: training already complete (%d epochs, best epoch %s); nothing to do (--overwrite to train "
                 "again)", run_dir, run["epochs_done"], (run.get("best") or {}).get("epoch"))
        return run

    t_setup = time.perf_counter()
    ds = data.open_dataset(dataset_dir)
    stats = data.Statistics.from_dict(run["statistics"])
    dc, tc = cfg.data, cfg.train
    parts = data.rank_parts(ds, "train", engine.size)
    steps = tc.steps_per_epoch or data.steps_per_epoch(parts, dc.batch_size)
    val_parts = data.rank_parts(ds, "validation", engine.size)
    if min(p.n_tiles for p in val_parts) == 0:
        raise TrainError(f"{ds.directory}: the validation split has fewer tiles than the {engine.size} ranks")

    def arrays(split, part):
        d = data.load_part(ds, split, part)
        return (data.preprocess(d["images"], stats, dc.preprocess, dc.asinh_scale),
                data.encode(d["labels"], stats, dc.target), data.aux_inputs(d["images"], stats, dc.aux_inputs))

    x, y, aux = arrays("train", parts[engine.rank])
    vx, vy, vaux = arrays("validation", val_parts[engine.rank])
    seed = tc.seed + 1000003 * engine.rank
    train_ds = data.make_dataset(x, y, aux, batch_size=dc.batch_size, shuffle=True, shuffle_buffer=dc.shuffle_buffer,
                                 augment=dc.augment, seed=seed, repeat=True, drop_remainder=True, threads=threads)
    val_ds = data.make_dataset(vx, vy, vaux, batch_size=dc.batch_size, threads=threads)
    log.info("rank %d: %d training tiles from %d shards (%s), %d validation tiles; %d steps of %d per epoch",
             engine.rank, x.shape[0], len(parts[engine.rank].shards),
             "whole shards" if parts[engine.rank].stride == 1 else f"every {engine.size}th tile",
             vx.shape[0], steps, dc.batch_size)

    if tc.mixed_precision:
        if device == "cpu":
            log.warning("train.mixed_precision: no GPU here, training in float32")
        else:
            tf.keras.mixed_precision.set_global_policy("mixed_float16")
    tf.keras.utils.set_random_seed(tc.seed)
    n_bins = len(run["dataset"]["bin_edges_jy"]) - 1
    model = models.build(cfg.model, ds.tile_size, n_bins, len(dc.aux_inputs),
                         target_mean=data.encode(np.asarray(stats.label_mean)[None], stats, dc.target)[0])
    learning_rate = tc.learning_rate * engine.size
    optimizer = engine.distributed_optimizer(tf.keras.optimizers.Adam(learning_rate),
                                             compression=tc.gradient_compression)
    loss, metrics = models.loss_and_metrics(cfg.model)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)

    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=tf.Variable(0, dtype=tf.int64))
    manager = tf.train.CheckpointManager(ckpt, str(run_dir / "checkpoints"), max_to_keep=2)
    initial_epoch = 0
    if decision["mode"] == "resume" and run["epochs_done"] > 0:
        path = _latest_checkpoint(run_dir)
        if path is None:
            raise TrainError(f"{run_dir}: checkpoint missing on rank {engine.rank} (is the run directory on a "
                             "file system every rank sees?)")
        ckpt.restore(path).expect_partial()
        initial_epoch = int(ckpt.epoch.numpy())
        log.info("resuming %s from its checkpoint after epoch %d", run_dir, initial_epoch)
        if engine.rank == 0:
            _truncate_history(run_dir, initial_epoch)
            run["epochs_done"] = initial_epoch
    callbacks, early = make_callbacks(engine, run_dir, run, manager, ckpt, steps, dc.batch_size, learning_rate,
                                      tc.patience)
    record = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ranks": engine.size, "device": device,
              "initial_epoch": initial_epoch, "steps_per_epoch": steps, "global_batch": dc.batch_size * engine.size,
              "batch_per_rank": dc.batch_size, "learning_rate": learning_rate,
              "parameters": int(model.count_params()), "setup_s": time.perf_counter() - t_setup,
              "profile": profile(engine, train_ds, model, steps)}
    if engine.rank == 0:
        run["runs"].append(record)
        write_run(run_dir, run)
    log.info("training %s on %s: %d ranks (%s, %s), global batch %d, learning rate %.3g, epochs %d..%d",
             cfg.model.architecture, ds.directory, engine.size, engine.name, device, dc.batch_size * engine.size,
             learning_rate, initial_epoch + 1, tc.epochs)
    if initial_epoch < tc.epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=tc.epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=steps, callbacks=callbacks, verbose=0)
    if engine.rank == 0:
        run["status"] = "complete"
        run["stopped"] = (f"early stopping after epoch {early.stopped} (no improvement for {tc.patience} epochs)"
                          if early.stopped else f"{tc.epochs} epochs")
        run["runs"][-1]["wall_s"] = time.perf_counter() - t_setup
        write_run(run_dir, run)
        log.info("done: %s; best epoch %s (val_loss %.4g); run %s", run["stopped"], run["best"]["epoch"],
                 run["best"]["val_loss"], run_dir)
    return run
