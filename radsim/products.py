"""Files of one realisation: catalogue.fits, sky.fits, tiles.h5.

Every file appears under its final name only when complete: it is written to a temporary name in the same
directory, flushed and fsync'ed, then renamed.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from radsim import __version__
from radsim.catalogue import Catalogue

FITS_BLOCK = 2880


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to ``path``; on success fsync it and rename it to ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------------------------------------------
# catalogue.fits, streamed

CATALOGUE_COLUMNS = [  # name, FITS format, unit, numpy big-endian dtype
    ("ra_deg", "D", "deg", ">f8"), ("dec_deg", "D", "deg", ">f8"), ("flux_jy", "D", "Jy", ">f8"),
    ("cls", "B", "", "u1"), ("major_arcsec", "E", "arcsec", ">f4"), ("minor_arcsec", "E", "arcsec", ">f4"),
    ("pa_deg", "E", "deg", ">f4"), ("lobe_sep_arcsec", "E", "arcsec", ">f4"), ("spectral_index", "E", "", ">f4"),
]


class CatalogueFitsWriter:
    """Writes a FITS binary table whose number of rows is known in advance, chunk by chunk, in constant
    memory. Use as a pipeline sink: ``begin(n_rows)``, ``write(chunk)`` ..., then ``close()``."""

    def __init__(self, path, grid, frequency_hz: float, extra_header: dict | None = None):
        self.path = Path(path)
        self.grid = grid
        self.frequency_hz = frequency_hz
        self.extra = extra_header or {}
        self._ctx = None
        self._fh = None
        self.n_rows = self.written = 0

    def begin(self, n_rows: int) -> None:
        from astropy.io import fits
        self.n_rows = int(n_rows)
        cols = [fits.Column(name=n, format=f, unit=u or None, array=np.zeros(0, dtype=d))
                for n, f, u, d in CATALOGUE_COLUMNS]
        hdu = fits.BinTableHDU.from_columns(cols, name="CATALOGUE")
        h = hdu.header
        h["NAXIS2"] = self.n_rows
        h["RA0_DEG"] = (self.grid.centre_ra_deg, "field centre RA (deg)")
        h["DEC0_DEG"] = (self.grid.centre_dec_deg, "field centre Dec (deg)")
        h["FREQ_HZ"] = (self.frequency_hz, "frequency of flux_jy (Hz)")
        h["CLASSES"] = ("0 SFG, 1 flat-spectrum AGN, 2 steep-spectrum AGN", "meaning of cls")
        h["ORIGIN"] = f"radsim {__version__}"
        for k, v in self.extra.items():
            h[k] = v
        primary = fits.PrimaryHDU().header
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        self._fh = open(tmp, "wb")
        self._fh.write(primary.tostring().encode("ascii"))
        self._fh.write(h.tostring().encode("ascii"))

    def write(self, chunk: Catalogue) -> None:
        rows = np.empty(len(chunk), dtype=[(n, d) for n, _, _, d in CATALOGUE_COLUMNS])
        ra, dec = self.grid.lm_to_radec(chunk.l, chunk.m)
        rows["ra_deg"], rows["dec_deg"] = ra, dec
        for name in ("flux_jy", "cls", "major_arcsec", "minor_arcsec", "pa_deg", "lobe_sep_arcsec", "spectral_index"):
            rows[name] = getattr(chunk, name)
        self._fh.write(rows.tobytes())
        self.written += len(chunk)

    def close(self, ok: bool = True) -> None:
        if self._fh is None:
            return
        try:
            if ok and self.written != self.n_rows:
                raise RuntimeError(f"{self.path}: wrote {self.written} rows of the {self.n_rows} announced")
            pad = -self._fh.tell() % FITS_BLOCK
            self._fh.write(b"\0" * pad)
            self._fh.flush()
            self._fh.close()
            self._fh = None
            if ok:
                self._ctx.__exit__(None, None, None)
            else:
                raise RuntimeError("catalogue not completed")
        except BaseException as exc:
            if self._fh is not None:
                self._fh.close()
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            if ok:
                raise


def read_catalogue_fits(path, grid) -> Catalogue:
    """Read a catalogue.fits written by :class:`CatalogueFitsWriter` (positions back to (l, m) on ``grid``)."""
    from astropy.io import fits
    with fits.open(path, memmap=True) as hdul:
        d = hdul["CATALOGUE"].data
        l, m = grid.radec_to_lm(np.asarray(d["ra_deg"], float), np.asarray(d["dec_deg"], float))
        return Catalogue(l, m, d["flux_jy"], d["cls"], d["major_arcsec"], d["minor_arcsec"], d["pa_deg"],
                         d["lobe_sep_arcsec"], d["spectral_index"])


# --------------------------------------------------------------------------------------------------------------
# images and tiles

def write_image_fits(path, image: np.ndarray, header, extra: dict | None = None) -> None:
    """A 2-d image as the 4-d (1, 1, ny, nx) cube its header describes."""
    from astropy.io import fits
    h = header.copy()
    for k, v in (extra or {}).items():
        h[k] = v
    h["ORIGIN"] = f"radsim {__version__}"
    with atomic_path(path) as tmp:
        fits.PrimaryHDU(np.asarray(image, dtype=np.float32)[None, None], header=h).writeto(tmp)


def write_tiles_h5(path, result, attrs: dict) -> None:
    """tiles.h5 of one realisation: datasets images, labels, expected, realisation, tile_origin
    (one tile per chunk, Fletcher32 checksums) and attributes (bin edges, units, ...)."""
    import h5py
    n, t, _ = result.tiles.shape
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("images", data=result.tiles, chunks=(1, t, t), fletcher32=True)
            f.create_dataset("labels", data=result.labels, fletcher32=True)
            f.create_dataset("expected", data=result.expected.astype(np.float32), fletcher32=True)
            f.create_dataset("realisation", data=np.full(n, result.realisation.index, dtype=np.int64))
            f.create_dataset("tile_origin", data=result.tile_origin)
            f["images"].attrs["units"] = "Jy/beam" if result.imaged.beam is not None else "Jy/pixel"
            f["labels"].attrs["units"] = "number of sources per flux bin (by source centre)"
            f["expected"].attrs["units"] = "expected number of sources per flux bin (counts model)"
            f.attrs["bin_edges_jy"] = result.bin_edges_jy
            f.attrs["modifier"] = json.dumps({"name": result.realisation.modifier_name, **result.modifier_params})
            for k, v in attrs.items():
                f.attrs[k] = v
