"""``radtrain predict``: N(S) of any FITS image, with a trained run.

The image is checked against the training set (pixel scale, frequency, restoring beam, brightness units: a
network only reads images like those it learned from), cut into non-overlapping tiles on the same grid as
radsim's (origin at pixel (0, 0); partial edge tiles and tiles with blanked pixels are skipped), each tile is
predicted, and the counts are summed over the tiles. A network trained on mosaics saw only tiles whose noise is
within the training set's ``tiles.sensitivity_factor`` of the mosaic's best: given the image's noise map, the
same cut is made here (the noisier tiles at a mosaic's edge are skipped and counted).

The calibrated counts (``counts_corrected``) and their 68% and 95% intervals come from the run's calibration on
held-out skies (``radtrain calibrate``, :mod:`radtrain.uncertainty`): the network's summed counts regressed on
the truth, and the scatter about that line. The tiles of one image share its N(S), so per-tile uncertainties
summed as independent would be far too narrow. Without a calibration no interval is given.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from radsim.dataset import atomic
from radtrain.evaluate import CALIBRATION, load_model, predict_tiles, read_calibration
from radtrain.uncertainty import EDGE, LEVELS, corrected, interval, range_position
from radtrain.train import TrainError

PIXEL_RTOL = 0.01
FREQUENCY_RTOL = 0.01
BEAM_RTOL = 0.10
#: how far an image's noise (its noise map's median over the tiles read) may be from the training skies' before
#: predict says so: the networks read counts far below the noise from the variance the sources add to it, and a
#: pointing network read the 1-10 uJy bins 0.8-2.4% higher per 0.1% more noise rms (radtrain compare,
#: docs/results-pointings.md)
NOISE_RTOL = 1e-3


class ImageError(TrainError):
    """An image the run cannot read (wrong scale, frequency, beam, units, or not an image)."""


def read_image(path) -> tuple[np.ndarray, dict]:
    """(2-D float32 image, properties: pixel_deg, frequency_hz, beam_arcsec (major, minor) or None, units)."""
    from astropy.io import fits
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        with fits.open(path) as hdul:
            hdu = next((h for h in hdul if h.data is not None and h.data.ndim >= 2), None)
            if hdu is None:
                raise ImageError(f"{path}: no image data in any HDU")
            image, header = np.asarray(hdu.data, dtype=np.float32), hdu.header
    except OSError as exc:
        raise ImageError(f"{path}: not a readable FITS file: {exc}") from None
    if image.ndim > 2:
        if any(n != 1 for n in image.shape[:-2]):
            raise ImageError(f"{path}: image of shape {image.shape}; expected one frequency and Stokes plane")
        image = image.reshape(image.shape[-2:])
    props = {"pixel_deg": None, "frequency_hz": None, "beam_arcsec": None,
             "units": str(header.get("BUNIT", "")).strip().upper() or None}
    if "CDELT2" in header:
        props["pixel_deg"] = abs(float(header["CDELT2"]))
    elif "CD2_2" in header:
        props["pixel_deg"] = abs(float(header["CD2_2"]))
    for axis in range(1, int(header.get("NAXIS", 0)) + 1):
        if str(header.get(f"CTYPE{axis}", "")).startswith("FREQ"):
            props["frequency_hz"] = float(header[f"CRVAL{axis}"])
    for key in ("RESTFRQ", "RESTFREQ", "FREQ"):
        if props["frequency_hz"] is None and key in header:
            props["frequency_hz"] = float(header[key])
    if "BMAJ" in header and "BMIN" in header:
        props["beam_arcsec"] = [float(header["BMAJ"]) * 3600.0, float(header["BMIN"]) * 3600.0]
    return image, props


def check_image(props: dict, trained: dict) -> list[str]:
    """Differences between an image's properties and the training set's, as sentences (empty: compatible)."""
    problems = []

    def differs(a, b, rtol):
        return not np.isclose(a, b, rtol=rtol, atol=0.0)

    if props["pixel_deg"] is None:
        problems.append("the image has no pixel scale (CDELT2)")
    elif differs(props["pixel_deg"], trained["pixel_deg"], PIXEL_RTOL):
        problems.append(f"pixel scale {props['pixel_deg'] * 3600:.4g} arcsec, trained on "
                        f"{trained['pixel_deg'] * 3600:.4g} arcsec")
    if props["frequency_hz"] is None:
        problems.append("the image states no frequency (FREQ axis or RESTFRQ)")
    elif differs(props["frequency_hz"], trained["frequency_hz"], FREQUENCY_RTOL):
        problems.append(f"frequency {props['frequency_hz'] / 1e6:.6g} MHz, trained on "
                        f"{trained['frequency_hz'] / 1e6:.6g} MHz")
    beam = trained.get("beam_arcsec")
    if beam:
        if props["beam_arcsec"] is None:
            problems.append("the image states no restoring beam (BMAJ, BMIN)")
        elif differs(props["beam_arcsec"][0], beam[0], BEAM_RTOL) or differs(props["beam_arcsec"][1], beam[1],
                                                                              BEAM_RTOL):
            problems.append(f"beam {props['beam_arcsec'][0]:.3g} x {props['beam_arcsec'][1]:.3g} arcsec, trained "
                            f"on {beam[0]:.3g} x {beam[1]:.3g} arcsec")
    if props["units"] and trained.get("image_units") and props["units"] != trained["image_units"].upper():
        problems.append(f"brightness units {props['units']}, trained on {trained['image_units']}")
    return problems


def cut_tiles(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(tiles (N, size, size), origins (N, 2) as (row, column), number skipped for blanked pixels)."""
    ny, nx = image.shape[0] // size, image.shape[1] // size
    tiles = image[:ny * size, :nx * size].reshape(ny, size, nx, size).swapaxes(1, 2).reshape(-1, size, size)
    origins = np.stack(np.divmod(np.arange(ny * nx), nx), axis=1) * size
    good = np.isfinite(tiles).all(axis=(1, 2))
    return tiles[good], origins[good].astype(np.int32), int((~good).sum())


