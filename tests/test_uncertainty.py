"""radtrain.uncertainty against known models: skies whose log counts per tile follow v = alpha + beta u + e (u the
network's, v the truth's; a shrinking network has beta > 1), e with a part shared by the sky (a) and a part that
averages down over tiles (c / n); calibrated on a few skies, then the coverage of the intervals measured on many
new skies."""
import numpy as np
import pytest

from radtrain import uncertainty


def draw_skies(rng, n_skies, n_tiles, alpha, beta, a, c):
    """Per-tile predicted and true counts (tiles, bins) of skies: the network predicts exp(u) per tile, u
    uniform over the skies in [log 5, log 50]; the truth has log mean per tile alpha + beta u + N(0, a) and
    per-tile relative scatter of variance c (c / n in the log of an n-tile mean)."""
    nb = len(alpha)
    u = rng.uniform(np.log(5), np.log(50), (n_skies, nb))
    v = alpha + beta * u + rng.normal(0.0, np.sqrt(a), (n_skies, nb))
    pred = np.repeat(np.exp(u), n_tiles, axis=0)
    true = np.repeat(np.exp(v), n_tiles, axis=0) * (1.0 + rng.normal(0.0, np.sqrt(c), (n_skies * n_tiles, nb)))
    return pred, true, np.repeat(np.arange(n_skies), n_tiles)


def test_the_calibration_is_recovered_from_many_skies():
    rng = np.random.default_rng(1)
    alpha, beta = np.array([-1.0, 0.2]), np.array([1.4, 1.0])
    a, c = np.array([0.03 ** 2, 0.02 ** 2]), np.array([0.2 ** 2, 0.1 ** 2])
    pred, true, sky = draw_skies(rng, 2000, 64, alpha, beta, a, c)
    m = uncertainty.calibrate(pred, true, sky)
    assert m["n_skies"] == 2000 and m["n_tiles_median"] == 64
    assert np.allclose(m["beta"], beta, atol=0.01) and np.allclose(m["alpha"], alpha, atol=0.03)
    assert np.allclose(m["a"], a, rtol=0.2)
    assert np.allclose(m["c"], c, rtol=0.2)
    for n, var in zip(m["measured"]["n_tiles"], m["measured"]["variance"]):
        assert np.allclose(var, a + c / n, rtol=0.2)
    # calibrated counts undo the shrinking: on average the truth
    p, t = pred.reshape(2000, 64, 2).sum(axis=1), true.reshape(2000, 64, 2).sum(axis=1)
    assert np.allclose(np.median(uncertainty.corrected(p, 64, m) / t, axis=0), 1.0, atol=0.01)


@pytest.mark.parametrize("n_calibration", [6, 12])
def test_intervals_from_a_few_calibration_skies_cover_as_claimed(n_calibration):
    """Over many calibrations on n skies each, the intervals cover new skies at their nominal rate (the
    regression's prediction interval is exact on average for a normal error of known shape)."""
    rng = np.random.default_rng(2)
    alpha, beta, a, c = np.array([0.5]), np.array([1.3]), np.array([0.05 ** 2]), np.array([0.3 ** 2])
    hits = {level: [] for level in uncertainty.LEVELS}
    for _ in range(300):
        m = uncertainty.calibrate(*draw_skies(rng, n_calibration, 16, alpha, beta, a, c))
        pred, true, _ = draw_skies(rng, 50, 16, alpha, beta, a, c)
        sp, st = pred.reshape(50, 16, 1).sum(axis=1), true.reshape(50, 16, 1).sum(axis=1)
        for level in uncertainty.LEVELS:
            lo, hi = uncertainty.interval(sp, 16, m, level)
            hits[level].append(uncertainty.coverage(st, lo, hi)[0])
    for level in uncertainty.LEVELS:
        # the c / n fit from a few skies' parts errs on the wide side (up to +4% at 6 skies): never below
        # nominal by more than the 15000 draws' scatter allows
        assert level - 0.02 <= np.mean(hits[level]) <= level + 0.05


