"""The input pipeline: radsim tiles -> preprocessed numpy arrays -> tf.data.

Datasets are read only through the documented reader, :class:`radsim.dataset.reader.Dataset`. Each data-parallel
rank reads a disjoint part of a split (:func:`rank_parts`): whole shards when there are at least as many
shards as ranks, otherwise every N-th tile. A rank's tiles are loaded into memory once (h5py reads serially,
so parallelism comes from the ranks), preprocessed in numpy, and served by ``from_tensor_slices`` with seeded
shuffling, the 8 flips/rotations of a square as augmentation, batching and prefetch.

Statistics used by the transforms (:class:`Statistics`) are estimated once from the training split and kept
in the run directory, so that evaluation and prediction transform images exactly as training did.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from radsim.dataset.reader import Dataset, ShardError
from radtrain.errors import RadtrainError

AUX_NAMES = ("total_flux", "rms", "width", "noise")


class DataError(RadtrainError, ValueError):
    """A dataset that cannot be used for this training run; the message says why."""


def open_dataset(path) -> Dataset:
    try:
        return Dataset(path)
    except ShardError as exc:
        raise DataError(str(exc)) from None


def check_split(ds: Dataset, split: str) -> int:
    """Number of tiles in a split; an error naming the dataset when there are none."""
    n = ds.n_tiles(split)
    if n == 0:
        raise DataError(f"{ds.directory}: the {split!r} split has no tiles (split by {ds.split['by']}, fractions "
                        f"{ds.split['fractions']}); simulate more realisations or change dataset.*_fraction")
    return n


def split_digest(ds: Dataset) -> str:
    """Identity of a dataset's split (how, with which fractions and seed, and which skies go where)."""
    import hashlib
    import json
    keep = {k: v for k, v in ds.split.items() if k != "n_tiles"}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def describe_split(split: dict) -> str:
    f = split.get("fractions", {})
    return (f"by {split.get('by')}, fractions {f.get('train', '?')}/{f.get('validation', '?')}/{f.get('test', '?')}"
            + (f", seed {split['seed']}" if "seed" in split else ""))


def check_same_split(ds: Dataset, trained: dict, run_dir) -> None:
    """Refuse the training dataset re-split after training (its held-out skies could be training skies):
    ``trained`` is the run record's dataset entry. Another dataset (other skies: another tiles hash, e.g.
    independent test skies) is evaluated on its own split."""
    if trained.get("tiles_hash") != ds.tiles_hash:
        return
    recorded = trained.get("split", {})
    digest = recorded.get("digest")
    now = split_digest(ds)
    same = digest == now if digest else (recorded.get("by") == ds.split["by"]
                                         and recorded.get("fractions") == ds.split["fractions"])
    if not same:
        raise DataError(f"{ds.directory}: its split ({describe_split(ds.split)}) is not the one {run_dir} was "
                        f"trained with ({describe_split(recorded)}): its held-out skies may be skies the network "
                        f"trained on. Evaluate on the dataset as it was trained, or train again")


# --------------------------------------------------------------------------------------------------------------
# which tiles each rank reads

@dataclass(frozen=True)
class Part:
    """What one rank reads of a split: ``shards`` (paths) and, when ranks share shards, every ``stride``-th of
    their tiles starting at ``offset``. ``n_tiles`` is the number of tiles it gets."""
    shards: tuple
    offset: int
    stride: int
    n_tiles: int


def rank_parts(ds: Dataset, split: str, size: int) -> list[Part]:
    """Disjoint parts of ``split`` for ``size`` ranks: whole shards balanced by tile count (largest first, to
    the least loaded rank) when there are at least ``size`` shards, otherwise interleaved tiles of all shards.
    Deterministic, so every rank computes the same assignment without talking to the others."""
    counts = ds.tiles_per_shard(split)
    paths = sorted(counts, key=lambda p: (-counts[p], str(p)))
    if len(paths) >= size:
        load = [0] * size
        owned = [[] for _ in range(size)]
        for p in paths:
            r = int(np.argmin(load))
            owned[r].append(p)
            load[r] += counts[p]
        return [Part(tuple(sorted(owned[r], key=str)), 0, 1, load[r]) for r in range(size)]
    total = sum(counts.values())
    ordered = tuple(sorted(paths, key=str))
    return [Part(ordered, r, size, len(range(r, total, size))) for r in range(size)]


def load(ds: Dataset, split: str, **kwargs) -> dict:
    """``ds.load`` with a shard that does not read (truncated, corrupt) reported as a DataError."""
    try:
        return ds.load(split, **kwargs)
    except ShardError as exc:
        raise DataError(f"{exc}; restore the shard or simulate its realisations again (radsim simulate)") from None


