"""The ``radtrain`` command line: fit, evaluate, predict (a thin shell around the modules)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from radtrain import __version__
from radtrain.errors import RadtrainError

EPILOG = """\
A study: radsim simulate CONFIG --out DATA; radtrain fit TRAIN.toml --dataset DATA --out RUN;
radtrain calibrate RUN --dataset CALIBRATION_SKIES; radtrain evaluate RUN --dataset TEST_SKIES;
radtrain predict RUN IMAGE.fits --out DIR (counts per bin with calibrated 68% and 95% intervals).
Before a long fit: radtrain plan TRAIN.toml --dataset DATA [--resume RUN] (its wall time at measured rates).
Training config: a TOML file with [data], [model] and [train] sections (every key has a default; see
configs/train-quickstart.toml and `radtrain config`); override keys with --set section.key=value.
Data-parallel: run fit under horovodrun -np N, mpirun -n N or srun (jobs/train.sh does it for you).
"""


def _rank() -> int:
    for var in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


class _Stdout(logging.StreamHandler):
    """A handler writing to whatever sys.stdout is now (so captured output in tests and notebooks works)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(verbose: bool) -> None:
    rank = _rank()
    names = ("HOROVOD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE") + (("SLURM_NTASKS",) if "SLURM_STEP_ID" in os.environ
                                                                   else ())
    size = next((os.environ[v] for v in names if os.environ.get(v, "").isdigit()), "1")
    tag = f"radtrain[rank {rank}/{size}]" if size != "1" else "radtrain"
    handler = _Stdout()
    handler.setFormatter(logging.Formatter(f"%(asctime)s {tag} %(levelname)s: %(message)s", datefmt="%H:%M:%S"))
    logger = logging.getLogger("radtrain")
    logger.handlers[:] = [handler]
    logger.propagate = False
    level = logging.DEBUG if verbose else logging.INFO if rank == 0 else logging.WARNING
    logger.setLevel(level)


def _config(args):
    from radtrain import config
    return config.load(getattr(args, "config", None), args.overrides)


def cmd_config(args) -> int:
    cfg = _config(args)
    print(f"# radtrain training config (hash {cfg.hash()[:16]})")
    print(cfg.to_toml())
    return 0


def cmd_fit(args) -> int:
    from radtrain import train
    cfg = _config(args)
    train.fit(cfg, args.dataset, args.out, overwrite=args.overwrite, mix_dirs=args.mix or ())
    return 0


def cmd_evaluate(args) -> int:
    from radtrain import evaluate
    metrics = evaluate.evaluate(args.run, split=args.split, dataset_dir=args.dataset, out=args.out)
    print(evaluate.format_metrics(metrics))
    return 0


