#!/usr/bin/env bash
#SBATCH --job-name=radsim-simulate
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=16
#SBATCH --cpus-per-task=1
#SBATCH --time=04:00:00
#SBATCH --output=radsim-simulate-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#
# radsim simulate as a Slurm batch job, or with plain bash on a workstation.
#
#   sbatch jobs/simulate.sh                                   # defaults below
#   sbatch -N 8 --ntasks-per-node=64 --time=12:00:00 \
#          --export=ALL,CONFIG=configs/emu-seed.toml,OUT=/scratch/$USER/emu-seed jobs/simulate.sh
#   CONFIG=configs/quickstart.toml OUT=runs/sim NPROCS=2 bash jobs/simulate.sh   # no Slurm: mpirun
#
# Environment (all optional):
#   CONFIG        radsim config (default configs/quickstart.toml), relative to the submit directory
#   OUT           dataset directory (default runs/simulate); on a cluster, put it on the parallel file system
#   RADSIM_IMAGE  Apptainer image (containers/radsim.def): every rank runs `apptainer exec` in it, with the
#                 output and config directories bound; otherwise radsim from .venv or PATH is used
#   RADSIM_ARGS   extra arguments for `radsim simulate`, e.g. "--set imaging.backend=wsclean"
#   NPROCS        ranks for mpirun outside Slurm (default: the number of cores)
#   RADSIM_MPI    srun's --mpi plugin (default pmix when `srun --mpi=list` offers it)
#
# Each rank uses one core (ducc0 and numpy single-threaded); memory per rank is about 0.5 GiB for a
# 2560 x 2560 sky model and 1.6 GiB with the fast imager (benchmarks/README.md): ask for --mem-per-cpu
# accordingly. The job is requeue-safe: a requeued or resubmitted job continues the same dataset, keeping
# every completed realisation.
set -euo pipefail

say() { printf '[simulate.sh] %s\n' "$*"; }

if [ -n "${SLURM_JOB_ID:-}" ]; then
    ROOT="${SLURM_SUBMIT_DIR:-$PWD}"       # sbatch runs a copy of this script: start from the submit dir
else
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fi
cd "$ROOT"

CONFIG="${CONFIG:-configs/quickstart.toml}"
OUT="${OUT:-runs/simulate}"
read -r -a EXTRA <<< "${RADSIM_ARGS:-}"

if [ ! -f "$CONFIG" ]; then
    echo "[simulate.sh] error: config file not found: $CONFIG (set CONFIG=...)" >&2
    exit 2
fi
mkdir -p "$OUT" || { echo "[simulate.sh] error: cannot create output directory $OUT" >&2; exit 2; }
CONFIG="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
OUT="$(cd "$OUT" && pwd)"

# what each rank runs: radsim in the image, from the project's .venv, or from PATH
if [ -n "${RADSIM_IMAGE:-}" ]; then
    command -v apptainer >/dev/null || { echo "[simulate.sh] error: RADSIM_IMAGE is set but apptainer is not on PATH" >&2; exit 2; }
    [ -f "$RADSIM_IMAGE" ] || { echo "[simulate.sh] error: RADSIM_IMAGE not found: $RADSIM_IMAGE" >&2; exit 2; }
    RADSIM=(apptainer exec --bind "$OUT" --bind "$(dirname "$CONFIG")" "$RADSIM_IMAGE" radsim)
elif [ -x "$ROOT/.venv/bin/radsim" ]; then
    RADSIM=("$ROOT/.venv/bin/radsim")
elif command -v radsim >/dev/null; then
    RADSIM=(radsim)
else
    echo "[simulate.sh] error: radsim not found: run scripts/setup.sh, activate an environment with radsim, or set RADSIM_IMAGE" >&2
    exit 2
fi

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

if [ -n "${SLURM_JOB_ID:-}" ]; then
    mpi="${RADSIM_MPI:-}"
    if [ -z "$mpi" ] && srun --mpi=list 2>&1 | grep -qw pmix; then
        mpi=pmix
    fi
    LAUNCH=(srun --kill-on-bad-exit=1 ${mpi:+--mpi=$mpi})
    say "job $SLURM_JOB_ID${SLURM_RESTART_COUNT:+ (requeued $SLURM_RESTART_COUNT time(s))}: ${SLURM_NTASKS:-?} ranks on ${SLURM_JOB_NUM_NODES:-?} node(s) via srun${mpi:+ --mpi=$mpi}"
elif command -v mpirun >/dev/null; then
    n="${NPROCS:-$(nproc)}"
    LAUNCH=(mpirun -n "$n")
    if [ "$n" -gt "$(nproc)" ]; then
        LAUNCH+=(--oversubscribe)
    fi
    if [ "$(id -u)" -eq 0 ]; then
        LAUNCH+=(--allow-run-as-root)     # containers and CI often run as root
    fi
    say "no Slurm allocation: $n local ranks via mpirun"
else
    LAUNCH=()
    say "no Slurm allocation and no mpirun: one process"
fi

say "config $CONFIG -> dataset $OUT"
status=0
"${LAUNCH[@]}" "${RADSIM[@]}" simulate "$CONFIG" --out "$OUT" "${EXTRA[@]}" || status=$?
if [ "$status" -eq 0 ]; then
    "${RADSIM[@]}" inspect --quick "$OUT"
else
    say "radsim simulate exited with status $status; submit the same job again to resume"
fi
exit "$status"
