"""Counts read by fitting the count model to the network's counts: a synthetic likelihood in the parameters the
calibration skies were drawn with, and intervals from it that are conformal over those skies.

:mod:`radtrain.uncertainty` corrects each bin's network count from its own value (and optionally the skies' main
modes). Its intervals cover as often as claimed on average over the calibration skies, but not for every count
shape: a sky whose faint counts fall more steeply than most is read too high in its faint bins, by an amount its
bin's count does not reveal, and its intervals miss (docs/results-pointings.md). When the skies to be read are
believed to follow the count model the calibration skies were drawn from (e.g. the seed law (1 + S0/S)^alpha with
S0 and alpha drawn from a box), the network's counts of all bins together can instead be compared with what the
network reads for every parameter of that model, and the counts read off the parameters that fit:

- the calibration skies give, per bin, the network's reading ``u`` and the true log count per tile ``v`` as
  smooth functions of the parameters theta (least-squares polynomials of total degree up to ``MAX_DEGREE`` in
  theta scaled to [-1, 1] over the calibration skies' range; log10 for a positive parameter spanning a factor of
  2 or more), and the scatter of the readings about theirs as a normal distribution in the ``COMPONENTS`` leading
  principal components of their covariance (a synthetic likelihood: Wood 2010, Nature 466, 1102);
- a sky's reading gives chi^2(theta) on a grid over the parameters' range; the count read is the mean of ``v``
  weighted by exp(-chi^2 / 2), the posterior mean under a prior uniform over that range (as the calibration skies
  were drawn; the best fit alone slides along the ridge of (S0, alpha) that read alike, a low S0 with a steep
  fall against a high S0 with a gentle one: on 144 drawn pointings its calibrated |mean dy| below 1 uJy was 5-6x
  the posterior mean's),
  and the interval of a bin is the range of ``v`` over the grid points with chi^2 - min chi^2 at most a threshold
  (a profile-likelihood interval, projected on the bin's count), widened to hold the count read if need be;
- the threshold is not Wilks' chi^2_1 quantile but, per level and bin, the conformal quantile (Lei et al. 2018,
  JASA 113, 1094) of the calibration skies' own scores: the smallest threshold whose interval holds the sky's true
  count, each sky scored by the model fitted without it (leave-one-out, the jackknife+ of Barber et al. 2021,
  Ann. Statist. 49, 486; 8-fold cross-fitting over-covered, its models being noisier than the one used). The
  intervals cover about as often as claimed on average over skies drawn as the calibration skies were, like the
  conformal line's, whatever the readings' distribution;
- a sky whose best fit is worse than every calibration sky's (chi^2 above the largest of theirs, each again
  fitted without it: a conformal p-value below 1 / (m + 1)) is of no shape of the model's range, and gets the
  calibration line's counts and intervals instead (:mod:`radtrain.uncertainty`).

The reading is ``log(c) + asinh(x / 2c)`` of the network's count per tile ``x`` (``c``: ``SOFTENING`` times the
calibration skies' median in the bin): the log for counts well above ``c``, but a network count at or below zero
(a network trained on standardised counts reads some skies' faint bins so) keeps its place instead of being clipped.

On three pointing networks trained on the wider prior (96 calibration skies of the seed law with S0 and alpha
drawn from a box; docs/results-pointings.md, 2026-12-04), against the curved line with conformal intervals on the
same skies: the 68% intervals were within 68 +- 8% in 8-9 of 10 bins on the 48 fixed test pointings (against 1-2),
7-10 on 144 drawn ones (against 10) and 6-8 on the 12 transfer pointings (against 1-3), the 95% ones in 9-10
everywhere; the calibrated |mean dy| on the fixed pointings was at most 0.029-0.036 from 1 to 10 uJy (against
0.053-0.070) and 0.033-0.089 at 0.1-1 uJy (against 0.19-0.27); skies nearest alpha's low end were covered 46-61% of
the time at 68% (against 17-29%), those nearest S0's high end 36-48% (against 40-53%). On WSClean's images of the
12 transfer skies it read 1-10 uJy as well (at most 0.014-0.027) but the faint bins 0.19-0.32 high against the
line's 0.03-0.14: a small shift of every bin's reading moves the fit along the (S0, alpha) ridge, which changes
the faint counts most, so calibrate on skies imaged as the field was: with 24 of the 96 calibration skies imaged
again by WSClean (``fit``'s ``imager``: the map shifted by their mean change of reading, the scatter widened by its
covariance, thresholds from their own scores) the faint bins' error fell to 0.07-0.14 and 1-10 uJy's to
0.002-0.014, with 72 to 0.016-0.112 and 0.002. Twelve test skies resolve little below 1 uJy (a bin's mean dy has a
standard error of 0.14-0.16 there), so ``fit`` also cross-validates the transfer on the skies imaged twice, each read
by the maps fitted without it (``cross_validated``): on the 72, WSClean's calibrated readings differed from the fast
ones by at most 1.6 standard errors in any bin; on 60 test skies of the fixed pairs and 24 of drawn shapes by at most
2.2, yet not within 1.5x of the fast error in 1-6 of 10 bins (the change depends on the sky). Its numbers hold
only for skies of the calibration skies' count model within their parameters' range: a sky of another shape is read
as the nearest shape of the model, unless it fits worse than every calibration sky. How much a test's figures owe to
which calibration skies were drawn, :func:`resampled` tells by fitting the maps again on them drawn with
replacement: on 72 drawn test skies, read like for like (the fast images by a calibration on the same skies
without ``imager``), WSClean's readings differed from the fast ones by -0.001 to +0.009 from 1 to 10 uJy, but the
fast error itself moved with the calibration skies, so the 1.5x ratio held in 5-7 of 10 bins on average over the
draws. How often the intervals cover, rather than how often one test set happens to be covered, :func:`split_coverage`
tells by pooling the test skies with the calibration's and splitting them again at random, and
:func:`coverage_spread` how much the thresholds' own draw moves it: on 120 test skies of drawn shapes imaged by
WSClean, with one noise realisation per sky in both imagers and 96 pairs, six trainings covered 0.67-0.69 and
0.95-0.96 in every bin over 100 splits, while one test set of 120 was within 68 +- 8% in every bin in 39-50% of them.
No pairs are needed for the intervals once the fast images carry noise drawn as WSClean's is: calibrated without
``imager`` on 576 such skies (thresholds uncertain by +-1.9%), the six trainings' intervals covered WSClean's images of
240 other skies 0.64-0.72 and 0.92-0.97, every bin within both goals; the pairs' imager term still moves the faint bins
(WSClean read +0.02 higher at 0.1 uJy without it). ``fit``'s imager term "shift" takes that shift alone from the pairs
and keeps every calibration sky's scatter and thresholds.
"""
from __future__ import annotations