def tile_noise(noise_map_path, shape: tuple, origins: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The thermal noise of a noise map (a FITS image of the same grid as the image, e.g. radsim's noise.fits;
    Jy/beam) over each tile: (median, as radsim's datasets hold it; worst; the map's best)."""
    noise, _ = read_image(noise_map_path)
    if noise.shape != tuple(shape):
        raise ImageError(f"{noise_map_path}: a noise map of {noise.shape[1]}x{noise.shape[0]} pixels for an image "
                         f"of {shape[1]}x{shape[0]}; it must be on the image's pixel grid")
    boxes = [noise[r:r + size, c:c + size] for r, c in origins]
    return (np.array([np.nanmedian(b) for b in boxes], dtype=np.float32),
            np.array([np.nanmax(b) for b in boxes], dtype=np.float32), float(np.nanmin(noise)))


def predict(run_dir, image_path, out, force: bool = False, noise_map=None) -> dict:
    """Predict N(S) of a FITS image (``noise_map``: its noise map, needed by runs that read the tile noise);
    writes ``prediction.json`` and ``prediction.png`` to ``out``."""
    run_dir = Path(run_dir)
    image, props = read_image(image_path)
    from radtrain.train import read_run
    run = read_run(run_dir)
    trained = run["dataset"]
    problems = check_image(props, trained)
    if problems and not force:
        raise ImageError(f"{image_path} is not like the images {run_dir} was trained on: " + "; ".join(problems)
                         + ". Regrid/restore it to match, or pass --force to predict anyway")
    size = int(trained["tile_size"])
    tiles, origins, blanked = cut_tiles(image, size)
    if tiles.shape[0] == 0:
        raise ImageError(f"{image_path}: no complete {size}x{size} tile without blanked pixels in a "
                         f"{image.shape[1]}x{image.shape[0]} image")
    run, cfg, stats, model = load_model(run_dir, run)     # the training dataset itself is not needed
    noise, noisy, factor = None, 0, trained.get("sensitivity_factor")
    if noise_map is not None:
        noise, worst, best = tile_noise(noise_map, image.shape, origins, size)
        if factor:                                  # radsim.tiles.select: the tiles the training set held
            keep = worst <= factor * best
            noisy = int((~keep).sum())
            if not keep.any():
                raise ImageError(f"{image_path}: no tile has a noise within {factor:g}x the map's best "
                                 f"({best * 1e6:.3g} uJy/beam), the tiles {run_dir} was trained on")
            tiles, origins, noise = tiles[keep], origins[keep], noise[keep]
    elif "noise" in cfg.data.aux_inputs:
        raise ImageError(f"{run_dir} reads each tile's thermal noise: give the image's noise map with --noise-map "
                         f"(radsim writes noise.fits beside restored.fits)")
    pred = predict_tiles(model, cfg, stats, tiles, noise)
    counts = pred["counts"].sum(axis=0)
    noise_level = float(np.median(noise)) if noise is not None else None
    n = tiles.shape[0]
    intervals = {}
    if (run_dir / CALIBRATION).is_file():
        calib = read_calibration(run_dir)
        for level in LEVELS:
            lo, hi = interval(counts, n, calib, level)
            intervals[f"interval_{round(level * 100)}"] = [lo.tolist(), hi.tolist()]
        intervals["counts_corrected"] = corrected(counts, n, calib).tolist()
        lo, hi = intervals["interval_68"]
        intervals["sigma"] = ((np.asarray(hi) - np.asarray(lo)) / 2).tolist()
        intervals["calibration"] = {"file": calib["file"], "n_skies": calib["n_skies"],
                                    "n_tiles_median": calib["n_tiles_median"],
                                    "intervals": "likelihood" if calib.get("likelihood") else
                                    "conformal" if calib.get("conformal") else "normal"}
        if calib.get("likelihood"):             # the count model's parameters that fit the image
            from radtrain import likelihood
            fit = likelihood.estimate(counts, n, calib["likelihood"])
            names = calib["likelihood"]["parameters"]
            intervals["count_model_fit"] = {
                "count_model": calib["likelihood"]["count_model"], "mean": dict(zip(names, fit["params"].tolist())),
                "chi2": float(fit["chi2"]), "chi2_limit": calib["likelihood"]["chi2_limit"], "fits": bool(fit["fits"]),
                **{f"range_{round(level * 100)}": {p: [lo, hi] for p, lo, hi in zip(
                    names, fit["params_lo"][j].tolist(), fit["params_hi"][j].tolist())}
                   for j, level in enumerate(calib["likelihood"]["levels"])},
                # calibrated for another imager's images (calibrate --imager-dataset): the skies imaged by it
                "imager_skies": calib["likelihood"].get("imager_skies", 0),
                "imager_term": calib["likelihood"].get("imager_term"),
                "imager_datasets": [src["dataset"] for src in calib["likelihood"].get("imager_sources", ())]}
        intervals["calibration_range"] = range_position(counts, n, calib).tolist()
    edges = np.asarray(trained["bin_edges_jy"])
    pixel_deg = props["pixel_deg"] or trained["pixel_deg"]
    result = {
        "image": str(Path(image_path).resolve()), "image_name": Path(image_path).name, "run": str(run_dir.resolve()),
        "forced": bool(problems), "problems": problems, "n_tiles": n, "tiles_blanked": blanked,
        "tiles_noisy": noisy, "sensitivity_factor": factor if noise_map is not None else None,
        "noise_rms_jy": noise_level, "trained_noise_rms_jy": trained.get("noise_rms_jy"),
        "area_deg2": n * (size * pixel_deg) ** 2, "bin_edges_jy": edges.tolist(),
        "bin_centres_jy": np.sqrt(edges[:-1] * edges[1:]).tolist(),
        "detection_threshold_jy": trained.get("detection_threshold_jy"), "counts": counts.tolist(),
        "sigma": None, **intervals,
        "tiles": {"origin": origins.tolist(), "counts": pred["counts"].tolist()},
    }
    notes = []
    if not intervals:
        notes.append("no interval: calibrate the run on held-out skies first "
                     "(`radtrain calibrate RUN --dataset CALIBRATION_SKIES`)")
    at_edge = [i for i, x in enumerate(intervals.get("calibration_range", [])) if x < EDGE]
    if at_edge:
        notes.append("at the edge of the calibration: in the bins "
                     + ", ".join(f"{edges[i]:.3g}-{edges[i + 1]:.3g} Jy" for i in at_edge)
                     + f" this image's network counts lie in the outer {EDGE:g} of the calibration skies' range "
                     "(marked *) or beyond it (!), where the intervals are too narrow (on pointings the 68% ones "
                     "covered 14-61% of such bins, docs/results-pointings.md); calibrate on skies that span more")
    fit = intervals.get("count_model_fit")
    if fit and not fit["fits"]:
        notes.append(f"the count model {fit['count_model']!r} does not fit this image (chi^2 {fit['chi2']:.3g} "
                     f"above the worst calibration sky's {fit['chi2_limit']:.3g}): its counts and intervals are the "
                     "calibration line's; the image's counts are of no shape of the model within the calibration "
                     "skies' range")
    off = noise_level / trained["noise_rms_jy"] - 1.0 if noise_level and trained.get("noise_rms_jy") else 0.0
    if abs(off) > NOISE_RTOL:
        notes.append(f"the image's noise, {noise_level * 1e6:.4g} uJy/beam (its noise map's median over the tiles "
                     f"read), is {100 * off:+.2f}% from the training skies' {trained['noise_rms_jy'] * 1e6:.4g}: the "
                     "network reads counts far below the noise from the variance the sources add to it (a pointing "
                     "network read the 1-10 uJy bins 0.8-2.4% higher per 0.1% more noise rms, "
                     "docs/results-pointings.md); simulate skies at this image's noise, or check how far yours moves "
                     "with radtrain compare")
    if factor and noise_map is None:
        notes.append(f"no --noise-map: every tile was read, but the network learned only from tiles whose noise "
                     f"is within {factor:g}x the mosaic's best; give the noise map to skip the noisier ones")
    if notes:
        result["note"] = "\n".join(notes)
    out = Path(out)
    from radtrain import plots
    try:
        out.mkdir(parents=True, exist_ok=True)
        result["plot"] = str(plots.prediction(result, out / "prediction.png"))
        atomic.write_json(out / "prediction.json", result)
    except OSError as exc:
        raise ImageError(f"cannot write {out}: {exc.strerror or exc}; choose a writable directory with --out") \
            from None
    result["out"] = str(out)
    return result


def format_result(r: dict) -> str:
    lines = [f"{r['image_name']}: {r['n_tiles']} tiles ({r['area_deg2']:.3g} deg^2"
             + (f", {r['tiles_blanked']} blanked tiles skipped" if r["tiles_blanked"] else "")
             + (f", {r['tiles_noisy']} tiles noisier than {r['sensitivity_factor']:g}x the best skipped"
                if r.get("tiles_noisy") else "") + ")"]
    if r["forced"]:
        lines.append("WARNING (--force): " + "; ".join(r["problems"]))
    e = r["bin_edges_jy"]
    if "interval_68" in r:
        lines.append(f"  {'bin':>21}  {'network':>12}  {'calibrated':>12}  {'68% interval':>21}  "
                     f"{'95% interval':>21}")
    for i, c in enumerate(r["counts"]):
        line = f"  {e[i]:9.3g}-{e[i + 1]:<9.3g} Jy  {c:12.1f}"
        if "interval_68" in r:
            line += f"  {r['counts_corrected'][i]:12.1f}" + "".join(
                f"  {r[k][0][i]:10.1f}-{r[k][1][i]:<10.1f}" for k in ("interval_68", "interval_95"))
            position = r.get("calibration_range")
            if position is not None and position[i] < EDGE:
                line += "  !" if position[i] < 0 else "  *"
        lines.append(line)
    fit = r.get("count_model_fit")
    if fit and fit["fits"]:
        lines.append(f"count model {fit['count_model']!r}, posterior mean: " + ", ".join(
            f"{p} = {v:.3g} (68%: {fit['range_68'][p][0]:.3g} to {fit['range_68'][p][1]:.3g})"
            for p, v in fit["mean"].items()))
    if r.get("note"):
        lines.append(r["note"])
    lines.append(f"wrote {r['out']}/prediction.json and {Path(r['plot']).name}")
    return "\n".join(lines)