def draw_uneven_skies(rng, n_skies, n_tiles, alpha, beta, a, gamma):
    """As :func:`draw_skies` with one bin and no per-tile scatter, the sky's shared error of variance
    a exp(gamma (u - mean u)): skies the network reads low err more (gamma < 0), as the EMU skies with their faint
    counts suppressed do."""
    u = rng.uniform(np.log(5), np.log(50), (n_skies, 1))
    sd = np.sqrt(a * np.exp(gamma * (u - np.log(5 * 50) / 2)))
    v = alpha + beta * u + rng.normal(0.0, 1.0, (n_skies, 1)) * sd
    return np.repeat(np.exp(u), n_tiles, axis=0), np.repeat(np.exp(v), n_tiles, axis=0), \
        np.repeat(np.arange(n_skies), n_tiles)


def test_a_spread_that_changes_with_the_count_is_followed_from_enough_skies(monkeypatch):
    """Skies read low err 4 times more (in sd) than skies read high. One spread for all covers the low half
    too rarely and the high half too often; the spread's slope, fitted from 48 calibration skies, covers both
    halves as claimed. With fewer than MIN_SKIES_SPREAD skies no slope is fitted."""
    rng = np.random.default_rng(4)
    alpha, beta, a, gamma = np.array([0.3]), np.array([1.2]), np.array([0.1 ** 2]), np.array([-1.2])
    hits = {(kind, level, half): [] for kind in ("slope", "flat") for level in uncertainty.LEVELS
            for half in ("low", "high")}
    slopes = []
    for _ in range(150):
        skies = draw_uneven_skies(rng, 48, 4, alpha, beta, a, gamma)
        models = {"slope": uncertainty.calibrate(*skies)}
        with monkeypatch.context() as mp:
            mp.setattr(uncertainty, "MIN_SKIES_SPREAD", 10 ** 9)
            models["flat"] = uncertainty.calibrate(*skies)
        slopes.append(models["slope"]["gamma"][0])
        pred, true, _ = draw_uneven_skies(rng, 100, 4, alpha, beta, a, gamma)
        sp, st = pred.reshape(100, 4, 1).sum(axis=1), true.reshape(100, 4, 1).sum(axis=1)
        low = sp[:, 0] < np.median(sp[:, 0])
        for kind, m in models.items():
            for level in uncertainty.LEVELS:
                lo, hi = uncertainty.interval(sp, 4, m, level)
                hits[kind, level, "low"].append(uncertainty.coverage(st[low], lo[low], hi[low])[0])
                hits[kind, level, "high"].append(uncertainty.coverage(st[~low], lo[~low], hi[~low])[0])
    cover = {key: float(np.mean(h)) for key, h in hits.items()}
    assert np.mean(slopes) == pytest.approx(-1.2, abs=0.2)
    for level in uncertainty.LEVELS:
        for half in ("low", "high"):
            assert level - 0.04 <= cover["slope", level, half] <= level + 0.04, cover
    assert cover["flat", 0.68, "low"] < 0.62 and cover["flat", 0.68, "high"] > 0.74, cover
    few = uncertainty.calibrate(*draw_uneven_skies(rng, uncertainty.MIN_SKIES_SPREAD - 1, 4, alpha, beta, a, gamma))
    assert few["gamma"] == [0.0]


