"""A two-node Slurm cluster on one machine for the cross-host tests of jobs/*.sh.

Each node is a network namespace with its own address and, through `unshare`, its own hostname (UTS
namespace) and a private mount namespace in which /etc/hosts names the cluster and a tmpfs is the node-local
scratch Slurm's PMIx plugin uses (TmpFS): real nodes do not share /tmp, and PMIx's per-step directories
would collide. The nodes are joined by veth pairs to a bridge that lives in a namespace of its own (the
"switch": the host's firewall, e.g. Docker's FORWARD DROP, never sees their traffic), and the host joins the
switch too, with the controller's address: slurmctld runs on the host, one `slurmd -N nodeK` in each node.
munge is shared (its socket is a file), and so is every file system, as cluster nodes share a parallel file
system. The subnet is a private /24 that no interface of the machine uses; only addresses made here are
contacted. Needs root, iproute2, util-linux and Debian's slurm-wlm and munge; `unavailable()` says why not.

`stop()` removes everything it made (daemons, namespaces, links, files), also after a failed start;
`cleanup_stale()` removes what a killed test run left behind (everything here is named with PREFIX).
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import localslurm

PREFIX = "rsn"                                   # namespaces rsn-sw, rsn-node1, rsn-node2; the host's link rsn-host
NODES = ("node1", "node2")
CTL_PORT, SLURMD_PORT = 16827, 16828              # not the one-node cluster's, so both may run in one session


def unavailable() -> str | None:
    why = localslurm.unavailable()
    if why:
        return why
    missing = [p for p in ("ip", "nsenter", "unshare") if shutil.which(p) is None]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install iproute2 util-linux)"
    return None


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no address or route of this machine touches."""
    used = run("ip", "-o", "-4", "addr", "show").stdout + run("ip", "-4", "route", "show", "table", "all").stdout
    for third in range(213, 256):
        net = ipaddress.ip_network(f"10.{third}.0.0/24")
        if f"10.{third}." not in used:
            return net
    raise RuntimeError("no free 10.x.0.0/24 subnet for the test cluster")


def namespaces() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list").stdout.splitlines()
            if line.startswith(f"{PREFIX}-")]


def _kill_in(ns: str, sig: int = signal.SIGKILL) -> None:
    for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
        try:
            os.kill(int(pid), sig)
        except (OSError, ValueError):
            pass


def cleanup_stale() -> None:
    """Remove namespaces and links with the cluster's prefix, and every process inside them."""
    for ns in namespaces():
        _kill_in(ns)
    for ns in namespaces():
        run("ip", "netns", "delete", ns, check=False)
    run("ip", "link", "delete", f"{PREFIX}-host", check=False)


