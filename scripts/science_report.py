"""Tables and plots of the science run (scripts/science.sh) into docs/results.md.

    python scripts/science_report.py runs/study [--doc docs/results.md] [--images docs/images]

Reads what the runs left behind (radtrain evaluate's metrics.json, radsim pofd's pofd.json, the datasets'
manifests and labels, the training histories), so every figure in the report comes from the products. The text
between the markers <!-- generated:begin --> and <!-- generated:end --> of the document is replaced; the rest
(the discussion) is kept.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radsim.dataset.metrics import plot_residuals  # noqa: E402
from radsim.dataset import reader

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"

#: (run directory, label, training set, test set); the P(D) entries are the baselines
RUNS = [
    ("none-small", "seed-small, sky models", "seed-none", "test-none"),
    ("none-large", "seed-large, sky models", "seed-none", "test-none"),
    ("tile-none-small", "seed-small, sky models, per-tile split", "seed-none-tile", "test-none"),
    ("dense-none-small", "seed-small, sky models, dense set", "dense-none", "test-none"),
    ("fast-small", "seed-small, restored", "seed-fast", "test-fast"),
    ("fast-large", "seed-large, restored", "seed-fast", "test-fast"),
    ("dense-small", "seed-small, restored, dense set", "dense-fast", "test-fast"),
]
POFD = [("pofd-none", "P(D) fit, sky models", "test-none"), ("pofd-fast", "P(D) fit, restored", "test-fast")]


def load(study: Path):
    runs = {}
    for name, label, train, test in RUNS:
        path = study / name / "eval-test" / "metrics.json"
        if path.exists():
            runs[name] = {"label": label, "train": train, "test": test, "m": json.loads(path.read_text()),
                          "history": _history(study / name / "history.csv"), "run": study / name}
    for name, label, test in POFD:
        path = study / name / "pofd.json"
        if path.exists():
            runs[name] = {"label": label, "train": None, "test": test, "m": json.loads(path.read_text())}
    leaky = study / "tile-none-small" / "eval-tile-split" / "metrics.json"
    if leaky.exists():
        runs["tile-none-small/leaky"] = {"label": "seed-small, sky models, per-tile split, its own test tiles "
                                                  "(leaky)", "train": "seed-none-tile", "test": "seed-none-tile",
                                         "m": json.loads(leaky.read_text())}
    return runs


def _history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def fmt(x, spec="+.3f"):
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def goal_rows(runs: dict) -> list[str]:
    """Per run: the worst |mean dy| over the bins within 10x and within 100x of the threshold, and whether the
    run beats its backend's P(D) baseline bin by bin."""
    out = ["| reading | test skies | max \\|mean dy\\|, bin 6.3-10 uJy (10-16x below) | max \\|mean dy\\|, "
           "1-10 uJy (10-100x below) | max \\|mean dy\\|, 0.1-1 uJy (100-1000x below) | bins where \\|mean dy\\| "
           "beats P(D) | bins where the rms of dy over skies beats P(D) |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in runs.items():
        m = r["m"]
        dy = np.abs(np.asarray(m["per_sky"]["dy"]["mean"]))
        upper = np.asarray(m["bin_edges_jy"][1:])
        thr = m["detection_threshold_jy"]
        near = dy[upper >= thr / 10 * 0.999]
        mid = dy[upper >= thr / 100 * 0.999]
        far = dy[upper < thr / 100 * 0.999]
        base = runs.get("pofd-fast" if r["test"] == "test-fast" else "pofd-none")
        if base is None or name.startswith("pofd") or r["test"] != base["test"]:
            beats = beats_rms = "-"
        else:
            b = np.abs(np.asarray(base["m"]["per_sky"]["dy"]["mean"]))
            beats = f"{int(np.sum(dy < b))} of {dy.size}"
            beats_rms = f"{int(np.sum(rms_dy(m) < rms_dy(base['m'])))} of {dy.size}"
        out.append(f"| {r['label']} | {m['n_skies']} | {near.max():.3f} | {mid.max():.3f} | {far.max():.3f} | "
                   f"{beats} | {beats_rms} |")
    return out


def rms_dy(m: dict) -> np.ndarray:
    """Root mean square over the skies of dy per bin, from its mean and (sample) spread."""
    mean, std, n = np.asarray(m["per_sky"]["dy"]["mean"]), np.asarray(m["per_sky"]["dy"]["std"]), m["n_skies"]
    return np.sqrt(mean ** 2 + std ** 2 * (n - 1) / max(n, 1))


def bin_table(r: dict) -> list[str]:
    m = r["m"]
    e = m["bin_edges_jy"]
    f = m["factor_below_threshold"]
    dy, rel = m["per_sky"]["dy"], m["per_sky"]["relative_error"]
    out = [f"**{r['label']}** (trained on `{r['train']}`, tested on `{r['test']}`, {m['n_skies']} skies)"
           if r["train"] else f"**{r['label']}** (`{r['test']}`, {m['n_skies']} skies)", "",
           "| bin (uJy) | x below threshold | dy per sky: mean | spread | relative error: mean | spread |",
           "|---|---:|---:|---:|---:|---:|"]
    for i in range(len(e) - 1):
        out.append(f"| {e[i] * 1e6:.3g}-{e[i + 1] * 1e6:.3g} | {f[i]:.0f} | {fmt(dy['mean'][i])} | "
                   f"{fmt(dy['std'][i], '.3f')} | {fmt(rel['mean'][i])} | {fmt(rel['std'][i], '.3f')} |")
    return out


def correlation_rows(runs: dict, study: Path) -> list[str]:
    out = ["| | mean correlation, neighbouring bins | all pairs of bins |", "|---|---:|---:|"]
    for name in ("seed-fast", "dense-fast"):
        c = label_correlation(study / name)
        if c is not None:
            out.append(f"| labels of the training set `{name}` (log counts per sky; the same skies, so the same "
                       f"labels, for both imagings) | {c[0]:.3f} | {c[1]:.3f} |")
    for name, r in runs.items():
        rc = r["m"].get("residual_correlation")
        if rc:
            for level in ("per_sky", "per_tile"):
                out.append(f"| residuals of {r['label']}, {level.replace('_', ' ')} | "
                           f"{fmt(rc[level]['neighbours'], '.3f')} | {fmt(rc[level]['all_pairs'], '.3f')} |")
    return out


def label_correlation(directory: Path):
    """Mean correlation of neighbouring bins and of all pairs of the per-sky log counts of a dataset's
    training split."""
    if not (directory / "manifest.json").exists():
        return None
    ds = reader.Dataset(directory)
    t = ds.load("train", datasets=("labels", "realisation"))
    ids = np.unique(t["realisation"])
    sky = np.array([t["labels"][t["realisation"] == i].sum(axis=0) for i in ids], dtype=np.float64)
    c = np.corrcoef(np.log(sky), rowvar=False)
    nb = c.shape[0]
    return float(np.mean(np.diagonal(c, 1))), float(np.mean(c[~np.eye(nb, dtype=bool)]))


def timing_rows(study: Path, runs: dict) -> list[str]:
    out = ["| step | what | wall time | notes |", "|---|---|---:|---|"]
    for name in ("seed-fast", "seed-none", "test-fast", "test-none", "dense-fast", "dense-none"):
        path = study / name / "manifest.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text())
        wall = sum(r["wall_s"] for r in m["runs"] if r.get("made"))
        ranks = max((r["ranks"] for r in m["runs"]), default=1)
        core = [sum(r["timings_s"].values()) for r in m["realisations"]]
        out.append(f"| simulate | `{name}`: {m['done']} skies, {m['config']['imaging']['backend']} | "
                   f"{wall / 60:.1f} min | {ranks} MPI ranks; {np.mean(core):.0f} s per sky on one core "
                   f"({np.min(core):.0f}-{np.max(core):.0f}) |")
    for name, r in runs.items():
        h = r.get("history")
        if h:
            train = sum(float(x["train_s"]) + float(x["validation_s"]) for x in h)
            best = min(h, key=lambda x: float(x["val_loss"]))
            out.append(f"| train | {r['label']} | {train / 60:.1f} min | {len(h)} epochs "
                       f"({train / len(h):.0f} s each), best epoch {best['epoch']} |")
    for name, r in runs.items():
        s = r["m"].get("seconds")
        if s is not None:
            step = "P(D) fit" if name.startswith("pofd") else "evaluate"
            per = f"{s / r['m']['n_skies']:.0f} s per sky" if name.startswith("pofd") else ""
            out.append(f"| {step} | {r['label']} on `{r['test']}` | {s / 60:.1f} min | {per} |")
    return out


def figures(runs: dict, images: Path) -> list[str]:
    images.mkdir(parents=True, exist_ok=True)
    out = []
    groups = [("results-dy-none.png", "sky models (none backend, 15 arcsec beam, no noise)",
               ["none-small", "none-large", "dense-none-small", "tile-none-small", "pofd-none"]),
              ("results-dy-fast.png", "restored images (fast imager, EMU noise and beam)",
               ["fast-small", "fast-large", "dense-small", "pofd-fast"])]
    for filename, title, names in groups:
        entries = [(runs[n]["label"], runs[n]["m"]) for n in names if n in runs]
        if entries:
            n_skies = entries[0][1]["n_skies"]
            plot_residuals(entries, images / filename, title=f"{title}: {n_skies} held-out skies")
            out.append(f"![{title}](images/{filename})")
    return out


def generate(study: Path, images: Path) -> str:
    runs = load(study)
    if not runs:
        raise SystemExit(f"{study}: no evaluated runs or P(D) fits (run scripts/science.sh first)")
    lines = ["### Goals at a glance", "",
             "Per-sky dy, mean over the held-out test skies. The goal: below 0.05 within 10x of the threshold, below "
             "0.10 within 100x, and better than the P(D) baseline in every bin. The label bins start 12.6x below the "
             "threshold (their top edge, 10 uJy, is 10x below it), so the first goal applies to the top bin, the "
             "second to the five bins from 1 to 10 uJy. Beating P(D) is counted twice: by |mean dy| (the bias) and "
             "by the rms of dy over the skies (bias and scatter together).", ""]
    lines += goal_rows(runs)
    lines += ["", "### Residuals per bin", ""] + figures(runs, images) + [""]
    for r in runs.values():
        lines += bin_table(r) + [""]
    lines += ["### Do the bins err together?", "",
              "Correlation between bins, across the test skies (per sky) and across the test tiles (per tile), of "
              "the relative residuals (per sky) and the count residuals (per tile); and, for comparison, of the "
              "training sets' own per-sky counts.", ""]
    lines += correlation_rows(runs, study) + [""]
    lines += ["### How long each step took (this machine, 2 cores, steps often sharing them)", ""]
    lines += timing_rows(study, runs) + [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", type=Path, help="the study directory of scripts/science.sh (runs/study)")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "results.md")
    p.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    args = p.parse_args(argv)
    body = generate(args.study, args.images)
    text = args.doc.read_text() if args.doc.exists() else f"# Results\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{args.doc}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    args.doc.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    print(f"wrote {args.doc} and its figures in {args.images}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