@pytest.mark.parametrize("seed", range(5))
def test_network_counts_at_or_below_zero_do_not_wreck_the_calibration(seed):
    """A network on standardised counts can read the faintest skies below zero (the pointing networks did, for the
    two calibration skies with alpha near -0.6). Read at 1e-3 per tile they tilted the line to beta 0.13-0.21 and
    widened every sky's interval 6-8 times; read at the floor, the line and spread stay near the clean sky's."""
    rng = np.random.default_rng(seed)
    alpha, beta, a, c = np.array([0.5]), np.array([1.3]), np.array([0.05 ** 2]), np.array([0.3 ** 2])
    pred, true, sky = draw_skies(rng, 12, 16, alpha, beta, a, c)
    lowest = np.argsort([true[sky == i].mean() for i in range(12)])[:2]
    bad = pred.copy()
    bad[np.isin(sky, lowest)] = -3.0
    clean, m = uncertainty.calibrate(pred, true, sky), uncertainty.calibrate(bad, true, sky)
    kept = ~np.isin(sky, lowest)
    positive = ([pred[sky == i].mean() for i in range(12) if i not in lowest]
                + [true[sky == i].mean() for i in range(12)])
    assert m["floor"] == pytest.approx([0.5 * min(positive)])
    assert m["floor"][0] < pred[kept].min()             # no positive network count of a calibration sky is clipped
    assert 0.9 < m["beta"][0] < 1.35

    def spread(model):
        return np.sqrt(model["a"][0] + model["c"][0] / 16)
    assert spread(m) < 3 * spread(clean)
    # the clipped skies' intervals still hold their truth
    sp, st = bad.reshape(12, 16, 1).sum(axis=1), true.reshape(12, 16, 1).sum(axis=1)
    lo, hi = uncertainty.interval(sp, 16, m, 0.95)
    assert np.all((st[lowest] >= lo[lowest]) & (st[lowest] <= hi[lowest]))


def test_intervals_narrow_with_more_tiles_only_down_to_the_shared_part():
    m = {"n_skies": 12, "alpha": [0.0], "beta": [1.0], "a": [0.02 ** 2], "c": [0.4 ** 2], "u_mean": [np.log(10.0)],
         "u_ss": [1.0]}
    widths = []
    for n in (4, 400, 40000):
        lo, hi = uncertainty.interval(np.array([10.0 * n]), n, m, 0.68)
        widths.append(np.log(hi[0] / lo[0]))
    assert widths[0] > widths[1] > widths[2]
    from scipy.stats import t
    assert widths[2] == pytest.approx(2 * t.ppf(0.84, 10) * 0.02 * np.sqrt(1 + 1 / 12), rel=0.02)


def test_calibrated_counts_and_coverage():
    m = {"n_skies": 5, "alpha": [np.log(2.0), 0.0], "beta": [1.0, 2.0], "a": [1e-12, 1e-12], "c": [0.0, 0.0],
         "u_mean": [0.0, 0.0], "u_ss": [1.0, 1.0]}
    # 100 tiles predicted 1000 and 300 in all: per tile 10 and 3 -> 20 and 9 -> 2000 and 900
    assert np.allclose(uncertainty.corrected([1000.0, 300.0], 100, m), [2000.0, 900.0])
    lo, hi = uncertainty.interval(np.array([[1000.0, 300.0]]), [100], m, 0.95)
    assert np.allclose(lo, [[2000.0, 900.0]], rtol=1e-3) and np.allclose(hi, lo, rtol=1e-3)
    assert list(uncertainty.coverage(np.array([[2000.0, 950.0]]), lo, hi)) == [1.0, 0.0]


def test_too_few_calibration_skies_are_refused():
    pred = np.ones((6, 2))
    with pytest.raises(ValueError, match="at least 4 skies"):
        uncertainty.calibrate(pred, pred, np.array([0, 0, 1, 1, 2, 2]))


def draw_shaped_skies(rng, n_skies, n_tiles, tilt=(-1.0, 1.0)):
    """Skies whose true log counts per tile over 6 bins are a level plus a tilt, v = L + T x (x from -1 to 1) plus
    a shared error of sd 0.05, read by a network that flattens the tilt to 0.4 T and shrinks the level to 0.7 L:
    the error in a bin then depends on the sky's tilt, which its own count does not reveal and the other bins do."""
    x = np.linspace(-1.0, 1.0, 6)
    level = rng.uniform(np.log(5), np.log(50), (n_skies, 1))
    t = rng.uniform(*tilt, (n_skies, 1))
    u = 0.7 * level + 0.4 * t * x
    v = level + t * x + rng.normal(0.0, 0.05, (n_skies, 6))
    return np.repeat(np.exp(u), n_tiles, axis=0), np.repeat(np.exp(v), n_tiles, axis=0), \
        np.repeat(np.arange(n_skies), n_tiles)


