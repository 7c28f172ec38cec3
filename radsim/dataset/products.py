"""Files of one realisation (`radsim realise`): catalogue.fits, sky.fits, restored/residual/psf.fits, tiles.h5.

Every file appears under its final name only when complete: it is written to a temporary name in the same
directory, flushed and fsync'ed, then renamed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from radsim import __version__
from radsim.dataset.atomic import atomic_path
from radsim.errors import RadsimError
from radsim.sky.catalogue import Catalogue
from radsim.sky.grid import write_image_fits

FITS_BLOCK = 2880


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



def write_tiles_h5(path, result, attrs: dict) -> None:
    """tiles.h5 of one realisation: datasets images, labels, expected, realisation, tile_origin, tile_noise
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
            f.create_dataset("tile_noise", data=result.tile_noise)
            f["tile_noise"].attrs["units"] = "Jy/beam (thermal noise, median over the tile)"
            f["images"].attrs["units"] = "Jy/beam" if result.imaged.beam is not None else "Jy/pixel"
            f["labels"].attrs["units"] = "number of sources per flux bin (by source centre)"
            f["expected"].attrs["units"] = "expected number of sources per flux bin (counts model)"
            f.attrs["bin_edges_jy"] = result.bin_edges_jy
            f.attrs["modifier"] = json.dumps({"name": result.realisation.modifier_name, **result.modifier_params})
            for k, v in attrs.items():
                f.attrs[k] = v


# --------------------------------------------------------------------------------------------------------------
# one realisation's directory (`radsim realise`)

class ProductsError(RadsimError):
    """The products of a realisation cannot be written; the message names the file and the cause."""

    exit_status = 1


PRODUCT_NAMES = ("catalogue.fits", "sky.fits", "restored.fits", "residual.fits", "psf.fits", "noise.fits",
                 "tiles.h5", "preview.png")


def write_realisation(out, cfg, result, grid) -> list[str]:
    """Write sky.fits (Jy/pixel), restored.fits, residual.fits, psf.fits and noise.fits (Jy/beam, with the beam,
    when the backend has one; noise.fits, the mosaic's thermal noise map, when it makes a mosaic) and tiles.h5 of
    one realisation (a :class:`radsim.run.pipeline.RealisationResult`) into ``out``; returns the names written."""
    out = Path(out)
    f, bw = cfg.field.frequency_hz, cfg.field.bandwidth_hz
    meta = {"REALISN": result.realisation.index, "CFGHASH": cfg.hash()[:16]}
    written = []

    def image(name, data, bunit, extra):
        write_image_fits(out / name, data, grid.header(f, bw, **({} if bunit is None else {"bunit": bunit})), extra)
        written.append(name)

    try:
        image("sky.fits", result.sky, None, meta)
        im = result.imaged
        if im.beam is not None:
            beam_meta = {**meta, **im.beam.fits_keywords(), "BACKEND": im.backend, "NOISERMS": im.noise_rms_jy}
            image("restored.fits", im.restored, "JY/BEAM", beam_meta)
            if im.residual is not None:
                image("residual.fits", im.residual, "JY/BEAM", beam_meta)
            if im.psf is not None:
                image("psf.fits", im.psf, "", beam_meta)
            if im.noise_map is not None:
                image("noise.fits", im.noise_map, "JY/BEAM", {**beam_meta, "COMMENT": "thermal noise of the mosaic"})
        beam = [im.beam.bmaj_arcsec, im.beam.bmin_arcsec, im.beam.bpa_deg] if im.beam else [0.0, 0.0, 0.0]
        write_tiles_h5(out / "tiles.h5", result, {
            "imaging_backend": im.backend, "beam_major_arcsec": beam[0], "beam_minor_arcsec": beam[1],
            "beam_pa_deg": beam[2], "noise_rms_jy": im.noise_rms_jy,
            "image_units": im.units, "imaging_info": json.dumps(im.info, default=str),
            "config_hash": cfg.hash(), "config": json.dumps(cfg.model_dump(mode="json")),
            "realisation_index": result.realisation.index, "seed": cfg.run.seed, "pixel_deg": cfg.field.pixel_deg,
            "frequency_hz": f, "tile_size": cfg.tiles.size, "radsim_version": __version__})
        written.append("tiles.h5")
    except OSError as exc:
        raise ProductsError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None
    return written


def remove_stale(out, written: list[str]) -> list[str]:
    """Remove the products of an earlier realisation in ``out`` that this one did not write again (with
    --overwrite: a catalogue.fits or restored.fits beside new images would describe another sky)."""
    stale = [n for n in PRODUCT_NAMES if n not in written and (Path(out) / n).exists()]
    for name in stale:
        (Path(out) / name).unlink()
    return stale
