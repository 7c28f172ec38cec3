"""Tables and plots of the science run (scripts/science.sh) into docs/results.md.

    python scripts/science_report.py runs/study [--doc docs/results.md] [--images docs/images]

Reads what the runs left behind (radtrain evaluate's metrics.json, radsim pofd's pofd.json, the datasets'
manifests and labels, the training histories), so every figure in the report comes from the products. The text
between the markers <!-- generated:begin --> and <!-- generated:end --> of the document is replaced; the rest
(the discussion) is kept.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radsim.dataset.metrics import plot_residuals, residual_dy  # noqa: E402
from radsim.dataset import reader

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"

#: (run directory, label, training set) of the networks trained on pointings
POINTING_NETWORKS = [("pointing-small", "pointing-small (21 skies)", "pointing-fast"),
                     ("pointing-small-42", "pointing-small (42 skies)", "pointing-fast-42"),
                     ("pointing-small-42-s2", "pointing-small (42 skies, seed 2)", "pointing-fast-42"),
                     ("pointing-small-42-s3", "pointing-small (42 skies, seed 3)", "pointing-fast-42"),
                     ("pointing-small-84", "pointing-small (84 skies)", "pointing-fast-84")]
#: the pointing networks also calibrated on the wider prior (PRIORS=1: RUN-mid)
MID_NETWORKS = ("pointing-small", "pointing-small-42", "pointing-small-84")
#: PRIORS=1: the network trained on skies drawn from the wider prior (and calibrated on it)
WIDE = ("pointing-small-wide", "pointing-small-wide (84 skies drawn from the wider prior)", "pointing-wide-84")
#: PRIORS=1: a network trained on skies drawn from a prior wider still (pointing-xwide-126: 0.15 dex in S0 and 0.1 in
#: alpha more on each side, as densely), calibrated and tested on the wider prior as pointing-small-wide is
XWIDE = ("pointing-small-xwide", "pointing-small-xwide (126 skies drawn from a prior wider than the calibration "
         "prior)", "pointing-xwide-126")
#: PRIORS=1: pointing-small-wide's training skies with 24 of them imaged again by WSClean mixed in (radtrain fit
#: --mix), calibrated and tested as pointing-small-wide is: does a network that has seen both imagers transfer?
MIX = ("pointing-small-wide-mix", "pointing-small-wide-mix (pointing-small-wide's 84 skies, 24 of them also imaged by "
       "WSClean)", "pointing-wide-84 + pointing-wide24-wsclean")
#: the test sets of the networks calibrated on the wider prior: (key suffix, evaluation, what, test set)
MID_TESTS = (("", "eval-transfer-fast", "fast-imaged pointings", "transfer-fast"),
             ("-wsclean", "eval-transfer-wsclean", "WSClean-imaged pointings", "transfer-wsclean"),
             ("-test48", "eval-pointing-test", "48 fast-imaged test pointings", "pointing-test-fast"),
             ("-mid144", "eval-pointing-mid", "144 pointings of shapes drawn from the wider prior",
              "pointing-test-mid"))
#: (key, run directory, evaluation directory, label, training set, test set)
RUNS = [
    ("fast-small", "fast-small", "eval-test", "seed-small (asinh, width input, flips)", "seed-fast", "test-fast"),
    ("fast-small-noise", "fast-small-noise", "eval-test", "seed-small + tile noise input", "seed-fast",
     "test-fast"),
    ("fast-small-linear", "fast-small-linear", "eval-test", "seed-small, no stretch (standardised pixels)",
     "seed-fast", "test-fast"),
    ("fast-small-noaug", "fast-small-noaug", "eval-test", "seed-small, no augmentation", "seed-fast", "test-fast"),
    ("fast-small-gauss", "fast-small-gauss", "eval-test", "seed-small, Gaussian likelihood loss", "seed-fast",
     "test-fast"),
    *[(f"fast-small-s{seed}", f"fast-small-s{seed}", "eval-test", f"seed-small, training seed {seed}", "seed-fast",
       "test-fast") for seed in (2, 3)],
    ("fast-large", "fast-large", "eval-test", "seed-large", "seed-fast", "test-fast"),
    ("fast-resnet", "fast-resnet", "eval-test", "resnet (residual blocks)", "seed-fast", "test-fast"),
    ("dense-small", "dense-small", "eval-test", "seed-small, dense set of varied shapes", "dense-fast",
     "test-fast"),
    ("transfer-fast", "fast-small", "eval-transfer-fast", "seed-small on fast-imaged pointings", "seed-fast",
     "transfer-fast"),
    ("transfer-wsclean", "fast-small", "eval-transfer-wsclean", "seed-small on WSClean-imaged pointings",
     "seed-fast", "transfer-wsclean"),
    ("pointing-small", "pointing-small", "eval-transfer-fast", "pointing-small (21 skies) on fast-imaged pointings",
     "pointing-fast", "transfer-fast"),
    ("pointing-small-wsclean", "pointing-small", "eval-transfer-wsclean",
     "pointing-small (21 skies) on WSClean-imaged pointings", "pointing-fast", "transfer-wsclean"),
    ("pointing-small-42", "pointing-small-42", "eval-transfer-fast",
     "pointing-small (42 skies) on fast-imaged pointings", "pointing-fast-42", "transfer-fast"),
    ("pointing-small-42-wsclean", "pointing-small-42", "eval-transfer-wsclean",
     "pointing-small (42 skies) on WSClean-imaged pointings", "pointing-fast-42", "transfer-wsclean"),
    ("pointing-small-84", "pointing-small-84", "eval-transfer-fast",
     "pointing-small (84 skies) on fast-imaged pointings", "pointing-fast-84", "transfer-fast"),
    ("pointing-small-84-wsclean", "pointing-small-84", "eval-transfer-wsclean",
     "pointing-small (84 skies) on WSClean-imaged pointings", "pointing-fast-84", "transfer-wsclean"),
    # WTERM=1: the 84-sky network on the test skies imaged with the fast imager's w-term, and the same network
    # trained and calibrated on skies imaged with it
    ("pointing-small-84-fastw", "pointing-small-84", "eval-transfer-fast-w",
     "pointing-small (84 skies) on w-term fast-imaged pointings", "pointing-fast-84", "transfer-fast-w"),
    ("pointing-small-84-w", "pointing-small-84-w", "eval-transfer-fast-w",
     "pointing-small-w (84 w-term skies) on w-term fast-imaged pointings", "pointing-fast-84-w", "transfer-fast-w"),
    ("pointing-small-84-w-wsclean", "pointing-small-84-w", "eval-transfer-wsclean",
     "pointing-small-w (84 w-term skies) on WSClean-imaged pointings", "pointing-fast-84-w", "transfer-wsclean"),
    ("pointing-small-84-w-flat", "pointing-small-84-w", "eval-transfer-fast",
     "pointing-small-w (84 w-term skies) on flat-sky fast-imaged pointings", "pointing-fast-84-w", "transfer-fast"),
    # and 24 more test skies imaged by both (transfer-24-*)
    *[(f"{run}-24{key}", run, f"eval-transfer-24-{imager}", f"{label} on 24 more {name}-imaged pointings", train,
       f"transfer-24-{imager}")
      for run, label, train in (("pointing-small-84", "pointing-small (84 skies)", "pointing-fast-84"),
                                ("pointing-small-84-w", "pointing-small-w (84 w-term skies)", "pointing-fast-84-w"))
      for key, imager, name in (("-fastw", "fast-w", "w-term fast"), ("-wsclean", "wsclean", "WSClean"))],
    *[(f"pointing-small-42-s{seed}{key}", f"pointing-small-42-s{seed}", f"eval-transfer-{imager}",
       f"pointing-small (42 skies, training seed {seed}) on {name}-imaged pointings", "pointing-fast-42",
       f"transfer-{imager}")
      for seed in (2, 3) for key, imager, name in (("", "fast", "fast"), ("-wsclean", "wsclean", "WSClean"))],
    # the pointing networks on 48 test pointings (the 12 test pairs 4 times) and on 144 whose (S0, alpha) are
    # drawn per sky: coverage that rests on 48 skies of 12 shapes, and on 144 shapes
    *[(f"{run}{key}", run, evaluation, f"{label} on {what}", train, test)
      for key, evaluation, what, test in (
          ("-test48", "eval-pointing-test", "48 fast-imaged test pointings", "pointing-test-fast"),
          ("-random144", "eval-pointing-random", "144 fast-imaged pointings of drawn shapes", "pointing-test-random"))
      for run, label, train in POINTING_NETWORKS],
    # PRIORS=1: the 21-, 42- and 84-sky networks calibrated on skies drawn from a wider prior (pointing-calib-mid),
    # tested on the fixed test pairs and on 144 skies drawn from that prior
    *[(f"{run}-mid{key}", f"{run}-mid", evaluation, f"{label}, calibrated on the wider prior, on {what}", train,
       test)
      for key, evaluation, what, test in MID_TESTS
      for run, label, train in POINTING_NETWORKS if run in MID_NETWORKS],
    # PRIORS=1: the network trained on skies drawn from the wider prior, calibrated and tested as the -mid ones
    *[(f"{WIDE[0]}{key}", WIDE[0], evaluation, f"{WIDE[1]} on {what}", WIDE[2], test)
      for key, evaluation, what, test in MID_TESTS + (
          ("-fastw", "eval-transfer-fast-w", "w-term fast-imaged pointings", "transfer-fast-w"),
          ("-24-fastw", "eval-transfer-24-fast-w", "24 more w-term fast-imaged pointings", "transfer-24-fast-w"),
          ("-24-wsclean", "eval-transfer-24-wsclean", "24 more WSClean-imaged pointings", "transfer-24-wsclean"))],
]
#: PRIORS=1: the network trained on the wider-still prior, calibrated and tested as pointing-small-wide, and both
#: with a curved line and conformal intervals on the wider prior (RUN-conformal): do the intervals hold at the edges
#: of the prior they are calibrated on when the network has learnt shapes beyond them? And both read by the count
#: model's likelihood over the calibration skies' (S0, alpha) (RUN-likelihood): does reading all bins together?
RUNS += [(f"{run}{suffix}{key}", f"{run}{suffix}", evaluation, f"{label}{how} on {what}", train, test)
         for run, label, train in (WIDE, XWIDE, MIX)
         for suffix, how in (("", ""), ("-conformal", ", curved line, conformal intervals,"),
                             ("-likelihood", ", the count model's likelihood (radtrain calibrate --likelihood),"))
         if (run, suffix) != (WIDE[0], "")
         for key, evaluation, what, test in MID_TESTS]
#: PRIORS=1: both read by the likelihood calibrated for WSClean's images from 48 of the calibration skies imaged
#: again by WSClean (RUN-likelihood-for-wsclean, radtrain calibrate --imager-dataset), tested on WSClean's images
RUNS += [(f"{run}-likelihood-for-wsclean{key}", f"{run}-likelihood-for-wsclean", evaluation,
          f"{label}, the count model's likelihood calibrated for WSClean's images (radtrain calibrate --likelihood "
          f"--imager-dataset), on {what}", train, test)
         for run, label, train in (WIDE, XWIDE, MIX)
         for key, evaluation, what, test in (
             ("", "eval-transfer-wsclean", "WSClean-imaged pointings", "transfer-wsclean"),
             ("-24", "eval-transfer-24-wsclean", "24 more WSClean-imaged pointings", "transfer-24-wsclean"),
             ("-24b", "eval-transfer-24b-wsclean", "24 more WSClean-imaged pointings again",
              "transfer-24b-wsclean"))]
#: PRIORS=1: and RUN-likelihood on the same 48 more test skies imaged by the fast imager (flat sky)
RUNS += [(f"{run}-likelihood{key}", f"{run}-likelihood", evaluation,
          f"{label}, the count model's likelihood (radtrain calibrate --likelihood), on {what}", train, test)
         for run, label, train in (WIDE, XWIDE, MIX)
         for key, evaluation, what, test in (
             ("-24", "eval-transfer-24-fast", "24 more fast-imaged pointings", "transfer-24-fast"),
             ("-24b", "eval-transfer-24b-fast", "24 more fast-imaged pointings again", "transfer-24b-fast"))]
#: PRIORS=1: both likelihoods on the first 24 of pointing-test-mid's skies (shapes drawn from the calibration
#: skies' prior), imaged by the fast imager and again by WSClean (pointing-test-mid24, -wsclean), and 24 more
#: (pointing-test-mid24b, -wsclean), and 24 more again (pointing-test-mid24c, -wsclean)
#: (key suffix, calibration suffix, evaluation, how it was calibrated, imager, test set)
MID_DRAWN_TESTS = (
    ("-mid24", "", "eval-pointing-mid24", " (radtrain calibrate --likelihood)", "fast", "pointing-test-mid24"),
    ("-for-wsclean-mid24", "-for-wsclean", "eval-pointing-mid24-wsclean",
     " calibrated for WSClean's images (radtrain calibrate --likelihood --imager-dataset)", "WSClean",
     "pointing-test-mid24-wsclean"),
    ("-mid24b", "", "eval-pointing-mid24b", " (radtrain calibrate --likelihood)", "more fast", "pointing-test-mid24b"),
    ("-for-wsclean-mid24b", "-for-wsclean", "eval-pointing-mid24b-wsclean",
     " calibrated for WSClean's images (radtrain calibrate --likelihood --imager-dataset)", "more WSClean",
     "pointing-test-mid24b-wsclean"),
    ("-mid24c", "", "eval-pointing-mid24c", " (radtrain calibrate --likelihood)", "yet more fast",
     "pointing-test-mid24c"),
    ("-for-wsclean-mid24c", "-for-wsclean", "eval-pointing-mid24c-wsclean",
     " calibrated for WSClean's images (radtrain calibrate --likelihood --imager-dataset)", "yet more WSClean",
     "pointing-test-mid24c-wsclean"),
    # the fast images read by the likelihood calibrated on the for-WSClean calibration's skies, without
    # --imager-dataset (RUN-likelihood-for-fast): against RUN-likelihood-for-wsclean only the imager differs
    *[(f"-for-fast{key}", "-for-fast", evaluation, " calibrated on the same skies for the fast imager's images "
       "(radtrain calibrate --likelihood, the for-WSClean calibration's skies)", imager, test)
      for key, evaluation, imager, test in (("-mid24", "eval-pointing-mid24", "fast", "pointing-test-mid24"),
                                            ("-mid24b", "eval-pointing-mid24b", "more fast", "pointing-test-mid24b"),
                                            ("-mid24c", "eval-pointing-mid24c", "yet more fast",
                                             "pointing-test-mid24c"))],
    # and both once more with the fast images of the skies made by both imagers (calibration and test) carrying
    # WSClean's noise (imaging.noise = "visibilities"; RUN-likelihood-shared-for-*): one noise realisation per sky
    *[entry for key, imager in (("-mid24", ""), ("-mid24b", "more "), ("-mid24c", "yet more "))
      for entry in (
          (f"-shared-for-wsclean{key}", "-shared-for-wsclean", f"eval-pointing{key}-wsclean",
           " calibrated for WSClean's images, the fast images with WSClean's noise", f"{imager}WSClean",
           f"pointing-test{key}-wsclean"),
          (f"-shared-for-fast{key}", "-shared-for-fast", f"eval-pointing{key}",
           " calibrated on the same skies for the fast imager's images, the fast images with WSClean's noise",
           f"{imager}fast (WSClean's noise)", f"pointing-test{key}-shared"))])


#: the drawn test sets pooled sky by sky: their key suffixes, the first 24, 48 and all 72 skies
DRAWN_POOLS = tuple((24 * n, tuple(key for key, how, *_ in MID_DRAWN_TESTS if not how)[:n]) for n in (1, 2, 3))
#: and their keys on the fast images read by RUN-likelihood-for-fast (the for-WSClean calibration's skies)
SAME_SKY_POOLS = tuple((skies, tuple(f"-for-fast{key}" for key in keys)) for skies, keys in DRAWN_POOLS)
#: like for like: (fast calibration's key prefix, WSClean calibration's, what it is) on the test skies of drawn shapes;
#: the second with one noise realisation per sky (the fast images carry WSClean's noise)
LIKE_FOR_LIKE = (("-for-fast", "-for-wsclean", ""),
                 ("-shared-for-fast", "-shared-for-wsclean", ", one noise realisation per sky (the fast images with "
                                                             "WSClean's noise)"))


def drawn_runs(run: str, label: str, train: str) -> list[tuple]:
    """The RUNS entries of one network's likelihood runs (for the fast imager, for WSClean and for the fast imager on
    the for-WSClean calibration's skies) on the test sets of drawn shapes (MID_DRAWN_TESTS)."""
    return [(f"{run}-likelihood{key}", f"{run}-likelihood{how}", evaluation,
             f"{label}, the count model's likelihood{what}, on 24 {imager}-imaged pointings of shapes drawn from the "
             "wider prior", train, test)
            for key, how, evaluation, what, imager, test in MID_DRAWN_TESTS]