from math import comb

import numpy as np

MIN_SKIES = 20          # cross-fitted scores and a 95% conformal quantile (ceil(21 x 0.95) = 20)
MAX_PARAMETERS = 3      # the grid over the parameters' range: 12000 points cover 3 of them at 23 per axis
MAX_DEGREE = 3          # the polynomials in theta: cubic at most ...
SKIES_PER_TERM = 5      # ... and at least this many calibration skies per term
COMPONENTS = 6          # principal components of the readings' scatter in chi^2
GRID_POINTS = 12000     # points of the grid over the parameters' range
SOFTENING = 0.01        # the reading's asinh scale, per bin: this fraction of the skies' median count per tile
IMAGER_TERMS = ("shift and scatter", "shift")   # what skies imaged again change in the maps (:func:`fit`)


def reading(counts, n_tiles, scale) -> np.ndarray:
    """The reading ``log(c) + asinh(x / 2c)`` of network counts (bins,) or (images, bins) of images of
    ``n_tiles`` tiles (x: count per tile; c: ``scale`` per bin). Natural log units for x >> c."""
    counts = np.asarray(counts, dtype=np.float64)
    n = np.asarray(n_tiles, dtype=np.float64)
    if counts.ndim == 2 and n.ndim == 1:
        n = n[:, None]
    c = np.asarray(scale, dtype=np.float64)
    return np.log(c) + np.arcsinh(counts / n / (2.0 * c))


def free_parameters(modifiers: list[dict]) -> tuple[str, list[str], np.ndarray]:
    """(count model name, names, values (skies, parameters)) of the numeric parameters that differ between the
    skies' count modifiers (radsim's ``{"name": ..., param: value}`` records). Raises ValueError if the skies do not
    share one count model or no parameter varies."""
    if not modifiers or any(not isinstance(m, dict) or "name" not in m for m in modifiers):
        raise ValueError("the calibration skies carry no count model parameters (simulate them with radsim)")
    names = {m["name"] for m in modifiers}
    if len(names) != 1:
        raise ValueError(f"the calibration skies' counts follow {len(names)} count models ({', '.join(sorted(names))});"
                         f" the likelihood needs skies of one model drawn over its parameters")
    keys = sorted(k for k in modifiers[0] if k != "name" and isinstance(modifiers[0][k], (int, float))
                  and all(isinstance(m.get(k), (int, float)) for m in modifiers))
    free = [k for k in keys if len({float(m[k]) for m in modifiers}) > 1]
    if not free:
        raise ValueError(f"no parameter of the count model {names.pop()!r} varies between the calibration skies; "
                         f"simulate skies drawn over its parameters (realisations.mode = \"random\" with priors)")
    if len(free) > MAX_PARAMETERS:
        raise ValueError(f"{len(free)} parameters vary between the calibration skies ({', '.join(free)}); the "
                         f"likelihood's grid covers at most {MAX_PARAMETERS}")
    return names.pop(), free, np.array([[float(m[k]) for k in free] for m in modifiers])


