"""A one-node Slurm on localhost for the tests of jobs/*.sh: munge, slurmctld and slurmd run as root with a
configuration of their own (SLURM_CONF in a temporary directory). Needs root and
Debian's slurm-wlm and munge; `unavailable()` says why it cannot start otherwise."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MUNGE_DIRS = ("/run/munge", "/var/log/munge", "/etc/munge", "/var/lib/munge")


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "starting slurmctld, slurmd and munged needs root"
    missing = [p for p in ("slurmctld", "slurmd", "sbatch", "munged", "munge") if shutil.which(p) is None
               and not Path("/usr/sbin", p).exists()]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install slurm-wlm munge; scripts/setup.sh does)"
    if not Path("/etc/munge/munge.key").exists():
        return "no /etc/munge/munge.key (reinstall munge or run mungekey)"
    return None


def _munge_ok() -> bool:
    try:
        enc = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        return enc.returncode == 0 and subprocess.run(["unmunge"], input=enc.stdout, capture_output=True,
                                                      timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_munge() -> None:
    if _munge_ok():
        return
    for d in MUNGE_DIRS:
        Path(d).mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "munge", "munge")
    subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged"], check=True, capture_output=True)
    for _ in range(50):
        if _munge_ok():
            return
        time.sleep(0.1)
    raise RuntimeError("munged started but munge -n | unmunge fails")


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 512
    return 1024


def common_conf(workdir: Path) -> str:
    """slurm.conf lines every test cluster shares: daemons as root, munge, the controller's state and logs in
    ``workdir``, no cgroups, cores as consumable resources, requeue allowed."""
    return f"""\
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={workdir}/state
SlurmctldPidFile={workdir}/slurmctld.pid
SlurmctldLogFile={workdir}/log/slurmctld.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
SchedulerType=sched/backfill
"""


class LocalSlurm:
    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.host = socket.gethostname().split(".")[0]

    def write_conf(self) -> None:
        for d in ("state", "spool", "log"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"""\
ClusterName=radsimtest
SlurmctldHost={self.host}
SlurmctldPort=16817
SlurmdPort=16818
SlurmdSpoolDir={self.dir}/spool
SlurmdPidFile={self.dir}/slurmd.pid
SlurmdLogFile={self.dir}/log/slurmd.log
{common_conf(self.dir)}NodeName={self.host} CPUs={os.cpu_count()} RealMemory={_mem_mb()} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")

    def start(self, timeout_s: float = 60) -> None:
        start_munge()
        self.write_conf()
        subprocess.run(["/usr/sbin/slurmctld", "-i"], env=self.env, check=True, capture_output=True)
        subprocess.run(["/usr/sbin/slurmd"], env=self.env, check=True, capture_output=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            p = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if p.returncode == 0 and p.stdout.strip() in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the local Slurm did not come up: {self.log_tail()}")

    def log_tail(self, n=20) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            p = self.dir / "log" / name
            if p.exists():
                out.append(f"--- {name}\n" + "\n".join(p.read_text().splitlines()[-n:]))
        return "\n".join(out)

    def stop(self) -> None:
        subprocess.run(["scontrol", "shutdown"], env=self.env, capture_output=True)
        for pidfile in ("slurmd.pid", "slurmctld.pid"):
            p = self.dir / pidfile
            try:
                os.kill(int(p.read_text()), 15)
            except (OSError, ValueError):
                pass
