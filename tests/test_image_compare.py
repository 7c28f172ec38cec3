"""radsim compare: the images of the same skies in two real radsim datasets, paired sky by sky, against what
the imaging makes them analytically."""
import json

import numpy as np
import pytest

from radsim import cli
from radsim.dataset import reader
from radsim.studies import compare
from test_simulate import SIM, sim_config, simulate

NOISE = SIM["imaging"]["noise_rms_jy"]


@pytest.fixture(scope="module")
def dirty_pair(tmp_path_factory):
    """The 6 skies of the test config imaged without CLEAN (A), and again with 1% more noise rms (B): the same
    noise draws, so B - A is 1% of A's noise exactly; so too with 40 times the noise (loud-a, loud-b), where the
    sources are far below it; and A's first 4 skies alone (two of its three sets)."""
    tmp = tmp_path_factory.mktemp("compare")
    out = {}
    for name, changes in (("a", {}), ("b", {"imaging__noise_rms_jy": 1.01 * NOISE}),
                          ("loud-a", {"imaging__noise_rms_jy": 40 * NOISE}),
                          ("loud-b", {"imaging__noise_rms_jy": 40 * 1.01 * NOISE}),
                          ("first4", {"realisations__sets": SIM["realisations"]["sets"][:2]})):
        simulate(sim_config(tmp, f"{name}.toml", imaging__niter=0, **changes), tmp / name)
        out[name] = tmp / name
    return out


def test_one_percent_more_noise_is_measured_as_the_imaging_makes_it(dirty_pair, tmp_path, capsys):
    a, b = dirty_pair["a"], dirty_pair["b"]
    assert json.loads((b / "manifest.json").read_text())["config"]["imaging"]["noise_rms_jy"] == 1.01 * NOISE
    assert cli.main(["compare", str(a), str(b), "--out", str(tmp_path / "c.json")]) == 0
    printed = capsys.readouterr().out
    assert "6 skies in both; mean +- standard error over skies" in printed
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["n_skies"] == 6 and result["only_in"] == [0, 0] and result["ids"] == list(range(6))
    s = {k: v["mean"] for k, v in result["summary"].items()}
    # B - A is 0.01 of A's noise: its rms 1% of the noise rms, to the realised noise's own rms over 16 tiles;
    # the bright pixels are sources', whose flux the noise does not change
    assert s["difference_rms"] == pytest.approx(1.0, abs=0.1)
    assert abs(s["flux_scale"]) < 0.05 and 0.9999 < s["correlation"] < 1.0
    # this field is crowded (the dirty sky's rms is 3 times the noise's): the variance grows by less than the
    # noise's 1.01^2 - 1 = 2.01%, most in the faint pixels, where the noise is a larger part
    assert 0.0 < s["variance"] < s["faint_variance"] < 2.01 and 0.0 < s["robust_width"] < 1.0
    # 40 times the noise: the sources are far below it, and the variance and its width grow as the noise's
    loud = compare.compare(dirty_pair["loud-a"], dirty_pair["loud-b"])["summary"]
    for key, change in (("variance", 2.01), ("faint_variance", 2.01), ("robust_width", 1.0),
                        ("difference_rms", 1.0)):
        assert loud[key]["mean"] == pytest.approx(change, abs=0.03), key
    assert loud["flux_scale"]["n"] == 0 and np.isnan(loud["flux_scale"]["mean"])    # no pixel above 10 widths
    # each sky's figures are its tiles' (the module's statistics of the pixels read through the reader)
    ta = reader.Dataset(a).load_realisations([4])
    tb = reader.Dataset(b).load_realisations([4])
    assert set(np.unique(ta["realisation"])) == {4} and ta["images"].shape == (16, 32, 32)
    one = compare.sky_statistics(ta["images"], tb["images"], NOISE)
    assert all(one[k] == pytest.approx(result["per_sky"][k][4], rel=1e-9) for k in one)
    errors = {k: v["error"] for k, v in result["summary"].items()}
    assert errors["difference_rms"] == pytest.approx(np.std(result["per_sky"]["difference_rms"], ddof=1) / np.sqrt(6))


def test_a_dataset_against_itself_and_against_a_subset_of_its_skies(dirty_pair, capsys):
    a, first4 = dirty_pair["a"], dirty_pair["first4"]
    same = compare.compare(a, a)
    zero = ("variance", "faint_variance", "robust_width", "difference_rms", "flux_scale")
    assert all(same["summary"][k]["mean"] == 0.0 for k in zero)
    assert same["summary"]["correlation"]["mean"] == pytest.approx(1.0, abs=1e-12)
    # the same config's first two sets: the same 4 skies, bit-identical, paired on their ids; 2 left out
    sub = compare.compare(a, first4)
    assert sub["n_skies"] == 4 and sub["only_in"] == [2, 0] and sub["ids"] == [0, 1, 2, 3]
    assert sub["summary"]["difference_rms"]["mean"] == 0.0
    assert cli.main(["compare", str(first4), str(a)]) == 0
    assert "4 skies in both (0 only in A, 2 only in B)" in capsys.readouterr().out


def test_other_skies_and_a_missing_dataset_are_refused(dirty_pair, tmp_path, capsys):
    a = dirty_pair["a"]
    other = tmp_path / "other"
    simulate(sim_config(tmp_path, "other.toml", run__seed=99, imaging__niter=0), other)
    assert cli.main(["compare", str(a), str(other), "--out", str(tmp_path / "bad.json")]) == 2
    assert "true counts differ" in capsys.readouterr().err and not (tmp_path / "bad.json").exists()
    assert cli.main(["compare", str(a), str(tmp_path / "nowhere")]) == 2
    assert "not a radsim dataset" in capsys.readouterr().err
    with pytest.raises(reader.ShardError, match="holds no realisation 17"):
        reader.Dataset(a).load_realisations([2, 17])
