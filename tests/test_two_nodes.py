"""The jobs across two hosts, on a two-node Slurm cluster made of network namespaces (tests/twonodes.py): one
MPI rank per node for `jobs/simulate.sh` and one Horovod rank per node for `jobs/train.sh`, each checked
against a one-node run; a node killed mid-run, and the work completed on the node that is left."""
import json
import subprocess
import time

import pytest

import twonodes
from conftest import MPI_ENV, ROOT, radsim_exe, train_config, wait_until_made
from test_jobs_simulate import inspect_ok, job_state, wait_for

QUICKSTART = ROOT / "configs" / "quickstart.toml"
SKIES = "--set realisations.repeats=12"           # the shipped quickstart, 48 skies: about 16 s on 2 ranks
TRAIN = {"train__epochs": 12, "train__warmup_epochs": 1}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = twonodes.unavailable()
    if why:
        pytest.skip(f"no two-node cluster: {why}")
    c = twonodes.TwoNodeCluster(tmp_path_factory.mktemp("two-nodes"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


def submit(c, tmp_path, script, *flags, **env):
    exports = ",".join(f"{k}={v}" for k, v in env.items())
    proc = subprocess.run(["sbatch", "--parsable", "--time=15", f"--output={tmp_path}/job-%j.out", *flags,
                           f"--export=ALL,{exports}", str(ROOT / "jobs" / script)], cwd=ROOT, capture_output=True,
                          text=True, env={**c.env, **MPI_ENV, "TF_CPP_MIN_LOG_LEVEL": "2",
                                          "RADTRAIN_THREADS_PER_RANK": "1"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def log_of(tmp_path, job):
    return (tmp_path / f"job-{job}.out").read_text()


def wait_running(c, job, timeout=60):
    deadline = time.monotonic() + timeout
    while job_state(c, job) != "RUNNING":
        assert time.monotonic() < deadline, f"job {job} never ran: {job_state(c, job)}\n{c.log_tail()}"
        time.sleep(0.3)


def wait_for_line(path, text, timeout=300):
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, f"'{text}' not in {path}"
        time.sleep(0.3)


def manifest(out):
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def one_node_dataset(tmp_path_factory):
    """The same config made on this host by 2 local ranks (mpirun), the reference for the cross-host runs."""
    out = tmp_path_factory.mktemp("one-node") / "ds"
    proc = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", *radsim_exe(), "simulate", str(QUICKSTART),
                           "--out", str(out), *SKIES.split()], capture_output=True, text=True,
                          env={**__import__("os").environ, **MPI_ENV})
    assert proc.returncode == 0, proc.stderr
    return out


def test_cluster_starts_in_seconds_with_two_hosts(cluster):
    assert cluster.started_s < 10
    proc = subprocess.run(["srun", "-N", "2", "--ntasks-per-node=1", "--time=1", "sh", "-c",
                           "echo $(hostname) $(ip -o -4 addr show eth0 | awk '{print $4}')"], env=cluster.env,
                          cwd="/tmp", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split("\n")[:2]) == [f"node1 {cluster.addr['node1']}/24",
                                                   f"node2 {cluster.addr['node2']}/24"]


def test_simulate_places_one_rank_on_each_node(cluster, one_node_dataset, tmp_path):
    out = tmp_path / "ds"
    job = submit(cluster, tmp_path, "simulate.sh", "-N", "2", "--ntasks-per-node=1", CONFIG=QUICKSTART, OUT=out,
                 RADSIM_ARGS=SKIES)
    assert wait_for(cluster, job, timeout=300) == "COMPLETED", log_of(tmp_path, job) + cluster.log_tail()
    log = log_of(tmp_path, job)
    assert f"job {job}: 2 ranks on 2 node(s) (node[1-2]) via srun --mpi=pmix" in log
    assert f"network: interface eth0 (node1's Slurm address {cluster.addr['node1']})" in log
    m = inspect_ok(out)
    assert m["status"] == "complete" and m["runs"][-1]["hosts"] == ["node1", "node2"]
    assert {r["host"] for r in m["runs"][-1]["rank_info"]} == {"node1", "node2"}
    assert m["tiles_hash"] == manifest(one_node_dataset)["tiles_hash"]


def test_network_variables_set_by_the_user_are_kept(cluster, tmp_path):
    job = submit(cluster, tmp_path, "simulate.sh", "-N", "2", "--ntasks-per-node=1", CONFIG=QUICKSTART,
                 OUT=tmp_path / "ds", RADSIM_ARGS="--set realisations.repeats=1", HOROVOD_GLOO_IFACE="eth0",
                 OMPI_MCA_btl_tcp_if_include=cluster.net.with_prefixlen.replace(",", ""))
    assert wait_for(cluster, job, timeout=300) == "COMPLETED", log_of(tmp_path, job)
    assert "yours kept: OMPI_MCA_btl_tcp_if_include/exclude HOROVOD_GLOO_IFACE" in log_of(tmp_path, job)


def history(run):
    lines = (run / "history.csv").read_text().splitlines()
    keys = lines[0].split(",")
    return [dict(zip(keys, line.split(","))) for line in lines[1:]]


@pytest.fixture(scope="module")
def train_runs(cluster, one_node_dataset, tmp_path_factory):
    """The same training (2 ranks, global batch 16, 2 epochs) on two nodes with Horovod's MPI and Gloo
    controllers, and on one node."""
    tmp = tmp_path_factory.mktemp("train")
    cfg = train_config(tmp, train__epochs=2, train__warmup_epochs=1)
    runs = {}
    for name, controller, flags in (("two-mpi", "mpi", ("-N", "2", "--ntasks-per-node=1")),
                                    ("two-gloo", "gloo", ("-N", "2", "--ntasks-per-node=1")),
                                    ("one", "mpi", ("-N", "1", "--ntasks=2", "--ntasks-per-node=2",
                                                    "--nodelist=node1"))):
        job = submit(cluster, tmp, "train.sh", *flags, "--gpus-per-node=0", "--cpus-per-task=1", CONFIG=cfg,
                     DATASET=one_node_dataset, OUT=tmp / name, RADTRAIN_CONTROLLER=controller)
        assert wait_for(cluster, job, timeout=600) == "COMPLETED", log_of(tmp, job)
        runs[name] = (tmp / name, log_of(tmp, job))
    return runs


@pytest.mark.parametrize("controller", ["mpi", "gloo"])
def test_horovod_across_two_nodes_trains_the_one_node_weights(train_runs, controller):
    """One rank per node, over TCP between the hosts: the weights of every epoch are bit-identical to two ranks
    on one node with the same global batch (the ranks' threads fixed: RADTRAIN_THREADS_PER_RANK=1)."""
    (two, log), (one, _) = train_runs[f"two-{controller}"], train_runs["one"]
    assert "2 ranks on 2 node(s) (node[1-2])" in log and "network: interface eth0" in log
    assert f"2 ranks on node1,node2 (horovod {controller}, cpu)" in log
    if controller == "gloo":
        assert "Horovod's Gloo controller: rendezvous on" in log
    run = json.loads((two / "run.json").read_text())
    assert run["status"] == "complete" and run["runs"][-1]["hosts"] == ["node1", "node2"]
    assert run["runs"][-1]["controller"] == controller
    assert json.loads((one / "run.json").read_text())["runs"][-1]["hosts"] == ["node1"]
    h2, h1 = history(two), history(one)
    assert all(h["weights_agree"] == "True" for h in h2)
    assert [h["weights_digests"] for h in h2] == [h["weights_digests"] for h in h1]
    assert [h["loss"] for h in h2] == [h["loss"] for h in h1]
    print(f"tiles/s per rank, last epoch: two nodes ({controller})", h2[-1]["tiles_per_s_per_rank"],
          "one node", h1[-1]["tiles_per_s_per_rank"])
    assert (two / "evaluate-test" / "metrics.json").is_file()


def test_a_node_lost_mid_simulation_keeps_the_work_and_one_node_completes_it(cluster, one_node_dataset, tmp_path):
    out = tmp_path / "ds"
    job = submit(cluster, tmp_path, "simulate.sh", "-N", "2", "--ntasks-per-node=1", CONFIG=QUICKSTART, OUT=out,
                 RADSIM_ARGS=SKIES)
    # Three quarters through: node 1 makes the rest alone in less time than Slurm takes to notice the lost node
    # (SlurmdTimeout), so its rank 0 waits for rank 1 when the job's SIGTERM comes, the case that once hung until
    # SIGKILL. Node 2 dies with its made realisations uncommitted (dataset.commit_interval_s is 300 s).
    wait_until_made(out, 36, alive=lambda: job_state(cluster, job) in ("PENDING", "RUNNING"))
    try:
        cluster.kill_node("node2")
        t_kill = time.monotonic()
        state = wait_for(cluster, job, states=("PENDING", "FAILED", "CANCELLED", "NODE_FAIL", "COMPLETED"),
                         timeout=180)
        t_end = time.monotonic()
        wait_for_line(tmp_path / f"job-{job}.out", "node(s) node2 of this job failed", timeout=60)
        log = log_of(tmp_path, job)
        assert "no word from rank(s) 1" in log and "every completed realisation is kept" in log
        m = manifest(out)
        kept = m["done"]
        assert m["status"] == "interrupted" and 0 < kept < 48, log
        subprocess.run(["scancel", job], env=cluster.env)            # the requeued job would wait for node2
        again = submit(cluster, tmp_path, "simulate.sh", "-N", "1", "--ntasks=2", "--ntasks-per-node=2",
                       "--exclude=node2", CONFIG=QUICKSTART, OUT=out, RADSIM_ARGS=SKIES)
        assert wait_for(cluster, again, timeout=300) == "COMPLETED", log_of(tmp_path, again)
        t_done = time.monotonic()
        assert f"48 realisations planned, {kept} already done" in log_of(tmp_path, again)
        final = inspect_ok(out)
        assert final["tiles_hash"] == manifest(one_node_dataset)["tiles_hash"]
        print(f"node lost {t_end - t_kill:.0f} s before the job ended ({state}); {kept} of 48 realisations kept; "
              f"the resubmitted job completed the dataset {t_done - t_end:.0f} s later")
    finally:
        cluster.restart_node("node2")


def test_a_node_lost_mid_training_resumes_from_the_last_checkpoint(cluster, one_node_dataset, tmp_path):
    cfg = train_config(tmp_path, **TRAIN)
    run = tmp_path / "run"
    flags = ("--gpus-per-node=0", "--cpus-per-task=1")
    job = submit(cluster, tmp_path, "train.sh", "-N", "2", "--ntasks-per-node=1", *flags, CONFIG=cfg,
                 DATASET=one_node_dataset, OUT=run, EVALUATE=0)
    wait_for_line(tmp_path / f"job-{job}.out", "epoch 3/12")
    try:
        cluster.kill_node("node2")
        t_kill = time.monotonic()
        wait_for(cluster, job, states=("PENDING", "FAILED", "CANCELLED", "NODE_FAIL", "COMPLETED"), timeout=180)
        t_end = time.monotonic()
        wait_for_line(tmp_path / f"job-{job}.out", "node(s) node2 of this job failed", timeout=60)
        assert "keeps the last epoch's checkpoint" in log_of(tmp_path, job)
        subprocess.run(["scancel", job], env=cluster.env)
        done_before = len(history(run))
        assert 2 <= done_before < 12
        again = submit(cluster, tmp_path, "train.sh", "-N", "1", "--ntasks=2", "--ntasks-per-node=2",
                       "--exclude=node2", *flags, CONFIG=cfg, DATASET=one_node_dataset, OUT=run, EVALUATE=0)
        assert wait_for(cluster, again, timeout=600) == "COMPLETED", log_of(tmp_path, again)
        t_done = time.monotonic()
        record = json.loads((run / "run.json").read_text())
        resumed_at = record["runs"][-1]["initial_epoch"]
        assert record["status"] == "complete" and 2 <= resumed_at <= done_before
        assert f"from its checkpoint after epoch {resumed_at}" in log_of(tmp_path, again)
        assert sorted({int(h["epoch"]) for h in history(run)}) == list(range(1, 13))
        print(f"training: node lost {t_end - t_kill:.0f} s before the job ended; {resumed_at} of 12 epochs kept "
              f"(checkpointed); the resubmitted job resumed at epoch {resumed_at + 1} and finished "
              f"{t_done - t_end:.0f} s later")
    finally:
        cluster.restart_node("node2")


def test_the_cluster_leaves_nothing_behind(cluster):
    cluster.stop()
    assert not twonodes.namespaces()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"{twonodes.PREFIX}-host" not in links
    assert not cluster.processes()
    assert str(cluster.dir) not in open("/proc/mounts").read()
