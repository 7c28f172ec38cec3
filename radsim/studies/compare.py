"""``radsim compare``: how the images of the same skies differ between two datasets.

Two datasets made from one config and seed but imaged differently (the fast imager against WSClean, one noise
model against another, CLEAN against none) hold the same skies with the same noise draws where the imagers share
them. Their tiles are paired sky by sky (on the realisation ids both hold, tile by tile on the tiles' origins)
and each sky's pixels give

- ``variance``: ``100 (var_B / var_A - 1)``, percent;
- ``faint_variance``: the same over the pixels within 5 robust widths of A's median (the same pixels in B), where
  the noise and the sources far below it are, not the bright sources' wings. The networks read the counts far
  below the noise from the variance the sources add to the noise's, so this is the figure to hold against what
  they can bear (docs/results-pointings.md: 0.1% more noise rms, 0.2% more of this, moves the top bin's reading
  by 0.8%);
- ``robust_width``: ``100 (w_B / w_A - 1)``, percent, ``w`` = 1.4826 x the median absolute deviation: the
  noise's width without the sources' tail;
- ``difference_rms``: the rms of ``B - A`` in percent of ``sigma``, A's thermal noise rms of that sky (Jy/beam;
  A's robust width where A has no noise);
- ``correlation``: Pearson's coefficient of A's and B's pixels;
- ``flux_scale``: ``100 (sum(A B) / sum(A^2) - 1)`` over the pixels where A exceeds 10 ``w_A`` (bright sources):
  B's flux scale against A's, percent (NaN for a sky without such pixels);

with the mean over skies and its standard error. Pairing takes the skies' own scatter out: a change of a few
hundredths of a percent in variance is resolved on a dozen skies.
"""
from __future__ import annotations

import numpy as np

from radsim.dataset.metrics import spread
from radsim.dataset.reader import Dataset
from radsim.errors import RadsimError

STATISTICS = {           # name: what it is, as the table prints it
    "variance": "variance, % change",
    "faint_variance": "variance within 5 widths of the median, % change",
    "robust_width": "robust width (1.4826 MAD), % change",
    "difference_rms": "rms of B - A, % of the noise rms",
    "correlation": "correlation of A and B",
    "flux_scale": "flux scale over A > 10 widths, % change",
}
BRIGHT_WIDTHS = 10.0     # a pixel is bright (a source's, for the flux scale) above this many robust widths
FAINT_WIDTHS = 5.0       # a pixel is faint (noise and sources far below it) within this many robust widths


class CompareError(RadsimError, ValueError):
    """The two datasets cannot be compared (other skies, tiles cut otherwise)."""