def load_part(ds: Dataset, split: str, part: Part) -> dict:
    """The tiles of one part: ``images`` (N, T, T) float32, ``labels`` (N, n_bins) float32, ``realisation``,
    ``tile_noise`` (N,) (Jy/beam)."""
    d = load(ds, split, shards=list(part.shards), datasets=("images", "labels", "realisation", "tile_noise"))
    if part.stride > 1:
        d = {k: v[part.offset::part.stride] for k, v in d.items()}
    return d


def steps_per_epoch(parts: list[Part], batch_size: int, split: str = "train") -> int:
    """Steps every rank takes per epoch (the same on all ranks, or Horovod's allreduce would hang): what the
    rank with the fewest tiles can fill."""
    fewest = min(p.n_tiles for p in parts)
    if fewest < batch_size:
        raise DataError(f"the {split} split gives {fewest} tiles to some rank of {len(parts)}, fewer than one "
                        f"batch of {batch_size}; use fewer ranks, a smaller data.batch_size or more realisations")
    return fewest // batch_size


# --------------------------------------------------------------------------------------------------------------
# statistics and transforms

@dataclass
class Statistics:
    """Dataset statistics from training tiles (image units): pixel mean and standard deviation, the noise
    (1.4826 x median absolute deviation of pixels), auxiliary-input mean and standard deviation, and the
    per-bin mean and standard deviation of the label counts."""
    pixel_mean: float
    pixel_std: float
    noise: float
    aux_mean: list
    aux_std: list
    label_mean: list
    label_std: list
    n_tiles: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Statistics":
        return cls(**d)


AUX_BLOCK = 256          # tiles whose auxiliary features are computed at a time


def aux_features(images: np.ndarray, tile_noise: np.ndarray | None = None) -> np.ndarray:
    """(N, 4) float64 per tile, in the order of AUX_NAMES: the sum of its pixels, their rms about zero, the
    half-width of their 16-84 percentile range (image units: the width of the pixel distribution, which noise
    and the confusion of faint sources set and a few bright sources hardly move, the statistic P(D) analyses start
    from), and its thermal noise ``tile_noise`` (Jy/beam, from the noise map; NaN when not given)."""
    flat = images.reshape(images.shape[0], -1)
    out = np.empty((flat.shape[0], len(AUX_NAMES)))
    out[:, 3] = np.nan if tile_noise is None else np.asarray(tile_noise, dtype=np.float64)
    # AUX_BLOCK tiles at a time: each row's statistics are its own, and the float64 copies (three of them, with the
    # percentiles' partition and the squares) are then a block's, not the tiles' (0.75 GiB for 2048 of 128^2)
    for start in range(0, flat.shape[0], AUX_BLOCK):
        x = flat[start:start + AUX_BLOCK].astype(np.float64)
        lo, hi = np.percentile(x, [15.865, 84.135], axis=1)
        out[start:start + AUX_BLOCK, :3] = np.stack([x.sum(axis=1), np.sqrt((x * x).mean(axis=1)), 0.5 * (hi - lo)],
                                                    axis=1)
    return out


def statistics(ds: Dataset, max_tiles: int = 2048) -> Statistics:
    """Statistics of up to ``max_tiles`` training tiles, evenly spaced over the split (read shard by shard)."""
    counts = ds.tiles_per_shard("train")
    total = sum(counts.values())
    if total == 0:
        check_split(ds, "train")
    step = max(1, int(np.ceil(total / max_tiles)))
    images, labels, noises, seen = [], [], [], 0
    for path in sorted(counts, key=str):
        d = load(ds, "train", shards=[path], datasets=("images", "labels", "tile_noise"))
        keep = np.arange((-seen) % step, d["images"].shape[0], step)
        images.append(d["images"][keep])
        labels.append(d["labels"][keep])
        noises.append(d["tile_noise"][keep])
        seen += d["images"].shape[0]
    images = np.concatenate(images)
    labels = np.concatenate(labels).astype(np.float64)
    pixels = images.astype(np.float64).ravel()
    median = np.median(pixels)
    noise = 1.4826 * np.median(np.abs(pixels - median))
    std = float(pixels.std())
    if not noise > 0:          # sky-model tiles can be mostly empty: fall back to the standard deviation
        noise = std if std > 0 else 1.0
    aux = aux_features(images, np.concatenate(noises))
    aux_std = aux.std(axis=0)
    return Statistics(pixel_mean=float(pixels.mean()), pixel_std=std if std > 0 else 1.0, noise=float(noise),
                      aux_mean=aux.mean(axis=0).tolist(), aux_std=np.where(aux_std > 0, aux_std, 1.0).tolist(),
                      label_mean=labels.mean(axis=0).tolist(),
                      label_std=np.where(labels.std(axis=0) > 0, labels.std(axis=0), 1.0).tolist(),
                      n_tiles=int(images.shape[0]))