def test_shape_terms_correct_an_error_that_depends_on_the_count_shape():
    """Calibrated on 48 skies of tilts from -1 to 1, then read on skies of the steepest tilts (0.8 to 1, a corner
    of the calibration range). With the shape terms their calibrated counts are unbiased and the intervals cover
    them as claimed in every bin; the per-bin line alone reads the end bins of those skies off by about 0.3 in log
    and its intervals cover them too rarely (68% intervals: about 25% in the end bins)."""
    rng = np.random.default_rng(5)
    hits = {(kind, level): [] for kind in ("shape", "line") for level in uncertainty.LEVELS}
    bias = {"shape": [], "line": []}
    for _ in range(60):
        skies = draw_shaped_skies(rng, 48, 4)
        models = {"shape": uncertainty.calibrate(*skies, shape_terms=2), "line": uncertainty.calibrate(*skies)}
        assert np.shape(models["shape"]["delta"]) == (6, 2)
        assert np.shape(models["line"]["delta"]) == (6, 0)
        pred, true, _ = draw_shaped_skies(rng, 50, 4, tilt=(0.8, 1.0))
        sp, st = pred.reshape(50, 4, 6).sum(axis=1), true.reshape(50, 4, 6).sum(axis=1)
        for kind, m in models.items():
            bias[kind].append(np.mean(np.log(uncertainty.corrected(sp, 4, m) / st), axis=0))
            for level in uncertainty.LEVELS:
                lo, hi = uncertainty.interval(sp, 4, m, level)
                hits[kind, level].append(uncertainty.coverage(st, lo, hi))
    shape_bias, line_bias = np.mean(bias["shape"], axis=0), np.mean(bias["line"], axis=0)
    assert np.all(np.abs(shape_bias) < 0.02), shape_bias
    assert abs(line_bias[0]) > 0.2 and abs(line_bias[-1]) > 0.2, line_bias
    for level in uncertainty.LEVELS:
        shape_cover, line_cover = np.mean(hits["shape", level], axis=0), np.mean(hits["line", level], axis=0)
        assert np.all(np.abs(shape_cover - level) < 0.06), (level, shape_cover)
        assert np.all(line_cover < shape_cover - 0.03), (level, line_cover)
    assert np.all(np.mean(hits["line", 0.68], axis=0)[[0, -1]] < 0.35)


def test_shape_terms_need_enough_skies_and_more_than_one_bin():
    """The shape terms are asked for, but fewer than MIN_SKIES_SHAPE skies or a single bin leave the line alone."""
    rng = np.random.default_rng(6)
    few = uncertainty.calibrate(*draw_shaped_skies(rng, uncertainty.MIN_SKIES_SHAPE - 1, 4), shape_terms=2)
    assert np.shape(few["delta"]) == (6, 0) and few["shape"]["axes"] == []
    one_bin = uncertainty.calibrate(*draw_skies(rng, 40, 4, np.array([0.5]), np.array([1.3]), np.array([0.01]),
                                                np.array([0.0])), shape_terms=2)
    assert np.shape(one_bin["delta"]) == (1, 0)
    with pytest.raises(ValueError, match="shape terms"):
        uncertainty.calibrate(*draw_shaped_skies(rng, 30, 4), shape_terms=-1)


