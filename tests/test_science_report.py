"""scripts/science_report.py: the figures of docs/results.md come from the runs' own products, the goal columns
are computed from them, and the hand-written text around the generated block survives a rewrite."""
import functools
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EDGES = np.geomspace(1e-7, 1e-5, 11)


def report_module():
    spec = importlib.util.spec_from_file_location("science_report", ROOT / "scripts" / "science_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def metrics(dy_mean, split="test", skies=8):
    centres = np.sqrt(EDGES[:-1] * EDGES[1:])
    zeros = [0.0] * 10
    return {"split": split, "n_skies": skies, "n_tiles": 400 * skies, "bin_edges_jy": EDGES.tolist(),
            "bin_centres_jy": centres.tolist(), "detection_threshold_jy": 1e-4,
            "factor_below_threshold": (1e-4 / centres).tolist(),
            "per_sky": {"dy": {"mean": list(dy_mean), "std": zeros},
                        "relative_error": {"mean": list(dy_mean), "std": zeros}},
            "residual_correlation": {"per_sky": {"neighbours": 0.9, "all_pairs": 0.8},
                                     "per_tile": {"neighbours": 0.5, "all_pairs": 0.3}},
            "seconds": 60.0}


def seed_law_skies(rng, n):
    """n skies of the seed law, (alpha, s0) drawn from the training box: parameters (n, 2), the counts of a network
    5% noisy and the true counts, summed over 16 tiles (n, bins)."""
    centres = np.sqrt(EDGES[:-1] * EDGES[1:])
    alpha, s0 = rng.uniform(-0.6, 0.3, n), 10 ** rng.uniform(np.log10(5e-6), np.log10(5e-5), n)
    true = 16 * 100.0 * (centres / 1e-7) ** -0.6 * (1.0 + s0[:, None] / centres) ** alpha[:, None]
    return np.stack([alpha, s0], axis=1), true * np.exp(rng.normal(0.0, 0.05, true.shape)), true


def write_calibrated_evaluation(study, run, evaluation, dy, calibrated, calibration_set):
    """A pointing run's evaluation of 12 skies (network dy and calibrated dy the same in every bin), its training
    history and the calibration set it names."""
    m = metrics([dy] * 10, skies=12)
    m["per_sky_corrected"] = {"dy": {"mean": [calibrated] * 10, "std": [0.0] * 10},
                              "relative_error": {"mean": [0.0] * 10, "std": [0.0] * 10}}
    (study / run / evaluation).mkdir(parents=True)
    (study / run / evaluation / "metrics.json").write_text(json.dumps(m))
    (study / run / "history.csv").write_text("epoch,loss,val_loss,train_s,validation_s\n1,1.0,0.5,30,2\n")
    (study / run / "calibration.json").write_text(json.dumps({"seconds": 6.0, "dataset": f"/runs/{calibration_set}"}))


def test_report_tables_goals_and_kept_text(tmp_path):
    study = tmp_path / "study"
    cnn = [0.3, 0.2, 0.1, 0.05, 0.04, 0.03, 0.08, 0.02, 0.01, 0.02]       # the worst 1-10 uJy bin: 0.08
    pd = [0.5, 0.4, 0.2, 0.1, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01]
    (study / "fast-small" / "eval-test").mkdir(parents=True)
    (study / "fast-small" / "eval-test" / "metrics.json").write_text(json.dumps(metrics(cnn)))
    (study / "fast-small" / "history.csv").write_text(
        "epoch,loss,val_loss,train_s,validation_s\n1,1.0,0.5,30,2\n2,0.5,0.25,28,2\n")
    (study / "pofd-fast").mkdir(parents=True)
    (study / "pofd-fast" / "pofd.json").write_text(json.dumps(metrics(pd)))
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nwritten by hand\n\n<!-- generated:begin -->\nold\n<!-- generated:end -->\n\n"
                   "## Discussion\n\nalso by hand\n")
    module = report_module()
    assert module.main([str(study), "--doc", str(doc), "--images", str(tmp_path / "images")]) == 0
    text = doc.read_text()
    assert "written by hand" in text and "also by hand" in text and "\nold\n" not in text
    # the goal row: worst |dy| in the top bin, within 100x, beyond; bins where the CNN beats P(D)
    row = next(line for line in text.splitlines() if line.startswith("| seed-small (asinh, width input, flips) |"))
    assert "| 0.020 | 0.080 | 0.300 | 4 of 10 | 4 of 10 | 0 of 5 |" in row  # no spread: rms = |mean|
    assert "| 0.010 | 0.010 | 0.500 | - | - | - |" in next(line for line in text.splitlines()
                                                          if line.startswith("| P(D) fit |"))
    assert "| train | seed-small (asinh, width input, flips) | 1.0 min | 2 epochs (31 s each), best epoch 2 |" in text
    assert (tmp_path / "images" / "results-dy-fast.png").stat().st_size > 10_000
    assert "results-dy-transfer.png" not in text             # no transfer runs: no empty figure
    assert "### Per-sky intervals" not in text               # not calibrated: no coverage table


def test_report_coverage_and_transfer_tables(tmp_path):
    study = tmp_path / "study"
    m = metrics([0.02] * 10, skies=12)
    m["per_sky_intervals"] = {"n_calibration_skies": 12, "n_skies": 12, "same_skies_as_calibration": False,
                              "68": {"per_bin": [8 / 12] * 9 + [0.5], "all": 0.65},
                              "95": {"per_bin": [11 / 12] * 10, "all": 11 / 12}}
    m["per_sky_corrected"] = {"dy": {"mean": [0.01] * 10, "std": [0.0] * 10},
                              "relative_error": {"mean": [0.01] * 10, "std": [0.0] * 10}}
    for evaluation, dy in (("eval-test", [0.02] * 10), ("eval-transfer-fast", [0.02] * 10),
                           ("eval-transfer-wsclean", [0.04] + [0.025] * 9)):
        (study / "fast-small" / evaluation).mkdir(parents=True)
        mm = {**m, "per_sky": {"dy": {"mean": dy, "std": [0.0] * 10}, "relative_error": m["per_sky_corrected"]["dy"]}}
        (study / "fast-small" / evaluation / "metrics.json").write_text(json.dumps(mm))
    doc = tmp_path / "results.md"
    doc.write_text("<!-- generated:begin -->\n<!-- generated:end -->\n")
    assert report_module().main([str(study), "--doc", str(doc), "--images", str(tmp_path / "images")]) == 0
    text = doc.read_text()
    assert "| seed-small (asinh, width input, flips) | 68% | 12 | 12 | " + " | ".join(["0.67"] * 9) \
        + " | 0.50 | 9 of 10 |" in text
    assert "| 95% | 12 | 12 | " + " | ".join(["0.92"] * 10) + " | 10 of 10 |" in text
    lines = text.splitlines()
    first = lines.index(next(x for x in lines if x.startswith("| seed-small, trained on EMU mosaics (seed-fast) | "
                                                              "its own | \\|mean dy\\|, fast | 0.020 |")))
    assert lines[first + 2] == "| | | ratio WSClean / fast | 2.00 | " + " | ".join(["1.25"] * 9) + " | 9 of 10 |"
    assert lines[first + 5] == "| | | ratio WSClean / fast | " + " | ".join(["1.00"] * 10) + " | 10 of 10 |"
    assert "### How the score grows" not in text              # no pointing networks: no growth table
    assert "| seed-small (asinh, width input, flips), calibrated | 12 | 0.010 |" in text


def test_report_transfer_networks_and_growth(tmp_path):
    """The networks trained on pointings: their transfer rows, their growth with the training skies (network and
    calibrated counts), their training histories and calibration sets."""
    study = tmp_path / "study"
    for run, scale in (("pointing-small", 1.0), ("pointing-small-84", 0.5)):
        for evaluation, factor in (("eval-transfer-fast", 1.0), ("eval-transfer-wsclean", 1.2)):
            write_calibrated_evaluation(study, run, evaluation, 0.04 * scale * factor, 0.02 * scale * factor,
                                        "pointing-calib-random")
    doc = tmp_path / "results.md"
    doc.write_text("<!-- generated:begin -->\n<!-- generated:end -->\n")
    assert report_module().main([str(study), "--doc", str(doc), "--images", str(tmp_path / "images")]) == 0
    text = doc.read_text()
    assert text.count("| | | ratio WSClean / fast | " + " | ".join(["1.20"] * 10) + " | 10 of 10 |") == 4
    assert "| 21 | its own | 0.040 | 0.040 | 0.040 | 0.040 |" in text
    assert "| 21 | calibrated | 0.020 | 0.020 | 0.020 | 0.020 |" in text
    assert "| 84 | calibrated | 0.010 | 0.010 | 0.010 | 0.010 |" in text
    assert "| 42 |" not in text                                 # not run: no row
    assert "| train | pointing-small (21 skies) on fast-imaged pointings | 0.5 min | 1 epochs" in text
    assert "| calibrate | pointing-small-84 on `pointing-calib-random` | 0.1 min | |" in text


def test_report_w_term_transfer_rows(tmp_path):
    """WTERM=1: the 84-sky network against the fast imager's w-term images and the network trained on them; the
    latter is calibrated on the w-term calibration skies, and its ratio compares WSClean with its own images."""
    study = tmp_path / "study"
    for run, evaluation, dy in (("pointing-small-84", "eval-transfer-fast", 0.01),
                                ("pointing-small-84", "eval-transfer-fast-w", 0.02),
                                ("pointing-small-84", "eval-transfer-wsclean", 0.03),
                                ("pointing-small-84-w", "eval-transfer-fast-w", 0.04),
                                ("pointing-small-84-w", "eval-transfer-wsclean", 0.05)):
        (study / run / evaluation).mkdir(parents=True)
        (study / run / evaluation / "metrics.json").write_text(json.dumps(metrics([dy] * 10, skies=12)))
        calib = "pointing-calib-random-w" if run.endswith("-w") else "pointing-calib-random"
        (study / run / "calibration.json").write_text(json.dumps({"seconds": 6.0, "dataset": f"/runs/{calib}"}))
    doc = tmp_path / "results.md"
    doc.write_text("<!-- generated:begin -->\n<!-- generated:end -->\n")
    assert report_module().main([str(study), "--doc", str(doc), "--images", str(tmp_path / "images")]) == 0
    lines = doc.read_text().splitlines()
    for label, ratio in (("pointing-small, 84 training skies | ", "3.00"),
                         ("pointing-small, 84 training skies; fast = with the w-term | ", "1.50"),
                         ("pointing-small-w, 84 training skies imaged with the w-term", "1.25")):
        first = lines.index(next(x for x in lines if x.startswith("| " + label)))
        assert lines[first + 2] == "| | | ratio WSClean / fast | " + " | ".join([ratio] * 10) \
            + (" | 0 of 10 |" if ratio == "3.00" else " | 10 of 10 |")
    assert "| calibrate | pointing-small-84-w on `pointing-calib-random-w` | 0.1 min | |" in lines


def test_report_likelihood_calibrated_for_wsclean_is_a_transfer_row_against_the_fast_calibration(tmp_path):
    """RUN-likelihood-for-wsclean (the likelihood calibrated for WSClean's images from calibration skies imaged
    again by WSClean) is evaluated on WSClean's images only; its transfer row compares those with RUN-likelihood's
    fast-imaged ones, next to RUN-likelihood's own WSClean row; it is a calibration variant (trained once)."""
    study = tmp_path / "study"
    for run, evaluation, calibrated in (("pointing-small-wide-likelihood", "eval-transfer-fast", 0.02),
                                        ("pointing-small-wide-likelihood", "eval-transfer-wsclean", 0.2),
                                        ("pointing-small-wide-likelihood-for-wsclean", "eval-transfer-wsclean", 0.025)):
        write_calibrated_evaluation(study, run, evaluation, 0.05, calibrated, "pointing-calib-mid")
    module = report_module()
    runs = module.load(study)
    key = "pointing-small-wide-likelihood-for-wsclean"
    assert runs[key]["test"] == "transfer-wsclean" and runs[key]["extra"] and runs[key]["history"] == []
    assert "calibrated for WSClean's images" in runs[key]["label"]
    rows = module.transfer_rows(runs)
    plain = rows.index(next(r for r in rows if r.startswith(
        "| pointing-small-wide, 84 training skies drawn from the wider prior, the count model's likelihood | "
        "calibrated |")))
    assert rows[plain + 2] == "| | | ratio WSClean / fast | " + " | ".join(["10.00"] * 10) + " | 0 of 10 |"
    imager = rows.index(next(r for r in rows if "WSClean = calibrated for WSClean's images" in r
                             and "| calibrated |" in r))
    assert rows[imager + 2] == "| | | ratio WSClean / fast | " + " | ".join(["1.25"] * 10) + " | 10 of 10 |"
    # and on 24 test skies of drawn shapes, imaged by both (pointing-test-mid24, -wsclean)
    write_calibrated_evaluation(study, "pointing-small-wide-likelihood", "eval-pointing-mid24", 0.05, 0.04,
                                "pointing-calib-mid")
    write_calibrated_evaluation(study, key, "eval-pointing-mid24-wsclean", 0.05, 0.05, "pointing-calib-mid")
    runs = module.load(study)
    assert runs[f"{key}-mid24"]["test"] == "pointing-test-mid24-wsclean"
    rows = module.transfer_rows(runs)
    drawn = rows.index(next(r for r in rows if "24 test skies of drawn shapes" in r and "| calibrated |" in r))
    assert rows[drawn + 2] == "| | | ratio WSClean / fast | " + " | ".join(["1.25"] * 10) + " | 10 of 10 |"


def test_report_reads_the_network_trained_on_both_imagers_as_the_fast_trained_ones(tmp_path):
    """pointing-small-wide-mix (trained with 24 of its skies imaged again by WSClean mixed in, radtrain fit --mix)
    gets the likelihood's transfer rows of pointing-small-wide, with both training sets named."""
    study = tmp_path / "study"
    for evaluation, calibrated in (("eval-transfer-fast", 0.02), ("eval-transfer-wsclean", 0.025)):
        write_calibrated_evaluation(study, "pointing-small-wide-mix-likelihood", evaluation, 0.05, calibrated,
                                    "pointing-calib-mid")
    module = report_module()
    runs = module.load(study)
    key = "pointing-small-wide-mix-likelihood"
    assert runs[key]["train"] == "pointing-wide-84 + pointing-wide24-wsclean" and runs[key]["history"] == []
    assert runs[f"{key}-wsclean"]["test"] == "transfer-wsclean"
    rows = module.transfer_rows(runs)
    mixed = rows.index(next(r for r in rows if r.startswith(
        "| pointing-small-wide-mix, pointing-small-wide's 84 training skies, 24 also imaged by WSClean, the count "
        "model's likelihood | calibrated |")))
    assert rows[mixed + 2] == "| | | ratio WSClean / fast | " + " | ".join(["1.25"] * 10) + " | 10 of 10 |"


