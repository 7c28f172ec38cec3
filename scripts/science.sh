#!/usr/bin/env bash
# The science run of docs/results.md (issue 8): the seed study reproduced end to end with radsim and radtrain,
# and the P(D) baseline beside it. Every step resumes when run again (radsim simulate and radtrain fit pick up
# where they stopped; finished steps are skipped), so the script can be stopped and restarted at will.
#
#   bash scripts/science.sh                 # everything into runs/study (about 2.5 hours on 2 cores)
#   STAGES="simulate pofd" bash scripts/science.sh
#   OUT=/scratch/study NPROCS=64 bash scripts/science.sh
#
# Stages (STAGES, default all, in this order):
#   simulate  seed-{fast,none}: configs/emu-seed.toml (21 skies, 17 train / 4 validation) imaged by the fast
#             imager (restored images, EMU noise and beam) and by none (sky model x 15 arcsec beam);
#             test-{fast,none}: configs/emu-seed-test.toml (8 held-out skies, 4 of them (S0, alpha) pairs never
#             trained on); dense-{fast,none}: configs/emu-seed-dense.toml (36 skies of varied count shapes);
#             seed-none-tile: seed-none split tile by tile as the seed study did (hard links, no new tiles)
#   train     seed-small and seed-large on seed-none and seed-fast, seed-small on dense-{fast,none} and
#             seed-none-tile
#   evaluate  every run on the held-out skies of its backend (and the per-tile run on its own leaky test split)
#   pofd      the P(D) baseline on test-fast and test-none
#   report    docs/results.md tables and docs/images/results-*.png (scripts/science_report.py)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
OUT="${OUT:-runs/study}"
NPROCS="${NPROCS:-$(nproc)}"
STAGES="${STAGES:-simulate train evaluate pofd report}"
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=2 OMP_NUM_THREADS=1
say() { printf '\n[science %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
wants() { [[ " $STAGES " == *" $1 "* ]]; }
launch() { if command -v mpirun >/dev/null && [ "$NPROCS" -gt 1 ]; then mpirun -n "$NPROCS" "$@"; else "$@"; fi; }

SEED_SPLIT=(--set dataset.train_fraction=0.81 --set dataset.validation_fraction=0.19 --set dataset.test_fraction=0.0)
NONE=(--set 'imaging.backend="none"' --set imaging.beam_arcsec=15.0)

simulate() {   # name config [overrides...]
    local name="$1" config="$2"
    shift 2
    say "simulate $name ($config, $NPROCS ranks)"
    launch radsim simulate "$config" "$@" --out "$OUT/$name" 2>&1 | tee "$OUT/$name.log" | grep -v DEBUG | tail -3
}

fit() {        # run config dataset
    local run="$1" config="$2" dataset="$3"
    say "train $run ($config on $dataset)"
    radtrain fit "$config" --dataset "$OUT/$dataset" --out "$OUT/$run" 2>&1 | tee "$OUT/$run.log" | tail -3
}

evaluate() {   # run test-dataset [split] [name]
    local run="$1" dataset="$2" split="${3:-test}" name="${4:-eval-test}"
    say "evaluate $run on the $split split of $dataset"
    radtrain evaluate "$OUT/$run" --split "$split" --dataset "$OUT/$dataset" --out "$OUT/$run/$name" \
        2>&1 | tee "$OUT/$run-$name.log" | tail -14
}

if wants simulate; then
    simulate seed-fast configs/emu-seed.toml "${SEED_SPLIT[@]}"
    simulate test-fast configs/emu-seed-test.toml
    simulate seed-none configs/emu-seed.toml "${SEED_SPLIT[@]}" "${NONE[@]}"
    simulate test-none configs/emu-seed-test.toml "${NONE[@]}"
    simulate dense-fast configs/emu-seed-dense.toml
    simulate dense-none configs/emu-seed-dense.toml "${NONE[@]}"
    if [ ! -e "$OUT/seed-none-tile/manifest.json" ]; then
        say "seed-none-tile: seed-none's tiles (hard links) split tile by tile, 72/18/10 as the seed did"
        cp -al "$OUT/seed-none" "$OUT/seed-none-tile"
    fi
    radsim simulate configs/emu-seed.toml "${NONE[@]}" --set 'dataset.split_by="tile"' --out "$OUT/seed-none-tile" \
        2>&1 | tail -2
fi

if wants train; then
    fit none-small configs/train-seed-small.toml seed-none
    fit fast-small configs/train-seed-small.toml seed-fast
    fit dense-small configs/train-seed-small.toml dense-fast
    fit dense-none-small configs/train-seed-small.toml dense-none
    fit tile-none-small configs/train-seed-small.toml seed-none-tile
    fit none-large configs/train-seed-large.toml seed-none
    fit fast-large configs/train-seed-large.toml seed-fast
fi

if wants evaluate; then
    for run in none-small none-large fast-small fast-large dense-small dense-none-small tile-none-small; do
        [ -e "$OUT/$run/best.weights.h5" ] || { say "$run: not trained, skipped"; continue; }
        case "$run" in none-*|tile-none-*|dense-none-*) testset="test-none" ;; *) testset="test-fast" ;; esac
        evaluate "$run" "$testset"
    done
    if [ -e "$OUT/tile-none-small/best.weights.h5" ]; then
        evaluate tile-none-small seed-none-tile test eval-tile-split
    fi
fi

if wants pofd; then
    for b in fast none; do
        if [ -e "$OUT/pofd-$b/pofd.json" ]; then say "pofd-$b: done"; continue; fi
        say "P(D) baseline on test-$b"
        radsim pofd "$OUT/test-$b" --out "$OUT/pofd-$b" 2>&1 | tee "$OUT/pofd-$b.log" | tail -14
    done
fi

if wants report; then
    say "report -> docs/results.md"
    python scripts/science_report.py "$OUT"
fi
