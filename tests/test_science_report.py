"""scripts/science_report.py: the figures of docs/results.md come from the runs' own products, the goal columns
are computed from them, and the hand-written text around the generated block survives a rewrite."""
import importlib.util
import json
from pathlib import Path

import numpy as np

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


def test_report_tables_goals_and_kept_text(tmp_path):
    study = tmp_path / "study"
    cnn = [0.3, 0.2, 0.1, 0.05, 0.04, 0.03, 0.08, 0.02, 0.01, 0.02]       # the worst 1-10 uJy bin: 0.08
    pd = [0.5, 0.4, 0.2, 0.1, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01]
    (study / "none-small" / "eval-test").mkdir(parents=True)
    (study / "none-small" / "eval-test" / "metrics.json").write_text(json.dumps(metrics(cnn)))
    (study / "none-small" / "history.csv").write_text(
        "epoch,loss,val_loss,train_s,validation_s\n1,1.0,0.5,30,2\n2,0.5,0.25,28,2\n")
    (study / "pofd-none").mkdir(parents=True)
    (study / "pofd-none" / "pofd.json").write_text(json.dumps(metrics(pd)))
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nwritten by hand\n\n<!-- generated:begin -->\nold\n<!-- generated:end -->\n\n"
                   "## Discussion\n\nalso by hand\n")
    module = report_module()
    assert module.main([str(study), "--doc", str(doc), "--images", str(tmp_path / "images")]) == 0
    text = doc.read_text()
    assert "written by hand" in text and "also by hand" in text and "\nold\n" not in text
    # the goal row: worst |dy| in the top bin, within 100x, beyond; bins where the CNN beats P(D)
    row = next(line for line in text.splitlines() if line.startswith("| seed-small, sky models |"))
    assert "| 0.020 | 0.080 | 0.300 | 4 of 10 | 4 of 10 |" in row          # no spread: rms = |mean|
    assert "| 0.010 | 0.010 | 0.500 | - | - |" in next(line for line in text.splitlines()
                                                    if line.startswith("| P(D) fit, sky models |"))
    assert "| train | seed-small, sky models | 1.0 min | 2 epochs (31 s each), best epoch 2 |" in text
    assert (tmp_path / "images" / "results-dy-none.png").stat().st_size > 10_000
    assert "results-dy-fast.png" not in text                 # no restored-image runs: no empty figure
