#!/usr/bin/env bash
# A scaling sweep: simulation and training runs over numbers of ranks, strong (fixed total work) and weak
# (fixed work per rank), each into its own directory, then `radsim scaling` over all of them.
#
#   RANKS="1 2" bash jobs/scaling.sh                      # no Slurm: runs one after the other on this machine
#   RANKS="16 32 64 128" TRAIN_RANKS="1 2 4 8" sbatch ... # no: run it with bash on a login node, it submits:
#   RANKS="16 32 64 128" TRAIN_RANKS="4 8 16" bash jobs/scaling.sh   # inside Slurm's reach: sbatch per run
#
# Directories (OUT, default runs/scaling):
#   sim-strong-nN    STRONG_REALISATIONS realisations on N ranks            (repeats set to give that total)
#   sim-weak-nN      WEAK_PER_RANK realisations per rank, on N ranks
#   train-strong-nN  global batch TRAIN_GLOBAL_BATCH split over N ranks, on the sim-strong dataset of the
#                    fewest ranks
#   train-weak-bB-nN B tiles per rank (each B of TRAIN_BATCH) on N ranks, same dataset
#   report/          radsim scaling: scaling.md, scaling.csv, model.json, speedup.png, efficiency.png, stages.png
#
# Environment (all optional): CONFIG (configs/quickstart.toml), TRAIN_CONFIG (configs/train-quickstart.toml),
# OUT, RANKS ("1 2": simulation ranks), TRAIN_RANKS (default RANKS), STRONG_REALISATIONS (24),
# WEAK_PER_RANK (8), TRAIN_GLOBAL_BATCH (32), TRAIN_BATCH ("16"; a list gives one weak series per batch),
# TRAIN_EPOCHS (4), KINDS ("simulate train"),
# THREADS_PER_RANK (1: each training rank gets one thread, so per-rank resources stay fixed),
# SIM_SBATCH_ARGS / TRAIN_SBATCH_ARGS (extra sbatch options under Slurm, e.g. "--gpus-per-node=4"),
# SIM_TASKS_PER_NODE (16) / TRAIN_TASKS_PER_NODE (4: one rank per GPU): how many ranks go on one node.
# A directory that already holds a finished run is kept (the sweep can be resumed).
set -euo pipefail