def _count(text: str) -> int:
    """argparse type: an integer of 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def cmd_calibrate(args) -> int:
    from radtrain import evaluate, uncertainty
    result = evaluate.calibrate(args.run, args.dataset, split=args.split, shape_terms=args.shape_terms,
                                curved=args.curved, conformal=args.conformal, likelihood=args.likelihood,
                                imager_dirs=args.imager_dataset or (), imager_term=args.imager_term)
    run = evaluate.read_run(args.run)
    print(evaluate.format_calibration(result, run["dataset"]["bin_edges_jy"]))
    turning = uncertainty.turning_bins(result)
    if turning.size:
        edges = run["dataset"]["bin_edges_jy"]
        print("warning: the curved line turns inside the calibration skies' range in bins "
              + ", ".join(f"{edges[b]:.3g}-{edges[b + 1]:.3g} Jy" for b in turning)
              + ": there a higher network count does not always mean a higher calibrated count (their counts "
                "say little about those bins)")
    if args.curved and not result["curved"]:
        print(f"the line stays straight: a curved line needs {uncertainty.MIN_SKIES_CURVE} or more calibration "
              f"skies, got {result['n_skies']}")
    if args.conformal and not result["conformal"]:
        print(f"the intervals stay normal: conformal intervals need {uncertainty.MIN_SKIES_CONFORMAL} or more "
              f"calibration skies, got {result['n_skies']}")
    print(f"wrote {args.run}/{evaluate.CALIBRATION}: radtrain evaluate and predict now give per-sky intervals")
    return 0


def cmd_compare(args) -> int:
    from radtrain import compare
    if len(args.dataset) != 2:
        raise RadtrainError(f"compare reads two datasets (--dataset A --dataset B), got {len(args.dataset)}")
    result = compare.compare(args.run, *args.dataset, split=args.split, out=args.out)
    print(compare.format_change(result))
    return 0


def _split_tiles(text: str) -> tuple[int, int]:
    """argparse type: TRAIN,VALIDATION tile counts."""
    try:
        train, validation = (int(v) for v in text.split(","))
    except ValueError:
        train = validation = -1
    if train < 1 or validation < 0:
        raise argparse.ArgumentTypeError(f"expected TRAIN,VALIDATION tile counts (e.g. 4352,1024), got {text!r}")
    return train, validation


def cmd_plan(args) -> int:
    import json
    from pathlib import Path

    from radtrain import data, plan, rundir
    cfg = _config(args)
    if (args.dataset is None) == (args.tiles is None):
        raise RadtrainError("plan needs the training tiles: --dataset DIR (a made dataset) or --tiles "
                            "TRAIN,VALIDATION (e.g. from radsim plan --json's split_tiles)")
    if args.dataset is not None:
        sets = [data.open_dataset(args.dataset)] + [data.open_dataset(d) for d in args.mix or ()]
        n_train = data.check_split(sets[0], "train") + sum(ds.n_tiles("train") for ds in sets[1:])
        n_val = sum(ds.n_tiles("validation") for ds in sets)
    else:
        if args.mix:
            raise RadtrainError("--mix adds a made dataset's tiles to --dataset's; with --tiles count them in")
        n_train, n_val = args.tiles
    if args.calibration:
        run = rundir.read_run(args.calibration)
        rates = plan.rates_from_run(run, rundir.read_history(args.calibration), str(args.calibration))
        if rates["architecture"] != cfg.model.architecture:
            raise RadtrainError(f"--calibration {args.calibration} trained {rates['architecture']}, the config "
                                f"trains {cfg.model.architecture}: calibrate on a run of the same network")
    else:
        rates = plan.built_in(cfg.model.architecture)
    done = 0
    if args.resume and (Path(args.resume) / "run.json").exists():
        run = rundir.read_run(args.resume)
        if run["config_hash"] != cfg.hash():
            raise RadtrainError(f"--resume {args.resume} holds a run of another config (hash {run['config_hash'][:16]}"
                                f", this config {cfg.hash()[:16]}): radtrain fit would refuse it")
        done = plan.epochs_done(run, cfg.train.epochs, cfg.train.patience)
    p = plan.plan_fit(n_train, n_val, epochs=cfg.train.epochs, batch_per_rank=cfg.data.batch_size, rates=rates,
                      ranks=args.ranks, steps_per_epoch=cfg.train.steps_per_epoch, epochs_done=done)
    if rates["tile_size"] and args.dataset is not None and sets[0].tile_size != rates["tile_size"]:
        p["notes"].append(f"rates measured on {rates['tile_size']}-pixel tiles, the dataset's are "
                          f"{sets[0].tile_size} pixels")
    print(json.dumps(p, indent=1) if args.json else plan.format_plan(p, cfg.train.patience))
    return 0


def cmd_predict(args) -> int:
    from radtrain import predict
    result = predict.predict(args.run, args.image, args.out, force=args.force, noise_map=args.noise_map)
    print(predict.format_result(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="radtrain", description="Train a CNN to read per-bin source counts N(S) "
                                "from radsim tiles (data-parallel with Horovod), evaluate it, apply it to images.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"radtrain {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def overrides(q):
        q.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a training-config value (repeatable), e.g. --set train.epochs=5")

    q = sub.add_parser("config", help="validate a training config and print it with every default filled in")
    q.add_argument("config", nargs="?", help="TOML training config (default: the built-in defaults)")
    overrides(q)
    q.set_defaults(func=cmd_config)

    q = sub.add_parser("fit", help="train (or continue training) a network on a radsim dataset",
                       description="Train a network on the train split of a radsim dataset, validating on its "
                                   "validation split. Run it again to continue an unfinished run from its last "
                                   "checkpoint. Data-parallel under horovodrun/mpirun/srun.")
    q.add_argument("config", nargs="?", help="TOML training config (default: the built-in defaults)")
    q.add_argument("--dataset", required=True, metavar="DIR", help="radsim dataset (made by radsim simulate)")
    q.add_argument("--mix", metavar="DIR", action="append",
                   help="train also on this dataset's train split and validate also on its validation split "
                        "(repeatable): the same bins and tiles, e.g. some of the training skies imaged by another "
                        "imager, so that the network learns what the imagers share; the preprocessing statistics "
                        "come from --dataset alone")
    q.add_argument("--out", required=True, metavar="RUN", help="run directory (created; resumed when it holds "
                                                                "an unfinished run of the same config)")
    q.add_argument("--overwrite", action="store_true", help="replace whatever RUN holds")
    overrides(q)
    q.set_defaults(func=cmd_fit)

    q = sub.add_parser("plan", help="how long radtrain fit will take here, before it runs",
                       description="Price a training before it runs: the epochs left times one epoch of a rank's "
                                   "training and validation tiles, at the seconds per tile measured on a machine "
                                   "(a finished run of the same network with --calibration, or the built-in "
                                   "rates of the development machine). Every epoch of train.epochs is priced: "
                                   "early stopping can end it sooner.")
    q.add_argument("config", nargs="?", help="TOML training config (default: the built-in defaults)")
    q.add_argument("--dataset", metavar="DIR", help="the radsim dataset it will train on (made)")
    q.add_argument("--tiles", type=_split_tiles, metavar="TRAIN,VALIDATION",
                   help="or the tiles of its train and validation splits, for a dataset not yet made")
    q.add_argument("--mix", metavar="DIR", action="append", help="a dataset fit --mix will add (repeatable)")
    q.add_argument("--ranks", type=int, default=1, help="Horovod ranks (default: 1)")
    q.add_argument("--calibration", metavar="RUN", help="a finished run of the same network on the target machine "
                                                        "(its history.csv gives the seconds per tile)")
    q.add_argument("--resume", metavar="RUN", help="plan only the epochs RUN still lacks (radtrain fit --out RUN "
                                                   "would continue it); a RUN not yet made is planned in full")
    q.add_argument("--json", action="store_true", help="print the plan as JSON (seconds, tiles)")
    overrides(q)
    q.set_defaults(func=cmd_plan)

    q = sub.add_parser("evaluate", help="metrics and plots of a trained run on a split of its dataset",
                       description="Predict the tiles of a split, transform back to counts, and write "
                                   "metrics.json (MSE, residuals dy per bin per tile and per sky, interval "
                                   "coverage) and plots.")
    q.add_argument("run", help="run directory made by radtrain fit")
    q.add_argument("--split", default="test", choices=("train", "validation", "test"), help="default: test")
    q.add_argument("--dataset", metavar="DIR", help="another dataset with the same binning (default: the one "
                                                    "the run was trained on)")
    q.add_argument("--out", metavar="DIR", help="where to write (default: RUN/evaluate-SPLIT)")
    q.set_defaults(func=cmd_evaluate)

    q = sub.add_parser("calibrate", help="calibrate the per-sky intervals of a trained run on held-out skies",
                       description="Predict skies held out for calibration (neither trained, validated nor "
                                   "tested on), measure how far their summed counts fall from the truth, whole and "
                                   "in parts, and write RUN/calibration.json: the error model from which evaluate "
                                   "and predict give 68% and 95% intervals per image (radtrain.uncertainty). "
                                   "Tiles of one sky share its N(S), so per-tile errors do not add as independent.")
    q.add_argument("run", help="run directory made by radtrain fit")
    q.add_argument("--dataset", required=True, metavar="DIR", action="append",
                   help="radsim dataset of calibration skies (the same binning and tile size as the training set); "
                        "give it more than once to pool several, e.g. skies of the count shapes you expect and "
                        "skies of shapes drawn from a wider prior")
    q.add_argument("--split", default="test", choices=("train", "validation", "test"),
                   help="the split holding the calibration skies, in every dataset (default: test)")
    q.add_argument("--shape-terms", type=_count, default=0, metavar="K",
                   help="also correct each bin from the sky's scores on the first K principal components of the "
                        "calibration skies' network counts (needs 20 or more calibration skies). On pointings of "
                        "drawn shapes K=2 cut the calibrated 0.1-1 uJy bias 2-15x, but on fixed count shapes at "
                        "the edge of the calibration range its 95%% intervals covered less (81%% against 83-90%% "
                        "in the worst bin). Default 0: the per-bin line")
    q.add_argument("--curved", action="store_true",
                   help="a curved line: also a term in u^2 per bin (needs 20 or more calibration skies), for a "
                        "network whose response flattens towards the ends of its training range; the spread is "
                        "then the same for every count. See docs/results.md for what it changed")
    q.add_argument("--conformal", action="store_true",
                   help="intervals from the quantiles of the calibration skies' residuals (split-conformal, needs "
                        "20 or more calibration skies) instead of a normal spread: they cover as often as claimed "
                        "for skies drawn as the calibration skies were, whatever the residuals' distribution, so "
                        "simulate calibration skies the way the skies to be read may be. See docs/results.md")
    q.add_argument("--likelihood", action="store_true",
                   help="read the counts by fitting the count model the calibration skies were drawn from (e.g. "
                        "the seed law with S0 and alpha drawn from priors; at most 3 free parameters, 20 or more "
                        "skies) to all bins' network counts together, with intervals whose thresholds are conformal "
                        "over the calibration skies. On pointings it took the 68%% intervals on fixed test shapes "
                        "from 1-2 to 8-9 of 10 bins within 68+-8%%, their calibrated 0.1-1 uJy error from 0.19-0.27 "
                        "to 0.03-0.09, and the coverage of skies with the most suppressed faint counts from 17-29%% "
                        "to 46-61%%, but holds only for skies of that model within the skies' parameter range and "
                        "is more sensitive to the imager below 1 uJy (calibrate on skies imaged as the field was, or "
                        "give --imager-dataset). Calibrated on 576 skies imaged by the fast imager with the noise "
                        "drawn on the visibilities (radsim's imaging.noise = \"visibilities\"), its intervals held "
                        "on WSClean's images of 240 other skies within 68+-8%% and 95+-5%% in every bin for six "
                        "trainings; "
                        "an image that fits worse than every calibration sky is read by the line. See "
                        "docs/results-pointings.md")
    q.add_argument("--imager-dataset", metavar="DIR", action="append",
                   help="with --likelihood: a radsim dataset of 20 or more of the calibration skies imaged again "
                        "as the fields to be read are (the calibration dataset's config and run.seed, only the "
                        "imager changed, e.g. imaging.backend = \"wsclean\"); the likelihood then reads images of "
                        "that imager: its map of readings is shifted by those skies' mean change, its scatter "
                        "widened by the change's covariance, and its thresholds are those skies' own conformal "
                        "scores. It prints the transfer cross-validated on those skies (each read by calibrations "
                        "fitted without it: mean dy per bin of the first imager's images and of this imager's, with "
                        "standard errors). On 12 WSClean-imaged pointings 72 such skies cut the calibrated 0.1-1 uJy "
                        "error from 0.19-0.23 to 0.016-0.112. Give it more than once to pool several. See "
                        "docs/results-pointings.md")
    q.add_argument("--imager-term", choices=("shift-and-scatter", "shift"), default="shift-and-scatter",
                   help="with --imager-dataset: what the skies imaged again change. shift-and-scatter: the map's "
                        "shift, the scatter's widening and the thresholds (from those skies alone); shift: the "
                        "map's shift alone, the scatter and thresholds staying those of every calibration sky "
                        "(--dataset), for calibration images that already scatter as the fields' do (fast images "
                        "with the noise drawn on the visibilities) and too few skies imaged again for thresholds "
                        "of their own (96 pairs move a 68%% coverage by +-4.7%%, 672 skies by +-1.8%%)")
    q.set_defaults(func=cmd_calibrate)

    q = sub.add_parser("compare", help="how the run's readings of the same skies move between two datasets",
                       description="Read the same skies in two datasets (one config and seed imaged two ways: "
                                   "another imager, noise model or noise level) with a trained run and print, per "
                                   "bin, the mean change of the second's per-sky reading from the first's, in "
                                   "percent of the true count and in the seed's dy, with standard errors; written "
                                   "to RUN/compare.json. Each sky is read both ways, so its own scatter cancels.")
    q.add_argument("run", help="run directory made by radtrain fit")
    q.add_argument("--dataset", required=True, metavar="DIR", action="append",
                   help="give it twice: the dataset read first (A), then the one compared with it (B)")
    q.add_argument("--split", default="test", choices=("train", "validation", "test"), help="default: test")
    q.add_argument("--out", metavar="FILE", help="where to write the JSON (default: RUN/compare.json)")
    q.set_defaults(func=cmd_compare)

    q = sub.add_parser("predict", help="estimate N(S) of a FITS image with a trained run",
                       description="Cut a FITS image into tiles like the training set's, predict each, and sum "
                                   "to N(S) of the image with uncertainties (JSON and a plot).")
    q.add_argument("run", help="run directory made by radtrain fit")
    q.add_argument("image", help="FITS image (2-D, or 4-D with single frequency and Stokes planes)")
    q.add_argument("--out", required=True, metavar="DIR", help="output directory")
    q.add_argument("--force", action="store_true", help="predict even when pixel scale, frequency, beam or "
                                                        "units differ from the training set's")
    q.add_argument("--noise-map", metavar="FITS", help="the image's noise map (Jy/beam, same grid; radsim's "
                                                       "noise.fits): needed by runs trained with the noise input; "
                                                       "for runs trained on mosaics, tiles noisier than the "
                                                       "training set's tiles.sensitivity_factor are skipped")
    q.set_defaults(func=cmd_predict)

    q = sub.add_parser("rendezvous", help="serve Horovod's Gloo rendezvous for srun's ranks (jobs/train.sh)",
                       description="Inside a Slurm allocation: serve the rendezvous that horovodrun --gloo would, "
                                   "for ranks started by srun with HOROVOD_GLOO_RENDEZVOUS_ADDR/PORT set. Prints the "
                                   "port, then serves until killed. jobs/train.sh runs it when "
                                   "RADTRAIN_CONTROLLER=gloo.")
    q.add_argument("nodes", nargs="+", help="the job's nodes in order (scontrol show hostnames)")
    q.set_defaults(func=cmd_rendezvous)
    return p


def cmd_rendezvous(args) -> int:
    from radtrain import distributed
    if "SLURM_TASKS_PER_NODE" not in os.environ:
        raise RadtrainError("radtrain rendezvous runs inside a Slurm allocation (SLURM_TASKS_PER_NODE is not set)")
    distributed.serve_gloo_rendezvous(args.nodes)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except RadtrainError as exc:
        if _rank() == 0:
            print(f"radtrain: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("radtrain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