def test_report_averages_a_networks_training_seeds_sky_by_sky(tmp_path):
    """pointing-small-wide and its trainings with seeds 2 and 3 (RUN-s2, RUN-s3), each read by its own likelihood
    calibrations: a transfer row per training, and one of the three trainings' counts averaged sky by sky, whose
    |mean dy| is that of the mean counts (errors of opposite sign cancel), not the mean of the |mean dy|s."""
    study = tmp_path / "study"
    true = [[100.0] * 10, [300.0] * 10]

    def evaluation(run, name, dys):
        m = metrics([float(np.mean(dys))] * 10, skies=2)
        m["skies"] = [{"id": i, "true": t, "pred": t, "pred_corrected": [x + dy * np.mean(t) for x in t],
                       "pred_lo68": t, "pred_hi68": t} for i, (t, dy) in enumerate(zip(true, dys))]
        m["per_sky_corrected"] = {"dy": {"mean": [float(np.mean(dys))] * 10, "std": [0.0] * 10}}
        (study / run / name).mkdir(parents=True)
        (study / run / name / "metrics.json").write_text(json.dumps(m))

    # calibrated dy of the two skies, per training: fast, WSClean by the fast calibration, WSClean by its own
    seeds = {"": ((0.03, 0.03), (0.06, 0.06), (0.0, 0.06)), "-s2": ((-0.03, -0.03), (0.0, 0.0), (0.0, 0.0)),
             "-s3": ((0.03, 0.03), (0.0, 0.0), (0.03, -0.03))}
    for seed, (fast, wsclean, imager) in seeds.items():
        run = f"pointing-small-wide{seed}"
        evaluation(f"{run}-likelihood", "eval-transfer-fast", fast)
        evaluation(f"{run}-likelihood", "eval-transfer-wsclean", wsclean)
        evaluation(f"{run}-likelihood-for-wsclean", "eval-transfer-wsclean", imager)
        # the 24 more transfer skies (here 2): fast as on the 12, WSClean by its own calibration 0.06 off with seed 1
        evaluation(f"{run}-likelihood", "eval-transfer-24-fast", fast)
        evaluation(f"{run}-likelihood-for-wsclean", "eval-transfer-24-wsclean", (0.06, 0.06) if not seed else (0, 0))
        # the 24, 24 more and 24 more again test skies of drawn shapes (here 2, 2 and 2): WSClean 0.03 high with
        # every training on the second set and 0.06 on the third
        for drawn, high in (("mid24", 0.0), ("mid24b", 0.03), ("mid24c", 0.06)):
            evaluation(f"{run}-likelihood", f"eval-pointing-{drawn}", (0.0, 0.0))
            evaluation(f"{run}-likelihood-for-wsclean", f"eval-pointing-{drawn}-wsclean", (high, high))
            # the fast images read by the calibration on the for-WSClean calibration's skies: 0.025 high throughout
            evaluation(f"{run}-likelihood-for-fast", f"eval-pointing-{drawn}", (0.025, 0.025))
            # and with one noise realisation per sky: the fast images with WSClean's noise 0.02 high, WSClean's 0.022
            evaluation(f"{run}-likelihood-shared-for-fast", f"eval-pointing-{drawn}", (0.02, 0.02))
            evaluation(f"{run}-likelihood-shared-for-wsclean", f"eval-pointing-{drawn}-wsclean", (0.022, 0.022))
        # and the fixed pairs with one noise realisation per sky (here 2, 2 and 2): fast 0.04 high, WSClean 0.05
        # high on the 12 and the first repeats, 0.08 on the second repeats
        for part, high in (("", 0.05), ("-24", 0.05), ("-24b", 0.08)):
            evaluation(f"{run}-likelihood-shared-for-fast", f"eval-transfer{part}-shared", (0.04, 0.04))
            evaluation(f"{run}-likelihood-shared-for-wsclean", f"eval-transfer{part}-wsclean", (high, high))
    module = report_module()
    runs = module.load(study)
    assert runs["pointing-small-wide-s2-likelihood-wsclean"]["test"] == "transfer-wsclean"
    assert "training seed 3" in runs["pointing-small-wide-s3-likelihood-for-wsclean"]["label"]
    rows = module.transfer_rows(runs)

    def row(start):
        first = rows.index(next(r for r in rows if r.startswith(start)))
        return rows[first:first + 3]

    seed2 = row("| pointing-small-wide, 84 training skies drawn from the wider prior, training seed 2, the count "
                "model's likelihood | calibrated |")
    assert seed2[0].endswith("| " + " | ".join(["0.030"] * 10) + " | |")
    mean = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
               "seeds 1-3, the count model's likelihood | calibrated |")
    assert mean[0].endswith("| " + " | ".join(["0.010"] * 10) + " | |")      # (0.03 - 0.03 + 0.03) / 3
    assert mean[1].endswith("| " + " | ".join(["0.020"] * 10) + " | |")      # (0.06 + 0 + 0) / 3
    assert mean[2].endswith(" | 0 of 10 |")
    imager = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
                 "seeds 1-3, the count model's likelihood; WSClean = calibrated for WSClean's images | calibrated |")
    assert imager[1].endswith("| " + " | ".join(["0.010"] * 10) + " | |")    # skies: 0.01 and 0.01
    assert imager[2].endswith(" | 10 of 10 |")
    # on all 36 skies each training's evaluations are pooled first, then the trainings averaged sky by sky
    pooled = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
                 "seeds 1-3, the count model's likelihood; WSClean = calibrated for WSClean's images, all 36 test "
                 "skies | calibrated |")
    assert pooled[0].endswith("| " + " | ".join(["0.010"] * 10) + " | |")
    assert pooled[1].endswith("| " + " | ".join(["0.015"] * 10) + " | |")    # skies 0.01, 0.01, 0.02, 0.02
    assert row("| pointing-small-wide, 84 training skies drawn from the wider prior, training seed 2, the count "
               "model's likelihood, all 36 test skies; WSClean = calibrated for WSClean's images | calibrated |")
    drawn = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
                "seeds 1-3, the count model's likelihood; WSClean = calibrated for WSClean's images, 48 test skies of "
                "drawn shapes | calibrated |")
    assert drawn[1].endswith("| " + " | ".join(["0.015"] * 10) + " | |")     # skies 0, 0, 0.03, 0.03
    assert drawn[2].endswith(" | 0 of 10 |")                                  # against 0.000 on the fast images
    assert row("| pointing-small-wide, 84 training skies drawn from the wider prior, the count model's likelihood, "
               "48 test skies of drawn shapes; WSClean = calibrated for WSClean's images | calibrated |")
    drawn = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
                "seeds 1-3, the count model's likelihood; WSClean = calibrated for WSClean's images, 72 test skies of "
                "drawn shapes | calibrated |")
    assert drawn[1].endswith("| " + " | ".join(["0.030"] * 10) + " | |")     # skies 0, 0, 0.03, 0.03, 0.06, 0.06
    third = row("| pointing-small-wide, 84 training skies drawn from the wider prior, training seed 3, the count "
                "model's likelihood, 72 test skies of drawn shapes; WSClean = calibrated for WSClean's images | "
                "calibrated |")
    assert third[1].endswith("| " + " | ".join(["0.030"] * 10) + " | |")
    assert runs["pointing-small-wide-s2-likelihood-for-wsclean-mid24c"]["test"] == "pointing-test-mid24c-wsclean"
    # like for like: against the fast images read by the calibration on the same skies, not by RUN-likelihood's
    same = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
               "seeds 1-3, the count model's likelihood; like for like: fast = calibrated on the same skies as "
               "WSClean, 72 test skies of drawn shapes | calibrated |")
    assert same[0].endswith("| " + " | ".join(["0.025"] * 10) + " | |")
    assert same[1].endswith("| " + " | ".join(["0.030"] * 10) + " | |")
    assert same[2].endswith("| " + " | ".join(["1.20"] * 10) + " | 10 of 10 |")
    single = row("| pointing-small-wide, 84 training skies drawn from the wider prior, training seed 3, the count "
                 "model's likelihood, 72 test skies of drawn shapes; like for like: fast = calibrated on the same "
                 "skies as WSClean | calibrated |")
    assert single[2].endswith(" | 10 of 10 |")
    fast = runs["pointing-small-wide-s2-likelihood-for-fast-mid24c"]
    assert fast["test"] == "pointing-test-mid24c" and not fast["history"]
    shared = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
                 "seeds 1-3, the count model's likelihood; like for like, one noise realisation per sky (the fast "
                 "images with WSClean's noise), 72 test skies of drawn shapes | calibrated |")
    assert shared[0].endswith("| " + " | ".join(["0.020"] * 10) + " | |")
    assert shared[1].endswith("| " + " | ".join(["0.022"] * 10) + " | |")
    assert shared[2].endswith("| " + " | ".join(["1.10"] * 10) + " | 10 of 10 |")
    assert row("| pointing-small-wide, 84 training skies drawn from the wider prior, training seed 2, the count "
               "model's likelihood, 72 test skies of drawn shapes; like for like, one noise realisation per sky")
    assert runs["pointing-small-wide-s2-likelihood-shared-for-fast-mid24c"]["test"] == "pointing-test-mid24c-shared"
    fixed = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
                "seeds 1-3, the count model's likelihood; like for like, one noise realisation per sky (the fast "
                "images with WSClean's noise), all 60 fixed-pair test skies | calibrated |")
    assert fixed[0].endswith("| " + " | ".join(["0.040"] * 10) + " | |")
    assert fixed[1].endswith("| " + " | ".join(["0.060"] * 10) + " | |")     # skies 0.05 x 4 and 0.08 x 2
    assert fixed[2].endswith("| " + " | ".join(["1.50"] * 10) + " | 10 of 10 |")
    assert row("| pointing-small-wide, 84 training skies drawn from the wider prior, training seed 3, the count "
               "model's likelihood, all 60 fixed-pair test skies; like for like, one noise realisation per sky")
    first36 = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
                  "seeds 1-3, the count model's likelihood; like for like, one noise realisation per sky (the fast "
                  "images with WSClean's noise), all 36 fixed-pair test skies | calibrated |")
    assert first36[1].endswith("| " + " | ".join(["0.050"] * 10) + " | |")   # the 12 and the first repeats
    assert first36[2].endswith("| " + " | ".join(["1.25"] * 10) + " | 10 of 10 |")
    assert runs["pointing-small-wide-s3-likelihood-shared-for-fast-transfer-24b"]["test"] == "transfer-24b-shared"
    # the averaged skies keep no intervals, and the shift rows take them sky by sky
    pair = ("pointing-small-wide-likelihood", "pointing-small-wide-s2-likelihood")
    averaged = module.averaged([runs[k]["m"] for k in pair])
    assert "per_sky_intervals" not in averaged and "pred_lo68" not in averaged["skies"][0]
    assert any("counts averaged over training seeds 1-3" in r for r in module.shift_rows(runs))
    other = json.loads(json.dumps(runs["pointing-small-wide-s2-likelihood"]["m"]))
    other["skies"][1]["id"] = 7
    with pytest.raises(ValueError, match="not of the same skies"):
        module.averaged([runs["pointing-small-wide-likelihood"]["m"], other])


def test_report_shift_between_imagers_per_sky(tmp_path):
    """The paired shift: per sky, WSClean's dy minus the fast imager's, mean +- standard error over the skies."""
    study = tmp_path / "study"
    true = [[10.0] * 10, [20.0] * 10, [30.0] * 10]
    for evaluation, extra in (("eval-transfer-fast", [0.0, 0.0, 0.0]), ("eval-transfer-wsclean", [1.0, 2.0, 6.0])):
        m = metrics([0.0] * 10, skies=3)
        m["skies"] = [{"id": i, "true": t, "pred": [x + e for x in t], "pred_corrected": t}
                      for i, (t, e) in enumerate(zip(true, extra))]
        (study / "pointing-small-84" / evaluation).mkdir(parents=True)
        (study / "pointing-small-84" / evaluation / "metrics.json").write_text(json.dumps(m))
    doc = tmp_path / "results.md"
    doc.write_text("<!-- generated:begin -->\n<!-- generated:end -->\n")
    assert report_module().main([str(study), "--doc", str(doc), "--images", str(tmp_path / "images")]) == 0
    text = doc.read_text()
    # dy per sky = extra / mean true: 0.1, 0.1, 0.2 -> mean 0.1333, standard error 0.0577 / sqrt(3)
    assert "| pointing-small, 84 training skies | its own | 3 | +0.1333 +- 0.0333 | +0.1333 +- 0.0333 |" in text
    assert "| pointing-small, 84 training skies | calibrated | 3 | +0.0000 +- 0.0000 | +0.0000 +- 0.0000 |" in text


def test_science_script_refuses_an_unknown_part_or_stage_before_any_work(tmp_path):
    """A typo in PART or STAGES stops scripts/science.sh at once with the cause, before set-up or simulation."""
    import os
    import subprocess
    for env, message in (({"PART": "pointing"}, "PART=pointing: expected all, mosaics, pointings or wide"),
                         ({"STAGES": "simulate trian"}, "unknown stage 'trian'"),
                         ({"MENDED": "yes"}, "MENDED=yes: expected 0, 1 (9 x 9 w-term nodes) or exact"),
                         ({"PLAN": "yes"}, "PLAN=yes: expected 0 or 1"),
                         ({"PLAN": "1", "PLAN_CALIBRATION": str(tmp_path / "model.json")},
                          f"PLAN_CALIBRATION={tmp_path / 'model.json'}: no such file"),
                         ({"PLAN": "1", "PLAN_TRAIN_CALIBRATION": str(tmp_path)},
                          f"PLAN_TRAIN_CALIBRATION={tmp_path}: not a radtrain run (no run.json)")):
        out = tmp_path / "study"
        run = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                             env={**os.environ, "OUT": str(out), **env}, timeout=60)
        assert run.returncode == 2, run.stderr
        assert message in run.stderr
        assert not out.exists()                                  # nothing made


