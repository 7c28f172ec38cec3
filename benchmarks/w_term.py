#!/usr/bin/env python
"""Benchmark: one convolution of the fast imager's w-term facets (``imaging.w_nodes``), on one core.

Times :class:`radsim.instrument.imaging.fast.FacetedPsfConvolver` on an n x n window with k x k node PSFs
(random kernels of the right shape: the cost does not depend on their values) against the plain sum it stands
for, each facet's pixels convolved in full with its node's PSF (:class:`PsfConvolver`), and prints both times,
the ratio, the largest difference of the two images relative to their peak and the flat-sky convolution's time.
A CLEAN major cycle costs one such convolution; a sky's dirty image one more.

    .venv/bin/python benchmarks/w_term.py [--npix 1024] [--nodes 5] [--repeats 3]
"""
from common import best_of, pin_one_core  # first: sets one thread before numpy is imported

import argparse
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--npix", type=int, default=1024, help="window size (pixels); 1024: the transfer pointings")
    p.add_argument("--nodes", type=int, default=5, help="nodes per axis (imaging.w_nodes)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    pin_one_core()
    from radsim.instrument.imaging.fast import FacetedPsfConvolver, PsfConvolver, facet_weights
    n, k = args.npix, args.nodes
    rng = np.random.default_rng(1)
    kernels = (1e-3 * rng.normal(size=(k, k, 2 * n, 2 * n))).astype(np.float32)
    kernels[:, :, n, n] = 1.0
    # a CLEAN model: sparse components
    image = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.01)
    t = time.perf_counter()
    faceted = FacetedPsfConvolver(kernels, n)
    setup = time.perf_counter() - t
    plain = [[PsfConvolver(kernels[a, b], n) for b in range(k)] for a in range(k)]
    masks = facet_weights(n, k)

    def reference():
        out = np.zeros((n, n))
        for a in range(k):
            for b in range(k):
                out += plain[a][b](image * masks[a][:, None] * masks[b][None, :])
        return out

    t_faceted = best_of(lambda: faceted(image), args.repeats)
    t_reference = best_of(reference, args.repeats)
    t_flat = best_of(lambda: plain[0][0](image), args.repeats)
    diff = np.abs(faceted(image) - reference()).max() / np.abs(reference()).max()
    print(f"# {n}^2 window, {k} x {k} nodes, one core, best of {args.repeats}")
    print("| convolution | time (s) |")
    print("|---|---:|")
    print(f"| faceted (FacetedPsfConvolver) | {t_faceted:.3f} |")
    print(f"| each facet in full, summed | {t_reference:.3f} |")
    print(f"| flat sky, one PSF | {t_flat:.3f} |")
    print(f"\nfaceted / summed: {t_faceted / t_reference:.2f} ({t_reference / t_faceted:.1f}x faster); "
          f"faceted / flat: {t_faceted / t_flat:.1f}; largest difference {diff:.1e} of the peak; "
          f"set-up (k^2 kernel transforms) {setup:.2f} s")


if __name__ == "__main__":
    main()
