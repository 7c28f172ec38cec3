#!/usr/bin/env python
"""Benchmark: training and inference throughput of radtrain's networks, on a GPU against the CPU.

Each network of radtrain.models (seed-small, seed-large, resnet; the definitions radtrain trains, built by
radtrain.models.build) is timed on one batch of tiles held on the device, so the figure is the network's own
rate (no input pipeline), in tiles/s:

- train: optimisation steps (forward, gradients, Adam update), mean squared error on 10 bins;
- train, fed from the host: the same steps with each batch copied from host memory first;
- predict: forward passes (radtrain evaluate / predict).

Two stacks:

- ``--stack tf``: TensorFlow's own Keras (what radtrain fit uses), ``model.fit`` on one cached batch;
- ``--stack keras3``: Keras 3 on the JAX backend, a jitted training step of the model's stateless call and the
  optimizer's stateless update (the Keras 3 guide's JAX training loop). For GPU machines with no TensorFlow
  (TensorFlow 2.15 has no wheel for their Python); the same layers, the same parameter counts.

Mixed precision: ``float32`` or Keras's ``mixed_bfloat16`` / ``mixed_float16`` policies (float32 weights and
outputs). The timed steps per case are chosen from three trial steps to last about ``--seconds``.

    .venv/bin/python benchmarks/gpu.py --stack tf                       # this machine, radtrain's stack
    KERAS_BACKEND=jax python3 benchmarks/gpu.py --stack keras3 --batches 32 256 \\
        --precisions float32 mixed_bfloat16 --json gpu.json            # a GPU machine
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TILE, BINS = 128, 10            # the shipped configs' tiles (128 x 128 px) and label bins


def _batch(batch: int, seed: int):
    """Tiles as radtrain trains on them: noise stretched by asinh(x / 3 sigma) (radtrain.data.preprocess), and
    standardised targets. (TensorFlow's CPU kernels ran seed-small 1.8x slower on unstretched unit normals.)"""
    import numpy as np
    rng = np.random.default_rng(seed)
    return (np.arcsinh(rng.normal(size=(batch, TILE, TILE, 1)) / 3).astype(np.float32),
            rng.normal(size=(batch, BINS)).astype(np.float32))


def _timed(step, seconds: float, min_steps: int = 3) -> tuple[int, float]:
    """(steps, seconds) of a timing of ``step()`` (which returns something to wait on) lasting about
    ``seconds``; three trial steps set the count."""
    t0 = time.perf_counter()
    for _ in range(3):
        last = step()
    _wait(last)
    per_step = (time.perf_counter() - t0) / 3
    n = max(min_steps, min(5000, math.ceil(seconds / max(per_step, 1e-6))))
    t0 = time.perf_counter()
    for _ in range(n):
        last = step()
    _wait(last)
    return n, time.perf_counter() - t0


def _wait(x):
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    elif hasattr(x, "numpy"):
        x.numpy()


def keras3_case(keras, arch: str, precision: str, batch: int, seconds: float) -> dict:
    import jax

    from radtrain import models
    from radtrain.config import ModelConfig
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(1)
    model = models.build(ModelConfig(architecture=arch), TILE, BINS, keras=keras)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)

    def loss_fn(trainable, non_trainable, x, y):
        y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return jax.numpy.mean(jax.numpy.square(y_pred.astype("float32") - y)), non_trainable

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @jax.jit
    def train_step(state, x, y):
        trainable, non_trainable, opt = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, opt = optimizer.stateless_apply(opt, grads, trainable)
        return loss, (trainable, non_trainable, opt)

    @jax.jit
    def predict_step(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    hosts = [_batch(batch, s) for s in range(4)]
    x, y = (jax.device_put(a) for a in hosts[0])

    t0 = time.perf_counter()
    loss, state = train_step(state, x, y)
    loss.block_until_ready()
    compile_s = time.perf_counter() - t0

    box = {"state": state, "i": 0}

    def train():
        loss, box["state"] = train_step(box["state"], x, y)
        return loss

    def train_from_host():
        hx, hy = hosts[box["i"] % len(hosts)]
        box["i"] += 1
        loss, box["state"] = train_step(box["state"], jax.device_put(hx), jax.device_put(hy))
        return loss

    n_train, t_train = _timed(train, seconds)
    n_host, t_host = _timed(train_from_host, seconds)
    assert math.isfinite(float(train())), f"{arch} {precision}: the loss is not finite after training"
    trainable, non_trainable, _ = box["state"]
    predict_step(trainable, non_trainable, x).block_until_ready()
    n_pred, t_pred = _timed(lambda: predict_step(trainable, non_trainable, x), seconds)
    return {"compile_s": compile_s, "train_tiles_per_s": n_train * batch / t_train, "train_steps": n_train,
            "train_from_host_tiles_per_s": n_host * batch / t_host,
            "predict_tiles_per_s": n_pred * batch / t_pred, "params": int(model.count_params())}


def tf_case(arch: str, precision: str, batch: int, seconds: float) -> dict:
    import tensorflow as tf

    from radtrain import models
    from radtrain.config import ModelConfig
    tf.keras.backend.clear_session()
    tf.keras.mixed_precision.set_global_policy(precision)
    tf.keras.utils.set_random_seed(1)
    model = models.build(ModelConfig(architecture=arch), TILE, BINS)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    x, y = _batch(batch, 0)
    one = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2)
    t0 = time.perf_counter()
    model.fit(one, steps_per_epoch=1, epochs=1, verbose=0)
    compile_s = time.perf_counter() - t0

    class Clock(tf.keras.callbacks.Callback):      # batch ends, so fit's own start-up is not timed
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.perf_counter())

    def timed_fit(data, steps):
        ends.clear()
        model.fit(data, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[Clock()])
        return ends[-1] - ends[0]

    ends = []
    n = max(3, math.ceil(seconds / max(timed_fit(one, 3) / 3, 1e-6)))
    t_train = timed_fit(one, n)
    hosts = [_batch(batch, s) for s in range(4)]
    fed = tf.data.Dataset.from_generator(lambda: (hosts[i % 4] for i in range(10 ** 9)),
                                         output_signature=(tf.TensorSpec((batch, TILE, TILE, 1)),
                                                           tf.TensorSpec((batch, BINS))))
    t_host = timed_fit(fed, n)
    xt = tf.constant(x)
    predict = tf.function(lambda v: model(v, training=False))
    _wait(predict(xt))
    n_pred, t_pred = _timed(lambda: predict(xt), seconds)
    return {"compile_s": compile_s, "train_tiles_per_s": n * batch / t_train, "train_steps": n,
            "train_from_host_tiles_per_s": n * batch / t_host,
            "predict_tiles_per_s": n_pred * batch / t_pred, "params": int(model.count_params())}