def test_science_script_plan_prices_what_is_left_to_simulate_and_makes_nothing(tmp_path):
    """PLAN=1 prices each dataset the simulate stage would make (radsim plan --resume of OUT/NAME on NPROCS ranks,
    each imager's cost included), then each training of the train stage on its planned dataset's splits (radtrain
    plan --resume), and their sums, and makes nothing; PLAN_CALIBRATION plans from a calibration of the machines it
    will run on. (What is left of a dataset or a run already begun: tests/test_scaling.py,
    tests/test_radtrain_fit.py.)"""
    import os
    import subprocess
    import sys

    from radsim.studies import scaling
    out = tmp_path / "study"
    env = {**os.environ, "OUT": str(out), "PLAN": "1", "MENDED": "exact", "PART": "pointings", "NPROCS": "2",
           "ONLY": "pointing-wide-84-exact transfer-exact transfer-wsclean-linear pointing-small-wide-exact"}

    def plan(**extra):
        run = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                             env={**env, **extra}, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr
        lines = [line.split("] ", 1)[1] for line in run.stdout.splitlines() if line.startswith("[science ")]
        assert not any(line.startswith(("simulate ", "train ", "evaluate ")) for line in lines), lines
        assert not out.exists()                                  # nothing made
        each = {m[1]: (int(m[2]), float(m[3]), m[4]) for m in (
            re.match(r"plan (\S+): (\d+) of \d+ realisations left, ([\d.]+) h on 2 ranks \((.*)\)$", line)
            for line in lines) if m}
        total = [line for line in lines if line.startswith("plan: ")]
        assert len(total) == 1, lines
        trains = [line for line in lines if line.startswith("plan train ")]
        return each, float(total[0].split()[1]), total[0], trains
    each, total, line, trains = plan()
    exact = "fast, exact major cycle, visibility noise"
    assert list(each) == ["pointing-wide-84-exact", "transfer-exact", "transfer-wsclean-linear"]
    assert each["pointing-wide-84-exact"][::2] == (84, exact) and each["transfer-exact"][::2] == (12, exact)
    assert each["transfer-wsclean-linear"][::2] == (12, "wsclean")
    assert each["transfer-wsclean-linear"][1] > 2 * each["transfer-exact"][1] > 0       # WSClean's w-gridding
    assert total == pytest.approx(sum(h for _, h, _ in each.values()), abs=0.02)
    assert "calibration: the built-in one" in line and "calibration and evaluation are not priced" in line
    # the network trained on pointing-wide-84-exact, not yet made: its 68 training and 16 validation pointings of
    # 64 tiles, 30 epochs of seed-small at the built-in rates, as radtrain plan gives them
    proc = subprocess.run([sys.executable, "-m", "radtrain.cli", "plan", str(ROOT / "configs/train-seed-small.toml"),
                           "--tiles", f"{68 * 64},{16 * 64}", "--json"], capture_output=True, text=True, check=True)
    hours = json.loads(proc.stdout)["wall_s"] / 3600
    assert trains == [f"plan train pointing-small-wide-exact: 30 of 30 epochs left on pointing-wide-84-exact, "
                      f"{hours:.2f} h on 1 rank"], trains
    assert f"and {hours:.2f} h on 1 rank to train what is left (calibration: the built-in seed-small" in line
    # a calibration with an hour more set-up per rank at emu-seed's 2560^2 pixels: 0.16 h more per dataset at 1024^2
    model = tmp_path / "model.json"
    model.write_text(json.dumps({**scaling.DEFAULT_MODEL.to_dict(),
                                 "sim_t_setup_s": scaling.DEFAULT_MODEL.sim_t_setup_s + 3600.0}))
    _, slower, line, _ = plan(PLAN_CALIBRATION=str(model))
    assert slower - total == pytest.approx(3 * (1024 / 2560) ** 2, abs=0.02)
    assert f"calibration: {model}" in line


def test_science_script_evaluates_a_dataset_only_once_it_is_complete_and_only_again_when_out_of_date(tmp_path):
    """A test set still being made (by another science.sh, or killed) is not read: evaluating it would score the
    run on the skies made so far under the full set's name. Here the run's weights are a stand-in, so radtrain
    refuses the one evaluation started, after science.sh named it. An evaluation already made and newer than its
    inputs is not made again."""
    import os
    import subprocess
    run = "pointing-small-wide-likelihood-shared-for-fast"
    (tmp_path / run).mkdir()
    (tmp_path / run / "best.weights.h5").touch()
    for name, status in (("transfer-shared", "running"), ("transfer-24-shared", "complete")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                         env={**os.environ, "OUT": str(tmp_path), "ONLY": run, "PRIORS": "1", "PART": "pointings",
                              "STAGES": "evaluate"}, timeout=300)
    assert f"evaluate {run} on transfer-24-shared" in out.stdout
    assert "not a radtrain run directory" in out.stdout + out.stderr
    assert f"evaluate {run} on transfer-shared" not in out.stdout
    # an evaluation newer than the run's weights and the test set is kept, unless REDO=1
    (tmp_path / run / "eval-transfer-24-shared").mkdir()
    (tmp_path / run / "eval-transfer-24-shared" / "metrics.json").write_text("{}")
    env = {**os.environ, "OUT": str(tmp_path), "ONLY": run, "PRIORS": "1", "PART": "pointings", "STAGES": "evaluate"}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert f"evaluate {run} on transfer-24-shared: up to date" in out.stdout, out.stdout
    assert "not a radtrain run directory" not in out.stdout + out.stderr
    out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                         env={**env, "REDO": "1"}, timeout=300)
    assert "not a radtrain run directory" in out.stdout + out.stderr


def test_edge_coverage_groups_test_skies_by_their_place_in_the_calibration_prior(tmp_path):
    """Skies are grouped by their least distance, in box widths, to the edge of the calibration skies' prior box
    (log-uniform S0, uniform alpha, read from the calibration dataset's manifest); the coverage per group is the
    fraction of its skies inside their intervals. Here every sky within a tenth of the edge misses its 68% interval
    and every other one is inside it: the table must say 0.00 for the outer tenth and 1.00 elsewhere."""
    study = tmp_path / "study"
    (study / "pointing-calib-random").mkdir(parents=True)
    (study / "pointing-calib-random" / "manifest.json").write_text(json.dumps({"config": {"realisations": {
        "mode": "random", "priors": {"s0_jy": {"loguniform": [5e-6, 5e-5], "uniform": None},
                                     "alpha": {"uniform": [-0.6, 0.3], "loguniform": None}}}}}))
    rng = np.random.default_rng(1)
    skies, true = [], np.full(10, 100.0)
    for i in range(60):
        s0, alpha = 10 ** rng.uniform(np.log10(5e-6), np.log10(5e-5)), rng.uniform(-0.6, 0.3)
        q = min(np.log(s0 / 5e-6) / np.log(10), (alpha + 0.6) / 0.9)
        d = min(q, 1 - np.log(s0 / 5e-6) / np.log(10), 1 - (alpha + 0.6) / 0.9)
        hit = d >= 0.1
        lo68, hi68 = (true * 0.9, true * 1.1) if hit else (true * 1.1, true * 1.2)
        skies.append({"id": i, "modifier": {"name": "seed", "s0_jy": s0, "alpha": alpha}, "n_tiles": 64,
                      "true": true.tolist(), "pred": true.tolist(), "pred_corrected": true.tolist(),
                      "pred_lo68": lo68.tolist(), "pred_hi68": hi68.tolist(),
                      "pred_lo95": (true * 0.5).tolist(), "pred_hi95": (true * 2).tolist()})
    m = metrics([0.0] * 10, skies=60)
    m["skies"] = skies
    m["per_sky_intervals"] = {"n_calibration_skies": 96, "n_skies": 60,
                              "68": {"per_bin": [0.5] * 10}, "95": {"per_bin": [1.0] * 10}}
    (study / "pointing-small-84" / "eval-pointing-random").mkdir(parents=True)
    (study / "pointing-small-84" / "eval-pointing-random" / "metrics.json").write_text(json.dumps(m))
    (study / "pointing-small-84" / "calibration.json").write_text(json.dumps({"dataset":
                                                                           "/runs/pointing-calib-random"}))
    module = report_module()
    rows = module.edge_rows(module.load(study), study)[2:]          # the header and rule first
    outer = next(r for r in rows if "outer tenth" in r)
    inner = [r for r in rows if "0.1-0.2" in r or "inner 60%" in r]
    assert "| 0.00 (0.00-0.00) | 1.00 (1.00-1.00) |" in outer
    assert inner and all("| 1.00 (1.00-1.00) | 1.00 (1.00-1.00) |" in r for r in inner)
    n = [int(r.split("|")[4]) for r in rows if ", at " not in r]
    assert sum(n) == 60
    # the outer tenth once more by the edge each sky lies nearest: every such sky in exactly one, all missing
    sides = [r for r in rows if "| 0-0.1, at " in r]
    assert {r.split("|")[3].strip() for r in sides} <= {"0-0.1, at S0's low end", "0-0.1, at S0's high end",
                                                        "0-0.1, at alpha's low end", "0-0.1, at alpha's high end"}
    assert len(sides) >= 2 and sum(int(r.split("|")[4]) for r in sides) == int(outer.split("|")[4])
    assert all("| 0.00 (0.00-0.00) |" in r for r in sides)
    box = {"s0_jy": (5e-6, 5e-5, True), "alpha": (-0.6, 0.3, False)}
    assert module.nearest_edge({"s0_jy": 4.6e-5, "alpha": -0.15}, box) == "S0's high end"
    assert module.nearest_edge({"s0_jy": 1.6e-5, "alpha": -0.58}, box) == "alpha's low end"
    # a network calibrated on skies of fixed pairs (no prior in its calibration set's manifest): no rows
    (study / "pointing-calib-random" / "manifest.json").write_text(json.dumps({"config": {"realisations": {
        "mode": "list"}}}))
    assert module.edge_rows(module.load(study), study) == []


def test_report_pools_test_sets_sky_by_sky(tmp_path):
    """The 12 test skies and the 24 more are pooled per sky: |mean dy| over all 36 (weighted by skies, not the mean
    of the two sets' means), the WSClean/fast ratio of those, and the per-sky shift between the imagers, which
    pairs each sky only with itself (the two sets' sky ids overlap)."""
    study = tmp_path / "study"
    true = [100.0] * 10

    def evaluation(name, dy, n):
        m = metrics([dy] * 10, skies=n)
        m["skies"] = [{"id": i, "true": true, "pred": [t + 100.0 * dy for t in true],
                       "pred_corrected": [t + 50.0 * dy for t in true]} for i in range(n)]
        (study / "pointing-small-84" / name).mkdir(parents=True)
        (study / "pointing-small-84" / name / "metrics.json").write_text(json.dumps(m))

    evaluation("eval-transfer-fast-w", 0.01, 12)
    evaluation("eval-transfer-24-fast-w", 0.04, 24)
    evaluation("eval-transfer-wsclean", 0.02, 12)
    evaluation("eval-transfer-24-wsclean", 0.05, 24)
    module = report_module()
    runs = module.load(study)
    rows = module.transfer_rows(runs)
    first = rows.index(next(r for r in rows if r.startswith("| pointing-small, 84 training skies, all 36 test skies")))
    assert rows[first].endswith("| " + " | ".join(["0.030"] * 10) + " | |")          # (12 x 0.01 + 24 x 0.04) / 36
    assert rows[first + 1].endswith("| " + " | ".join(["0.040"] * 10) + " | |")
    assert rows[first + 2] == "| | | ratio WSClean / fast | " + " | ".join(["1.33"] * 10) + " | 10 of 10 |"
    shift = next(r for r in module.shift_rows(runs) if r.startswith("| pointing-small, 84 training skies, all 36"))
    assert "| its own | 36 | +0.0100 +- 0.0000 | +0.0100 +- 0.0000 |" in shift


def test_report_pools_the_likelihood_runs_over_all_60_transfer_skies(tmp_path):
    """RUN-likelihood on the fast-imaged transfer sets (12 + 24 + 24 more again) and RUN-likelihood-for-wsclean on
    WSClean's images of the same skies are pooled sky by sky into 'all 60': the transfer rows compare the 60-sky
    means (weighted by skies), and the coverage rows count the 60 skies' hits."""
    study = tmp_path / "study"
    true = [100.0] * 10

    def evaluation(run, name, dy, n, hits):
        m = metrics([dy] * 10, skies=n)
        m["skies"] = [{"id": i, "true": true, "pred": true, "pred_corrected": [t + 100.0 * dy for t in true],
                       "pred_lo68": [90.0 if i < hits else 101.0] * 10, "pred_hi68": [110.0] * 10,
                       "pred_lo95": [50.0] * 10, "pred_hi95": [200.0] * 10} for i in range(n)]
        m["per_sky_corrected"] = {"dy": {"mean": [dy] * 10, "std": [0.0] * 10}}
        m["per_sky_intervals"] = {"n_calibration_skies": 144, "n_skies": n, "68": {"per_bin": [hits / n] * 10},
                                  "95": {"per_bin": [1.0] * 10}}
        (study / run / name).mkdir(parents=True)
        (study / run / name / "metrics.json").write_text(json.dumps(m))

    fast, imager = "pointing-small-wide-likelihood", "pointing-small-wide-likelihood-for-wsclean"
    for part, n, f, w, hits in (("", 12, 0.01, 0.02, 12), ("-24", 24, 0.02, 0.01, 12), ("-24b", 24, 0.03, 0.06, 18)):
        evaluation(fast, f"eval-transfer{part}-fast", f, n, hits)
        evaluation(imager, f"eval-transfer{part}-wsclean", w, n, hits)
    module = report_module()
    runs = module.load(study)
    assert runs[f"{imager}-60"]["m"]["n_skies"] == 60 and runs[f"{fast}-36"]["m"]["n_skies"] == 36
    assert runs[f"{imager}-60"]["test"] == "transfer-wsclean + transfer-24-wsclean + transfer-24b-wsclean"
    rows = module.transfer_rows(runs)
    first = rows.index(next(r for r in rows if r.startswith(
        "| pointing-small-wide, 84 training skies drawn from the wider prior, the count model's likelihood, all 60 "
        "test skies; WSClean = calibrated for WSClean's images | calibrated |")))
    # (12 x 0.01 + 24 x 0.02 + 24 x 0.03) / 60 and (12 x 0.02 + 24 x 0.01 + 24 x 0.06) / 60
    assert rows[first].endswith("| " + " | ".join(["0.022"] * 10) + " | |")
    assert rows[first + 1].endswith("| " + " | ".join(["0.032"] * 10) + " | |")
    coverage = [r for r in module.coverage_rows(runs) if "on all 60 WSClean-imaged transfer pointings |" in r]
    assert coverage[0].endswith("| 68% | 144 | 60 | " + " | ".join(["0.70"] * 10) + " | 10 of 10 |")   # 42 of 60


def test_range_rows_split_coverage_by_where_the_network_count_lies_in_the_calibration_range(tmp_path):
    """Sky-bins are split by where the network's count per tile lies in the calibration skies' range (read from the
    run's calibration.json): inside, in its outer tenth, beyond. Here only the inside ones hit their intervals."""
    study = tmp_path / "study"
    run = study / "pointing-small-84"
    (run / "eval-pointing-test").mkdir(parents=True)
    (run / "calibration.json").write_text(json.dumps({
        "u_range": [[0.0] * 10, [1.0] * 10], "floor": [1e-3] * 10, "alpha": [0.0] * 10, "beta": [1.0] * 10}))
    n, true = 10, [100.0] * 10
    skies = []
    for i, u in enumerate([0.5] * 30 + [0.05] * 6 + [1.5] * 4):      # 30 inside, 6 at the edge, 4 beyond
        hit = u == 0.5
        skies.append({"id": i, "n_tiles": n, "true": true, "pred": [n * np.exp(u)] * 10,
                      "pred_lo68": [90.0 if hit else 101.0] * 10, "pred_hi68": [110.0 if hit else 120.0] * 10,
                      "pred_lo95": [50.0] * 10, "pred_hi95": [200.0] * 10})
    m = metrics([0.0] * 10, skies=40)
    m["skies"] = skies
    m["per_sky_intervals"] = {"n_calibration_skies": 96, "n_skies": 40, "68": {"per_bin": [0.75] * 10},
                              "95": {"per_bin": [1.0] * 10}}
    (run / "eval-pointing-test" / "metrics.json").write_text(json.dumps(m))
    module = report_module()
    rows = module.range_rows(module.load(study))[2:]
    assert rows[0].endswith("| 68% | 300, 1.00 | 60, 0.00 | 40, 0.00 |")
    assert rows[1].endswith("| 95% | 300, 1.00 | 60, 1.00 | 40, 1.00 |")


