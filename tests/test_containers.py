"""The container recipes checked statically: hadolint on the Dockerfile, the Apptainer recipes parsed by spython
with the sections a user needs and no install steps of their own (they start from the Docker images), every
copied file present, every install through containers/install.sh from constraints.txt, shellcheck on every
script; and the images' self-test run on the host. The images themselves are built and run in
tests/test_container_images.py."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent
DEFS = sorted((ROOT / "containers").glob("*.def"))
SCRIPTS = sorted([*ROOT.glob("jobs/*.sh"), *ROOT.glob("scripts/*.sh"), *ROOT.glob("containers/*.sh"),
                  ROOT / ".ci" / "run"])


def tool(name):
    exe = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} not found: it is a test dependency (pip install -e '.[test]')")
    return exe


def sections(text: str) -> dict:
    """Apptainer recipe sections: {name: body}."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^%(\w+)\s*$", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif name:
            out[name].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def test_hadolint_passes_on_the_dockerfile():
    proc = subprocess.run([tool("hadolint"), "--failure-threshold", "error", "Dockerfile"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    strict = subprocess.run([tool("hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert strict.returncode == 0, "warnings beyond .hadolint.yaml's:\n" + strict.stdout


def test_dockerfile_builds_both_images_from_the_constraints():
    text = (ROOT / "Dockerfile").read_text()
    targets = re.findall(r"^FROM \S+ AS (\w+)", text, flags=re.M)
    assert {"radsim", "radtrain"} <= set(targets)
    for kind in ("radsim", "radtrain"):
        assert f"install.sh {kind} /src" in text
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"
    assert "constraints.txt" in text


@pytest.mark.parametrize("recipe", DEFS, ids=lambda p: p.name)
def test_apptainer_recipe_parses_and_starts_from_the_docker_image(recipe):
    from spython.main.parse.parsers import SingularityParser
    parsed = SingularityParser(str(recipe)).recipe
    stage = next(iter(parsed.values()))
    kind = recipe.stem
    version = __import__("radsim").__version__
    assert stage.fromHeader == f"{kind}:{version}"
    text = recipe.read_text()
    assert re.search(r"^Bootstrap: docker-daemon$", text, flags=re.M)
    assert re.search(rf"^FROM \S+ AS {kind}$", (ROOT / "Dockerfile").read_text(), flags=re.M)
    sec = sections(text)
    for name in ("help", "labels", "runscript", "test", "environment"):
        assert sec.get(name), f"{recipe.name}: empty or missing %{name}"
    # one recipe: everything installed comes from the Dockerfile, nothing from the .def
    assert not {"post", "files", "setup"} & set(sec), f"{recipe.name} installs on its own"
    labels = dict(line.split(None, 1) for line in sec["labels"].splitlines() if line.strip())
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.source"]
    assert f"selftest.sh {kind}" in sec["test"] and f"exec {kind}" in sec["runscript"]


def test_install_script_uses_the_constraints_file_for_every_pip_install():
    text = (ROOT / "containers" / "install.sh").read_text().replace("\\\n", " ")   # join continued lines
    installs = [line for line in text.splitlines() if re.search(r"(PIP\[@\]}\"|-m pip) install", line)]
    pinned = [line for line in installs if "--upgrade pip" not in line and "--no-deps" not in line]
    assert len(pinned) == 4                          # the dependencies, cmake, Horovod, uv (no Python in the base)
    for line in pinned:
        assert '-c "$SRC/constraints.txt"' in line, line
    assert "--no-binary mpi4py" in pinned[1]
    project = [line for line in installs if "--no-deps" in line]
    assert len(project) == 1 and '"$SRC"' in project[0]          # the project alone, its dependencies pinned above
    host = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'constraints.txt" -e "${ROOT}[test,cpu]"' in host      # the host installs from the same file
    assert re.search(r"^uv==", (ROOT / "constraints.txt").read_text(), flags=re.M)


def test_dockerfile_keeps_the_ca_bundle_out_of_the_layers():
    text = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"^RUN .*install\.sh.*$", text, flags=re.M)
    assert len(installs) == 4 and all("--mount=type=secret,id=cacert" in line for line in installs)
    assert "cacert" not in re.sub(r"--mount=type=secret,id=cacert", "", "\n".join(
        line for line in text.splitlines() if not line.startswith("#")))
    assert "/run/secrets/cacert" in (ROOT / "containers" / "install.sh").read_text()


def test_shellcheck_passes_on_every_script():
    proc = subprocess.run([tool("shellcheck"), *map(str, SCRIPTS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(SCRIPTS) >= 8


@pytest.mark.parametrize("kind", ["radsim", "radtrain"])
def test_self_test_of_the_images_runs_on_the_host(kind):
    proc = subprocess.run(["bash", str(ROOT / "containers" / "selftest.sh"), kind, str(BIN)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[selftest] passed" in proc.stdout and "radsim 0.1.0" in proc.stdout
    if kind == "radtrain":
        assert "tensorflow 2.15.1" in proc.stdout and "horovod 0.28.1" in proc.stdout
