#!/usr/bin/env python
"""Benchmark: the count model's likelihood (radtrain calibrate --likelihood) on one core: the time to fit it to m
calibration skies (polynomials, principal components and the m leave-one-out scores on the 12000-point grid) and to
read images with it, and its size in calibration.json; and the fit with ``--imaged`` of the m skies imaged again by
another imager (radtrain calibrate --imager-dataset: their leave-one-out scores instead of the m skies').

Skies are of the seed law on a power law, 10 bins from 0.1 to 10 uJy, (S0, alpha) drawn from the pointings' wider
prior, read by a stand-in network that flattens the count shape (tests/test_likelihood.py's model): the cost does
not depend on what the network reads.

And the time per random split of ``radtrain.likelihood.split_coverage`` (the fit with ``--imaged`` skies imaged
again, refitted on the largest ``--skies``, reading ``--more`` more skies):

    .venv/bin/python benchmarks/likelihood.py [--skies 24 48 96 192] [--images 1000] [--imaged 24] [--more 72]
"""
from common import pin_one_core  # first: sets one thread before numpy is imported

import argparse
import json
import time

import numpy as np

from radtrain import likelihood

CENTRES = np.geomspace(1.26e-7, 7.9e-6, 10)


def skies(rng, n):
    s0 = 10 ** rng.uniform(np.log10(3.5e-6), np.log10(7e-5), n)
    alpha = rng.uniform(-0.7, 0.4, n)
    v = np.log(2000.0 * (CENTRES / 1e-7) ** -0.6 * (1.0 + s0[:, None] / CENTRES) ** alpha[:, None])
    flat = v[:, -1:] + 0.6 * np.log(CENTRES[-1] / CENTRES)
    u = 0.5 * v + 0.5 * flat + rng.normal(0.0, 0.05, (n, 1)) + rng.normal(0.0, 0.02, v.shape)
    return np.stack([alpha, s0], axis=1), 64 * np.exp(u), 64 * np.exp(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skies", type=int, nargs="+", default=[24, 48, 96, 192])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--imaged", type=int, default=24, help="skies imaged again by another imager")
    ap.add_argument("--more", type=int, default=72, help="test skies pooled with them in split_coverage")
    ap.add_argument("--splits", type=int, default=5, help="random splits timed")
    args = ap.parse_args()
    pin_one_core()
    rng = np.random.default_rng(1)
    _, images, _ = skies(rng, args.images)
    print(f"{'skies':>6} {'degree':>6} {'fit (s)':>8} {'read (ms/image)':>16} {'JSON (kB)':>10} "
          f"{f'fit, {args.imaged} imaged again (s)':>28}")
    for m in args.skies:
        params, pred, true = skies(rng, m)
        t0 = time.perf_counter()
        model = likelihood.fit(params, ["alpha", "s0_jy"], pred, true, np.full(m, 64), model_name="seed")
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        likelihood.estimate(images, 64, model)
        read_ms = (time.perf_counter() - t0) / args.images * 1e3
        size = len(json.dumps(model)) / 1e3
        imaged = min(args.imaged, m)
        again = {"index": np.arange(imaged), "pred": pred[:imaged] * np.exp(rng.normal(0.03, 0.01, (imaged, 1))),
                 "n_tiles": np.full(imaged, 64)}
        t0 = time.perf_counter()
        likelihood.fit(params, ["alpha", "s0_jy"], pred, true, np.full(m, 64), model_name="seed", imager=again)
        again_s = time.perf_counter() - t0
        print(f"{m:6d} {model['degree']:6d} {fit_s:8.2f} {read_ms:16.2f} {size:10.1f} {again_s:28.2f}")
    model = likelihood.fit(params, ["alpha", "s0_jy"], pred, true, np.full(m, 64), model_name="seed", imager=again)
    p, mp, mt = skies(rng, args.more)
    more = {"params": p, "pred": mp, "true": mt, "n_tiles": np.full(args.more, 64),
            "imager_pred": mp * np.exp(rng.normal(0.03, 0.01, (args.more, 1))),
            "imager_n_tiles": np.full(args.more, 64)}
    t0 = time.perf_counter()
    likelihood.split_coverage(model, more, splits=args.splits)
    split_s = (time.perf_counter() - t0) / (args.splits + 1)
    print(f"split_coverage: {split_s:.2f} s per split ({m} skies, {imaged} imaged again, {args.more} more)")


if __name__ == "__main__":
    main()
