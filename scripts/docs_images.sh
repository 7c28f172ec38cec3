#!/usr/bin/env bash
# Refresh the pictures of the manual (docs/images/) from a finished demo run (bash scripts/demo.sh), so that
# every picture in the README is made by the project's own commands:
#   realisation.png     radsim preview of realisation 3 (sky model, restored image, PSF, a tile and its labels)
#   counts-models.png   radsim counts plot of configs/quickstart.toml
#   reconstruction.png  radtrain evaluate: predicted and true N(S) of the test skies
#   residuals.png       radtrain evaluate: the residual dy per bin
#   prediction.png      radtrain predict on realisation 3's restored FITS image
#   OUT=runs/demo bash scripts/docs_images.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/runs/demo}"
DEST="$ROOT/docs/images"
mkdir -p "$DEST"
copy() {
    [ -f "$OUT/$1" ] || { echo "[docs_images] error: $OUT/$1 missing: run bash scripts/demo.sh first" >&2; exit 2; }
    cp "$OUT/$1" "$DEST/$2"
    echo "[docs_images] $OUT/$1 -> docs/images/$2"
}
copy preview-3.png realisation.png
copy counts.png counts-models.png
copy train/evaluate-test/counts.png reconstruction.png
copy train/evaluate-test/dy.png residuals.png
copy predict/prediction.png prediction.png