def drawn_prior_sets(study, sets):
    """Datasets (name, S0 range in Jy, alpha range) whose skies' (S0, alpha) were drawn from a box, as their
    manifests record it."""
    for name, s0, alpha in sets:
        (study / name).mkdir(parents=True)
        (study / name / "manifest.json").write_text(json.dumps({"config": {"realisations": {
            "mode": "random", "priors": {"s0_jy": {"loguniform": s0}, "alpha": {"uniform": alpha}}}}}))


def covered_skies(s0, n=40):
    """Metrics of n test skies of one (S0, alpha = -0.15), each inside its 68% and 95% intervals."""
    true = [100.0] * 10
    m = metrics([0.0] * 10, skies=n)
    m["skies"] = [{"id": i, "modifier": {"name": "seed", "s0_jy": s0, "alpha": -0.15}, "n_tiles": 64,
                   "true": true, "pred": true, "pred_corrected": true, "pred_lo68": [90.0] * 10,
                   "pred_hi68": [110.0] * 10, "pred_lo95": [50.0] * 10, "pred_hi95": [200.0] * 10}
                  for i in range(n)]
    m["per_sky_intervals"] = {"n_calibration_skies": 96, "n_skies": n, "68": {"per_bin": [1.0] * 10},
                              "95": {"per_bin": [1.0] * 10}}
    return m


def test_network_trained_on_the_wider_prior_is_placed_in_the_prior_it_was_calibrated_on(tmp_path):
    """pointing-small-wide is calibrated on the wider prior (pointing-calib-mid, S0 3.5e-6..7e-5 Jy, alpha
    -0.7..0.4), so its test skies are placed in that box, not in the training box of pointing-calib-random: 40
    skies with S0 = 5e-6 Jy, on the training box's edge, lie 0.12 box widths inside the wider one."""
    study = tmp_path / "study"
    drawn_prior_sets(study, (("pointing-calib-random", [5e-6, 5e-5], [-0.6, 0.3]),
                             ("pointing-calib-mid", [3.5e-6, 7e-5], [-0.7, 0.4])))
    m = covered_skies(5e-6)
    for run, evaluation, calib in (("pointing-small-wide", "eval-pointing-mid", "pointing-calib-mid"),
                                   ("pointing-small-84", "eval-pointing-test", "pointing-calib-random")):
        (study / run / evaluation).mkdir(parents=True)
        (study / run / evaluation / "metrics.json").write_text(json.dumps(m))
        (study / run / "calibration.json").write_text(json.dumps({"dataset": f"/runs/{calib}"}))
    module = report_module()
    assert module.calibration_set(study / "pointing-small-wide") == "pointing-calib-mid"
    rows = module.edge_rows(module.load(study), study)[2:]
    wide = [r for r in rows if r.startswith("| pointing-small-wide (84 skies drawn from the wider prior) on 144")]
    box = [r for r in rows if r.startswith("| pointing-small (84 skies) on 48")]
    assert len(wide) == 1 and "| 0.1-0.2 | 40 |" in wide[0]
    assert len(box) == 2 and "| 0-0.1 (the outer tenth) | 40 |" in box[0]
    assert "| 0-0.1, at S0's low end | 40 |" in box[1]


def test_network_trained_on_a_wider_still_prior_is_placed_in_the_prior_it_was_calibrated_on(tmp_path):
    """pointing-small-xwide learns skies from a prior wider than the one it is calibrated and tested on
    (pointing-xwide-126: S0 2.5e-6..1e-4 Jy, alpha -0.8..0.5). Its test skies are placed in its calibration skies'
    box (pointing-calib-mid), not in its training skies': 40 skies with S0 = 3.7e-6 Jy lie 0.02 box widths inside
    the calibration box (its outer tenth) but 0.11 inside the training box. Both it and pointing-small-wide are also
    reported with a curved line and conformal intervals (RUN-conformal) and read by the count model's likelihood
    (RUN-likelihood), as calibration variants: coverage rows, no per-bin tables."""
    study = tmp_path / "study"
    drawn_prior_sets(study, (("pointing-calib-mid", [3.5e-6, 7e-5], [-0.7, 0.4]),
                             ("pointing-xwide-126", [2.5e-6, 1e-4], [-0.8, 0.5])))
    m = covered_skies(3.7e-6)
    m["per_sky_corrected"] = m["per_sky"]
    runs = ("pointing-small-wide", "pointing-small-xwide", "pointing-small-wide-conformal",
            "pointing-small-xwide-conformal", "pointing-small-wide-likelihood", "pointing-small-xwide-likelihood")
    for run in runs:
        (study / run / "eval-pointing-mid").mkdir(parents=True)
        (study / run / "eval-pointing-mid" / "metrics.json").write_text(json.dumps(m))
        (study / run / "calibration.json").write_text(json.dumps({"dataset": "/runs/pointing-calib-mid"}))
        (study / run / "history.csv").write_text("epoch,loss,val_loss,train_s,validation_s\n0,1.0,1.1,5.0,1.0\n")
    module = report_module()
    loaded = module.load(study)
    keys = [f"{run}-mid144" for run in runs]
    assert all(k in loaded for k in keys)
    assert loaded["pointing-small-xwide-mid144"]["train"] == "pointing-xwide-126"
    assert loaded["pointing-small-xwide-conformal-mid144"]["label"] == (
        "pointing-small-xwide (126 skies drawn from a prior wider than the calibration prior), curved line, "
        "conformal intervals, on 144 pointings of shapes drawn from the wider prior")
    assert loaded["pointing-small-wide-likelihood-mid144"]["label"] == (
        "pointing-small-wide (84 skies drawn from the wider prior), the count model's likelihood (radtrain calibrate "
        "--likelihood), on 144 pointings of shapes drawn from the wider prior")
    assert [loaded[k]["extra"] for k in keys] == [False, False, True, True, True, True]
    assert all(loaded[k]["history"] == [] for k in keys[2:])          # calibration variants: trained once
    rows = module.edge_rows(loaded, study)[2:]
    assert len(rows) == 12 and all("| 0-0.1 (the outer tenth) | 40 |" in r for r in rows[::2])
    assert all("| 0-0.1, at S0's low end | 40 |" in r for r in rows[1::2])
    coverage = module.coverage_rows(loaded)
    assert sum("conformal intervals" in r for r in coverage) == 4     # 68% and 95% each
    assert sum("the count model's likelihood" in r for r in coverage) == 4


def test_mosaic_networks_on_more_test_mosaics_pooled_and_placed_in_the_test_skies_box(tmp_path):
    """A mosaic network's evaluations on the 24 more test mosaics and on 48 of drawn shapes get goal and coverage
    rows (no per-bin tables); the 12 and the 24 are pooled sky by sky into 'all 36 test mosaics', whose coverage is
    the fraction of the 36 skies inside their intervals (here 12 hit, 24 miss: 0.33); and as the mosaics'
    calibration skies are listed pairs, the drawn skies are placed in the box they were drawn from."""
    study = tmp_path / "study"
    (study / "test-random-fast").mkdir(parents=True)
    (study / "test-random-fast" / "manifest.json").write_text(json.dumps({"runs": [], "realisations": [], "config": {
        "realisations": {"mode": "random", "priors": {"s0_jy": {"loguniform": [5e-6, 5e-5]},
                                                      "alpha": {"uniform": [-0.6, 0.3]}}}}}))
    true = [100.0] * 10

    def evaluation(name, n, hit, s0=5e-6):
        lo, hi = (90.0, 110.0) if hit else (101.0, 120.0)
        m = metrics([0.01] * 10, skies=n)
        m["skies"] = [{"id": i, "modifier": {"name": "seed", "s0_jy": s0, "alpha": -0.15}, "n_tiles": 64,
                       "true": true, "pred": [101.0] * 10, "pred_corrected": [101.0] * 10,
                       "pred_lo68": [lo] * 10, "pred_hi68": [hi] * 10, "pred_lo95": [50.0] * 10,
                       "pred_hi95": [200.0] * 10} for i in range(n)]
        m["per_sky_intervals"] = {"n_calibration_skies": 24, "n_skies": n,
                                  "68": {"per_bin": [1.0 if hit else 0.0] * 10}, "95": {"per_bin": [1.0] * 10}}
        m["per_sky_corrected"] = m["per_sky"]
        (study / "fast-small" / name).mkdir(parents=True)
        (study / "fast-small" / name / "metrics.json").write_text(json.dumps(m))

    model = {"u_range": [[0.0] * 10, [10.0] * 10], "floor": [1e-3] * 10, "alpha": [0.0] * 10, "beta": [1.0] * 10}
    evaluation("eval-test", 12, True)
    (study / "fast-small" / "calibration.json").write_text(json.dumps({**model, "dataset": "/runs/calib-fast"}))
    evaluation("eval-test-24", 24, False)
    evaluation("eval-test-random", 48, True)
    module = report_module()
    runs = module.load(study)
    assert {"fast-small", "fast-small-24", "fast-small-random48", "fast-small-36"} <= set(runs)
    pooled = [r for r in module.coverage_rows(runs) if ", on all 36 test mosaics |" in r]
    assert len(pooled) == 2 and "| 68% | 24 | 36 | " + " | ".join(["0.33"] * 10) + " | 0 of 10 |" in pooled[0]
    assert "| 95% | 24 | 36 | " + " | ".join(["1.00"] * 10) + " | 10 of 10 |" in pooled[1]
    assert any(r.startswith("| seed-small (asinh, width input, flips), on all 36 test mosaics, calibrated | 36 |")
               for r in module.goal_rows(runs))
    edge = module.edge_rows(runs, study)[2:]
    assert len(edge) == 2 and "48 mosaics of drawn shapes | 48 | 0-0.1 (the outer tenth) | 48 |" in edge[0]
    text = module.generate(study, tmp_path / "images")
    assert text.count("**seed-small (asinh, width input, flips)") == 2      # bin tables: eval-test and calibrated
    # the same network calibrated on mosaics of drawn shapes (PRIORS=1: RUN-drawn) is placed in their box instead,
    # here a wider one in which S0 = 5e-6 Jy lies 0.12 box widths inside
    (study / "calib-random-fast").mkdir()
    (study / "calib-random-fast" / "manifest.json").write_text(json.dumps({"config": {"realisations": {
        "mode": "random", "priors": {"s0_jy": {"loguniform": [3.5e-6, 7e-5]}, "alpha": {"uniform": [-0.7, 0.4]}}}}}))
    (study / "fast-small-drawn").mkdir()
    (study / "fast-small" / "eval-test-random").rename(study / "fast-small-drawn" / "eval-test-random")
    (study / "fast-small-drawn" / "calibration.json").write_text(json.dumps({**model,
                                                                          "dataset": "/runs/calib-random-fast"}))
    assert module.calibration_set(study / "fast-small-drawn") == "calib-random-fast"
    edge = module.edge_rows(module.load(study), study)[2:]
    assert len(edge) == 1 and "calibrated on 96 mosaics of drawn shapes, on 48 mosaics of drawn shapes | 48 | " \
        "0.1-0.2 | 48 |" in edge[0]
    # calibrated on the listed and the drawn mosaics together (RUN-union): both named, placed in the drawn ones' box
    (study / "fast-small-union").mkdir()
    (study / "fast-small-drawn" / "eval-test-random").rename(study / "fast-small-union" / "eval-test-random")
    (study / "fast-small-union" / "calibration.json").write_text(json.dumps({**model, "sources": [
        {"dataset": "/runs/calib-fast"}, {"dataset": "/runs/calib-random-fast"}]}))
    assert module.calibration_set(study / "fast-small-union") == "calib-fast + calib-random-fast"
    edge = module.edge_rows(module.load(study), study)[2:]
    assert len(edge) == 1 and "calibrated on the 24 listed and 96 drawn mosaics, on 48 mosaics of drawn shapes " \
        "| 48 | 0.1-0.2 | 48 |" in edge[0]


def test_calibration_variants_get_goal_and_coverage_rows_but_no_bin_tables(tmp_path):
    """A network calibrated once more with a curved line (PRIORS=1: RUN-curved) is reported in the goal and
    coverage tables under its own label, without per-bin tables or a second training history."""
    study = tmp_path / "study"
    for name in ("fast-small", "fast-small-curved", "fast-small-conformal"):
        m = metrics([0.02 if name == "fast-small" else 0.01] * 10, skies=12)
        m["per_sky_intervals"] = {"n_calibration_skies": 24, "n_skies": 12, "68": {"per_bin": [0.67] * 10},
                                  "95": {"per_bin": [1.0] * 10}}
        m["per_sky_corrected"] = m["per_sky"]
        (study / name / "eval-test").mkdir(parents=True)
        (study / name / "eval-test" / "metrics.json").write_text(json.dumps(m))
        (study / name / "history.csv").write_text("epoch,loss,val_loss,train_s,validation_s\n0,1.0,1.1,5.0,1.0\n")
    module = report_module()
    runs = module.load(study)
    assert runs["fast-small-curved"]["extra"] and not runs["fast-small"]["extra"]
    assert runs["fast-small-curved"]["history"] == [] and runs["fast-small"]["history"]
    assert runs["fast-small-conformal"]["extra"] and runs["fast-small-conformal"]["history"] == []
    assert runs["fast-small-conformal"]["label"].endswith("curved line, conformal intervals, calibrated on 96 mosaics "
                                                         "of drawn shapes")
    goals = [r for r in module.goal_rows(runs) if "curved calibration line" in r]
    assert [r.split(" | ")[0] for r in goals] == ["| seed-small (asinh, width input, flips), curved calibration line",
                                                  "| seed-small (asinh, width input, flips), curved calibration line, "
                                                  "calibrated"]
    assert sum("curved calibration line" in r for r in module.coverage_rows(runs)) == 2
    text = module.generate(study, tmp_path / "images")
    assert "**seed-small (asinh, width input, flips), curved" not in text
    assert sum("conformal intervals" in r for r in module.coverage_rows(runs)) == 2
    assert text.count("**seed-small (asinh, width input, flips)") == 2


def test_split_rows_pool_the_drawn_skies_and_show_conformal_intervals_holding_where_normal_ones_do_not(tmp_path):
    """A network calibrated with conformal intervals on 96 skies of drawn shapes and tested on 48 more (PRIORS=1:
    RUN-conformal): the two pooled and split at random, the conformal intervals cover at their nominal rate
    (ceil(97 p) / 97: 0.68, 0.96) on average over the splits whatever the residuals, the normal ones do not with
    heavy-tailed residuals (most skies err by 0.05 in log, a fifth by 0.3: 0.87 at 68%); a 48-sky test set's
    coverage varies from split to split by about the binomial sqrt(0.68 x 0.32 / 48) = 0.067."""
    rng = np.random.default_rng(5)
    u = rng.uniform(np.log(5), np.log(50), (144, 10))
    v = 0.2 + 1.3 * u + rng.normal(0.0, 1.0, u.shape) * np.where(rng.uniform(size=(144, 1)) < 0.2, 0.3, 0.05)
    study = tmp_path / "study"
    run = study / "fast-small-conformal"
    (run / "eval-test-random").mkdir(parents=True)
    (run / "calibration.json").write_text(json.dumps({
        "n_skies": 96, "curved": True, "floor": [1e-3] * 10, "sky_log_pred": u[:96].tolist(),
        "sky_log_true": v[:96].tolist()}))
    m = metrics([0.01] * 10, skies=48)
    m["skies"] = [{"n_tiles": 300, "pred": (300 * np.exp(a)).tolist(), "true": (300 * np.exp(b)).tolist()}
                  for a, b in zip(u[96:], v[96:])]
    (run / "eval-test-random" / "metrics.json").write_text(json.dumps(m))
    module = report_module()
    runs = module.load(study)
    assert runs["fast-small-conformal-random48"]["test"] == "test-random-fast"
    rows = {tuple(c.strip() for c in r.split("|")[2:4]): r.split("|") for r in module.split_rows(runs)[2:]}
    assert set(rows) == {(method, level) for method in ("normal", "conformal") for level in ("68%", "95%")}
    assert rows["conformal", "68%"][4].strip() == "96 + 48"
    mean = {key: np.array(r[5:15], dtype=float) for key, r in rows.items()}
    spread = {key: float(r[15]) for key, r in rows.items()}
    assert np.all(np.abs(mean["conformal", "68%"] - 0.68) < 0.02), mean
    assert np.all(np.abs(mean["conformal", "95%"] - 0.96) < 0.015), mean
    assert np.all(mean["normal", "68%"] > 0.8)
    assert 0.05 < spread["conformal", "68%"] < 0.1
    assert rows["conformal", "68%"][16].strip() == "10 of 10" and rows["normal", "68%"][16].strip() == "0 of 10"


