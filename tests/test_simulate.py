"""`radsim simulate` and `radsim inspect` for real: one process and real MPI ranks (mpirun -n 2), the dataset
read back through radsim.dataset.reader, bit-identical tiles on 1 and 2 ranks, resume after kill -9 of one rank and of
the whole job, failures reported, bad input refused without touching completed work."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import MPI_ENV, TINY, mpirun, radsim_exe, signal_job, toml_dumps, wait_until_gone
from radsim import config
from radsim.run import pipeline
from radsim.dataset import reader

SIM = {**TINY,
       "field": {**TINY["field"], "size_deg": 0.25},     # 7 arcsec pixels: the fast imager's beam is sampled
       "imaging": {"backend": "fast", "taper_arcsec": 12.0, "noise_rms_jy": 25e-6},
       "realisations": {"mode": "list", "repeats": 2,
                        "sets": [{"s0_jy": 5e-5, "alpha": a} for a in (0.0, 0.25, -0.25)]},
       "dataset": {"shard_max_mb": 0.05}}                 # 64 kB of tiles per realisation: a shard each


def sim_config(tmp_path, name="sim.toml", **changes):
    """SIM with changes given as section__key=value."""
    data = json.loads(json.dumps(SIM))
    for key, value in changes.items():
        section, k = key.split("__")
        data[section][k] = value
    path = tmp_path / name
    path.write_text(toml_dumps(data))
    return path


def run(cmd, check=None, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env={**os.environ, **MPI_ENV}, **kw)
    if check is not None and proc.returncode != check:
        raise AssertionError(f"{cmd} exited {proc.returncode}, expected {check}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def simulate(cfg_path, out, ranks=1, check=0, *extra):
    pre = mpirun(ranks) if ranks > 1 else []
    return run(pre + radsim_exe() + ["simulate", cfg_path, "--out", out, *extra], check=check)


def all_tiles(out):
    """Every tile of a dataset in (realisation, tile origin) order, via the documented reader."""
    ds = reader.Dataset(out)
    parts = [ds.load(s) for s in reader.SPLITS]
    d = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((d["tile_origin"][:, 1], d["tile_origin"][:, 0], d["realisation"]))
    return {k: v[order] for k, v in d.items()}


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one")
    cfg_path = sim_config(tmp)
    proc = simulate(cfg_path, tmp / "ds")
    return cfg_path, tmp / "ds", proc


def test_single_process_dataset_is_complete_and_right(one_rank):
    cfg_path, out, proc = one_rank
    m = json.loads((out / "manifest.json").read_text())
    cfg = config.load(cfg_path)
    assert m["status"] == "complete" and m["planned"] == m["done"] == 6 and m["missing"] == []
    assert m["config_hash"] == cfg.hash() and m["tiles_hash"] == cfg.tiles_hash()
    assert np.allclose(m["bin_edges_jy"], cfg.labels.edges_jy) and m["tile_size"] == 32
    assert m["pixel_deg"] == pytest.approx(0.25 / 128) and m["frequency_hz"] == 943.5e6
    assert m["imaging_backend"] == "fast" and m["image_units"] == "JY/BEAM"
    assert {"radsim", "numpy", "h5py", "hdf5", "mpi4py", "mpi"} <= set(m["versions"])
    assert len(m["shards"]) == 6                            # rolled over after every realisation
    assert sorted(r for s in m["shards"] for r in s["realisations"]) == list(range(6))
    for r in m["realisations"]:
        assert set(r["timings_s"]) == set(reader.STAGES) and r["timings_s"]["image"] > 0 and r["rank"] == 0
    # split per realisation, 72/18/10 of 6 skies: 1 test, 1 validation, 4 train, disjoint and complete
    split = m["split"]
    assert split["by"] == "realisation" and [len(split[s]) for s in ("train", "validation", "test")] == [4, 1, 1]
    assert sorted(split["train"] + split["validation"] + split["test"]) == list(range(6))
    assert m["runs"][-1]["ranks"] == 1 and m["runs"][-1]["made"] == 6
    assert "radsim[rank 0/1]" in proc.stderr and "6 realisations made" in proc.stderr
    assert "progress: 6/6 realisations done (100%), 0 failed" in proc.stderr and "ETA" in proc.stderr
    # the tiles in the dataset are the realisations' restored tiles and labels, as made by the pipeline
    d = all_tiles(out)
    assert d["images"].shape == (6 * 16, 32, 32)
    r3 = pipeline.make_realisation(cfg, 3)
    mine = d["realisation"] == 3
    assert np.array_equal(d["images"][mine], r3.tiles) and np.array_equal(d["labels"][mine], r3.labels)


def test_inspect_summary_and_integrity(one_rank):
    _, out, _ = one_rank
    proc = run(radsim_exe() + ["inspect", out], check=0)
    for text in ("complete, 6 of 6 realisations (3 parameter sets)", "96 tiles in 6 shards", "split by realisation",
                 "train 4 realisations, 64 tiles", "parameter alpha: -0.25 .. 0.25 (3 distinct values)",
                 "every checksum verifies"):
        assert text in proc.stdout, proc.stdout


def test_two_ranks_give_bit_identical_tiles(one_rank, tmp_path):
    cfg_path, out1, _ = one_rank
    proc = simulate(cfg_path, tmp_path / "ds2", 2)
    m = json.loads((tmp_path / "ds2" / "manifest.json").read_text())
    assert m["runs"][-1]["ranks"] == 2 and {r["rank"] for r in m["runs"][-1]["rank_info"]} == {0, 1}
    a, b = all_tiles(out1), all_tiles(tmp_path / "ds2")
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert "radsim[rank 0/2]" in proc.stderr


def test_per_tile_split_warns_and_reader_splits_tiles(tmp_path):
    cfg_path = sim_config(tmp_path, dataset__split_by="tile", realisations__repeats=1)
    proc = simulate(cfg_path, tmp_path / "ds")
    assert "leak" in proc.stderr
    ds = reader.Dataset(tmp_path / "ds")
    sizes = {s: len(ds.load(s, datasets=("labels",))["labels"]) for s in reader.SPLITS}
    assert sum(sizes.values()) == 48 and all(sizes.values())
    train, test = (set(ds.load(s, datasets=("realisation",))["realisation"]) for s in ("train", "test"))
    assert train & test, "per-tile split: tiles of one sky should be in several splits"
    again = reader.Dataset(tmp_path / "ds").load("test", datasets=("tile_origin",))["tile_origin"]
    assert np.array_equal(again, ds.load("test", datasets=("tile_origin",))["tile_origin"])


# --------------------------------------------------------------------------------------------------------------
# resume

def _children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


def _rank_pid(mpirun_pid, rank):
    for pid in _children(mpirun_pid):
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            return pid
    return None


def _start_and_kill(cfg_path, out, kill):
    proc = subprocess.Popen([str(c) for c in mpirun(2) + radsim_exe() + ["simulate", cfg_path, "--out", out]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **MPI_ENV},
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while len(list((out / "shards").glob("rank*.h5"))) < 2:
        assert proc.poll() is None, f"the job ended before it could be killed:\n{proc.communicate()[1].decode()}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    kill(proc)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    wait_until_gone(proc)        # the rank mpirun stopped may outlive it, holding the lock the resumed run needs
    return proc


LONG = {"realisations__repeats": 12, "field__size_deg": 0.5, "field__npix": 256}   # 36 skies of ~0.1 s


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory):
    """A longer run (to be killed in its middle), made once without interruption."""
    tmp = tmp_path_factory.mktemp("long")
    cfg_path = sim_config(tmp, **LONG)
    simulate(cfg_path, tmp / "ds")
    return cfg_path, tmp / "ds"


@pytest.mark.parametrize("what", ["one rank", "whole job"])
def test_resume_after_kill_9(long_reference, tmp_path, what):
    cfg_path, ref_out = long_reference
    out = tmp_path / "ds"

    def kill(proc):
        if what == "one rank":
            pid = _rank_pid(proc.pid, 1)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        else:   # mpirun and every rank at once, as a node failure or `scancel -s KILL` would
            signal_job(proc, signal.SIGKILL)

    _start_and_kill(cfg_path, out, kill)
    done_before = {r for p in (out / "shards").glob("rank*.h5") for r in reader.read_shard(p)["realisations"]["id"]}
    assert 0 < len(done_before) < 36
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("rank*.h5")}
    proc = simulate(cfg_path, out, 2)
    assert f"{len(done_before)} already done, {36 - len(done_before)} to make" in proc.stderr
    # completed shards were kept untouched, and the dataset now holds every realisation exactly once
    assert all((out / "shards" / n).stat().st_mtime_ns == t for n, t in kept.items())
    assert not list((out / "shards").glob(".*.tmp"))
    assert run(radsim_exe() + ["inspect", out], check=0)
    m = json.loads((out / "manifest.json").read_text())
    ids = sorted(r for s in m["shards"] for r in s["realisations"])
    assert ids == list(range(36)) and m["status"] == "complete" and len(m["runs"]) == 1
    assert all(r["realisations"] > 0 for r in m["runs"][0]["rank_info"]), "dynamic dispatch left a rank idle"
    # and its tiles are those of an uninterrupted run
    a, b = all_tiles(ref_out), all_tiles(out)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_rerun_of_a_complete_dataset_does_nothing(one_rank, tmp_path):
    cfg_path, out, _ = one_rank
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    proc = simulate(cfg_path, out)
    assert "6 already done, 0 to make" in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()} == before


# --------------------------------------------------------------------------------------------------------------
# failures and bad input

def test_failing_realisation_is_reported_and_the_job_goes_on(tmp_path):
    # set 1's counts are so steep that its skies would exceed sources.max_sources: they fail, the rest is made
    cfg_path = sim_config(tmp_path, sources__max_sources=200_000,
                          realisations__sets=[{"s0_jy": 5e-5, "alpha": 0.0}, {"s0_jy": 5e-5, "alpha": 1.5}])
    proc = simulate(cfg_path, tmp_path / "ds", 2, 1)
    assert "2 realisation(s) failed" in proc.stderr
    for i in (2, 3):
        assert f"realisation {i} (set 1, seed {{'s0_jy': 5e-05, 'alpha': 1.5}}) on rank" in proc.stderr
    assert "more than sources.max_sources" in proc.stderr
    m = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert m["status"] == "incomplete" and m["missing"] == [2, 3] and sorted(f["index"] for f in m["failed"]) == [2, 3]
    ins = run(radsim_exe() + ["inspect", tmp_path / "ds"], check=1)
    assert "2 of 4 planned realisations are not in the dataset (2, 3)" in ins.stderr
    with pytest.raises(reader.ShardError, match="has not finished"):
        reader.Dataset(tmp_path / "ds")
    assert len(reader.Dataset(tmp_path / "ds", allow_incomplete=True).load("train")["images"]) > 0


def test_changed_config_is_refused_unless_force_new(one_rank, tmp_path):
    cfg_path, out, _ = one_rank
    import shutil
    shutil.copytree(out, tmp_path / "ds")
    other = sim_config(tmp_path, "other.toml", run__seed=8)
    proc = simulate(other, tmp_path / "ds", 1, 2)
    assert "another configuration" in proc.stderr and "run.seed" in proc.stderr and "--force-new" in proc.stderr

    def shard_names(d):
        return sorted(p.name for p in (d / "shards").iterdir())
    assert shard_names(tmp_path / "ds") == shard_names(out)
    # the dataset section (shard size, compression, split) may change: the tiles are the same
    simulate(sim_config(tmp_path, "bigger.toml", dataset__shard_max_mb=64.0), tmp_path / "ds")
    simulate(other, tmp_path / "ds", 1, 0, "--force-new")
    moved = list(tmp_path.glob("ds/superseded-*"))
    assert len(moved) == 1 and len(list((moved[0] / "shards").glob("*.h5"))) == 6
    assert json.loads((tmp_path / "ds" / "manifest.json").read_text())["config"]["run"]["seed"] == 8


def test_corrupt_shard_is_named_and_kept(one_rank, tmp_path):
    cfg_path, out, _ = one_rank
    import shutil
    shutil.copytree(out, tmp_path / "ds")
    victim = sorted((tmp_path / "ds" / "shards").glob("*.h5"))[2]
    import h5py
    with h5py.File(victim) as f:
        where = f["images"].id.get_chunk_info(5).byte_offset
    with open(victim, "r+b") as fh:      # flip bytes in the stored data of tile 5
        fh.seek(where + 100)
        fh.write(b"\xff" * 16)
    ins = run(radsim_exe() + ["inspect", tmp_path / "ds"], check=1)
    assert str(victim) in ins.stderr and "checksum" in ins.stderr
    size = victim.stat().st_size // 3
    with open(victim, "r+b") as fh:      # and truncated
        fh.truncate(size)
    ins = run(radsim_exe() + ["inspect", tmp_path / "ds"], check=1)
    assert str(victim) in ins.stderr
    proc = simulate(cfg_path, tmp_path / "ds", 1, 2)
    assert str(victim) in proc.stderr and "move this shard out" in proc.stderr
    assert victim.exists() and victim.stat().st_size == size


def test_bad_output_and_missing_config(one_rank, tmp_path):
    cfg_path, _, _ = one_rank
    (tmp_path / "file").write_text("x")
    proc = simulate(cfg_path, tmp_path / "file" / "ds", 1, 2)
    assert "cannot write to the output directory" in proc.stderr and str(tmp_path / "file" / "ds") in proc.stderr
    ins = run(radsim_exe() + ["inspect", tmp_path], check=1)
    assert f"{tmp_path / 'manifest.json'}: missing" in ins.stderr
    proc = simulate(tmp_path / "nope.toml", tmp_path / "ds", 2, 2)
    assert proc.stderr.count("config file not found") == 1 and "nope.toml" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs (a disk that fills up) needs root")
def test_full_disk_keeps_completed_shards(one_rank, tmp_path):
    cfg_path, _, _ = one_rank
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        proc = simulate(cfg_path, mnt / "ds", 1, 1)
        assert "No space left on device" in proc.stderr and str(mnt / "ds") in proc.stderr
        assert "Traceback" not in proc.stderr
        done = sorted(mnt.glob("ds/shards/rank*.h5"))
        assert done and not list(mnt.glob("ds/shards/.*.tmp"))
        for p in done:
            assert reader.verify_shard(p) == []
    finally:
        subprocess.run(["umount", str(mnt)])
