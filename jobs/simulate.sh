#!/usr/bin/env bash
#SBATCH --job-name=radsim-simulate
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=16
#SBATCH --cpus-per-task=1
#SBATCH --time=04:00:00
#SBATCH --output=radsim-simulate-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=TERM@180
#
# radsim simulate as a Slurm batch job, or with plain bash on a workstation.
#
#   sbatch jobs/simulate.sh                                   # defaults below
#   sbatch -N 8 --ntasks-per-node=64 --time=12:00:00 \
#          --export=ALL,CONFIG=configs/emu-seed.toml,OUT=/scratch/$USER/emu-seed jobs/simulate.sh
#   CONFIG=configs/quickstart.toml OUT=runs/sim NPROCS=2 bash jobs/simulate.sh   # no Slurm: mpirun
#
# Environment (all optional):
#   CONFIG        radsim config (default configs/quickstart.toml); a relative path is taken from the directory
#                 the job is started (submitted) from
#   OUT           dataset directory (default runs/simulate); on a cluster, put it on the parallel file system
#   REQUEUE       1: when the time limit stops the job, requeue it (scontrol requeue) to go on where it stopped
#   RADSIM_IMAGE  container image to run radsim in, with the output and config directories bound; otherwise
#                 radsim from .venv or PATH is used. With CONTAINER_RUNTIME=apptainer (the default), a .sif file
#                 (containers/radsim.def) and every rank runs `apptainer exec` under srun/mpirun; with docker or
#                 podman, an image of the local engine (radsim:0.1.0) and one container runs mpirun inside it
#                 (one node only: workstations). See jobs/container.sh.
#   CONTAINER_RUNTIME  apptainer (default), docker or podman
#   RADSIM_ARGS   extra arguments for `radsim simulate`, e.g. "--set imaging.backend=wsclean"
#   NPROCS        ranks for mpirun outside Slurm (default: the number of cores)
#   RADSIM_MPI    srun's --mpi plugin (default pmix when `srun --mpi=list` offers it)
#
# Each rank uses one core (ducc0 and numpy single-threaded); memory per rank is about 0.5 GiB for a
# 2560 x 2560 sky model and 1.6 GiB with the fast imager (benchmarks/README.md): ask for --mem-per-cpu
# accordingly. The job is requeue-safe: a requeued or resubmitted job continues the same dataset, keeping
# every completed realisation. --signal=TERM@180 has Slurm send SIGTERM to the ranks 3 minutes before the time
# limit: each abandons the realisation it is making, completes its shard, rank 0 writes the manifest, and the job
# ends with status 75 (interrupted) well before SIGKILL. Even SIGKILL loses at most the realisations of the last
# dataset.commit_interval_s (300 s by default).
set -euo pipefail

say() { printf '[simulate.sh] %s\n' "$*"; }
die() { echo "[simulate.sh] error: $*" >&2; exit 2; }

# CONFIG, OUT (and DATASET) given relative are taken from the caller's directory (the submit directory under
# Slurm); the defaults are the repository's
CALLER="$PWD"
abspath() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$CALLER" "$1" ;; esac; }
if [ -n "${SLURM_JOB_ID:-}" ]; then
    ROOT="${SLURM_SUBMIT_DIR:-$PWD}"       # sbatch runs a copy of this script: start from the submit dir
else
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fi
if [ -n "${CONFIG:-}" ]; then CONFIG="$(abspath "$CONFIG")"; else CONFIG="$ROOT/configs/quickstart.toml"; fi
if [ -n "${OUT:-}" ]; then OUT="$(abspath "$OUT")"; else OUT="$ROOT/runs/simulate"; fi
cd "$ROOT"
read -r -a EXTRA <<< "${RADSIM_ARGS:-}"

if [ ! -f "$CONFIG" ]; then
    echo "[simulate.sh] error: config file not found: $CONFIG (set CONFIG=...)" >&2
    exit 2
fi
mkdir -p "$OUT" || { echo "[simulate.sh] error: cannot create output directory $OUT" >&2; exit 2; }
CONFIG="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
OUT="$(cd "$OUT" && pwd)"