def wide_study(tmp_path, evaluations, runs=("wide-small", "wide-small-conformal")):
    """A PART=wide study: ``runs`` (wide-small and wide-small-conformal calibrated on 48 skies of calib-mid-fast,
    wide-small-96-conformal on those and 48 of calib-mid2-fast), with ``evaluations`` ((directory, skies), ...);
    the drawn test sets' skies all at S0 = 5e-6 Jy, alpha -0.15."""
    study = tmp_path / "study"
    for name in ("calib-mid-fast", "calib-mid2-fast", "test-mid-fast", "test-mid2-fast"):
        (study / name).mkdir(parents=True)
        (study / name / "manifest.json").write_text(json.dumps({"runs": [], "realisations": [], "config": {
            "realisations": {"mode": "random", "priors": {"s0_jy": {"loguniform": [3.5e-6, 7e-5]},
                                                          "alpha": {"uniform": [-0.7, 0.4]}}}}}))
    rng = np.random.default_rng(3)
    u = rng.uniform(np.log(5), np.log(50), (144, 10))
    v = 0.1 + 1.2 * u + rng.normal(0.0, 0.1, u.shape)
    u2 = rng.uniform(np.log(5), np.log(50), (48, 10))              # the 48 skies of calib-mid2-fast
    v2 = 0.1 + 1.2 * u2 + rng.normal(0.0, 0.1, u2.shape)
    from radtrain import uncertainty
    for run in runs:
        (study / run).mkdir()
        (study / run / "history.csv").write_text("epoch,loss,val_loss,train_s,validation_s\n0,1.0,1.1,5.0,1.0\n")
        # the calibration radtrain calibrate writes, fitted on the first 48 skies (each as 4 tiles), for
        # RUN-96-conformal on those and calib-mid2-fast's
        sets = ("calib-mid-fast", "calib-mid2-fast") if "-96-" in run else ("calib-mid-fast",)
        cu, cv = (np.vstack([u[:48], u2]), np.vstack([v[:48], v2])) if len(sets) == 2 else (u[:48], v[:48])
        model = uncertainty.calibrate(np.repeat(np.exp(cu), 4, axis=0), np.repeat(np.exp(cv), 4, axis=0),
                                      np.repeat(np.arange(len(cu)), 4), curved=run.endswith("-conformal"),
                                      conformal=run.endswith("-conformal"))
        (study / run / "calibration.json").write_text(json.dumps(
            {**model, "sources": [{"dataset": f"/runs/{name}", "n_skies": 48} for name in sets]}))
        first = 48
        for evaluation, n in evaluations:
            m = metrics([0.01] * 10, skies=n)
            m["skies"] = [{"id": i, "modifier": {"name": "seed", "s0_jy": 5e-6, "alpha": -0.15}, "n_tiles": 300,
                           "pred": (300 * np.exp(a)).tolist(), "true": (300 * np.exp(b)).tolist(),
                           # intervals about the calibrated count that miss some skies' truth
                           "pred_corrected": (300 * np.exp(0.1 + 1.2 * a)).tolist(),
                           "pred_lo68": (300 * np.exp(0.1 + 1.2 * a - 0.1)).tolist(),
                           "pred_hi68": (300 * np.exp(0.1 + 1.2 * a + 0.1)).tolist(),
                           "pred_lo95": (300 * np.exp(0.1 + 1.2 * a - 0.2)).tolist(),
                           "pred_hi95": (300 * np.exp(0.1 + 1.2 * a + 0.2)).tolist()}
                          for i, (a, b) in enumerate(zip(u[first:first + n], v[first:first + n]))]
            m["per_sky_intervals"] = {"n_calibration_skies": 48, "n_skies": n, "68": {"per_bin": [1.0] * 10},
                                      "95": {"per_bin": [1.0] * 10}}
            m["per_sky_corrected"] = m["per_sky"]
            (study / run / evaluation).mkdir()
            (study / run / evaluation / "metrics.json").write_text(json.dumps(m))
            if evaluation.startswith("eval-test-mid"):      # each drawn test set has skies of its own
                first += n
    return study


def test_mosaic_network_trained_on_the_wider_prior_on_the_pairs_and_on_its_own_prior(tmp_path):
    """PART=wide: seed-small trained on mosaics drawn from the wider prior (wide-small) and its copy with conformal
    intervals (wide-small-conformal), both calibrated on calib-mid-fast: each gets goal and coverage rows on the
    fixed test pairs, the 24 more and 48 mosaics drawn from the wider prior; the drawn ones are placed in that box
    (S0 = 5e-6 Jy, the training box's edge, 0.12 box widths inside it); the conformal copy's calibration and drawn
    test skies are pooled in the random splits; only wide-small gets per-bin tables and a training history."""
    study = wide_study(tmp_path, (("eval-test", 12), ("eval-test-24", 24), ("eval-test-mid", 48)))
    module = report_module()
    runs = module.load(study)
    for run in ("wide-small", "wide-small-conformal"):
        assert {run, f"{run}-24", f"{run}-36", f"{run}-mid48"} <= set(runs)
        assert runs[f"{run}-mid48"]["test"] == "test-mid-fast"
    assert runs["wide-small"]["history"] and not runs["wide-small"]["extra"]
    assert runs["wide-small-conformal"]["extra"] and runs["wide-small-conformal"]["history"] == []
    assert runs["wide-small-conformal"]["label"] == ("seed-small on 42 mosaics drawn from the wider prior, curved "
                                                    "line, conformal intervals, calibrated on 48 drawn from it")
    edge = module.edge_rows(runs, study)[2:]
    assert len(edge) == 2 and all("| 48 | 0.1-0.2 | 48 |" in r for r in edge)
    splits = module.split_rows(runs)[2:]
    assert len(splits) == 4 and all("wide-small-conformal" not in r and "| 48 + 48 |" in r for r in splits)
    assert all(r.startswith("| seed-small on 42 mosaics drawn from the wider prior, curved line") for r in splits)
    text = module.generate(study, tmp_path / "images")
    assert text.count("**seed-small on 42 mosaics drawn from the wider prior") == 2    # its own and calibrated
    assert "images/results-dy-wide.png" in text and (tmp_path / "images" / "results-dy-wide.png").exists()


def test_the_two_drawn_test_sets_of_the_wider_prior_are_pooled_into_96_skies(tmp_path):
    """With test-mid2-fast evaluated too (eval-test-mid2), each wide network gets a row on all 96 mosaics drawn
    from the wider prior, its coverage recomputed sky by sky; the tables by place in the prior and by range, and
    the random splits, then rest on the 96 alone (not also on each 48)."""
    study = wide_study(tmp_path, (("eval-test", 12), ("eval-test-24", 24), ("eval-test-mid", 48),
                                  ("eval-test-mid2", 48)))
    module = report_module()
    runs = module.load(study)
    for run in ("wide-small", "wide-small-conformal"):
        assert {f"{run}-mid48", f"{run}-mid2", f"{run}-mid96", f"{run}-mid96/corrected"} <= set(runs)
        assert runs[f"{run}-mid2"]["test"] == "test-mid2-fast"
        pooled = runs[f"{run}-mid96"]
        assert pooled["m"]["n_skies"] == 96 and pooled["label"].endswith("on all 96 mosaics of shapes drawn from "
                                                                          "the wider prior")
        # the pooled coverage is the fraction of the 96 skies' true counts inside their intervals, from the skies
        truth = np.array([s["true"] for s in pooled["m"]["skies"]])
        lo = np.array([s["pred_lo68"] for s in pooled["m"]["skies"]])
        hi = np.array([s["pred_hi68"] for s in pooled["m"]["skies"]])
        assert np.allclose(pooled["m"]["per_sky_intervals"]["68"]["per_bin"],
                           ((truth >= lo) & (truth <= hi)).mean(axis=0))
        assert len({s["id"] for s in pooled["m"]["skies"]}) == 96
    edge = module.edge_rows(runs, study)[2:]
    assert len(edge) == 2 and all("| 96 | 0.1-0.2 | 96 |" in r for r in edge), edge
    ranges = [r for r in module.range_rows(runs)[2:] if "| 12 |" not in r]          # but the fixed pairs'
    assert len(ranges) == 4 and all("on all 96 mosaics" in r and "| 96 |" in r for r in ranges), ranges
    splits = module.split_rows(runs)[2:]
    assert len(splits) == 4 and all("| 48 + 96 |" in r and "on all 96 mosaics" in r for r in splits), splits
    goals = module.goal_rows(runs)
    assert sum("on all 96 mosaics of shapes drawn from the wider prior" in r for r in goals) == 4   # 2 runs, 2 ways


def test_a_wide_network_calibrated_on_96_drawn_mosaics_is_split_96_and_96(tmp_path):
    """wide-small-96-conformal (the same network calibrated on calib-mid-fast and calib-mid2-fast, 96 skies) gets
    rows of its own, labelled with its 96 calibration skies; its random splits pool those 96 with the 96 drawn test
    skies and split them 96 + 96; the prior of its calibration skies places the test skies."""
    study = wide_study(tmp_path, (("eval-test", 12), ("eval-test-24", 24), ("eval-test-mid", 48),
                                  ("eval-test-mid2", 48)),
                       runs=("wide-small", "wide-small-conformal", "wide-small-96-conformal"))
    module = report_module()
    runs = module.load(study)
    run = runs["wide-small-96-conformal-mid96"]
    assert run["label"].startswith("seed-small on 42 mosaics drawn from the wider prior, curved line, conformal "
                                   "intervals, calibrated on 96 drawn from it, on all 96 mosaics")
    assert module.calibration_set(run["run"]) == "calib-mid-fast + calib-mid2-fast"
    assert runs["wide-small-96-conformal"]["history"] == [] and runs["wide-small-96-conformal"]["extra"]
    splits = module.split_rows(runs)[2:]
    mine = [r for r in splits if "calibrated on 96 drawn" in r]
    assert len(splits) == 8 and len(mine) == 4 and all("| 96 + 96 |" in r for r in mine), splits
    assert all("| 48 + 96 |" in r for r in splits if r not in mine)
    edge = [r for r in module.edge_rows(runs, study)[2:] if "calibrated on 96 drawn" in r]
    assert len(edge) == 1 and "| 96 | 0.1-0.2 | 96 |" in edge[0], edge


def test_report_resamples_the_calibration_skies_of_the_like_for_like_transfer(tmp_path):
    """The like-for-like transfer on the 72 drawn skies (here 3 x 2) read again by the for-WSClean calibration
    fitted on its skies drawn with replacement (radtrain.likelihood.resampled): per training and averaged over the
    trainings, WSClean - fast as fitted (the draw on the skies as they are) and its range and share within 1.5x
    over the draws."""
    from radtrain import likelihood

    study = tmp_path / "study"
    rng = np.random.default_rng(5)
    skies = functools.partial(seed_law_skies, rng)
    params, pred, true = skies(40)
    pairs = np.arange(24)
    model = likelihood.fit(params, ["alpha", "s0_jy"], pred, true, np.full(40, 16),
                           imager={"index": pairs, "pred": pred[pairs] * 1.03, "n_tiles": np.full(24, 16)})
    _, test_pred, test_true = skies(6)
    read = {}
    for seed, factor in (("", 1.0), ("-s2", 1.1), ("-s3", 0.9)):     # three trainings: network counts apart
        net = f"pointing-small-wide{seed}"
        (study / f"{net}-likelihood-for-wsclean").mkdir(parents=True)
        (study / f"{net}-likelihood-for-wsclean" / "calibration.json").write_text(json.dumps({"likelihood": model}))
        first, other = test_pred * factor, test_pred * factor * 1.03
        read[seed] = likelihood.resampled(model, first=(first, 16), other=(other, 16), draws=0)
        for k, drawn in enumerate(("mid24", "mid24b", "mid24c")):
            for run, evaluation, counts in ((f"{net}-likelihood-for-fast", f"eval-pointing-{drawn}", first),
                                            (f"{net}-likelihood-for-wsclean", f"eval-pointing-{drawn}-wsclean",
                                             other)):
                m = metrics([0.0] * 10, skies=2)
                m["skies"] = [{"id": i, "true": test_true[2 * k + i].tolist(), "n_tiles": 16,
                               "pred": counts[2 * k + i].tolist(), "pred_corrected": test_true[2 * k + i].tolist()}
                              for i in range(2)]
                (study / run / evaluation).mkdir(parents=True)
                (study / run / evaluation / "metrics.json").write_text(json.dumps(m))
    module = report_module()
    module.RESAMPLE_DRAWS = 20
    rows = module.resampled_rows(module.load(study))
    assert rows[0].startswith("| network (72 test skies of drawn shapes) | mean dy |")

    def row(start):
        first = rows.index(next(r for r in rows if r.startswith(start)))
        return rows[first:first + 3]

    def fitted(first, other):       # WSClean - fast mean dy, the calibration as fitted
        return (((other - first) / test_true.mean(axis=1, keepdims=True)).mean(axis=0))

    seed2 = row("| pointing-small-wide, 84 training skies drawn from the wider prior, training seed 2 | WSClean - "
                "fast, as fitted |")
    expected = fitted(read["-s2"]["first"][0], read["-s2"]["other"][0])
    assert seed2[0].split(" | ")[2:12] == [f"{x:+.3f}" for x in expected]
    mean = row("| pointing-small-wide, 84 training skies drawn from the wider prior, counts averaged over training "
               "seeds 1-3 | WSClean - fast, as fitted |")
    expected = fitted(np.mean([r["first"][0] for r in read.values()], axis=0),
                      np.mean([r["other"][0] for r in read.values()], axis=0))
    assert mean[0].split(" | ")[2:12] == [f"{x:+.3f}" for x in expected]
    assert mean[1].startswith("| | 16-84% over the resampled calibrations | ")
    shares = [float(x) for x in mean[2].split(" | ")[2:12]]
    assert all(0.0 <= x <= 1.0 for x in shares) and mean[2].endswith("of 10 (mean) |")
    # a calibration that did not record its skies (fitted before they were) gives no rows
    for seed in ("", "-s2", "-s3"):
        path = study / f"pointing-small-wide{seed}-likelihood-for-wsclean" / "calibration.json"
        path.write_text(json.dumps({"likelihood": {k: v for k, v in model.items() if k != "calibration_skies"}}))
    assert module.resampled_rows(module.load(study)) == []


