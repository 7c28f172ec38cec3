"""The Keras callbacks of ``radtrain fit``: the same collectives in the same order on every rank, the writers
on rank 0 only (Horovod's examples' rule: every rank must take part in every allreduce or allgather)."""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from radsim.dataset import atomic
from radtrain import rundir

log = logging.getLogger("radtrain")


def weights_digest(model) -> str:
    """Short SHA-256 of all weights (bit-exact identity of a model's state)."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]


class Timer(tf.keras.callbacks.Callback):
    """Training and validation wall time of each epoch, and the throughput it gives (tiles/s)."""

    def __init__(self, steps: int, batch: int, ranks: int):
        super().__init__()
        self.steps, self.batch, self.ranks = steps, batch, ranks

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
        tiles = self.steps * self.batch
        self.row = {"train_s": train_s, "validation_s": t1 - t_val, "step_s": train_s / self.steps,
                    "tiles_per_s_per_rank": tiles / train_s, "tiles_per_s": tiles / train_s * self.ranks}


class Agreement(tf.keras.callbacks.Callback):
    """Every rank's weight digest gathered at each epoch end: data parallelism keeps them identical."""

    def __init__(self, engine):
        super().__init__()
        self.engine = engine

    def on_epoch_end(self, epoch, logs=None):
        self.digests = self.engine.allgather_object(weights_digest(self.model))
        self.agree = len(set(self.digests)) == 1
        if not self.agree:
            log.warning("epoch %d: the ranks' weights differ: %s", epoch + 1, self.digests)


class EarlyStop(tf.keras.callbacks.Callback):
    """Stop when the validation loss has not improved for ``patience`` epochs (0: never). The state lives in the
    run record, so a resumed run counts on; every rank sees the same averaged loss and stops together."""

    def __init__(self, state: dict, patience: int):
        super().__init__()
        self.best, self.wait = state["best"], state["wait"]
        self.patience = patience
        self.stopped = None
        self.improved = False

    def on_epoch_end(self, epoch, logs=None):
        loss = float(logs["val_loss"])
        self.improved = self.best is None or loss < self.best
        if self.improved:
            self.best, self.wait = loss, 0
        else:
            self.wait += 1
            if self.patience and self.wait >= self.patience:
                self.model.stop_training = True
                self.stopped = epoch + 1


class Recorder(tf.keras.callbacks.Callback):
    """Rank 0: checkpoint, best weights, history row, run record and one log line per epoch, each written
    atomically. The run record comes last and commits the epoch: a kill before it leaves a run that resumes from
    the checkpoint of the epoch the record names, one before the newest checkpoint at most."""

    def __init__(self, run_dir: Path, run: dict, store, epoch_var, timer: Timer, agreement: Agreement,
                 early: EarlyStop, ranks: int):
        super().__init__()
        self.run_dir, self.run, self.store, self.epoch_var = Path(run_dir), run, store, epoch_var
        self.timer, self.agreement, self.early, self.ranks = timer, agreement, early, ranks

    def _learning_rate(self) -> float:
        lr = self.model.optimizer.learning_rate
        return float(lr.numpy()) if hasattr(lr, "numpy") else float(lr)

    def on_epoch_end(self, epoch, logs=None):
        run, early = self.run, self.early
        self.epoch_var.assign(epoch + 1)
        self.store.save(epoch + 1)
        if early.improved:
            with atomic.atomic_path(self.run_dir / "best.weights.h5") as tmp:
                self.model.save_weights(str(tmp))
            run["best"] = {"epoch": epoch + 1, "val_loss": float(logs["val_loss"])}
        row = {"epoch": epoch + 1, "loss": float(logs["loss"]), "val_loss": float(logs["val_loss"]),
               "learning_rate": self._learning_rate(), **self.timer.row, "weights_agree": self.agreement.agree,
               "weights_digests": ";".join(self.agreement.digests)}
        history = [*rundir.read_history(self.run_dir), row]
        rundir.write_history(self.run_dir, history)
        launch = run["runs"][-1]
        launch["throughput"] = rundir.launch_throughput([r for r in history if r["epoch"] > launch["initial_epoch"]])
        run["epochs_done"] = epoch + 1
        run["early_stopping"] = {"best": early.best, "wait": early.wait}
        rundir.write_run(self.run_dir, run)
        log.info("epoch %d/%d  loss %.4g  val_loss %.4g%s  lr %.3g  %.1f s  %.0f tiles/s (%d ranks)%s",
                 epoch + 1, self.params["epochs"], row["loss"], row["val_loss"], " *" if early.improved else "",
                 row["learning_rate"], row["train_s"] + row["validation_s"], row["tiles_per_s"], self.ranks,
                 "" if self.agreement.agree else "  WEIGHTS DIFFER")


def make_callbacks(engine, run_dir: Path, run: dict, store, epoch_var, steps: int, batch: int,
                   learning_rate: float, patience: int) -> tuple[list, EarlyStop]:
    """The callback list of every rank (Horovod's first, then ours; writers on rank 0) and the early stopper."""
    timer, agreement = Timer(steps, batch, engine.size), Agreement(engine)
    early = EarlyStop(run["early_stopping"], patience)
    cbs = engine.callbacks(learning_rate=learning_rate, warmup_epochs=run["config"]["train"]["warmup_epochs"],
                           steps_per_epoch=steps)
    cbs += [timer, agreement, early]
    if engine.rank == 0:
        cbs += [Recorder(run_dir, run, store, epoch_var, timer, agreement, early, engine.size),
                tf.keras.callbacks.TensorBoard(str(Path(run_dir) / "tensorboard"), profile_batch=0)]
    return cbs, early