RUNS += [entry for network in (WIDE, XWIDE, MIX) for entry in drawn_runs(*network)]
#: PRIORS=1: pointing-small-wide and pointing-small-wide-mix trained twice more (training seeds 2 and 3), read by
#: the likelihood calibrated for the fast imager and for WSClean's images: two trainings of one network differed by
#: as much as the mix changed the transfer, so the two are compared over three trainings each
SEEDS = (2, 3)
SEED_NETWORKS = [(f"{run}-s{seed}", f"{label}, training seed {seed}", train)
                 for run, label, train in (WIDE, MIX) for seed in SEEDS]
RUNS += [entry for run, label, train in SEED_NETWORKS
         for entry in [(f"{run}{suffix}{key}", f"{run}{suffix}", evaluation,
                        f"{label}, the count model's likelihood{how}, on {what}", train, test)
                       for suffix, key, how, evaluation, what, test in (
             ("-likelihood", "", " (radtrain calibrate --likelihood)", "eval-transfer-fast", "fast-imaged pointings",
              "transfer-fast"),
             ("-likelihood", "-wsclean", " (radtrain calibrate --likelihood)", "eval-transfer-wsclean",
              "WSClean-imaged pointings", "transfer-wsclean"),
             ("-likelihood-for-wsclean", "", " calibrated for WSClean's images (radtrain calibrate --likelihood "
              "--imager-dataset)", "eval-transfer-wsclean", "WSClean-imaged pointings", "transfer-wsclean"),
             # the 24 more transfer skies
             ("-likelihood", "-24", " (radtrain calibrate --likelihood)", "eval-transfer-24-fast",
              "24 more fast-imaged pointings", "transfer-24-fast"),
             ("-likelihood-for-wsclean", "-24", " calibrated for WSClean's images (radtrain calibrate --likelihood "
              "--imager-dataset)", "eval-transfer-24-wsclean", "24 more WSClean-imaged pointings",
              "transfer-24-wsclean"))]
         + drawn_runs(run, label, train)]       # and the test skies of drawn shapes, as the seed-1 runs
#: the transfer sets pooled sky by sky: (skies, the key suffixes of transfer-*, transfer-24-* and transfer-24b-*)
TRANSFER_PARTS = ((36, ("", "-24")), (60, ("", "-24", "-24b")))
#: PRIORS=1: the likelihood runs on all 36 and all 60 transfer pointings (the 12 test pairs 3 and 5 times: transfer-*,
#: transfer-24-* and transfer-24b-*), pooled sky by sky: (key, the keys pooled, label, test sets); RUN-likelihood on
#: the fast imager's images, RUN-likelihood-for-wsclean on WSClean's
TRANSFER_POOLS = [(f"{run}{suffix}-{n}", tuple(f"{run}{suffix}{part}" for part in parts),
                   f"{label}, {how}, on all {n} {name}-imaged transfer pointings",
                   " + ".join(f"transfer{part}-{imager}" for part in parts))
                  for run, label, _ in (WIDE, XWIDE, MIX)
                  for suffix, how, imager, name in (
                      ("-likelihood", "the count model's likelihood", "fast", "fast"),
                      ("-likelihood-for-wsclean", "the count model's likelihood calibrated for WSClean's images",
                       "wsclean", "WSClean"))
                  for n, parts in TRANSFER_PARTS]
#: the test sets of a pointing network's calibration variants: (key suffix, evaluation, what, test set)
POINTING_VARIANT_TESTS = (
    ("", "eval-transfer-fast", "fast-imaged pointings", "transfer-fast"),
    ("-wsclean", "eval-transfer-wsclean", "WSClean-imaged pointings", "transfer-wsclean"),
    ("-test48", "eval-pointing-test", "48 fast-imaged test pointings", "pointing-test-fast"),
    ("-random144", "eval-pointing-random", "144 fast-imaged pointings of drawn shapes", "pointing-test-random"))
#: and the 84-sky network's on the w-term test skies, for the transfer
W_TERM_TESTS = (
    ("-fastw", "eval-transfer-fast-w", "w-term fast-imaged pointings", "transfer-fast-w"),
    ("-24-fastw", "eval-transfer-24-fast-w", "24 more w-term fast-imaged pointings", "transfer-24-fast-w"),
    ("-24-wsclean", "eval-transfer-24-wsclean", "24 more WSClean-imaged pointings", "transfer-24-wsclean"))
#: PRIORS=1: the flat-sky pointing networks with a curved calibration line (`radtrain calibrate --curved`) on their
#: own calibration skies (RUN-curved), and with conformal intervals on top of it (`--curved --conformal`,
#: RUN-conformal), tested as the networks are
RUNS += [(f"{run}{suffix}{key}", f"{run}{suffix}", evaluation, f"{label}, {how}, on {what}", train, test)
         for suffix, how in (("-curved", "curved calibration line"),
                             ("-conformal", "curved line, conformal intervals"))
         for run, label, train in POINTING_NETWORKS
         for key, evaluation, what, test in POINTING_VARIANT_TESTS
         + (W_TERM_TESTS if run == "pointing-small-84" and suffix == "-curved" else ())]
#: PRIORS=1: seed-small and its two other training seeds calibrated once more, on 96 mosaics of count shapes drawn
#: from the training box (calib-random-fast) instead of the 24 listed ones, and on both together (RUN-union)
DRAWN = ("fast-small", "fast-small-s2", "fast-small-s3")
RUNS += [(f"{key}{suffix}", f"{name}{suffix}", evaluation, f"{label}, {what}", train, test)
         for suffix, what in (("-drawn", "calibrated on 96 mosaics of drawn shapes"),
                              ("-union", "calibrated on the 24 listed and 96 drawn mosaics"))
         for key, name, evaluation, label, train, test in list(RUNS)
         if name in DRAWN and evaluation == "eval-test"]
#: PRIORS=1: every mosaic network with a curved calibration line on its own 24 calibration mosaics (RUN-curved)
RUNS += [(f"{key}-curved", f"{name}-curved", evaluation, f"{label}, curved calibration line", train, test)
         for key, name, evaluation, label, train, test in list(RUNS)
         if evaluation == "eval-test" and not name.endswith(("-drawn", "-union"))]
#: PRIORS=1: every mosaic network with a curved line and conformal intervals, calibrated on the 96 mosaics of drawn
#: shapes (RUN-conformal)
RUNS += [(f"{key}-conformal", f"{name}-conformal", evaluation,
          f"{label}, curved line, conformal intervals, calibrated on 96 mosaics of drawn shapes", train, test)
         for key, name, evaluation, label, train, test in list(RUNS)
         if evaluation == "eval-test" and not name.endswith(("-drawn", "-union", "-curved"))
         and not name.startswith("pointing-")]
#: PART=wide: seed-small trained on 42 mosaics whose (S0, alpha) are drawn from a prior wider than the training
#: pairs' box (wide-fast-42), calibrated on 48 mosaics drawn from it (calib-mid-fast) with a straight line and normal
#: intervals, and as RUN-conformal with a curved line and conformal intervals, and as RUN-96-conformal so on 96
#: (calib-mid-fast and calib-mid2-fast); tested on the fixed test pairs (and below on the 24 more and on the
#: mosaics drawn from the wider prior)
WIDE_MOSAIC = ("wide-small", "seed-small on 42 mosaics drawn from the wider prior", "wide-fast-42")
RUNS += [(f"{WIDE_MOSAIC[0]}{suffix}", f"{WIDE_MOSAIC[0]}{suffix}", "eval-test", f"{WIDE_MOSAIC[1]}{how}",
          WIDE_MOSAIC[2], "test-fast")
         for suffix, how in (("", ", calibrated on 48 drawn from it"),
                             ("-conformal", ", curved line, conformal intervals, calibrated on 48 drawn from it"),
                             ("-96-conformal", ", curved line, conformal intervals, calibrated on 96 drawn from it"))]
#: calibration variants of a trained network (a copy of it calibrated once more): goal and coverage rows, no per-bin
#: tables, no training history
VARIANTS = ("-mid", "-drawn", "-union", "-curved", "-conformal", "-likelihood", "-likelihood-for-wsclean",
            "-likelihood-for-fast", "-likelihood-shared-for-wsclean", "-likelihood-shared-for-fast")
#: the mosaic networks also on 24 more test mosaics (the 12 test pairs twice more) and on 48 mosaics of count shapes
#: drawn from the training box: (key suffix, evaluation directory, what, test set); goal and coverage rows, no
#: per-bin tables
MORE_MOSAICS = (("-24", "eval-test-24", "24 more test mosaics", "test-24-fast"),
                ("-random48", "eval-test-random", "48 mosaics of drawn shapes", "test-random-fast"),
                ("-mid48", "eval-test-mid", "48 mosaics of shapes drawn from the wider prior", "test-mid-fast"),
                ("-mid2", "eval-test-mid2", "48 more mosaics of shapes drawn from the wider prior", "test-mid2-fast"))
RUNS += [(key + suffix, name, evaluation, f"{label}, on {what}", train, more)
         for key, name, first_evaluation, label, train, _ in list(RUNS) if first_evaluation == "eval-test"
         for suffix, evaluation, what, more in MORE_MOSAICS]
EXTRA_TESTS = {more for _, _, _, more in MORE_MOSAICS}

#: (network, its key on fast-imaged pointings, on WSClean-imaged ones): the transfer table
TRANSFER = [("seed-small, trained on EMU mosaics (seed-fast)", "transfer-fast", "transfer-wsclean"),
            ("pointing-small, trained on fast-imaged pointings (pointing-fast, 21 skies)", "pointing-small",
             "pointing-small-wsclean"),
            ("pointing-small, 42 training skies", "pointing-small-42", "pointing-small-42-wsclean"),
            ("pointing-small, 84 training skies", "pointing-small-84", "pointing-small-84-wsclean"),
            ("pointing-small, 84 training skies; fast = with the w-term", "pointing-small-84-fastw",
             "pointing-small-84-wsclean"),
            ("pointing-small-w, 84 training skies imaged with the w-term, calibrated on such skies; fast = with "
             "the w-term", "pointing-small-84-w", "pointing-small-84-w-wsclean"),
            ("pointing-small, 84 training skies, 24 more test skies; fast = with the w-term",
             "pointing-small-84-24-fastw", "pointing-small-84-24-wsclean"),
            ("pointing-small-w, 84 w-term training skies, 24 more test skies; fast = with the w-term",
             "pointing-small-84-w-24-fastw", "pointing-small-84-w-24-wsclean"),
            *[(f"pointing-small, 42 training skies, training seed {seed}", f"pointing-small-42-s{seed}",
               f"pointing-small-42-s{seed}-wsclean") for seed in (2, 3)],
            ("pointing-small-wide, 84 training skies drawn from the wider prior, calibrated on it", WIDE[0],
             f"{WIDE[0]}-wsclean"),
            ("pointing-small-wide, 84 training skies drawn from the wider prior; fast = with the w-term",
             f"{WIDE[0]}-fastw", f"{WIDE[0]}-wsclean"),
            *[(f"pointing-small, {n} training skies, curved calibration line", f"{run}-curved",
               f"{run}-curved-wsclean") for n, run in (("21", "pointing-small"), ("42", "pointing-small-42"),
                                                       ("84", "pointing-small-84"))],
            ("pointing-small, 84 training skies, curved calibration line; fast = with the w-term",
             "pointing-small-84-curved-fastw", "pointing-small-84-curved-wsclean"),
            # the count model's likelihood, calibrated on fast-imaged skies for both; and for WSClean's images
            # calibrated on some of those skies imaged again by WSClean (RUN-likelihood-for-wsclean); and so on 24
            # test skies of shapes drawn as the calibration skies' were (pointing-test-mid24 and its WSClean images)
            *[(f"{label}, the count model's likelihood{how}", f"{run}-likelihood{test}",
               f"{run}-likelihood{wsclean}{test}")
              for run, label in ((WIDE[0], "pointing-small-wide, 84 training skies drawn from the wider prior"),
                                 (XWIDE[0], "pointing-small-xwide, 126 training skies drawn from a wider prior"),
                                 (MIX[0], "pointing-small-wide-mix, pointing-small-wide's 84 training skies, 24 also "
                                          "imaged by WSClean"))
              for how, wsclean, test in (
                  ("", "-wsclean", ""),
                  ("; WSClean = calibrated for WSClean's images (calibration skies imaged again by it)",
                   "-for-wsclean", ""),
                  (", 24 test skies of drawn shapes; WSClean = calibrated for WSClean's images", "-for-wsclean",
                   "-mid24"),
                  *[(f", all {n} test skies; WSClean = calibrated for WSClean's images", "-for-wsclean", f"-{n}")
                    for n, _ in TRANSFER_PARTS])]]

#: the two networks trained with more than one seed, as the transfer rows name them
SEED_LABELS = ((WIDE[0], "pointing-small-wide, 84 training skies drawn from the wider prior"),
               (MIX[0], "pointing-small-wide-mix, pointing-small-wide's 84 training skies, 24 also imaged by WSClean"))
#: and pointing-small-wide's network and seeds trained on the same skies by the mended fast imager (science.sh
#: MENDED=1: 9 x 9 w-term nodes, WSClean's last-major-cycle rule and noise draw), calibrated on its images alone
MENDED_LABELS = (("pointing-small-wide-mended", "pointing-small-wide-mended, pointing-small-wide's 84 training skies "
                  "by the mended fast imager"),)