def test_report_splits_the_skies_imaged_by_both_for_the_coverage_on_wsclean_images(tmp_path):
    """The one-noise calibration for WSClean's images (RUN-likelihood-shared-for-wsclean) tested on the drawn skies'
    WSClean images of every test set made (here two of 12), and over random splits of them pooled with its pairs
    (radtrain.likelihood.split_coverage), the test skies' fast images from RUN-likelihood-shared-for-fast."""
    from radtrain import likelihood

    study = tmp_path / "study"
    rng = np.random.default_rng(7)
    skies = functools.partial(seed_law_skies, rng)
    params, pred, true = skies(40)
    pairs = np.arange(24)
    model = likelihood.fit(params, ["alpha", "s0_jy"], pred, true, np.full(40, 16),
                           imager={"index": pairs, "pred": pred[pairs] * 1.03, "n_tiles": np.full(24, 16)})
    test_params, test_pred, test_true = skies(24)
    net = "pointing-small-wide-s2"
    (study / f"{net}-likelihood-shared-for-wsclean").mkdir(parents=True)
    (study / f"{net}-likelihood-shared-for-wsclean" / "calibration.json").write_text(json.dumps({"likelihood": model}))
    for k, drawn in enumerate(("mid24", "mid24d")):
        for run, evaluation, counts in ((f"{net}-likelihood-shared-for-fast", f"eval-pointing-{drawn}", test_pred),
                                        (f"{net}-likelihood-shared-for-wsclean", f"eval-pointing-{drawn}-wsclean",
                                         test_pred * 1.03)):
            m = metrics([0.0] * 10, skies=12)
            m["skies"] = [{"id": i, "modifier": {"name": "seed", "alpha": test_params[12 * k + i, 0],
                                                 "s0_jy": test_params[12 * k + i, 1]},
                           "true": test_true[12 * k + i].tolist(), "n_tiles": 16,
                           "pred": counts[12 * k + i].tolist()} for i in range(12)]
            (study / run / evaluation).mkdir(parents=True)
            (study / run / evaluation / "metrics.json").write_text(json.dumps(m))
    module = report_module()
    module.LIKELIHOOD_SPLITS = 8
    rows = module.likelihood_split_rows(study)
    assert len(rows) == 4 and rows[0].startswith("| training | level | skies: pairs + test | 0.1-0.16 |")
    first = rows[2].split(" | ")
    assert first[0] == "| pointing-small-wide-s2" and first[1:3] == ["68%", "24 + 24"]
    # the test skies' coverage: the calibration as fitted, on their WSClean images
    read = likelihood.estimate(test_pred * 1.03, 16, model)
    expected = ((test_true >= read["lo"][0]) & (test_true <= read["hi"][0])).mean(axis=0)
    assert first[3:13] == [f"{x:.2f}" for x in expected]
    within = int(np.sum(np.abs(expected - 0.68) <= 0.08 + 1e-9))
    assert first[13] == f"{within} of 10"
    splits = likelihood.split_coverage(model, {"params": test_params, "pred": test_pred, "true": test_true,
                                               "n_tiles": np.full(24, 16), "imager_pred": test_pred * 1.03,
                                               "imager_n_tiles": np.full(24, 16)}, splits=8, seed=module.SPLIT_SEED)
    mean = splits[1:, 0].mean(axis=0)
    assert first[14] == f"{mean.min():.2f}-{mean.max():.2f}"
    assert rows[3].split(" | ")[1] == "95%"
    # without the fast images of the test skies there is nothing to pool
    for path in (study / f"{net}-likelihood-shared-for-fast").rglob("metrics.json"):
        path.unlink()
    assert module.likelihood_split_rows(study) == []


def write_unpaired_study(study, rng, bases=("pointing-small-wide", "pointing-small-wide-s2", "pointing-small-wide-s3"),
                         fast="shared", wsclean="wsclean"):
    """Trainings calibrated on skies WSClean never imaged (RUN-likelihood-unpaired, 576 of them), evaluated on two
    sets of drawn shapes by WSClean (SET-``wsclean``) and by the fast imager with its noise (SET-``fast``):
    pointing-calib-mid (WSClean imaged the first 4 of its 8 skies) and pointing-test-mid24 (6 skies by both). Per sky
    and bin the truth is 100 and the intervals hold it or not at random; returns {(base, imager, set): skies}."""
    written = {}
    for base in bases:
        run = study / f"{base}-likelihood-unpaired"
        run.mkdir(parents=True)
        (run / "calibration.json").write_text(json.dumps({"n_skies": 576, "likelihood": {}}))
        for name, n_fast, n_wsclean in (("pointing-calib-mid", 8, 4), ("pointing-test-mid24", 6, 6)):
            for imager, n in ((fast, n_fast), (wsclean, n_wsclean)):
                skies = []
                for i in range(n):
                    hit68, hit95 = rng.random(10) < 0.7, rng.random(10) < 0.95
                    skies.append({"id": i, "true": [100.0] * 10, "n_tiles": 16, "pred": [100.0] * 10,
                                  "pred_corrected": (100.0 + rng.normal(0, 2, 10)).tolist(),
                                  "pred_lo68": np.where(hit68, 99.0, 101.0).tolist(), "pred_hi68": [102.0] * 10,
                                  "pred_lo95": np.where(hit95, 99.0, 101.0).tolist(), "pred_hi95": [102.0] * 10})
                m = metrics([0.0] * 10, skies=n)
                m["skies"] = skies
                (run / f"eval-{name}-{imager}").mkdir()
                (run / f"eval-{name}-{imager}" / "metrics.json").write_text(json.dumps(m))
                written[base, imager, name] = skies
    return written


def test_report_reads_the_calibration_on_skies_wsclean_never_imaged_on_every_sky_it_imaged(tmp_path):
    """RUN-likelihood-unpaired: its coverage on every sky WSClean imaged (pairs and test skies pooled), on the same
    skies' fast images and on all the fast images, with the spread a calibrated interval's coverage would have; and
    the transfer read by it for both imagers, per training and averaged over the three sky by sky."""
    from radtrain import likelihood

    study = tmp_path / "study"
    written = write_unpaired_study(study, np.random.default_rng(11))
    module = report_module()
    rows = module.unpaired_coverage_rows(study)
    assert rows[0].startswith("| training | level | images | skies | 0.1-0.16 |")
    assert len(rows) == 2 + 3 * 2 * 3            # three trainings, two levels, three kinds of image

    def hits(base, imager, level, first=None):
        skies = [s for name in ("pointing-calib-mid", "pointing-test-mid24")
                 for s in written[base, imager, name][:first if name == "pointing-calib-mid" else None]]
        return np.mean([np.asarray(s[f"pred_lo{level}"]) <= 100.0 for s in skies], axis=0), len(skies)

    for kind, imager, first in (("WSClean's", "wsclean", None), ("fast, same skies", "shared", 4),
                                ("fast, all", "shared", None)):
        row = next(r for r in rows if r.startswith(f"| pointing-small-wide-s2 | 68% | {kind} |")).split(" | ")
        expected, n = hits("pointing-small-wide-s2", imager, "68", first)
        assert int(row[3]) == n == {"wsclean": 10, "shared": 10 if first else 14}[imager]
        assert row[4:14] == [f"{x:.2f}" for x in expected]
        assert row[14] == f"{int(np.sum(np.abs(expected - 0.68) <= 0.08 + 1e-9))} of 10"
        spread = np.hypot(np.sqrt(0.68 * 0.32 / n), likelihood.coverage_spread(576, 0.68))
        assert row[15] == f"{spread:.3f} |"

    transfer = module.sky_by_sky_transfer_rows(study)
    assert len(transfer) == 2 + 4 * 4               # three trainings and their average, four lines each
    average = transfer.index(next(r for r in transfer if "training seeds 1-3 averaged" in r))

    def dy(imager):     # per sky, the three trainings' calibrated counts averaged, then the seed's dy
        out = []
        for name, first in (("pointing-calib-mid", 4), ("pointing-test-mid24", None)):
            out += [np.mean([written[b, imager, name][i]["pred_corrected"] for b in
                             ("pointing-small-wide", "pointing-small-wide-s2", "pointing-small-wide-s3")], axis=0)
                    for i in range(first or 6)]
        return (np.asarray(out) - 100.0) / 100.0
    fast, wsclean = dy("shared"), dy("wsclean")

    def cells(line):        # a row's cells ('\\|' inside a cell is no border)
        return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
    assert cells(transfer[average])[1] == "10"
    assert cells(transfer[average])[3:13] == [f"{abs(x):.4f}" for x in fast.mean(axis=0)]
    assert cells(transfer[average + 1])[3:13] == [f"{abs(x):.4f}" for x in wsclean.mean(axis=0)]
    ratio = np.abs(wsclean.mean(axis=0)) / np.abs(fast.mean(axis=0))
    assert cells(transfer[average + 2])[3:14] == [f"{x:.2f}" for x in ratio] + [f"{np.sum(ratio <= 1.5)} of 10"]
    diff = wsclean - fast
    assert cells(transfer[average + 3])[3] == f"{diff.mean(axis=0)[0]:+.4f} +- " \
        f"{diff.std(axis=0, ddof=1)[0] / np.sqrt(10):.4f}"
    # a set whose WSClean images are not of the fast images' skies is refused, naming both
    path = study / "pointing-small-wide-likelihood-unpaired" / "eval-pointing-test-mid24-wsclean" / "metrics.json"
    m = json.loads(path.read_text())
    m["skies"][0]["true"] = [50.0] * 10
    path.write_text(json.dumps(m))
    with pytest.raises(ValueError, match="pointing-test-mid24-wsclean and pointing-test-mid24-shared"):
        module.unpaired_evaluations(study)
    # a set evaluated one way only is left out, and no run gives no rows
    path.unlink()
    assert module.unpaired_evaluations(study)["pointing-small-wide"]["wsclean"]["n_skies"] == 4
    assert module.unpaired_coverage_rows(tmp_path / "none") == [] and module.sky_by_sky_transfer_rows(tmp_path) == []


@pytest.mark.parametrize("labels, fast, wsclean, what", [
    ("MENDED_LABELS", "mended", "wsclean", "the mended fast imager"),
    ("EXACT_LABELS", "exact", "wsclean-linear", "the exact major cycle")])
def test_report_reads_the_mended_imagers_calibration_on_both_imagers_apart_from_the_flat_sky_ones(
        tmp_path, labels, fast, wsclean, what):
    """pointing-small-wide-mended and its seeds (science.sh MENDED=1), calibrated on the mended fast imager's images,
    read WSClean's images and the mended imager's (SET-mended); pointing-small-wide-exact's (MENDED=exact) read the
    exact imager's (SET-exact) and WSClean's restored without wrap-around (SET-wsclean-linear), never WSClean's own
    restore. The report pairs those sky by sky in sections of their own, averages the three trainings, and leaves
    them out of the flat-sky imager's tables."""
    study = tmp_path / "study"
    module = report_module()
    labels = getattr(module, labels)
    bases = module.seed_trainings(labels)
    assert bases == [f"pointing-small-wide-{fast}", f"pointing-small-wide-{fast}-s2", f"pointing-small-wide-{fast}-s3"]
    written = write_unpaired_study(study, np.random.default_rng(13), bases, fast=fast, wsclean=wsclean)
    assert module.unpaired_evaluations(study) == {}
    kw = {"fast_images": fast, "labels": labels, "wsclean_images": wsclean}
    if wsclean != "wsclean":         # WSClean's own restore is not what these networks are read against
        assert module.unpaired_evaluations(study, **{**kw, "wsclean_images": "wsclean"}) == {}
    evaluations = module.unpaired_evaluations(study, **kw)
    assert sorted(evaluations) == bases
    e = evaluations[f"pointing-small-wide-{fast}-s2"]
    assert e["wsclean"]["n_skies"] == e["fast"]["n_skies"] == 10 and e["fast_all"]["n_skies"] == 14
    assert [s["pred_corrected"] for s in e["fast"]["skies"][4:]] == [
        s["pred_corrected"] for s in written[f"pointing-small-wide-{fast}-s2", fast, "pointing-test-mid24"]]
    assert [s["pred_corrected"] for s in e["wsclean"]["skies"][4:]] == [
        s["pred_corrected"] for s in written[f"pointing-small-wide-{fast}-s2", wsclean, "pointing-test-mid24"]]
    transfer = module.sky_by_sky_transfer_rows(study, evaluations)
    assert len(transfer) == 2 + 4 * 4
    assert f"| pointing-small-wide-{fast}, training seeds 1-3 averaged | 10 |" in "\n".join(transfer)
    (study / "fast-small" / "eval-test").mkdir(parents=True)      # one evaluated run of the main study
    (study / "fast-small" / "eval-test" / "metrics.json").write_text(json.dumps(metrics([0.01] * 10)))
    text = module.generate(study, tmp_path / "images")
    for title in ("Coverage of the mended fast imager's calibration on every sky WSClean imaged",
                  "Transfer read by one calibration for both imagers, the mended fast imager\n",
                  "Coverage of the exact major cycle's calibration on every sky WSClean imaged",
                  "Transfer read by one calibration for both imagers, the exact major cycle\n"):
        assert (f"### {title}" in text) == (what in title)
    assert "### Transfer read by one calibration for both imagers\n" not in text
    # a set whose skies are not WSClean's is refused, naming both
    path = study / f"pointing-small-wide-{fast}-likelihood-unpaired" / f"eval-pointing-test-mid24-{fast}" / \
        "metrics.json"
    m = json.loads(path.read_text())
    m["skies"][0]["true"] = [50.0] * 10
    path.write_text(json.dumps(m))
    with pytest.raises(ValueError, match=f"pointing-test-mid24-{wsclean} and pointing-test-mid24-{fast}"):
        module.unpaired_evaluations(study, **kw)


