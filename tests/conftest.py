import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "field": {"centre_ra_deg": 187.5, "centre_dec_deg": -45.0, "size_deg": 0.5, "npix": 128,
              "frequency_hz": 943.5e6, "bandwidth_hz": 288e6},
    "sources": {"flux_min_jy": 1e-7, "flux_max_jy": 1e-2},
    "counts": {"base": "builtin", "modifier": {"name": "seed", "s0_jy": 5e-5, "alpha": 0.0}},
    "labels": {"flux_min_jy": 1e-7, "flux_max_jy": 1e-5, "n_bins": 5, "detection_threshold_jy": 1e-4},
    "tiles": {"size": 32},
    "run": {"seed": 7},
    "imaging": {"backend": "none"},
    "realisations": {"mode": "list", "repeats": 2,
                     "sets": [{"s0_jy": 5e-5, "alpha": 0.0}, {"s0_jy": 5e-5, "alpha": 0.25}]},
}


def toml_dumps(data: dict) -> str:
    """Minimal TOML writer for the test configs (tables of scalars, lists and inline tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        raise TypeError(v)
    out = []
    for section, body in data.items():
        out.append(f"[{section}]")
        out.extend(f"{k} = {value(v)}" for k, v in body.items())
        out.append("")
    return "\n".join(out)


@pytest.fixture
def tiny_dict():
    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_cfg(tiny_dict):
    from radsim import config
    return config.from_dict(tiny_dict)


@pytest.fixture
def write_config(tmp_path):
    def _write(data, name="config.toml"):
        path = tmp_path / name
        path.write_text(toml_dumps(data))
        return path
    return _write


def radsim_exe():
    exe = shutil.which("radsim", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "radsim.cli"]


@pytest.fixture
def run_radsim():
    def _run(*args, check=True, cwd=None):
        proc = subprocess.run(radsim_exe() + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"radsim {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc
    return _run


def mpirun(n: int) -> list[str]:
    """mpirun of Debian's Open MPI for ``n`` local ranks (allowed as root, more ranks than cores allowed)."""
    exe = shutil.which("mpirun")
    if exe is None:
        pytest.fail("mpirun not found: install openmpi-bin (scripts/setup.sh does)")
    return [exe, "--oversubscribe", "-n", str(n)]


MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory):
    """A running one-node Slurm on localhost (tests/localslurm.py); skips with the reason where it cannot run."""
    import localslurm
    why = localslurm.unavailable()
    if why:
        pytest.skip(f"no local Slurm: {why}")
    cluster = localslurm.LocalSlurm(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    yield cluster
    cluster.stop()


# --------------------------------------------------------------------------------------------------------------
# radtrain

# a training config small enough for CI: a two-block seed CNN, batches of 8 tiles
TRAIN = {"data": {"batch_size": 8, "stats_tiles": 512, "shuffle_buffer": 256},
         "model": {"architecture": "seed-small", "filters": [8, 16], "dense_units": [16]},
         "train": {"epochs": 2, "warmup_epochs": 1, "patience": 0, "seed": 3}}


def radtrain_exe():
    exe = shutil.which("radtrain", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "radtrain.cli"]


def horovodrun(n: int) -> list[str]:
    """horovodrun for ``n`` local ranks with the Gloo controller."""
    exe = shutil.which("horovodrun", path=str(Path(sys.executable).parent)) or shutil.which("horovodrun")
    if exe is None:
        pytest.fail("horovodrun not found: scripts/setup.sh builds Horovod")
    return [exe, "-np", str(n), "-H", f"localhost:{n}", "--gloo"]


def train_config(directory: Path, name: str = "train.toml", **changes) -> Path:
    """TRAIN with changes given as section__key=value, written as TOML."""
    data = copy.deepcopy(TRAIN)
    for key, value in changes.items():
        section, k = key.split("__")
        data.setdefault(section, {})[k] = value
    path = directory / name
    path.write_text(toml_dumps(data))
    return path


@pytest.fixture(scope="session")
def train_dataset(tmp_path_factory):
    """A radsim dataset for the radtrain tests: 9 fast-imaged skies of 16 tiles of 32 pixels, 5 label bins,
    one shard per sky (so 2 ranks read whole shards of the train split and share the one validation shard)."""
    from test_simulate import sim_config
    tmp = tmp_path_factory.mktemp("train-data")
    cfg = sim_config(tmp, realisations__repeats=3)
    proc = subprocess.run(radsim_exe() + ["simulate", str(cfg), "--out", str(tmp / "ds")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "ds"
