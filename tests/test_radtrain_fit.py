"""radtrain fit / evaluate / predict for real: one process, real Horovod ranks (horovodrun -np 2 --gloo), a
killed run resumed from its checkpoint, evaluation metrics recomputed independently, prediction on a FITS image
made by radsim, and bad input refused without overwriting anything."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, horovodrun, radsim_exe, radtrain_exe, train_config
from radtrain import cli
from radtrain.train import read_history, read_run
from test_simulate import sim_config

HVD_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def fit(cfg, dataset, out, *extra):
    return cli.main(["fit", str(cfg), "--dataset", str(dataset), "--out", str(out), *map(str, extra)])


def run_cli(cmd, check=None, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=HVD_ENV, **kw)
    if check is not None and proc.returncode != check:
        raise AssertionError(f"{cmd} exited {proc.returncode}, expected {check}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def gaussian_run(train_dataset, tmp_path_factory):
    """A trained run (gaussian head, asinh images, one auxiliary input), trained in this process."""
    tmp = tmp_path_factory.mktemp("gauss")
    cfg = train_config(tmp, model__head="gaussian", data__aux_inputs=["rms"])
    assert fit(cfg, train_dataset, tmp / "run") == 0
    return cfg, tmp / "run"


def test_single_process_run_is_complete_and_reproducible(gaussian_run, train_dataset, capsys):
    cfg, run_dir = gaussian_run
    run = read_run(run_dir)
    manifest = json.loads((train_dataset / "manifest.json").read_text())
    assert run["status"] == "complete" and run["epochs_done"] == 2 and run["stopped"] == "2 epochs"
    assert run["dataset"]["tiles_hash"] == manifest["tiles_hash"]
    assert run["dataset"]["bin_edges_jy"] == manifest["bin_edges_jy"]
    assert run["runs"][-1]["ranks"] == 1 and run["runs"][-1]["steps_per_epoch"] == 96 // 8
    assert {"tensorflow", "radtrain", "numpy"} <= set(run["versions"])
    hist = read_history(run_dir)
    assert [h["epoch"] for h in hist] == [1, 2] and all(len(h["weights_digests"]) == 1 for h in hist)
    assert all(h["tiles_per_s"] > 0 and h["step_s"] > 0 for h in hist)
    assert (run_dir / "best.weights.h5").is_file() and (run_dir / "checkpoints" / "ckpt-2.index").is_file()
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    from radtrain.config import load
    assert load(run_dir / "config.toml").hash() == run["config_hash"]
    capsys.readouterr()
    # running the same command again does nothing and changes nothing
    before = (run_dir / "history.csv").read_text()
    assert fit(cfg, train_dataset, run_dir) == 0
    assert "training already complete (2 epochs" in capsys.readouterr().out
    assert (run_dir / "history.csv").read_text() == before


def test_a_run_directory_is_never_clobbered_without_overwrite(gaussian_run, train_dataset, tmp_path, capsys):
    cfg, run_dir = gaussian_run
    before = (run_dir / "run.json").read_text()
    assert fit(cfg, train_dataset, run_dir, "--set", "train.seed=4") == 2
    err = capsys.readouterr().err
    assert "another config (train.seed)" in err and "--overwrite" in err
    assert (run_dir / "run.json").read_text() == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    assert fit(cfg, train_dataset, other) == 2
    assert "is not empty and holds no radtrain run" in capsys.readouterr().err
    assert (other / "mine.txt").read_text() == "keep me"
    assert fit(cfg, train_dataset, other, "--overwrite", "--set", "train.epochs=1") == 0
    assert not (other / "mine.txt").exists() and read_run(other)["epochs_done"] == 1


@pytest.fixture(scope="module")
def horovod_run(train_dataset, tmp_path_factory):
    """A run trained by two ranks started with horovodrun --gloo: (config, run directory, its output)."""
    tmp = tmp_path_factory.mktemp("hvd")
    cfg = train_config(tmp, train__warmup_epochs=2)
    proc = run_cli(horovodrun(2) + radtrain_exe() + ["fit", cfg, "--dataset", train_dataset, "--out", tmp / "run"],
                   check=0, timeout=300)
    return cfg, tmp / "run", proc


def test_two_horovod_ranks_hold_identical_weights_after_every_epoch(horovod_run):
    _, run_dir, proc = horovod_run
    tmp_path = run_dir.parent
    assert "radtrain[rank 0/2]" in proc.stdout and "(horovod gloo, cpu), global batch 16" in proc.stdout
    run = read_run(tmp_path / "run")
    assert run["runs"][-1]["controller"] == "gloo" and run["runs"][-1]["hosts"] == [socket.gethostname()]
    assert run["runs"][-1]["ranks"] == 2 and run["runs"][-1]["learning_rate"] == pytest.approx(2e-3)
    # 6 train shards of 16 tiles: 48 tiles per rank, 6 steps of 8
    assert run["runs"][-1]["steps_per_epoch"] == 6
    hist = read_history(tmp_path / "run")
    assert [h["epoch"] for h in hist] == [1, 2]
    for h in hist:
        assert len(h["weights_digests"]) == 2 and h["weights_digests"][0] == h["weights_digests"][1]
        assert h["weights_agree"]
    assert hist[0]["weights_digests"] != hist[1]["weights_digests"]          # the weights did change
    # warm-up over 2 epochs from 1e-3 (one rank's rate) to 2e-3 (scaled by 2 ranks): halfway after epoch 1
    assert 1.2e-3 < hist[0]["learning_rate"] < 1.8e-3 and hist[1]["learning_rate"] == pytest.approx(2e-3)


def test_mpirun_gives_the_same_weights_as_horovodrun(horovod_run, train_dataset, tmp_path):
    from conftest import MPI_ENV, mpirun
    cfg, run_dir, _ = horovod_run
    proc = subprocess.run([str(c) for c in mpirun(2) + radtrain_exe() + ["fit", cfg, "--dataset", train_dataset,
                                                                         "--out", tmp_path / "run"]],
                          capture_output=True, text=True, env={**HVD_ENV, **MPI_ENV}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(horovod mpi, cpu)" in proc.stdout
    # Horovod's MPI controller (mpirun) and Gloo controller (horovodrun) train the same weights, bit for bit
    assert [h["weights_digests"] for h in read_history(tmp_path / "run")] == [
        h["weights_digests"] for h in read_history(run_dir)]


def test_profiling_that_reads_ahead_leaves_the_training_order_alone(train_dataset, tmp_path, monkeypatch):
    """tf.data shares a dataset's reshuffle seeds among all its iterators: had the profiler's iterator and training's
    read one pipeline, how far the profiler's prefetch ran (a race) would decide the order training sees, and two
    runs of one config (mpirun against horovodrun) would part from the first epoch now and then."""
    from radtrain import train
    cfg = train_config(tmp_path, train__epochs=1)
    assert fit(cfg, train_dataset, tmp_path / "plain") == 0
    profile = train.profile

    def reading_ahead(engine, batches, model, steps, repeats=10):
        it = iter(batches)
        for _ in range(3 * steps + 1):          # past three passes over the tiles, as a prefetch running ahead may
            next(it)
        return profile(engine, batches, model, steps, repeats)

    monkeypatch.setattr(train, "profile", reading_ahead)
    assert fit(cfg, train_dataset, tmp_path / "ahead") == 0
    assert [h["weights_digests"] for h in read_history(tmp_path / "ahead")] == [
        h["weights_digests"] for h in read_history(tmp_path / "plain")]


@pytest.fixture(scope="module")
def train_skies_imaged_again(train_dataset, tmp_path_factory):
    """The training dataset's 9 skies imaged again, as by another imager: its config and seed, the fast imager with
    Briggs robust 1 instead of 0 (a broader beam and lower noise; the skies, their split and true counts the same)."""
    tmp = tmp_path_factory.mktemp("train-again")
    proc = subprocess.run(radsim_exe() + ["simulate", str(train_dataset.parent / "sim.toml"), "--set",
                                          "imaging.robust=1.0", "--out", str(tmp / "ds")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "ds"


def test_fit_mixes_in_the_training_skies_imaged_by_another_imager(train_dataset, train_skies_imaged_again,
                                                                  other_datasets, tmp_path, capsys):
    again = train_skies_imaged_again
    cfg = train_config(tmp_path, train__warmup_epochs=0)
    # two Horovod ranks read disjoint parts of both datasets: 96 + 96 training tiles, 96 per rank, 12 steps of 8
    proc = run_cli(horovodrun(2) + radtrain_exe() + ["fit", cfg, "--dataset", train_dataset, "--mix", again,
                                                     "--out", tmp_path / "run"], check=0, timeout=300)
    assert "96 training tiles (48 from 3 shards of the main dataset" in proc.stdout
    assert "split otherwise" not in proc.stdout + proc.stderr       # the same config and seed: the same split
    run = read_run(tmp_path / "run")
    manifest = json.loads((again / "manifest.json").read_text())
    assert run["status"] == "complete" and run["runs"][-1]["steps_per_epoch"] == 12
    assert [m["tiles_hash"] for m in run["mixed"]] == [manifest["tiles_hash"]]
    assert run["mixed"][0]["split"]["n_tiles"]["train"] == 96 and run["dataset"]["split"]["n_tiles"]["train"] == 96
    hist = read_history(tmp_path / "run")
    assert [h["epoch"] for h in hist] == [1, 2] and all(h["weights_agree"] for h in hist)
    # the mixed-in skies are training skies: calibrating on their train split is refused like the main dataset's
    capsys.readouterr()
    assert cli.main(["calibrate", str(tmp_path / "run"), "--dataset", str(again), "--split", "train"]) == 2
    assert "holds skies" in capsys.readouterr().err and not (tmp_path / "run" / "calibration.json").exists()
    # the same run without the mixed-in dataset, or with another, is another run
    before = (tmp_path / "run" / "run.json").read_text()
    assert fit(cfg, train_dataset, tmp_path / "run") == 2
    assert "another --mix datasets (trained with" in capsys.readouterr().err
    assert (tmp_path / "run" / "run.json").read_text() == before
    # refused before anything is written: another binning, the main dataset itself, a dataset given twice
    for mix, says in ((other_datasets["bins"], "another bin edges"), (train_dataset, "given twice"),
                      (again, "given twice")):
        extra = ["--mix", again] if mix == again else []
        assert fit(cfg, train_dataset, tmp_path / "bad", "--mix", mix, *extra) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_fit_warns_when_a_mixed_in_dataset_splits_the_same_realisations_otherwise(train_dataset, tmp_path, capsys):
    # the training config and seed with 6 realisations instead of 9: the split (seeded shuffle cut by fractions)
    # puts some of the same ids in other splits, so skies imaged again would validate what trains
    proc = subprocess.run(radsim_exe() + ["simulate", str(train_dataset.parent / "sim.toml"), "--set",
                                          "realisations.repeats=2", "--set", "imaging.robust=1.0", "--out",
                                          str(tmp_path / "six")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from radtrain import data
    from radtrain.train import _crossed_splits
    main, six = data.open_dataset(train_dataset), data.open_dataset(tmp_path / "six")
    where = {i: s for s in ("train", "validation", "test") for i in main.realisations(s)}
    crossed = [i for s in ("train", "validation") for i in six.realisations(s) if where[i] in ("train", "validation")
               and where[i] != s]
    assert crossed and _crossed_splits(main, six) == sorted(crossed)
    cfg = train_config(tmp_path, train__epochs=1)
    capsys.readouterr()
    assert fit(cfg, train_dataset, tmp_path / "run", "--mix", tmp_path / "six") == 0
    printed = capsys.readouterr()
    assert (f"realisations {', '.join(map(str, sorted(crossed)))} are split otherwise than the same ids"
            in printed.out + printed.err)
    assert read_run(tmp_path / "run")["status"] == "complete"


def test_early_stopping_stops_when_validation_loss_stalls(train_dataset, tmp_path):
    # a learning rate of 1e-30 leaves float32 weights unchanged, so the validation loss never improves again
    cfg = train_config(tmp_path, train__epochs=10, train__patience=2, train__learning_rate=1e-30,
                       train__warmup_epochs=0)
    assert fit(cfg, train_dataset, tmp_path / "run") == 0
    run = read_run(tmp_path / "run")
    assert run["stopped"] == "early stopping after epoch 3 (no improvement for 2 epochs)"
    assert run["epochs_done"] == 3 and run["best"]["epoch"] == 1 and run["status"] == "complete"
    assert run["early_stopping"]["wait"] == 2


def test_killed_horovod_run_resumes_from_its_checkpoint_and_finishes(train_dataset, tmp_path):
    cfg = train_config(tmp_path, train__epochs=60)
    cmd = [str(c) for c in horovodrun(2) + radtrain_exe() + ["fit", cfg, "--dataset", train_dataset, "--out",
                                                                tmp_path / "run"]]
    proc = subprocess.Popen(cmd, stdout=(tmp_path / "killed.log").open("w"), stderr=subprocess.STDOUT, env=HVD_ENV,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while len(read_history(tmp_path / "run")) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "training did not get going"
        time.sleep(0.1)
    # kill -9 the whole job: horovodrun and its workers (which it starts in sessions of their own)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    while subprocess.run(["pkill", "-9", "-f", str(tmp_path / "run")]).returncode == 0:
        time.sleep(0.2)
    killed_at = read_run(tmp_path / "run")["epochs_done"]
    assert 2 <= killed_at < 60 and read_run(tmp_path / "run")["status"] == "running"

    again = run_cli(cmd, check=0, timeout=600)
    resumed = int(again.stdout.split("from its checkpoint after epoch ")[1].split()[0])
    assert killed_at - 1 <= resumed <= killed_at, (tmp_path / "killed.log").read_text() + again.stdout
    run = read_run(tmp_path / "run")
    assert run["status"] == "complete" and run["epochs_done"] == 60
    assert [r["initial_epoch"] for r in run["runs"]] == [0, resumed]
    hist = read_history(tmp_path / "run")
    assert [h["epoch"] for h in hist] == list(range(1, 61))  # every epoch once
    assert all(h["weights_agree"] for h in hist)


def test_a_checkpoint_ahead_of_the_run_record_is_not_resumed_from(gaussian_run, train_dataset, tmp_path, capsys):
    """A kill between an epoch's checkpoint and its run record leaves the checkpoint one epoch ahead, with no history
    row: the run goes on from the epoch the record committed, so no epoch goes missing from the history."""
    cfg, run_dir = gaussian_run
    killed = tmp_path / "run"
    shutil.copytree(run_dir, killed)
    run = read_run(killed)
    run["status"], run["epochs_done"] = "running", 1
    (killed / "run.json").write_text(json.dumps(run))
    (killed / "history.csv").write_text("\n".join((killed / "history.csv").read_text().splitlines()[:2]) + "\n")
    assert [h["epoch"] for h in read_history(killed)] == [1]
    assert (killed / "checkpoints" / "ckpt-2.index").is_file()     # the checkpoint of the uncommitted epoch 2

    assert fit(cfg, train_dataset, killed) == 0
    out = capsys.readouterr()
    assert "from its checkpoint after epoch 1" in out.out + out.err
    assert [h["epoch"] for h in read_history(killed)] == [1, 2]
    assert read_run(killed)["status"] == "complete" and read_run(killed)["epochs_done"] == 2


def test_a_run_killed_after_its_early_stop_is_not_trained_on(train_dataset, tmp_path, capsys):
    """A kill after the epoch that met the early-stopping rule was committed, but before the run was marked
    complete: running the command again marks it complete and trains nothing more, as the uninterrupted run."""
    patience = 3
    cfg = train_config(tmp_path, train__patience=patience)
    killed = tmp_path / "run"
    assert fit(cfg, train_dataset, killed) == 0
    capsys.readouterr()
    run = read_run(killed)
    first = read_history(killed)[0]
    run["status"], run["epochs_done"] = "running", 1
    run["early_stopping"] = {"best": first["val_loss"] - 1.0, "wait": patience}
    run.pop("stopped")
    (killed / "run.json").write_text(json.dumps(run))
    (killed / "history.csv").write_text("\n".join((killed / "history.csv").read_text().splitlines()[:2]) + "\n")
    weights = (killed / "best.weights.h5").read_bytes()

    assert fit(cfg, train_dataset, killed) == 0
    out = capsys.readouterr()
    assert "stopped early after epoch 1 but was not marked complete" in out.out + out.err
    after = read_run(killed)
    assert after["status"] == "complete" and after["epochs_done"] == 1
    assert after["stopped"] == f"early stopping after epoch 1 (no improvement for {patience} epochs)"
    assert [h["epoch"] for h in read_history(killed)] == [1]
    assert (killed / "best.weights.h5").read_bytes() == weights
    assert len(after["runs"]) == len(run["runs"])          # no launch recorded: nothing was trained


def test_resume_without_its_checkpoint_is_refused(gaussian_run, train_dataset, tmp_path, capsys):
    import shutil
    cfg, run_dir = gaussian_run
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    run = read_run(broken)
    run["status"] = "running"
    (broken / "run.json").write_text(json.dumps(run))
    shutil.rmtree(broken / "checkpoints")
    assert fit(cfg, train_dataset, broken) == 2
    assert "its checkpoint is missing" in capsys.readouterr().err
    assert read_run(broken)["epochs_done"] == 2


# --------------------------------------------------------------------------------------------------------------
# evaluate

def test_evaluate_writes_metrics_that_match_an_independent_computation(gaussian_run, train_dataset, capsys):
    _, run_dir = gaussian_run
    assert cli.main(["evaluate", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    assert "test split" in printed and "interval coverage per tile" in printed
    assert "no per-sky intervals: run `radtrain calibrate" in printed
    out = run_dir / "evaluate-test"
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_tiles"] == 16 and m["n_skies"] == 1 and m["head"] == "gaussian"
    assert len(m["bin_centres_jy"]) == 5 and m["detection_threshold_jy"] == 1e-4
    assert m["factor_below_threshold"][0] == pytest.approx(1e-4 / np.sqrt(1e-7 * 1e-7 * 10 ** 0.4))
    # the per-sky residual from the sky's summed true and predicted counts, by hand
    sky = m["skies"][0]
    true, pred = np.array(sky["true"]), np.array(sky["pred"])
    assert np.allclose(m["per_sky"]["dy"]["mean"], (pred - true) / true.mean())
    assert np.allclose(m["per_sky"]["relative_error"]["mean"], (pred - true) / true)
    # the sky's true counts are the sum of its tiles' labels in the dataset
    from radsim.dataset.reader import Dataset
    test = Dataset(train_dataset).load("test")
    assert np.allclose(true, test["labels"].sum(axis=0)) and np.allclose(sky["expected"],
                                                                         test["expected"].sum(axis=0))
    for level in ("68", "95"):
        assert all(0.0 <= c <= 1.0 for c in m["coverage"][level]["per_bin"])
    assert "pred_sigma" not in sky and "per_sky_intervals" not in m      # not calibrated (yet)
    for name in ("counts.png", "dy.png", "scatter.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_reads_the_same_skies_two_ways(gaussian_run, train_dataset, train_skies_imaged_again,
                                               calibration_skies, tmp_path, capsys):
    """radtrain compare: the change of a run's per-sky readings between two imagings of the same skies is what
    radtrain evaluate's per-sky counts of each give, worked out by hand; a dataset against itself changes by
    exactly nothing; other skies, or one dataset, are refused and nothing is written."""
    _, run_dir = gaussian_run
    out = tmp_path / "cmp.json"
    assert cli.main(["compare", str(run_dir), "--dataset", str(train_dataset), "--dataset",
                     str(train_skies_imaged_again), "--split", "train", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(6 skies of split train)" in printed and "% of true count" in printed
    result = json.loads(out.read_text())
    assert result["n_skies"] == 6 and result["split"] == "train" and len(result["bin_edges_jy"]) == 6
    skies = {}
    for name, ds in (("a", train_dataset), ("b", train_skies_imaged_again)):
        assert cli.main(["evaluate", str(run_dir), "--dataset", str(ds), "--split", "train",
                         "--out", str(tmp_path / name)]) == 0
        m = json.loads((tmp_path / name / "metrics.json").read_text())
        skies[name] = {k["id"]: (np.array(k["pred"]), np.array(k["true"])) for k in m["skies"]}
    assert sorted(skies["a"]) == sorted(skies["b"])
    ids = sorted(skies["a"])
    true = np.array([skies["a"][i][1] for i in ids])
    delta = np.array([skies["b"][i][0] - skies["a"][i][0] for i in ids])
    percent = np.where(true > 0, 100 * delta / np.where(true > 0, true, 1), np.nan)
    dy = delta / true.mean(axis=1, keepdims=True)
    for key, x in (("percent", percent), ("dy", dy)):
        n = np.isfinite(x).sum(axis=0)
        assert result[key]["n"] == n.tolist()
        assert np.allclose(result[key]["mean"], np.nanmean(x, axis=0), rtol=1e-5, atol=1e-9, equal_nan=True)
        err = np.nanstd(x, axis=0, ddof=1) / np.sqrt(n)
        assert np.allclose(result[key]["stderr"], err, rtol=1e-5, atol=1e-9, equal_nan=True)
    assert np.any(np.abs(dy.mean(axis=0)) > 1e-4)          # robust 1 is read otherwise than robust 0
    # a dataset against itself: no change at all, written to RUN/compare.json by default
    assert cli.main(["compare", str(run_dir), "--dataset", str(train_dataset), "--dataset", str(train_dataset),
                     "--split", "train"]) == 0
    same = json.loads((run_dir / "compare.json").read_text())
    assert all(v == 0.0 for v in same["dy"]["mean"]) and all(v == 0.0 for v in same["dy"]["stderr"])
    capsys.readouterr()
    # other skies (another seed), or one dataset: refused, naming the cause, nothing written
    assert cli.main(["compare", str(run_dir), "--dataset", str(train_dataset), "--dataset", str(calibration_skies),
                     "--out", str(tmp_path / "bad.json")]) == 2
    assert "different skies" in capsys.readouterr().err
    assert cli.main(["compare", str(run_dir), "--dataset", str(train_dataset),
                     "--out", str(tmp_path / "bad.json")]) == 2
    assert "compare reads two datasets" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()


def test_compare_leaves_a_bin_out_of_the_skies_without_a_source_in_it():
    from radtrain.compare import change
    ids = np.array([3, 5, 8])
    true = np.array([[10.0, 0.0], [20.0, 4.0], [30.0, 2.0]])
    a = {"ids": ids, "true": true, "pred": np.array([[11.0, 1.0], [18.0, 4.0], [33.0, 1.0]])}
    b = {"ids": ids, "true": true.copy(), "pred": a["pred"] + np.array([[1.0, 1.0], [2.0, 1.0], [-3.0, 1.0]])}
    c = change(a, b)
    assert c["n_skies"] == 3 and c["percent"]["n"] == [3, 2]
    assert c["percent"]["mean"] == pytest.approx([(10 + 10 - 10) / 3, (25 + 50) / 2])
    assert c["percent"]["stderr"][1] == pytest.approx(np.std([25, 50], ddof=1) / np.sqrt(2))
    assert c["dy"]["mean"][0] == pytest.approx(np.mean([1 / 5, 2 / 12, -3 / 16]))
    from radtrain.data import DataError
    with pytest.raises(DataError, match="true counts differ .most in realisation 5"):
        change(a, {**b, "true": true + np.array([[0, 0], [1, 0], [0, 0]])})
    # a set imaged again for some of the skies (and one more): paired on the ids both hold, in either order
    sub = {"ids": np.array([5, 8, 11]), "true": np.array([[20.0, 4.0], [30.0, 2.0], [7.0, 7.0]]),
           "pred": np.array([[22.0, 5.0], [27.0, 3.0], [1.0, 1.0]])}
    c = change(a, sub)
    assert c["n_skies"] == 2 and c["only_in"] == [1, 1] and c["percent"]["n"] == [2, 2]
    assert c["percent"]["mean"] == pytest.approx([(20 - 20) / 2, (25 + 100) / 2])
    assert change(sub, a)["percent"]["mean"] == pytest.approx([0.0, -62.5])
    assert change(a, b)["only_in"] == [0, 0]
    with pytest.raises(DataError, match="no realisation id in common among their 3 and 2"):
        change(a, {k: v[:2] for k, v in {**sub, "ids": np.array([4, 9, 0])}.items()})


@pytest.fixture(scope="module")
def other_datasets(tmp_path_factory):
    """Two sky-model datasets: the same binning without a test split, and another binning."""
    tmp = tmp_path_factory.mktemp("other")
    out = {}
    for name, changes in (("no-test", {"dataset__train_fraction": 0.5, "dataset__validation_fraction": 0.5,
                                       "dataset__test_fraction": 0.0}),
                          ("bins", {"labels__n_bins": 4})):
        cfg = sim_config(tmp, f"{name}.toml", realisations__repeats=1, imaging__backend="none", **changes)
        proc = subprocess.run(radsim_exe() + ["simulate", str(cfg), "--out", str(tmp / name)], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[name] = tmp / name
    return out


def test_evaluate_refuses_bad_input(gaussian_run, other_datasets, tmp_path, capsys):
    import shutil
    _, run_dir = gaussian_run
    assert cli.main(["evaluate", str(run_dir), "--dataset", str(other_datasets["no-test"]),
                     "--out", str(tmp_path / "e1")]) == 2
    assert "the 'test' split has no tiles" in capsys.readouterr().err
    assert cli.main(["evaluate", str(run_dir), "--dataset", str(other_datasets["bins"]),
                     "--out", str(tmp_path / "e2")]) == 2
    assert "labels of another binning (4 bins" in capsys.readouterr().err
    no_weights = tmp_path / "run"
    shutil.copytree(run_dir, no_weights)
    (no_weights / "best.weights.h5").unlink()
    assert cli.main(["evaluate", str(no_weights)]) == 2
    assert "no trained weights" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "nowhere")]) == 2
    assert "not a radtrain run directory" in capsys.readouterr().err
    assert not (tmp_path / "e1").exists() and not (tmp_path / "e2").exists()


# --------------------------------------------------------------------------------------------------------------
# calibrated per-sky intervals

def sky_log_counts(metrics: dict) -> tuple[np.ndarray, np.ndarray]:
    """log(network count per tile) and log(true count per tile) of an evaluation's skies (skies, bins)."""
    u = np.log([np.array(k["pred"]) / k["n_tiles"] for k in metrics["skies"]])
    v = np.log([np.array(k["true"]) / k["n_tiles"] for k in metrics["skies"]])
    return u, v