def test_report_reads_the_calibrations_with_the_pairs_shift_alone_each_on_its_imager(tmp_path):
    """RUN-likelihood-shift-for-wsclean reads WSClean's images of the test skies and RUN-likelihood-shift-for-fast
    their fast ones: the report pairs them sky by sky, takes the calibration's skies from the WSClean run, and
    leaves out the pairs (they calibrate both)."""
    import shutil
    study = tmp_path / "study"
    bases = ("pointing-small-wide", "pointing-small-wide-s2", "pointing-small-wide-s3")
    written = write_unpaired_study(study, np.random.default_rng(12), bases)
    for base in bases:
        unpaired = study / f"{base}-likelihood-unpaired"
        ws, fast = (study / f"{base}{suffix}" for suffix in ("-likelihood-shift-for-wsclean",
                                                             "-likelihood-shift-for-fast"))
        shutil.copytree(unpaired, fast)
        unpaired.rename(ws)
        for run, other in ((ws, "shared"), (fast, "wsclean")):
            for path in run.glob(f"eval-*-{other}"):
                shutil.rmtree(path)
        (ws / "calibration.json").write_text(json.dumps({"n_skies": 672, "likelihood": {}}))
        (fast / "calibration.json").write_text(json.dumps({"n_skies": 1, "likelihood": {}}))
    module = report_module()
    assert module.unpaired_evaluations(study) == {}
    evaluations = module.unpaired_evaluations(study, module.SHIFT_SETS, module.SHIFT_RUNS)
    assert sorted(evaluations) == sorted(bases)
    e = evaluations["pointing-small-wide-s3"]
    assert e["n_calibration_skies"] == 672 and e["wsclean"]["n_skies"] == e["fast"]["n_skies"] == 6
    for imager, key in (("wsclean", "wsclean"), ("shared", "fast")):
        assert [s["pred_corrected"] for s in e[key]["skies"]] == [
            s["pred_corrected"] for s in written["pointing-small-wide-s3", imager, "pointing-test-mid24"]]
    rows = module.unpaired_coverage_rows(study, evaluations)
    assert len(rows) == 2 + 3 * 2 * 2           # three trainings, two levels, WSClean's and the fast images
    transfer = module.sky_by_sky_transfer_rows(study, evaluations)
    assert len(transfer) == 2 + 4 * 4 and "training seeds 1-3 averaged | 6 |" in "".join(transfer)
    # a set whose fast images the fast run has not read is left out
    shutil.rmtree(study / "pointing-small-wide-likelihood-shift-for-fast" / "eval-pointing-test-mid24-shared")
    assert "pointing-small-wide" not in module.unpaired_evaluations(study, module.SHIFT_SETS, module.SHIFT_RUNS)


def test_science_script_calibrates_on_skies_wsclean_never_imaged_and_tests_on_every_sky_it_imaged(tmp_path):
    """RUN-likelihood-unpaired is calibrated only once both its sets of fast images with WSClean's noise are made
    (pointing-calib-mid5-shared and -mid6-shared), and evaluated on each set of drawn shapes made both by WSClean
    and by the fast imager with its noise (the report compares them sky by sky)."""
    import os
    import subprocess
    run = "pointing-small-wide-mix-s3-likelihood-unpaired"
    (tmp_path / run).mkdir()
    (tmp_path / run / "best.weights.h5").touch()
    for name, status in (("pointing-calib-mid5-shared", "complete"), ("pointing-calib-mid6-shared", "running"),
                         ("pointing-test-mid24f-wsclean", "complete"), ("pointing-test-mid24f-shared", "complete"),
                         ("pointing-calib-mid2-wsclean", "running"), ("pointing-calib-mid2-shared", "complete")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    env = {**os.environ, "OUT": str(tmp_path), "ONLY": run, "PRIORS": "1", "PART": "pointings"}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                         env={**env, "STAGES": "calibrate"}, timeout=300)
    assert f"{run}: not calibrated, sets with WSClean's noise not made yet: pointing-calib-mid6-shared" in out.stdout
    (tmp_path / "pointing-calib-mid6-shared" / "manifest.json").write_text(json.dumps({"status": "complete"}))
    out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                         env={**env, "STAGES": "calibrate"}, timeout=300)
    assert (f"calibrate {run} on pointing-calib-mid5-shared pointing-calib-mid6-shared, curved line, conformal "
            "intervals, the count model's likelihood") in out.stdout, out.stdout
    out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                         env={**env, "STAGES": "evaluate"}, timeout=300)
    # the stand-in weights stop the first evaluation started: a set WSClean has not finished is not read either way
    started = [line for line in out.stdout.splitlines() if f"evaluate {run} on" in line]
    assert [line.split(" on ")[1] for line in started] == ["pointing-test-mid24f-wsclean"], out.stdout
    assert "not a radtrain run directory" in out.stdout + out.stderr


@pytest.mark.parametrize("mended, kind, wsclean", [("1", "mended", "wsclean"), ("exact", "exact", "wsclean-linear")])
def test_science_script_calibrates_the_mended_imagers_network_on_its_images_and_tests_it_on_both_imagers(
        tmp_path, mended, kind, wsclean):
    """MENDED=1: pointing-small-wide-mended-likelihood-unpaired is calibrated only once both of the mended fast
    imager's sets of the 576 skies WSClean never imaged are made (pointing-calib-mid5-mended, -mid6-mended), and
    evaluated on WSClean's images of a set made both ways, then on the mended imager's images of it (SET-mended),
    not on the flat-sky ones with WSClean's noise (SET-shared). MENDED=exact: so pointing-small-wide-exact's, on
    SET-exact and on WSClean's images restored without wrap-around (SET-wsclean-linear), never WSClean's own."""
    import os
    import subprocess
    import time
    run = f"pointing-small-wide-{kind}-s2-likelihood-unpaired"
    (tmp_path / run).mkdir()
    (tmp_path / run / "best.weights.h5").touch()
    for name, status in ((f"pointing-calib-mid5-{kind}", "complete"), (f"pointing-calib-mid6-{kind}", "running"),
                         ("pointing-calib-mid5-shared", "complete"), ("pointing-calib-mid6-shared", "complete"),
                         ("pointing-test-mid24e-wsclean", "complete"), ("pointing-test-mid24e-exact", "complete"),
                         (f"pointing-test-mid24f-{wsclean}", "complete"), (f"pointing-test-mid24f-{kind}", "complete"),
                         ("pointing-test-mid24-wsclean", "complete"), ("pointing-test-mid24-shared", "complete")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    env = {**os.environ, "OUT": str(tmp_path), "ONLY": run, "PART": "pointings"}

    def science(stages, mended=mended):
        return subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                              env={**env, "STAGES": stages, "MENDED": mended}, timeout=300).stdout
    out = science("calibrate")
    assert f"{run}: not calibrated, sets with WSClean's noise not made yet: pointing-calib-mid6-{kind}" in out, out
    (tmp_path / f"pointing-calib-mid6-{kind}" / "manifest.json").write_text(json.dumps({"status": "complete"}))
    assert (f"calibrate {run} on pointing-calib-mid5-{kind} pointing-calib-mid6-{kind}, curved line, conformal "
            "intervals, the count model's likelihood") in science("calibrate")
    # the stand-in weights stop the first evaluation started: WSClean's images first; pointing-test-mid24 has no
    # mended images, so it is not read either way; nor is pointing-test-mid24e, made by WSClean with its own restore
    # and by the exact imager: MENDED=exact reads those against WSClean's restored without wrap-around, MENDED=1 has
    # no images of its own there
    started = [line.split(" on ")[1] for line in science("evaluate").splitlines() if f"evaluate {run} on" in line]
    assert started == [f"pointing-test-mid24f-{wsclean}"], started
    # with WSClean's evaluation up to date, the mended imager's images of the same skies come next
    done = tmp_path / run / f"eval-pointing-test-mid24f-{wsclean}" / "metrics.json"
    done.parent.mkdir()
    time.sleep(0.05)
    done.write_text("{}")
    started = [line.split(" on ")[1] for line in science("evaluate").splitlines() if f"evaluate {run} on" in line]
    assert started == [f"pointing-test-mid24f-{wsclean}: up to date (" + f"{run}/eval-pointing-test-mid24f-{wsclean}; "
                       f"REDO=1 evaluates again)", f"pointing-test-mid24f-{kind}"], started
    # without MENDED (or with the other mended imager) the run is not the script's
    for other in ("0", {"1": "exact", "exact": "1"}[mended]):
        assert f"evaluate {run}" not in science("calibrate evaluate", mended=other)


def test_science_script_simulates_the_exact_imagers_sets_and_wscleans_restored_without_wrap_around(tmp_path):
    """MENDED=exact PART=pointings: the mended study's sets are made by the exact imager (SET-exact, the fixed pairs
    too, as EXACT=1 makes them), and WSClean's images of the skies of drawn shapes once more restored without
    wrap-around (SET-wsclean-linear); MENDED=1 makes neither. Each dataset is named alone (ONLY), and its stand-in
    manifest stops the simulation science.sh started."""
    import os
    import subprocess
    env = {**os.environ, "OUT": str(tmp_path), "PART": "pointings", "STAGES": "simulate", "NPROCS": "1"}

    def simulated(name, mended):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": "running"}))
        out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                             env={**env, "ONLY": name, "MENDED": mended}, timeout=300)
        return [line.split("] ")[1] for line in out.stdout.splitlines() if "] simulate " in line]
    for name in ("pointing-wide-84-exact", "pointing-calib-mid6-exact", "pointing-test-mid24f-exact", "transfer-exact",
                 "transfer-24b-exact", "pointing-calib-mid-wsclean-linear", "pointing-test-mid24f-wsclean-linear",
                 "transfer-24-wsclean-linear"):
        assert simulated(name, "exact") == [f"simulate {name} (configs/emu-seed-transfer.toml, 1 ranks)"], name
        assert simulated(name, "1") == [], name
    for name in ("pointing-wide-84-mended", "transfer-mended"):
        assert simulated(name, "exact") == [], name
        assert simulated(name, "1") == [f"simulate {name} (configs/emu-seed-transfer.toml, 1 ranks)"], name


def test_science_script_calibrates_with_the_pairs_shift_alone_on_every_fast_image_with_wsclean_noise(tmp_path):
    """RUN-likelihood-shift-for-wsclean is calibrated, once every set is made, on the pairs' fast images with
    WSClean's noise and the 576 skies WSClean never imaged, with the pairs' WSClean images shifting the map alone
    (--imager-term shift); RUN-likelihood-shift-for-fast on the same skies without them. Each is evaluated on its
    imager's images of the test sets made both ways."""
    import os
    import subprocess
    base = "pointing-small-wide-s2"
    for name, status in (("pointing-calib-mid2", "complete"), ("pointing-calib-mid2-wsclean", "complete"),
                         ("pointing-calib-mid5", "complete"), ("pointing-calib-mid-shared", "complete"),
                         ("pointing-calib-mid2-shared", "complete"), ("pointing-calib-mid5-shared", "complete"),
                         ("pointing-calib-mid6-shared", "running"),
                         ("pointing-test-mid24-wsclean", "running"), ("pointing-test-mid24-shared", "complete"),
                         ("pointing-test-mid24f-wsclean", "complete"), ("pointing-test-mid24f-shared", "complete")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    env = {**os.environ, "OUT": str(tmp_path), "PRIORS": "1", "PART": "pointings"}

    def science(stages, only):
        return subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                              env={**env, "STAGES": stages, "ONLY": only}, timeout=300).stdout
    for imager in ("wsclean", "fast"):
        (tmp_path / f"{base}-likelihood-shift-for-{imager}").mkdir()
        (tmp_path / f"{base}-likelihood-shift-for-{imager}" / "best.weights.h5").touch()
    out = science("calibrate", f"{base}-likelihood-shift-for-*")
    for imager in ("wsclean", "fast"):
        assert (f"{base}-likelihood-shift-for-{imager}: not calibrated, sets with WSClean's noise not made yet: "
                "pointing-calib-mid6-shared") in out, out
    (tmp_path / "pointing-calib-mid6-shared" / "manifest.json").write_text(json.dumps({"status": "complete"}))
    # (the stand-in weights stop each calibration started: one run at a time)
    sets = "pointing-calib-mid-shared pointing-calib-mid2-shared pointing-calib-mid5-shared pointing-calib-mid6-shared"
    how = "curved line, conformal intervals, the count model's likelihood"
    out = science("calibrate", f"{base}-likelihood-shift-for-wsclean")
    assert (f"calibrate {base}-likelihood-shift-for-wsclean on {sets}, {how} for WSClean's images (their WSClean "
            "images: 48 pairs, shifting the map alone)") in out, out
    out = science("calibrate", f"{base}-likelihood-shift-for-fast")
    assert f"calibrate {base}-likelihood-shift-for-fast on {sets}, {how}\n" in out, out
    # the stand-in weights stop the first evaluation started: a set WSClean has not finished is not read either way
    for imager, images in (("wsclean", "wsclean"), ("fast", "shared")):
        run = f"{base}-likelihood-shift-for-{imager}"
        started = [line.split(" on ")[1] for line in science("evaluate", run).splitlines()
                   if f"evaluate {run} on" in line]
        assert started == [f"pointing-test-mid24f-{images}"], started


def test_science_script_copies_a_network_for_its_calibrations_without_making_their_evaluations_out_of_date(tmp_path):
    """The calibrate stage copies each trained network into its calibration runs (RUN-likelihood-unpaired, ...) every
    time it runs, whichever runs ONLY names; a copy keeps the network's time, so an evaluation made since is still
    up to date, and one made before the network was trained again is not."""
    import os
    import subprocess
    import time
    net, copy = tmp_path / "pointing-small-wide-s2", tmp_path / "pointing-small-wide-s2-likelihood-unpaired"
    net.mkdir()
    for name in ("best.weights.h5", "config.toml", "run.json", "history.csv"):
        (net / name).write_text(name)
    os.utime(net / "best.weights.h5", (time.time() - 3600,) * 2)       # trained an hour ago
    (copy / "eval-pointing-test-mid24f-wsclean").mkdir(parents=True)
    (copy / "eval-pointing-test-mid24f-wsclean" / "metrics.json").write_text("{}")   # evaluated since
    (tmp_path / "pointing-test-mid24f-wsclean").mkdir()
    os.utime(copy / "eval-pointing-test-mid24f-wsclean" / "metrics.json", (time.time() - 60,) * 2)
    env = {**os.environ, "OUT": str(tmp_path), "PRIORS": "1", "PART": "pointings"}
    subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True, check=True,
                   env={**env, "STAGES": "calibrate", "ONLY": "no-such-run"}, timeout=300)
    assert (copy / "best.weights.h5").read_text() == "best.weights.h5"           # copied ...
    assert (copy / "best.weights.h5").stat().st_mtime == (net / "best.weights.h5").stat().st_mtime   # ... as it was
    metrics = copy / "eval-pointing-test-mid24f-wsclean" / "metrics.json"
    assert metrics.stat().st_mtime > (copy / "best.weights.h5").stat().st_mtime
    os.utime(net / "best.weights.h5")                                           # trained again now
    subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True, check=True,
                   env={**env, "STAGES": "calibrate", "ONLY": "no-such-run"}, timeout=300)
    assert metrics.stat().st_mtime < (copy / "best.weights.h5").stat().st_mtime


