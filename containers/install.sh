#!/usr/bin/env bash
# Install radsim (and, for the training image, radtrain with Horovod) inside a container image, from the
# project's constraints.txt: the same pins as the host set-up (scripts/setup.sh). The Dockerfile runs it; the
# Apptainer recipes start from the Docker images, so there is one recipe.
#
#   containers/install.sh radsim   SRC [--deps-only|--project-only]
#   containers/install.sh radtrain SRC [--deps-only|--project-only]
#
# radsim: a virtual environment in /opt/radsim with radsim and mpi4py built against the image's MPI.
# radtrain: the same plus TensorFlow 2.15.1 and Horovod (MPI and Gloo controllers); RADTRAIN_VARIANT=gpu (the
# default) installs tensorflow[and-cuda] and builds Horovod with NCCL, RADTRAIN_VARIANT=cpu installs
# tensorflow-cpu and builds Horovod without GPU operations.
# --deps-only installs everything the project needs but not the project itself (a Docker layer that survives
# changes to the source), --project-only then the project alone.
#
# SRC holds setup.cfg, pyproject.toml, constraints.txt (and radsim/, radtrain/ unless --deps-only).
# Python: the first python3.x >= 3.10 in the image with venv and its C headers (Debian bookworm 3.11, Ubuntu
# 22.04 3.10); only where there is none is a standalone CPython 3.11 fetched, by uv, itself installed from
# PyPI (the uv pin is in constraints.txt).
# TLS-intercepting proxies: a CA bundle at /run/secrets/cacert (a Docker build secret, never stored in a layer)
# or at $RADSIM_CA_BUNDLE is used by pip and uv.
set -euo pipefail

usage="usage: install.sh radsim|radtrain SRC [--deps-only|--project-only]"
KIND="${1:?$usage}"
SRC="${2:?$usage}"
PHASE="${3:-all}"
PREFIX="${RADSIM_PREFIX:-/opt/radsim}"
VARIANT="${RADTRAIN_VARIANT:-gpu}"
say() { printf '[install.sh] %s\n' "$*"; }
die() { echo "[install.sh] error: $*" >&2; exit 2; }

case "$KIND" in
    radsim) EXTRAS="" ;;
    radtrain)
        case "$VARIANT" in
            gpu|cpu) EXTRAS="$VARIANT" ;;
            *) die "RADTRAIN_VARIANT must be gpu or cpu, not '$VARIANT'" ;;
        esac ;;
    *) die "unknown image kind '$KIND' (radsim or radtrain)" ;;
esac
case "$PHASE" in
    all|--deps-only|--project-only) ;;
    *) die "unknown option '$PHASE' ($usage)" ;;
esac
for f in setup.cfg pyproject.toml constraints.txt; do
    [ -f "$SRC/$f" ] || die "$SRC/$f missing: copy the project's metadata first"
done
command -v mpicc >/dev/null || die "mpicc not found: the image needs an MPI with its compiler wrappers"

CA="${RADSIM_CA_BUNDLE:-/run/secrets/cacert}"
if [ -s "$CA" ]; then
    say "using the CA bundle $CA for PyPI (TLS-intercepting proxy)"
    export PIP_CERT="$CA" SSL_CERT_FILE="$CA" REQUESTS_CA_BUNDLE="$CA"
fi
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# a Python >= 3.10 with venv, ensurepip and Python.h (mpi4py and Horovod compile against it)
usable_python() {
    "$1" -c 'import sys, sysconfig, os, venv, ensurepip
sys.exit(sys.version_info < (3, 10) or not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        2>/dev/null
}

if [ "$PHASE" != --project-only ]; then
    PY=""
    for c in ${RADSIM_PYTHON:-} python3.13 python3.12 python3.11 python3.10 python3; do
        if command -v "$c" >/dev/null && usable_python "$c"; then PY="$(command -v "$c")"; break; fi
    done
    if [ -n "$PY" ]; then
        say "Python $("$PY" -c 'import platform; print(platform.python_version())') from the image ($PY): virtual environment in $PREFIX"
        "$PY" -m venv "$PREFIX"
    else
        # no suitable Python here: uv from PyPI fetches a standalone CPython 3.11 (from GitHub, python-build-standalone)
        if ! python3 -m pip --version >/dev/null 2>&1; then
            die "no Python >= 3.10 with venv and headers, and no python3 with pip to install uv: add python3 and python3-pip to the image"
        fi
        tools="$(mktemp -d)"
        say "no Python >= 3.10 with venv and headers in the image: uv from PyPI fetches a standalone CPython 3.11"
        python3 -m pip install --target "$tools" -c "$SRC/constraints.txt" uv
        export UV_PYTHON_INSTALL_DIR=/opt/python
        "$tools/bin/uv" python install 3.11
        "$tools/bin/uv" venv --seed --python 3.11 "$PREFIX"
        rm -rf "$tools"
    fi
fi
[ -x "$PREFIX/bin/python" ] || die "no virtual environment in $PREFIX: run install.sh without --project-only first"
PIP=("$PREFIX/bin/python" -m pip)

if [ "$PHASE" != --project-only ]; then
    "${PIP[@]}" install --upgrade pip
    # the project's requirements read from setup.cfg, so that this layer does not need the source
    mapfile -t REQS < <("$PREFIX/bin/python" - "$SRC/setup.cfg" "$EXTRAS" <<'EOF'
import configparser, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
reqs = cfg["options"]["install_requires"].split("\n")
if sys.argv[2]:
    reqs += cfg["options.extras_require"][sys.argv[2]].split("\n")
print("\n".join(r.strip() for r in reqs if r.strip() and not r.strip().startswith("#")))
EOF
)
    say "dependencies from the constraints file: ${REQS[*]}; mpi4py built against $(mpicc --showme:version 2>/dev/null || mpicc -v 2>&1 | head -1)"
    MPICC="$(command -v mpicc)" "${PIP[@]}" install --no-binary mpi4py -c "$SRC/constraints.txt" "${REQS[@]}"
    if [ "$KIND" = radtrain ]; then
        # the pinned cmake of the environment (Horovod would otherwise fetch an old one of its own)
        build=(HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_PYTORCH=1
               HOROVOD_WITHOUT_MXNET=1 HOROVOD_CMAKE="$PREFIX/bin/cmake" PATH="$PREFIX/bin:$PATH"
               MAKEFLAGS="-j$(nproc)")
        if [ "$VARIANT" = gpu ]; then
            build+=(HOROVOD_GPU_OPERATIONS="${HOROVOD_GPU_OPERATIONS:-NCCL}" HOROVOD_NCCL_LINK=SHARED)
        fi
        say "Horovod built against TensorFlow with MPI and Gloo${build[8]:+, ${build[8]}} (a few minutes)"
        "${PIP[@]}" install -c "$SRC/constraints.txt" cmake
        env "${build[@]}" "${PIP[@]}" install --no-build-isolation -c "$SRC/constraints.txt" horovod
        "$PREFIX/bin/horovodrun" --check-build
    fi
fi

if [ "$PHASE" != --deps-only ]; then
    [ -d "$SRC/radsim" ] && [ -d "$SRC/radtrain" ] || die "$SRC/radsim or $SRC/radtrain missing: copy the whole project"
    # a regular (non-editable) install of the copied tree, its dependencies already in place: the image does not
    # keep the source around
    "${PIP[@]}" install --no-deps "$SRC"
    "${PIP[@]}" check
    say "done: $("$PREFIX/bin/radsim" --version)"
fi