class TwoNodeCluster:
    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.ctl_name = socket.gethostname().split(".")[0]
        self.net: ipaddress.IPv4Network | None = None
        self.addr: dict[str, str] = {}
        self.started_s = float("nan")

    # -- the network ------------------------------------------------------------------------------------------
    def ns(self, node: str) -> str:
        return f"{PREFIX}-{node}"

    def _network(self) -> None:
        self.net = free_subnet()
        hosts = list(self.net.hosts())
        self.addr = {"ctl": str(hosts[0]), **{n: str(hosts[i + 1]) for i, n in enumerate(NODES)}}
        sw = self.ns("sw")
        run("ip", "netns", "add", sw)
        run("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", sw, "link", "set", "br0", "up")
        run("ip", "link", "add", f"{PREFIX}-host", "type", "veth", "peer", "name", "p0", "netns", sw)
        run("ip", "-n", sw, "link", "set", "p0", "master", "br0", "up")
        run("ip", "addr", "add", f"{self.addr['ctl']}/{self.net.prefixlen}", "dev", f"{PREFIX}-host")
        run("ip", "link", "set", f"{PREFIX}-host", "up")
        for i, node in enumerate(NODES, start=1):
            ns = self.ns(node)
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", f"p{i}", "netns", sw, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "-n", sw, "link", "set", f"p{i}", "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{self.addr[node]}/{self.net.prefixlen}", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def link(self, node: str, up: bool) -> None:
        """Plug a node's cable in or out (its port on the switch)."""
        run("ip", "-n", self.ns("sw"), "link", "set", f"p{NODES.index(node) + 1}", "up" if up else "down")

    # -- Slurm ------------------------------------------------------------------------------------------------
    def write_conf(self) -> None:
        for d in ("state", "log", "nodetmp"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        for node in NODES:
            (self.dir / f"spool-{node}").mkdir(exist_ok=True)
        (self.dir / "hosts").write_text("127.0.0.1 localhost\n" + "".join(
            f"{self.addr[n]} {self.ctl_name if n == 'ctl' else n}\n" for n in ("ctl", *NODES)))
        cpus = os.cpu_count() or 2
        mem = max(1024, localslurm._mem_mb() // 2)
        nodes = "".join(f"NodeName={n} NodeAddr={self.addr[n]} NodeHostname={n} CPUs={cpus} RealMemory={mem} "
                        f"State=UNKNOWN\n" for n in NODES)
        partition = "PartitionName=two Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO"
        self.conf.write_text(f"""\
ClusterName=radsimtwo
SlurmctldHost={self.ctl_name}({self.addr['ctl']})
SlurmctldPort={CTL_PORT}
SlurmdPort={SLURMD_PORT}
SlurmdSpoolDir={self.dir}/spool-%n
SlurmdPidFile={self.dir}/slurmd-%n.pid
SlurmdLogFile={self.dir}/log/slurmd-%n.log
TmpFS={self.dir}/nodetmp
SlurmdTimeout=10
MessageTimeout=5
KillWait=30
{localslurm.common_conf(self.dir)}{nodes}{partition}
""")

    def start_slurmd(self, node: str) -> None:
        """slurmd -N NODE inside the node: its network namespace, its hostname, its /etc/hosts and scratch."""
        script = (f"hostname {node} && mount --bind {self.dir}/hosts /etc/hosts && "
                  f"mount -t tmpfs -o size=256m tmpfs {self.dir}/nodetmp && exec /usr/sbin/slurmd -N {node}")
        proc = subprocess.run(["nsenter", f"--net=/run/netns/{self.ns(node)}", "unshare", "--uts", "--mount",
                               "--propagation", "private", "sh", "-c", script], env=self.env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"slurmd on {node} did not start: {proc.stderr}\n{self.log_tail()}")

    def start(self, timeout_s: float = 60) -> None:
        t0 = time.monotonic()
        try:
            cleanup_stale()
            localslurm.start_munge()
            self._network()
            self.write_conf()
            subprocess.run(["/usr/sbin/slurmctld", "-i"], env=self.env, check=True, capture_output=True)
            for node in NODES:
                self.start_slurmd(node)
            self.wait_idle(NODES, timeout_s)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.monotonic() - t0

    def node_states(self) -> dict[str, str]:
        p = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], env=self.env, capture_output=True, text=True)
        return dict(line.split() for line in p.stdout.splitlines() if line.strip())

    def wait_idle(self, nodes, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = self.node_states()
            if all(states.get(n, "").rstrip("*") in ("idle", "mixed", "allocated") for n in nodes):
                return
            time.sleep(0.3)
        raise RuntimeError(f"nodes {nodes} not up: {self.node_states()}\n{self.log_tail()}")

    def kill_node(self, node: str) -> None:
        """The node dies: its slurmd, its job steps and every process in it are killed at once (SIGKILL)."""
        _kill_in(self.ns(node))

    def restart_node(self, node: str) -> None:
        """Boot the node again (a fresh slurmd) and wait until Slurm has it back."""
        _kill_in(self.ns(node))
        pid = self.dir / f"slurmd-{node}.pid"
        pid.unlink(missing_ok=True)
        self.start_slurmd(node)
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], env=self.env,
                       capture_output=True)
        self.wait_idle([node])

    def processes(self) -> list[int]:
        """Live processes started by this cluster (their environment names its slurm.conf)."""
        mine = f"SLURM_CONF={self.conf}".encode()
        pids = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and mine in (proc / "environ").read_bytes().split(b"\0") and \
                        (proc / "stat").read_text().split(") ")[1][0] != "Z":
                    pids.append(int(proc.name))
            except OSError:
                pass
        return pids

    def log_tail(self, n: int = 20) -> str:
        out = []
        for p in sorted((self.dir / "log").glob("*.log")):
            out.append(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-n:]))
        return "\n".join(out)

    def stop(self) -> None:
        subprocess.run(["scontrol", "shutdown"], env=self.env, capture_output=True, timeout=30)
        try:                                  # still running after the shutdown request: kill it
            pid = int((self.dir / "slurmctld.pid").read_text())
            if Path(f"/proc/{pid}/comm").read_text().strip() == "slurmctld":
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        cleanup_stale()