def test_report_pools_every_test_set_of_drawn_shapes_for_the_like_for_like_transfer_with_one_noise(tmp_path):
    """The one-noise calibrations' transfer on every test set of drawn shapes made both ways (here two of them, one
    only by the fast imager): the fast images read by RUN-likelihood-shared-for-fast and WSClean's by
    RUN-likelihood-shared-for-wsclean, pooled sky by sky, and the three trainings averaged."""
    rng = np.random.default_rng(13)
    study = tmp_path / "study"
    read = {}
    for base in ("pointing-small-wide-mix", "pointing-small-wide-mix-s2", "pointing-small-wide-mix-s3"):
        for imager, suffix in (("fast", ""), ("wsclean", "-wsclean")):
            for drawn in ("mid24", "mid24f", "mid24c"):
                if drawn == "mid24c" and imager == "wsclean":
                    continue                        # made by the fast imager only: not pooled
                counts = 100.0 + rng.normal(0.0, 3.0, (4, 10))
                read[base, imager, drawn] = counts
                m = metrics([0.0] * 10, skies=4)
                m["skies"] = [{"id": i, "true": [100.0] * 10, "n_tiles": 16, "pred": counts[i].tolist(),
                               "pred_corrected": counts[i].tolist()} for i in range(4)]
                path = study / f"{base}-likelihood-shared-for-{imager}" / f"eval-pointing-{drawn}{suffix}"
                path.mkdir(parents=True)
                (path / "metrics.json").write_text(json.dumps(m))
    module = report_module()
    evaluations = module.shared_evaluations(study)
    assert set(evaluations) == {"pointing-small-wide-mix", "pointing-small-wide-mix-s2", "pointing-small-wide-mix-s3"}
    assert all(e["fast"]["n_skies"] == e["wsclean"]["n_skies"] == 8 for e in evaluations.values())
    rows = module.sky_by_sky_transfer_rows(study, evaluations)
    average = rows.index(next(r for r in rows if r.startswith("| pointing-small-wide-mix, training seeds 1-3")))

    def mean_dy(imager):
        counts = np.mean([np.concatenate([read[b, imager, "mid24"], read[b, imager, "mid24f"]]) for b in
                          ("pointing-small-wide-mix", "pointing-small-wide-mix-s2", "pointing-small-wide-mix-s3")],
                         axis=0)
        return np.abs(((counts - 100.0) / 100.0).mean(axis=0))

    cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[average])[1:-1]]
    assert cells[1] == "8" and cells[3:13] == [f"{x:.4f}" for x in mean_dy("fast")]
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[average + 1])[1:-1]]
    assert cells[3:13] == [f"{x:.4f}" for x in mean_dy("wsclean")]
    assert module.shared_evaluations(tmp_path / "none") == {}


def test_report_tabulates_how_each_network_reads_the_same_skies_with_another_noise(tmp_path):
    """The report reads radtrain compare's RUN/compare-noise-rms.json, -noise-model.json, -noise-w-term.json and
    -noise-image-w.json, network by network, as written by the command; networks without them are left out."""
    study = tmp_path / "study"
    edges = [1e-7, 1e-6, 1e-5]
    for run, values in (("pointing-small-wide", {"noise-rms": [11.056, 0.801], "noise-model": [3.27, 0.448],
                                                 "noise-w-term": [4.9, 0.61]}),
                        ("pointing-small-xwide", {"noise-rms": [9.5, 0.7]}), ("pointing-small-wide-s2", {})):
        (study / run).mkdir(parents=True)
        for name, mean in values.items():
            (study / run / f"compare-{name}.json").write_text(json.dumps(
                {"n_skies": 96, "bin_edges_jy": edges, "percent": {"mean": mean, "stderr": [1.466, 0.038],
                                                                   "n": [96, 96]}}))
    (study / "pointing-calib-mid").mkdir()
    rows = report_module().noise_rows(study)
    assert rows[0] == "| network | the same skies read with (B against A) | skies | 0.1-1 | 1-10 |"
    assert rows[2:] == [
        "| pointing-small-wide | 0.1% more noise rms (pointing-calib-mid-rms against pointing-calib-mid) | 96 | "
        "+11.06 +- 1.47 | +0.80 +- 0.04 |",
        "| pointing-small-wide | the noise drawn on the visibilities (pointing-calib-mid-shared against "
        "pointing-calib-mid) | 96 | +3.27 +- 1.47 | +0.45 +- 0.04 |",
        "| pointing-small-wide | the w-term in the image-plane noise (pointing-calib-mid-w-image-w against "
        "pointing-calib-mid-w-image) | 96 | +4.90 +- 1.47 | +0.61 +- 0.04 |",
        "| pointing-small-xwide | 0.1% more noise rms (pointing-calib-mid-rms against pointing-calib-mid) | 96 | "
        "+9.50 +- 1.47 | +0.70 +- 0.04 |"]
    (tmp_path / "none").mkdir()
    assert report_module().noise_rows(tmp_path / "none") == []


def test_science_script_compares_each_network_on_the_calibration_skies_with_another_noise(tmp_path):
    """With PRIORS=1 PART=pointings the evaluate stage runs radtrain compare for each network calibrated for WSClean,
    on pointing-calib-mid against its twin with 0.1% more noise rms, then against its fast images with WSClean's
    noise; then on the same skies with the w-term, the image-plane noise with it against without it and against the
    visibilities' noise; each once both datasets are made."""
    import os
    import subprocess
    run = "pointing-small-wide-mix-s2"
    (tmp_path / run).mkdir()
    (tmp_path / run / "best.weights.h5").touch()
    for name, status in (("pointing-calib-mid", "complete"), ("pointing-calib-mid-rms", "running"),
                         ("pointing-calib-mid-shared", "complete")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    env = {**os.environ, "OUT": str(tmp_path), "ONLY": run, "PRIORS": "1", "PART": "pointings", "STAGES": "evaluate"}

    def started():
        out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True, env=env,
                             timeout=300)
        return [line.split("] ")[1] for line in out.stdout.splitlines() if f"] compare {run}" in line], out
    # the stand-in weights stop the first comparison started; one whose second dataset is still being made is not
    first, out = started()
    assert first == [f"compare {run} on pointing-calib-mid and pointing-calib-mid-shared"], out.stdout
    assert "not a radtrain run directory" in out.stdout + out.stderr
    (tmp_path / "pointing-calib-mid-rms" / "manifest.json").write_text(json.dumps({"status": "complete"}))
    first, _ = started()
    assert first == [f"compare {run} on pointing-calib-mid and pointing-calib-mid-rms"]

    def made(name, status="complete"):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    # then the same skies with the w-term: the image-plane noise with it against without it, and against the
    # visibilities' noise
    made("pointing-calib-mid", "running")
    made("pointing-calib-mid-w-image")
    made("pointing-calib-mid-w-image-w")
    first, _ = started()
    assert first == [f"compare {run} on pointing-calib-mid-w-image and pointing-calib-mid-w-image-w"]
    made("pointing-calib-mid-w-image", "running")
    made("pointing-calib-mid-w-visibilities")
    first, _ = started()
    assert first == [f"compare {run} on pointing-calib-mid-w-image-w and pointing-calib-mid-w-visibilities"]


def test_report_tabulates_how_wscleans_images_differ_from_each_fast_imagers(tmp_path):
    """The report reads radsim compare's images/SET-shared.json and images/SET-w-shared.json (science.sh), pools
    each kind sky by sky over the sets (mean and standard error over every sky, NaN skies left out of their
    statistic), then shows each set; no images folder, no table."""
    study = tmp_path / "study"
    (study / "images").mkdir(parents=True)
    keys = ("faint_variance", "robust_width", "variance", "flux_scale", "difference_rms", "correlation")
    per_set = {"pointing-test-mid24-shared": [0.1, 0.3], "pointing-test-mid24b-shared": [0.2],
               "pointing-test-mid24-w-shared": [-0.1, -0.3, -0.2]}
    for name, values in per_set.items():
        per_sky = {k: list(values) for k in keys}
        if name == "pointing-test-mid24-shared":
            per_sky["flux_scale"] = [float("nan"), 0.3]
        (study / "images" / f"{name}.json").write_text(json.dumps({"n_skies": len(values), "per_sky": per_sky}))
    rows = report_module().image_rows(study)
    assert rows[0].startswith("| fast imager (A) | sets | skies | faint pixels' variance, % | robust width, % |")
    flat = np.array([0.1, 0.3, 0.2])
    se = flat.std(ddof=1) / np.sqrt(3)
    assert rows[2].startswith(f"| **flat sky, all** | 2 | 3 | +{flat.mean():.3f} +- {se:.3f} |")
    # the flux scale without the first set's NaN sky: 0.3 and 0.2
    assert f"| +0.250 +- {np.std([0.3, 0.2], ddof=1) / np.sqrt(2):.3f} |" in rows[2]
    w = np.array([-0.1, -0.3, -0.2])
    assert rows[3].startswith(f"| **w-term in the PSF, all** | 1 | 3 | {w.mean():+.3f} +- "
                              f"{w.std(ddof=1) / np.sqrt(3):.3f} |")
    assert [r.split(" | ")[1] for r in rows[4:]] == ["pointing-test-mid24", "pointing-test-mid24b",
                                                     "pointing-test-mid24"]
    assert rows[5].startswith("| flat sky | pointing-test-mid24b | 1 | +0.200 +- nan |")     # one sky: no error
    assert rows[2].endswith(f"| 0.2 +- 0.1 | 0.20000 +- {se:.5f} |")           # unsigned: not changes
    # EXACT=1's fixed pairs (SET-exact against SET-wsclean-linear): a kind of their own, not pooled with the others
    (study / "images" / "transfer-exact.json").write_text(json.dumps({"n_skies": 2, "per_sky": {
        k: [0.01, -0.01] for k in keys}}))
    rows = report_module().image_rows(study)
    assert rows[2].startswith("| **flat sky, all** | 2 | 3 |") and rows[3].startswith("| **w-term in the PSF, all** |")
    assert rows[4].startswith("| **exact major cycle, against WSClean restored without wrap-around, all** | 1 | 2 | "
                              "+0.000 +- 0.010 |")
    assert rows[-1].startswith("| exact major cycle, against WSClean restored without wrap-around | transfer | 2 |")
    (tmp_path / "none").mkdir()
    assert report_module().image_rows(tmp_path / "none") == []


def test_report_pools_each_networks_reading_of_wscleans_images_over_the_test_sets(tmp_path):
    """RUN/compare-imager-flat-SET.json and -imager-w-SET.json (science.sh) pooled per network and kind: the mean
    weighted by each set's skies, the standard errors combined as of independent sets."""
    study = tmp_path / "study"
    edges = [1e-7, 1e-6, 1e-5]
    run = study / "pointing-small-wide"
    run.mkdir(parents=True)
    for name, n, mean, err in (("imager-flat-pointing-test-mid24", 24, [1.0, 0.2], [0.6, 0.2]),
                               ("imager-flat-pointing-test-mid24b", 12, [4.0, -0.4], [0.8, 0.3]),
                               ("imager-w-pointing-test-mid24", 24, [2.0, 0.5], [0.5, 0.1])):
        (run / f"compare-{name}.json").write_text(json.dumps(
            {"n_skies": n, "bin_edges_jy": edges, "percent": {"mean": mean, "stderr": err, "n": [n, n]}}))
    (study / "pointing-calib-mid").mkdir()
    rows = report_module().imager_rows(study)
    assert rows[0] == ("| network | WSClean against the fast imager with its noise | sets | skies | 0.1-1 | "
                       "1-10 |")
    top = (24 * 0.2 - 12 * 0.4) / 36
    top_err = np.sqrt(24 ** 2 * 0.2 ** 2 + 12 ** 2 * 0.3 ** 2) / 36
    assert rows[2] == f"| pointing-small-wide | flat sky | 2 | 36 | +2.00 +- {np.hypot(24 * 0.6, 12 * 0.8) / 36:.2f} " \
                      f"| {top:+.2f} +- {top_err:.2f} |"
    assert rows[3] == "| pointing-small-wide | w-term in the PSF | 1 | 24 | +2.00 +- 0.50 | +0.50 +- 0.10 |"
    assert report_module().imager_rows(tmp_path / "study" / "pointing-calib-mid") == []


def test_science_script_compares_the_exact_fast_images_with_wsclean_restored_without_wrap_around(tmp_path):
    """EXACT=1 PART=pointings: the evaluate stage runs radsim compare of each fixed-pair set made by the fast imager
    with the exact major cycle (SET-exact) against WSClean's images of it restored without wrap-around
    (SET-wsclean-linear), not against WSClean's own restore (SET-wsclean), once both are made; without EXACT=1 it
    does not; with MENDED=exact every set imaged both ways."""
    import os
    import shutil
    import subprocess

    def made(name, status="complete"):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    env = {**os.environ, "OUT": str(tmp_path), "EXACT": "1", "PART": "pointings", "STAGES": "evaluate"}

    def started(**more):
        out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                             env={**env, **more}, timeout=300)
        return [line.split("] ")[1] for line in out.stdout.splitlines() if "] compare the images" in line], out
    made("transfer-24-exact")
    made("transfer-24-wsclean")
    made("transfer-24-wsclean-linear", "running")
    assert started()[0] == []
    made("transfer-24-wsclean-linear")
    # the stand-in manifests stop the comparison started (not a readable dataset)
    first, out = started()
    assert first == ["compare the images of transfer-24-exact and transfer-24-wsclean-linear"], out.stdout
    assert "radsim: error" in out.stdout + out.stderr
    assert not (tmp_path / "images" / "transfer-24-exact.json").exists()
    assert started(EXACT="0")[0] == []
    # MENDED=exact compares every set imaged both ways, the sets of drawn shapes too; EXACT=1 the fixed pairs only
    shutil.rmtree(tmp_path / "transfer-24-exact")
    made("pointing-test-mid24f-exact")
    made("pointing-test-mid24f-wsclean-linear")
    assert started()[0] == []
    assert started(EXACT="0", MENDED="exact")[0] == [
        "compare the images of pointing-test-mid24f-exact and pointing-test-mid24f-wsclean-linear"]


def test_science_script_compares_wscleans_images_with_the_fast_imagers_once_both_are_made(tmp_path):
    """With PRIORS=1 PART=pointings the evaluate stage runs radsim compare of each set's fast images with WSClean's
    noise (flat-sky, then with the w-term) against WSClean's, once both are made, and each network's radtrain
    compare of WSClean's test images against each fast imager's."""
    import os
    import subprocess

    def made(name, status="complete"):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "manifest.json").write_text(json.dumps({"status": status}))
    env = {**os.environ, "OUT": str(tmp_path), "PRIORS": "1", "PART": "pointings", "STAGES": "evaluate"}

    def started(what):
        out = subprocess.run(["bash", str(ROOT / "scripts" / "science.sh")], capture_output=True, text=True,
                             env=env, timeout=300)
        return [line.split("] ")[1] for line in out.stdout.splitlines() if f"] {what}" in line], out
    made("pointing-calib-mid-w-shared")
    made("pointing-calib-mid-wsclean", "running")
    assert started("compare the images")[0] == []
    # the stand-in manifests stop the first comparison started (not a readable dataset)
    made("pointing-calib-mid-wsclean")
    first, out = started("compare the images")
    assert first == ["compare the images of pointing-calib-mid-w-shared and pointing-calib-mid-wsclean"], out.stdout
    assert "radsim: error" in out.stdout + out.stderr
    assert not (tmp_path / "images" / "pointing-calib-mid-w-shared.json").exists()
    made("pointing-calib-mid-shared")
    assert started("compare the images")[0] == [
        "compare the images of pointing-calib-mid-shared and pointing-calib-mid-wsclean"]
    # a network's readings: WSClean's test images against the fast ones, flat-sky first
    for name in ("pointing-calib-mid-shared", "pointing-calib-mid-w-shared"):
        made(name, "running")
    run = "pointing-small-wide"
    (tmp_path / run).mkdir()
    (tmp_path / run / "best.weights.h5").touch()
    made("pointing-test-mid24b-w-shared")
    made("pointing-test-mid24b-wsclean")
    env["ONLY"] = run             # the image comparisons (of datasets) left out
    assert started(f"compare {run}")[0] == [
        f"compare {run} on pointing-test-mid24b-w-shared and pointing-test-mid24b-wsclean"]