def test_range_position_says_where_a_count_lies_in_the_calibration_skies_range():
    """0.5 in the middle of the calibration skies' range of log counts per tile, 0 at either end, negative beyond,
    per bin; where the calibration skies all had one count, that count is at the edge and any other beyond it."""
    model = {"u_range": [[0.0, 1.0], [1.0, 1.0]], "floor": [1e-3, 1e-3], "alpha": [0.0, 0.0], "beta": [1.0, 1.0]}
    n = 10
    u = np.array([[0.5, 1.0], [0.0, 1.0], [1.1, 1.0], [-0.2, 0.9], [0.95, 1.2]])
    position = uncertainty.range_position(n * np.exp(u), n, model)
    assert np.allclose(position[:, 0], [0.5, 0.0, -0.1, -0.2, 0.05])
    assert np.all(np.abs(position[:3, 1]) < 1e-3) and np.all(position[3:, 1] < -1e6)
    assert uncertainty.range_position(n * np.exp(u[0]), n, model).shape == (2,)


def draw_curved_skies(rng, n_skies, n_tiles, u_range=(np.log(5), np.log(50)), kappa=0.4, sd=0.05):
    """One bin whose true log count per tile bends away from the network's: v = 0.2 + 1.3 u + kappa (u - 2.5)^2
    plus a shared error of ``sd``, u uniform in ``u_range`` (a network whose response flattens towards one end of
    its training range reads those skies too close together)."""
    u = rng.uniform(*u_range, (n_skies, 1))
    v = 0.2 + 1.3 * u + kappa * (u - 2.5) ** 2 + rng.normal(0.0, sd, (n_skies, 1))
    return np.repeat(np.exp(u), n_tiles, axis=0), np.repeat(np.exp(v), n_tiles, axis=0), \
        np.repeat(np.arange(n_skies), n_tiles)


def test_a_curved_line_follows_a_bending_response_and_its_intervals_cover_at_the_ends():
    """Calibrated on 40 skies over the whole range, read on skies in the range's upper tenth: the curved line's
    counts are unbiased there and its intervals cover as claimed; the straight line reads them off by about 0.1 in
    log and its 68% intervals cover them far too rarely."""
    rng = np.random.default_rng(7)
    lo, hi = np.log(5), np.log(50)
    hits = {(kind, level): [] for kind in ("curved", "straight") for level in uncertainty.LEVELS}
    bias = {"curved": [], "straight": []}
    for _ in range(60):
        skies = draw_curved_skies(rng, 40, 4)
        models = {"curved": uncertainty.calibrate(*skies, curved=True), "straight": uncertainty.calibrate(*skies)}
        assert models["curved"]["curved"] and not models["straight"]["curved"]
        assert models["curved"]["gamma"] == [0.0]            # the curved line's spread is one for every count
        pred, true, _ = draw_curved_skies(rng, 50, 4, u_range=(hi - 0.1 * (hi - lo), hi))
        sp, st = pred.reshape(50, 4, 1).sum(axis=1), true.reshape(50, 4, 1).sum(axis=1)
        for kind, m in models.items():
            bias[kind].append(np.mean(np.log(uncertainty.corrected(sp, 4, m) / st)))
            for level in uncertainty.LEVELS:
                hits[kind, level].append(uncertainty.coverage(st, *uncertainty.interval(sp, 4, m, level))[0])
    assert abs(np.mean(bias["curved"])) < 0.01 and np.mean(bias["straight"]) < -0.08, bias
    for level in uncertainty.LEVELS:
        assert abs(np.mean(hits["curved", level]) - level) < 0.05, level
    assert np.mean(hits["straight", 0.68]) < 0.3


def test_a_curved_line_is_recovered_and_goes_on_along_its_tangent_beyond_the_range():
    rng = np.random.default_rng(8)
    m = uncertainty.calibrate(*draw_curved_skies(rng, 2000, 4), curved=True)
    # v = 0.2 + 1.3 u + 0.4 (u - 2.5)^2 = 2.7 - 0.7 u + 0.4 u^2
    assert m["kappa"][0] == pytest.approx(0.4, abs=0.01) and m["beta"][0] == pytest.approx(-0.7, abs=0.05)
    assert m["alpha"][0] == pytest.approx(2.7, abs=0.07)
    end = m["u_range"][1][0]
    u = end + np.array([0.0, 0.5, 1.0])
    v = np.log(uncertainty.corrected(np.exp(u)[:, None], 1, m))[:, 0]
    slope = m["beta"][0] + 2 * m["kappa"][0] * end
    assert np.allclose(np.diff(v), 0.5 * slope, rtol=1e-9)        # a straight continuation, not the parabola
    assert v[0] == pytest.approx(m["alpha"][0] + m["beta"][0] * end + m["kappa"][0] * end ** 2, rel=1e-9)


