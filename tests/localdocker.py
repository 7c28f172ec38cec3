"""A Docker engine on this machine for the container tests, and the images they build: Debian's dockerd started
when it is not running (and stopped again by whoever started it), a Debian bookworm base made with mmdebstrap
and imported (no registry is reachable here), the Dockerfile's targets built on it with BuildKit and the host's
CA bundle as a build secret. Needs root and Debian's docker.io and mmdebstrap; `unavailable()` says why not."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

# Debian's own client: BuildKit works with it; a newer client first on PATH may refuse BuildKit without buildx
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")
BASE = "radsim-test/debian:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "starting dockerd and building images needs root"
    missing = [p for p in ("dockerd", "mmdebstrap") if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if missing or not Path(DOCKER).exists() and shutil.which(DOCKER) is None:
        return f"missing {', '.join(missing) or 'docker'} (apt-get install docker.io mmdebstrap; scripts/setup.sh does)"
    return None


def docker(*args: str, check: bool = True, timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n"
                           f"{proc.stderr[-4000:]}")
    return proc


def engine_running() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


class Engine:
    """The engine: already running, or started here (``started``) with its log in ``log``."""

    def __init__(self, workdir: Path):
        self.log = Path(workdir) / "dockerd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def started(self) -> bool:
        return self.proc is not None

    def start(self, timeout_s: float = 60) -> None:
        if engine_running():
            return
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not engine_running():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text()[-3000:]
                self.stop()
                raise RuntimeError(f"dockerd did not start:\n{tail}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def ensure_base(tag: str = BASE) -> None:
    """A minimal Debian bookworm made with mmdebstrap (about 15 s), imported once and kept by the engine."""
    if image_exists(tag):
        return
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "base.tar"
        proc = subprocess.run(["mmdebstrap", "--variant=minbase", "bookworm", str(tar)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed:\n{proc.stderr[-3000:]}")
        docker("import", str(tar), tag)


def build(root: Path, target: str, tag: str, build_args: dict[str, str], log: Path, *flags: str) -> float:
    """``docker build --target TARGET`` of the repository's Dockerfile with BuildKit, the layers cached by the
    engine between runs (unless ``flags`` holds --no-cache). Returns the wall time (s); the build's output
    goes to ``log``."""
    cmd = [DOCKER, "build", "--progress=plain", *flags, "--target", target, "-t", tag]
    for key, value in build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    if CA_BUNDLE.exists():
        cmd += ["--secret", f"id=cacert,src={CA_BUNDLE}"]
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run([*cmd, str(root)], stdout=out, stderr=subprocess.STDOUT, cwd=root,
                              env={**os.environ, "DOCKER_BUILDKIT": "1"})
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"docker build --target {target} failed ({log}):\n{log.read_text()[-5000:]}")
    return seconds


def image_size(tag: str) -> int:
    """The image's size in bytes, as `docker images` reports it."""
    return int(json.loads(docker("image", "inspect", tag).stdout)[0]["Size"])


def leftover_containers(prefix: str) -> list[str]:
    """Names of containers (running or stopped) whose name starts with ``prefix``."""
    out = docker("ps", "-a", "--filter", f"name={prefix}", "--format", "{{.Names}}").stdout
    return [n for n in out.split() if n.startswith(prefix)]