def fit(params: np.ndarray, names: list[str], pred: np.ndarray, true: np.ndarray, n_tiles,
        levels=(0.68, 0.95), model_name: str = "", imager: dict | None = None) -> dict:
    """The likelihood model (JSON-able) from calibration skies: their count-model parameters (skies, d) named
    ``names``, network and true counts (skies, bins) summed over their ``n_tiles`` tiles, and the conformal
    thresholds for ``levels``. Raises ValueError for fewer than ``MIN_SKIES`` skies.

    ``imager``: some of the calibration skies imaged again as the fields to be read are (e.g. by WSClean), as
    ``{"index": their places among the calibration skies (p,), "pred": network counts (p, bins), "n_tiles": (p,)}``
    with ``MIN_SKIES`` or more of them: the readings' map is shifted by those skies' mean change of reading and
    their scatter widened by its covariance, and the thresholds are the conformal quantiles of those skies' own
    scores (each with every calibration image of its sky left out). The model then reads images of that imager, and
    ``cross_validated`` holds the mean dy per bin (with standard errors, and per sky) of those skies' first-imager
    images read by the first imager's maps fitted without the sky, and of their other images read by those maps
    ("uncalibrated") and by the shifted maps fitted without it ("calibrated"), and the calibrated minus the first
    sky by sky ("difference"). Every sky is read by the posterior mean, whatever its chi^2.

    ``imager["term"]``, one of ``IMAGER_TERMS``: "shift and scatter" (the default) as above; "shift": the map is
    shifted by the mean change alone, and the scatter and the thresholds stay those of all the calibration skies'
    first images. A reading shifted by a constant scores as the unshifted reading on the unshifted maps, so the
    thresholds of all m skies hold for the other imager's images as far as the change of reading is the same for
    every sky; that is the case to use when the first imager's images already scatter as the other's do (fast
    images with the other imager's noise drawn on the visibilities), and the skies imaged again are too few to
    give thresholds of their own (96 pairs move a 68% coverage by +-4.7%, 672 skies by +-1.8%)."""
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    if params.shape[0] == 1 and len(names) > 1:
        params = params.T
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    m, bins = pred.shape
    if m < MIN_SKIES:
        raise ValueError(f"the likelihood needs at least {MIN_SKIES} calibration skies, got {m}")
    log_axis = [bool(np.all(p > 0) and p.max() >= 2.0 * p.min()) for p in params.T]
    t = _transform(params, log_axis)
    box = np.stack([t.min(axis=0), t.max(axis=0)])
    d = params.shape[1]
    degree = max((k for k in range(1, MAX_DEGREE + 1) if _terms(k, d) * SKIES_PER_TERM <= m), default=1)
    n = np.asarray(n_tiles, dtype=np.float64)
    scale = SOFTENING * np.median(np.maximum(pred / n[:, None], 0.0), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    u = reading(pred, n, scale)
    v = np.log(np.maximum(true / n[:, None], 1e-3))
    x = _scaled(t, box)
    model = {"count_model": model_name, "parameters": list(names), "log10": log_axis, "box": box.tolist(),
             "degree": degree, "scale": scale.tolist(), "n_skies": m, "levels": list(levels)}
    basis = _features(_scaled(_grid(box), box), degree)      # the polynomials' terms on the grid, once for all fits
    if imager is None:
        model.update(_fit_maps(x, u, v, degree))
        scores, chi2 = _jackknife_scores(x, u, v, degree, basis)
    else:
        index = np.asarray(imager["index"], dtype=np.int64)
        p = index.size
        if p < MIN_SKIES:
            raise ValueError(f"the imager's skies: at least {MIN_SKIES} calibration skies imaged again are needed, "
                             f"got {p}")
        if np.unique(index).size != p or index.min() < 0 or index.max() >= m:
            raise ValueError("the imager's skies must be distinct calibration skies")
        term = imager.get("term", IMAGER_TERMS[0])
        if term not in IMAGER_TERMS:
            raise ValueError(f"the imager's term: {term!r} is none of {', '.join(map(repr, IMAGER_TERMS))}")
        widen = term == "shift and scatter"
        w = reading(np.asarray(imager["pred"], dtype=np.float64), imager["n_tiles"], scale)
        delta = w - u[index]
        model.update(_fit_maps(x, u, v, degree, delta, widen))
        model["imager_skies"] = p
        model["imager_term"] = term
        model["imager_shift"] = delta.mean(axis=0).tolist()
        # each imaged-again sky scored by the maps fitted without its sky (both images): the thresholds hold for
        # images of that imager; and read by them and by the first imager's maps fitted without it: how well the
        # calibration transfers, cross-validated on these skies
        scores = np.empty((p, bins))
        chi2 = np.empty(p)
        read = np.empty((3, p, bins))
        for j, i in enumerate(index):
            others = np.arange(m) != i
            rest = np.arange(p) != j
            maps = _fit_maps(x[others], u[others], v[others], degree, delta[rest], widen)
            if widen:
                scores[j], chi2[j] = _scores(maps, basis, w[j], v[i])
            first = _fit_maps(x[others], u[others], v[others], degree)
            read[:2, j] = _posterior(first, basis, u[i], w[j])
            read[2, j] = _posterior(maps, basis, w[j])[0]
        if not widen:       # the thresholds of every calibration sky's first image, each scored without it
            scores, chi2 = _jackknife_scores(x, u, v, degree, basis)
        sky_true = true[index]
        dy = (n[index, None] * np.exp(read) - sky_true) / sky_true.mean(axis=1, keepdims=True)
        model["cross_validated"] = {
            name: {"mean_dy": dy[k].mean(axis=0).tolist(),
                   "standard_error": (dy[k].std(axis=0, ddof=1) / np.sqrt(p)).tolist(),
                   "per_sky_dy": dy[k].tolist()}          # (skies imaged again, bins), in their order
            for k, name in enumerate(("first_imager", "uncalibrated", "calibrated"))}
        # the same skies read both ways: the difference's error is smaller than either mean's
        diff = dy[2] - dy[0]
        model["cross_validated"]["difference"] = {"mean_dy": diff.mean(axis=0).tolist(),
                                                  "standard_error": (diff.std(axis=0, ddof=1) / np.sqrt(p)).tolist()}
        model["cross_validated"]["skies"] = p
        m = scores.shape[0]
    order = np.sort(scores, axis=0)
    thresholds = []
    for level in levels:
        k = int(np.ceil((m + 1) * level))
        thresholds.append((order[k - 1] if k <= m else np.full(bins, np.inf)).tolist())
    model["thresholds"] = [[float(q) if np.isfinite(q) else None for q in row] for row in thresholds]
    # a reading that fits worse than every calibration sky's (conformal p-value below 1 / (m + 1)) is not of the model
    model["chi2_limit"] = float(chi2.max())
    # what the maps were fitted on, so that they can be fitted again on resampled skies (:func:`resampled`)
    model["calibration_skies"] = {"params": params.tolist(), "pred": pred.tolist(), "true": true.tolist(),
                                  "n_tiles": n.tolist()}
    if imager is not None:
        model["calibration_skies"].update(imager_index=index.tolist(),
                                          imager_pred=np.asarray(imager["pred"], dtype=np.float64).tolist(),
                                          imager_n_tiles=np.asarray(imager["n_tiles"], dtype=np.float64).tolist())
    return model


def resampled(model: dict, first=None, other=None, draws: int = 200, seed: int = 0) -> dict:
    """How much the counts read owe to which calibration skies happened to be drawn: the images read by the model's
    maps fitted again on its calibration skies drawn with replacement (the bootstrap: Efron 1979, Ann. Statist. 7, 1),
    the skies imaged again going with their skies; the grid, the reading's scale and the polynomials' degree stay
    the model's.

    ``first``: (network counts (images, bins), tiles per image) of the first imager's images, read by the maps
    without the other imager's shift (as a calibration on the same skies without ``imager`` reads them); ``other``:
    of the other imager's images, read by the shifted maps (a model fitted with ``imager``). Returns ``first`` and
    ``other``: the posterior-mean counts (draws + 1, images, bins), draw 0 on the calibration skies as they are
    (``other``'s then :func:`estimate`'s counts). Raises ValueError for a model that did not record its skies (fitted
    before they were recorded: calibrate again) or, with ``other``, one without another imager's skies."""
    skies = model.get("calibration_skies")
    if skies is None:
        raise ValueError("the likelihood calibration does not record its calibration skies (it was fitted before "
                         "they were recorded); calibrate again to resample them")
    if other is not None and "imager_index" not in skies:
        raise ValueError("the likelihood calibration is not for another imager's images (no skies imaged again)")
    params = np.asarray(skies["params"], dtype=np.float64)
    n = np.asarray(skies["n_tiles"], dtype=np.float64)
    scale = np.asarray(model["scale"])
    box = np.asarray(model["box"])
    x = _scaled(_transform(params, model["log10"]), box)
    u = reading(np.asarray(skies["pred"], dtype=np.float64), n, scale)
    v = np.log(np.maximum(np.asarray(skies["true"], dtype=np.float64) / n[:, None], 1e-3))
    degree = int(model["degree"])
    basis = _features(_scaled(_grid(box), box), degree)
    if "imager_index" in skies:
        index = np.asarray(skies["imager_index"], dtype=np.int64)
        delta = (reading(np.asarray(skies["imager_pred"], dtype=np.float64),
                         np.asarray(skies["imager_n_tiles"], dtype=np.float64), scale) - u[index])
        pair = np.full(u.shape[0], -1)
        pair[index] = np.arange(index.size)
    widen = model.get("imager_term", IMAGER_TERMS[0]) == "shift and scatter"

    def readings(images):
        counts = np.atleast_2d(np.asarray(images[0], dtype=np.float64))
        tiles = np.broadcast_to(np.asarray(images[1], dtype=np.float64), (counts.shape[0],))
        return reading(counts, tiles, scale), tiles

    images = {key: readings(given) for key, given in (("first", first), ("other", other)) if given is not None}
    out = {key: [] for key in images}
    rng = np.random.default_rng(seed)
    for b in range(draws + 1):
        s = np.arange(u.shape[0]) if b == 0 else rng.integers(0, u.shape[0], u.shape[0])
        for key, (w, tiles) in images.items():
            maps = _fit_maps(x[s], u[s], v[s], degree, delta[pair[s][pair[s] >= 0]] if key == "other" else None,
                             widen)
            out[key].append(tiles[:, None] * np.exp(_posterior(maps, basis, *w)))
    return {key: np.asarray(a) for key, a in out.items()}


def split_coverage(model: dict, more: dict, splits: int = 200, seed: int = 0) -> np.ndarray:
    """How often the intervals hold the truth on skies the calibration did not see, over random splits of the skies
    that were imaged as the fields to be read are: (splits + 1, levels, bins), split 0 the calibration as fitted.

    One fixed set of test skies is one split: on 72 of them a 68% coverage has a binomial standard deviation of
    5.5%, and the conformal thresholds of 96 calibration skies move it by about 4.7% more (the coverage given the
    calibration skies is Beta-distributed: Vovk 2012, Proc. ACML 25, 475), so an interval that covers as claimed
    misses 68 +- 8% in a bin about one time in four. Pooling the test skies with the calibration's and drawing the
    split again measures the coverage itself rather than one split's luck.

    ``more``: skies not among the calibration skies, drawn as they were (the same count model and prior), as
    ``{"params": (k, d) in the model's parameters' order, "pred": network counts (k, bins), "true": (k, bins),
    "n_tiles": (k,)}``, and for a model calibrated for another imager (``fit``'s ``imager``) also their other
    images' ``"imager_pred"`` and ``"imager_n_tiles"``. Each split draws as many of the pooled skies (the
    imaged-again calibration skies and ``more``; all the calibration skies for a model without ``imager``) as the
    calibration had, fits it again on them with the model's levels (the other calibration skies kept), and reads the
    rest (their other images for a model with ``imager``) by it. Every sky is read by the likelihood, whatever its
    chi^2. Raises ValueError for a model that did not record its skies or for ``more`` missing a field."""
    skies = model.get("calibration_skies")
    if skies is None:
        raise ValueError("the likelihood calibration does not record its calibration skies (it was fitted before "
                         "they were recorded); calibrate again to split them")
    other = "imager_index" in skies
    need = ("params", "pred", "true", "n_tiles") + (("imager_pred", "imager_n_tiles") if other else ())
    missing = [k for k in need if k not in more]
    if missing:
        raise ValueError(f"the skies to pool with the calibration's lack {', '.join(missing)}")
    params = np.asarray(skies["params"], dtype=np.float64)
    pred = np.asarray(skies["pred"], dtype=np.float64)
    true = np.asarray(skies["true"], dtype=np.float64)
    n = np.asarray(skies["n_tiles"], dtype=np.float64)
    extra = {k: np.asarray(more[k], dtype=np.float64) for k in need}
    extra["params"] = extra["params"].reshape(extra["true"].shape[0], -1)
    if extra["params"].shape[1] != params.shape[1] or extra["pred"].shape[1] != pred.shape[1]:
        raise ValueError(f"the skies to pool have {extra['params'].shape[1]} parameters and {extra['pred'].shape[1]}"
                         f" bins, the calibration's {params.shape[1]} and {pred.shape[1]}")
    k = extra["true"].shape[0]
    base = {"params": params, "pred": pred, "true": true, "n_tiles": n}
    if other:               # pool: the imaged-again calibration skies, then ``more``; the others always calibrate
        index = np.asarray(skies["imager_index"], dtype=np.int64)
        keep = np.setdiff1d(np.arange(true.shape[0]), index)
        first = {key: value[index] for key, value in base.items()}
        first.update(imager_pred=np.asarray(skies["imager_pred"], dtype=np.float64),
                     imager_n_tiles=np.asarray(skies["imager_n_tiles"], dtype=np.float64))
    else:
        keep, first = np.arange(0), base
    pool = {key: np.concatenate([first[key], extra[key]]) for key in need}
    size = pool["true"].shape[0] - k
    read_key, tiles_key = ("imager_pred", "imager_n_tiles") if other else ("pred", "n_tiles")
    rng = np.random.default_rng(seed)
    out = []
    for b in range(splits + 1):
        order = np.arange(size + k) if b == 0 else rng.permutation(size + k)
        cal, test = order[:size], order[size:]
        rows = {key: np.concatenate([value[keep], pool[key][cal]]) for key, value in base.items()}
        imager = ({"index": np.arange(keep.size, keep.size + size), "pred": pool["imager_pred"][cal],
                   "n_tiles": pool["imager_n_tiles"][cal], "term": model.get("imager_term", IMAGER_TERMS[0])}
                  if other else None)
        again = fit(rows["params"], model["parameters"], rows["pred"], rows["true"], rows["n_tiles"],
                    levels=model["levels"], model_name=model.get("count_model", ""), imager=imager)
        read = estimate(pool[read_key][test], pool[tiles_key][test], again)
        t = pool["true"][test]
        out.append(((t >= read["lo"]) & (t <= read["hi"])).mean(axis=1))
    return np.asarray(out)


def estimate(counts, n_tiles, model: dict) -> dict:
    """The fit of the count model to network counts (bins,) or (images, bins) of images of ``n_tiles`` tiles:

    - ``counts``: the model's true counts summed over the image, their log averaged over the parameters with
      weight exp(-chi^2 / 2) (the posterior mean under a prior uniform over the calibration skies' range);
    - ``params``: the parameters' posterior mean, in the calibration's units (a log axis's averaged in log10);
    - per level of the calibration, ``lo``/``hi`` (counts) and ``params_lo``/``params_hi`` (each parameter's
      range over the interval's grid points, the widest over bins), the level on the first axis;
    - ``chi2``: the best fit's; ``fits``: whether it is at most the calibration's ``chi2_limit`` (the worst
      calibration sky's): a reading beyond it is of no shape of the model's range.

    Images on the first axis (after the level axis); one image gives arrays without it."""
    one = np.ndim(counts) == 1
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    n = np.broadcast_to(np.asarray(n_tiles, dtype=np.float64), (counts.shape[0],))
    box = np.asarray(model["box"])
    points = _grid(box)
    grid = _scaled(points, box)
    maps = {k: model[k] for k in ("degree", "reading", "truth", "axes", "variance")}
    mu, truth = _on_grid(maps, _features(grid, int(maps["degree"])))
    u = reading(counts, n, model["scale"])
    values = _untransform(points, model["log10"])
    out = {"counts": [], "params": [], "levels": model["levels"], "lo": [], "hi": [], "params_lo": [],
           "params_hi": [], "chi2": [], "fits": []}
    for i in range(counts.shape[0]):
        dchi, chi2 = _dchi(maps, mu, u[i])
        out["chi2"].append(chi2)
        out["fits"].append(chi2 <= model.get("chi2_limit", np.inf))
        # the posterior mean under a prior uniform over the box (in log10 for a log axis: as the skies were drawn)
        weight = np.exp(-0.5 * dchi)
        weight /= weight.sum()
        centre, at = weight @ truth, weight @ points
        out["counts"].append(n[i] * np.exp(centre))
        out["params"].append(_untransform(at[None, :], model["log10"])[0])
        lo, hi, plo, phi = [], [], [], []
        for row in model["thresholds"]:
            q = np.array([np.inf if x is None else x for x in row])
            inside = dchi[:, None] <= q[None, :]                       # grid points, bins
            # the interval always holds the counts read (the mean may lie just outside a narrow region)
            lo.append(n[i] * np.exp(np.minimum(np.where(inside, truth, np.inf).min(axis=0), centre)))
            hi.append(n[i] * np.exp(np.maximum(np.where(inside, truth, -np.inf).max(axis=0), centre)))
            any_inside = inside.any(axis=1)
            plo.append(np.minimum(values[any_inside].min(axis=0), out["params"][-1]))
            phi.append(np.maximum(values[any_inside].max(axis=0), out["params"][-1]))
        out["lo"].append(lo)
        out["hi"].append(hi)
        out["params_lo"].append(plo)
        out["params_hi"].append(phi)
    result = {k: (np.asarray(v)[0] if one else np.asarray(v)) if k != "levels" else v for k, v in out.items()}
    # per level: (images, levels, bins) -> levels first, so that result["lo"][j] is level j's
    for k in ("lo", "hi", "params_lo", "params_hi"):
        result[k] = np.moveaxis(result[k], -2, 0)
    return result


def coverage_spread(skies: int, level: float) -> float:
    """The standard deviation of the coverage of conformal intervals at ``level`` calibrated on ``skies`` skies,
    over draws of those skies: the coverage given them is Beta(k, skies + 1 - k), k = ceil((skies + 1) level)
    (Vovk 2012, Proc. ACML 25, 475). On 96 skies 0.047 at 68% and 0.020 at 95%; a test set of n skies adds its
    binomial sqrt(level (1 - level) / n)."""
    k = int(np.ceil((skies + 1) * level))
    if k > skies:
        return 0.0
    return float(np.sqrt(k * (skies + 1 - k) / ((skies + 1) ** 2 * (skies + 2))))


def describe(model: dict) -> str:
    """One paragraph for the terminal: the model, its parameters' range and the thresholds."""
    axes = ", ".join(f"{name} {_fmt(lo, log)}-{_fmt(hi, log)}" + (" (log)" if log else "")
                     for name, log, lo, hi in zip(model["parameters"], model["log10"], *model["box"]))
    q = "; ".join(f"{round(level * 100)}%: " + ", ".join("inf" if x is None else f"{x:.2f}" for x in row)
                  for level, row in zip(model["levels"], model["thresholds"]))
    imager = ""
    shift_only = model.get("imager_term") == "shift"
    scored = model["n_skies"] if shift_only else model.get("imager_skies") or model["n_skies"]   # whose scores
    if model.get("imager_skies"):
        where = ", ".join(src["dataset"] for src in model.get("imager_sources", ()))
        imager = (f"; for images of another imager: {model['imager_skies']} of the skies imaged again"
                  + (f" ({where})" if where else "") + ", mean change of reading "
                  + ", ".join(f"{x:+.3f}" for x in model["imager_shift"])
                  + (" (the map shifted by it alone: the scatter and thresholds are the calibration skies' first "
                     "images')" if shift_only else ""))
    return (f"intervals: likelihood of the count model {model['count_model']!r} in {axes} (polynomials of degree "
            f"{model['degree']}, {len(model['variance'])} components, {model['n_skies']} skies{imager}); the counts "
            f"read are "
            f"the posterior mean's over that range, valid for skies of that model in it. Thresholds in delta chi^2 "
            f"per bin ({q}), conformal over {scored} skies: their coverage is uncertain by "
            + ", ".join(f"+-{coverage_spread(scored, level):.3f} at {round(level * 100)}%" for level in model["levels"])
            + " from which skies were drawn; "
            f"an image whose best fit has chi^2 above {model['chi2_limit']:.3g} (the worst calibration sky's) is "
            f"of no shape of the model's range and gets the line's counts and intervals")


def transfer_table(model: dict, edges) -> list[str]:
    """Lines for the terminal: a calibration for another imager's images (:func:`fit`'s ``imager``), cross-validated
    on its skies imaged by both imagers; none without one."""
    cv = model.get("cross_validated")
    if not cv:
        return []
    mean = {k: np.asarray(cv[k]["mean_dy"]) for k in ("first_imager", "uncalibrated", "calibrated", "difference")}
    se = {k: np.asarray(cv[k]["standard_error"]) for k in ("first_imager", "calibrated", "difference")}
    ratio = np.abs(mean["calibrated"]) / np.maximum(np.abs(mean["first_imager"]), 1e-12)
    lines = [f"cross-validated on the {cv['skies']} skies imaged by both imagers (each read by calibrations fitted "
             f"without it), mean dy per sky (standard error):",
             f"{'bin (Jy)':>22} {'first imager':>16} {'other, as is':>12} {'other, calibrated':>18} "
             f"{'difference':>16} {'|ratio|':>7}"]
    for i in range(ratio.size):
        lines.append(f"{edges[i]:10.3g}-{edges[i + 1]:<11.3g} "
                     f"{mean['first_imager'][i]:+8.3f} ({se['first_imager'][i]:.3f}) {mean['uncalibrated'][i]:+12.3f} "
                     f"{mean['calibrated'][i]:+10.3f} ({se['calibrated'][i]:.3f}) "
                     f"{mean['difference'][i]:+8.3f} ({se['difference'][i]:.3f}) {ratio[i]:7.2f}")
    worst = []
    for key, label in (("first_imager", "first imager"), ("uncalibrated", "other, as is"),
                       ("calibrated", "other, calibrated")):
        per_sky = np.abs(np.asarray(cv[key]["per_sky_dy"]))
        j, b = np.unravel_index(np.argmax(per_sky), per_sky.shape)
        worst.append(f"{label} {per_sky[j, b]:.2f} (sky {j} of {cv['skies']}, bin {b})")
    lines.append("largest |dy| of one sky (one such sky moves a mean by it / the number of skies): " + ", ".join(worst))
    lines.append("'first imager': its own images read by its own calibration; 'other, as is': the other imager's "
                 "images read by that calibration; 'other, calibrated': read by this calibration for the other "
                 "imager; 'difference': calibrated other minus first, sky by sky; '|ratio|': |other, calibrated| / "
                 "|first imager| (the transfer goal: at most 1.5; a ratio of means within their errors of 0 says "
                 "little)")
    return lines


# ----------------------------------------------------------------------------------------------------------------

def _transform(params: np.ndarray, log_axis) -> np.ndarray:
    return np.stack([np.log10(p) if log else p for p, log in zip(np.atleast_2d(params).T, log_axis)], axis=1)


def _untransform(t: np.ndarray, log_axis) -> np.ndarray:
    return np.stack([10.0 ** p if log else p for p, log in zip(t.T, log_axis)], axis=1)


def _scaled(t: np.ndarray, box: np.ndarray) -> np.ndarray:
    span = np.where(box[1] > box[0], box[1] - box[0], 1.0)
    return 2.0 * (t - box[0]) / span - 1.0


def _grid(box: np.ndarray) -> np.ndarray:
    d = box.shape[1]
    per_axis = max(2, int(round(GRID_POINTS ** (1.0 / d))))
    axes = [np.linspace(lo, hi, per_axis) for lo, hi in box.T]
    return np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)