def test_a_curved_line_needs_enough_skies_and_older_calibrations_still_read():
    rng = np.random.default_rng(9)
    few = uncertainty.calibrate(*draw_curved_skies(rng, uncertainty.MIN_SKIES_CURVE - 1, 4), curved=True)
    assert not few["curved"] and few["kappa"] == [0.0] and np.shape(few["xtx_inv"]) == (1, 2, 2)
    m = uncertainty.calibrate(*draw_curved_skies(rng, 30, 4))
    old = {k: v for k, v in m.items() if k not in ("curved", "kappa")} | {"format": 5}
    counts = np.exp(np.array([[1.8], [2.9]]))
    assert np.allclose(uncertainty.corrected(counts, 1, old), uncertainty.corrected(counts, 1, m))
    assert np.allclose(uncertainty.interval(counts, 1, old, 0.95), uncertainty.interval(counts, 1, m, 0.95))


def test_slope_and_the_bins_where_a_curved_line_turns():
    """v = beta u + kappa u^2 over u in [0, 1]: slope beta + 2 kappa u; it turns inside the range where the slopes
    at its two ends differ in sign (bin 1: -1 at 0, +1 at 1), not where they do not (bins 0 and 2)."""
    model = {"curved": True, "beta": [1.5, -1.0, 2.0], "kappa": [0.5, 1.0, -0.5], "u_mean": [0.5, 0.5, 0.5],
             "u_range": [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]}
    assert np.allclose(uncertainty.slope(model), [2.0, 0.0, 1.5])
    assert np.allclose(uncertainty.slope(model, [0.0, 1.0, 1.0]), [1.5, 1.0, 1.0])
    assert list(uncertainty.turning_bins(model)) == [1]
    straight = {**model, "curved": False}
    assert np.allclose(uncertainty.slope(straight), model["beta"]) and uncertainty.turning_bins(straight).size == 0


def draw_mixed_skies(rng, n_skies, n_tiles, wide=0.2):
    """One bin, v = 0.2 + 1.3 u + e with a shared error e of 0.05 for most skies and 0.3 for a fraction ``wide``
    of them (the mosaics' count shapes at the S0 edges err about twice as much as the rest): heavy-tailed."""
    u = rng.uniform(np.log(5), np.log(50), (n_skies, 1))
    sd = np.where(rng.uniform(size=(n_skies, 1)) < wide, 0.3, 0.05)
    v = 0.2 + 1.3 * u + rng.normal(0.0, 1.0, (n_skies, 1)) * sd
    return np.repeat(np.exp(u), n_tiles, axis=0), np.repeat(np.exp(v), n_tiles, axis=0), \
        np.repeat(np.arange(n_skies), n_tiles)


