import numpy as np
import pytest

from radsim import config
from radsim.run import realisations
from radsim.config import ConfigError

ROOT_CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "configs"


def test_shipped_configs_validate():
    q = config.load(ROOT_CONFIGS / "quickstart.toml")
    assert len(realisations.plan(q)) == 24


@pytest.mark.parametrize("name", ["emu-seed.toml", "emu-seed-single.toml"])
def test_emu_seed_skies_are_the_seeds(name):
    c = config.load(ROOT_CONFIGS / name)
    assert (c.field.size_deg, c.field.npix, c.tiles.size) == (5.0, 2560, 128)
    assert c.field.frequency_hz in (943.5e6, 944e6)
    assert c.field.pixel_arcsec == pytest.approx(7.03, abs=0.01)
    assert (c.labels.n_bins, c.labels.flux_min_jy, c.labels.flux_max_jy) == (10, 1e-7, 1e-5)
    assert (c.sources.flux_min_jy, c.sources.flux_max_jy) == (1e-8, 1e-2)
    plan = realisations.plan(c)
    pairs = {(r.modifier_params["s0_jy"], r.modifier_params["alpha"]) for r in plan}
    assert len(plan) == 21 and len(pairs) == 21
    assert {s0 for s0, _ in pairs} == {5e-6, 5e-5}
    seed_alphas = {0, 0.2, -0.2, -0.6, 0.3, 0.21, 0.23, -0.5, 0.29, 0.25, 0.27, 0.18, 0.13, 0.17, -0.37}
    assert {a for _, a in pairs} == seed_alphas
    assert (c.field.npix // c.tiles.size) ** 2 * len(plan) == 8400


def test_emu_seed_observes_as_askap_for_emu_and_single_keeps_the_seeds_imaging():
    emu = config.load(ROOT_CONFIGS / "emu-seed.toml").imaging
    assert (emu.footprint, emu.beam_pitch_deg, emu.footprint_rotation_deg, emu.primary_beam) == \
        ("closepack36", 0.9, 45.0, "gaussian")
    assert (emu.integration_s, emu.ha_end_h - emu.ha_start_h, emu.n_channels) == (10.0, 10.0, 16)
    assert emu.auto_mask and emu.auto_threshold <= 1.0
    single = config.load(ROOT_CONFIGS / "emu-seed-single.toml").imaging
    assert ((single.footprint, single.primary_beam, single.integration_s, single.n_channels)
            == ("single", "none", 300.0, 1))
    for name in ("emu-seed-test.toml", "emu-seed-dense.toml"):      # the study's other skies, imaged the same way
        other = config.load(ROOT_CONFIGS / name).imaging
        assert other.model_dump() == emu.model_dump(), name


def _error(data):
    with pytest.raises(ConfigError) as exc:
        config.from_dict(data, source="test.toml")
    return str(exc.value)


def test_missing_key_is_named(tiny_dict):
    del tiny_dict["field"]["npix"]
    msg = _error(tiny_dict)
    assert "field.npix" in msg and "missing" in msg


def test_bad_value_names_key_value_and_expectation(tiny_dict):
    tiny_dict["field"]["npix"] = -4
    msg = _error(tiny_dict)
    assert "field.npix = -4" in msg and "greater than 0" in msg


def test_wrong_type_and_unknown_key(tiny_dict):
    tiny_dict["field"]["size_deg"] = "five"
    tiny_dict["tiles"]["sise"] = 3
    msg = _error(tiny_dict)
    assert "field.size_deg = 'five'" in msg and "number" in msg
    assert "tiles.sise" in msg and "unknown key" in msg


def test_flux_limits_must_be_ordered(tiny_dict):
    tiny_dict["labels"]["flux_min_jy"] = 1e-4
    assert "flux_min_jy" in _error(tiny_dict)


def test_unknown_modifier_and_parameters(tiny_dict):
    tiny_dict["counts"]["modifier"] = {"name": "sead", "s0_jy": 1e-5}
    assert "'sead' is not one of" in _error(tiny_dict)
    tiny_dict["counts"]["modifier"] = {"name": "seed", "s0_jy": 1e-5, "alfa": 0.1}
    assert "alfa" in _error(tiny_dict)
    tiny_dict["counts"]["modifier"] = {"name": "seed", "s0_jy": -1e-5, "alpha": 0.1}
    assert "positive flux" in _error(tiny_dict)


def test_incomplete_parameter_set_is_refused(tiny_dict):
    tiny_dict["counts"]["modifier"] = {"name": "seed"}
    tiny_dict["realisations"] = {"mode": "list", "sets": [{"s0_jy": 5e-5, "alpha": 0.1}, {"alpha": 0.2}]}
    msg = _error(tiny_dict)
    assert "parameter set 1" in msg and "s0_jy" in msg


def test_per_bin_factors_must_match_the_label_bins(tiny_dict):
    tiny_dict["counts"]["modifier"] = {"name": "per_bin", "factors": [1.0, 2.0]}
    tiny_dict.pop("realisations")
    assert "2 factors for 5 bins" in _error(tiny_dict)
    tiny_dict["counts"]["modifier"]["factors"] = [1.0, 2.0, 0.5, 1.0, 1.5]
    cfg = config.from_dict(tiny_dict)
    (name, params), = realisations.parameter_sets(cfg)
    assert np.allclose(params["edges_jy"], cfg.labels.edges_jy)


def test_missing_base_table_is_named(tiny_dict):
    tiny_dict["counts"]["base"] = "no/such/table.ecsv"
    assert "counts.base = 'no/such/table.ecsv': no such file" in _error(tiny_dict)


def test_set_overrides(write_config, tiny_dict):
    path = write_config(tiny_dict)
    cfg = config.load(path, ["field.npix=256", "run.seed=99", 'counts.base="builtin"',
                             'counts.modifier={name="bump", amplitude=0.5, centre_jy=1e-6, width_dex=0.3}',
                             "realisations.mode=single"])
    assert cfg.field.npix == 256 and cfg.run.seed == 99
    assert cfg.counts.modifier["name"] == "bump"
    assert realisations.parameter_sets(cfg) == [("bump", {"amplitude": 0.5, "centre_jy": 1e-6, "width_dex": 0.3})]
    with pytest.raises(ConfigError, match="expected section.key=value"):
        config.load(path, ["field.npix"])
    with pytest.raises(ConfigError, match="field.npix = 'big'"):
        config.load(path, ["field.npix=big"])


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[field\nnpix = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.toml")


def test_final_major_is_checked_and_its_default_keeps_the_datasets_made_before_it(tiny_dict):
    """imaging.final_major (added 2026-12-07): 'peak', the rule datasets were made with until then, leaves a config's
    identity as it was; WSClean's 'threshold' makes another dataset; anything else is refused by name."""
    before = config.from_dict(tiny_dict)
    assert before.imaging.final_major == "peak"
    assert "final_major" not in before._portable(before.model_dump(mode="json"))["imaging"]
    tiny_dict["imaging"] = dict(tiny_dict.get("imaging", {}), final_major="peak")
    assert config.from_dict(tiny_dict).hash() == before.hash()
    tiny_dict["imaging"]["final_major"] = "threshold"
    wsclean_rule = config.from_dict(tiny_dict)
    assert wsclean_rule.hash() != before.hash() and wsclean_rule.tiles_hash() != before.tiles_hash()
    from radsim.instrument.imaging.base import clean_settings
    assert clean_settings(wsclean_rule.imaging).final_major == "threshold"
    tiny_dict["imaging"]["final_major"] = "last"
    assert "final_major" in _error(tiny_dict)


def test_gridder_epsilon_is_checked_and_its_default_keeps_the_datasets_made_before_it(tiny_dict):
    """imaging.gridder_epsilon (added 2026-12-07): 1e-5, what every fast imager's visibility gridding asked of ducc0
    until then, leaves a config's identity as it was; another accuracy makes another dataset; below ducc0's single
    precision floor (1e-5) or above 1e-3 it is refused by name."""
    before = config.from_dict(tiny_dict)
    assert before.imaging.gridder_epsilon == 1e-5
    assert "gridder_epsilon" not in before._portable(before.model_dump(mode="json"))["imaging"]
    tiny_dict["imaging"] = dict(tiny_dict.get("imaging", {}), gridder_epsilon=3e-4)
    faster = config.from_dict(tiny_dict)
    assert faster.hash() != before.hash() and faster.tiles_hash() != before.tiles_hash()
    for bad in (1e-6, 1e-2):
        tiny_dict["imaging"]["gridder_epsilon"] = bad
        assert "gridder_epsilon" in _error(tiny_dict)


def test_hash_changes_with_content(tiny_dict):
    a = config.from_dict(tiny_dict).hash()
    tiny_dict["run"]["seed"] = 8
    assert config.from_dict(tiny_dict).hash() != a


def test_grid_and_random_plans(tiny_dict):
    tiny_dict["realisations"] = {"mode": "grid", "repeats": 3, "grid": {"alpha": [0.1, 0.2], "s0_jy": [5e-6, 5e-5]}}
    cfg = config.from_dict(tiny_dict)
    plan = realisations.plan(cfg)
    assert len(plan) == 12 and plan[5].set_index == 1 and plan[5].repeat == 2
    # the grid is the product in sorted-key order, alpha varying slowest; get() makes one realisation alone
    assert [(p["alpha"], p["s0_jy"]) for _, p in realisations.parameter_sets(cfg)] == [
        (0.1, 5e-6), (0.1, 5e-5), (0.2, 5e-6), (0.2, 5e-5)]
    assert [realisations.get(cfg, i) for i in range(12)] == plan
    tiny_dict["realisations"] = {"mode": "random", "n": 50, "priors": {
        "alpha": {"uniform": [-0.6, 0.3]}, "s0_jy": {"loguniform": [5e-6, 5e-5]}}}
    cfg = config.from_dict(tiny_dict)
    sets = realisations.parameter_sets(cfg)
    alphas = np.array([p["alpha"] for _, p in sets])
    s0 = np.array([p["s0_jy"] for _, p in sets])
    assert len(sets) == 50 and alphas.min() >= -0.6 and alphas.max() <= 0.3 and alphas.std() > 0.15
    assert s0.min() >= 5e-6 and s0.max() <= 5e-5
    # draws are keyed by set index: more draws keep the first ones
    tiny_dict["realisations"]["n"] = 60
    assert realisations.parameter_sets(config.from_dict(tiny_dict))[:50] == sets
    assert realisations.get(cfg, 37) == realisations.plan(cfg)[37]


def test_prior_needs_one_distribution(tiny_dict):
    tiny_dict["realisations"] = {"mode": "random", "n": 2, "priors": {"alpha": {"uniform": [0.3, -0.6]}}}
    assert "low < high" in _error(tiny_dict)


def test_index_out_of_range(tiny_cfg):
    with pytest.raises(IndexError, match="out of range"):
        realisations.get(tiny_cfg, 4)


def test_imaging_section(tiny_dict):
    tiny_dict["imaging"] = {"backend": "fast", "noise_rms_jy": 2e-5, "system_temperature_k": 50.0}
    assert "either noise_rms_jy or system_temperature_k" in _error(tiny_dict)
    tiny_dict["imaging"] = {"backend": "fast", "ha_start_h": 2.0, "ha_end_h": -2.0}
    assert "ha_end_h" in _error(tiny_dict)
    tiny_dict["imaging"] = {"backend": "casa"}
    assert "imaging.backend = 'casa'" in _error(tiny_dict)
    tiny_dict["imaging"] = {"noise": "image-w"}
    assert "noise = 'image-w' filters the noise at the nodes of w_nodes, which is unset" in _error(tiny_dict)
    tiny_dict["imaging"] = {"noise": "image-w", "w_nodes": 3}
    assert config.from_dict(tiny_dict).imaging.noise == "image-w"
    tiny_dict["imaging"] = {"system_temperature_k": 50.0}
    cfg = config.from_dict(tiny_dict)
    assert cfg.imaging.backend == "fast" and cfg.imaging.weighting == "briggs"


def test_strings_are_not_numbers_and_multi_key_errors_name_their_keys(tiny_dict):
    tiny_dict["field"]["npix"] = "512"
    assert "field.npix = '512'" in _error(tiny_dict) and "valid integer" in _error(tiny_dict)
    tiny_dict["field"]["npix"] = 128
    tiny_dict["tiles"]["size"] = 256
    err = _error(tiny_dict)
    assert "tiles.size (256) is larger than field.npix (128)" in err
    assert "centre_ra_deg" not in err and len(err.splitlines()) == 2      # the two keys, not the whole config
    tiny_dict["tiles"]["size"] = 32
    tiny_dict["realisations"] = {"mode": "random", "n": 3, "priors": {"alpha": {"uniform": ["-0.6", 0.3]}}}
    assert "expected numbers, not strings" in _error(tiny_dict)


def test_channels_are_for_the_fast_imager_and_wsclean(tiny_dict):
    tiny_dict["imaging"] = {"backend": "yandasoft", "n_channels": 4}
    assert "n_channels = 4 is for backends 'fast', 'wsclean' and 'none'" in _error(tiny_dict)
    tiny_dict["imaging"] = {"backend": "fast", "n_channels": 289}
    assert "imaging.n_channels = 289" in _error(tiny_dict)


def test_footprint_and_primary_beam_are_checked(tiny_dict):
    tiny_dict["imaging"] = {"footprint": "closepack30"}
    assert "imaging.footprint" in _error(tiny_dict) and "closepack30" in _error(tiny_dict)
    tiny_dict["imaging"] = {"footprint": "square_6x6", "beam_pitch_deg": 0}
    assert "imaging.beam_pitch_deg" in _error(tiny_dict)
    tiny_dict["imaging"] = {"primary_beam": "cosine"}
    assert "imaging.primary_beam" in _error(tiny_dict)
    tiny_dict["imaging"] = {"pb_cutoff": 1.5}
    assert "imaging.pb_cutoff" in _error(tiny_dict)


def test_restoring_beam_is_a_name_or_a_beam(tiny_dict):
    for value, expected in (("radsim", "radsim"), ([16.0, 15.0, 90.0], [16.0, 15.0, 90.0])):
        tiny_dict["imaging"] = {"restoring_beam": value}
        assert config.from_dict(tiny_dict).imaging.restoring_beam == expected
    tiny_dict["imaging"] = {"restoring_beam": "wsclean"}
    assert "imaging.restoring_beam" in _error(tiny_dict)
    tiny_dict["imaging"] = {"restoring_beam": [15.0, 16.0, 0.0]}
    assert "bmaj >= bmin > 0" in _error(tiny_dict)
    tiny_dict["imaging"] = {"restoring_beam": [16.0, 15.0]}
    assert "imaging.restoring_beam" in _error(tiny_dict)
    tiny_dict["imaging"] = {"backend": "none", "beam_arcsec": 15.0, "restoring_beam": [16.0, 15.0, 0.0]}
    assert "not both" in _error(tiny_dict)