def preprocess(images: np.ndarray, stats: Statistics, method: str, asinh_scale: float = 3.0) -> np.ndarray:
    """(N, T, T) image tiles -> (N, T, T, 1) float32 network input."""
    x = np.asarray(images, dtype=np.float32)
    if method == "standardise":
        x = (x - np.float32(stats.pixel_mean)) / np.float32(stats.pixel_std)
    elif method == "asinh":
        x = np.arcsinh(x / np.float32(asinh_scale * stats.noise))
    elif method != "none":
        raise ValueError(f"unknown preprocessing {method!r}")
    return x[..., None]


def aux_inputs(images: np.ndarray, stats: Statistics, names, tile_noise: np.ndarray | None = None) \
        -> np.ndarray | None:
    """(N, len(names)) float32 standardised auxiliary inputs, or None when none are asked for. ``tile_noise``
    (Jy/beam per tile) is needed for the ``noise`` input."""
    if not names:
        return None
    if "noise" in names and tile_noise is None:
        raise DataError("the run reads each tile's thermal noise (data.aux_inputs has 'noise'): give the image's "
                        "noise map (radsim writes noise.fits beside restored.fits)")
    idx = [AUX_NAMES.index(n) for n in names]
    n = len(stats.aux_mean)            # runs trained before the noise input kept statistics of 3 features
    a = (aux_features(images, tile_noise)[:, :n] - np.asarray(stats.aux_mean)) / np.asarray(stats.aux_std)
    return a[:, idx].astype(np.float32)


def encode(counts: np.ndarray, stats: Statistics, target: str) -> np.ndarray:
    """Label counts per bin -> training target (float32)."""
    c = np.asarray(counts, dtype=np.float64)
    if target == "log1p":
        y = np.log10(1.0 + c)
    elif target == "counts":
        y = c
    elif target == "standardised":
        y = (c - np.asarray(stats.label_mean)) / np.asarray(stats.label_std)
    else:
        raise ValueError(f"unknown target {target!r}")
    return y.astype(np.float32)


def decode(y: np.ndarray, stats: Statistics, target: str) -> np.ndarray:
    """Training target -> counts per bin (float64); the inverse of :func:`encode`, monotonic in each bin."""
    y = np.asarray(y, dtype=np.float64)
    if target == "log1p":
        return np.power(10.0, y) - 1.0
    if target == "counts":
        return y
    if target == "standardised":
        return y * np.asarray(stats.label_std) + np.asarray(stats.label_mean)
    raise ValueError(f"unknown target {target!r}")


# --------------------------------------------------------------------------------------------------------------
# tf.data

def dihedral(image, code):
    """One of the 8 symmetries of a square applied to an (T, T, C) tensor: rotation by 90 deg x (code % 4),
    then a left-right flip when code >= 4."""
    import tensorflow as tf
    image = tf.image.rot90(image, k=tf.cast(code % 4, tf.int32))
    return tf.cond(code >= 4, lambda: tf.image.flip_left_right(image), lambda: image)


def make_dataset(x: np.ndarray, y: np.ndarray, aux: np.ndarray | None = None, *, batch_size: int,
                 shuffle: bool = False, shuffle_buffer: int = 4096, augment: bool = False, seed: int = 0,
                 repeat: bool = False, drop_remainder: bool = False, threads: int | None = None):
    """A tf.data.Dataset of (inputs, targets) batches; inputs are the image tensor, or a dict with ``image`` and
    ``aux`` when auxiliary inputs are given. Shuffling and augmentation draw from ``seed``. ``threads`` caps the
    pipeline's own thread pool (on CPU nodes, so that ranks sharing a node do not compete for its cores)."""
    import tensorflow as tf
    inputs = x if aux is None else {"image": x, "aux": aux}
    ds = tf.data.Dataset.from_tensor_slices((inputs, y))
    if shuffle:
        ds = ds.shuffle(min(shuffle_buffer, len(x)), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if augment:
        codes = tf.data.Dataset.random(seed=seed + 1).map(lambda r: tf.math.floormod(r, 8))

        def apply(element, code):
            inp, target = element
            if isinstance(inp, dict):
                return {"image": dihedral(inp["image"], code), "aux": inp["aux"]}, target
            return dihedral(inp, code), target

        ds = tf.data.Dataset.zip((ds, codes)).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
        ds = ds.with_options(options)
    return ds
