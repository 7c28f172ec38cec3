#!/usr/bin/env bash
#SBATCH --job-name=radtrain
#SBATCH --nodes=1
#SBATCH --gpus-per-node=4
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --output=radtrain-%j.out
#SBATCH --open-mode=append
#SBATCH --requeue
#
# radtrain fit (Horovod data-parallel, one rank per GPU) then radtrain evaluate, as a Slurm batch job, or with
# plain bash on a workstation.
#
#   sbatch --export=ALL,DATASET=/scratch/$USER/emu-seed,OUT=/scratch/$USER/run1 jobs/train.sh
#   sbatch -N 4 --gpus-per-node=4 --ntasks-per-node=4 --export=ALL,CONFIG=my-train.toml,... jobs/train.sh
#   DATASET=runs/simulate OUT=runs/train NPROCS=2 bash jobs/train.sh        # no Slurm: horovodrun
#
# Environment (all optional):
#   CONFIG          training config (default configs/train-quickstart.toml); relative paths (CONFIG, DATASET,
#                   OUT) are taken from the directory the job is started (submitted) from
#   DATASET         radsim dataset directory (default runs/simulate)
#   OUT             run directory (default runs/train); resubmitting continues an unfinished run
#   RADTRAIN_IMAGE  container image to run radtrain in, with the dataset, run and config directories bound.
#                   With CONTAINER_RUNTIME=apptainer (the default), a .sif file (containers/radtrain.def) and
#                   every rank runs `apptainer exec --nv` under srun/horovodrun; with docker or podman, an image
#                   of the local engine (radtrain:0.1.0, or radtrain:0.1.0-cpu) and one container runs
#                   horovodrun inside it (one node only: workstations). See jobs/container.sh.
#   CONTAINER_RUNTIME  apptainer (default), docker or podman
#   RADTRAIN_ARGS   extra arguments for `radtrain fit`, e.g. "--set train.epochs=50"
#   NPROCS          ranks for horovodrun outside Slurm (default: the GPUs nvidia-smi lists, else 1)
#   RADTRAIN_MPI    srun's --mpi plugin (default pmix when `srun --mpi=list` offers it)
#   RADTRAIN_CONTROLLER  under Slurm, Horovod's controller: mpi (default; srun --mpi=pmix) or gloo (TCP; this
#                   script serves the rendezvous horovodrun would, on the first node, and srun starts the ranks)
#   EVALUATE        0 to skip the evaluation on the test split after training (default 1)
#
# On CPU-only nodes submit with --gpus-per-node=0 (or --gres=none): every rank then shares the node's cores.
# The job is requeue-safe: a requeued or resubmitted job resumes from the last epoch's checkpoint.
set -euo pipefail

say() { printf '[train.sh] %s\n' "$*"; }
die() { echo "[train.sh] error: $*" >&2; exit 2; }

# CONFIG, OUT (and DATASET) given relative are taken from the caller's directory (the submit directory under
# Slurm); the defaults are the repository's
CALLER="$PWD"
abspath() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$CALLER" "$1" ;; esac; }
if [ -n "${SLURM_JOB_ID:-}" ]; then
    ROOT="${SLURM_SUBMIT_DIR:-$PWD}"
else
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fi
if [ -n "${CONFIG:-}" ]; then CONFIG="$(abspath "$CONFIG")"; else CONFIG="$ROOT/configs/train-quickstart.toml"; fi
if [ -n "${DATASET:-}" ]; then DATASET="$(abspath "$DATASET")"; else DATASET="$ROOT/runs/simulate"; fi
if [ -n "${OUT:-}" ]; then OUT="$(abspath "$OUT")"; else OUT="$ROOT/runs/train"; fi
cd "$ROOT"
read -r -a EXTRA <<< "${RADTRAIN_ARGS:-}"

[ -f "$CONFIG" ] || die "training config not found: $CONFIG (set CONFIG=...)"
[ -f "$DATASET/manifest.json" ] || die "no radsim dataset at $DATASET (set DATASET=...; make one with jobs/simulate.sh)"
mkdir -p "$OUT" || die "cannot create run directory $OUT"
CONFIG="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
DATASET="$(cd "$DATASET" && pwd)"
OUT="$(cd "$OUT" && pwd)"

