"""The container images built from the Dockerfile and run for real on a Docker engine (tests/localdocker.py):
the radsim image on a local Debian bookworm base, its self-test, `radsim simulate` with 2 MPI ranks inside it
through jobs/simulate.sh (plain bash and under the local Slurm) with tiles bit-identical to the host's; the
radtrain CPU image training with `horovodrun -np 2` through jobs/train.sh and evaluating; the Apptainer
recipes' environment, run script and test run inside the images they are built from. Apptainer itself does
not run here."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

import localdocker
from conftest import MPI_ENV, ROOT, radsim_exe, train_config, wait_until_made
from test_containers import sections
from test_jobs_simulate import inspect_ok, wait_for
from test_simulate import all_tiles, sim_config

RADSIM_TAG = "radsim-test:0.1.0"
RADTRAIN_TAG = "radtrain-test:0.1.0-cpu"
# the image each Apptainer recipe starts from ("From:" in containers/*.def), as built here on the local base
AS_BUILT = {"radsim": RADSIM_TAG, "radtrain": RADTRAIN_TAG}
QUICKSTART = ROOT / "configs" / "quickstart.toml"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    why = localdocker.unavailable()
    if why:
        pytest.skip(f"no Docker engine: {why}")
    eng = localdocker.Engine(tmp_path_factory.mktemp("docker"))
    try:
        eng.start()
    except RuntimeError as exc:
        pytest.skip(f"the Docker engine cannot start here: {exc}")
    localdocker.ensure_base()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def build_log(tmp_path_factory):
    return tmp_path_factory.mktemp("builds")


@pytest.fixture(scope="module")
def radsim_image(engine, build_log):
    seconds = localdocker.build(ROOT, "radsim", RADSIM_TAG, {"RADSIM_BASE": localdocker.BASE},
                                build_log / "radsim.log")
    print(f"radsim image: built in {seconds:.0f} s, {localdocker.image_size(RADSIM_TAG) / 2**30:.2f} GiB")
    return RADSIM_TAG


@pytest.fixture(scope="module")
def radtrain_image(engine, build_log):
    seconds = localdocker.build(ROOT, "radtrain", RADTRAIN_TAG,
                                {"RADTRAIN_BASE": localdocker.BASE, "RADTRAIN_VARIANT": "cpu"},
                                build_log / "radtrain.log")
    print(f"radtrain CPU image: built in {seconds:.0f} s, {localdocker.image_size(RADTRAIN_TAG) / 2**30:.2f} GiB")
    return RADTRAIN_TAG


def in_image(image, script, *extra):
    return localdocker.docker("run", "--rm", *extra, "--entrypoint", "bash", image, "-c", script, check=False,
                              timeout=600)


def job_env(**kw):
    return {**os.environ, **MPI_ENV, "CONTAINER_RUNTIME": "docker", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PATH": f"{os.path.dirname(localdocker.DOCKER)}:{os.environ['PATH']}", **kw}


@pytest.fixture(scope="module")
def quickstart_in_container(radsim_image, tmp_path_factory):
    """configs/quickstart.toml, as shipped, simulated by jobs/simulate.sh in the radsim image with 2 ranks."""
    out = tmp_path_factory.mktemp("qs-container") / "ds"
    proc = subprocess.run(["bash", str(ROOT / "jobs" / "simulate.sh")], capture_output=True, text=True,
                          timeout=900, env=job_env(RADSIM_IMAGE=radsim_image, CONFIG=str(QUICKSTART),
                                                   OUT=str(out), NPROCS="2"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def test_radsim_image_passes_its_self_test(radsim_image):
    proc = in_image(radsim_image, "bash /opt/radsim-container/selftest.sh radsim")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in ("python 3.11", "radsim 0.1.0", "mpi4py 4.1.2", "MPI library: Open MPI v4", "wsclean: /usr/bin/wsclean",
                 "[selftest] passed"):
        assert text in proc.stdout, proc.stdout
    assert localdocker.docker("run", "--rm", radsim_image, "--version").stdout.strip().endswith("0.1.0")


@pytest.mark.parametrize("kind", ["radsim", "radtrain"])
def test_the_build_secret_is_in_no_layer(kind, request):
    """The host's CA bundle reached pip as a build secret: no file of the image holds it."""
    if not localdocker.CA_BUNDLE.exists():
        pytest.skip(f"no {localdocker.CA_BUNDLE} on this host: the builds ran without the secret")
    image = request.getfixturevalue(f"{kind}_image")
    bundle = localdocker.CA_BUNDLE.read_bytes()
    digest = __import__("hashlib").sha256(bundle).hexdigest()
    proc = in_image(image, f"if [ -e /run/secrets/cacert ]; then echo secret-present; fi; "
                           f"find / -xdev -type f -size {len(bundle)}c -exec sha256sum {{}} + 2>/dev/null; true")
    # the image's own bundle (ca-certificates) may equal a host's that adds no certificate of its own
    copies = [line for line in proc.stdout.splitlines() if digest in line and "/etc/ssl/certs/" not in line]
    assert proc.returncode == 0 and "secret-present" not in proc.stdout and not copies, proc.stdout


