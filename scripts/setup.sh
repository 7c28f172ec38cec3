#!/usr/bin/env bash
# Set-up shared by the README's two commands (sourced by scripts/demo.sh and scripts/test.sh):
#   1. Debian packages the project needs, installed with apt-get when missing and running as root
#      (otherwise the missing ones are listed and the script stops);
#   2. a virtual environment in .venv at the repository root;
#   3. the project and its Python packages, pinned by constraints.txt (skipped when nothing changed);
#   4. Horovod, built against the installed TensorFlow (about 3 minutes on 2 cores; rebuilt when either changes).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
say() { printf '[setup] %s\n' "$*"; }

# Debian packages needed at run time and for the tests: WSClean; Open MPI and a C compiler with Python's
# headers (mpi4py and Horovod are built against Debian's Open MPI; Horovod needs a C++ compiler); Slurm and
# munge (the tests start a one-node Slurm); Docker's engine and mmdebstrap (the tests build and run the images
# on a Debian base made here).
APT_PACKAGES=(wsclean openmpi-bin libopenmpi-dev gcc g++ python3-dev slurm-wlm munge docker.io mmdebstrap)

missing_debs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s\n' "$p"
    done
}

apt_install() {
    [ "$#" -gt 0 ] || return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian packages: $*"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "[setup] error: missing Debian packages: $*" >&2
        echo "[setup] install them (sudo apt-get install $*) or run this script as root" >&2
        exit 1
    fi
}

find_python() {
    local c
    for c in ${PYTHON:-} python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1 &&
           "$c" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if command -v dpkg-query >/dev/null && [ "${#APT_PACKAGES[@]}" -gt 0 ]; then
    mapfile -t missing < <(missing_debs "${APT_PACKAGES[@]}")
    apt_install "${missing[@]}"
fi

if ! PY="$(find_python)"; then
    say "no Python >= 3.10 with venv found"
    apt_install python3 python3-venv python3-dev
    PY="$(find_python)" || { echo "[setup] error: still no usable Python >= 3.10" >&2; exit 1; }
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    say "creating virtual environment $VENV with $("$PY" --version)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

stamp="$VENV/.radsim-installed"
want="$(cat "$ROOT/constraints.txt" "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python packages (pinned by constraints.txt)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # mpi4py from source, so that it links against the MPI library on this machine (Debian's Open MPI)
    "$VENV/bin/python" -m pip install -q --no-binary mpi4py -c "$ROOT/constraints.txt" -e "${ROOT}[test,cpu]"
    echo "$want" > "$stamp"
else
    say "Python packages up to date"
fi

# Horovod compiles against the TensorFlow it finds, so it is built after it, without build isolation, and
# rebuilt (no wheel cache) whenever TensorFlow or the pinned Horovod change.
hvd_stamp="$VENV/.horovod-built"
hvd_want="$(grep -E '^(horovod|tensorflow-cpu|cmake)==' "$ROOT/constraints.txt" | tr '\n' ' ')$("$VENV/bin/python" -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null)"
if [ "$(cat "$hvd_stamp" 2>/dev/null)" != "$hvd_want" ] || ! "$VENV/bin/python" -c 'import horovod.tensorflow' 2>/dev/null; then
    say "building Horovod against TensorFlow (a few minutes)"
    "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" cmake
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITH_MPI=1 HOROVOD_WITHOUT_PYTORCH=1 \
    HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS="-j$(nproc)" \
        "$VENV/bin/python" -m pip install -q --no-build-isolation --no-cache-dir --force-reinstall \
        -c "$ROOT/constraints.txt" horovod
    echo "$hvd_want" > "$hvd_stamp"
else
    say "Horovod up to date"
fi
export PATH="$VENV/bin:$PATH"
