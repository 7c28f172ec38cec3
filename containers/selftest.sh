#!/usr/bin/env bash
# A self-test of a few seconds: prints the versions of what the image (or this machine) runs, then makes one
# tiny sky realisation (radsim) or runs one training step on a tiny dataset (radtrain). The Apptainer
# recipes run it as %test; it runs on the host too (tests/test_containers.py does).
#
#   containers/selftest.sh radsim|radtrain [BIN]     # BIN: where radsim/radtrain live (default: from PATH)
set -euo pipefail

KIND="${1:?usage: selftest.sh radsim|radtrain [BIN]}"
BIN="${2:-}"
if [ -n "$BIN" ]; then
    export PATH="$BIN:$PATH"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

say() { printf '[selftest] %s\n' "$*"; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/radsim-selftest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

say "versions"
python - <<'EOF'
import importlib, platform
print(f"  python {platform.python_version()}")
for name in ("radsim", "numpy", "scipy", "astropy", "h5py", "ducc0", "casacore", "mpi4py", "tensorflow", "horovod"):
    try:
        module = importlib.import_module(name)
        print(f"  {name} {getattr(module, '__version__', 'installed')}")
    except ImportError:
        print(f"  {name} -")
try:
    from mpi4py import MPI
    print("  MPI library:", MPI.Get_library_version().splitlines()[0].strip())
except Exception as exc:                       # noqa: BLE001 - a version report, not a check
    print("  MPI library: -", exc)
EOF
for tool in wsclean csimulator imager horovodrun; do
    if command -v "$tool" >/dev/null; then say "  $tool: $(command -v "$tool")"; else say "  $tool: not in this image"; fi
done

# a sky of 0.25 deg x 0.25 deg, 64 pixels, two parameter sets, the sky-model backend: about a second
cat > "$WORK/tiny.toml" <<'EOF'
[field]
centre_ra_deg = 187.5
centre_dec_deg = -45.0
size_deg = 0.25
npix = 64
frequency_hz = 943.5e6
bandwidth_hz = 288e6
[sources]
flux_min_jy = 1e-7
flux_max_jy = 1e-2
[counts]
base = "builtin"
modifier = { name = "seed", s0_jy = 5e-5, alpha = 0.0 }
[labels]
flux_min_jy = 1e-7
flux_max_jy = 1e-5
n_bins = 4
detection_threshold_jy = 1e-4
[tiles]
size = 16
[run]
seed = 1
[imaging]
backend = "none"
beam_arcsec = 30.0
[realisations]
mode = "list"
repeats = 3
sets = [{ s0_jy = 5e-5, alpha = 0.0 }, { s0_jy = 5e-5, alpha = 0.2 }]
[dataset]
train_fraction = 0.5
validation_fraction = 0.5
test_fraction = 0.0
EOF

case "$KIND" in
    radsim)
        say "one tiny realisation"
        radsim realise "$WORK/tiny.toml" --index 0 --out "$WORK/r0" --no-catalogue
        test -s "$WORK/r0/tiles.h5"
        ;;
    radtrain)
        say "a tiny dataset and one training step"
        radsim simulate "$WORK/tiny.toml" --out "$WORK/ds" >/dev/null
        radtrain fit --dataset "$WORK/ds" --out "$WORK/run" --set data.batch_size=4 --set train.epochs=1 \
            --set train.steps_per_epoch=1 --set model.filters=[4] --set model.dense_units=[4] --set train.warmup_epochs=0
        grep -q '"status": "complete"' "$WORK/run/run.json"
        ;;
    *)
        echo "[selftest] error: unknown kind '$KIND' (radsim or radtrain)" >&2
        exit 2
        ;;
esac
say "passed"