IN_IMAGE=()
IN_IMAGE_LAUNCHES=0
RUN=()
if [ -n "${RADTRAIN_IMAGE:-}" ]; then
    # shellcheck source=jobs/container.sh
    source "$ROOT/jobs/container.sh"
    if [ -z "${CONTAINER_GPUS:-}" ]; then            # the GPUs into the container where the host has them
        CONTAINER_GPUS=0
        if [ "${CONTAINER_RUNTIME:-apptainer}" = apptainer ] ||
           { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; then
            CONTAINER_GPUS=1
        fi
    fi
    container_prefix RADTRAIN_IMAGE "$RADTRAIN_IMAGE" "$OUT" "$DATASET" "$(dirname "$CONFIG")"
    RADTRAIN=("${IN_IMAGE[@]}" radtrain)
elif [ -x "$ROOT/.venv/bin/radtrain" ]; then
    RADTRAIN=("$ROOT/.venv/bin/radtrain")
    export PATH="$ROOT/.venv/bin:$PATH"        # horovodrun
elif command -v radtrain >/dev/null; then
    RADTRAIN=(radtrain)
else
    die "radtrain not found: run scripts/setup.sh, activate an environment with radtrain, or set RADTRAIN_IMAGE"
fi

# HDF5 file locks are often unsupported on parallel file systems, and the ranks only read the shards
export HDF5_USE_FILE_LOCKING="${HDF5_USE_FILE_LOCKING:-FALSE}"

RADTRAIN_RANK=("${RADTRAIN[@]}")
if [ "$IN_IMAGE_LAUNCHES" = 1 ]; then
    # Docker/Podman: one container holds every rank, started by the image's own horovodrun
    n="${SLURM_NTASKS:-${NPROCS:-1}}"
    LAUNCH=("${IN_IMAGE[@]}")
    if [ "$n" -gt 1 ]; then
        LAUNCH+=(horovodrun -np "$n" -H "localhost:$n" --gloo)
    fi
    RADTRAIN_RANK=(radtrain)
    say "${SLURM_JOB_ID:+job $SLURM_JOB_ID: }$n Horovod rank(s) inside the container"
elif [ -n "${SLURM_JOB_ID:-}" ]; then
    controller="${RADTRAIN_CONTROLLER:-mpi}"
    case "$controller" in
        mpi|gloo) ;;
        *) die "RADTRAIN_CONTROLLER must be mpi or gloo, not '$controller'" ;;
    esac
    mpi="${RADTRAIN_MPI:-}"
    if [ "$controller" = mpi ] && [ -z "$mpi" ] && srun --mpi=list 2>&1 | grep -qw pmix; then
        mpi=pmix
    fi
    LAUNCH=(srun --kill-on-bad-exit=1 ${mpi:+--mpi=$mpi})
    say "job $SLURM_JOB_ID${SLURM_RESTART_COUNT:+ (requeued $SLURM_RESTART_COUNT time(s))}: ${SLURM_NTASKS:-?} ranks on ${SLURM_JOB_NUM_NODES:-?} node(s) (${SLURM_JOB_NODELIST:-?}), GPUs per node: ${SLURM_GPUS_PER_NODE:-none}, via srun${mpi:+ --mpi=$mpi}"
    # shellcheck source=jobs/cluster.sh
    source "$ROOT/jobs/cluster.sh"
    choose_interface
    # When a node fails Slurm ends the job: SIGTERM to every process (the ranks keep their work), SIGKILL
    # KillWait later. Outlive the SIGTERM long enough to say what happened.
    trap 'say "SIGTERM from Slurm"' TERM
    if [ "$controller" = gloo ]; then
        # Horovod's Gloo controller over TCP: the rendezvous horovodrun --gloo would serve, here on the first
        # node, and srun starts the ranks (each takes its slot from Slurm's task variables)
        [ -n "${NODE_ADDR:-}" ] || die "RADTRAIN_CONTROLLER=gloo: cannot find this node's address for the rendezvous"
        mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
        portfile="$(mktemp)"
        "${RADTRAIN[@]}" rendezvous "${nodes[@]}" > "$portfile" 2>&1 &
        rendezvous=$!
        trap 'kill "$rendezvous" 2>/dev/null; rm -f "$portfile"' EXIT
        for _ in $(seq 100); do
            if grep -qE '^[0-9]+$' "$portfile" || ! kill -0 "$rendezvous" 2>/dev/null; then break; fi
            sleep 0.2
        done
        port="$(grep -E '^[0-9]+$' "$portfile" | head -1)" ||
            die "the Gloo rendezvous did not start: $(cat "$portfile")"
        export HOROVOD_GLOO_RENDEZVOUS_ADDR="$NODE_ADDR" HOROVOD_GLOO_RENDEZVOUS_PORT="$port" \
               HOROVOD_CONTROLLER=gloo HOROVOD_CPU_OPERATIONS=gloo HOROVOD_GLOO_IFACE="${HOROVOD_GLOO_IFACE:-$NODE_IFACE}"
        say "Horovod's Gloo controller: rendezvous on $NODE_ADDR:$port, interface $HOROVOD_GLOO_IFACE"
    fi
else
    if [ -z "${NPROCS:-}" ]; then
        NPROCS=1
        if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
            NPROCS="$(nvidia-smi -L | grep -c '^GPU')"
        fi
    fi
    if [ "$NPROCS" -gt 1 ]; then
        command -v horovodrun >/dev/null || die "NPROCS=$NPROCS but horovodrun is not on PATH (install horovod)"
        LAUNCH=(horovodrun -np "$NPROCS" -H "localhost:$NPROCS" --gloo)
        say "no Slurm allocation: $NPROCS local Horovod ranks via horovodrun --gloo"
    else
        LAUNCH=()
        say "no Slurm allocation: one process"
    fi
fi

say "config $CONFIG, dataset $DATASET -> run $OUT"
status=0
"${RUN[@]}" "${LAUNCH[@]}" "${RADTRAIN_RANK[@]}" fit "$CONFIG" --dataset "$DATASET" --out "$OUT" "${EXTRA[@]}" || status=$?
if [ "$status" -ne 0 ]; then
    lost=""
    if [ -n "${SLURM_JOB_ID:-}" ] && [ "$IN_IMAGE_LAUNCHES" = 0 ]; then
        lost="$(failed_nodes)"
    fi
    if [ -n "$lost" ]; then
        say "node(s) $lost of this job failed (Slurm marks them down) and the ranks were stopped: $OUT keeps the last epoch's checkpoint; Slurm requeues the job (--requeue) to resume from it when enough nodes are up, or cancel it and submit it again without them (sbatch --exclude=$lost ...; fewer ranks change the global batch)"
    else
        say "radtrain fit exited with status $status; submit the same job again to resume from the last checkpoint"
    fi
    exit "$status"
fi
if [ "${EVALUATE:-1}" != 0 ]; then
    "${RADTRAIN[@]}" evaluate "$OUT" --split test
fi
