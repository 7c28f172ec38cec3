"""The container recipes, checked statically (neither Docker's engine nor Apptainer runs here): hadolint on the
Dockerfile, the Apptainer recipes parsed by spython with the sections a user needs, every copied file present,
every image installed through containers/install.sh from constraints.txt, shellcheck on every script; and the
images' self-test run on the host."""
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
def test_apptainer_recipe_parses_and_has_what_users_need(recipe):
    from spython.main.parse.parsers import SingularityParser
    parsed = SingularityParser(str(recipe)).recipe
    stage = next(iter(parsed.values()))
    assert stage.fromHeader and stage.install and stage.files
    text = recipe.read_text()
    assert re.search(r"^Bootstrap: docker$", text, flags=re.M)
    sec = sections(text)
    for name in ("help", "labels", "runscript", "test", "post", "files", "environment"):
        assert sec.get(name), f"{recipe.name}: empty or missing %{name}"
    labels = dict(line.split(None, 1) for line in sec["labels"].splitlines() if line.strip())
    assert labels["org.opencontainers.image.version"] == __import__("radsim").__version__
    assert labels["org.opencontainers.image.source"]
    kind = recipe.stem
    assert f"install.sh {kind} /src" in sec["post"] and f"selftest.sh {kind}" in sec["test"]
    assert f"exec {kind}" in sec["runscript"]
    for line in sec["files"].splitlines():
        src = line.split()[0]
        assert (ROOT / src).exists(), f"{recipe.name} copies {src}, which does not exist"
    assert "/src/constraints.txt" in sec["files"]


def test_install_script_uses_the_constraints_file_for_every_pip_install():
    text = (ROOT / "containers" / "install.sh").read_text().replace("\\\n", " ")   # join continued lines
    installs = [line for line in text.splitlines()
                if re.search(r'PIP\[@\]}" install', line) and "--upgrade pip" not in line]
    assert len(installs) == 3                                   # the project, cmake, Horovod
    for line in installs:
        assert '-c "$SRC/constraints.txt"' in line, line
    assert "--no-binary mpi4py" in installs[0]
    host = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'constraints.txt" -e "${ROOT}[test,cpu]"' in host      # the host installs from the same file


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
