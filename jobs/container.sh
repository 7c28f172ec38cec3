# shellcheck shell=bash disable=SC2034  # IN_IMAGE, IN_IMAGE_LAUNCHES and RUN are the caller's
# Running a job's programs inside a container image: sourced by jobs/simulate.sh and jobs/train.sh.
#
#   CONTAINER_RUNTIME=apptainer (default)  IMAGE is a SIF file. The host's launcher (srun, mpirun, horovodrun)
#                                          starts one `apptainer exec` per rank: the hybrid MPI model of clusters.
#   CONTAINER_RUNTIME=docker | podman      IMAGE is an image in the local engine (e.g. radsim:0.1.0). One
#                                          container per job, and the launcher runs inside it (mpirun -n N,
#                                          horovodrun -np N): for workstations and single nodes.
#
# container_prefix PROG IMAGE DIR...  sets IN_IMAGE, the command prefix that runs a program inside IMAGE with
# each DIR bound at its own path, and IN_IMAGE_LAUNCHES (1 when the launcher must run inside the image).
# PROG names the calling script in messages. Needs say() and die() from the caller. RUN is what the caller
# puts before the main command: forward_signals for Docker/Podman, nothing for Apptainer.

container_prefix() {
    local prog="$1" image="$2"
    shift 2
    local runtime="${CONTAINER_RUNTIME:-apptainer}" dir
    command -v "$runtime" >/dev/null || die "${prog}: the container runtime '$runtime' is not on PATH (CONTAINER_RUNTIME: apptainer, docker or podman)"
    case "$runtime" in
        apptainer|singularity)
            [ -f "$image" ] || die "image not found: $image (an Apptainer .sif file; see containers/README.md)"
            IN_IMAGE=("$runtime" exec)
            if [ "${CONTAINER_GPUS:-0}" = 1 ]; then IN_IMAGE+=(--nv); fi
            for dir in "$@"; do IN_IMAGE+=(--bind "$dir"); done
            IN_IMAGE+=("$image")
            IN_IMAGE_LAUNCHES=0
            RUN=()
            ;;
        docker|podman)
            "$runtime" image inspect "$image" >/dev/null 2>&1 ||
                die "image '$image' not found in the local $runtime engine: build it (containers/README.md) or load it"
            if [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]; then
                die "$runtime runs one container on one node, and this job has $SLURM_JOB_NUM_NODES nodes: use Apptainer (CONTAINER_RUNTIME=apptainer) across nodes"
            fi
            CONTAINER_NAME="radsim-job-${SLURM_JOB_ID:-local}-$$"
            # the files written to the bound directories belong to the caller; mpirun inside refuses root
            # unless told, as the host's does
            IN_IMAGE=("$runtime" run --rm --init --name "$CONTAINER_NAME" --user "$(id -u):$(id -g)"
                      --shm-size=1g -e HOME=/tmp -e OMP_NUM_THREADS -e OPENBLAS_NUM_THREADS
                      -e HDF5_USE_FILE_LOCKING -e TF_CPP_MIN_LOG_LEVEL)
            if [ "$(id -u)" -eq 0 ]; then
                IN_IMAGE+=(-e OMPI_ALLOW_RUN_AS_ROOT=1 -e OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
            fi
            if [ "${CONTAINER_GPUS:-0}" = 1 ]; then IN_IMAGE+=(--gpus all); fi
            for dir in "$@"; do IN_IMAGE+=(-v "$dir:$dir"); done
            IN_IMAGE+=(-w "$1" --entrypoint= "$image")
            IN_IMAGE_LAUNCHES=1
            RUN=(forward_signals)
            # a job cancelled or failed mid-run must not leave its container behind
            trap '"${IN_IMAGE[0]}" rm -f "$CONTAINER_NAME" >/dev/null 2>&1 || true' EXIT
            ;;
        *) die "unknown CONTAINER_RUNTIME '$runtime' (apptainer, docker or podman)" ;;
    esac
    say "running inside $image with $runtime"
}

# forward_signals CMD...: runs CMD (a `docker run`) and passes SIGTERM and SIGINT sent to this script on to it,
# which hands them to the container's init and so to the launcher and the ranks. Without it bash would wait for
# the container to end before acting on the signal: Slurm's --signal=B:TERM@180 and scancel reach the script.
forward_signals() {
    "$@" &
    local pid=$! rc=0
    trap 'kill -TERM "$pid" 2>/dev/null || true' TERM
    trap 'kill -INT "$pid" 2>/dev/null || true' INT
    while :; do
        rc=0
        wait "$pid" || rc=$?
        kill -0 "$pid" 2>/dev/null || break          # wait returned for a signal: wait again
    done
    trap - TERM INT
    return "$rc"
}
