"""The user's documentation stays true to the code: the configuration reference is generated from the schemas,
and the pages and pictures the README points to exist."""
import re
import subprocess
import sys

from conftest import ROOT


def test_configuration_reference_matches_the_schemas():
    proc = subprocess.run([sys.executable, "scripts/config_reference.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    text = (ROOT / "docs" / "configuration.md").read_text()
    from radsim.config import RadsimConfig
    from radtrain.config import RadtrainConfig
    for model, prefix in ((RadsimConfig, ""), (RadtrainConfig, "")):
        for section, field in model.model_fields.items():
            for key in getattr(field.annotation, "model_fields", {}):
                assert f"`{prefix}{section}.{key}`" in text, f"{section}.{key} missing from docs/configuration.md"


def test_reference_check_fails_when_the_page_is_stale(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUT = tmp_path / "configuration.md"
    module.OUT.write_text("stale\n")
    sys_argv = sys.argv
    try:
        sys.argv = ["config_reference.py", "--check"]
        assert module.main() == 1
        sys.argv = ["config_reference.py"]
        assert module.main() == 0
        sys.argv = ["config_reference.py", "--check"]
        assert module.main() == 0
    finally:
        sys.argv = sys_argv


def test_every_local_link_in_the_manual_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "containers" / "README.md",
             ROOT / "jobs" / "README.md", ROOT / "benchmarks" / "README.md"]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing
