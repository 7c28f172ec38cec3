import contextlib
import copy
import os
import shutil
import subprocess
import sys
import time
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


def made_so_far(out: Path) -> int:
    """Realisations the ranks of a running `radsim simulate` have made (their journals, ``out/logs``)."""
    return sum(len(p.read_text().split()) for p in (out / "logs").glob("journal-rank*.txt"))


def wait_until_made(out: Path, n: int, alive=lambda: True, timeout: float = 300) -> int:
    """Wait until the job writing ``out`` has made ``n`` realisations: a job is stopped in the middle by counting
    its work, not by guessing its speed."""
    deadline = time.monotonic() + timeout
    while (made := made_so_far(out)) < n:
        assert alive() and time.monotonic() < deadline, f"{made} of {n} realisations made in {out}"
        time.sleep(0.1)
    return made


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


def job_pids(proc) -> list[int]:
    """Every live process of a job started in a session of its own (``start_new_session``): mpirun and its ranks,
    which Open MPI starts in process groups of their own (a signal to mpirun's group reaches mpirun alone)."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-s", str(proc.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid, stat in (line.split() for line in out.splitlines()) if not stat.startswith("Z")]


def signal_job(proc, sig) -> None:
    """Send ``sig`` to every live process of the job at once, as a node failure or ``scancel -s`` would. A process
    listed may end before its signal comes (mpirun's short-lived helpers do): that one is already gone, as wanted."""
    for pid in job_pids(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_until_gone(proc, timeout=60) -> float:
    """Until no process of the job lives (zombies aside): a scheduler's job ends there, not when mpirun exits. A rank
    whose mpirun was SIGKILLed lives on for seconds, holding the dataset's lock. Returns the seconds waited."""
    t0 = time.monotonic()
    while job_pids(proc):
        assert time.monotonic() - t0 < timeout, f"processes of the job outlived it: {job_pids(proc)}"
        time.sleep(0.02)
    return time.monotonic() - t0


MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


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


def crowded_sky(n: int, n_src: int = 30_000, seed: int = 11):
    """A crowded sky of points on an n x n grid (radsim.sky.render.Sky): counts N(>S) ~ S^-1.5 from 1 uJy to
    20 mJy, the first 60 log-uniform from 1 to 20 mJy, at random sub-pixel positions."""
    import math
    import numpy as np
    from radsim.sky.render import Sky
    rng = np.random.default_rng(seed)
    flux = (1e-6 ** -1.5 - rng.random(n_src) * (1e-6 ** -1.5 - 2e-2 ** -1.5)) ** (-1 / 1.5)
    flux[:60] = 10 ** rng.uniform(-3, math.log10(2e-2), 60)
    x, y = rng.uniform(-0.5, n - 0.5, (2, n_src))
    zero = np.zeros((n, n), np.float32)
    return Sky(zero, x.astype(np.float32), y.astype(np.float32), flux.astype(np.float32), zero)


def isolated_peaks(sky, restored, beam, pixel_arcsec: float, min_flux: float, margin: int = 20):
    """For the points brighter than ``min_flux`` with nothing above 10% of their flux within 4 beams: the highest
    restored pixel of the 3 x 3 around each over its flux, and the restoring beam sampled at those pixels'
    offsets from the true position (the value a perfect image would give). Returns (measured, sampled)."""
    import math
    import numpy as np
    x, y, flux = (np.asarray(a, float) for a in (sky.points_x, sky.points_y, sky.points_jy))
    n = restored.shape[0]
    beam_px = beam.bmaj_arcsec / pixel_arcsec
    bright = np.flatnonzero((flux > min_flux) & (x > margin) & (x < n - margin - 1) & (y > margin)
                            & (y < n - margin - 1))
    near = np.hypot(x[bright, None] - x[None, :], y[bright, None] - y[None, :]) < 4 * beam_px
    isolated = bright[[(flux[near[k]] > 0.1 * flux[i]).sum() == 1 for k, i in enumerate(bright)]]
    smaj = beam.bmaj_arcsec / pixel_arcsec / math.sqrt(8 * math.log(2))
    smin = beam.bmin_arcsec / pixel_arcsec / math.sqrt(8 * math.log(2))
    pa = math.radians(beam.bpa_deg)
    yy, xx = np.mgrid[-1:2, -1:2]
    measured, sampled = [], []
    for i in isolated:
        ix, iy = int(round(x[i])), int(round(y[i]))
        measured.append(restored[iy - 1:iy + 2, ix - 1:ix + 2].max() / flux[i])
        dx, dy = xx + ix - x[i], yy + iy - y[i]
        u = -math.sin(pa) * dx + math.cos(pa) * dy
        v = math.cos(pa) * dx + math.sin(pa) * dy
        sampled.append(np.exp(-0.5 * ((u / smaj) ** 2 + (v / smin) ** 2)).max())
    return np.array(measured), np.array(sampled)
