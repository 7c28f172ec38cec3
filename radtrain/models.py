"""The networks: small Keras definitions that read per-bin source counts from an image tile.

- ``seed-small`` and ``seed-large``: the seed study's CNN family (Todarello et al. 2023): blocks of 3x3
  convolution + ReLU + 2x2 max-pooling, a dense ReLU head and one linear output per label bin. The paper's
  exact layer sizes were not available to us; the two presets are ours (table in :data:`PRESETS`).
- ``resnet``: a deeper residual CNN (pre-activation blocks with batch normalisation, global average pooling).

Heads: ``mse`` gives one output per bin trained on the mean squared error; ``gaussian`` gives a mean and a
log-variance per bin trained on the Gaussian negative log-likelihood (:func:`gaussian_nll`), so each
prediction carries its own uncertainty.
"""
from __future__ import annotations

import math

import numpy as np

# architecture -> (filters per block, convolutions per block, dense units)
PRESETS = {
    "seed-small": ([16, 32, 64], 1, [128]),
    "seed-large": ([32, 64, 128, 256], 2, [256, 128]),
    "resnet": ([32, 64, 128, 256], 2, [128]),
}


def gaussian_nll(y_true, y_pred):
    """Mean Gaussian negative log-likelihood per bin; ``y_pred`` holds the means in its first half and the
    log-variances in its second half along the last axis."""
    import tensorflow as tf
    mean, log_var = tf.split(tf.cast(y_pred, tf.float32), 2, axis=-1)
    y_true = tf.cast(y_true, tf.float32)
    return tf.reduce_mean(0.5 * (log_var + tf.square(y_true - mean) * tf.exp(-log_var) + math.log(2 * math.pi)),
                          axis=-1)


def mean_squared_error_of_mean(y_true, y_pred):
    """MSE of the means of a gaussian head (a metric comparable with an mse head's loss)."""
    import tensorflow as tf
    mean, _ = tf.split(tf.cast(y_pred, tf.float32), 2, axis=-1)
    return tf.reduce_mean(tf.square(tf.cast(y_true, tf.float32) - mean), axis=-1)


def _seed_trunk(x, filters, convs, layers):
    for f in filters:
        for _ in range(convs):
            x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    return layers.Flatten()(x)


def _residual_trunk(x, filters, convs, layers):
    x = layers.Conv2D(filters[0], 3, padding="same")(x)
    for i, f in enumerate(filters):
        stride = 1 if i == 0 else 2
        shortcut = x if stride == 1 and x.shape[-1] == f else layers.Conv2D(f, 1, strides=stride)(x)
        y = x
        for j in range(convs):
            y = layers.BatchNormalization()(y)
            y = layers.Activation("relu")(y)
            y = layers.Conv2D(f, 3, strides=stride if j == 0 else 1, padding="same")(y)
        x = layers.Add()([shortcut, y])
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    return layers.GlobalAveragePooling2D()(x)


def build(model_cfg, tile_size: int, n_bins: int, n_aux: int = 0, target_mean=None, keras=None):
    """A Keras model for (tile_size, tile_size, 1) inputs (plus ``n_aux`` scalars when given, as a dict input
    ``{"image", "aux"}``) with ``n_bins`` outputs, or 2 x n_bins for the gaussian head. ``target_mean`` (per bin)
    initialises the output biases, so training starts from the mean of the targets.

    ``keras``: the Keras module to build with; default TensorFlow's (``tf.keras``, what radtrain trains with).
    Keras 3 builds the same layers on its JAX or PyTorch backends (benchmarks/gpu.py, on GPU machines that have
    no TensorFlow)."""
    if keras is None:
        import tensorflow as tf
        keras = tf.keras
    layers = keras.layers
    filters, convs, dense = PRESETS[model_cfg.architecture]
    filters = list(model_cfg.filters) or filters
    dense = list(model_cfg.dense_units) or dense
    if tile_size // 2 ** len(filters) < 1:
        raise ValueError(f"{len(filters)} pooling blocks do not fit a {tile_size}-pixel tile")

    image = layers.Input((tile_size, tile_size, 1), name="image")
    trunk = _residual_trunk if model_cfg.architecture == "resnet" else _seed_trunk
    x = trunk(image, filters, convs, layers)
    inputs = image
    if n_aux:
        aux = layers.Input((n_aux,), name="aux")
        x = layers.Concatenate()([x, aux])
        inputs = {"image": image, "aux": aux}
    for units in dense:
        if model_cfg.dropout:
            x = layers.Dropout(model_cfg.dropout)(x)
        x = layers.Dense(units, activation="relu")(x)
    n_out = n_bins * (2 if model_cfg.head == "gaussian" else 1)
    bias = np.zeros(n_out, np.float32)
    if target_mean is not None:
        bias[:n_bins] = np.asarray(target_mean, np.float32)
    out = layers.Dense(n_out, bias_initializer=keras.initializers.Constant(bias), name="counts")(x)
    out = layers.Activation("linear", dtype="float32", name="output")(out)   # float32 under mixed precision
    return keras.Model(inputs, out, name=model_cfg.architecture.replace("-", "_"))


def loss_and_metrics(model_cfg):
    """(loss, metrics) for ``compile``."""
    if model_cfg.head == "gaussian":
        return gaussian_nll, [mean_squared_error_of_mean]
    return "mse", []


def predictor(model, batch_size: int = 64):
    """A function of network inputs (an array of N tiles, or ``{"image": ..., "aux": ...}``) returning the model's
    (N, outputs) float32 output, ``batch_size`` tiles at a time through one compiled inference pass: what Keras's
    ``predict`` computes on the same batches, bit for bit, without the tf.data pipeline ``predict`` builds on every
    call, whose memory TensorFlow keeps (reading 576 skies in 18 calls of 2048 tiles: benchmarks/README.md)."""
    import tensorflow as tf
    step = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)

    def run(inputs) -> np.ndarray:
        n = len(inputs["image"] if isinstance(inputs, dict) else inputs)
        if n == 0:
            return np.zeros((0, model.output_shape[-1]), np.float32)
        return np.concatenate([step(tf.nest.map_structure(lambda a: a[s:s + batch_size], inputs)).numpy()
                               for s in range(0, n, batch_size)])
    return run


def split_output(y_pred: np.ndarray, head: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(means, standard deviations or None) of a model's output, in the target's units."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if head == "gaussian":
        mean, log_var = np.split(y_pred, 2, axis=-1)
        return mean, np.exp(0.5 * log_var)
    return y_pred, None