#: and so by the fast imager with the exact major cycle (science.sh MENDED=exact: WSClean's major cycle, pass rule and
#: noise draw), read against WSClean's images restored without wrap-around (SET-wsclean-linear)
EXACT_LABELS = (("pointing-small-wide-exact", "pointing-small-wide-exact, pointing-small-wide's 84 training skies "
                 "by the fast imager with the exact major cycle"),)
TRANSFER += [(f"{label}, training seed {seed}, the count model's likelihood{how}", f"{run}-s{seed}-likelihood{test}",
              f"{run}-s{seed}-likelihood{wsclean}{test}")
             for run, label in SEED_LABELS for seed in SEEDS
             for how, wsclean, test in (
                 ("", "-wsclean", ""),
                 ("; WSClean = calibrated for WSClean's images (calibration skies imaged again by it)", "-for-wsclean",
                  ""),
                 (", 24 test skies of drawn shapes; WSClean = calibrated for WSClean's images", "-for-wsclean",
                  "-mid24"))]
#: (network, per training seed the keys of its evaluations on fast-imaged pointings, pooled sky by sky, and on
#: WSClean-imaged ones): transfer rows of the counts of the network's three trainings averaged sky by sky (an
#: ensemble of them), on the 12 transfer skies, on all 36 (the 12 and the 24 more), and on the 24, 48 and all 72 of
#: drawn shapes
SEED_AVERAGES = [(f"{label}, counts averaged over training seeds 1-3, the count model's likelihood{how}",
                  tuple(tuple(f"{net}-likelihood{part}" for part in parts)
                        for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])),
                  tuple(tuple(f"{net}-likelihood{wsclean}{part}" for part in parts)
                        for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])))
                 for run, label in SEED_LABELS
                 for how, wsclean, parts in (
                     ("", "-wsclean", ("",)),
                     ("; WSClean = calibrated for WSClean's images", "-for-wsclean", ("",)),
                     ("; WSClean = calibrated for WSClean's images, all 36 test skies", "-for-wsclean", ("", "-24")),
                     *[(f"; WSClean = calibrated for WSClean's images, {skies} test skies of drawn shapes",
                        "-for-wsclean", parts) for skies, parts in DRAWN_POOLS])] + [
    (f"{label}, counts averaged over training seeds 1-3, the count model's likelihood; like for like: fast = "
     f"calibrated on the same skies as WSClean, {skies} test skies of drawn shapes",
     tuple(tuple(f"{net}-likelihood{part}" for part in fast) for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])),
     tuple(tuple(f"{net}-likelihood-for-wsclean{part}" for part in parts)
           for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])))
    for run, label in SEED_LABELS for (skies, parts), (_, fast) in zip(DRAWN_POOLS, SAME_SKY_POOLS)] + [
    (f"{label}, counts averaged over training seeds 1-3, the count model's likelihood; like for like{what}, "
     f"{DRAWN_POOLS[-1][0]} test skies of drawn shapes",
     tuple(tuple(f"{net}-likelihood{fast}{part}" for part in DRAWN_POOLS[-1][1])
           for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])),
     tuple(tuple(f"{net}-likelihood{wsclean}{part}" for part in DRAWN_POOLS[-1][1])
           for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])))
    for run, label in SEED_LABELS for fast, wsclean, what in LIKE_FOR_LIKE[1:]]
#: (network, its keys on fast-imaged pointings, on WSClean-imaged ones): transfer rows over the test skies of
#: several sets pooled sky by sky (the 12 test skies and the 24 more, both with the fast imager's w-term)
POOLED = [("pointing-small, 84 training skies, all 36 test skies; fast = with the w-term",
           ("pointing-small-84-fastw", "pointing-small-84-24-fastw"),
           ("pointing-small-84-wsclean", "pointing-small-84-24-wsclean")),
          ("pointing-small-w, 84 w-term training skies, all 36 test skies; fast = with the w-term",
           ("pointing-small-84-w", "pointing-small-84-w-24-fastw"),
           ("pointing-small-84-w-wsclean", "pointing-small-84-w-24-wsclean")),
          ("pointing-small-wide, 84 training skies drawn from the wider prior, all 36 test skies; fast = with the "
           "w-term", (f"{WIDE[0]}-fastw", f"{WIDE[0]}-24-fastw"), (f"{WIDE[0]}-wsclean", f"{WIDE[0]}-24-wsclean")),
          ("pointing-small, 84 training skies, curved calibration line, all 36 test skies; fast = with the w-term",
           ("pointing-small-84-curved-fastw", "pointing-small-84-curved-24-fastw"),
           ("pointing-small-84-curved-wsclean", "pointing-small-84-curved-24-wsclean")),
          # each training of the two networks trained with three seeds, on all 36 transfer skies and on the 48 and
          # the 72 of drawn shapes
          *[(f"{label}, training seed {seed}, the count model's likelihood, all 36 test skies; WSClean = calibrated "
             "for WSClean's images", (f"{run}-s{seed}-likelihood", f"{run}-s{seed}-likelihood-24"),
             (f"{run}-s{seed}-likelihood-for-wsclean", f"{run}-s{seed}-likelihood-for-wsclean-24"))
            for run, label in SEED_LABELS for seed in SEEDS],
          *[(f"{label}{', training seed ' + str(seed) if seed > 1 else ''}, the count model's likelihood, {skies} "
             "test skies of drawn shapes; WSClean = calibrated for WSClean's images",
             tuple(f"{net}-likelihood{part}" for part in parts),
             tuple(f"{net}-likelihood-for-wsclean{part}" for part in parts))
            for skies, parts in DRAWN_POOLS[1:]
            for run, label in SEED_LABELS for seed in (1, *SEEDS) for net in [run if seed == 1 else f"{run}-s{seed}"]],
          # and like for like, on all 72: fast read by the calibration on the for-WSClean calibration's skies
          *[(f"{label}{', training seed ' + str(seed) if seed > 1 else ''}, the count model's likelihood, {skies} "
             "test skies of drawn shapes; like for like: fast = calibrated on the same skies as WSClean",
             tuple(f"{net}-likelihood{part}" for part in fast),
             tuple(f"{net}-likelihood-for-wsclean{part}" for part in parts))
            for (skies, parts), (_, fast) in zip(DRAWN_POOLS[2:], SAME_SKY_POOLS[2:])
            for run, label in SEED_LABELS for seed in (1, *SEEDS) for net in [run if seed == 1 else f"{run}-s{seed}"]],
          # and so with one noise realisation per sky
          *[(f"{label}{', training seed ' + str(seed) if seed > 1 else ''}, the count model's likelihood, "
             f"{DRAWN_POOLS[-1][0]} test skies of drawn shapes; like for like{what}",
             tuple(f"{net}-likelihood{fast}{part}" for part in DRAWN_POOLS[-1][1]),
             tuple(f"{net}-likelihood{wsclean}{part}" for part in DRAWN_POOLS[-1][1]))
            for fast, wsclean, what in LIKE_FOR_LIKE[1:]
            for run, label in SEED_LABELS for seed in (1, *SEEDS) for net in [run if seed == 1 else f"{run}-s{seed}"]]]


#: PRIORS=1: the one-noise calibrations on the 12 fixed test pairs and their 48 repeats (transfer-wsclean, -24-wsclean,
#: -24b-wsclean, and transfer-shared, -24-shared, -24b-shared: the fast images with WSClean's noise), each training
#: pooled over the 36 skies of the first two sets and over all 60, and the three trainings averaged sky by sky
SHARED_TRANSFER = (("", "the 12 fixed test pairs"), ("-24", "their 24 repeats"), ("-24b", "their 24 repeats again"))
SHARED_TRANSFER_POOLS = ((36, ("", "-24")), (60, ("", "-24", "-24b")))
RUNS += [(f"{net}-likelihood-shared-for-{imager}-transfer{part}", f"{net}-likelihood-shared-for-{imager}",
          f"eval-transfer{part}-{'wsclean' if imager == 'wsclean' else 'shared'}",
          f"{label}, the count model's likelihood calibrated {how}, on {what}", train,
          f"transfer{part}-{'wsclean' if imager == 'wsclean' else 'shared'}")
         for net, label, train in (WIDE, MIX, *SEED_NETWORKS)
         for imager, how in (("fast", "for the fast images with WSClean's noise"),
                             ("wsclean", "for WSClean's images, one noise realisation per sky"))
         for part, what in SHARED_TRANSFER]
POOLED += [(f"{label}{', training seed ' + str(seed) if seed > 1 else ''}, the count model's likelihood, all {skies} "
            f"fixed-pair test skies; like for like{LIKE_FOR_LIKE[1][2]}",
            tuple(f"{net}-likelihood-shared-for-fast-transfer{part}" for part in parts),
            tuple(f"{net}-likelihood-shared-for-wsclean-transfer{part}" for part in parts))
           for skies, parts in SHARED_TRANSFER_POOLS
           for run, label in SEED_LABELS for seed in (1, *SEEDS) for net in [run if seed == 1 else f"{run}-s{seed}"]]
SEED_AVERAGES += [(f"{label}, counts averaged over training seeds 1-3, the count model's likelihood; like for "
                   f"like{LIKE_FOR_LIKE[1][2]}, all {skies} fixed-pair test skies",
                   tuple(tuple(f"{net}-likelihood-shared-for-fast-transfer{part}" for part in parts)
                         for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])),
                   tuple(tuple(f"{net}-likelihood-shared-for-wsclean-transfer{part}" for part in parts)
                         for net in (run, *[f"{run}-s{seed}" for seed in SEEDS])))
                  for skies, parts in SHARED_TRANSFER_POOLS for run, label in SEED_LABELS]


def calibration_sets(run_dir: Path) -> list[str]:
    """The directory names of the skies a run was calibrated on (one or more datasets), as `radtrain calibrate`
    recorded them in the run's calibration.json; none for a run without one."""
    path = run_dir / "calibration.json"
    if not path.exists():
        return []
    c = json.loads(path.read_text())
    sources = c.get("sources") or ([{"dataset": c["dataset"]}] if c.get("dataset") else [])
    return [Path(src["dataset"]).name for src in sources]


def calibration_set(run_dir: Path) -> str | None:
    """The calibration skies of a run as one name ("a + b" for several datasets); None for a run without one."""
    return " + ".join(calibration_sets(run_dir)) or None


#: (key, directory, label, test set): the P(D) baseline
POFD = [("pofd-fast", "pofd-fast", "P(D) fit", "test-fast")]
#: the baseline each test set is compared with
BASELINE = {"test-fast": "pofd-fast"}


def load(study: Path):
    runs, seen = {}, set()
    for key, name, evaluation, label, train, test in RUNS:
        path = study / name / evaluation / "metrics.json"
        if path.exists():
            first = name not in seen            # the run's training history goes with its first evaluation
            copy = name.endswith(VARIANTS)      # a trained network calibrated once more: trained once
            seen.add(name)
            runs[key] = {"label": label, "train": train, "test": test, "m": json.loads(path.read_text()),
                         "history": _history(study / name / "history.csv") if first and not copy else [],
                         "run": study / name, "eval": study / name / evaluation, "first": first,
                         "extra": test in EXTRA_TESTS
                         or name.endswith(("-union", "-curved", "-conformal", "-likelihood",
                                           "-likelihood-for-wsclean", "-likelihood-for-fast",
                                           "-likelihood-shared-for-wsclean", "-likelihood-shared-for-fast"))}
            m = runs[key]["m"]
            if "per_sky_corrected" in m and (evaluation.startswith("eval-test") or name.startswith("pointing-")):
                runs[key + "/corrected"] = {
                    "label": label + ", calibrated", "train": train, "test": test, "extra": runs[key]["extra"],
                    "m": {**m, "per_sky": m["per_sky_corrected"], "residual_correlation": None, "seconds": None}}
    # the mosaic networks on all 36 test mosaics (the 12 and the 24 more), sky by sky
    for key, name, evaluation, label, train, test in RUNS:
        more = runs.get(key + "-24")
        if evaluation != "eval-test" or key not in runs or more is None:
            continue
        ms = [runs[key]["m"], more["m"]]
        if not all(m.get("skies") for m in ms):
            continue
        m = pooled(ms)
        runs[key + "-36"] = {"label": f"{label}, on all 36 test mosaics", "train": train,
                             "test": "test-fast + test-24-fast", "m": m, "extra": True}
        if "per_sky_corrected" in m:
            runs[key + "-36/corrected"] = {"label": f"{label}, on all 36 test mosaics, calibrated", "train": train,
                                           "test": "test-fast + test-24-fast", "extra": True,
                                           "m": {**m, "per_sky": m["per_sky_corrected"]}}
    # and on all 96 mosaics of shapes drawn from the wider prior (the two sets of 48), sky by sky
    for key, name, evaluation, label, train, test in RUNS:
        parts = [runs.get(key + suffix) for suffix in ("-mid48", "-mid2")]
        if evaluation != "eval-test" or None in parts or not all(r["m"].get("skies") for r in parts):
            continue
        m = pooled([r["m"] for r in parts])
        runs[key + "-mid96"] = {"label": f"{label}, on all 96 mosaics of shapes drawn from the wider prior",
                                "train": train, "test": DRAWN_POOLED, "m": m, "extra": True, "run": study / name}
        if "per_sky_corrected" in m:
            runs[key + "-mid96/corrected"] = {
                "label": f"{label}, on all 96 mosaics of shapes drawn from the wider prior, calibrated",
                "train": train, "test": DRAWN_POOLED, "extra": True, "m": {**m, "per_sky": m["per_sky_corrected"]}}
    # the likelihood runs on all 36 and all 60 transfer pointings, sky by sky (coverage rows)
    for key, parts, label, test in TRANSFER_POOLS:
        if all(part in runs and runs[part]["m"].get("skies") for part in parts):
            m = pooled([runs[part]["m"] for part in parts])
            runs[key] = {"label": label, "train": runs[parts[0]]["train"], "test": test, "extra": True, "m": m}
            if "per_sky_corrected" in m:
                runs[key + "/corrected"] = {"label": label + ", calibrated", "train": runs[key]["train"], "test": test,
                                            "extra": True, "m": {**m, "per_sky": m["per_sky_corrected"]}}
    for key, name, label, test in POFD:
        path = study / name / "pofd.json"
        if path.exists():
            runs[key] = {"label": label, "train": None, "test": test, "m": json.loads(path.read_text())}
    return runs