say() { printf '[scaling.sh] %s\n' "$*"; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER="$PWD"      # relative CONFIG, TRAIN_CONFIG and OUT are the caller's; the defaults are the repository's
abspath() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$CALLER" "$1" ;; esac; }
if [ -n "${CONFIG:-}" ]; then CONFIG="$(abspath "$CONFIG")"; else CONFIG="$ROOT/configs/quickstart.toml"; fi
if [ -n "${TRAIN_CONFIG:-}" ]; then TRAIN_CONFIG="$(abspath "$TRAIN_CONFIG")"
else TRAIN_CONFIG="$ROOT/configs/train-quickstart.toml"; fi
if [ -n "${OUT:-}" ]; then OUT="$(abspath "$OUT")"; else OUT="$ROOT/runs/scaling"; fi
cd "$ROOT"
read -r -a RANKS <<< "${RANKS:-1 2}"
read -r -a TRAIN_RANKS <<< "${TRAIN_RANKS:-${RANKS[*]}}"
read -r -a KINDS <<< "${KINDS:-simulate train}"
STRONG_REALISATIONS="${STRONG_REALISATIONS:-24}"
WEAK_PER_RANK="${WEAK_PER_RANK:-8}"
TRAIN_GLOBAL_BATCH="${TRAIN_GLOBAL_BATCH:-32}"
read -r -a TRAIN_BATCHES <<< "${TRAIN_BATCH:-16}"
TRAIN_EPOCHS="${TRAIN_EPOCHS:-4}"
export RADTRAIN_THREADS_PER_RANK="${THREADS_PER_RANK:-1}"
mkdir -p "$OUT"

if [ -x "$ROOT/.venv/bin/radsim" ]; then
    RADSIM="$ROOT/.venv/bin/radsim"
    PY="$ROOT/.venv/bin/python"
else
    RADSIM=radsim
    PY=python3
fi
USE_SLURM=0
if [ -z "${SLURM_JOB_ID:-}" ] && command -v sbatch >/dev/null && [ "${SCALING_LOCAL:-0}" != 1 ] \
        && sinfo -h >/dev/null 2>&1; then
    USE_SLURM=1
fi

# number of parameter sets of CONFIG, to turn a number of realisations into realisations.repeats
SETS="$("$PY" -c 'import sys; from radsim import config; from radsim.run import realisations; print(realisations.n_sets(config.load(sys.argv[1])))' "$CONFIG")"
repeats_for() { echo $(( ($1 + SETS - 1) / SETS )); }

finished() {   # a directory holding a complete dataset or a complete training run
    local f
    for f in "$1/manifest.json" "$1/run.json"; do
        if [ -f "$f" ] && grep -q '"status": "complete"' "$f"; then
            return 0
        fi
    done
    return 1
}

# Outside Slurm, confine a run on N ranks to the first N x THREADS_PER_RANK cores (taskset), so that every rank
# has the same resources whatever N: a 1-rank run would otherwise borrow the idle cores for its helper threads.
pin() {
    local want=$(( $1 * ${THREADS_PER_RANK:-1} ))
    if command -v taskset >/dev/null && [ "$want" -le "$(nproc)" ]; then
        echo "taskset -c 0-$((want - 1))"
    fi
}

# sbatch options placing N ranks on nodes of at most PER_NODE tasks (overriding the scripts' #SBATCH lines)
layout() {
    local n="$1" per="$2" nodes
    nodes=$(( (n + per - 1) / per ))
    echo "--nodes=$nodes --ntasks=$n --ntasks-per-node=$(( (n + nodes - 1) / nodes ))"
}

JOBS=()
RUN_DIRS=()
simulate() {   # simulate NAME RANKS REALISATIONS
    local dir="$OUT/$1" n="$2" repeats
    repeats="$(repeats_for "$3")"
    RUN_DIRS+=("$dir")
    if finished "$dir"; then say "$dir: done already"; return; fi
    say "$dir: $((repeats * SETS)) realisations on $n rank(s)"
    if [ "$USE_SLURM" = 1 ]; then
        read -r -a extra <<< "${SIM_SBATCH_ARGS:-}"
        local exports="ALL,CONFIG=$CONFIG,OUT=$dir,RADSIM_ARGS=--set realisations.repeats=$repeats"
        local -a place
        read -r -a place <<< "$(layout "$n" "${SIM_TASKS_PER_NODE:-16}")"
        JOBS+=("$(sbatch --parsable "${place[@]}" "${extra[@]}" --job-name="scaling-$1" \
                  --output="$OUT/$1-%j.out" --export="$exports" jobs/simulate.sh)")
    else
        local -a confine
        read -r -a confine <<< "$(pin "$n")"
        CONFIG="$CONFIG" OUT="$dir" NPROCS="$n" RADSIM_ARGS="--set realisations.repeats=$repeats" \
            "${confine[@]}" bash jobs/simulate.sh > "$OUT/$1.log" 2>&1
    fi
}

train() {      # train NAME RANKS BATCH_PER_RANK DATASET [DEPENDENCY]
    local dir="$OUT/$1" n="$2" batch="$3" data="$4" dep="${5:-}"
    RUN_DIRS+=("$dir")
    if finished "$dir"; then say "$dir: done already"; return; fi
    say "$dir: $n rank(s), batch $batch per rank"
    local args="--set data.batch_size=$batch --set train.epochs=$TRAIN_EPOCHS --set train.patience=0 --overwrite"
    if [ "$USE_SLURM" = 1 ]; then
        read -r -a extra <<< "${TRAIN_SBATCH_ARGS:-}"
        local exports="ALL,CONFIG=$TRAIN_CONFIG,DATASET=$data,OUT=$dir,EVALUATE=0,RADTRAIN_ARGS=$args"
        local -a place
        read -r -a place <<< "$(layout "$n" "${TRAIN_TASKS_PER_NODE:-4}")"
        JOBS+=("$(sbatch --parsable "${place[@]}" "${extra[@]}" ${dep:+--dependency=afterok:$dep} \
                  --job-name="scaling-$1" --output="$OUT/$1-%j.out" --export="$exports" jobs/train.sh)")
    else
        local -a confine
        read -r -a confine <<< "$(pin "$n")"
        CONFIG="$TRAIN_CONFIG" DATASET="$data" OUT="$dir" NPROCS="$n" EVALUATE=0 RADTRAIN_ARGS="$args" \
            "${confine[@]}" bash jobs/train.sh > "$OUT/$1.log" 2>&1
    fi
}

for kind in "${KINDS[@]}"; do
    case "$kind" in
        simulate)
            for n in "${RANKS[@]}"; do simulate "sim-strong-n$n" "$n" "$STRONG_REALISATIONS"; done
            for n in "${RANKS[@]}"; do simulate "sim-weak-n$n" "$n" $((WEAK_PER_RANK * n)); done
            ;;
        train)
            data="$OUT/sim-strong-n${RANKS[0]}"
            dep=""
            if ! finished "$data"; then
                simulate "sim-strong-n${RANKS[0]}" "${RANKS[0]}" "$STRONG_REALISATIONS"
                [ "$USE_SLURM" = 1 ] && dep="${JOBS[-1]}"
            fi
            for n in "${TRAIN_RANKS[@]}"; do
                train "train-strong-n$n" "$n" $((TRAIN_GLOBAL_BATCH / n)) "$data" "$dep"
            done
            for b in "${TRAIN_BATCHES[@]}"; do
                for n in "${TRAIN_RANKS[@]}"; do train "train-weak-b$b-n$n" "$n" "$b" "$data" "$dep"; done
            done
            ;;
        *) echo "[scaling.sh] error: unknown kind '$kind' in KINDS (simulate, train)" >&2; exit 2 ;;
    esac
done

# the runs of this sweep (a training sweep also lists the dataset it made), each once
mapfile -t DIRS < <(printf '%s\n' "${RUN_DIRS[@]}" | awk '!seen[$0]++')
if [ "$USE_SLURM" = 1 ] && [ "${#JOBS[@]}" -gt 0 ]; then
    deps="$(IFS=:; echo "${JOBS[*]}")"
    sbatch --parsable --ntasks=1 --job-name=scaling-report --dependency="afterany:$deps" \
        --output="$OUT/report-%j.out" --wrap="$RADSIM scaling ${DIRS[*]} --out $OUT/report" >/dev/null
    say "submitted ${#JOBS[@]} job(s) and a report job after them: $OUT/report"
else
    "$RADSIM" scaling "${DIRS[@]}" --out "$OUT/report"
    say "report: $OUT/report/scaling.md"
fi