def test_conformal_intervals_cover_as_claimed_where_normal_ones_do_not():
    """Heavy-tailed residuals: a normal spread fitted to all skies covers about 87% at 68% and 93% at 95%;
    the conformal quantiles of 40 calibration skies cover at their nominal rates (ceil(41 p) / 41: 0.683, 0.951)."""
    rng = np.random.default_rng(11)
    hits = {(kind, level): [] for kind in ("conformal", "normal") for level in uncertainty.LEVELS}
    for _ in range(300):
        skies = draw_mixed_skies(rng, 40, 4)
        models = {"conformal": uncertainty.calibrate(*skies, conformal=True), "normal": uncertainty.calibrate(*skies)}
        assert models["conformal"]["conformal"]["levels"] == list(uncertainty.LEVELS)
        assert models["normal"]["conformal"] is None
        pred, true, _ = draw_mixed_skies(rng, 50, 4)
        sp, st = pred.reshape(50, 4, 1).sum(axis=1), true.reshape(50, 4, 1).sum(axis=1)
        for kind, m in models.items():
            for level in uncertainty.LEVELS:
                hits[kind, level].append(uncertainty.coverage(st, *uncertainty.interval(sp, 4, m, level))[0])
    assert abs(np.mean(hits["conformal", 0.68]) - 0.683) < 0.02
    assert abs(np.mean(hits["conformal", 0.95]) - 0.951) < 0.015
    assert np.mean(hits["normal", 0.68]) > 0.8 and np.mean(hits["normal", 0.95]) < 0.94


def test_conformal_quantiles_are_the_studentised_residuals_order_statistics():
    """Recomputed by hand from the least-squares line: residual e_i, leverage h_i = 1/m + (u_i - mean u)^2 / S_uu,
    spread s_i^2 = (a + c / n) exp(gamma (u_i - mean u)); the 68% quantile of 24 skies is the 17th smallest
    |e| / (s sqrt(1 - h)) (ceil(25 x 0.68) = 17), the 95% one the 24th; a new sky's half-width is that times
    s sqrt(1 + h0)."""
    rng = np.random.default_rng(12)
    pred, true, sky = draw_mixed_skies(rng, 24, 4)
    m = uncertainty.calibrate(pred, true, sky, conformal=True)
    u, v = np.log(pred[::4, 0]), np.log(true[::4, 0])
    e = v - np.polyval(np.polyfit(u, v, 1), u)
    h = 1 / 24 + (u - u.mean()) ** 2 / ((u - u.mean()) ** 2).sum()
    s2 = (m["a"][0] + m["c"][0] / 4) * np.exp(m["gamma"][0] * (u - u.mean()))
    score = np.sort(np.abs(e) / np.sqrt(s2 * (1 - h)))
    assert m["conformal"]["quantiles"] == [pytest.approx([score[16]], rel=1e-9), pytest.approx([score[23]], rel=1e-9)]
    u0 = np.array([[2.0], [3.5]])
    lo, hi = uncertainty.interval(4 * np.exp(u0), 4, m, 0.68)
    h0 = 1 / 24 + (u0 - u.mean()) ** 2 / ((u - u.mean()) ** 2).sum()
    s2 = (m["a"][0] + m["c"][0] / 4) * np.exp(m["gamma"][0] * (np.clip(u0, u.min(), u.max()) - u.mean()))
    assert np.allclose(np.log(hi / lo) / 2, score[16] * np.sqrt(s2 * (1 + h0)))


def test_conformal_intervals_need_enough_skies_and_their_levels():
    rng = np.random.default_rng(13)
    skies = draw_mixed_skies(rng, uncertainty.MIN_SKIES_CONFORMAL - 1, 4)
    few, normal = uncertainty.calibrate(*skies, conformal=True), uncertainty.calibrate(*skies)
    assert few["conformal"] is None
    counts = np.exp(np.array([[1.8], [2.9]]))
    assert np.allclose(uncertainty.interval(counts, 4, few, 0.95), uncertainty.interval(counts, 4, normal, 0.95))
    m = uncertainty.calibrate(*draw_mixed_skies(rng, 30, 4), conformal=True)
    with pytest.raises(ValueError, match="conformal quantiles are for levels 0.68, 0.95"):
        uncertainty.interval(counts, 4, m, 0.9)
    # a format-6 calibration (no quantiles) reads as a normal one
    old = {k: v for k, v in m.items() if k != "conformal"} | {"format": 6}
    assert np.allclose(uncertainty.interval(counts, 4, old, 0.68),
                       uncertainty.interval(counts, 4, m | {"conformal": None}, 0.68))
