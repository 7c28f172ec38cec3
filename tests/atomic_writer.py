"""Run by test_atomic.py as a process to be killed: writes a radtrain run directory through the same functions
``radtrain fit`` uses, over and over, until it is killed.

    python atomic_writer.py RUN record     # run.json (a large record) and history.csv
    python atomic_writer.py RUN weights    # best.weights.h5 and a checkpoint per 'epoch', as the Recorder does

Each version written carries its sequence number ``n`` in every part (record field, history rows, weights), so the
test can tell a whole version from a torn one. ``RUN/ready`` appears after the first complete version.
"""
import sys
from pathlib import Path

import numpy as np

run_dir, mode = Path(sys.argv[1]), sys.argv[2]
ready = run_dir / "ready"

if mode == "record":
    from radtrain import rundir
    n = 0
    while True:
        n += 1
        # 16 MB of JSON that take little time to make and a while to write and fsync, so that kills often
        # land inside a write
        rundir.write_run(run_dir, {"format": rundir.RUN_FORMAT, "n": n, "payload": f"{n}:" + "x" * (1 << 24)})
        rundir.write_history(run_dir, [{"epoch": e, "loss": n, "val_loss": n, "learning_rate": 0.1, "train_s": 1,
                                        "validation_s": 1, "step_s": 1, "tiles_per_s_per_rank": 1, "tiles_per_s": 1,
                                        "weights_agree": True, "weights_digests": [str(n)]} for e in range(1, 200)])
        ready.touch()
else:
    import tensorflow as tf

    from radsim.dataset import atomic
    from radtrain.checkpoints import CheckpointStore
    model = tf.keras.Sequential([tf.keras.Input((64,)), tf.keras.layers.Dense(2048), tf.keras.layers.Dense(64)])
    ckpt = tf.train.Checkpoint(model=model, epoch=tf.Variable(0, dtype=tf.int64))
    store = CheckpointStore(ckpt, run_dir / "checkpoints")
    n = 0
    while True:
        n += 1
        model.set_weights([np.full(w.shape, n, w.dtype) for w in model.get_weights()])
        with atomic.atomic_path(run_dir / "best.weights.h5") as tmp:
            model.save_weights(str(tmp))
        ckpt.epoch.assign(n)
        store.save(n)
        ready.touch()