def sky_statistics(a: np.ndarray, b: np.ndarray, noise_rms_jy: float) -> dict:
    """The statistics of the module's description for one sky: ``a`` and ``b`` its tiles in both datasets (same
    shape, same order, Jy/beam), ``noise_rms_jy`` A's thermal noise rms (0: none, A's robust width stands for
    it)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    median_a, median_b = np.median(a), np.median(b)
    width_a, width_b = (1.4826 * np.median(np.abs(x - m)) for x, m in ((a, median_a), (b, median_b)))
    noise_var = noise_rms_jy ** 2 if noise_rms_jy > 0 else width_a ** 2
    faint = np.abs(a - median_a) < FAINT_WIDTHS * width_a
    diff = b - a
    bright = a > BRIGHT_WIDTHS * width_a
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "variance": 100.0 * (b.var() / a.var() - 1.0),
            "faint_variance": 100.0 * (b[faint].var() / a[faint].var() - 1.0) if faint.any() else np.nan,
            "robust_width": 100.0 * (width_b / width_a - 1.0),
            "difference_rms": 100.0 * np.sqrt(np.mean((diff - diff.mean()) ** 2) / noise_var),
            "correlation": float(np.corrcoef(a, b)[0, 1]),
            "flux_scale": (100.0 * (np.dot(a[bright], b[bright]) / np.dot(a[bright], a[bright]) - 1.0)
                           if bright.any() else np.nan),
        }


def compare(dir_a, dir_b) -> dict:
    """Every sky both datasets hold, compared (the module's description). Returns ``n_skies``, ``only_in`` (how
    many skies of A and of B have no partner), ``ids``, ``per_sky`` ({statistic: list over skies}) and ``summary``
    ({statistic: {"mean", "error", "n"}}, NaN skies left out). Raises CompareError for datasets without a sky in
    common, a shared sky whose true counts differ (not the same sky) or whose tiles were cut otherwise."""
    a, b = Dataset(dir_a), Dataset(dir_b)
    if a.image_units != b.image_units or a.tile_size != b.tile_size:
        raise CompareError(f"{dir_a} has {a.tile_size}-pixel tiles in {a.image_units}, {dir_b} "
                           f"{b.tile_size}-pixel tiles in {b.image_units}: compare needs tiles alike")
    rec_a = {r["id"]: r for r in a.records()}
    rec_b = {r["id"]: r for r in b.records()}
    ids = sorted(set(rec_a) & set(rec_b))
    if not ids:
        raise CompareError(f"{dir_a} and {dir_b} hold different skies (no realisation id in common among their "
                           f"{len(rec_a)} and {len(rec_b)}): compare needs one config and seed imaged two ways")
    per_sky = {name: [] for name in STATISTICS}
    for i in ids:
        ta, tb = (_sky(ds, i) for ds in (a, b))
        if not np.array_equal(ta["tile_origin"], tb["tile_origin"]):
            raise CompareError(f"realisation {i}: its tiles were cut at other places in {dir_a} and {dir_b} "
                               "(another field, tile size or tiling)")
        if not np.array_equal(ta["labels"], tb["labels"]):
            raise CompareError(f"realisation {i}: its true counts differ between {dir_a} and {dir_b}: they hold "
                               "different skies (another seed, counts model or flux range?)")
        for name, value in sky_statistics(ta["images"], tb["images"], float(rec_a[i]["noise_rms_jy"])).items():
            per_sky[name].append(float(value))
    summary = {}
    for name, values in per_sky.items():
        x = np.asarray(values)
        n = int(np.isfinite(x).sum())
        s = spread(x[:, None]) if n else {"mean": [np.nan], "std": [np.nan]}
        summary[name] = {"mean": float(s["mean"][0]), "n": n,
                         "error": float(s["std"][0]) / np.sqrt(n) if n > 1 else float("nan")}
    return {"dataset_a": str(dir_a), "dataset_b": str(dir_b), "n_skies": len(ids),
            "only_in": [len(rec_a) - len(ids), len(rec_b) - len(ids)], "ids": [int(i) for i in ids],
            "per_sky": per_sky, "summary": summary}


def _sky(ds: Dataset, realisation: int) -> dict:
    """One sky's tiles in (row, column) order of their origins."""
    t = ds.load_realisations([realisation], datasets=("images", "labels", "tile_origin"))
    order = np.lexsort((t["tile_origin"][:, 1], t["tile_origin"][:, 0]))
    return {k: v[order] for k, v in t.items()}


def format_table(result: dict) -> str:
    """The summary as the command prints it."""
    a_only, b_only = result["only_in"]
    lines = [f"B {result['dataset_b']}", f"against A {result['dataset_a']}",
             f"{result['n_skies']} skies in both" + (f" ({a_only} only in A, {b_only} only in B)"
                                                     if a_only or b_only else "")
             + "; mean +- standard error over skies:"]
    for name, label in STATISTICS.items():
        s = result["summary"][name]
        digits = 5 if name == "correlation" else 3
        value = f"{s['mean']:.{digits}f}" if name in ("correlation", "difference_rms") else f"{s['mean']:+.{digits}f}"
        lines.append(f"  {label:50s} {value:>10s} +- {s['error']:.{digits}f}"
                     + (f"  ({s['n']} skies)" if s["n"] != result["n_skies"] else ""))
    return "\n".join(lines)
