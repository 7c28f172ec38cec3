#!/usr/bin/env bash
# The README's main-job command: set everything up, then run the pipeline on the embedded defaults
# (configs/quickstart.toml) and write a report with plots. OUT=dir to choose where (default runs/demo).
#
# What runs today: the counts models, two sky realisations imaged with the fast imager (ASKAP uv coverage,
# noise, CLEAN), their labelled tiles and pictures of them, then the whole training set made by the MPI job
# (jobs/simulate.sh with 2 local ranks) and checked with radsim inspect. Horovod training joins this script
# when it lands.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
CONFIG="${CONFIG:-configs/quickstart.toml}"
OUT="${OUT:-runs/demo}"
mkdir -p "$OUT"
step() { printf '\n[demo] %s\n' "$*"; }

step "1/5 validating $CONFIG and listing its realisations"
radsim config "$CONFIG" --show 8 | tee "$OUT/config.txt" | tail -10

step "2/5 plotting the source-count models -> $OUT/counts.png"
radsim counts plot "$CONFIG" --out "$OUT/counts.png"

summaries=()
for index in 0 3; do
    dir="$OUT/realisation-$index"
    step "3/5 realisation $index: catalogue, sky model, imaging and labelled tiles -> $dir"
    radsim realise "$CONFIG" --index "$index" --out "$dir" --overwrite | tee "$dir.txt"
    summaries+=("$dir.txt")
done

step "4/5 the whole training set: jobs/simulate.sh with 2 MPI ranks -> $OUT/dataset"
CONFIG="$CONFIG" OUT="$OUT/dataset" NPROCS="${NPROCS:-2}" bash jobs/simulate.sh 2>&1 | tee "$OUT/simulate.txt"
radsim inspect "$OUT/dataset" | tee "$OUT/inspect.txt"

step "5/5 pictures and report"
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
} > "$OUT/REPORT.md"
step "done: report $ROOT/$OUT/REPORT.md"
