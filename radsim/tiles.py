"""Tiles of an image and their labels: numbers of sources per label flux bin.

Tiles are square, non-overlapping, ``size`` pixels a side, laid from pixel (0, 0); when npix is not a multiple
of the size, the last incomplete row and column of pixels are left out. Tile t = ty * n_side + tx has its
origin (first row, first column) at ``(ty * size, tx * size)`` in ``image[y, x]``.

A source belongs to the tile that holds its centre (a double-lobed AGN is counted once, at its centre).
Label bin j holds fluxes edges[j] <= S < edges[j+1] (Jy at the observing frequency).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tiling:
    npix: int
    size: int

    @property
    def n_side(self) -> int:
        return self.npix // self.size

    @property
    def n_tiles(self) -> int:
        return self.n_side ** 2

    @property
    def covered_npix(self) -> int:
        return self.n_side * self.size

    def origins(self) -> np.ndarray:
        """(n_tiles, 2) int32 origins (row y, column x)."""
        ty, tx = np.divmod(np.arange(self.n_tiles), self.n_side)
        return np.stack([ty * self.size, tx * self.size], axis=1).astype(np.int32)

    def cut(self, image: np.ndarray) -> np.ndarray:
        """(n_tiles, size, size) tiles of ``image[y, x]``, in tile order."""
        if image.shape != (self.npix, self.npix):
            raise ValueError(f"image shape {image.shape} does not match the tiling ({self.npix}, {self.npix})")
        n, s = self.n_side, self.size
        return np.ascontiguousarray(image[:n * s, :n * s].reshape(n, s, n, s).transpose(0, 2, 1, 3)
                                    .reshape(n * n, s, s))

    def tile_of(self, x, y) -> np.ndarray:
        """Tile index of pixel positions (x, y) (0-based, centres at integers); -1 outside the tiled area."""
        tx = np.floor((np.asarray(x) + 0.5) / self.size).astype(np.int64)
        ty = np.floor((np.asarray(y) + 0.5) / self.size).astype(np.int64)
        ok = (tx >= 0) & (tx < self.n_side) & (ty >= 0) & (ty < self.n_side)
        return np.where(ok, ty * self.n_side + tx, -1)

    def boxes(self) -> np.ndarray:
        """Pixel-coordinate rectangles (x0, x1, y0, y1) of every tile (pixel edges)."""
        o = self.origins().astype(float)
        return np.stack([o[:, 1] - 0.5, o[:, 1] + self.size - 0.5, o[:, 0] - 0.5, o[:, 0] + self.size - 0.5], axis=1)


def label_counts(tiling: Tiling, x, y, flux_jy, edges_jy) -> np.ndarray:
    """Numbers of sources per tile and label bin, shape (n_tiles, n_bins), float64."""
    n_bins = len(edges_jy) - 1
    tile = tiling.tile_of(x, y)
    b = np.searchsorted(edges_jy, flux_jy, side="right") - 1
    ok = (tile >= 0) & (b >= 0) & (b < n_bins)
    flat = np.bincount(tile[ok] * n_bins + b[ok], minlength=tiling.n_tiles * n_bins)
    return flat.reshape(tiling.n_tiles, n_bins).astype(np.float64)


def expected_counts(model, grid, tiling: Tiling, edges_jy) -> np.ndarray:
    """Expected numbers of sources per tile and label bin from the counts model: the model integral over each
    bin times each tile's solid angle. Shape (n_tiles, n_bins)."""
    per_sr = model.integrate(edges_jy).sum(axis=0)
    return grid.solid_angles_sr(tiling.boxes())[:, None] * per_sr[None, :]