def assert_least_squares_line(c: dict, u: np.ndarray, v: np.ndarray, degree: int = 1) -> None:
    """The calibration's per-bin coefficients are the least-squares polynomial of v on u (alpha, beta[, kappa])."""
    for b in range(u.shape[1]):
        fitted = np.polyfit(u[:, b], v[:, b], degree)[::-1]
        for name, value in zip(("alpha", "beta", "kappa"), fitted):
            assert c[name][b] == pytest.approx(value, rel=1e-3, abs=1e-4)

@pytest.fixture(scope="module")
def calibration_skies(tmp_path_factory):
    """4 skies held out for calibration (another seed, every sky in the test split), the training binning."""
    tmp = tmp_path_factory.mktemp("calib")
    cfg = sim_config(tmp, "calib.toml", realisations__repeats=1, run__seed=99, dataset__train_fraction=0.0,
                     dataset__validation_fraction=0.0, dataset__test_fraction=1.0,
                     realisations__sets=[{"s0_jy": 5e-5, "alpha": a} for a in (0.0, 0.1, 0.2, -0.2)])
    proc = subprocess.run(radsim_exe() + ["simulate", str(cfg), "--out", str(tmp / "ds")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "ds"


def test_calibrate_gives_per_sky_intervals_to_evaluate_and_predict(gaussian_run, train_dataset, calibration_skies,
                                                                  sky_images, tmp_path, capsys):
    import shutil
    from radtrain import uncertainty
    _, trained = gaussian_run
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    # the training skies and a split of one sky are refused, and nothing is written
    assert cli.main(["calibrate", str(run_dir), "--dataset", str(train_dataset), "--split", "train"]) == 2
    assert "skies" in capsys.readouterr().err and not (run_dir / "calibration.json").exists()
    assert cli.main(["calibrate", str(run_dir), "--dataset", str(train_dataset)]) == 2
    assert "at least 4 skies, got 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["calibrate", str(run_dir), "--dataset", str(calibration_skies), "--shape-terms", "-1"])
    assert "expected 0 or more" in capsys.readouterr().err and not (run_dir / "calibration.json").exists()
    # shape terms asked for, but 4 skies are too few for them: the per-bin line, and the table says so
    assert cli.main(["calibrate", str(run_dir), "--dataset", str(calibration_skies), "--shape-terms", "2"]) == 0
    assert "0 shape term(s)" in capsys.readouterr().out
    assert json.loads((run_dir / "calibration.json").read_text())["delta"] == [[]] * 5
    assert cli.main(["calibrate", str(run_dir), "--dataset", str(calibration_skies)]) == 0
    assert "calibrated on 4 skies" in capsys.readouterr().out
    c = json.loads((run_dir / "calibration.json").read_text())
    assert c["n_skies"] == 4 and c["n_tiles_median"] == 16 and len(c["a"]) == 5
    # its line is the least-squares fit of the calibration skies' true on predicted log counts per tile,
    # recomputed here from their own evaluation
    assert cli.main(["evaluate", str(run_dir), "--dataset", str(calibration_skies), "--out",
                     str(tmp_path / "on-calib")]) == 0
    assert "THE SAME SKIES" in capsys.readouterr().out
    assert_least_squares_line(c, *sky_log_counts(json.loads((tmp_path / "on-calib" / "metrics.json").read_text())))
    # the held-out test sky gets intervals, and their coverage is reported per bin
    assert cli.main(["evaluate", str(run_dir)]) == 0
    assert "per-sky interval coverage (1 skies, calibrated on 4)" in capsys.readouterr().out
    m = json.loads((run_dir / "evaluate-test" / "metrics.json").read_text())
    sky, block = m["skies"][0], m["per_sky_intervals"]
    assert not block["same_skies_as_calibration"] and block["n_calibration_skies"] == 4
    lo, hi = uncertainty.interval(np.array(sky["pred"]), sky["n_tiles"], c, 0.95)
    assert np.allclose(sky["pred_lo95"], lo) and np.allclose(sky["pred_hi95"], hi)
    inside = (np.array(sky["true"]) >= lo) & (np.array(sky["true"]) <= hi)
    assert block["95"]["per_bin"] == inside.astype(float).tolist()
    assert np.all(np.array(sky["pred_lo68"]) <= np.array(sky["pred_hi68"]))
    assert np.all(np.array(sky["pred_lo95"]) <= np.array(sky["pred_lo68"]))
    # where the sky's network count lies in the calibration skies' range, bin by bin, and the coverage split by it
    position = uncertainty.range_position(np.array(sky["pred"]), sky["n_tiles"], c)
    assert np.allclose(sky["calibration_range"], position)
    by = block["68"]["by_calibration_range"]
    assert sum(v["sky_bins"] for v in by.values()) == 5
    assert by["outside"]["sky_bins"] == int(np.sum(position < 0))
    # predict on the same sky's image: the same counts and intervals, and the bins at the calibration's edge named
    assert cli.main(["predict", str(run_dir), str(sky_images / "restored.fits"), "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "95% interval" in out
    r = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert np.allclose(r["interval_95"][0], lo, rtol=1e-4) and np.allclose(r["interval_95"][1], hi, rtol=1e-4)
    assert r["calibration"]["n_skies"] == 4 and len(r["counts_corrected"]) == 5
    assert r["calibration"]["intervals"] == "normal"
    assert np.allclose(r["calibration_range"], position, atol=1e-4)
    edge = np.flatnonzero(np.array(r["calibration_range"]) < uncertainty.EDGE)
    assert ("at the edge of the calibration" in out) == bool(edge.size)
    assert out.count("  *\n") + out.count("  !\n") == edge.size


@pytest.fixture(scope="module")
def more_calibration_skies(tmp_path_factory):
    """4 more calibration skies of other shapes, with the same realisation ids (0-3) as ``calibration_skies``."""
    tmp = tmp_path_factory.mktemp("calib-more")
    cfg = sim_config(tmp, "calib.toml", realisations__repeats=1, run__seed=98, dataset__train_fraction=0.0,
                     dataset__validation_fraction=0.0, dataset__test_fraction=1.0,
                     realisations__sets=[{"s0_jy": 3e-5, "alpha": a} for a in (0.3, -0.1, 0.05, -0.3)])
    proc = subprocess.run(radsim_exe() + ["simulate", str(cfg), "--out", str(tmp / "ds")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "ds"


def test_calibrate_pools_several_datasets_of_calibration_skies(gaussian_run, calibration_skies,
                                                              more_calibration_skies, tmp_path, capsys):
    import shutil
    _, trained = gaussian_run
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    # the same skies twice are refused, and nothing is written
    assert cli.main(["calibrate", str(run_dir), "--dataset", str(calibration_skies), "--dataset",
                     str(calibration_skies)]) == 2
    assert "given twice" in capsys.readouterr().err and not (run_dir / "calibration.json").exists()
    assert cli.main(["calibrate", str(run_dir), "--dataset", str(calibration_skies), "--dataset",
                     str(more_calibration_skies)]) == 0
    out = capsys.readouterr().out
    assert "calibrated on 8 skies (4 of the test split of" in out and " + 4 of the test split of" in out
    c = json.loads((run_dir / "calibration.json").read_text())
    # both datasets number their skies 0-3: pooled they stay 8 skies, not 4 of twice the tiles
    assert c["n_skies"] == 8 and c["n_tiles_median"] == 16
    assert [s["n_skies"] for s in c["sources"]] == [4, 4] and "dataset" not in c
    # the line is the least-squares fit over the skies of both, recomputed from their evaluations
    u, v = [], []
    for k, ds in enumerate((calibration_skies, more_calibration_skies)):
        assert cli.main(["evaluate", str(run_dir), "--dataset", str(ds), "--out", str(tmp_path / f"e{k}")]) == 0
        assert "THE SAME SKIES" in capsys.readouterr().out
        uk, vk = sky_log_counts(json.loads((tmp_path / f"e{k}" / "metrics.json").read_text()))
        u, v = u + [uk], v + [vk]
    assert_least_squares_line(c, np.concatenate(u), np.concatenate(v))
    # the held-out test sky is not one of them
    assert cli.main(["evaluate", str(run_dir)]) == 0
    assert "per-sky interval coverage (1 skies, calibrated on 8)" in capsys.readouterr().out
    # a curved line needs 20 skies: asked for on 8, the line stays straight and the terminal says so
    assert cli.main(["calibrate", str(run_dir), "--curved", "--dataset", str(calibration_skies), "--dataset",
                     str(more_calibration_skies)]) == 0
    assert "straight: a curved line needs 20" in capsys.readouterr().out
    assert not json.loads((run_dir / "calibration.json").read_text())["curved"]


@pytest.fixture(scope="module")
def twenty_calibration_skies(calibration_skies, more_calibration_skies, tmp_path_factory):
    """The 8 calibration skies above and 12 more of (S0, alpha) on a grid: enough for a curved line, conformal
    intervals and the count model's likelihood."""
    tmp = tmp_path_factory.mktemp("calib-12")
    cfg = sim_config(tmp, "calib.toml", realisations__repeats=1, run__seed=97, dataset__train_fraction=0.0,
                     dataset__validation_fraction=0.0, dataset__test_fraction=1.0,
                     realisations__sets=[{"s0_jy": s0, "alpha": a} for s0 in (1e-5, 6e-5) for a in
                                         (-0.5, -0.3, -0.1, 0.1, 0.2, 0.35)])
    proc = subprocess.run(radsim_exe() + ["simulate", str(cfg), "--out", str(tmp / "ds")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [calibration_skies, more_calibration_skies, tmp / "ds"]


def test_a_curved_calibration_is_the_least_squares_parabola_of_the_calibration_skies(
        gaussian_run, calibration_skies, twenty_calibration_skies, tmp_path, capsys):
    import shutil
    datasets = twenty_calibration_skies
    _, trained = gaussian_run
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    args = [a for ds in datasets for a in ("--dataset", str(ds))]
    assert cli.main(["calibrate", str(run_dir), "--curved", *args]) == 0
    assert "the line: alpha + beta u + kappa u^2 + 0 shape term(s)" in capsys.readouterr().out
    c = json.loads((run_dir / "calibration.json").read_text())
    assert c["curved"] and c["n_skies"] == 20 and c["gamma"] == [0.0] * 5
    u, v = [], []
    for k, ds in enumerate(datasets):
        assert cli.main(["evaluate", str(run_dir), "--dataset", str(ds), "--out", str(tmp_path / f"e{k}")]) == 0
        m = json.loads((tmp_path / f"e{k}" / "metrics.json").read_text())
        uk, vk = sky_log_counts(m)
        u, v = u + [uk], v + [vk]
        # the calibrated counts evaluate reports are the parabola's
        fixed = np.array([s["pred_corrected"] for s in m["skies"]])
        n = np.array([[s["n_tiles"]] for s in m["skies"]])
        curve = np.array(c["alpha"]) + np.array(c["beta"]) * uk + np.array(c["kappa"]) * uk ** 2
        assert np.allclose(fixed, n * np.exp(curve), rtol=1e-6)
    assert_least_squares_line(c, np.concatenate(u), np.concatenate(v), degree=2)
    capsys.readouterr()
    # conformal intervals on the same 20 skies: the 95% one is the largest studentised residual, so on the
    # calibration skies themselves every true count lies inside it, and the 68% one the 15th of 20 (ceil(21 x 0.68))
    assert cli.main(["calibrate", str(run_dir), "--curved", "--conformal", *args]) == 0
    assert "intervals: conformal" in capsys.readouterr().out
    c = json.loads((run_dir / "calibration.json").read_text())
    assert c["conformal"]["levels"] == [0.68, 0.95] and np.shape(c["conformal"]["quantiles"]) == (2, 5)
    inside = {level: [] for level in ("68", "95")}
    for k, ds in enumerate(datasets):
        assert cli.main(["evaluate", str(run_dir), "--dataset", str(ds), "--out", str(tmp_path / f"c{k}")]) == 0
        for s in json.loads((tmp_path / f"c{k}" / "metrics.json").read_text())["skies"]:
            for level in inside:
                true = np.array(s["true"])
                inside[level].append((true >= s[f"pred_lo{level}"]) & (true <= s[f"pred_hi{level}"]))
    assert np.all(inside["95"])
    assert np.all(np.sum(inside["68"], axis=0) >= 15)
    # too few skies for them: the normal intervals, and the terminal says so
    assert cli.main(["calibrate", str(run_dir), "--conformal", "--dataset", str(calibration_skies)]) == 0
    assert "stay normal: conformal intervals need 20" in capsys.readouterr().out
    assert json.loads((run_dir / "calibration.json").read_text())["conformal"] is None


def test_a_likelihood_calibration_reads_the_count_model_in_evaluate_and_predict(
        gaussian_run, twenty_calibration_skies, sky_images, tmp_path, capsys):
    import shutil

    from radtrain import likelihood
    _, trained = gaussian_run
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    args = [a for ds in twenty_calibration_skies for a in ("--dataset", str(ds))]
    # 4 skies are too few: refused, nothing written
    assert cli.main(["calibrate", str(run_dir), "--likelihood", *args[:2]]) == 2
    assert "at least 20 calibration skies" in capsys.readouterr().err
    assert not (run_dir / "calibration.json").exists()
    assert cli.main(["calibrate", str(run_dir), "--curved", "--conformal", "--likelihood", *args]) == 0
    out = capsys.readouterr().out
    assert "counts and intervals: the count model's likelihood" in out
    assert "intervals: likelihood of the count model 'seed' in alpha -0.5-0.35, s0_jy 1e-05-6e-05 (log)" in out
    c = json.loads((run_dir / "calibration.json").read_text())
    lik = c["likelihood"]
    assert lik["parameters"] == ["alpha", "s0_jy"] and lik["log10"] == [False, True] and lik["n_skies"] == 20
    assert lik["degree"] == 1 and np.shape(lik["thresholds"]) == (2, 5)       # 20 skies: a plane in (alpha, S0)
    assert np.allclose(lik["box"], [[-0.5, np.log10(1e-5)], [0.35, np.log10(6e-5)]])
    for k, ds in enumerate(twenty_calibration_skies):
        assert cli.main(["evaluate", str(run_dir), "--dataset", str(ds), "--out", str(tmp_path / f"e{k}")]) == 0
        assert "calibrated (likelihood) dy per sky" in capsys.readouterr().out
        m = json.loads((tmp_path / f"e{k}" / "metrics.json").read_text())
        assert m["per_sky_intervals"]["method"] == "likelihood"
        pred = np.array([s["pred"] for s in m["skies"]])
        n = np.array([s["n_tiles"] for s in m["skies"]])
        fit = likelihood.estimate(pred, n, lik)
        for i, s in enumerate(m["skies"]):
            assert s["fit_ok"] == bool(fit["fits"][i]) and set(s["fit"]) == {"alpha", "s0_jy"}
            assert -0.5 - 1e-9 <= s["fit"]["alpha"] <= 0.35 + 1e-9 and 1e-5 * (1 - 1e-9) <= s["fit"]["s0_jy"]
            assert s["fit_lo68"]["alpha"] <= s["fit"]["alpha"] <= s["fit_hi68"]["alpha"]
            # the counts read are the best fit's where the model fits, and lie inside their own intervals
            if s["fit_ok"]:
                assert np.allclose(s["pred_corrected"], fit["counts"][i], rtol=1e-9)
            for level in ("68", "95"):
                assert np.all(np.array(s[f"pred_lo{level}"]) <= np.array(s["pred_corrected"]) * (1 + 1e-9))
                assert np.all(np.array(s["pred_corrected"]) <= np.array(s[f"pred_hi{level}"]) * (1 + 1e-9))
            assert np.all(np.array(s["pred_lo68"]) >= np.array(s["pred_lo95"]) * (1 - 1e-9))
    # predict: the same reading of an image, with the parameters that fit it
    assert cli.main(["predict", str(run_dir), str(sky_images / "restored.fits"), "--out", str(tmp_path / "p")]) == 0
    printed = capsys.readouterr().out
    r = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert r["calibration"]["intervals"] == "likelihood"
    f = r["count_model_fit"]
    assert f["count_model"] == "seed" and set(f["mean"]) == {"alpha", "s0_jy"} and f["chi2_limit"] == lik["chi2_limit"]
    assert f["imager_skies"] == 0 and f["imager_datasets"] == []
    one = likelihood.estimate(np.array(r["counts"]), r["n_tiles"], lik)
    assert f["fits"] == bool(one["fits"]) and f["mean"]["alpha"] == pytest.approx(one["params"][0])
    assert ("count model 'seed', posterior mean: alpha = " in printed) == f["fits"]
    assert ("does not fit this image" in r.get("note", "")) == (not f["fits"])


@pytest.fixture(scope="module")
def twenty_skies_imaged_again(twenty_calibration_skies, tmp_path_factory):
    """The 20 calibration skies imaged again, as by another imager: the same configs and seeds, the fast imager
    with Briggs robust 1 instead of 0 (a broader beam and lower noise; the skies and their true counts the same)."""
    tmp = tmp_path_factory.mktemp("imaged-again")
    out = []
    for k, ds in enumerate(twenty_calibration_skies):
        proc = subprocess.run(radsim_exe() + ["simulate", str(ds.parent / "calib.toml"), "--set", "imaging.robust=1.0",
                                              "--out", str(tmp / f"ds{k}")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out.append(tmp / f"ds{k}")
    return out


def test_a_likelihood_calibration_for_another_imager_reads_from_its_images_of_the_calibration_skies(
        gaussian_run, twenty_calibration_skies, twenty_skies_imaged_again, sky_images, tmp_path, capsys):
    from radtrain import likelihood
    _, trained = gaussian_run
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    args = [a for ds in twenty_calibration_skies for a in ("--dataset", str(ds))]
    again = [a for ds in twenty_skies_imaged_again for a in ("--imager-dataset", str(ds))]
    # refused, nothing written: without --likelihood; with 4 skies imaged again; with skies that are not the
    # calibration skies (the 12-sky set's ids 0-3 are the 4-sky sets' ids, of other parameters)
    assert cli.main(["calibrate", str(run_dir), *args, *again]) == 2
    assert "give --likelihood too" in capsys.readouterr().err
    assert cli.main(["calibrate", str(run_dir), "--likelihood", *args, *again[:2]]) == 2
    assert "at least 20 calibration skies imaged again are needed, got 4" in capsys.readouterr().err
    assert cli.main(["calibrate", str(run_dir), "--likelihood", *args[:4], *again[4:]]) == 2
    assert "is none of the calibration skies" in capsys.readouterr().err
    assert not (run_dir / "calibration.json").exists()
    assert cli.main(["calibrate", str(run_dir), "--curved", "--conformal", "--likelihood", *args, *again]) == 0
    printed = capsys.readouterr().out
    assert "for images of another imager: 20 of the skies imaged again" in printed
    # and how the calibration transfers, cross-validated on those skies, bin by bin
    assert "cross-validated on the 20 skies imaged by both imagers" in printed
    lik = json.loads((run_dir / "calibration.json").read_text())["likelihood"]
    assert lik["imager_skies"] == 20 and len(lik["imager_sources"]) == 3 and np.shape(lik["thresholds"]) == (2, 5)
    assert lik["cross_validated"]["skies"] == 20 and len(lik["cross_validated"]["calibrated"]["mean_dy"]) == 5
    # the shift is the mean change of the network's reading between each sky's two images, paired by sky
    first, second = [], []
    for k, (ds, ds2) in enumerate(zip(twenty_calibration_skies, twenty_skies_imaged_again)):
        for d, into in ((ds, first), (ds2, second)):
            out = tmp_path / f"e{k}-{d.name}"
            assert cli.main(["evaluate", str(run_dir), "--dataset", str(d), "--out", str(out)]) == 0
            m = json.loads((out / "metrics.json").read_text())
            assert m["per_sky_intervals"]["method"] == "likelihood" and m["per_sky_intervals"]["imager_skies"] == 20
            into += [(k, s["id"], np.array(s["pred"]), s["n_tiles"], np.array(s["true"])) for s in m["skies"]]
    first.sort(key=lambda s: s[:2])
    second.sort(key=lambda s: s[:2])
    assert all(np.allclose(a[4], b[4]) for a, b in zip(first, second))          # the same skies
    change = [likelihood.reading(b[2], b[3], lik["scale"]) - likelihood.reading(a[2], a[3], lik["scale"])
              for a, b in zip(first, second)]
    assert np.allclose(lik["imager_shift"], np.mean(change, axis=0), atol=1e-6)
    assert np.abs(np.mean(change, axis=0)).max() > 1e-3                      # the imagers do differ
    # predict says which imager's images the likelihood reads
    assert cli.main(["predict", str(run_dir), str(sky_images / "restored.fits"), "--out", str(tmp_path / "p")]) == 0
    f = json.loads((tmp_path / "p" / "prediction.json").read_text())["count_model_fit"]
    assert f["imager_skies"] == 20 and [Path(d).name for d in f["imager_datasets"]] == ["ds0", "ds1", "ds2"]


def test_an_imager_term_of_the_shift_alone_keeps_the_thresholds_of_every_calibration_sky(
        gaussian_run, twenty_calibration_skies, twenty_skies_imaged_again, tmp_path, capsys):
    """calibrate --imager-term shift: the skies imaged again shift the likelihood's map and change nothing else;
    the scatter and thresholds are those of the calibration without them, over every calibration sky."""
    _, trained = gaussian_run
    plain, shift = tmp_path / "plain", tmp_path / "shift"
    shutil.copytree(trained, plain)
    shutil.copytree(trained, shift)
    args = [a for ds in twenty_calibration_skies for a in ("--dataset", str(ds))]
    again = [a for ds in twenty_skies_imaged_again for a in ("--imager-dataset", str(ds))]
    assert cli.main(["calibrate", str(shift), "--likelihood", *args, "--imager-term", "shift"]) == 2
    assert "give them with --imager-dataset" in capsys.readouterr().err
    assert not (shift / "calibration.json").exists()
    assert cli.main(["calibrate", str(plain), "--likelihood", *args]) == 0
    assert cli.main(["calibrate", str(shift), "--likelihood", *args, *again, "--imager-term", "shift"]) == 0
    printed = capsys.readouterr().out
    a = json.loads((plain / "calibration.json").read_text())["likelihood"]
    b = json.loads((shift / "calibration.json").read_text())["likelihood"]
    assert b["imager_term"] == "shift" and b["imager_skies"] == 20 and a["n_skies"] == b["n_skies"] == 20
    assert "the map shifted by it alone" in printed and "cross-validated on the 20 skies imaged by both" in printed
    for key in ("thresholds", "variance", "axes", "truth", "chi2_limit"):
        assert a[key] == b[key], key
    # (the default term scores the skies' other images on a widened scatter: other thresholds)
    both = tmp_path / "both"
    shutil.copytree(trained, both)
    assert cli.main(["calibrate", str(both), "--likelihood", *args, *again]) == 0
    c = json.loads((both / "calibration.json").read_text())["likelihood"]
    assert c["imager_term"] == "shift and scatter" and c["thresholds"] != a["thresholds"]
    assert sum(c["variance"]) > sum(a["variance"])
    diff = np.asarray(b["reading"]) - np.asarray(a["reading"])
    assert np.allclose(diff[0], b["imager_shift"]) and np.allclose(diff[1:], 0.0)
    out = tmp_path / "e"
    assert cli.main(["evaluate", str(shift), "--dataset", str(twenty_skies_imaged_again[0]), "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["per_sky_intervals"]["imager_term"] == "shift"


def test_the_noise_input_comes_from_the_noise_map(train_dataset, sky_images, tmp_path, capsys):
    from radsim.dataset.reader import Dataset
    from radtrain.predict import cut_tiles, read_image, tile_noise
    cfg = train_config(tmp_path, train__epochs=1, data__aux_inputs=["width", "noise"])
    assert fit(cfg, train_dataset, tmp_path / "run") == 0
    capsys.readouterr()
    # a noise map on the image's grid (a mosaic's would rise towards its edges): one level per tile, and a few
    # blanked pixels that the median passes over
    from astropy.io import fits
    with fits.open(sky_images / "restored.fits") as hdul:
        header, image = hdul[0].header, np.squeeze(hdul[0].data)
    levels = 25e-6 * (1.0 + 0.1 * np.arange(16).reshape(4, 4))
    noise_map = np.kron(levels, np.ones((32, 32))).astype(np.float32)
    noise_map[::7, ::5] = np.nan
    fits.PrimaryHDU(noise_map.reshape(header["NAXIS4"], header["NAXIS3"], 128, 128), header).writeto(
        tmp_path / "noise.fits")
    image, _ = read_image(sky_images / "restored.fits")
    _, origins, _ = cut_tiles(image, 32)
    noise, worst, best = tile_noise(tmp_path / "noise.fits", image.shape, origins, 32)
    assert np.allclose(noise, levels[origins[:, 0] // 32, origins[:, 1] // 32], rtol=1e-6)
    assert np.allclose(worst, noise) and best == pytest.approx(25e-6)
    # the dataset's tiles carry the single pointing's uniform noise, which the run standardised
    assert np.allclose(Dataset(train_dataset).load("test")["tile_noise"], 25e-6)
    image_path = str(sky_images / "restored.fits")
    assert cli.main(["predict", str(tmp_path / "run"), image_path, "--out", str(tmp_path / "p")]) == 2
    assert "give the image's noise map with --noise-map" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert cli.main(["predict", str(tmp_path / "run"), image_path, "--noise-map", str(tmp_path / "noise.fits"),
                     "--out", str(tmp_path / "p")]) == 0
    # a noise level other than the training skies' is named: the median of the tiles' (25 uJy x 1.75), +75.00%
    assert "is +75.00% from the training skies' 25: the network reads counts far below" in capsys.readouterr().out
    r = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert r["noise_rms_jy"] == pytest.approx(25e-6 * 1.75, rel=1e-6) and r["trained_noise_rms_jy"] == 25e-6
    # with the dataset's own noise level the prediction is evaluate's for that sky; another level changes it
    fits.PrimaryHDU(np.full_like(noise_map, 25e-6).reshape(header["NAXIS4"], header["NAXIS3"], 128, 128),
                    header).writeto(tmp_path / "flat.fits")
    assert cli.main(["predict", str(tmp_path / "run"), image_path, "--noise-map", str(tmp_path / "flat.fits"),
                     "--out", str(tmp_path / "p2")]) == 0
    assert "from the training skies'" not in capsys.readouterr().out
    # 0.2% off is named too: the networks' faint counts move by percents for it
    fits.PrimaryHDU(np.full_like(noise_map, 25.05e-6).reshape(header["NAXIS4"], header["NAXIS3"], 128, 128),
                    header).writeto(tmp_path / "near.fits")
    assert cli.main(["predict", str(tmp_path / "run"), image_path, "--noise-map", str(tmp_path / "near.fits"),
                     "--out", str(tmp_path / "p3")]) == 0
    assert "is +0.20% from the training skies' 25" in capsys.readouterr().out
    assert cli.main(["evaluate", str(tmp_path / "run")]) == 0
    m = json.loads((tmp_path / "run" / "evaluate-test" / "metrics.json").read_text())
    r = json.loads((tmp_path / "p2" / "prediction.json").read_text())
    assert np.allclose(r["counts"], m["skies"][0]["pred"], rtol=1e-4)


def test_predict_reads_only_the_tiles_a_mosaic_trained_run_saw(tmp_path, capsys):
    """A run trained on mosaics (tiles only where the noise is within tiles.sensitivity_factor of its best): given
    the noise map, predict reads exactly the tiles radsim kept for that sky and counts the others as skipped;
    without it, it reads every tile and says why it should not."""
    from radsim.dataset.reader import Dataset
    from test_simulate import sim_config
    cfg = sim_config(tmp_path, realisations__repeats=3, imaging__footprint="square_2x2", imaging__beam_pitch_deg=0.1,
                     imaging__primary_beam="gaussian", imaging__pb_fwhm_factor=0.2, tiles__sensitivity_factor=1.3)
    for cmd in (["simulate", str(cfg), "--out", str(tmp_path / "ds")],
                ["realise", str(cfg), "--index", "8", "--out", str(tmp_path / "r8")]):
        proc = subprocess.run(radsim_exe() + cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    ds = Dataset(tmp_path / "ds")
    assert ds.sensitivity_factor == 1.3
    kept = ds.load("test")
    assert np.all(kept["realisation"] == 8) and 0 < kept["tile_origin"].shape[0] < 16
    assert fit(train_config(tmp_path, train__epochs=1), tmp_path / "ds", tmp_path / "run") == 0
    image = tmp_path / "r8" / "restored.fits"
    assert cli.main(["predict", str(tmp_path / "run"), str(image), "--noise-map", str(tmp_path / "r8" / "noise.fits"),
                     "--out", str(tmp_path / "p")]) == 0
    n = kept["tile_origin"].shape[0]
    assert f"{16 - n} tiles noisier than 1.3x the best skipped" in capsys.readouterr().out
    r = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert r["n_tiles"] == n and r["tiles_noisy"] == 16 - n
    assert sorted(map(tuple, r["tiles"]["origin"])) == sorted(map(tuple, kept["tile_origin"].tolist()))
    assert cli.main(["predict", str(tmp_path / "run"), str(image), "--out", str(tmp_path / "q")]) == 0
    out = capsys.readouterr().out
    assert "no --noise-map: every tile was read" in out
    assert json.loads((tmp_path / "q" / "prediction.json").read_text())["n_tiles"] == 16


# --------------------------------------------------------------------------------------------------------------
# predict

@pytest.fixture(scope="module")
def sky_images(train_dataset, tmp_path_factory):
    """Restored and sky-model FITS images of realisation 8 (the test sky) made by radsim realise."""
    tmp = tmp_path_factory.mktemp("realise")
    cfg = sim_config(tmp, realisations__repeats=3)
    proc = subprocess.run(radsim_exe() + ["realise", str(cfg), "--index", "8", "--out", str(tmp / "r8")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "r8"


def test_predict_sums_tiles_of_a_fits_image(gaussian_run, sky_images, tmp_path, capsys):
    _, run_dir = gaussian_run
    if not (run_dir / "evaluate-test" / "metrics.json").exists():
        assert cli.main(["evaluate", str(run_dir)]) == 0
    assert cli.main(["predict", str(run_dir), str(sky_images / "restored.fits"), "--out", str(tmp_path / "p")]) == 0
    assert "16 tiles" in capsys.readouterr().out
    r = json.loads((tmp_path / "p" / "prediction.json").read_text())
    assert r["n_tiles"] == 16 and not r["forced"] and len(r["counts"]) == 5
    assert r["area_deg2"] == pytest.approx(0.25 ** 2)
    assert np.allclose(r["counts"], np.sum(r["tiles"]["counts"], axis=0))
    # the same tiles as the dataset's test sky: the same predictions as evaluate made for that sky
    m = json.loads((run_dir / "evaluate-test" / "metrics.json").read_text())
    assert np.allclose(r["counts"], m["skies"][0]["pred"], rtol=1e-4)
    if (run_dir / "calibration.json").is_file():             # intervals once calibrated (test below)
        assert len(r["interval_68"][0]) == 5 and all(s > 0 for s in r["sigma"])
    else:
        assert r["sigma"] is None and "radtrain calibrate" in r["note"]
    assert (tmp_path / "p" / "prediction.png").read_bytes()[:4] == b"\x89PNG"
    # a run carried to another machine predicts without its training dataset
    import shutil
    moved = tmp_path / "moved-run"
    shutil.copytree(run_dir, moved)
    record = json.loads((moved / "run.json").read_text())
    record["dataset"]["path"] = str(tmp_path / "no-such-dataset")
    (moved / "run.json").write_text(json.dumps(record))
    assert cli.main(["predict", str(moved), str(sky_images / "restored.fits"), "--out", str(tmp_path / "p2")]) == 0
    again = json.loads((tmp_path / "p2" / "prediction.json").read_text())
    assert np.allclose(again["counts"], r["counts"])


def test_predict_refuses_an_image_unlike_the_training_set(gaussian_run, sky_images, tmp_path, capsys):
    from astropy.io import fits
    _, run_dir = gaussian_run
    with fits.open(sky_images / "restored.fits") as hdul:
        hdul[0].header["CDELT2"] *= 2
        hdul[0].header["CDELT1"] *= 2
        hdul.writeto(tmp_path / "coarse.fits")
    assert cli.main(["predict", str(run_dir), str(tmp_path / "coarse.fits"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "pixel scale 14.06 arcsec, trained on 7.031 arcsec" in err and "--force" in err
    assert not (tmp_path / "p").exists()
    assert cli.main(["predict", str(run_dir), str(sky_images / "sky.fits"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "no restoring beam" in err and "units JY/PIXEL, trained on JY/BEAM" in err
    assert cli.main(["predict", str(run_dir), str(tmp_path / "coarse.fits"), "--out", str(tmp_path / "p"),
                     "--force"]) == 0
    assert "WARNING (--force)" in capsys.readouterr().out
    assert json.loads((tmp_path / "p" / "prediction.json").read_text())["forced"]
    assert cli.main(["predict", str(run_dir), str(tmp_path / "missing.fits"), "--out", str(tmp_path / "q")]) == 2
    assert "image not found" in capsys.readouterr().err


def test_help_explains_the_commands():
    proc = run_cli(radtrain_exe() + ["--help"], check=0, cwd=ROOT)
    for word in ("fit", "evaluate", "predict", "horovodrun"):
        assert word in proc.stdout
    proc = run_cli(radtrain_exe() + ["config", "--set", "train.epochs=3"], check=0)
    assert "epochs = 3" in proc.stdout


def copy_dataset(src, dst):
    """A copy of a dataset (shards hard-linked: they are never modified in place)."""
    shutil.copytree(src, dst, copy_function=os.link)
    (dst / "manifest.json").unlink()
    shutil.copy(src / "manifest.json", dst / "manifest.json")
    return dst


def test_evaluate_and_predict_refuse_a_changed_split(gaussian_run, train_dataset, sky_images, tmp_path, capsys):
    """Re-splitting a dataset after training (simulate again with dataset.split_by = 'tile') would let evaluate
    score training skies: evaluate and calibrate refuse and name both splits."""
    cfg, run_dir = gaussian_run
    resplit = copy_dataset(train_dataset, tmp_path / "resplit")
    config_path = sim_config(tmp_path, realisations__repeats=3)          # the config train_dataset was made with
    proc = subprocess.run(radsim_exe() + ["simulate", str(config_path), "--out", str(resplit), "--set",
                                          "dataset.split_by='tile'"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    capsys.readouterr()
    assert cli.main(["evaluate", str(run_dir), "--dataset", str(resplit), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("radtrain: error:") and "by tile" in err and "by realisation" in err
    assert not (tmp_path / "e").exists()
    # nor can its "test" skies calibrate the intervals predict gives: some of them trained the network
    assert cli.main(["calibrate", str(run_dir), "--dataset", str(resplit)]) == 2
    err = capsys.readouterr().err
    assert "by tile" in err and "by realisation" in err and not (run_dir / "calibration.json").exists()


def test_radtrain_errors_for_broken_shards_read_only_and_full_disks(gaussian_run, train_dataset, tmp_path,
                                                                       capsys):
    """A truncated shard, a run directory on a read-only file system, a full disk: one `radtrain: error:` line
    each, naming the file and the cause (suggesting --out where another place helps), never a traceback."""
    cfg, run_dir = gaussian_run
    broken = copy_dataset(train_dataset, tmp_path / "broken")
    from radsim.dataset.reader import Dataset
    shard = broken / "shards" / Dataset(train_dataset).shards_for("train")[0].name
    data = shard.read_bytes()
    shard.unlink()
    shard.write_bytes(data[: len(data) // 2])               # truncated (a copy: the original stays whole)
    capsys.readouterr()
    status = cli.main(["evaluate", str(run_dir), "--split", "train", "--dataset", str(broken), "--out",
                       str(tmp_path / "e")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("radtrain: error:") and shard.name in err
    assert "Traceback" not in err
    for size, opts, words in (("4m", "ro", "Read-only file system"), ("64k", "rw", "No space left on device")):
        mnt = tmp_path / f"mnt-{opts}"
        mnt.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)]).returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        try:
            if opts == "ro":
                shutil.copytree(run_dir, mnt / "run", ignore=shutil.ignore_patterns("evaluate-*"))
                subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
                argv = ["evaluate", str(mnt / "run"), "--dataset", str(train_dataset)]
            else:
                argv = ["evaluate", str(run_dir), "--dataset", str(train_dataset), "--out", str(mnt / "e")]
            status = cli.main(argv)
            err = capsys.readouterr().err
            assert status == 2 and err.startswith("radtrain: error: cannot write") and words in err, err
            assert "--out" in err
        finally:
            subprocess.run(["umount", str(mnt)])


def test_no_temporary_checkpoint_directories_are_left(gaussian_run):
    _, run_dir = gaussian_run
    left = [p for p in run_dir.rglob("*") if p.name.endswith("_temp") or p.name.startswith(".tmp-")]
    assert not left and sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-1.index", "ckpt-2.index"]


def test_plan_prices_a_training_at_the_rates_a_finished_run_measured(
        gaussian_run, horovod_run, train_dataset, train_skies_imaged_again, tmp_path, capsys):
    """radtrain plan: a finished run's history gives the seconds per training and validation tile of a rank; its
    own config planned from them is its own epochs (set-up and the first epoch's extra included), whatever is
    done is not planned again, and radsim plan's split tiles are the dataset's. Another network or config is
    refused, naming it."""
    from radtrain import plan as train_plan

    def plan(*args):
        assert cli.main(["plan", *map(str, args), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    cfg, run_dir = gaussian_run
    history, run = read_history(run_dir), read_run(run_dir)
    p = plan(cfg, "--dataset", train_dataset, "--calibration", run_dir)
    assert (p["epochs"], p["epochs_left"], p["ranks"]) == (2, 2, 1) and p["notes"] == []
    assert p["steps_per_epoch"] == run["runs"][0]["steps_per_epoch"]
    assert p["epoch_s"] == pytest.approx(history[1]["train_s"] + history[1]["validation_s"], rel=1e-6)
    setup = run["runs"][0]["setup_s"]
    assert p["wall_s"] - train_plan.LAUNCH_S == pytest.approx(
        setup + sum(h["train_s"] + h["validation_s"] for h in history), rel=1e-6)
    assert p["wall_s"] - train_plan.LAUNCH_S == pytest.approx(run["runs"][0]["wall_s"], rel=0.5)   # what it took
    # what a run already holds is not planned again; one stopped after its first epoch has one left, no tracing
    assert plan(cfg, "--dataset", train_dataset, "--calibration", run_dir, "--resume", run_dir)["wall_s"] == 0.0
    assert cli.main(["plan", str(cfg), "--dataset", str(train_dataset), "--resume", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == "nothing left: all 2 epochs are trained"
    half = tmp_path / "half"
    half.mkdir()
    (half / "run.json").write_text(json.dumps({**run, "status": "running", "epochs_done": 1}))
    one = plan(cfg, "--dataset", train_dataset, "--calibration", run_dir, "--resume", half)
    assert one["epochs_left"] == 1
    assert one["wall_s"] == pytest.approx(train_plan.LAUNCH_S + setup + p["epoch_s"])
    # radsim plan's split tiles of the dataset's config, for a dataset not yet made, are the dataset's own; the
    # dataset mixed in adds its splits' tiles
    proc = subprocess.run(radsim_exe() + ["plan", str(train_dataset.parent / "sim.toml"), "--nodes", "1", "--json"],
                          capture_output=True, text=True, check=True)
    split = json.loads(proc.stdout)["split_tiles"]
    assert split == run["dataset"]["split"]["n_tiles"]
    by_tiles = plan(cfg, "--tiles", f"{split['train']},{split['validation']}", "--calibration", run_dir)
    assert by_tiles == p
    mixed = plan(cfg, "--dataset", train_dataset, "--mix", train_skies_imaged_again, "--calibration", run_dir)
    assert mixed["train_tiles_per_rank"] > p["train_tiles_per_rank"]
    assert mixed["validation_tiles_per_rank"] == 2 * p["validation_tiles_per_rank"]
    # rates of 2 ranks, planned on 1: each rank's share doubles, and the unmodelled allreduce is said
    hvd_cfg, hvd_dir, _ = horovod_run
    two = plan(hvd_cfg, "--dataset", train_dataset, "--calibration", hvd_dir, "--ranks", "2")
    one_rank = plan(hvd_cfg, "--dataset", train_dataset, "--calibration", hvd_dir)
    assert two["notes"] == [] and one_rank["validation_tiles_per_rank"] == 2 * two["validation_tiles_per_rank"]
    assert "measured on 2 rank(s), planned on 1" in one_rank["notes"][0]
    # refused, naming the cause
    resnet = train_config(tmp_path, "resnet.toml", model__architecture="resnet")
    for args, expected in (
            ([resnet, "--dataset", train_dataset, "--calibration", run_dir], "trained seed-small, the config trains "
                                                                             "resnet"),
            ([resnet, "--dataset", train_dataset], "no built-in rate for model.architecture='resnet'"),
            ([hvd_cfg, "--dataset", train_dataset, "--resume", run_dir], "holds a run of another config"),
            ([cfg, "--calibration", run_dir], "plan needs the training tiles"),
            ([cfg, "--tiles", "10,2", "--dataset", train_dataset], "plan needs the training tiles"),
            ([cfg, "--tiles", "10,2", "--mix", train_dataset, "--calibration", run_dir], "with --tiles count them in"),
            ([cfg, "--dataset", tmp_path / "nothing"], "nothing")):
        assert cli.main(["plan", *map(str, args)]) == 2, args
        assert expected in capsys.readouterr().err, args


def test_plan_fit_arithmetic():
    """One epoch is a rank's training tiles (whole batches) and validation tiles at their rates."""
    from radtrain import plan as train_plan
    rates = {"train_s_per_tile": 0.01, "validation_s_per_tile": 0.002, "first_epoch_extra_s": 5.0, "setup_s": 3.0,
             "ranks": 1, "batch_per_rank": 32, "source": "test"}
    p = train_plan.plan_fit(1000, 200, epochs=10, batch_per_rank=32, rates=rates, ranks=2)
    assert (p["steps_per_epoch"], p["train_tiles_per_rank"], p["validation_tiles_per_rank"]) == (16, 512, 100)
    assert p["epoch_s"] == pytest.approx(5.12 + 0.2)
    assert p["wall_s"] == pytest.approx(train_plan.LAUNCH_S + 3.0 + 5.0 + 10 * 5.32)
    assert len(p["notes"]) == 1 and "2" in p["notes"][0]
    fixed = train_plan.plan_fit(1000, 200, epochs=10, batch_per_rank=16, rates=rates, steps_per_epoch=4,
                                epochs_done=7)
    assert (fixed["train_tiles_per_rank"], fixed["epochs_left"]) == (64, 3)
    assert fixed["wall_s"] == pytest.approx(train_plan.LAUNCH_S + 3.0 + 3 * (0.64 + 0.4))
    assert "batch 32 per rank, planned at 16" in fixed["notes"][0]
    with pytest.raises(train_plan.PlanError, match="ranks must be 1 or more"):
        train_plan.plan_fit(10, 2, epochs=1, batch_per_rank=1, rates=rates, ranks=0)
