"""The house rules, checked on the code itself: who may import whom, one error base per program whose errors the
command lines print as one line (and nothing else), one imager interface with a registry."""
import ast
import importlib
import importlib.util
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import radsim
import radtrain
from radsim import cli as radsim_cli
from radsim.errors import RadsimError
from radsim.instrument import imaging
from radtrain import cli as radtrain_cli
from radtrain.errors import RadtrainError

ROOT = Path(__file__).resolve().parents[1]
RADTRAIN_MAY_IMPORT = {"radsim.dataset.reader", "radsim.dataset.metrics", "radsim.dataset.atomic"}


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (``from a import b`` gives a.b when b is a module, else a)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                name = f"{node.module}.{a.name}"
                try:
                    is_module = importlib.util.find_spec(name) is not None
                except ModuleNotFoundError:
                    is_module = False
                out.add(name if is_module else node.module)
    return out


def package_files(name: str) -> list[Path]:
    return sorted((ROOT / name).rglob("*.py"))


def test_radtrain_reads_datasets_only_through_the_reader():
    """radtrain imports from radsim the dataset reader, the shared residual metrics and the atomic-write helper
    (all three in radsim.dataset.layout), nothing else."""
    seen = {}
    for path in package_files("radtrain"):
        for name in imports_of(path):
            if name == "radsim" or name.startswith("radsim."):
                seen.setdefault(name, []).append(path.name)
    wrong = {n: files for n, files in seen.items() if n not in RADTRAIN_MAY_IMPORT}
    assert not wrong, f"radtrain imports more of radsim than the reader: {wrong}"
    assert {"radsim.dataset.reader", "radsim.dataset.metrics"} <= set(seen)


# what each part of radsim may import besides the shared modules (the package version, errors, the config, the
# realisation plan of a config and the atomic-write helper): the data flow, one direction
SHARED = {"radsim", "radsim.errors", "radsim.config", "radsim.run.realisations", "radsim.dataset",
          "radsim.dataset.atomic"}
MAY_IMPORT = {
    "sky": set(), "instrument": {"sky"}, "tiles": {"sky"}, "dataset": {"sky", "tiles"},
    "run": {"sky", "instrument", "tiles", "dataset"}, "baseline": {"sky", "instrument", "dataset"},
    "studies": {"sky", "run", "dataset", "figures"}, "figures": {"sky", "dataset"}, "config": {"sky", "instrument"},
    "errors": set(),
}


def test_imports_follow_the_data_flow():
    """sky -> instrument -> tiles -> dataset -> run (and baseline, studies): no part imports one downstream."""
    wrong = []
    for path in package_files("radsim"):
        part = path.relative_to(ROOT / "radsim").parts[0].removesuffix(".py")
        if part in ("cli", "__init__"):
            continue
        for name in imports_of(path):
            if not name.startswith("radsim.") or name in SHARED:
                continue
            target = name.split(".")[1]
            if target != part and target not in MAY_IMPORT[part]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, wrong


def test_stages_know_neither_mpi_nor_the_command_line():
    """Only the driver knows MPI, only radtrain.distributed knows Horovod, no stage imports a command line."""
    for path in package_files("radsim") + package_files("radtrain"):
        names = imports_of(path)
        rel = path.relative_to(ROOT).as_posix()
        if rel != "radsim/run/driver.py":
            assert not any(n.startswith("mpi4py") for n in names), f"{rel} imports MPI"
        if rel != "radtrain/distributed.py":
            assert not any(n.startswith("horovod") for n in names), f"{rel} imports Horovod"
        if not rel.endswith("cli.py"):
            assert not any(n.endswith(".cli") for n in names), f"{rel} imports a command line"
        if rel.startswith("radsim/"):
            assert not any(n.startswith("radtrain") for n in names), f"{rel} imports radtrain"


def error_classes(package) -> list[type]:
    found = {}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith((".cli", ".callbacks", ".__main__")) or info.name == "radsim.run.driver":
            module = importlib.import_module(info.name) if not info.name.endswith(".callbacks") else None
        else:
            module = importlib.import_module(info.name)
        if module is None:
            continue
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__.startswith(package.__name__):
                found[f"{obj.__module__}.{name}"] = obj
    return list(found.values())


def test_every_error_of_each_program_derives_from_its_base():
    radsim_errors = error_classes(radsim)
    radtrain_errors = error_classes(radtrain)
    assert len(radsim_errors) >= 10 and len(radtrain_errors) >= 4
    assert all(issubclass(e, RadsimError) for e in radsim_errors), [e for e in radsim_errors
                                                                   if not issubclass(e, RadsimError)]
    assert all(issubclass(e, RadtrainError) for e in radtrain_errors), [e for e in radtrain_errors
                                                                       if not issubclass(e, RadtrainError)]


