"""jobs/simulate.sh for real: under a one-node Slurm on localhost (sbatch, srun --mpi=pmix, requeue) and
with plain bash (mpirun)."""
import json
import os
import re
import signal
import subprocess
import time


from conftest import MPI_ENV, ROOT
from test_simulate import sim_config

SCRIPT = ROOT / "jobs" / "simulate.sh"


def inspect_ok(out):
    from conftest import radsim_exe
    proc = subprocess.run(radsim_exe() + ["inspect", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "manifest.json").read_text())


def sbatch(slurm, tmp_path, cfg, out, *flags):
    cmd = ["sbatch", "--parsable", "--ntasks=2", "--ntasks-per-node=2", "--time=15",
           f"--output={tmp_path}/job-%j.out", f"--export=ALL,CONFIG={cfg},OUT={out}", *flags, str(SCRIPT)]
    proc = subprocess.run(cmd, env=slurm.env, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def job_state(slurm, job):
    p = subprocess.run(["scontrol", "show", "job", job], env=slurm.env, capture_output=True, text=True)
    found = re.search(r"JobState=(\w+)", p.stdout)
    return found.group(1) if found else "UNKNOWN"


def wait_for(slurm, job, states=("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"), timeout=300):
    deadline = time.monotonic() + timeout
    while (state := job_state(slurm, job)) not in states:
        assert time.monotonic() < deadline, f"job {job} still {state}:\n{slurm.log_tail()}"
        time.sleep(0.5)
    return state


def test_sbatch_runs_two_srun_ranks_to_a_verified_dataset(local_slurm, tmp_path):
    cfg = sim_config(tmp_path)
    out = tmp_path / "ds"
    job = sbatch(local_slurm, tmp_path, cfg, out)
    assert wait_for(local_slurm, job) == "COMPLETED", (tmp_path / f"job-{job}.out").read_text()
    log = (tmp_path / f"job-{job}.out").read_text()
    assert f"job {job}: 2 ranks on 1 node(s) ({local_slurm.host}) via srun --mpi=pmix" in log
    assert "radsim[rank 0/2]" in log and "complete, 6 of 6 realisations" in log
    m = inspect_ok(out)
    assert m["runs"][-1]["ranks"] == 2 and m["status"] == "complete"


def test_requeued_job_resumes_the_dataset(local_slurm, tmp_path):
    cfg = sim_config(tmp_path, realisations__repeats=12, field__size_deg=0.5, field__npix=256)
    out = tmp_path / "ds"
    job = sbatch(local_slurm, tmp_path, cfg, out)
    deadline = time.monotonic() + 120
    while len(list((out / "shards").glob("rank*.h5"))) < 2:
        assert time.monotonic() < deadline and job_state(local_slurm, job) in ("PENDING", "RUNNING", "CONFIGURING")
        time.sleep(0.05)
    subprocess.run(["scontrol", "requeue", job], env=local_slurm.env, check=True)
    # Slurm holds a requeued job back (BeginTime, for the old credential to expire); let it start sooner, but
    # in a later second than the requeue: slurmd refuses a credential as old as the revocation (1 s resolution)
    wait_for(local_slurm, job, states=("PENDING",), timeout=120)
    time.sleep(2.5)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=local_slurm.env, check=True)
    assert wait_for(local_slurm, job, timeout=600) == "COMPLETED", (tmp_path / f"job-{job}.out").read_text()
    log = (tmp_path / f"job-{job}.out").read_text()
    assert "(requeued 1 time(s))" in log
    done_first = int(re.findall(r"(\d+) already done", log)[-1])
    assert 0 < done_first < 36
    m = inspect_ok(out)
    assert sorted(r for s in m["shards"] for r in s["realisations"]) == list(range(36))


def test_plain_bash_uses_mpirun(tmp_path):
    cfg = sim_config(tmp_path)
    out = tmp_path / "ds"
    proc = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, **MPI_ENV, "CONFIG": str(cfg), "OUT": str(out),
                                                      "NPROCS": "2"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 local ranks via mpirun" in proc.stdout and "radsim[rank 0/2]" in proc.stderr
    assert inspect_ok(out)["runs"][-1]["ranks"] == 2


def test_script_names_a_missing_config(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, "CONFIG": str(tmp_path / "none.toml"),
                                                      "OUT": str(tmp_path / "o")}, capture_output=True, text=True)
    assert proc.returncode == 2 and f"config file not found: {tmp_path / 'none.toml'}" in proc.stderr


