#!/usr/bin/env bash
# Install radsim (and, for the training image, radtrain with Horovod) inside a container image, from the
# project's constraints.txt: the same pins as the host set-up (scripts/setup.sh). Used by the top-level
# Dockerfile and by containers/radsim.def and containers/radtrain.def, so that the three cannot drift apart.
#
#   containers/install.sh radsim   SRC    # Python 3.11 venv in /opt/radsim, mpi4py built against the image's MPI
#   containers/install.sh radtrain SRC    # the same plus TensorFlow 2.15.1 (GPU) and Horovod with NCCL, MPI, Gloo
#
# SRC is the copied project (setup.cfg, pyproject.toml, constraints.txt, radsim/, radtrain/). The Python
# interpreter is a standalone CPython 3.11 fetched by uv (the bases ship older system Pythons), so the images
# run the same Python as the host and CI. Needs: uv on PATH, a C/C++ compiler and the MPI compiler wrappers.
set -euo pipefail

KIND="${1:?usage: install.sh radsim|radtrain SRC}"
SRC="${2:?usage: install.sh radsim|radtrain SRC}"
PREFIX="${RADSIM_PREFIX:-/opt/radsim}"
PY_VERSION="${RADSIM_PYTHON:-3.11}"
say() { printf '[install.sh] %s\n' "$*"; }

case "$KIND" in
    radsim) EXTRAS="" ;;
    radtrain) EXTRAS="[gpu]" ;;
    *) echo "[install.sh] error: unknown image kind '$KIND' (radsim or radtrain)" >&2; exit 2 ;;
esac
for f in setup.cfg pyproject.toml constraints.txt; do
    [ -f "$SRC/$f" ] || { echo "[install.sh] error: $SRC/$f missing: copy the whole project first" >&2; exit 2; }
done
command -v mpicc >/dev/null || { echo "[install.sh] error: mpicc not found: the image needs an MPI with its compiler wrappers" >&2; exit 2; }

say "Python $PY_VERSION virtual environment in $PREFIX"
export UV_PYTHON_INSTALL_DIR=/opt/python
uv python install "$PY_VERSION"
uv venv --seed --python "$PY_VERSION" "$PREFIX"
PIP=("$PREFIX/bin/python" -m pip)
"${PIP[@]}" install --no-cache-dir --upgrade pip

say "radsim${EXTRAS:+ and radtrain} from the constraints file; mpi4py built against $(mpicc --showme:version 2>/dev/null || mpicc -v 2>&1 | head -1)"
# a regular (non-editable) install of the copied tree: the image does not keep the source around
MPICC="$(command -v mpicc)" "${PIP[@]}" install --no-cache-dir --no-binary mpi4py -c "$SRC/constraints.txt" "${SRC}${EXTRAS}"

if [ "$KIND" = radtrain ]; then
    say "Horovod built against TensorFlow with NCCL (GPU allreduce), MPI and Gloo"
    "${PIP[@]}" install --no-cache-dir -c "$SRC/constraints.txt" cmake
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_PYTORCH=1 \
    HOROVOD_WITHOUT_MXNET=1 HOROVOD_GPU_OPERATIONS="${HOROVOD_GPU_OPERATIONS:-NCCL}" \
    HOROVOD_NCCL_LINK=SHARED MAKEFLAGS="-j$(nproc)" \
        "${PIP[@]}" install --no-cache-dir --no-build-isolation -c "$SRC/constraints.txt" horovod
    "$PREFIX/bin/horovodrun" --check-build
fi
say "done: $("$PREFIX/bin/radsim" --version)"