def _terms(degree: int, d: int) -> int:
    return comb(degree + d, d)


def _features(x: np.ndarray, degree: int) -> np.ndarray:
    """Monomials of the scaled parameters (points, d) up to total ``degree``, constant first."""
    cols = [np.ones(x.shape[0])]
    d = x.shape[1]

    def powers(total, k):
        if k == 1:
            yield (total,)
            return
        for first in range(total, -1, -1):
            for rest in powers(total - first, k - 1):
                yield (first,) + rest

    for total in range(1, degree + 1):
        for p in powers(total, d):
            cols.append(np.prod([x[:, j] ** p[j] for j in range(d)], axis=0))
    return np.stack(cols, axis=1)


def _jackknife_scores(x, u, v, degree, basis) -> tuple[np.ndarray, np.ndarray]:
    """Each sky scored by the maps fitted without it (jackknife+): per bin, the threshold its interval needs to
    hold its truth (skies, bins), and its best fit's chi^2 (skies,)."""
    m = u.shape[0]
    scores, chi2 = np.empty(u.shape), np.empty(m)
    for i in range(m):
        others = np.arange(m) != i
        scores[i], chi2[i] = _scores(_fit_maps(x[others], u[others], v[others], degree), basis, u[i], v[i])
    return scores, chi2