# what each rank runs: radsim in the image, from the project's .venv, or from PATH
IN_IMAGE=()
IN_IMAGE_LAUNCHES=0
RUN=()
if [ -n "${RADSIM_IMAGE:-}" ]; then
    # shellcheck source=jobs/container.sh
    source "$ROOT/jobs/container.sh"
    container_prefix RADSIM_IMAGE "$RADSIM_IMAGE" "$OUT" "$(dirname "$CONFIG")"
    RADSIM=("${IN_IMAGE[@]}" radsim)
elif [ -x "$ROOT/.venv/bin/radsim" ]; then
    RADSIM=("$ROOT/.venv/bin/radsim")
elif command -v radsim >/dev/null; then
    RADSIM=(radsim)
else
    echo "[simulate.sh] error: radsim not found: run scripts/setup.sh, activate an environment with radsim, or set RADSIM_IMAGE" >&2
    exit 2
fi

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
RADSIM_RANK=("${RADSIM[@]}")

if [ "$IN_IMAGE_LAUNCHES" = 1 ]; then
    # Docker/Podman: one container holds every rank, started by the image's own mpirun
    n="${SLURM_NTASKS:-${NPROCS:-$(nproc)}}"
    LAUNCH=("${IN_IMAGE[@]}" mpirun -n "$n")
    if [ "$n" -gt "$(nproc)" ]; then
        LAUNCH+=(--oversubscribe)
    fi
    RADSIM_RANK=(radsim)
    say "${SLURM_JOB_ID:+job $SLURM_JOB_ID: }$n ranks via mpirun inside the container"
elif [ -n "${SLURM_JOB_ID:-}" ]; then
    mpi="${RADSIM_MPI:-}"
    if [ -z "$mpi" ] && srun --mpi=list 2>&1 | grep -qw pmix; then
        mpi=pmix
    fi
    LAUNCH=(srun --kill-on-bad-exit=1 ${mpi:+--mpi=$mpi})
    say "job $SLURM_JOB_ID${SLURM_RESTART_COUNT:+ (requeued $SLURM_RESTART_COUNT time(s))}: ${SLURM_NTASKS:-?} ranks on ${SLURM_JOB_NUM_NODES:-?} node(s) (${SLURM_JOB_NODELIST:-?}) via srun${mpi:+ --mpi=$mpi}"
    # shellcheck source=jobs/cluster.sh
    source "$ROOT/jobs/cluster.sh"
    choose_interface
    # When a node fails Slurm ends the job: SIGTERM to every process (the ranks keep their work), SIGKILL
    # KillWait later. Outlive the SIGTERM long enough to say what happened.
    trap 'say "SIGTERM from Slurm"' TERM
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
"${RUN[@]}" "${LAUNCH[@]}" "${RADSIM_RANK[@]}" simulate "$CONFIG" --out "$OUT" "${EXTRA[@]}" || status=$?
if [ "$status" -ne 0 ] && grep -q '"status": "interrupted"' "$OUT/manifest.json" 2>/dev/null; then
    status=75          # mpirun reports its own status when signalled: say what radsim did
fi
lost=""
if [ "$status" -ne 0 ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "$IN_IMAGE_LAUNCHES" = 0 ]; then
    lost="$(failed_nodes)"
fi
if [ -n "$lost" ]; then
    say "node(s) $lost of this job failed (Slurm marks them down) and the ranks were stopped: every realisation committed to the shards is kept in $OUT (a lost node loses at most its last dataset.commit_interval_s of work, the others commit theirs on SIGTERM); Slurm requeues the job (--requeue) to resume when enough nodes are up, or cancel it and submit it again without them (sbatch --exclude=$lost ...) to complete the dataset now"
elif [ "$status" -eq 0 ]; then
    "${RADSIM[@]}" inspect --quick "$OUT"
elif [ "$status" -eq 75 ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "${REQUEUE:-0}" = 1 ]; then
    say "stopped before the time limit with every completed realisation kept; requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
else
    say "radsim simulate exited with status $status; submit the same job again to resume"
fi
exit "$status"
