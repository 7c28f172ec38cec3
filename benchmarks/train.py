#!/usr/bin/env python
"""Benchmark: radtrain throughput on CPU (or GPU where there is one).

1. the input pipeline alone: tiles/s out of radtrain.data.make_dataset (shuffle, 8-fold augmentation, batching)
   over a rank's in-memory tiles;
2. the model alone: training tiles/s of the network on one cached batch (no input pipeline);
3. `radtrain fit` with 1 and 2 Horovod ranks (horovodrun --gloo) at a fixed per-rank batch, each rank on one
   core (the 1-rank run is pinned to one core), from the history's tiles/s (median over epochs after the
   first): speed-up and parallel efficiency = tiles/s(N) / (N x tiles/s(1)).

The dataset is made first (quickstart config, 2 MPI ranks) unless --dataset is given.

    .venv/bin/python benchmarks/train.py [--dataset DIR] [--epochs 6] [--batch 16] [--ranks 1 2]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def make_dataset(out: Path, repeats: int) -> None:
    env = {**os.environ, "CONFIG": "configs/quickstart.toml", "OUT": str(out), "NPROCS": "2",
           "RADSIM_ARGS": f"--set realisations.repeats={repeats}",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    subprocess.run(["bash", "jobs/simulate.sh"], cwd=ROOT, env=env, check=True, capture_output=True)


def pipeline_and_model(dataset: Path, batch: int, steps: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from radtrain import data, models
    from radtrain.config import RadtrainConfig
    tf.get_logger().setLevel("ERROR")
    cfg = RadtrainConfig()
    ds = data.open_dataset(dataset)
    stats = data.statistics(ds)
    part = data.rank_parts(ds, "train", 1)[0]
    d = data.load_part(ds, "train", part)
    x = data.preprocess(d["images"], stats, "asinh")
    y = data.encode(d["labels"], stats, "log1p")
    pipe = data.make_dataset(x, y, batch_size=batch, shuffle=True, augment=True, repeat=True, drop_remainder=True)
    it = iter(pipe)
    next(it)
    t0 = time.perf_counter()
    for _ in range(steps):
        next(it)
    pipeline_rate = steps * batch / (time.perf_counter() - t0)

    model = models.build(cfg.model, ds.tile_size, y.shape[1])
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    one = tf.data.Dataset.from_tensors((x[:batch], y[:batch])).repeat()
    model.fit(one, steps_per_epoch=3, epochs=1, verbose=0)             # build and trace
    t0 = time.perf_counter()
    model.fit(one, steps_per_epoch=steps, epochs=1, verbose=0)
    model_rate = steps * batch / (time.perf_counter() - t0)
    return {"tiles_in_memory": int(x.shape[0]), "tile_size": ds.tile_size, "pipeline_tiles_per_s": pipeline_rate,
            "model_tiles_per_s": model_rate, "params": int(model.count_params()),
            "device": "gpu" if tf.config.list_physical_devices("GPU") else "cpu", "batch": batch,
            "threads": len(os.sched_getaffinity(0)), "np": np.__version__}


def fit(dataset: Path, out: Path, ranks: int, epochs: int, batch: int) -> dict:
    cfg = out.parent / "bench-train.toml"
    cfg.write_text(f"[data]\nbatch_size = {batch}\n[train]\nepochs = {epochs}\nwarmup_epochs = 0\npatience = 0\n")
    cmd = [str(BIN / "radtrain"), "fit", str(cfg), "--dataset", str(dataset), "--out", str(out)]
    if ranks > 1:
        cmd = [str(BIN / "horovodrun"), "-np", str(ranks), "-H", f"localhost:{ranks}", "--gloo"] + cmd
    else:
        cmd = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[0])] + cmd
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    sys.path.insert(0, str(ROOT))
    from radtrain.train import read_history, read_run
    hist = read_history(out)[1:]
    run = read_run(out)["runs"][-1]
    return {"ranks": ranks, "wall_s": wall, "steps_per_epoch": run["steps_per_epoch"],
            "tiles_per_s": statistics.median(h["tiles_per_s"] for h in hist),
            "step_s": statistics.median(h["step_s"] for h in hist)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="radsim dataset (default: made from configs/quickstart.toml)")
    p.add_argument("--repeats", type=int, default=6, help="realisations.repeats of the dataset made (4 sets each)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch", type=int, default=16, help="tiles per step per rank")
    p.add_argument("--steps", type=int, default=60, help="steps timed for the pipeline and model figures")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="radtrain-bench-"))
    try:
        dataset = Path(args.dataset) if args.dataset else base / "dataset"
        if not args.dataset:
            print(f"making the dataset (quickstart, repeats {args.repeats}) ...", flush=True)
            make_dataset(dataset, args.repeats)
        manifest = json.loads((dataset / "manifest.json").read_text())
        print(f"dataset: {manifest['n_tiles']} tiles of {manifest['tile_size']} px, train split "
              f"{manifest['split']['n_tiles']['train']}")
        pm = pipeline_and_model(dataset, args.batch, args.steps)
        print(f"input pipeline alone: {pm['pipeline_tiles_per_s']:8.0f} tiles/s  (in-memory tiles, shuffle, "
              f"augmentation, batch {args.batch})")
        print(f"model alone:          {pm['model_tiles_per_s']:8.0f} tiles/s  (seed-small, {pm['params']} "
              f"parameters, {pm['device']}, {pm['threads']} cores)")
        print(f"pipeline / model:     {pm['pipeline_tiles_per_s'] / pm['model_tiles_per_s']:8.1f}x")
        rows = [fit(dataset, base / f"run{n}", n, args.epochs, args.batch) for n in args.ranks]
        one = rows[0]["tiles_per_s"]
        print(f"\nradtrain fit, per-rank batch {args.batch}, one core per rank, median over epochs 2..{args.epochs}:")
        print(f"{'ranks':>5} {'steps/epoch':>11} {'step (s)':>9} {'tiles/s':>9} {'speed-up':>8} {'efficiency':>10} "
              f"{'wall (s)':>8}")
        for r in rows:
            speed = r["tiles_per_s"] / one
            print(f"{r['ranks']:5d} {r['steps_per_epoch']:11d} {r['step_s']:9.3f} {r['tiles_per_s']:9.0f} "
                  f"{speed:8.2f} {speed / (r['ranks'] / rows[0]['ranks']):10.2f} {r['wall_s']:8.1f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