def _fit_maps(x, u, v, degree, delta=None, widen: bool = True) -> dict:
    """Least-squares polynomials of the readings and true log counts in the scaled parameters, and the readings'
    scatter about theirs in its leading principal components; with ``delta`` (skies, bins), the change of
    reading when skies are imaged by another imager, the map shifted by its mean and (``widen``) the scatter
    widened by its covariance."""
    f = _features(x, degree)
    reading_coef = np.linalg.lstsq(f, u, rcond=None)[0]
    truth_coef = np.linalg.lstsq(f, v, rcond=None)[0]
    r = u - f @ reading_coef
    dof = max(r.shape[0] - f.shape[1], 1)
    cov = r.T @ r / dof
    if delta is not None:
        reading_coef[0] += delta.mean(axis=0)           # the constant term: the first feature
        if widen:
            cov = cov + np.cov(delta, rowvar=False)
    w, e = np.linalg.eigh(cov)
    k = min(COMPONENTS, u.shape[1], max(r.shape[0] - f.shape[1] - 1, 1))
    keep = np.argsort(w)[::-1][:k]
    variance = np.maximum(w[keep], 1e-12 * max(w.max(), 1e-300))
    return {"degree": degree, "reading": reading_coef.tolist(), "truth": truth_coef.tolist(),
            "axes": e[:, keep].tolist(), "variance": variance.tolist()}


