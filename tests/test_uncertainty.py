"""radtrain.uncertainty against known error models: skies drawn from a relative-error distribution with a shared
part (a) and a part that averages down over tiles (c / n), calibrated on a few skies, then the coverage of the
intervals measured on many new skies."""
import numpy as np
import pytest

from radtrain import uncertainty


def draw_skies(rng, n_skies, n_tiles, bias, a, c, counts=1000.0):
    """Per-tile predicted and true counts of skies whose summed relative error (true - pred) / pred is
    bias + N(0, a) shared by the sky plus tile noise adding up to N(0, c / n) over n tiles."""
    nb = len(a)
    pred = np.full((n_skies * n_tiles, nb), counts / n_tiles)
    shared = bias + rng.normal(0.0, np.sqrt(a), (n_skies, nb))
    # each tile's own error has variance c (relative to a tile's counts): a sum over n tiles -> c / n
    own = rng.normal(0.0, np.sqrt(c), (n_skies * n_tiles, nb))
    true = pred * (1.0 + np.repeat(shared, n_tiles, axis=0) + own)
    return pred, true, np.repeat(np.arange(n_skies), n_tiles)


def test_the_error_model_is_recovered_from_many_skies():
    rng = np.random.default_rng(1)
    bias, a, c = np.array([0.02, -0.05]), np.array([0.03 ** 2, 0.02 ** 2]), np.array([0.2 ** 2, 0.1 ** 2])
    pred, true, sky = draw_skies(rng, 2000, 64, bias, a, c)
    m = uncertainty.calibrate(pred, true, sky)
    assert m["n_skies"] == 2000 and m["n_tiles_median"] == 64
    assert np.allclose(m["bias"], bias, atol=0.003)
    assert np.allclose(m["a"], a, rtol=0.2)
    assert np.allclose(m["c"], c, rtol=0.2)
    # the variance measured at each part size follows a + c / n
    for n, var in zip(m["measured"]["n_tiles"], m["measured"]["variance"]):
        assert np.allclose(var, a + c / n, rtol=0.2)


@pytest.mark.parametrize("n_calibration", [6, 12])
def test_intervals_from_a_few_calibration_skies_cover_as_claimed(n_calibration):
    """Over many calibrations on n skies each, the t intervals cover new skies at their nominal rate (the
    normal-theory prediction interval is exact on average); with sigma estimated and no t they would not."""
    rng = np.random.default_rng(2)
    bias, a, c = np.array([0.1]), np.array([0.05 ** 2]), np.array([0.3 ** 2])
    hits = {level: [] for level in uncertainty.LEVELS}
    for _ in range(300):
        m = uncertainty.calibrate(*draw_skies(rng, n_calibration, 16, bias, a, c))
        pred, true, sky = draw_skies(rng, 50, 16, bias, a, c)
        sp, st = pred.reshape(50, 16, 1).sum(axis=1), true.reshape(50, 16, 1).sum(axis=1)
        for level in uncertainty.LEVELS:
            lo, hi = uncertainty.interval(sp, 16, m, level)
            hits[level].append(uncertainty.coverage(st, lo, hi)[0])
    for level in uncertainty.LEVELS:
        # the c / n fit adds a little variance of its own: a 3% tolerance on 15000 draws
        assert np.mean(hits[level]) == pytest.approx(level, abs=0.03)


def test_intervals_narrow_with_more_tiles_only_down_to_the_shared_part():
    m = {"n_skies": 12, "bias": [0.0], "a": [0.02 ** 2], "c": [0.4 ** 2]}
    widths = [np.subtract(*uncertainty.interval(np.array([1000.0]), n, m, 0.68)[::-1])[0] for n in (4, 400, 40000)]
    assert widths[0] > widths[1] > widths[2]
    from scipy.stats import t
    floor = 2 * t.ppf(0.84, 11) * 0.02 * np.sqrt(1 + 1 / 12) * 1000
    assert widths[2] == pytest.approx(floor, rel=0.02)


def test_bias_correction_and_coverage():
    m = {"n_skies": 5, "bias": [0.1, -0.2], "a": [1e-8, 1e-8], "c": [0.0, 0.0]}
    assert np.allclose(uncertainty.corrected([100.0, 50.0], m), [110.0, 40.0])
    lo, hi = uncertainty.interval(np.array([[100.0, 50.0]]), 10, m, 0.95)
    assert np.allclose(lo, [[110.0, 40.0]], rtol=1e-3) and np.allclose(hi, lo, rtol=1e-3)  # hardly any spread
    assert list(uncertainty.coverage(np.array([[110.0, 41.0]]), lo, hi)) == [1.0, 0.0]


def test_too_few_calibration_skies_are_refused():
    pred = np.ones((4, 2))
    with pytest.raises(ValueError, match="at least 3 skies"):
        uncertainty.calibrate(pred, pred, np.array([0, 0, 1, 1]))