@pytest.mark.parametrize("error", error_classes(radsim), ids=lambda e: e.__name__)
def test_radsim_cli_prints_each_error_class_as_one_line(error, monkeypatch, capsys):
    def fail(args):
        raise error("the cause, named")
    monkeypatch.setattr(radsim_cli, "cmd_config", fail)
    status = radsim_cli.main(["config", "configs/quickstart.toml"])
    err = capsys.readouterr().err
    assert status == error.exit_status and status in (1, 2)
    assert err == "radsim: error: the cause, named\n"


@pytest.mark.parametrize("error", error_classes(radtrain), ids=lambda e: e.__name__)
def test_radtrain_cli_prints_each_error_class_as_one_line(error, monkeypatch, capsys):
    def fail(args):
        raise error("the cause, named")
    monkeypatch.setattr(radtrain_cli, "cmd_config", fail)
    status = radtrain_cli.main(["config"])
    assert status == error.exit_status
    assert capsys.readouterr().err == "radtrain: error: the cause, named\n"


@pytest.mark.parametrize("program", ["radsim", "radtrain"])
def test_a_bug_keeps_its_traceback(program, tmp_path):
    """A ValueError, KeyError or OSError that no stage turned into a user error is a bug: the command line lets
    it through with its traceback (it used to print every ValueError as bad input)."""
    for exc in ("ValueError('a bug')", "KeyError('a bug')", "OSError('a bug')"):
        code = (f"import sys; from {program} import cli\n"
                f"def bug(args): raise {exc}\n"
                f"cli.cmd_config = bug\n"
                f"sys.exit(cli.main({['config', 'configs/quickstart.toml'] if program == 'radsim' else ['config']!r}))")
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "Traceback (most recent call last)" in proc.stderr
        assert f"{program}: error:" not in proc.stderr


def test_real_bad_inputs_reach_the_user_as_error_lines(tmp_path):
    """Real errors from real stages, through the installed command: a bad config value (ConfigError), a
    directory that is no dataset (ShardError), a realisation the config does not plan (PlanError)."""
    cases = [
        (["radsim", "config", "configs/quickstart.toml", "--set", "field.npix=-4"], "field.npix"),
        (["radsim", "pofd", str(tmp_path), "--out", str(tmp_path / "p")], "cannot open the dataset"),
        (["radsim", "realise", "configs/quickstart.toml", "--index", "99999", "--out", str(tmp_path / "r")],
         "out of range"),
        (["radtrain", "evaluate", str(tmp_path / "nowhere")], "not a radtrain run directory"),
    ]
    for argv, words in cases:
        exe = Path(sys.executable).with_name(argv[0])
        proc = subprocess.run([str(exe), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, (argv, proc.stderr)
        # the error (a config error lists its keys on the lines below) and nothing else
        assert proc.stderr.startswith(f"{argv[0]}: error:") and words in proc.stderr, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr


class ToyImager:
    """A backend as a new module would write it: the whole interface, nothing more."""
    name = "toy"
    beam = None
    noise_rms_jy = 0.0

    def image(self, sky, rng):
        return imaging.ImagedSky(np.asarray(sky, np.float32), None, backend="toy")

    def close(self):
        pass


def test_one_imager_interface_and_a_registry_of_backends(tiny_cfg, monkeypatch):
    from radsim import config
    """Every registered backend builds from a config through one function and satisfies the Imager protocol;
    a new backend is one module with from_config plus one registry line."""
    for name, module in imaging.BACKENDS.items():
        assert callable(importlib.import_module(module).from_config), name
    for name in ("none", "fast"):
        cfg = config.load(ROOT / "configs" / "quickstart.toml", [f"imaging.backend={name!r}"])
        imager = imaging.build_imager(cfg)
        assert isinstance(imager, imaging.Imager) and imager.name == name
        out = imager.image(np.zeros((cfg.field.npix,) * 2, np.float32), np.random.default_rng(0))
        assert isinstance(out, imaging.ImagedSky) and out.restored.shape == (cfg.field.npix,) * 2
        imager.close()
    toy = type(sys)("toy_backend")
    toy.from_config = lambda cfg, workdir=None: ToyImager()
    monkeypatch.setitem(sys.modules, "toy_backend", toy)
    monkeypatch.setitem(imaging.BACKENDS, "toy", "toy_backend")
    cfg = tiny_cfg.model_copy(update={"imaging": tiny_cfg.imaging.model_copy(update={"backend": "toy"})})
    assert isinstance(imaging.build_imager(cfg), imaging.Imager)