def test_srun_without_mpi_plugin_is_refused(local_slurm, tmp_path):
    from conftest import radsim_exe
    cfg = sim_config(tmp_path)
    proc = subprocess.run(["srun", "-n", "2", "--mpi=none", *radsim_exe(), "simulate", str(cfg), "--out",
                           str(tmp_path / "ds")], env=local_slurm.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "without an MPI process-management interface" in proc.stderr and "--mpi=pmix" in proc.stderr
    assert not list((tmp_path / "ds").glob("shards/*.h5"))


def journaled(out) -> set[int]:
    """Realisations the ranks have made so far (their journals), committed to a shard or not yet."""
    return {int(x) for p in (out / "logs").glob("journal-rank*.txt") for x in p.read_text().split()}


def in_shards(out) -> set[int]:
    from radsim.dataset import reader
    return {int(i) for p in (out / "shards").glob("rank*.h5") for i in reader.shard_table(p)[0]["id"]}


def test_requeue_with_the_shipped_defaults_keeps_every_completed_realisation(local_slurm, tmp_path):
    """quickstart as shipped (1 GiB shards, 300 s commit interval: no shard is complete before the signal) under
    srun with 2 ranks; `scontrol requeue` stops it with SIGTERM: every realisation made is committed, the
    requeued job makes only the rest."""
    out = tmp_path / "ds"
    job = sbatch(local_slurm, tmp_path, ROOT / "configs" / "quickstart.toml", out,
                 "--export=ALL,RADSIM_ARGS=--set realisations.repeats=30,"
                 f"CONFIG={ROOT / 'configs' / 'quickstart.toml'},OUT={out}")
    deadline = time.monotonic() + 300
    while not (out / "logs").is_dir() or len(journaled(out)) < 6:
        assert time.monotonic() < deadline and job_state(local_slurm, job) in ("PENDING", "RUNNING", "CONFIGURING")
        time.sleep(0.1)
    assert not list((out / "shards").glob("rank*.h5"))       # with the defaults nothing is committed yet
    subprocess.run(["scontrol", "requeue", job], env=local_slurm.env, check=True)
    wait_for(local_slurm, job, states=("PENDING",), timeout=120)
    made = journaled(out)
    assert made and made <= in_shards(out)                   # every realisation made was kept
    log = (tmp_path / f"job-{job}.out").read_text()
    assert "interrupted by SIGTERM: every completed realisation is kept" in log, log
    time.sleep(2.5)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=local_slurm.env, check=True)
    assert wait_for(local_slurm, job, timeout=900) == "COMPLETED", (tmp_path / f"job-{job}.out").read_text()
    log = (tmp_path / f"job-{job}.out").read_text()
    assert "the previous run was killed" not in log                # nothing made was lost
    assert int(re.findall(r"(\d+) already done", log)[-1]) == len(made)
    m = inspect_ok(out)
    assert m["status"] == "complete" and m["done"] == 120


def test_time_limit_with_the_shipped_defaults_keeps_every_completed_realisation(local_slurm, tmp_path):
    """A job whose time limit (1 min) ends it mid-run: Slurm's early SIGTERM (--signal) stops the ranks, which
    commit what they made; the status says interrupted and a resubmission loses nothing."""
    out = tmp_path / "ds"
    cfg = ROOT / "configs" / "quickstart.toml"
    job = sbatch(local_slurm, tmp_path, cfg, out, "--time=1", "--signal=TERM@25",
                 f"--export=ALL,RADSIM_ARGS=--set realisations.repeats=60,CONFIG={cfg},OUT={out}")
    state = wait_for(local_slurm, job, timeout=300)
    log = (tmp_path / f"job-{job}.out").read_text()
    assert state in ("FAILED", "TIMEOUT", "COMPLETED"), state
    assert "interrupted by SIGTERM: every completed realisation is kept" in log, log
    assert "status 75" in log or "exited with status 75" in log
    made = journaled(out)
    assert made and made <= in_shards(out)
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    # the resubmission finds every realisation made in the dataset (then it is stopped: the rest is not the point)
    from conftest import radsim_exe
    again = subprocess.Popen(radsim_exe() + ["simulate", str(cfg), "--out", str(out), "--set",
                                             "realisations.repeats=60"], stderr=subprocess.PIPE, text=True)
    lines = []
    for line in again.stderr:
        lines.append(line)
        if "to make on" in line:
            break
    again.send_signal(signal.SIGINT)
    lines += again.stderr.readlines()
    assert again.wait(timeout=120) == 75, "".join(lines)
    assert "the previous run was killed" not in "".join(lines)
    assert f"{len(made)} already done" in "".join(lines)


def test_plain_bash_takes_relative_paths_from_the_callers_directory(tmp_path):
    """CONFIG=sim.toml OUT=ds bash /path/to/jobs/simulate.sh from another directory: both are the caller's."""
    sim_config(tmp_path, "sim.toml")
    proc = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, **MPI_ENV, "CONFIG": "sim.toml", "OUT": "ds",
                                                      "NPROCS": "1"}, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"config {tmp_path / 'sim.toml'} -> dataset {tmp_path / 'ds'}" in proc.stdout
    assert (tmp_path / "ds" / "manifest.json").exists() and not (ROOT / "ds").exists()