def _posterior(maps: dict, basis: np.ndarray, *readings: np.ndarray) -> np.ndarray:
    """The posterior-mean true log count per tile (readings, bins) of each reading (as :func:`estimate`'s counts),
    the maps evaluated on the grid once for all of them."""
    mu, truth = _on_grid(maps, basis)
    out = []
    for u0 in readings:
        weight = np.exp(-0.5 * _dchi(maps, mu, u0)[0])
        out.append(weight @ truth / weight.sum())
    return np.array(out)


def _on_grid(maps: dict, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The readings' means in their principal axes and the true log counts on the grid, from the polynomials'
    terms there (``basis``: :func:`_features` of the grid)."""
    return basis @ np.asarray(maps["reading"]) @ np.asarray(maps["axes"]), basis @ np.asarray(maps["truth"])


def _dchi(maps: dict, mu: np.ndarray, u0: np.ndarray) -> tuple[np.ndarray, float]:
    """chi^2 - min chi^2 on the grid of a reading ``u0`` and the min."""
    d = u0 @ np.asarray(maps["axes"]) - mu
    chi = (d ** 2 / np.asarray(maps["variance"])).sum(axis=1)
    return chi - chi.min(), float(chi.min())


def _scores(maps: dict, basis: np.ndarray, u0: np.ndarray, v0: np.ndarray) -> tuple[np.ndarray, float]:
    """Per bin, the smallest threshold on delta chi^2 whose interval holds the true log count ``v0``; and the
    best fit's chi^2."""
    mu, truth = _on_grid(maps, basis)
    dchi, chi2 = _dchi(maps, mu, u0)
    below = truth <= v0[None, :]
    lo = np.where(below, dchi[:, None], np.inf).min(axis=0)
    hi = np.where(~below, dchi[:, None], np.inf).min(axis=0)
    return np.maximum(lo, hi), chi2


def level_index(model: dict, level: float) -> int:
    """The place of ``level`` among the calibration's levels."""
    for j, x in enumerate(model["levels"]):
        if abs(x - level) < 1e-9:
            return j
    raise ValueError(f"the likelihood calibration has levels {model['levels']}, not {level}")


def _fmt(value: float, log: bool) -> str:
    return f"{10.0 ** value:.3g}" if log else f"{value:.3g}"