def device_name(stack: str) -> str:
    if stack == "keras3":
        import jax
        d = jax.devices()[0]
        return f"{d.platform}: {d.device_kind}"
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    return f"gpu: {gpus[0].name}" if gpus else "cpu"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stack", choices=["tf", "keras3"], default="tf", help="TensorFlow's Keras or Keras 3 (JAX)")
    p.add_argument("--architectures", nargs="+", default=["seed-small", "seed-large", "resnet"])
    p.add_argument("--batches", type=int, nargs="+", default=[32], help="tiles per step")
    p.add_argument("--precisions", nargs="+", default=["float32"],
                   choices=["float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per figure")
    p.add_argument("--json", help="write the figures to this JSON file, rewritten after each case")
    args = p.parse_args()

    if args.stack == "keras3":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
        if int(keras.__version__.split(".")[0]) < 3:
            p.error(f"--stack keras3 needs Keras 3 (found {keras.__version__})")
        import jax
        versions = f"keras {keras.__version__}, {keras.backend.backend()} {jax.__version__}"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        versions = f"tensorflow {tf.__version__}"
    device = device_name(args.stack)
    cores = len(os.sched_getaffinity(0))
    print(f"{versions}; {device}; {cores} cores", flush=True)
    print(f"{'network':<11} {'precision':<15} {'batch':>5} {'params':>9} {'compile s':>9} {'train':>9} "
          f"{'from host':>9} {'predict':>9}   (tiles/s)", flush=True)
    rows = []
    for arch in args.architectures:
        for precision in args.precisions:
            for batch in args.batches:
                if args.stack == "keras3":
                    r = keras3_case(keras, arch, precision, batch, args.seconds)
                else:
                    r = tf_case(arch, precision, batch, args.seconds)
                r.update(network=arch, precision=precision, batch=batch, device=device, stack=versions,
                         cores=cores)
                rows.append(r)
                print(f"{arch:<11} {precision:<15} {batch:5d} {r['params']:9d} {r['compile_s']:9.1f} "
                      f"{r['train_tiles_per_s']:9.0f} {r['train_from_host_tiles_per_s']:9.0f} "
                      f"{r['predict_tiles_per_s']:9.0f}", flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