def test_two_ranks_in_the_container_make_the_hosts_tiles(quickstart_in_container, tmp_path):
    out, proc = quickstart_in_container
    assert "running inside radsim-test:0.1.0 with docker" in proc.stdout
    assert "2 ranks via mpirun inside the container" in proc.stdout
    m = inspect_ok(out)                                   # the host's radsim verifies the container's dataset
    assert m["status"] == "complete" and m["runs"][-1]["ranks"] == 2
    assert {r["rank"] for r in m["runs"][-1]["rank_info"]} == {0, 1}
    assert all(p.stat().st_uid == os.getuid() for p in out.rglob("*"))
    host = tmp_path / "host"
    ran = subprocess.run(radsim_exe() + ["simulate", str(QUICKSTART), "--out", str(host)], capture_output=True,
                         text=True)
    assert ran.returncode == 0, ran.stderr
    a, b = all_tiles(out), all_tiles(host)
    assert len(a["images"]) == 24 * 16
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert m["tiles_hash"] == json.loads((host / "manifest.json").read_text())["tiles_hash"]
    assert not localdocker.leftover_containers("radsim-job-")


def test_simulate_job_runs_in_the_container_under_slurm(local_slurm, radsim_image, tmp_path):
    cfg = sim_config(tmp_path)
    out = tmp_path / "ds"
    env = job_env(**local_slurm.env, RADSIM_IMAGE=radsim_image)
    proc = subprocess.run(["sbatch", "--parsable", "--ntasks=2", "--ntasks-per-node=2", "--time=15",
                           f"--output={tmp_path}/job-%j.out", f"--export=ALL,CONFIG={cfg},OUT={out}",
                           str(ROOT / "jobs" / "simulate.sh")], env=env, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    assert wait_for(local_slurm, job, timeout=600) == "COMPLETED", (tmp_path / f"job-{job}.out").read_text()
    log = (tmp_path / f"job-{job}.out").read_text()
    assert f"job {job}: 2 ranks via mpirun inside the container" in log and "complete, 6 of 6 realisations" in log
    m = inspect_ok(out)
    assert m["runs"][-1]["ranks"] == 2 and m["status"] == "complete"
    assert not localdocker.leftover_containers(f"radsim-job-{job}-")


def test_sigterm_to_the_containerised_job_keeps_completed_work(quickstart_in_container, tmp_path):
    """SIGTERM to jobs/simulate.sh (scancel, a time limit's --signal=B:TERM) reaches the ranks inside the
    container: they complete their shards, the job ends with 75 and removes its container, and running it
    again completes the dataset with the tiles of an uninterrupted run."""
    whole, _ = quickstart_in_container
    out = tmp_path / "ds"
    env = job_env(RADSIM_IMAGE=RADSIM_TAG, CONFIG=str(QUICKSTART), OUT=str(out), NPROCS="2")
    job = subprocess.Popen(["bash", str(ROOT / "jobs" / "simulate.sh")], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not localdocker.leftover_containers("radsim-job-local-"):
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()[0]
        time.sleep(0.2)
    # 4 of the 24 made: a fixed 10 s once outlasted the whole job (10 s on a faster machine)
    wait_until_made(out, 4, alive=lambda: job.poll() is None)
    job.send_signal(signal.SIGTERM)
    log = job.communicate(timeout=300)[0]
    assert job.returncode == 75, log
    assert "stopped by SIGTERM" in log and "every completed realisation is kept" in log
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "interrupted" and 0 < m["done"] < 24, log
    assert not localdocker.leftover_containers("radsim-job-local-")
    again = subprocess.run(["bash", str(ROOT / "jobs" / "simulate.sh")], env=env, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"24 realisations planned, {m['done']} already done" in again.stdout + again.stderr
    resumed = inspect_ok(out)
    assert resumed["tiles_hash"] == json.loads((whole / "manifest.json").read_text())["tiles_hash"]


def test_train_job_runs_two_horovod_ranks_in_the_cpu_image(radtrain_image, quickstart_in_container, tmp_path):
    dataset, _ = quickstart_in_container
    cfg = train_config(tmp_path, train__epochs=1, train__warmup_epochs=0)
    out = tmp_path / "run"
    proc = subprocess.run(["bash", str(ROOT / "jobs" / "train.sh")], capture_output=True, text=True, timeout=1200,
                          env=job_env(RADTRAIN_IMAGE=radtrain_image, CONFIG=str(cfg), DATASET=str(dataset),
                                      OUT=str(out), NPROCS="2"))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    assert "2 Horovod rank(s) inside the container" in proc.stdout
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["runs"][-1]["ranks"] == 2
    metrics = json.loads((out / "evaluate-test" / "metrics.json").read_text())
    assert metrics["n_tiles"] > 0
    assert all(p.stat().st_uid == os.getuid() for p in out.rglob("*"))
    assert not localdocker.leftover_containers("radsim-job-")


@pytest.mark.parametrize("kind", ["radsim", "radtrain"])
def test_apptainer_recipe_runs_in_the_image_it_is_built_from(kind, request):
    """The .def files add only %environment, %runscript and %test to the Docker image ("Bootstrap:
    docker-daemon"); here those sections run inside that image as built on the local base (for radtrain, the
    CPU variant of the same target). Apptainer itself is not installed here."""
    text = (ROOT / "containers" / f"{kind}.def").read_text()
    header = dict(line.split(":", 1) for line in text.splitlines()[:2])
    assert header["Bootstrap"].strip() == "docker-daemon" and header["From"].strip() == f"{kind}:0.1.0"
    image = request.getfixturevalue(f"{kind}_image")
    assert image == AS_BUILT[kind]
    sec = sections(text)
    proc = in_image(image, f"set -e\n{sec['environment']}\n{sec['test']}")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    assert "[selftest] passed" in proc.stdout
    run = in_image(image, f"set -e\n{sec['environment']}\nset -- --version\n{sec['runscript']}")
    assert run.returncode == 0 and run.stdout.strip().endswith("0.1.0"), run.stdout + run.stderr
    labels = json.loads(localdocker.docker("image", "inspect", image).stdout)[0]["Config"]["Labels"]
    assert labels["org.opencontainers.image.title"] == kind
    assert labels["org.opencontainers.image.base.name"] == localdocker.BASE
    if kind == "radtrain":
        assert labels["org.radsim.variant"] == "cpu"
        assert "tensorflow 2.15.1" in proc.stdout and "horovod 0.28.1" in proc.stdout


def test_docker_runtime_names_a_missing_image(engine, tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "jobs" / "simulate.sh")], capture_output=True, text=True,
                          env=job_env(RADSIM_IMAGE="radsim-test:no-such-tag", CONFIG=str(sim_config(tmp_path)),
                                      OUT=str(tmp_path / "ds")))
    assert proc.returncode == 2
    assert "image 'radsim-test:no-such-tag' not found in the local docker engine" in proc.stderr
    proc = subprocess.run(["bash", str(ROOT / "jobs" / "simulate.sh")], capture_output=True, text=True,
                          env=job_env(RADSIM_IMAGE="x", CONTAINER_RUNTIME="lxc", CONFIG=str(sim_config(tmp_path)),
                                      OUT=str(tmp_path / "ds")))
    assert proc.returncode == 2 and "container runtime 'lxc' is not on PATH" in proc.stderr
