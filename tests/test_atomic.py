"""Kills during the atomic writes of ``radtrain fit`` (radsim.dataset.atomic): the run record, the history, the
best weights and the checkpoints. A real process writing through the same functions is killed with SIGKILL at
random moments; after every kill each file is either the previous version or the next one, whole, and a training
run reads the directory."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radsim.dataset import atomic

HERE = Path(__file__).resolve().parent


def kill_at_random(run_dir: Path, mode: str, seed: int, window_s: float):
    """Start the writer, wait until it has written one whole version, kill it at a random moment within
    ``window_s``; returns the temporaries the kill left behind (a kill inside a write leaves one)."""
    ready = run_dir / "ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(HERE / "atomic_writer.py"), str(run_dir), mode],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the writer never finished a version"
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, window_s))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return [p for d in (run_dir, run_dir / "checkpoints") if d.is_dir() for p in d.glob(".tmp-*")]


def test_run_record_and_history_survive_kills(tmp_path):
    from radtrain import rundir
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    mid_write = kills = 0
    # kill until 3 kills have landed inside a write (usually within 30; fewer where the disk is fast and the CPU
    # busy, as on a loaded CI machine where 1 of 30 did), at most 150
    while kills < 30 or (mid_write < 3 and kills < 150):
        left = kill_at_random(run_dir, "record", kills, 0.5)
        kills += 1
        mid_write += bool(left)
        run = rundir.read_run(run_dir)                       # whole: parses, and every part is one version
        assert run["payload"] == f"{run['n']}:" + "x" * (1 << 24)
        history = rundir.read_history(run_dir)
        assert len(history) == 199 and len({h["loss"] for h in history}) == 1
        assert history[0]["loss"] in (run["n"], run["n"] - 1)   # history is written right after the record
        stale = atomic.stale_temporaries(run_dir)
        assert sorted(stale) == sorted(left)                  # the killed writer's temporaries, found as stale
        for p in stale:
            atomic.remove(p)
    # the kills did land inside writes (otherwise this test would show nothing)
    print(f"{mid_write} of {kills} kills hit a write")
    assert mid_write >= 2, f"only {mid_write} of {kills} kills hit a write"


def test_best_weights_and_checkpoints_survive_kills(tmp_path):
    import h5py
    import numpy as np
    import tensorflow as tf

    from radtrain.checkpoints import CheckpointStore
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model = tf.keras.Sequential([tf.keras.Input((64,)), tf.keras.layers.Dense(2048), tf.keras.layers.Dense(64)])
    ckpt = tf.train.Checkpoint(model=model, epoch=tf.Variable(0, dtype=tf.int64))
    store = CheckpointStore(ckpt, run_dir / "checkpoints")
    mid_write = kills = 0
    while kills < 6 or (mid_write < 1 and kills < 30):     # as above: until a kill has landed inside a write
        left = kill_at_random(run_dir, "weights", 100 + kills, 1.5)
        kills += 1
        mid_write += bool(left)
        with h5py.File(run_dir / "best.weights.h5", "r"):
            pass
        model.load_weights(str(run_dir / "best.weights.h5"))
        values = {float(np.unique(w)[0]) for w in model.get_weights()}
        assert len(values) == 1                               # one whole version of the weights
        latest = store.latest()
        assert latest is not None
        ckpt.restore(latest).expect_partial()
        epoch = int(ckpt.epoch.numpy())
        assert {float(np.unique(w)[0]) for w in model.get_weights()} == {float(epoch)}
        assert epoch in store.epochs() and len(store.epochs()) <= 3
        assert not list((run_dir / "checkpoints").glob("*_temp*"))
    print(f"{mid_write} of {kills} kills hit a write")
    assert mid_write >= 1, "no kill hit a write"
    # the next save clears what killed writers left, and keeps the last two
    store.save(10_000)
    assert not list((run_dir / "checkpoints").glob(".tmp-*")) and store.epochs()[-1] == 10_000
    assert len(store.epochs()) == 2


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path) as tmp:
            tmp.write_text('{"v": 2, "torn')
            raise RuntimeError("killed mid-write")
    assert path.read_text() == '{\n "v": 1\n}\n' and not list(tmp_path.glob(".tmp-*"))
    assert atomic.temporary_name(path).name == f".tmp-{os.getpid()}-metrics.json"
