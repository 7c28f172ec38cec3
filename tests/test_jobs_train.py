"""jobs/train.sh for real: under a one-node Slurm on localhost (sbatch, 2 CPU ranks via srun --mpi=pmix and
Horovod's MPI controller, then evaluation) and with plain bash (horovodrun with 2 local ranks)."""
import json
import os
import subprocess

from conftest import MPI_ENV, ROOT, train_config
from radtrain.train import read_history, read_run
from test_jobs_simulate import wait_for

SCRIPT = ROOT / "jobs" / "train.sh"


def test_sbatch_trains_on_two_srun_ranks_and_evaluates(local_slurm, train_dataset, tmp_path):
    cfg = train_config(tmp_path)
    out = tmp_path / "run"
    # the script asks for GPUs; this node has none, so the submission says so, as on a CPU partition
    cmd = ["sbatch", "--parsable", "--gpus-per-node=0", "--ntasks=2", "--ntasks-per-node=2", "--cpus-per-task=1",
           "--time=15", f"--output={tmp_path}/job-%j.out",
           f"--export=ALL,CONFIG={cfg},DATASET={train_dataset},OUT={out}", str(SCRIPT)]
    proc = subprocess.run(cmd, env=local_slurm.env, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    state = wait_for(local_slurm, job, timeout=400)
    log = (tmp_path / f"job-{job}.out").read_text()
    assert state == "COMPLETED", log
    assert f"job {job}: 2 ranks on 1 node(s)" in log and "via srun --mpi=pmix" in log
    assert "radtrain[rank 0/2]" in log and f"2 ranks on {local_slurm.host} (horovod mpi, cpu)" in log
    run = read_run(out)
    assert run["status"] == "complete" and run["runs"][-1]["ranks"] == 2 and run["runs"][-1]["controller"] == "mpi"
    assert all(h["weights_agree"] and len(h["weights_digests"]) == 2 for h in read_history(out))
    metrics = json.loads((out / "evaluate-test" / "metrics.json").read_text())
    assert metrics["n_tiles"] == 16 and "test split" in log


def test_plain_bash_runs_horovodrun_then_evaluates(train_dataset, tmp_path):
    cfg = train_config(tmp_path)
    out = tmp_path / "run"
    env = {**os.environ, **MPI_ENV, "CONFIG": str(cfg), "DATASET": str(train_dataset), "OUT": str(out),
           "NPROCS": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 local Horovod ranks via horovodrun --gloo" in proc.stdout and "radtrain[rank 0/2]" in proc.stdout
    assert read_run(out)["runs"][-1]["ranks"] == 2
    assert (out / "evaluate-test" / "metrics.json").is_file()


def test_script_names_missing_inputs(train_dataset, tmp_path):
    base = {**os.environ, "OUT": str(tmp_path / "o")}
    proc = subprocess.run(["bash", str(SCRIPT)], env={**base, "CONFIG": str(tmp_path / "none.toml")},
                          capture_output=True, text=True)
    assert proc.returncode == 2 and f"training config not found: {tmp_path / 'none.toml'}" in proc.stderr
    cfg = train_config(tmp_path)
    proc = subprocess.run(["bash", str(SCRIPT)], env={**base, "CONFIG": str(cfg), "DATASET": str(tmp_path / "nods")},
                          capture_output=True, text=True)
    assert proc.returncode == 2 and f"no radsim dataset at {tmp_path / 'nods'}" in proc.stderr