def _history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def fmt(x, spec="+.3f"):
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def goal_rows(runs: dict) -> list[str]:
    """Per run: the worst |mean dy| over the bins within 10x and within 100x of the threshold, and whether the
    run beats its backend's P(D) baseline bin by bin."""
    out = ["| reading | test skies | max \\|mean dy\\|, bin 6.3-10 uJy (10-16x below) | max \\|mean dy\\|, "
           "1-10 uJy (10-100x below) | max \\|mean dy\\|, 0.1-1 uJy (100-1000x below) | bins where \\|mean dy\\| "
           "beats P(D) | bins where the rms of dy over skies beats P(D) | of them from 1 to 10 uJy |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in runs.items():
        m = r["m"]
        dy = np.abs(np.asarray(m["per_sky"]["dy"]["mean"]))
        upper, lower = np.asarray(m["bin_edges_jy"][1:]), np.asarray(m["bin_edges_jy"][:-1])
        thr = m["detection_threshold_jy"]
        in_mid = lower >= thr / 100 * 0.999         # the bins from 1 to 10 uJy (10-100x below the threshold)
        near = dy[upper >= thr / 10 * 0.999]
        mid = dy[in_mid]
        far = dy[~in_mid]
        base = runs.get(BASELINE.get(r["test"], ""))
        if base is None or name.startswith("pofd") or r["test"] != base["test"]:
            beats = beats_rms = beats_mid = "-"
        else:
            b = np.abs(np.asarray(base["m"]["per_sky"]["dy"]["mean"]))
            better = rms_dy(m) < rms_dy(base["m"])
            beats = f"{int(np.sum(dy < b))} of {dy.size}"
            beats_rms = f"{int(np.sum(better))} of {dy.size}"
            beats_mid = f"{int(np.sum(better[in_mid]))} of {int(np.sum(in_mid))}"
        out.append(f"| {r['label']} | {m['n_skies']} | {near.max():.3f} | {mid.max():.3f} | {far.max():.3f} | "
                   f"{beats} | {beats_rms} | {beats_mid} |")
    return out


def rms_dy(m: dict) -> np.ndarray:
    """Root mean square over the skies of dy per bin, from its mean and (sample) spread."""
    mean, std, n = np.asarray(m["per_sky"]["dy"]["mean"]), np.asarray(m["per_sky"]["dy"]["std"]), m["n_skies"]
    return np.sqrt(mean ** 2 + std ** 2 * (n - 1) / max(n, 1))


def bin_table(r: dict) -> list[str]:
    m = r["m"]
    e = m["bin_edges_jy"]
    f = m["factor_below_threshold"]
    dy, rel = m["per_sky"]["dy"], m["per_sky"]["relative_error"]
    out = [f"**{r['label']}** (trained on `{r['train']}`, tested on `{r['test']}`, {m['n_skies']} skies)"
           if r["train"] else f"**{r['label']}** (`{r['test']}`, {m['n_skies']} skies)", "",
           "| bin (uJy) | x below threshold | dy per sky: mean | spread | relative error: mean | spread |",
           "|---|---:|---:|---:|---:|---:|"]
    for i in range(len(e) - 1):
        out.append(f"| {e[i] * 1e6:.3g}-{e[i + 1] * 1e6:.3g} | {f[i]:.0f} | {fmt(dy['mean'][i])} | "
                   f"{fmt(dy['std'][i], '.3f')} | {fmt(rel['mean'][i])} | {fmt(rel['std'][i], '.3f')} |")
    return out


def bin_labels(edges) -> list[str]:
    """'lo-hi' of each bin in uJy."""
    return [f"{edges[i] * 1e6:.2g}-{edges[i + 1] * 1e6:.2g}" for i in range(len(edges) - 1)]


def section(title: str, intro: str, rows: list[str]) -> list[str]:
    """A generated section: heading, introduction and table; nothing when there are no rows."""
    return ["", f"### {title}", "", intro, ""] + rows if rows else []


def coverage_rows(runs: dict) -> list[str]:
    """Per run with calibrated intervals: the fraction of test skies inside the 68% and 95% per-sky intervals,
    per bin, and the goal (68 +- 8%, 95 +- 5%)."""
    rows = [(r["label"], r["m"]) for k, r in runs.items() if "per_sky_intervals" in r["m"] and "/" not in k]
    if not rows:
        return []
    e = rows[0][1]["bin_edges_jy"]
    out = ["| reading | level | calibration skies | test skies | "
           + " | ".join(bin_labels(e)) + " | bins within goal |",
           "|---|---|---:|---:|" + "---:|" * (len(e) - 1) + "---:|"]
    for label, m in rows:
        c = m["per_sky_intervals"]
        for level, tol in (("68", 0.08), ("95", 0.05)):
            cov = np.asarray(c[level]["per_bin"])
            ok = int(np.sum(np.abs(cov - int(level) / 100) <= tol + 1e-9))
            out.append(f"| {label} | {level}% | {c['n_calibration_skies']} | {c['n_skies']} | "
                       + " | ".join(f"{x:.2f}" for x in cov) + f" | {ok} of {cov.size} |")
    return out


#: how far inside its calibration skies' prior a test sky lies: the least over the prior's parameters of the
#: distance to the box's nearer edge, in units of the box's width (0: on the edge, 0.5: at the centre)
EDGE_GROUPS = ((-np.inf, 0.0, "outside"), (0.0, 0.1, "0-0.1 (the outer tenth)"), (0.1, 0.2, "0.1-0.2"),
               (0.2, 0.5 + 1e-9, "0.2-0.5 (the inner 60%)"))
MIN_EDGE_SKIES = 40                     # fewer test skies leave a handful per group


def prior_box(directory: Path) -> dict | None:
    """{parameter: (lo, hi, log)} of a dataset whose realisations drew their count shape from uniform or
    log-uniform priors (radsim's realisations.mode = "random"); None for any other dataset."""
    path = directory / "manifest.json"
    if not path.exists():
        return None
    real = json.loads(path.read_text()).get("config", {}).get("realisations", {})
    if real.get("mode") != "random" or not real.get("priors"):
        return None
    box = {}
    for name, prior in real["priors"].items():
        if prior.get("uniform"):
            box[name] = (*prior["uniform"], False)
        elif prior.get("loguniform"):
            box[name] = (*prior["loguniform"], True)
    return box or None


def _box_positions(modifier: dict, box: dict) -> dict:
    """{parameter: the sky's place along the box's width}, 0 at its low end and 1 at its high end."""
    return {name: (np.log(modifier[name] / lo) / np.log(hi / lo)) if log else (modifier[name] - lo) / (hi - lo)
            for name, (lo, hi, log) in box.items()}


def edge_distance(modifier: dict, box: dict) -> float:
    """The sky's distance to the nearer edge of the prior box, least over the parameters, in box widths
    (negative outside the box)."""
    return float(min(min(q, 1.0 - q) for q in _box_positions(modifier, box).values()))


#: how a prior's parameter is named in the tables
PARAMETER_NAMES = {"s0_jy": "S0", "alpha": "alpha"}


def nearest_edge(modifier: dict, box: dict) -> str:
    """Which edge of the prior box the sky lies nearest: the parameter and its end, e.g. "alpha's low end"."""
    q = _box_positions(modifier, box)
    name = min(q, key=lambda k: min(q[k], 1.0 - q[k]))
    return f"{PARAMETER_NAMES.get(name, name)}'s {'low' if q[name] < 0.5 else 'high'} end"


def sky_field(m: dict, key: str) -> np.ndarray:
    """An evaluation's per-sky record ``key`` ("pred", "true", "n_tiles", ...) over its skies, as floats."""
    return np.array([s[key] for s in m["skies"]], dtype=float)


def sky_hits(m: dict, level: str) -> np.ndarray:
    """(skies, bins): whether each test sky's true count lies inside its ``level`` ("68", "95") interval."""
    true = sky_field(m, "true")
    return (true >= sky_field(m, f"pred_lo{level}")) & (true <= sky_field(m, f"pred_hi{level}"))


def edge_rows(runs: dict, study: Path) -> list[str]:
    """Per evaluation with intervals whose network was calibrated on skies of drawn count shapes: the coverage of
    its test skies grouped by how far inside the calibration skies' prior box their (S0, alpha) lie. The
    intervals are calibrated over the prior as a whole; this shows whether they also hold at its edges."""
    out = ["| reading | test skies | where in the calibration prior | skies | 68%: mean over bins (range) | "
           "95%: mean over bins (range) |", "|---|---:|---|---:|---:|---:|"]
    for k, r in runs.items():
        m = r["m"]
        if "/" in k or "per_sky_intervals" not in m or "run" not in r or not m.get("skies") or superseded(k, runs):
            continue
        # the calibration skies' prior (the first of their datasets drawn from one); for calibration skies of
        # listed pairs (the mosaics') the test skies' own
        boxes = [prior_box(study / calib) for calib in calibration_sets(r["run"])]
        box = next((b for b in boxes if b), None) or prior_box(study / r["test"])
        if box is None or any(name not in m["skies"][0].get("modifier", {}) for name in box):
            continue
        d = np.array([edge_distance(s["modifier"], box) for s in m["skies"]])
        if d.size < MIN_EDGE_SKIES:
            continue
        inside = {level: sky_hits(m, level) for level in ("68", "95")}
        side = np.array([nearest_edge(s["modifier"], box) for s in m["skies"]])
        groups = []
        for lo, hi, name in EDGE_GROUPS:
            sel = (d >= lo) & (d < hi)
            groups.append((name, sel))
            if lo == 0.0:               # the outer tenth once more, by the edge each sky lies nearest
                groups += [(f"{name[:5]}, at {edge}", sel & (side == edge)) for edge in sorted(set(side[sel]))]
        for name, sel in groups:
            if not sel.any():
                continue
            cells = []
            for level in ("68", "95"):
                c = inside[level][sel].mean(axis=0)
                cells.append(f"{c.mean():.2f} ({c.min():.2f}-{c.max():.2f})")
            out.append(f"| {r['label']} | {len(d)} | {name} | {int(sel.sum())} | {cells[0]} | {cells[1]} |")
    return out if len(out) > 2 else []


def range_rows(runs: dict) -> list[str]:
    """Per evaluation with intervals: the coverage of its sky-bins split by where the sky's network count lies in
    the calibration skies' range of them, bin by bin (radtrain.uncertainty.range_position: inside, at the edge,
    beyond), from the run's calibration.json and the skies' records. Unlike the prior's box, a user sees this on a
    real image (`radtrain predict` marks such bins)."""
    from radtrain.uncertainty import range_position, range_zones
    out = ["| reading | test skies | level | inside: sky-bins, coverage | at the edge | beyond |",
           "|---|---:|---|---:|---:|---:|"]
    for k, r in runs.items():
        m = r["m"]
        path = r.get("run") and r["run"] / "calibration.json"
        if ("/" in k or "per_sky_intervals" not in m or not m.get("skies") or not (path and path.exists())
                or superseded(k, runs)):
            continue
        if len(m["skies"]) < MIN_EDGE_SKIES and r["test"] != "test-fast":     # the mosaics' test skies: all 12
            continue
        model = json.loads(path.read_text())
        zones = range_zones(range_position(sky_field(m, "pred"), sky_field(m, "n_tiles"), model))
        for level in ("68", "95"):
            hit = sky_hits(m, level)
            cells = [f"{int(sel.sum())}, {hit[sel].mean():.2f}" if sel.any() else "0"
                     for sel in (zones["inside"], zones["edge"], zones["outside"])]
            out.append(f"| {r['label']} | {len(m['skies'])} | {level}% | " + " | ".join(cells) + " |")
    return out if len(out) > 2 else []


#: random splits of the drawn calibration and test skies pooled (split_rows), and their generator's seed
SPLITS, SPLIT_SEED = 200, 2306159
#: the test sets of drawn count shapes whose skies are pooled with the calibration skies in split_rows
DRAWN_TESTS = ("test-random-fast", "pointing-test-random", "test-mid-fast")
#: the two test sets of mosaics drawn from the wider prior, pooled (load): where a run has it, its split rows and
#: coverage by place rest on it rather than on test-mid-fast alone
DRAWN_POOLED = "test-mid-fast + test-mid2-fast"


def superseded(key: str, runs: dict) -> bool:
    """Whether ``key`` is one of the two sets of 48 mosaics drawn from the wider prior and the run also has them
    pooled (key -mid96): the tables by place and the random splits then show the pooled 96 only."""
    return key.endswith(("-mid48", "-mid2")) and key.rsplit("-", 1)[0] + "-mid96" in runs


def sky_logs(m: dict, floor) -> tuple[np.ndarray, np.ndarray]:
    """(network, true) log counts per tile (skies, bins) of an evaluation's skies, the network's held to ``floor``
    as the calibration holds them."""
    from radtrain.uncertainty import log_per_tile
    n = sky_field(m, "n_tiles")
    return log_per_tile(sky_field(m, "pred"), n, np.asarray(floor)), log_per_tile(sky_field(m, "true"), n)


def split_coverage(u: np.ndarray, v: np.ndarray, n_calib: int, curved: bool, splits: int = SPLITS,
                   seed: int = SPLIT_SEED) -> dict[tuple[str, str], np.ndarray]:
    """Coverage (splits, bins) per kind of interval ("normal", "conformal") and level ("68", "95") of
    calibrations refitted on ``n_calib`` skies drawn at random from the skies' log counts per tile (u network, v
    true; skies, bins), tested on the rest, over ``splits`` random splits. Each sky enters as 4 tiles of its count
    per tile: the spread's per-tile part, which the skies' sums alone cannot show, is then 0 and the spread one per
    bin (a conformal interval does not depend on a spread that is the same for every sky). The line and spread are
    fitted once per split; the normal intervals are the same calibration without its quantiles."""
    from radtrain import uncertainty
    rng = np.random.default_rng(seed)
    out = {(kind, level): [] for kind in ("normal", "conformal") for level in ("68", "95")}
    for _ in range(splits):
        order = rng.permutation(len(u))
        cal, test = order[:n_calib], order[n_calib:]
        tiles = np.repeat(np.exp(u[cal]), 4, axis=0), np.repeat(np.exp(v[cal]), 4, axis=0)
        model = uncertainty.calibrate(*tiles, np.repeat(np.arange(n_calib), 4), curved=curved, conformal=True)
        models = {"normal": model | {"conformal": None}, "conformal": model}
        for kind, level in out:
            lo, hi = uncertainty.interval(4.0 * np.exp(u[test]), 4, models[kind], int(level) / 100)
            out[kind, level].append(uncertainty.coverage(np.exp(v[test]), lo / 4.0, hi / 4.0))
    return {key: np.array(c) for key, c in out.items()}


def split_rows(runs: dict) -> list[str]:
    """Per network calibrated with conformal intervals on skies of drawn count shapes and tested on skies drawn
    the same way: the two sets pooled and split at random, as many calibrating and testing as in the run, over
    SPLITS splits; the coverage of the curved line's normal (Student's t) and conformal intervals per bin, averaged
    over the splits, and how much it varies from split to split. One fixed test set is one such split."""
    rows = []
    for k, r in runs.items():
        path = r.get("run") and r["run"] / "calibration.json"
        if ("/" in k or r["test"] not in (*DRAWN_TESTS, DRAWN_POOLED) or superseded(k, runs)
                or not r["run"].name.endswith("-conformal")
                or not path.exists() or not r["m"].get("skies")):
            continue
        c = json.loads(path.read_text())
        ut, vt = sky_logs(r["m"], c["floor"])
        u, v = np.vstack([c["sky_log_pred"], ut]), np.vstack([c["sky_log_true"], vt])
        coverage = split_coverage(u, v, c["n_skies"], c.get("curved", False))
        for method in ("normal", "conformal"):
            for level, tol in (("68", 0.08), ("95", 0.05)):
                cov = coverage[method, level]
                mean = cov.mean(axis=0)
                share = np.mean(np.abs(cov - int(level) / 100) <= tol + 1e-9)
                ok = int(np.sum(np.abs(mean - int(level) / 100) <= tol + 1e-9))
                rows.append(f"| {r['label']} | {method} | {level}% | {c['n_skies']} + {len(ut)} | "
                            + " | ".join(f"{x:.2f}" for x in mean)
                            + f" | {cov.std(axis=0).mean():.3f} | {ok} of {mean.size} | {share:.2f} |")
    if not rows:
        return []
    e = next(r["m"]["bin_edges_jy"] for r in runs.values() if "bin_edges_jy" in r["m"])
    return ["| reading | intervals | level | skies: calibrating + testing | " + " | ".join(bin_labels(e))
            + " | split-to-split spread | bins within goal (mean) | bins within goal, share over splits |",
            "|---|---|---|---:|" + "---:|" * (len(e) - 1) + "---:|---:|---:|"] + rows


#: the test sets of drawn shapes imaged by WSClean and by the fast imager with WSClean's noise, pooled sky by sky
#: for the coverage of the one-noise calibrations (likelihood_split_rows), and the random splits it draws
SHARED_TESTS, LIKELIHOOD_SPLITS = ("mid24", "mid24b", "mid24c", "mid24d", "mid24e", "mid24f"), 100


def seed_trainings(labels=SEED_LABELS) -> list[str]:
    """The run names of the trainings of ``labels``' networks: each network, then its seeds SEEDS (RUN-sK)."""
    return [f"{run}{seed}" for run, _ in labels for seed in ("", *(f"-s{k}" for k in SEEDS))]


def likelihood_split_rows(study: Path) -> list[str]:
    """Per training calibrated for WSClean's images on one noise realisation per sky (RUN-likelihood-shared-for-
    wsclean): the coverage of its intervals on the test skies of drawn shapes imaged by WSClean (all SHARED_TESTS
    made), and over LIKELIHOOD_SPLITS random splits of those skies pooled with the calibration's skies imaged by
    both (`radtrain.likelihood.split_coverage`; the test skies' fast images from RUN-likelihood-shared-for-fast's
    evaluations)."""
    from radtrain import likelihood
    rows, edges = [], None
    for base in seed_trainings():
        wsclean, fast = study / f"{base}-likelihood-shared-for-wsclean", study / f"{base}-likelihood-shared-for-fast"
        sets = [t for t in SHARED_TESTS if (wsclean / f"eval-pointing-{t}-wsclean" / "metrics.json").exists()
                and (fast / f"eval-pointing-{t}" / "metrics.json").exists()]
        if not sets or not (wsclean / "calibration.json").exists():
            continue
        model = json.loads((wsclean / "calibration.json").read_text()).get("likelihood")
        if not model or "imager_index" not in model.get("calibration_skies", {}):
            continue
        w = [json.loads((wsclean / f"eval-pointing-{t}-wsclean" / "metrics.json").read_text()) for t in sets]
        f = [json.loads((fast / f"eval-pointing-{t}" / "metrics.json").read_text()) for t in sets]
        edges = w[0]["bin_edges_jy"]
        ws, fs = [s for m in w for s in m["skies"]], [s for m in f for s in m["skies"]]
        more = {"params": [[s["modifier"][p] for p in model["parameters"]] for s in ws],
                "pred": [s["pred"] for s in fs], "true": [s["true"] for s in ws],
                "n_tiles": [s["n_tiles"] for s in fs], "imager_pred": [s["pred"] for s in ws],
                "imager_n_tiles": [s["n_tiles"] for s in ws]}
        cover = likelihood.split_coverage(model, more, splits=LIKELIHOOD_SPLITS, seed=SPLIT_SEED)
        for j, (level, tol) in enumerate(((68, 0.08), (95, 0.05))):
            fixed, splits = cover[0, j], cover[1:, j]
            within = np.abs(splits - level / 100) <= tol + 1e-9
            mean = splits.mean(axis=0)
            rows.append(f"| {base} | {level}% | {model['imager_skies']} + {len(ws)} | "
                        + " | ".join(f"{x:.2f}" for x in fixed)
                        + f" | {int(np.sum(np.abs(fixed - level / 100) <= tol + 1e-9))} of {fixed.size} | "
                        + f"{mean.min():.2f}-{mean.max():.2f} | "
                        + f"{int(np.sum(np.abs(mean - level / 100) <= tol + 1e-9))} of {mean.size} | "
                        + f"{splits.std(axis=0).mean():.3f} | {within.mean():.2f} | {within.all(axis=1).mean():.2f} | "
                        + f"{(splits <= fixed).mean():.2f} |")
    if not rows:
        return []
    return ["| training | level | skies: pairs + test | " + " | ".join(bin_labels(edges))
            + " | test skies: bins within goal | splits: mean per bin | bins within goal (mean) "
            "| split-to-split spread | share of splits' bins within goal | share of splits within goal in every bin "
            "| splits covering no more than the test skies |",
            "|---|---|---:|" + "---:|" * (len(edges) - 1) + "---:|---:|---:|---:|---:|---:|---:|"] + rows


#: the sets of drawn shapes imaged by WSClean (SET-wsclean) and by the fast imager with its noise (SET-shared) that
#: test the calibration on skies WSClean never imaged (RUN-likelihood-unpaired): the 96 pairs and the test skies
UNPAIRED_SETS = ("pointing-calib-mid", "pointing-calib-mid2", "pointing-calib-mid3", "pointing-calib-mid4",
                 *(f"pointing-test-{t}" for t in SHARED_TESTS))
#: and the 12 fixed test pairs and their repeats (transfer-wsclean and transfer-shared, ...), most at the box's edges
FIXED_PAIR_SETS = ("transfer", "transfer-24", "transfer-24b")


#: the calibrations with the pairs' imager shift alone (RUN-likelihood-shift-for-wsclean, --imager-term shift) and
#: on the same 672 skies for the fast images (RUN-likelihood-shift-for-fast), and the test sets they read
SHIFT_RUNS = ("-likelihood-shift-for-wsclean", "-likelihood-shift-for-fast")
SHIFT_SETS = tuple(f"pointing-test-{t}" for t in SHARED_TESTS)


def unpaired_evaluations(study: Path, sets=UNPAIRED_SETS, runs=("-likelihood-unpaired",) * 2, fast_images="shared",
                         labels=SEED_LABELS, wsclean_images="wsclean") -> dict:
    """Per training calibrated on skies WSClean never imaged (RUN-likelihood-unpaired, ``labels``' networks and
    seeds), its evaluations on ``sets`` pooled sky by sky: ``"wsclean"`` (every sky WSClean imaged),
    ``"fast"`` (the same skies' fast images with WSClean's noise, in the same order) and ``"fast_all"`` (every fast
    image of those sets), with the calibration's number of skies. Only sets evaluated both ways are taken.
    ``runs``: the suffixes of the runs that read WSClean's images and the fast ones (e.g. SHIFT_RUNS);
    ``fast_images``: the fast sets' suffix (SET-shared, or SET-mended for MENDED_LABELS, SET-exact for EXACT_LABELS);
    ``wsclean_images``: WSClean's (SET-wsclean, or SET-wsclean-linear, restored without wrap-around, for
    EXACT_LABELS)."""
    out = {}
    for base in seed_trainings(labels):
        run, fast_run = (study / f"{base}{suffix}" for suffix in runs)
        if not (run / "calibration.json").exists():
            continue
        ws, fast, fast_all = [], [], []
        for name in sets:
            w = run / f"eval-{name}-{wsclean_images}" / "metrics.json"
            f = fast_run / f"eval-{name}-{fast_images}" / "metrics.json"
            if not (w.exists() and f.exists()):
                continue
            mw, mf = json.loads(w.read_text()), json.loads(f.read_text())
            by_id = {s["id"]: s for s in mf["skies"]}
            if any(s["id"] not in by_id or by_id[s["id"]]["true"] != s["true"] for s in mw["skies"]):
                raise ValueError(f"{base}: {name}-{wsclean_images} and {name}-{fast_images} are not images of the "
                                 "same skies")
            ws.append(mw)
            fast.append({**mf, "skies": [by_id[s["id"]] for s in mw["skies"]]})
            fast_all.append(mf)
        if ws:
            n_calib = json.loads((run / "calibration.json").read_text())["n_skies"]
            out[base] = {"wsclean": pooled(ws), "fast": pooled(fast), "fast_all": pooled(fast_all),
                         "n_calibration_skies": n_calib}
    return out


def shared_evaluations(study: Path) -> dict:
    """Per training, the one-noise calibrations' evaluations of the test skies of drawn shapes (SHARED_TESTS, the
    sets evaluated both ways), pooled sky by sky: ``"fast"`` (the fast images with WSClean's noise, read by
    RUN-likelihood-shared-for-fast) and ``"wsclean"`` (WSClean's, read by RUN-likelihood-shared-for-wsclean): the
    transfer like for like, each imager read by its own calibration."""
    out = {}
    for base in seed_trainings():
        fast, wsclean = (study / f"{base}-likelihood-shared-for-{imager}" for imager in ("fast", "wsclean"))
        pairs = [(fast / f"eval-pointing-{t}" / "metrics.json", wsclean / f"eval-pointing-{t}-wsclean" / "metrics.json")
                 for t in SHARED_TESTS]
        pairs = [(json.loads(f.read_text()), json.loads(w.read_text())) for f, w in pairs if f.exists() and w.exists()]
        if pairs:
            out[base] = {"fast": pooled([f for f, _ in pairs]), "wsclean": pooled([w for _, w in pairs])}
    return out


def unpaired_coverage_rows(study: Path, evaluations: dict | None = None) -> list[str]:
    """Per training calibrated on skies WSClean never imaged: the coverage per bin of its 68% and 95% intervals on
    every sky WSClean imaged, on the same skies' fast images, and on all the fast images of those sets, with the
    bins within goal and the standard deviation expected of a calibrated interval's coverage (the test skies'
    binomial and the calibration skies' Beta, `radtrain.likelihood.coverage_spread`, in quadrature)."""
    from radtrain import likelihood
    evaluations = unpaired_evaluations(study) if evaluations is None else evaluations
    rows, edges = [], None
    for base, e in evaluations.items():
        edges = e["wsclean"]["bin_edges_jy"]
        for level, tol in ((68, 0.08), (95, 0.05)):
            for images, key in (("WSClean's", "wsclean"), ("fast, same skies", "fast"), ("fast, all", "fast_all")):
                m = e[key]
                if key == "fast_all" and m["n_skies"] == e["fast"]["n_skies"]:
                    continue
                cover = sky_hits(m, str(level)).mean(axis=0)
                p, n = level / 100, m["n_skies"]
                spread = np.hypot(np.sqrt(p * (1 - p) / n), likelihood.coverage_spread(e["n_calibration_skies"], p))
                rows.append(f"| {base} | {level}% | {images} | {n} | " + " | ".join(f"{x:.2f}" for x in cover)
                            + f" | {int(np.sum(np.abs(cover - p) <= tol + 1e-9))} of {cover.size} | {spread:.3f} |")
    if not rows:
        return []
    return ["| training | level | images | skies | " + " | ".join(bin_labels(edges))
            + " | bins within goal | expected spread |",
            "|---|---|---|---:|" + "---:|" * (len(edges) - 1) + "---:|---:|"] + rows


def sky_by_sky_transfer_rows(study: Path, evaluations: dict | None = None) -> list[str]:
    """The transfer of ``evaluations`` (per training, its ``"fast"`` and ``"wsclean"`` evaluations of the same skies
    in the same order; default: the calibration on skies WSClean never imaged reading both, unpaired_evaluations;
    or each imager read by its own one-noise calibration, shared_evaluations): per training and for
    each network's three trainings averaged sky by sky, calibrated |mean dy| per bin on WSClean's images and on the
    fast ones, their ratio (the goal: at most 1.5), and WSClean's reading minus the fast one of the same sky, mean
    +- its standard error."""
    evaluations = unpaired_evaluations(study) if evaluations is None else evaluations
    pairs = [(base, e["fast"], e["wsclean"]) for base, e in evaluations.items()]
    for run, _ in (*SEED_LABELS, *MENDED_LABELS, *EXACT_LABELS):
        bases = [run, *(f"{run}-s{k}" for k in SEEDS)]
        if all(b in evaluations for b in bases) and len({evaluations[b]["wsclean"]["n_skies"] for b in bases}) == 1:
            pairs.append((f"{run}, training seeds 1-3 averaged",
                          averaged([evaluations[b]["fast"] for b in bases]),
                          averaged([evaluations[b]["wsclean"] for b in bases])))
    if not pairs:
        return []
    edges = pairs[0][1]["bin_edges_jy"]
    out = ["| training | skies | | " + " | ".join(f"{b} uJy" for b in bin_labels(edges)) + " | bins within 1.5x |",
           "|---|---:|---|" + "---:|" * (len(edges) - 1) + "---:|"]
    for what, mf, mw in pairs:
        true = sky_field(mw, "true")
        diff = (residual_dy(sky_field(mw, "pred_corrected"), true)
                - residual_dy(sky_field(mf, "pred_corrected"), true))
        se = diff.std(axis=0, ddof=1) / np.sqrt(diff.shape[0])
        out += ratio_lines(f"{what} | {mw['n_skies']}", mf["per_sky_corrected"], mw["per_sky_corrected"], ".4f")
        out.append("| | | WSClean - fast, per sky | " + " | ".join(f"{a:+.4f} +- {b:.4f}" for a, b in
                                                              zip(diff.mean(axis=0), se)) + " | |")
    return out


#: the comparisons science.sh makes with radtrain compare (RUN/compare-NAME.json): name, what B is against A
NOISE_COMPARISONS = (("noise-rms", "0.1% more noise rms (pointing-calib-mid-rms against pointing-calib-mid)"),
                     ("noise-model", "the noise drawn on the visibilities (pointing-calib-mid-shared against "
                                     "pointing-calib-mid)"),
                     ("noise-w-term", "the w-term in the image-plane noise (pointing-calib-mid-w-image-w against "
                                      "pointing-calib-mid-w-image)"),
                     ("noise-image-w", "the noise drawn on the visibilities against the image-plane noise with the "
                                       "w-term (pointing-calib-mid-w-visibilities against "
                                       "pointing-calib-mid-w-image-w)"))


def noise_rows(study: Path) -> list[str]:
    """Per network and comparison (NOISE_COMPARISONS) that science.sh made: the mean change of its per-sky
    readings of the 96 calibration skies per bin, in percent of the true count, +- its standard error."""
    found = [(run.name, name, what, json.loads((run / f"compare-{name}.json").read_text()))
             for run in sorted(p for p in study.iterdir() if p.is_dir()) for name, what in NOISE_COMPARISONS
             if (run / f"compare-{name}.json").exists()]
    if not found:
        return []
    labels = bin_labels(found[0][3]["bin_edges_jy"])
    rows = ["| network | the same skies read with (B against A) | skies | " + " | ".join(labels) + " |",
            "|---|---|---:|" + "---:|" * len(labels)]
    for run, _, what, c in found:
        pc = c["percent"]
        rows.append(f"| {run} | {what} | {c['n_skies']} | "
                    + " | ".join(f"{m:+.2f} +- {e:.2f}" for m, e in zip(pc["mean"], pc["stderr"])) + " |")
    return rows


#: the fast images science.sh compares WSClean's with (images/SET-KIND.json, radsim compare): kind, what it is
IMAGE_KINDS = (("shared", "flat sky"), ("w-shared", "w-term in the PSF"),
               ("exact", "exact major cycle, against WSClean restored without wrap-around"))
#: radsim compare's statistics the report shows: key, column heading, decimals
IMAGE_STATISTICS = (("faint_variance", "faint pixels' variance, %", 3), ("robust_width", "robust width, %", 3),
                    ("variance", "variance, %", 3), ("flux_scale", "flux scale, %", 3),
                    ("difference_rms", "rms of the difference, % of noise", 1), ("correlation", "correlation", 5))
UNSIGNED = ("difference_rms", "correlation")      # not changes


def pooled_skies(files: list[Path]) -> dict:
    """radsim compare's per-sky figures of several comparisons pooled: per statistic the mean over every sky and
    its standard error (NaN skies left out; NaN for one sky), ``n_skies`` and ``n_sets``."""
    per_sky: dict[str, list[float]] = {}
    for f in files:
        for key, values in json.loads(f.read_text())["per_sky"].items():
            per_sky.setdefault(key, []).extend(values)
    out = {"n_sets": len(files), "n_skies": len(next(iter(per_sky.values()), []))}
    for key, values in per_sky.items():
        x = np.asarray(values, dtype=float)
        x = x[np.isfinite(x)]
        out[key] = (float(x.mean()) if x.size else float("nan"),
                    float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan"))
    return out


def image_rows(study: Path) -> list[str]:
    """How WSClean's images differ from the fast imager's with its noise (science.sh: images/SET-KIND.json), each
    kind of fast image pooled sky by sky over the sets made, then set by set."""
    folder = study / "images"
    found = {kind: sorted(folder.glob(f"*-{kind}.json")) for kind, _ in IMAGE_KINDS} if folder.is_dir() else {}
    found = {kind: [f for f in files if kind != "shared" or not f.name.endswith("-w-shared.json")]
             for kind, files in found.items()}
    if not any(found.values()):
        return []
    rows = ["| fast imager (A) | sets | skies | " + " | ".join(h for _, h, _ in IMAGE_STATISTICS) + " |",
            "|---|---|---:|" + "---:|" * len(IMAGE_STATISTICS)]

    def row(what, sets, pooled):
        return (f"| {what} | {sets} | {pooled['n_skies']} | "
                + " | ".join(f"{pooled[k][0]:{'' if k in UNSIGNED else '+'}.{d}f} +- {pooled[k][1]:.{d}f}"
                             for k, _, d in IMAGE_STATISTICS)
                + " |")
    for kind, what in IMAGE_KINDS:
        if found[kind]:
            rows.append(row(f"**{what}, all**", len(found[kind]), pooled_skies(found[kind])))
    for kind, what in IMAGE_KINDS:
        for f in found[kind]:
            rows.append(row(what, f.name[:-len(f"-{kind}.json")], pooled_skies([f])))
    return rows


def imager_rows(study: Path) -> list[str]:
    """Per network: how its reading of WSClean's test images of drawn shapes differs from its reading of each fast
    imager's with WSClean's noise (science.sh: RUN/compare-imager-flat-SET.json and -imager-w-SET.json), the
    sets pooled by their skies (mean weighted by skies, standard errors combined as independent)."""
    out = []
    for run in sorted(p for p in study.iterdir() if p.is_dir()):
        for kind, what in (("flat", "flat sky"), ("w", "w-term in the PSF")):
            found = [json.loads(f.read_text()) for f in sorted(run.glob(f"compare-imager-{kind}-*.json"))]
            if not found:
                continue
            n = np.array([c["percent"]["n"] for c in found], dtype=float)
            mean = np.array([c["percent"]["mean"] for c in found], dtype=float)
            err = np.array([c["percent"]["stderr"] for c in found], dtype=float)
            total = n.sum(axis=0)
            pooled_mean = (n * mean).sum(axis=0) / total
            pooled_err = np.sqrt((n ** 2 * err ** 2).sum(axis=0)) / total
            if not out:
                labels = bin_labels(found[0]["bin_edges_jy"])
                out = ["| network | WSClean against the fast imager with its noise | sets | skies | "
                       + " | ".join(labels) + " |", "|---|---|---:|---:|" + "---:|" * len(labels)]
            out.append(f"| {run.name} | {what} | {len(found)} | {sum(c['n_skies'] for c in found)} | "
                       + " | ".join(f"{m:+.2f} +- {e:.2f}" for m, e in zip(pooled_mean, pooled_err)) + " |")
    return out


def transfer_pairs(runs: dict) -> list[tuple[str, dict, dict]]:
    """(network, metrics on fast-imaged skies, on the same skies imaged by WSClean): the TRANSFER pairs that ran,
    then the POOLED ones, then the SEED_AVERAGES."""
    pairs = [(what, runs[f]["m"], runs[w]["m"]) for what, f, w in TRANSFER if f in runs and w in runs]
    pairs += [(what, pooled([runs[k]["m"] for k in f]), pooled([runs[k]["m"] for k in w]))
              for what, f, w in POOLED if all(k in runs and runs[k]["m"].get("skies") for k in f + w)]

    def seeds(keys):        # per training, its evaluations pooled; then the trainings averaged
        return averaged([pooled([runs[k]["m"] for k in parts]) for parts in keys])
    return pairs + [(what, seeds(f), seeds(w)) for what, f, w in SEED_AVERAGES
                    if all(k in runs and runs[k]["m"].get("skies") for parts in f + w for k in parts)]


def transfer_rows(runs: dict) -> list[str]:
    """Per network: |mean dy| per bin on the same skies imaged by the fast imager and by WSClean, and their ratio
    (the goal: WSClean no more than 1.5x fast in every bin), of its own counts and of the calibrated ones."""
    pairs = transfer_pairs(runs)
    if not pairs:
        return []
    e = pairs[0][1]["bin_edges_jy"]
    out = ["| network | counts | | " + " | ".join(f"{b} uJy" for b in bin_labels(e)) + " | bins within 1.5x |",
           "|---|---|---|" + "---:|" * (len(e) - 1) + "---:|"]
    for what, mf, mw in pairs:
        for key, counts in (("per_sky", "its own"), ("per_sky_corrected", "calibrated")):
            if key not in mf or key not in mw:
                continue
            out += ratio_lines(f"{what} | {counts}", mf[key], mw[key], ".3f")
    return out


def ratio_lines(lead: str, fast: dict, wsclean: dict, digits: str) -> list[str]:
    """The three rows of a transfer table for one pair of per-sky dy statistics (``{"dy": {"mean": ...}}``):
    |mean dy| per bin on the fast images and on WSClean's (format ``digits``), and their ratio with the bins within
    1.5x; ``lead`` fills the first two cells of the first row."""
    f = np.abs(np.asarray(fast["dy"]["mean"]))
    w = np.abs(np.asarray(wsclean["dy"]["mean"]))
    ratio = w / np.maximum(f, 1e-12)
    return [f"| {lead} | \\|mean dy\\|, fast | " + " | ".join(f"{x:{digits}}" for x in f) + " | |",
            "| | | \\|mean dy\\|, WSClean | " + " | ".join(f"{x:{digits}}" for x in w) + " | |",
            "| | | ratio WSClean / fast | " + " | ".join(f"{x:.2f}" for x in ratio)
            + f" | {int(np.sum(ratio <= 1.5))} of {ratio.size} |"]


def pooled(ms: list[dict]) -> dict:
    """The per-sky dy statistics (network's and calibrated counts) of several evaluations' test skies taken
    together, computed from their per-sky records (metrics ``skies``)."""
    skies = [{**s, "id": (i, s["id"])} for i, m in enumerate(ms) for s in m["skies"]]   # ids unique per set
    true = np.array([s["true"] for s in skies], dtype=float)
    out = {**ms[0], "skies": skies, "n_skies": len(skies), "residual_correlation": None, "seconds": None}
    out.pop("per_sky_intervals", None)
    if all(f"pred_lo{level}" in s for s in skies for level in ("68", "95")):
        out["per_sky_intervals"] = {
            "n_calibration_skies": ms[0].get("per_sky_intervals", {}).get("n_calibration_skies"),
            "n_skies": len(skies), **{level: {"per_bin": sky_hits(out, level).mean(axis=0).tolist()}
                                      for level in ("68", "95")}}
    return _sky_dy(out, true)


def _sky_dy(out: dict, true: np.ndarray) -> dict:
    """``out`` with its per-sky dy statistics (network's and calibrated counts) computed from its ``skies``."""
    skies = out["skies"]
    for key, field in (("per_sky", "pred"), ("per_sky_corrected", "pred_corrected")):
        if all(field in s for s in skies):
            dy = residual_dy(np.array([s[field] for s in skies], dtype=float), true)
            out[key] = {"dy": {"mean": dy.mean(axis=0).tolist(), "std": dy.std(axis=0).tolist()}}
        else:
            out.pop(key, None)
    return out


def averaged(ms: list[dict]) -> dict:
    """Several networks' evaluations of the same skies (e.g. one network's trainings with other seeds) as one: per
    sky the mean of their network counts and of their calibrated counts, and the per-sky dy statistics of those.
    Their intervals are not averaged (an average of intervals is no interval), so it has none."""
    by_id = [{s["id"]: s for s in m["skies"]} for m in ms]
    if any(set(b) != set(by_id[0]) for b in by_id):
        raise ValueError("averaged: the evaluations are not of the same skies")
    skies = []
    for i in sorted(by_id[0]):
        sky = {k: by_id[0][i][k] for k in ("id", "modifier", "n_tiles", "true") if k in by_id[0][i]}
        if any(b[i]["true"] != sky["true"] for b in by_id):
            raise ValueError(f"averaged: sky {i} has other true counts in another evaluation")
        for field in ("pred", "pred_corrected"):
            if all(field in b[i] for b in by_id):
                sky[field] = np.mean([b[i][field] for b in by_id], axis=0).tolist()
        skies.append(sky)
    out = {**ms[0], "skies": skies, "n_skies": len(skies), "residual_correlation": None, "seconds": None}
    out.pop("per_sky_intervals", None)
    return _sky_dy(out, np.array([s["true"] for s in skies], dtype=float))


def within_100x(m: dict) -> np.ndarray:
    """Per bin of metrics ``m``: whether it lies within 100x below the detection threshold (1-10 uJy for EMU)."""
    return np.asarray(m["bin_edges_jy"][:-1]) >= m["detection_threshold_jy"] / 100 * 0.999


def shift_rows(runs: dict) -> list[str]:
    """Per transfer pair: the per-sky difference of dy, WSClean's reading minus the fast imager's of the same sky,
    mean +- its standard error over the skies, in the top bin and in the bin from 1 to 10 uJy where it is
    largest: how far the imagers differ for the network, and how well the test skies resolve it."""
    out = ["| network | counts | skies | WSClean - fast, 6.3-10 uJy | largest from 1 to 10 uJy |",
           "|---|---|---:|---:|---:|"]
    for what, mf, mw in transfer_pairs(runs):
        if "skies" not in mf or "skies" not in mw:
            continue
        sf = {s["id"]: s for s in mf["skies"]}
        sw = {s["id"]: s for s in mw["skies"]}
        ids = sorted(set(sf) & set(sw))
        if len(ids) < 2:
            continue
        mid = np.flatnonzero(within_100x(mf))
        for key, counts in (("pred", "its own"), ("pred_corrected", "calibrated")):
            if key not in sf[ids[0]] or key not in sw[ids[0]]:
                continue
            true = np.array([sf[i]["true"] for i in ids], dtype=float)
            d = (residual_dy(np.array([sw[i][key] for i in ids], dtype=float), true)
                 - residual_dy(np.array([sf[i][key] for i in ids], dtype=float), true))
            mean, se = d.mean(axis=0), d.std(axis=0, ddof=1) / np.sqrt(len(ids))
            b = mid[np.argmax(np.abs(mean[mid]))]
            out.append(f"| {what} | {counts} | {len(ids)} | {mean[-1]:+.4f} +- {se[-1]:.4f} | "
                       f"{mean[b]:+.4f} +- {se[b]:.4f} |")
    return out if len(out) > 2 else []


#: draws of the bootstrap over a likelihood calibration's skies (radtrain.likelihood.resampled) in the report
RESAMPLE_DRAWS = 200


def resampled_rows(runs: dict) -> list[str]:
    """Like for like on all the test skies of drawn shapes (RUN-likelihood-for-fast on their fast images,
    RUN-likelihood-for-wsclean on WSClean's: the same calibration skies, only the imager differs), per training
    and averaged over the trainings sky by sky: per bin the mean dy of both imagers' images read by the calibration
    as fitted and by ``RESAMPLE_DRAWS`` calibrations on its skies drawn with replacement (the pairs going with their
    skies; the same draws for every training, whose calibration skies are the same): WSClean - fast as fitted and
    its 16-84% range over the draws, and the share of draws whose WSClean |mean dy| is within 1.5x the fast one's.
    Every sky is read by the posterior mean (as the cross-validation of ``radtrain calibrate`` does). So for each
    pair of LIKE_FOR_LIKE: with two noise draws per sky, and with one (the fast images carrying WSClean's noise)."""
    from radtrain import likelihood

    skies, keys = DRAWN_POOLS[-1]
    out = []
    for (fast_prefix, wsclean_prefix, what_pair), (run, label) in itertools.product(LIKE_FOR_LIKE, SEED_LABELS):
        draws = {}
        for net in (run, *[f"{run}-s{seed}" for seed in SEEDS]):
            fast = [runs.get(f"{net}-likelihood{fast_prefix}{key}") for key in keys]
            other = [runs.get(f"{net}-likelihood{wsclean_prefix}{key}") for key in keys]
            if not all(fast + other):
                continue
            path = other[0]["run"] / "calibration.json"
            model = json.loads(path.read_text()).get("likelihood", {}) if path.exists() else {}
            if "calibration_skies" not in model:
                continue
            pairs = []          # (fast, WSClean) record of each sky, set by set in the order of their ids
            for mf, mw in zip(fast, other):
                sw = {sky["id"]: sky for sky in mw["m"]["skies"]}
                pairs += [(sky, sw[sky["id"]]) for sky in sorted(mf["m"]["skies"], key=lambda sky: sky["id"])]
            images = [tuple(np.array([p[k][field] for p in pairs], dtype=float) for field in ("pred", "n_tiles"))
                      for k in (0, 1)]          # (counts, tiles) of the fast images, of WSClean's
            read = likelihood.resampled(model, *images, draws=RESAMPLE_DRAWS, seed=0)
            true = np.array([f["true"] for f, _ in pairs], dtype=float)
            draws[net] = (read["first"], read["other"], true, len(model["calibration_skies"]["n_tiles"]))
        rows = [(f"{label}{', training seed ' + net.rsplit('-s', 1)[1] if net != run else ''}{what_pair}", *d[:3])
                for net, d in draws.items()]
        if len(draws) > 1 and len({d[3] for d in draws.values()}) == 1:
            rows.append((f"{label}, counts averaged over training seeds 1-{len(draws)}{what_pair}",
                         np.mean([d[0] for d in draws.values()], axis=0),
                         np.mean([d[1] for d in draws.values()], axis=0), next(iter(draws.values()))[2]))
        for what, first, other, true in rows:
            dy = {k: residual_dy(c, true).mean(axis=1) for k, c in (("fast", first), ("WSClean", other))}
            # (draws + 1, bins): the mean over the test skies of each draw
            diff = dy["WSClean"] - dy["fast"]
            met = np.abs(dy["WSClean"]) <= 1.5 * np.abs(dy["fast"])
            lo, hi = np.percentile(diff[1:], [16, 84], axis=0)
            out.append(f"| {what} | WSClean - fast, as fitted | " + " | ".join(f"{x:+.3f}" for x in diff[0])
                       + f" | {int(met[0].sum())} of {met.shape[1]} |")
            out.append("| | 16-84% over the resampled calibrations | "
                       + " | ".join(f"{a:+.3f}..{b:+.3f}" for a, b in zip(lo, hi)) + " | |")
            out.append("| | share of them within 1.5x | " + " | ".join(f"{x:.2f}" for x in met[1:].mean(axis=0))
                       + f" | {met[1:].sum(axis=1).mean():.1f} of {met.shape[1]} (mean) |")
    if not out:
        return []
    e = next(r["m"]["bin_edges_jy"] for r in runs.values() if "bin_edges_jy" in r["m"])
    head = f"| network ({skies} test skies of drawn shapes) | mean dy | " + " | ".join(
        f"{b} uJy" for b in bin_labels(e)) + " | bins within 1.5x |"
    return [head, "|---|---|" + "---:|" * (len(e) - 1) + "---:|"] + out


def growth_rows(runs: dict) -> list[str]:
    """The transfer networks trained on 21, 42 and 84 pointings, tested on the 12 fast-imaged test pointings:
    how the score grows with the number of training skies."""
    out = ["| training skies | counts | max \\|mean dy\\|, 6.3-10 uJy | 1-10 uJy | 0.1-1 uJy "
           "| mean rms of dy, 1-10 uJy |",
           "|---:|---|---:|---:|---:|---:|"]
    for n, key in ((21, "pointing-small"), (42, "pointing-small-42"), (84, "pointing-small-84")):
        for k, counts in ((key, "its own"), (key + "/corrected", "calibrated")):
            if k not in runs:
                continue
            m = runs[k]["m"]
            dy = np.abs(np.asarray(m["per_sky"]["dy"]["mean"]))
            mid = within_100x(m)
            out.append(f"| {n} | {counts} | {dy[-1]:.3f} | {dy[mid].max():.3f} | {dy[~mid].max():.3f} | "
                       f"{rms_dy(m)[mid].mean():.3f} |")
    return out if len(out) > 2 else []


def correlation_rows(runs: dict, study: Path) -> list[str]:
    out = ["| | mean correlation, neighbouring bins | all pairs of bins |", "|---|---:|---:|"]
    for name in ("seed-fast", "dense-fast", "pointing-fast", "pointing-fast-42", "pointing-fast-84",
                 "pointing-wide-84", "wide-fast-42"):
        c = label_correlation(study / name)
        if c is not None:
            out.append(f"| labels of the training set `{name}` (log counts per sky) | {c[0]:.3f} | {c[1]:.3f} |")
    for name, r in runs.items():
        rc = r["m"].get("residual_correlation")
        if rc:
            for level in ("per_sky", "per_tile"):
                out.append(f"| residuals of {r['label']}, {level.replace('_', ' ')} | "
                           f"{fmt(rc[level]['neighbours'], '.3f')} | {fmt(rc[level]['all_pairs'], '.3f')} |")
    return out


def label_correlation(directory: Path):
    """Mean correlation of neighbouring bins and of all pairs of the per-sky log counts of a dataset's
    training split."""
    if not (directory / "manifest.json").exists():
        return None
    if json.loads((directory / "manifest.json").read_text()).get("status") != "complete":
        return None                   # still being simulated: the report leaves it out
    ds = reader.Dataset(directory)
    t = ds.load("train", datasets=("labels", "realisation"))
    ids = np.unique(t["realisation"])
    sky = np.array([t["labels"][t["realisation"] == i].sum(axis=0) for i in ids], dtype=np.float64)
    c = np.corrcoef(np.log(sky), rowvar=False)
    nb = c.shape[0]
    return float(np.mean(np.diagonal(c, 1))), float(np.mean(c[~np.eye(nb, dtype=bool)]))


def timing_rows(study: Path, runs: dict) -> list[str]:
    out = ["| step | what | wall time | notes |", "|---|---|---:|---|"]
    for name in ("seed-fast", "test-fast", "calib-fast", "test-24-fast", "test-random-fast", "calib-random-fast",
                 "transfer-fast", "transfer-wsclean", "dense-fast", "pointing-fast", "pointing-fast-42",
                 "pointing-fast-84",
                 "pointing-test-fast", "pointing-calib-random", "pointing-test-random", "transfer-fast-w",
                 "pointing-fast-84-w", "pointing-calib-random-w", "pointing-calib-mid", "pointing-test-mid",
                 "pointing-wide-84", "pointing-wide24-wsclean", "wide-fast-42", "calib-mid-fast", "calib-mid2-fast",
                 "test-mid-fast", "test-mid2-fast"):
        path = study / name / "manifest.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text())
        wall = sum(r["wall_s"] for r in m["runs"] if r.get("made"))
        ranks = max((r["ranks"] for r in m["runs"]), default=1)
        core = [sum(r["timings_s"].values()) for r in m["realisations"]]
        if not core:
            continue
        backend = m["config"]["imaging"]["backend"]
        if m["config"]["imaging"].get("w_nodes"):
            backend += f" with the w-term ({m['config']['imaging']['w_nodes']}^2 nodes)"
        out.append(f"| simulate | `{name}`: {m['done']} skies, {backend} | "
                   f"{wall / 60:.1f} min | {ranks} MPI ranks; {np.mean(core):.0f} s per sky on one core "
                   f"({np.min(core):.0f}-{np.max(core):.0f}) |")
    for name, r in runs.items():
        h = r.get("history")
        if h:
            train = sum(float(x["train_s"]) + float(x["validation_s"]) for x in h)
            best = min(h, key=lambda x: float(x["val_loss"]))
            out.append(f"| train | {r['label']} | {train / 60:.1f} min | {len(h)} epochs "
                       f"({train / len(h):.0f} s each), best epoch {best['epoch']} |")
    for name, r in runs.items():
        s = r["m"].get("seconds")
        if s is not None:
            step = "P(D) fit" if name.startswith("pofd") else "evaluate"
            per = f"{s / r['m']['n_skies']:.0f} s per sky" if name.startswith("pofd") else ""
            out.append(f"| {step} | {r['label']} on `{r['test']}` | {s / 60:.1f} min | {per} |")
    for name, r in runs.items():
        c = r.get("run") and r["run"] / "calibration.json"
        if c and c.exists() and r.get("first") and "/" not in name:
            out.append(f"| calibrate | {r['run'].name} on `{calibration_set(r['run'])}` | "
                       f"{json.loads(c.read_text()).get('seconds', 0) / 60:.1f} min | |")
    return out


def figures(runs: dict, images: Path, prefix: str = "results") -> list[str]:
    import shutil
    images.mkdir(parents=True, exist_ok=True)
    out = []
    groups = [("results-dy-fast.png", "EMU mosaics (fast imager), the ablation and P(D)",
               ["fast-small", "fast-small-noise", "fast-small-linear", "fast-small-noaug", "fast-small-gauss",
                "fast-large", "fast-resnet", "dense-small", "pofd-fast"]),
              ("results-dy-transfer.png", "one network, the same skies imaged by the fast imager and by WSClean",
               ["transfer-fast", "transfer-wsclean", "pointing-small/corrected", "pointing-small-wsclean/corrected"]),
              ("results-dy-transfer-42.png", "the 42-sky network's calibrated counts, three training seeds, the same "
               "skies imaged by the fast imager and by WSClean",
               [f"pointing-small-42{s}{i}/corrected" for s in ("", "-s2", "-s3") for i in ("", "-wsclean")]),
              ("results-dy-wide.png", "seed-small trained on mosaics drawn from the wider prior, on the fixed test "
               "pairs, its own and calibrated counts",
               ["wide-small", "wide-small/corrected", "wide-small-conformal/corrected",
                "wide-small-96-conformal/corrected"])]
    for filename, title, names in groups:
        filename = filename.replace("results", prefix, 1)
        entries = [(runs[n]["label"], runs[n]["m"]) for n in names if n in runs]
        if entries:
            n_skies = entries[0][1]["n_skies"]
            plot_residuals(entries, images / filename, title=f"{title}: {n_skies} held-out skies")
            out.append(f"![{title}](images/{filename})")
    best = runs.get("fast-small")
    if best and (best["eval"] / "counts.png").exists():
        shutil.copyfile(best["eval"] / "counts.png", images / "results-counts.png")
        out.append("![N(S) read back by seed-small against the truth, per test sky, with the calibrated 68% "
                   "(bars) and 95% (band) intervals](images/results-counts.png)")
    wide = runs.get("wide-small")
    if wide and (wide["eval"] / "counts.png").exists():
        shutil.copyfile(wide["eval"] / "counts.png", images / f"{prefix}-counts-wide.png")
        out.append("![N(S) read back from the fixed test mosaics by seed-small trained on mosaics drawn from the wider "
                   f"prior, against the truth, with the calibrated intervals](images/{prefix}-counts-wide.png)")
    wsclean = runs.get("pointing-small-42-wsclean")
    if wsclean and (wsclean["eval"] / "counts.png").exists():
        shutil.copyfile(wsclean["eval"] / "counts.png", images / f"{prefix}-counts-wsclean.png")
        out.append("![N(S) read back from WSClean-imaged pointings by the 42-sky network trained on fast-imaged ones, "
                   "against the truth, per test sky, with the calibrated intervals]"
                   f"(images/{prefix}-counts-wsclean.png)")
    return out


def generate(study: Path, images: Path, prefix: str = "results") -> str:
    runs = load(study)
    if not runs:
        raise SystemExit(f"{study}: no evaluated runs or P(D) fits (run scripts/science.sh first)")
    lines = ["### Goals at a glance", "",
             "Per-sky dy, mean over the held-out test skies. The goals: below 0.05 in the top bin (6.3-10 uJy, "
             "10-16x below the threshold) and below 0.10 in every bin from 1 to 10 uJy, and better than the P(D) "
             "baseline in every bin from 1 to 10 uJy by the rms of dy over the skies (bias and scatter together; "
             "the columns count all 10 bins). Rows 'calibrated': the network's summed counts through the "
             "calibration line fitted on the calibration skies (`radtrain calibrate`), what `radtrain predict` "
             "reports as the calibrated counts.", ""]
    lines += goal_rows(runs)
    lines += section("Per-sky intervals: coverage on the test skies",
                     "Fraction of the test skies whose true count lies inside the calibrated 68% and 95% intervals "
                     "(`radtrain calibrate` on the calibration skies, then `radtrain evaluate`), per bin (uJy). The "
                     "goal: 68 +- 8% and 95 +- 5%. One sky is 8% of 12 test skies, 2% of 48; even intervals that are "
                     "exactly right cover 68 +- 8% of 12 skies in only 46% of bins (binomial), of 48 skies in 78%, "
                     "of 144 in 96%. The 48 test pointings are 12 (S0, alpha) pairs 4 times, so their errors are "
                     "not independent; the 144 pointings of drawn shapes each have a pair of their own, drawn as "
                     "the pointing networks' 96 calibration skies are.",
                     coverage_rows(runs))
    lines += section("Coverage at the edges of the calibration prior",
                     "The intervals are calibrated over the calibration skies' prior as a whole (the box of "
                     "(S0, alpha) they were drawn from). Here the test skies are grouped by how far inside that box "
                     "their own (S0, alpha) lie: the least over S0 (in log) and alpha of the distance to the box's "
                     "nearer edge, in box widths (0 on the edge, 0.5 at the centre). A sky of the outer tenth lies "
                     "within a tenth of the width from an edge in S0 or alpha; the inner 60% is the middle 60% of "
                     "the range in both; the outer tenth is also split by the edge each sky lies nearest (S0's or "
                     "alpha's low or high end). 10 of the 12 fixed test pairs lie in the outer tenth (9 with S0 on the "
                     "box's edge, 5e-6 or 5e-5 Jy, and one with alpha 0.05 from it); only test sets of 40 skies or "
                     "more are shown. The mosaics' 24 calibration skies are listed pairs, not a prior (12 drawn "
                     "within the training box, 12 of its pairs, edges included): their test skies of drawn shapes "
                     "are placed in the box they were drawn from, the training box.",
                     edge_rows(runs, study))
    lines += section("Coverage over random splits of the skies of drawn shapes",
                     "A test set of 48 skies is one draw: even intervals that cover exactly 68% on average cover "
                     "a given 48 skies 68 +- 7% (binomial), and the calibration skies are a draw too. Here the "
                     "calibration skies of drawn shapes and the test skies drawn the same way are pooled and split "
                     f"at random {SPLITS} times, as many calibrating and testing as in the run, each calibration "
                     "refitted on its skies' summed counts (`radtrain.uncertainty.calibrate`, the curved line; the "
                     "spread's per-tile part, which summed counts cannot show, set to 0). The coverage per bin is "
                     "the mean over the splits; 'split-to-split spread' is its standard deviation, averaged over the "
                     "bins; the last column the share of the splits' bins within the goal. 'normal': Student's t "
                     "times one spread; 'conformal': the calibration skies' studentised residuals' quantiles "
                     "(`radtrain calibrate --conformal`).", split_rows(runs))
    lines += section("Coverage on WSClean's images over random splits of the skies imaged by both",
                     "The likelihood calibrated for WSClean's images on one noise realisation per sky "
                     "(`RUN-likelihood-shared-for-wsclean`): its thresholds are the conformal quantiles of its 96 "
                     "skies imaged by both imagers. Per bin, the coverage of the test skies of drawn shapes imaged by "
                     "WSClean (pointing-test-mid24, -b, -c, -d, -e, -f as far as made); then those skies pooled with "
                     f"the 96 and split at random {LIKELIHOOD_SPLITS} times, 96 calibrating (with the calibration's "
                     "other skies) and the rest testing, each split's calibration fitted again "
                     "(`radtrain.likelihood.split_coverage`). One test set is one such split: a 68% coverage of 144 "
                     "skies has a binomial standard deviation of 3.9% (of 72, 5.5%), and 96 skies' conformal quantile "
                     "moves it by 4.7% more (Beta-distributed: `radtrain.likelihood.coverage_spread`). The last "
                     "column is the share of splits and bins whose coverage is at most the test skies': near 0 or 1, "
                     "the test skies differ from the calibration's (a permutation test).",
                     likelihood_split_rows(study))
    unpaired = unpaired_evaluations(study)
    lines += section("Coverage of a calibration on skies WSClean never imaged, on every sky it imaged",
                     "The likelihood calibrated on the fast images, with WSClean's noise, of 576 skies of drawn "
                     "shapes that WSClean never imaged (`RUN-likelihood-unpaired`: pointing-calib-mid5-shared and "
                     "pointing-calib-mid6-shared; no imager term), read on every sky of drawn shape WSClean imaged: "
                     "the 96 pairs (pointing-calib-mid to -mid4) and the test skies (pointing-test-mid24 to -mid24f, "
                     "as far as made), and on the fast images of the same skies with the same noise ('fast, all': "
                     "also pointing-calib-mid's 72 skies WSClean did not image). None of them calibrated it, so all "
                     "test it, and its thresholds are the conformal quantiles of 576 skies' scores rather than 96's. "
                     "'expected spread': the standard deviation of a calibrated interval's coverage measured so (the "
                     "test skies' binomial and the thresholds' Beta in quadrature).",
                     unpaired_coverage_rows(study, unpaired))
    lines += section("Transfer read by one calibration for both imagers",
                     "The same calibration (`RUN-likelihood-unpaired`) reads both imagers' images of every sky of "
                     "drawn shape WSClean imaged: calibrated |mean dy| per bin on the fast images (with WSClean's "
                     "noise) and on WSClean's, their ratio (the goal: at most 1.5x), and WSClean's dy minus the fast "
                     "one, sky by sky (mean +- standard error). Rows 'training seeds 1-3 averaged' take the mean, sky "
                     "by sky, of the three trainings' calibrated counts.", sky_by_sky_transfer_rows(study, unpaired))
    lines += section("Transfer on all the test skies of drawn shapes, each imager read by its own one-noise "
                     "calibration",
                     "Like for like with one noise realisation per sky, on every test set of drawn shapes made both "
                     "ways (pointing-test-mid24 to -mid24f, as far as made; the tables above pool at most 72): the "
                     "fast images with WSClean's noise read by `RUN-likelihood-shared-for-fast`, WSClean's by "
                     "`RUN-likelihood-shared-for-wsclean` (the pairs' imager term). Columns as above.",
                     sky_by_sky_transfer_rows(study, shared_evaluations(study)))
    lines += section("Transfer read by one calibration for both imagers, on the fixed pairs",
                     "As above, on the 12 fixed test pairs and their repeats (`transfer-wsclean`, `-24-wsclean`, "
                     "`-24b-wsclean` against `transfer-shared`, `-24-shared`, `-24b-shared`, as far as made; most lie "
                     "at the edges of the prior the calibration skies were drawn from).",
                     sky_by_sky_transfer_rows(study, unpaired_evaluations(study, FIXED_PAIR_SETS)))
    mended = {"fast_images": "mended", "labels": MENDED_LABELS}
    mended_unpaired = unpaired_evaluations(study, **mended)
    lines += section("Coverage of the mended fast imager's calibration on every sky WSClean imaged",
                     "As above for `pointing-small-wide-mended` and its seeds (science.sh MENDED=1): trained on "
                     "pointing-wide-84's skies imaged by the mended fast imager (`imaging.w_nodes = 9`, "
                     "`imaging.final_major = \"threshold\"`, WSClean's noise draw; `pointing-wide-84-mended`) and "
                     "calibrated on its images of the same 576 skies (`RUN-likelihood-unpaired`: "
                     "pointing-calib-mid5-mended and -mid6-mended), read on WSClean's images of every sky of drawn "
                     "shape it imaged and on the mended imager's (`SET-mended`).",
                     unpaired_coverage_rows(study, mended_unpaired))
    lines += section("Transfer read by one calibration for both imagers, the mended fast imager",
                     "The mended imager's calibration reading both imagers' images of every sky of drawn shape WSClean "
                     "imaged: columns as in the transfer read by one calibration for both imagers.",
                     sky_by_sky_transfer_rows(study, mended_unpaired))
    lines += section("Transfer read by one calibration for both imagers, the mended fast imager, on the fixed pairs",
                     "As above, on the 12 fixed test pairs and their repeats (`transfer-wsclean`, `-24-wsclean`, "
                     "`-24b-wsclean` against `transfer-mended`, `-24-mended`, `-24b-mended`, as far as made).",
                     sky_by_sky_transfer_rows(study, unpaired_evaluations(study, FIXED_PAIR_SETS, **mended)))
    exact = {"fast_images": "exact", "labels": EXACT_LABELS, "wsclean_images": "wsclean-linear"}
    exact_unpaired = unpaired_evaluations(study, **exact)
    lines += section("Coverage of the exact major cycle's calibration on every sky WSClean imaged",
                     "As above for `pointing-small-wide-exact` and its seeds (science.sh MENDED=exact): trained on "
                     "pointing-wide-84's skies imaged by the fast imager with the exact major cycle "
                     "(`imaging.major_cycle = \"visibilities\"`, `imaging.final_major = \"threshold\"`, WSClean's "
                     "noise draw; `pointing-wide-84-exact`) and calibrated on its images of the same 576 skies "
                     "(`RUN-likelihood-unpaired`: pointing-calib-mid5-exact and -mid6-exact), read on WSClean's images "
                     "of every sky of drawn shape it imaged, restored without wrap-around (`SET-wsclean-linear`), and "
                     "on the exact imager's (`SET-exact`).",
                     unpaired_coverage_rows(study, exact_unpaired))
    lines += section("Transfer read by one calibration for both imagers, the exact major cycle",
                     "The exact imager's calibration reading both imagers' images of every sky of drawn shape WSClean "
                     "imaged (WSClean's restored without wrap-around): columns as in the transfer read by one "
                     "calibration for both imagers.",
                     sky_by_sky_transfer_rows(study, exact_unpaired))
    lines += section("Transfer read by one calibration for both imagers, the exact major cycle, on the fixed pairs",
                     "As above, on the 12 fixed test pairs and their repeats (`transfer-wsclean-linear`, "
                     "`-24-wsclean-linear`, `-24b-wsclean-linear` against `transfer-exact`, `-24-exact`, "
                     "`-24b-exact`, as far as made).",
                     sky_by_sky_transfer_rows(study, unpaired_evaluations(study, FIXED_PAIR_SETS, **exact)))
    shift = unpaired_evaluations(study, SHIFT_SETS, SHIFT_RUNS)
    lines += section("Coverage of a calibration with the pairs' imager shift alone",
                     "The likelihood calibrated on the fast images, with WSClean's noise, of the 96 pairs and the "
                     "576 skies WSClean never imaged (672 skies), the pairs' WSClean images shifting its map by their "
                     "mean change of reading and nothing else (`RUN-likelihood-shift-for-wsclean`, `radtrain "
                     "calibrate --imager-term shift`): its thresholds are the 672 skies' conformal quantiles. Read on "
                     "WSClean's images of the test skies of drawn shapes (pointing-test-mid24 to -mid24f, as far as "
                     "made); 'fast, same skies': their fast images with the same noise read by the same 672 skies' "
                     "calibration without the shift (`RUN-likelihood-shift-for-fast`). Columns as in the coverage "
                     "table of the calibration on skies WSClean never imaged.",
                     unpaired_coverage_rows(study, shift))
    lines += section("Transfer with the pairs' imager shift alone",
                     "The same two calibrations on the same test skies: calibrated |mean dy| per bin on the fast "
                     "images (by `RUN-likelihood-shift-for-fast`) and on WSClean's (by "
                     "`RUN-likelihood-shift-for-wsclean`), their ratio (the goal: at most 1.5x), and WSClean's dy "
                     "minus the fast one, sky by sky. They differ only by the shift, so this is the transfer one "
                     "calibration's skies give both imagers.", sky_by_sky_transfer_rows(study, shift))
    lines += section("Transfer with the pairs' imager shift alone, on the fixed pairs",
                     "As above, on the 12 fixed test pairs and their repeats (`transfer-wsclean`, `-24-wsclean`, "
                     "`-24b-wsclean` against `transfer-shared`, `-24-shared`, `-24b-shared`, as far as made).",
                     sky_by_sky_transfer_rows(study, unpaired_evaluations(study, FIXED_PAIR_SETS, SHIFT_RUNS)))
    lines += section("How the readings move with the noise",
                     "Each network reads the 96 calibration skies of drawn shapes (`pointing-calib-mid`) again, the "
                     "same skies and noise draws with 0.1% more noise rms, and the same skies with the noise drawn on "
                     "the visibilities as WSClean's; and the same skies imaged with the w-term "
                     "(`imaging.w_nodes = 5`) with the image-plane noise flat-sky, with the w-term "
                     "(`imaging.noise = \"image-w\"`, the same white-noise draws) and drawn on the visibilities "
                     "(`radtrain compare`): the mean change of a sky's reading per "
                     "bin, in percent of its true count, +- its standard error over the skies. The faint counts are "
                     "read from the variance the sources add to the noise's, so the noise level must be known to "
                     "this precision.", noise_rows(study))
    lines += section("How WSClean's images differ from the fast imager's",
                     "Every sky WSClean imaged, against the fast imager's image of it with the same noise draw "
                     "(`imaging.noise = \"visibilities\"`), flat-sky (`SET-shared`) and with the w-term in the sky's "
                     "PSF (`imaging.w_nodes = 5`, `SET-w-shared`), and with `EXACT=1` the fixed pairs by the fast "
                     "imager with WSClean's major cycle and pass rule (`SET-exact`) against WSClean's images "
                     "restored without wrapping round the field's edges (`SET-wsclean-linear`), paired tile by "
                     "tile (`radsim compare`; B is WSClean): the change of the faint pixels' variance (within 5 "
                     "robust widths of the median, "
                     "where the noise and the sources far below it are), of the robust width, of the variance of "
                     "every pixel and of the flux scale over the bright pixels, in percent, the rms of the "
                     "difference in percent of the noise rms and the correlation; mean +- standard error over the "
                     "skies. The networks read the faint counts from the faint pixels' variance: 0.2% more of it "
                     "(0.1% more noise rms) moves the top bin's reading by about 0.8%.", image_rows(study))
    lines += section("How the networks read WSClean's images against the fast imager's",
                     "Each network reads WSClean's test images of drawn shapes (`pointing-test-mid24` to `-mid24f`) "
                     "and the fast imager's with WSClean's noise, flat-sky and with the w-term (`radtrain compare`): "
                     "the mean change of a sky's reading (WSClean's minus the fast one) per bin, in percent of its "
                     "true count, +- its standard error, the sets pooled by their skies.", imager_rows(study))
    lines += section("Coverage by where the network count lies in the calibration range",
                     "Per test sky and bin, where the network's count per tile lies in the calibration skies' range "
                     "of them (`radtrain.uncertainty.range_position`): inside, at the edge (the outer tenth of the "
                     "range) or beyond it; then the fraction of such sky-bins inside their 68% and 95% intervals. "
                     "Unlike a sky's (S0, alpha), this is known for a real image: `radtrain predict` marks those "
                     "bins (* at the edge, ! beyond) and says their intervals are too narrow. Shown for the test "
                     "sets of 40 skies or more and the 12 test mosaics.", range_rows(runs))
    lines += section("Transfer to another imager",
                     "Each network reads the 12 test skies as 2 x 2 deg pointings (`transfer-fast`, "
                     "`transfer-wsclean`: the same skies, uv coverage and restoring beam) imaged once by the fast "
                     "imager and once by WSClean. seed-small was trained on the EMU mosaics and calibrated on "
                     "mosaics, so pointings are outside what it saw; pointing-small is the same network trained on "
                     "the training skies as fast-imaged pointings and calibrated on the calibration skies as "
                     "pointings, so that only the imager changes. The goal: WSClean's |mean dy| no more than 1.5x "
                     "the fast imager's in every bin. Rows 'all 36 test skies' take the 12 test skies and the 24 "
                     "more together, sky by sky; rows 'averaged over training seeds 1-3' the mean, sky by sky, of "
                     "the counts of one network's three trainings (the same config and data, training seeds 1, 2 "
                     "and 3), each read by its own calibration.", transfer_rows(runs))
    lines += section("How far the imagers differ for the networks",
                     "Per test sky, the dy a network reads from WSClean's image minus the dy it reads from the fast "
                     "imager's image of the same sky; mean +- standard error over the skies. A shift within about two "
                     "standard errors of zero is not resolved by that many skies.", shift_rows(runs))
    lines += section("How much the transfer owes to the calibration skies drawn",
                     "Like for like: the test skies of drawn shapes read from their fast images by the likelihood "
                     "calibrated on the same skies as the one for WSClean's images (`RUN-likelihood-for-fast`: "
                     "`radtrain calibrate --likelihood` on the for-WSClean calibration's skies, without "
                     "`--imager-dataset`) and from their WSClean images by the one for WSClean's "
                     "(`RUN-likelihood-for-wsclean`), so that only the imager differs; then both read by the "
                     f"calibration fitted again on its skies drawn with replacement, {RESAMPLE_DRAWS} times (a "
                     "bootstrap: `radtrain.likelihood.resampled`; on simulated calibrations its spread is that of "
                     "calibrations on independently drawn skies). The test skies' own scatter is not in the range: "
                     "it is the same skies throughout.", resampled_rows(runs))
    lines += section("How the score grows with the number of training skies",
                     "pointing-small trained on the 21 (S0, alpha) pairs as pointings once, twice and four times "
                     "over (new skies each time; 17, 34 and 68 of them train, the rest validate), tested on the "
                     "12 fast-imaged test pointings. Whole EMU mosaics cost 50-110 s of one core per sky here (the "
                     "time grows with the number of sources), pointings 4 s, so the growth is measured on pointings.",
                     growth_rows(runs))
    lines += ["", "### Residuals per bin", ""] + figures(runs, images, prefix) + [""]
    for r in runs.values():
        if not r.get("extra"):
            lines += bin_table(r) + [""]
    lines += ["### Do the bins err together?", "",
              "Correlation between bins, across the test skies (per sky) and across the test tiles (per tile), of "
              "the relative residuals (per sky) and the count residuals (per tile); and, for comparison, of the "
              "training sets' own per-sky counts.", ""]
    lines += correlation_rows(runs, study) + [""]
    lines += ["### How long each step took (this machine, 2 cores, steps often sharing them)", ""]
    lines += timing_rows(study, runs) + [""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", type=Path, help="the study directory of scripts/science.sh (runs/study)")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "results.md")
    p.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    p.add_argument("--figure-prefix", default="results",
                   help="the figures' file names start with this (another study beside docs/results.md's)")
    args = p.parse_args(argv)
    body = generate(args.study, args.images, args.figure_prefix)
    text = args.doc.read_text() if args.doc.exists() else f"# Results\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{args.doc}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    args.doc.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    print(f"wrote {args.doc} and its figures in {args.images}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
