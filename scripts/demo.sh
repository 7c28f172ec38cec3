#!/usr/bin/env bash
# The README's main-job command: set everything up, then run the pipeline on the embedded defaults
# (configs/quickstart.toml) and write a report with plots. OUT=dir to choose where (default runs/demo).
#
# What runs: the counts models, two sky realisations imaged with the fast imager (ASKAP uv coverage, noise,
# CLEAN), their labelled tiles and pictures of them, the whole training set made by the MPI job
# (jobs/simulate.sh with 2 local ranks) and checked with radsim inspect, a few epochs of CNN training with 2
# Horovod ranks (jobs/train.sh, configs/train-quickstart.toml) evaluated on the test skies, and N(S) predicted
# for one restored FITS image.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
CONFIG="${CONFIG:-configs/quickstart.toml}"
OUT="${OUT:-runs/demo}"
mkdir -p "$OUT"
step() { printf '\n[demo] %s\n' "$*"; }

step "1/7 validating $CONFIG and listing its realisations"
radsim config "$CONFIG" --show 8 | tee "$OUT/config.txt" | tail -10

step "2/7 plotting the source-count models -> $OUT/counts.png"
radsim counts plot "$CONFIG" --out "$OUT/counts.png"

summaries=()
for index in 0 3; do
    dir="$OUT/realisation-$index"
    step "3/7 realisation $index: catalogue, sky model, imaging and labelled tiles -> $dir"
    radsim realise "$CONFIG" --index "$index" --out "$dir" --overwrite | tee "$dir.txt"
    summaries+=("$dir.txt")
done

step "4/7 the whole training set: jobs/simulate.sh with 2 MPI ranks -> $OUT/dataset"
CONFIG="$CONFIG" OUT="$OUT/dataset" NPROCS="${NPROCS:-2}" bash jobs/simulate.sh 2>&1 | tee "$OUT/simulate.txt"
radsim inspect "$OUT/dataset" | tee "$OUT/inspect.txt"

step "5/7 training the CNN: jobs/train.sh with 2 Horovod ranks, then evaluation -> $OUT/train"
dataset_dir="$OUT/dataset"
run_dir="$OUT/train"
CONFIG="${TRAIN_CONFIG:-configs/train-quickstart.toml}" DATASET="$dataset_dir" OUT="$run_dir" \
    NPROCS="${NPROCS:-2}" bash jobs/train.sh 2>&1 | grep -v -e 'oneDNN' -e 'cpu_feature_guard' -e 'rebuild TensorFlow' \
    | tee "$OUT/train.txt"
radtrain evaluate "$OUT/train" --split test > "$OUT/evaluate.txt"

step "6/7 predicting N(S) of $OUT/realisation-3/restored.fits -> $OUT/predict"
radtrain predict "$OUT/train" "$OUT/realisation-3/restored.fits" --out "$OUT/predict" | tee "$OUT/predict.txt"

step "7/7 pictures and report"
for index in 0 3; do
    radsim preview "$OUT/realisation-$index" --out "$OUT/preview-$index.png"
done
{
    echo "# radsim demo report"
    echo
    echo "Config: \`$CONFIG\` (hash $(grep -m1 '^# config hash' "$OUT/config.txt" | cut -d' ' -f4 | cut -c1-16)); made $(date -u +%Y-%m-%dT%H:%MZ)."
    echo
    echo "## Source-count models"
    echo
    echo "![counts](counts.png)"
    for index in 0 3; do
        echo
        echo "## Realisation $index"
        echo
        echo '```'
        cat "$OUT/realisation-$index.txt"
        echo '```'
        echo
        echo "![preview $index](preview-$index.png)"
    done
    echo
    echo "## The dataset (radsim simulate, 2 MPI ranks)"
    echo
    echo '```'
    cat "$OUT/inspect.txt"
    echo '```'
    echo
    echo "## Training (jobs/train.sh, 2 Horovod ranks) and evaluation on the test skies"
    echo
    echo '```'
    # a rerun finds the training complete and prints no epochs: that line stands for them
    { grep -E 'epoch [0-9]+/|done:|training already complete' "$OUT/train.txt" || true; } | sed 's/^.*INFO: //'
    echo
    cat "$OUT/evaluate.txt"
    echo '```'
    echo
    echo "![N(S) of the test skies](train/evaluate-test/counts.png)"
    echo
    echo "![residuals per bin](train/evaluate-test/dy.png)"
    echo
    echo "## N(S) predicted for realisation 3's restored image"
    echo
    echo '```'
    cat "$OUT/predict.txt"
    echo '```'
    echo
    echo "![prediction](predict/prediction.png)"
} > "$OUT/REPORT.md"
case "$OUT" in /*) report="$OUT/REPORT.md" ;; *) report="$ROOT/$OUT/REPORT.md" ;; esac
step "done: report $report"
