#!/usr/bin/env bash
# The science run of docs/results.md (issue 18): the seed study redone on EMU mosaics as ASKAP makes them (36 PAF
# beams, dense uv coverage, primary beams, linear mosaic; configs/emu-seed*.toml), with an ablation of the
# method, per-sky intervals calibrated on held-out skies, the transfer from the fast imager to WSClean, and the
# P(D) baseline on the same mosaics. Every step resumes when run again (radsim simulate and radtrain fit pick up
# where they stopped; finished steps are skipped, an evaluation while it is newer than its run's weights,
# calibration and test set; calibrations, seconds to a minute or two each, are made again), so the script can be
# stopped and restarted at will.
#
#   bash scripts/science.sh                 # everything into runs/study
#   STAGES="simulate train" bash scripts/science.sh
#   OUT=/scratch/study NPROCS=64 bash scripts/science.sh
#   DENSE=1 LARGE=1 bash scripts/science.sh # also the dense set of varied shapes and the seed-large network
#   RESNET=1 bash scripts/science.sh        # also this project's residual network (about 1.5 h more on 2 cores)
#   WTERM=1 PART=pointings OUT=runs/pointings bash scripts/science.sh   # also the w-term transfer network (+50 min)
#   PRIORS=1 PART=pointings OUT=runs/pointings bash scripts/science.sh  # also calibrate and train on a wider prior,
#                                                                       # train on a wider still one, and a curved
#                                                                       # line (+15 min, +35 min, +10 min)
#   PRIORS=1 PART=mosaics OUT=runs/mosaics bash scripts/science.sh      # also calibrate seed-small on 96 mosaics
#                                                                       # of drawn shapes and on those and the 24
#                                                                       # listed ones pooled, and every network
#                                                                       # with a curved line, and with a curved
#                                                                       # line and conformal intervals on the 96
#                                                                       # (+30 min, +25 min, +15 min)
#   MENDED=1 PART=pointings OUT=runs/pointings bash scripts/science.sh  # also the transfer study again with the
#                                                                       # mended fast imager (9 x 9 w-term nodes,
#                                                                       # WSClean's last-major-cycle rule and noise)
#                                                                       # on the skies PRIORS=1 had WSClean image
#                                                                       # (about 3 h more on 2 cores)
#   MENDED=exact PART=pointings OUT=runs/pointings bash scripts/science.sh  # the same with the exact major cycle
#                                                                       # (SET-exact, and EXACT=1), read against
#                                                                       # WSClean restored without wrap-around
#                                                                       # (SET-wsclean-linear: its 240 skies of
#                                                                       # drawn shapes, EXACT=1's 60 fixed pairs):
#                                                                       # about 6 h for the 960 exact pointings and
#                                                                       # 7.5 h for WSClean's 300 on 2 cores
#                                                                       # (radsim plan calibrated on the 12
#                                                                       # exact pairs: 5.8 h at the 3e-4 asked,
#                                                                       # 7.4 h at the default 1e-5)
#   EXACT=1 PART=pointings OUT=runs/pointings bash scripts/science.sh   # also the 60 fixed-pair skies by the
#                                                                       # fast imager with the exact major cycle
#                                                                       # and by WSClean restored without wrap-
#                                                                       # around, compared sky by sky
#                                                                       # (about 2.2 h more on 2 cores)
#   PLAN=1 MENDED=exact PART=pointings OUT=runs/pointings bash scripts/science.sh   # make nothing: price each
#                                                       # dataset the simulate stage would make, only what is left of
#                                                       # it (radsim plan --resume on NPROCS ranks), then each
#                                                       # training the train stage would run, only the epochs left
#                                                       # (radtrain plan --resume on 1 rank), and their sums;
#                                                       # PLAN_CALIBRATION=model.json (radsim scaling) and
#                                                       # PLAN_TRAIN_CALIBRATION=RUN (a finished seed-small run) for
#                                                       # measured runs of the machines it will run on
#   ONLY='*-conformal' STAGES="calibrate evaluate" ... bash scripts/science.sh   # only the runs these globs name
#   REDO=1 STAGES=evaluate ... bash scripts/science.sh  # evaluate again even where the metrics are up to date (an
#                                                       # evaluation newer than its run's weights, calibration and
#                                                       # test set is otherwise skipped)
#   ONLY='pointing-*-mid pointing-xwide-126 pointing-small-*wide*' PRIORS=1 PART=pointings ... # datasets too: only
#                                                       # those named are simulated and trained (2026-12-04: 55 min)
#   PART=pointings OUT=runs/pointings bash scripts/science.sh   # only the transfer study on pointings (45-80 min)
#   PART=wide OUT=runs/wide bash scripts/science.sh     # only seed-small trained and calibrated on mosaics drawn from
#                                                       # a prior wider than the test pairs' box (3.4 h on 2026-12-03,
#                                                       # 1 h more for test-mid2-fast and calib-mid2-fast)
#
# Compute budget per stage on the 2-core development machine (no GPU), measured on 2026-12-02 (wall times on 2
# ranks, with other steps often sharing the cores):
#   simulate  test-fast 12 skies 6.7 min; seed-fast 21 skies 14.8 min; calib-fast 24 skies 14.1 min (EMU mosaics,
#             41-144 s per sky on one core); test-24-fast 24 skies 8.7 min, test-random-fast 48 skies 12.7 min
#             (2026-12-03, nothing else running); transfer-{fast,wsclean}: 12 skies of 2 x 2 deg in one pointing, fast
#             0.5 min and WSClean 22 min alone, 33 min beside other work (its w-gridder: 190-320 s per sky on
#             one core); pointing-fast, -42, -84: 21, 42 and 84 pointings, 0.9, 1.7 and 3.4 min; pointing-test-fast:
#             48 pointings, 1.5 min; pointing-calib-random and pointing-test-random: 96 and 144, 2.1 and 2.9 min;
#             dense-fast (DENSE=1) 36 mosaics of varied shapes, 22.9 min (45-103 s per sky on one core)
#             WTERM=1: transfer-fast-w 5.7 min (5 of them the 25 node PSFs, made once into the cache),
#             pointing-fast-84-w 4.1 min, pointing-calib-random-w 3.5 min (4-6 s per sky on one core; rerun of
#             2026-12-02 evening, when WSClean's 12 pointings took 17.8 min and the flat-sky ones 10 min);
#             transfer-24-wsclean 34.7 min, transfer-24-fast-w 1.2 min
#             PRIORS=1: pointing-calib-mid and pointing-test-mid, 96 and 144 pointings, 1.4 and 2.2 min, and
#             pointing-wide-84, 84 pointings, 1.2 min (2026-12-03); on 2026-12-04 (nothing else running)
#             pointing-calib-mid 2.5 min, pointing-test-mid 3.6, pointing-wide-84 2.1, pointing-xwide-126 4.8,
#             pointing-calib-mid-wsclean (24 WSClean pointings) 45.3 min (beside other work); pointing-calib-mid2
#             (24 pointings) 52 s and pointing-calib-mid2-wsclean 40.7 min (nothing else running), pointing-calib-mid3
#             44 s and pointing-calib-mid3-wsclean 40.5 min; transfer-24-fast 77 s and transfer-24-wsclean 55.1 min
#             (beside the test suite); on 2026-12-05 transfer-24b-fast 37 s and transfer-24b-wsclean 35.9 min,
#             pointing-test-mid24 41 s and pointing-test-mid24-wsclean 52.0 min (beside the test suite; remade
#             later in 26.6 min, and pointing-calib-mid3 24 s and -mid3-wsclean 35.8 min beside the test suite;
#             pointing-test-mid24b 17 s and pointing-test-mid24b-wsclean 24.5 min, nothing else running;
#             pointing-calib-mid4 27 s, pointing-test-mid24c 17 s and pointing-test-mid24c-wsclean 30.3 min;
#             pointing-calib-mid5 (192 fast pointings) 167.8 s on 2 ranks;
#             on 2026-12-06 the sets with WSClean's noise (pointing-*-shared, imaging.noise = "visibilities", about
#             5 s per pointing on one core): calib-mid 244.5 s, calib-mid2..4 67-75 s each, test-mid24/b/c 61-62 s
#             each, calib-mid5 484.4 s, 19 min in all on 2 ranks; on 2026-12-06 (second session) pointing-test-mid24d
#             14.7 s, -mid24d-wsclean 2095.7 s, -mid24d-shared 57.1 s, pointing-test-mid24e 19.2 s, -mid24e-wsclean
#             2173.6 s, -mid24e-shared 62.5 s on 2 ranks, and transfer-shared, -24-shared and -24b-shared 151.5,
#             301.8 and 309.2 s on 1 rank, all beside one another; on 2026-12-06 (third session)
#             pointing-calib-mid6-shared (384 pointings) 2345.1 s on 2 ranks beside pointing-test-mid24f-wsclean,
#             which took 3176.0 s on 2 ranks beside it, pointing-test-mid24f 22.1 s and -mid24f-shared 67.6 s;
#             pointing-calib-mid4-wsclean lost a rank to the OOM killer after 19 of 24 skies, both ranks at about
#             12 GiB in the prediction of 74-million-source skies, and made its last 8 on one rank in 22.0 min:
#             give the WSClean sets about 15 GiB per rank (NPROCS=1 on a 24 GiB machine; benchmarks/README.md)),
#             pointing-wide24-wsclean 43.3 min (beside the test suite); rerun on a new machine of the same kind
#             (nothing else running): transfer-wsclean 11.7 min, pointing-wide24-wsclean 23.2 min (116 s per sky on
#             one core), pointing-calib-mid-wsclean on 1 rank beside training and another 1-rank simulation
#             50.3 min (150 s per sky)
#             on 2026-12-06 (fifth session) pointing-calib-mid-rms (96) 201 s on 2 ranks beside another
#             simulation, and pointing-calib-mid(5) with the mended visibility noise: 96 in 349 s, 192 in 996 s;
#             sixth session: pointing-calib-mid-w-image 244 s, -image-w 257 s (the PSFs and the filters cached
#             beforehand: 275 s once), -visibilities 468 s (96 each on 2 ranks); seventh session: the fast imager
#             with the w-term and WSClean's noise 67 s per 12 skies and 146 s per 24 on 2 ranks beside a WSClean run
#             (SET-w-shared: about 30 min for the 13 sets); radsim compare of 12 pointings 3 s
#             EXACT=1 (2026-12-07, twelfth session): the 12 fixed pairs with the exact major cycle 715.9 s on 2
#             ranks beside WSClean (60.5 s per sky on one core), by WSClean with the linear restore 1113.3 s: the
#             60 skies about 2.2 h; radsim compare of 12 pointings 3 s
#             MENDED=1 (2026-12-07, eleventh session): the mended fast imager's 96 pointings of pointing-calib-mid
#             in 12.0 min on 2 ranks (7.5 s each) and pointing-wide-84's 84 in 15.4 min beside the test suite, so its
#             960 pointings (84 training, 576 calibration, 300 made by WSClean too) about 2 h, and its 81 node PSFs
#             643 s once on 2 threads (1.4 GB in the cache)
#             PART=wide (2026-12-03, 2 ranks, the first hour beside a fresh-clone test run): wide-fast-42
#             50.9 min, test-fast 16.0, calib-mid-fast 41.2, test-24-fast 18.5, test-mid-fast 36.6 (about 90 s
#             per sky on one core); wide-small 35 min (30 epochs of 60-93 s, 117-175 tiles/s);
#             its calibrations, evaluations and report 7 min; test-mid2-fast 28.1 min and calib-mid2-fast
#             28.8 min (2026-12-04, nothing else running, 69 s per sky on one core), wide-small-96-conformal's
#             calibration 1.9 min and its four evaluations 3 min
#             PART=mosaics DENSE=1 LARGE=1 on 2026-12-02 night: test-fast 4.9 min, seed-fast 8.0, calib-fast 9.9,
#             dense-fast 15.2 (43-49 s per sky on one core); the whole part, training included, 1 h 32 min
#   train     seed-small 2.3-6.4 min per run in the run of docs/results.md (early stopping after 10-25 epochs of
#             10-15 s), but 11-20 min per run on 2026-12-02 afternoon (10-23+ epochs of 42-58 s, 90-120 tiles/s,
#             beside imaging diagnostics): budget up to 20 min per run, 2.5 h for the seven runs; pointing-small
#             2.5, 4.5-5.5 and 11.9 min on 21, 42 and 84 skies (1.0, 1.4-1.8 and 2.9-3.1 min on the
#             machine of the evening rerun, 9 s per epoch on 68 skies against 34 s); seed-large (LARGE=1)
#             7.3 min (early stopping after 7 epochs of 50 steps, 62 s each); resnet (RESNET=1) 170-200 s per
#             epoch beside other work, about 1.5 h for its 30 epochs; on 2026-12-02 night seed-small 1.3-5.0 min
#             per run (8-15 s per epoch), seed-large 6.3 min (54 s per epoch), dense-small 8.5 min (25 epochs of
#             20 s); pointing-small-wide (PRIORS=1) 3.1 min on 2026-12-03 (24 epochs of 7 s), 7.8 min on
#             2026-12-04 (early stopping after 12 epochs of 28-35 s), 5.6 min on 2026-12-05 (early stopping after
#             28 epochs of 10-11 s); pointing-small-xwide 23.4 min (30 epochs of 42-48 s, 150-165 tiles/s);
#             pointing-small-wide-mix 16 min beside other work (early stopping after 22 epochs of 35-73 s),
#             6.6 min alone (30 epochs of 12 s, 480-500 tiles/s);
#             its and pointing-small-wide's trainings with seeds 2 and 3 3.4-3.9 min each beside the test suite
#             (17-23 epochs of 7-16 s)
#             pointing-small-wide-mended (MENDED=1) 5.8 min beside the test suite (early stopping after 22 epochs
#             of 12-17 s, 290-360 tiles/s); budget 20 min for it and its two seeds
#   calibrate, evaluate  well under a minute per run and dataset (calibrate on 96 or 120 mosaics 1.2-1.5 min);
#             PRIORS=1 calibrate + evaluate of the whole mosaics part 50 min, of the pointings part 28 min;
#             the six RUN-likelihood-for-fast calibrations and their 18 evaluations 6.5 min (beside the test suite);
#             the twelve RUN-likelihood-shared-for-* calibrations 1.3-1.6 min each and their 36 evaluations 5 min
#             (2026-12-06);
#             on 360 calibration skies (with pointing-calib-mid5) each of the 12 likelihood-for-* calibrations
#             1.3-1.6 min and their 54 evaluations 8 min (beside the test suite); the 84 evaluations of the
#             RUN-likelihood-shared-for-* runs on five sets of drawn skies and the fixed pairs 29 min beside a
#             WSClean set (about 25 s each), the 12 more on pointing-test-mid24e*, the other 80 up to date, 1.9 min;
#             the six RUN-likelihood-unpaired calibrations on 576 skies 1.4-1.9 min each (3.8 min beside WSClean;
#             5.0 GiB peak memory; 1.6 GiB for 576 skies since calibrate reads a shard at a time, fourth session:
#             benchmarks/README.md) and their 144 evaluations 20 min (2026-12-06, third session); the twelve
#             RUN-likelihood-shift-for-* calibrations on 672 skies and their 108 evaluations not yet run (expected
#             about 2 min each and 15-20 min: the unpaired runs' figures scaled by the skies); radtrain compare
#             of one network on 96 skies read twice 43 s (four per network calibrated for WSClean: 20 min for 7)
#             MENDED=1: the three pointing-small-wide-mended-likelihood-unpaired calibrations on 576 skies about 2 min
#             each (on 96 skies 11 s) and their 78 evaluations about 12 min (7-9 s per 12-24 pointings)
#   pofd      the P(D) fit of the 12 test mosaics, 4.1 min (20 s per sky)
#   report    PART=pointings 10.3 min on 2026-12-06, 8 min of them the coverage over random splits of the one-noise
#             calibrations (6 trainings x 100 splits, each a likelihood fitted again on 360 skies); 11.8 min with
#             144 test skies and the unpaired calibration's tables (third session)
#
# Parts (PART, default all): mosaics (the ablation on EMU mosaics and P(D): seed-fast, test-fast, calib-fast and the
# networks trained on them), pointings (the transfer study and the coverage on drawn shapes: transfer-*, pointing-* and
# the pointing networks) or wide (seed-small trained on mosaics drawn from the wider prior: wide-fast-42,
# calib-mid-fast, calib-mid2-fast, test-mid-fast, test-mid2-fast and the fixed test mosaics), each on its own (a part
# fits one working session here). The report of PART=pointings goes to docs/results-pointings.md (figures
# results-pointings-*.png), of PART=wide to docs/results-wide.md (results-wide-*.png), the others' to docs/results.md.
#
# Stages (STAGES, default all, in this order):
#   simulate  seed-fast: configs/emu-seed.toml (21 skies, 17 train / 4 validation); test-fast:
#             configs/emu-seed-test.toml (12 held-out skies, 6 of them (S0, alpha) pairs never trained on);
#             calib-fast: configs/emu-seed-calib.toml (24 skies that calibrate the intervals); test-24-fast: the 12
#             test pairs twice more (another seed); test-random-fast: 48 mosaics, each sky's (S0, alpha) drawn from
#             the training box (S0 log-uniform in 5e-6..5e-5 Jy, alpha uniform in -0.6..0.3): a coverage that rests
#             on 48 count shapes the calibration never saw, not on 12; with PRIORS=1 calib-random-fast: 96
#             mosaics of shapes drawn from that box (its own seed) to calibrate on;
#             transfer-fast and transfer-wsclean: configs/emu-seed-transfer.toml (the 12 test skies as 2 x 2 deg
#             pointings, one restoring beam) imaged by both; pointing-fast (-42, -84): the training skies as such
#             pointings (each pair 1, 2, 4 times); pointing-test-fast: the 12 test pairs as pointings 4 times
#             (48 skies);
#             pointing-calib-random and pointing-test-random: 96 and 144 pointings, each sky's (S0, alpha) drawn
#             from one prior (S0 log-uniform in 5e-6..5e-5 Jy, alpha uniform in -0.6..0.3, the box of the
#             training pairs): calibration skies drawn as the test skies are, and a coverage that rests on 144
#             independent count shapes, not on 12 pairs repeated; with WTERM=1 transfer-fast-w, pointing-fast-84-w
#             and pointing-calib-random-w: the test, 84 training and 96 calibration pointings imaged by the fast
#             imager with the w-term (imaging.w_nodes = 5); with PRIORS=1 pointing-calib-mid and
#             pointing-test-mid: 96 and 144 pointings drawn from a prior wider than the training box by 0.15 dex
#             in S0 and 0.1 in alpha on each side (S0 log-uniform in 3.5e-6..7e-5 Jy, alpha in -0.7..0.4), so
#             that the 12 fixed test pairs, 10 of them in the training box's outer tenth, lie further inside,
#             and pointing-wide-84: 84 training pointings drawn from that prior (68 train, 16 validate), and
#             pointing-xwide-126: 126 training pointings drawn from a prior wider still by as much again (S0
#             log-uniform in 2.5e-6..1e-4 Jy, alpha in -0.8..0.5; as densely: 1.45x the area), so that the edges of
#             what a network learnt lie beyond those of the prior it is calibrated and tested on, and
#             pointing-calib-mid-wsclean: the first 24 of pointing-calib-mid's skies imaged again by WSClean,
#             and pointing-calib-mid2 and pointing-calib-mid2-wsclean, pointing-calib-mid3 and
#             pointing-calib-mid3-wsclean, pointing-calib-mid4 and pointing-calib-mid4-wsclean: three times 24
#             more calibration pointings from that prior, fast and by WSClean, and pointing-calib-mid5: 192
#             more by the fast imager alone (seed 2306193),
#             and transfer-24-fast, transfer-24-wsclean, transfer-24b-fast and transfer-24b-wsclean: the 12 test
#             pairs twice and twice more (seeds 2306165, 2306181), flat-sky fast and by WSClean, and
#             pointing-test-mid24 and pointing-test-mid24-wsclean: the first 24 of pointing-test-mid's skies, fast
#             and by WSClean, pointing-test-mid24b and pointing-test-mid24b-wsclean: 24 more test skies of shapes
#             drawn from that prior (seed 2306190), fast and by WSClean, pointing-test-mid24c and
#             pointing-test-mid24c-wsclean: 24 more again (seed 2306192), pointing-test-mid24d, -mid24e and their
#             -wsclean: 48 more (seeds 2306194, 2306195), pointing-test-mid24f and its -wsclean: 24 more (seed
#             2306196), pointing-calib-mid6-shared: 384 calibration skies by the fast imager with WSClean's noise
#             alone (seed 2306198), transfer-shared, transfer-24-shared and
#             transfer-24b-shared: the 12 fixed test pairs and their 48 repeats by the fast imager with
#             WSClean's noise, and pointing-wide24-wsclean: the first 24
#             of pointing-wide-84's training skies imaged again by WSClean; SET-w-shared: every set WSClean imaged
#             (pointing-calib-mid's first 24, -mid2 to -mid4, the test sets of drawn shapes, the fixed pairs) by the
#             fast imager with its noise and the w-term in the sky's PSF; with MENDED=1 SET-mended: the same sets,
#             pointing-wide-84, pointing-calib-mid5 and pointing-calib-mid6 by the mended fast imager (9 x 9 w-term
#             nodes, imaging.final_major = "threshold", WSClean's noise);
#             PART=wide: wide-fast-42, calib-mid-fast and test-mid-fast: 42 EMU mosaics drawn from that wider
#             prior to train on (34 train, 8 validate), 48 + 48 to calibrate on (calib-mid-fast, calib-mid2-fast)
#             and 48 + 48 to test on (test-mid-fast, test-mid2-fast), and test-fast and test-24-fast (the fixed
#             test pairs)
#   train     the ablation on seed-fast (configs/train-seed-small.toml and one change each): fast-small (asinh
#             stretch, pixel-width input, augmentation, standardised counts, MSE), fast-small-noise (+ the tile's
#             noise from the noise map), fast-small-linear (standardised pixels, no stretch), fast-small-noaug (no
#             flips/rotations), fast-small-gauss (a Gaussian likelihood head), fast-small-s2, -s3 (training seeds 2
#             and 3); with LARGE=1 fast-large (seed-large); with RESNET=1 fast-resnet (this project's residual
#             network); with DENSE=1 dense-small on dense-fast; the
#             transfer networks pointing-small (-42, -84) on pointing-fast (-42, -84); with WTERM=1
#             pointing-small-84-w on pointing-fast-84-w; with PRIORS=1 pointing-small-wide on pointing-wide-84
#             and pointing-small-xwide on pointing-xwide-126, and pointing-small-wide-mix on pointing-wide-84 with
#             pointing-wide24-wsclean mixed in (radtrain fit --mix: both imagers' images of 24 of its skies),
#             and both of these twice more with training seeds 2 and 3 (pointing-small-wide-s2, -mix-s2, ...);
#             with MENDED=1 pointing-small-wide-mended (and -s2, -s3) on pointing-wide-84-mended;
#             PART=wide: wide-small (seed-small) on wide-fast-42
#   calibrate every run on calib-fast, the pointing networks on pointing-calib-random (pointing-small-84-w on
#             pointing-calib-random-w) (-> RUN/calibration.json); with PRIORS=1 also pointing-small, -42 and -84
#             once more as RUN-mid (the same weights) calibrated on pointing-calib-mid, and pointing-small-wide
#             on pointing-calib-mid, and pointing-small-xwide and pointing-small-wide-mix too (all also as
#             RUN-conformal, a curved line and conformal intervals, and the last three as RUN-likelihood, with the count model's likelihood over
#             the calibration skies' (S0, alpha) on top: radtrain calibrate --likelihood, and as
#             RUN-likelihood-for-wsclean, calibrated for WSClean's images on pointing-calib-mid, -mid2, -mid3 and
#             -mid4 with --imager-dataset pointing-calib-mid-wsclean, -mid2-wsclean, ..., as many of -mid2, -mid3
#             and -mid4 as both imagers have made, and on pointing-calib-mid5 too once made), and as
#             RUN-likelihood-for-fast, calibrated on the same
#             skies without --imager-dataset (for the fast imager's images: like for like against
#             RUN-likelihood-for-wsclean), and both once more as RUN-likelihood-shared-for-wsclean and -for-fast on
#             the fast sets made again with WSClean's noise (pointing-calib-mid-shared, ...,
#             pointing-calib-mid5-shared), and as RUN-likelihood-unpaired on the 576 skies of
#             pointing-calib-mid5-shared and -mid6-shared alone, none imaged by WSClean (no --imager-dataset), and
#             as RUN-likelihood-shift-for-wsclean on those and the pairs' -shared sets (672 skies) with the pairs'
#             WSClean images shifting the map alone (--imager-term shift) and RUN-likelihood-shift-for-fast on the
#             same 672 without them; the
#             seed 2 and 3 networks as RUN-likelihood, RUN-likelihood-for-wsclean, RUN-likelihood-for-fast, the two
#             RUN-likelihood-shared-for-*, RUN-likelihood-unpaired and the two RUN-likelihood-shift-for-* alone;
#             with PRIORS=1
#             fast-small, -s2 and -s3 once more as RUN-drawn calibrated on calib-random-fast, every network as
#             RUN-curved (a curved line, on its own calibration skies) and as RUN-conformal (a curved line and
#             conformal intervals; the mosaic networks on calib-random-fast);
#             PART=wide: wide-small on calib-mid-fast, and once more as wide-small-conformal with a curved line and
#             conformal intervals, and as wide-small-96-conformal so on calib-mid-fast and calib-mid2-fast
#   evaluate  every run on test-fast (eval-test), test-24-fast (eval-test-24) and test-random-fast
#             (eval-test-random); fast-small and the pointing networks on transfer-fast,
#             transfer-fast-w (WTERM=1) and transfer-wsclean; the flat-sky pointing networks also on
#             pointing-test-fast (eval-pointing-test) and pointing-test-random (eval-pointing-random); the
#             RUN-likelihood-for-wsclean runs on transfer-wsclean (and transfer-24-wsclean, -24b-wsclean) and
#             pointing-test-mid24-wsclean, -mid24b-wsclean and -mid24c-wsclean (eval-pointing-mid24-wsclean, ...)
#             alone, RUN-likelihood and RUN-likelihood-for-fast (all three training seeds) also on
#             pointing-test-mid24, -mid24b and -mid24c (eval-pointing-mid24, ...);
#             RUN-likelihood-shared-for-wsclean on the WSClean test sets of drawn shapes (-mid24d, -mid24e and
#             -mid24f too: 144 skies) and on transfer-wsclean, -24-wsclean and -24b-wsclean, and
#             RUN-likelihood-shared-for-fast on pointing-test-mid24-shared, ..., -mid24f-shared and
#             transfer-shared, -24-shared and -24b-shared; RUN-likelihood-unpaired on every set of drawn shapes
#             made both by WSClean and by the fast imager with its noise (pointing-calib-mid..-mid4, the test
#             sets; eval-SET-wsclean and eval-SET-shared) and on the fixed pairs so made (MENDED=1:
#             pointing-small-wide-mended-likelihood-unpaired and its seeds, calibrated on pointing-calib-mid5-mended
#             and -mid6-mended, on the same sets by WSClean and by the mended imager, eval-SET-mended);
#             RUN-likelihood-shift-for-wsclean on WSClean's images of the test sets and fixed pairs made both ways,
#             RUN-likelihood-shift-for-fast on their fast ones with WSClean's noise (eval-SET-wsclean, eval-SET-shared);
#             radsim compare of WSClean's images of every set it imaged against SET-shared and SET-w-shared
#             (images/SET-shared.json, images/SET-w-shared.json; EXACT=1: the fixed pairs' SET-exact against
#             SET-wsclean-linear, images/SET-exact.json), and radtrain compare of each network calibrated for
#             WSClean on its test images of drawn shapes against both (RUN/compare-imager-flat-SET.json, -imager-w-);
#             the
#             networks calibrated on pointing-calib-mid on pointing-test-mid instead of pointing-test-random;
#             PART=wide: wide-small, wide-small-conformal and wide-small-96-conformal on test-fast,
#             test-24-fast, test-mid-fast (eval-test-mid) and test-mid2-fast (eval-test-mid2)
#   pofd      the P(D) baseline on test-fast (the noise map's groups included)
#   report    docs/results.md tables and docs/images/results-*.png (scripts/science_report.py)
set -euo pipefail
PART="${PART:-all}"
case "$PART" in
    all|mosaics|pointings|wide) ;;
    *) echo "science.sh: PART=$PART: expected all, mosaics, pointings or wide" >&2; exit 2 ;;
esac
MENDED="${MENDED:-0}"
case "$MENDED" in
    0|1|exact) ;;
    *) echo "science.sh: MENDED=$MENDED: expected 0, 1 (9 x 9 w-term nodes) or exact (the exact major cycle)" >&2
       exit 2 ;;
esac
PLAN="${PLAN:-0}"
case "$PLAN" in
    0|1) ;;
    *) echo "science.sh: PLAN=$PLAN: expected 0 or 1 (price the simulations left, make nothing)" >&2; exit 2 ;;
esac
if [ -n "${PLAN_CALIBRATION:-}" ] && [ ! -f "$PLAN_CALIBRATION" ]; then
    echo "science.sh: PLAN_CALIBRATION=$PLAN_CALIBRATION: no such file (model.json from radsim scaling)" >&2; exit 2
fi
if [ -n "${PLAN_TRAIN_CALIBRATION:-}" ] && [ ! -f "$PLAN_TRAIN_CALIBRATION/run.json" ]; then
    echo "science.sh: PLAN_TRAIN_CALIBRATION=$PLAN_TRAIN_CALIBRATION: not a radtrain run (no run.json): name a run" \
         "of seed-small trained on the machine this will run on" >&2; exit 2
fi
STAGES="${STAGES:-simulate train calibrate evaluate pofd report}"
for stage in $STAGES; do
    case "$stage" in
        simulate|train|calibrate|evaluate|pofd|report) ;;
        *) echo "science.sh: STAGES: unknown stage '$stage' (simulate train calibrate evaluate pofd report)" >&2
           exit 2 ;;
    esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
OUT="${OUT:-runs/study}"
NPROCS="${NPROCS:-$(nproc)}"
DENSE="${DENSE:-0}"
LARGE="${LARGE:-0}"
RESNET="${RESNET:-0}"
WTERM="${WTERM:-0}"
PRIORS="${PRIORS:-0}"
EXACT="${EXACT:-0}"
# the suffix of the mended imager's sets and networks: SET-mended (9 x 9 nodes), or SET-exact with MENDED=exact, which
# also makes EXACT=1's fixed pairs both ways (transfer-exact is the same set either way)
MENDED_KIND=mended
[ "$MENDED" = exact ] && { MENDED_KIND=exact; EXACT=1; }
ONLY="${ONLY:-}"
REDO="${REDO:-0}"
[ "$PLAN" = 1 ] || mkdir -p "$OUT"          # PLAN=1 makes nothing
export TF_CPP_MIN_LOG_LEVEL=2 OMP_NUM_THREADS=1
# the fast imager's PSF, noise filter and beam are made once per configuration and shared by every rank and run
export RADSIM_CACHE_DIR="${RADSIM_CACHE_DIR:-$OUT/cache}"
say() { printf '\n[science %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
wants() { [[ " $STAGES " == *" $1 "* ]]; }
part() { [ "$PART" = all ] || [ "$PART" = "$1" ]; }
launch() {
    local root=()
    [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
    if command -v mpirun >/dev/null && [ "$NPROCS" -gt 1 ]; then mpirun "${root[@]}" -n "$NPROCS" "$@"; else "$@"; fi
}

SEED_SPLIT=(--set dataset.train_fraction=0.81 --set dataset.validation_fraction=0.19 --set dataset.test_fraction=0.0)
# the EMU skies observed as the transfer test observes them (configs/emu-seed-transfer.toml): one 2 x 2 deg
# pointing, 30-s integrations, no primary beam, one restoring beam for every imager
POINTING=(--set field.size_deg=2.0 --set field.npix=1024 --set imaging.integration_s=30.0
          --set 'imaging.footprint="single"' --set 'imaging.primary_beam="none"'
          --set 'imaging.restoring_beam="radsim"')

# the fast imager with the w-term: exact PSFs at 5 x 5 nodes of the window, each for the pixels nearest it
WNODES=(--set imaging.w_nodes=5)
MORE_TEST=(--set realisations.repeats=2 --set run.seed=2306165)
MORE_TEST_B=(--set realisations.repeats=2 --set run.seed=2306181)

RANDOM_PAIRS=(--set 'realisations.mode="random"' --set realisations.repeats=1
              --set 'realisations.priors={s0_jy={loguniform=[5e-6, 5e-5]}, alpha={uniform=[-0.6, 0.3]}}')
# the fast imager's noise drawn on the visibilities as WSClean's is: a sky imaged by both carries one noise realisation
SHARED_NOISE=(--set 'imaging.noise="visibilities"')
# the mended fast imager (MENDED=1): the w-term from exact PSFs at 9 x 9 nodes, WSClean's rule for its last major
# cycle and WSClean's noise draw; on 36 skies of drawn shapes it read as WSClean does to +0.16 +- 0.07% of the true
# count in the top bin (the flat-sky "peak" imager: -0.12 +- 0.14% on average, -0.28 +- 0.17% on the densest third;
# docs/results-pointings.md, "More w-term nodes")
MENDED_IMAGER=(--set imaging.w_nodes=9 --set 'imaging.final_major="threshold"' "${SHARED_NOISE[@]}")
# EXACT=1: the fast imager with WSClean's major cycle (the sky and the model predicted to the visibilities and imaged
# again with the w-term), pass rule and noise draw, against WSClean's images restored without wrapping a beam on one
# edge of the field round to the other: on the 12 fixed pairs their faint pixels' variance agreed to -0.002 +-
# 0.020% (docs/results-pointings.md, "The exact major cycle"); with ducc0's w-gridder asked for 3e-4 rather than 1e-5,
# 23% faster and the same images to 0.1% of the noise rms (the 12 pairs' faint variance the same to 0.001%)
EXACT_IMAGER=(--set 'imaging.major_cycle="visibilities"' --set 'imaging.final_major="threshold"' "${SHARED_NOISE[@]}"
              --set imaging.gridder_epsilon=3e-4)
LINEAR_WSCLEAN=(--set 'imaging.backend="wsclean"' --set 'imaging.wsclean_restore="linear"')
# MENDED=exact: the mended transfer study with the exact major cycle in place of the 9 x 9 nodes, read against
# WSClean's images restored without wrap-around (SET-wsclean-linear) of the same skies
[ "$MENDED" = exact ] && MENDED_IMAGER=("${EXACT_IMAGER[@]}")
MID_PAIRS=(--set 'realisations.mode="random"' --set realisations.repeats=1
           --set 'realisations.priors={s0_jy={loguniform=[3.5e-6, 7e-5]}, alpha={uniform=[-0.7, 0.4]}}')
# wider still by as much again (0.15 dex in S0, 0.1 in alpha on each side): to train on, so that the edges of the
# prior a network learnt lie beyond those of the prior its intervals are calibrated and tested on
XWIDE_PAIRS=(--set 'realisations.mode="random"' --set realisations.repeats=1
             --set 'realisations.priors={s0_jy={loguniform=[2.5e-6, 1e-4]}, alpha={uniform=[-0.8, 0.5]}}')

# the sets of drawn shapes WSClean imaged (PRIORS=1), as name:skies:seed (of pointing-calib-mid's 96, the first 24)
WSCLEAN_SETS=(pointing-calib-mid:24:2306167 pointing-calib-mid2:24:2306178 pointing-calib-mid3:24:2306179
              pointing-calib-mid4:24:2306191 pointing-test-mid24:24:2306168 pointing-test-mid24b:24:2306190
              pointing-test-mid24c:24:2306192 pointing-test-mid24d:24:2306194 pointing-test-mid24e:24:2306195
              pointing-test-mid24f:24:2306196)

complete() {   # dataset: whether its run has finished (one still being made, or killed, is not read)
    grep -q '"status": "complete"' "$OUT/$1/manifest.json" 2>/dev/null
}

both_imagers() {   # name n seed: n pointings of shapes drawn from the wider prior, fast and by WSClean (name-wsclean)
    simulate "$1" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n="$2" --set run.seed="$3"
    simulate "$1-wsclean" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n="$2" \
        --set run.seed="$3" --set 'imaging.backend="wsclean"'
}

simulate() {   # name config [overrides...]
    local name="$1" config="$2"
    shift 2
    selected "$name" || return 0
    if [ "$PLAN" = 1 ]; then plan_simulation "$name" "$config" "$@"; return 0; fi
    say "simulate $name ($config, $NPROCS ranks)"
    launch radsim simulate "$config" "$@" --out "$OUT/$name" 2>&1 | tee "$OUT/$name.log" | grep -v DEBUG | tail -3
}

PLANNED_S=0
declare -A PLANNED_SPLIT=()     # PLAN=1: dataset -> "train,validation" tiles, for the trainings on it
plan_simulation() {   # name config [overrides...]: PLAN=1: what is left of OUT/name, priced by radsim plan --resume
    local name="$1" config="$2" plan wall left total mode split
    shift 2
    local calibration=()
    [ -n "${PLAN_CALIBRATION:-}" ] && calibration=(--calibration "$PLAN_CALIBRATION")
    plan=$(radsim plan "$config" "$@" --nodes 1 --cores-per-node "$NPROCS" --resume "$OUT/$name" \
           "${calibration[@]}" --json)
    read -r wall left total split mode < <(python -c 'import json, sys; p = json.load(sys.stdin)
print(round(p["wall_s"]), p["realisations"], p["planned_realisations"],
      "{train},{validation}".format(**p["split_tiles"]), p["imaging_mode"])' <<< "$plan")
    PLANNED_S=$((PLANNED_S + wall))
    PLANNED_SPLIT[$name]=$split
    if [ "$left" = 0 ]; then
        say "plan $name: made ($total realisations)"
    else
        say "plan $name: $left of $total realisations left, $(hours "$wall") on $NPROCS ranks ($mode)"
    fi
}

PLANNED_TRAIN_S=0
UNPRICED=()
plan_training() {   # run config dataset [overrides...]: PLAN=1: the epochs OUT/run lacks, priced by radtrain plan
    local run="$1" config="$2" dataset="$3" tiles plan wall left epochs
    shift 3
    if complete "$dataset"; then
        tiles=(--dataset "$OUT/$dataset")
    elif [ -n "${PLANNED_SPLIT[$dataset]:-}" ]; then
        tiles=(--tiles "${PLANNED_SPLIT[$dataset]}")
    else
        say "plan train $run: not priced: its dataset $dataset is neither made nor planned (name it in ONLY)"
        UNPRICED+=("$run")
        return 0
    fi
    local calibration=()
    [ -n "${PLAN_TRAIN_CALIBRATION:-}" ] && calibration=(--calibration "$PLAN_TRAIN_CALIBRATION")
    local err
    err=$(mktemp)
    if ! plan=$(radtrain plan "$config" "${tiles[@]}" "$@" --resume "$OUT/$run" "${calibration[@]}" --json \
                2>"$err"); then
        say "plan train $run: not priced: $(grep -o 'error: .*' "$err" | tail -1)"
        rm -f "$err"
        UNPRICED+=("$run")
        return 0
    fi
    rm -f "$err"
    read -r wall left epochs < <(python -c 'import json, sys; p = json.load(sys.stdin)
print(round(p["wall_s"]), p["epochs_left"], p["epochs"])' <<< "$plan")
    PLANNED_TRAIN_S=$((PLANNED_TRAIN_S + wall))
    if [ "$left" = 0 ]; then
        say "plan train $run: trained"
    else
        say "plan train $run: $left of $epochs epochs left on $dataset, $(hours "$wall") on 1 rank"
    fi
}

hours() { awk -v s="$1" 'BEGIN { printf "%.2f h", s / 3600 }'; }

fit() {        # run config dataset [overrides...]
    local run="$1" config="$2" dataset="$3"
    shift 3
    selected "$run" || return 0
    if [ "$PLAN" = 1 ]; then plan_training "$run" "$config" "$dataset" "$@"; return 0; fi
    say "train $run ($config $* on $dataset)"
    radtrain fit "$config" --dataset "$OUT/$dataset" --out "$OUT/$run" "$@" 2>&1 | tee "$OUT/$run.log" | tail -3
}

selected() {   # run or dataset: whether ONLY (space-separated globs, e.g. '*-conformal fast-small') names it
    [ -z "$ONLY" ] && return 0
    local pattern patterns
    read -ra patterns <<< "$ONLY"
    for pattern in "${patterns[@]}"; do
        # shellcheck disable=SC2053
        [[ "$1" == $pattern ]] && return 0
    done
    return 1
}

newer() {      # file inputs...: whether the file exists and is newer than each of the inputs that exist
    local out="$1" input
    shift
    [ -e "$out" ] || return 1
    for input in "$@"; do [ ! -e "$input" ] || [ "$out" -nt "$input" ] || return 1; done
}

evaluate() {   # run test-dataset name (skipped while up to date, unless REDO=1)
    local run="$1" dataset="$2" name="$3"
    selected "$run" || return 0
    if [ "$REDO" != 1 ] && newer "$OUT/$run/$name/metrics.json" "$OUT/$run/best.weights.h5" \
            "$OUT/$run/calibration.json" "$OUT/$dataset/manifest.json"; then
        say "evaluate $run on $dataset: up to date ($run/$name; REDO=1 evaluates again)"
        return 0
    fi
    say "evaluate $run on $dataset"
    radtrain evaluate "$OUT/$run" --dataset "$OUT/$dataset" --out "$OUT/$run/$name" \
        2>&1 | tee "$OUT/$run-$name.log" | tail -16
}

compare_images() {   # set kind [wsclean-kind]: radsim compare of SET-KIND (A, the fast imager with WSClean's noise)
                     # against SET-wsclean (B), or SET-WSCLEAN_KIND when the third argument names WSClean's set,
                     # into images/SET-KIND.json (skipped while up to date, unless REDO=1, or until both are made)
    local a="$1-$2" b="$1-${3:-wsclean}" out="$OUT/images/$1-$2.json"
    selected "$a" || return 0
    complete "$a" && complete "$b" || return 0
    if [ "$REDO" != 1 ] && newer "$out" "$OUT/$a/manifest.json" "$OUT/$b/manifest.json"; then
        say "compare the images of $a and $b: up to date (images/$1-$2.json; REDO=1 compares again)"
        return 0
    fi
    say "compare the images of $a and $b"
    mkdir -p "$OUT/images"
    radsim compare "$OUT/$a" "$OUT/$b" --out "$out" 2>&1 | tee "$OUT/images/$1-$2.log" | tail -8
}

compare_sets() {   # run dataset-a dataset-b name: radtrain compare into RUN/compare-NAME.json (skipped while up to
                   # date, unless REDO=1, or until both datasets are made)
    local run="$1" a="$2" b="$3" name="$4"
    selected "$run" || return 0
    [ -e "$OUT/$run/best.weights.h5" ] && complete "$a" && complete "$b" || return 0
    if [ "$REDO" != 1 ] && newer "$OUT/$run/compare-$name.json" "$OUT/$run/best.weights.h5" \
            "$OUT/$a/manifest.json" "$OUT/$b/manifest.json"; then
        say "compare $run on $a and $b: up to date ($run/compare-$name.json; REDO=1 compares again)"
        return 0
    fi
    say "compare $run on $a and $b"
    radtrain compare "$OUT/$run" --dataset "$OUT/$a" --dataset "$OUT/$b" --out "$OUT/$run/compare-$name.json" \
        2>&1 | tee "$OUT/$run-compare-$name.log" | tail -12
}

RUNS=(fast-small fast-small-s2 fast-small-s3 fast-small-noise fast-small-linear fast-small-noaug fast-small-gauss)
[ "$LARGE" = 1 ] && RUNS+=(fast-large)
[ "$RESNET" = 1 ] && RUNS+=(fast-resnet)
[ "$DENSE" = 1 ] && RUNS+=(dense-small)
# PRIORS=1: seed-small and its two other training seeds once more as RUN-drawn (the same weights), calibrated on 96
# mosaics of shapes drawn from the training box instead of the 24 listed ones
DRAWN_RUNS=(fast-small fast-small-s2 fast-small-s3)
# and calibrated on both, the 24 listed and the 96 drawn (RUN-union); every mosaic network also with a curved
# calibration line on its own calibration skies (RUN-curved, radtrain calibrate --curved)
CURVED_RUNS=("${RUNS[@]}")
# and with a curved line and conformal intervals calibrated on the 96 mosaics of drawn shapes (RUN-conformal,
# radtrain calibrate --curved --conformal): intervals for skies drawn as those were, whatever the residuals' shape
[ "$PRIORS" = 1 ] && RUNS+=("${DRAWN_RUNS[@]/%/-drawn}" "${DRAWN_RUNS[@]/%/-union}" "${CURVED_RUNS[@]/%/-curved}"
                            "${CURVED_RUNS[@]/%/-conformal}")
part mosaics || { RUNS=(); DRAWN_RUNS=(); CURVED_RUNS=(); }

if wants simulate && part mosaics; then
    simulate test-fast configs/emu-seed-test.toml
    simulate seed-fast configs/emu-seed.toml "${SEED_SPLIT[@]}"
    simulate calib-fast configs/emu-seed-calib.toml
    # more test skies: the 12 test pairs twice more, and 48 skies of shapes drawn from the training box
    simulate test-24-fast configs/emu-seed-test.toml "${MORE_TEST[@]}"
    simulate test-random-fast configs/emu-seed-test.toml "${RANDOM_PAIRS[@]}" --set realisations.n=48 \
        --set run.seed=2306170
    if [ "$PRIORS" = 1 ]; then
        simulate calib-random-fast configs/emu-seed-calib.toml "${RANDOM_PAIRS[@]}" --set realisations.n=96 \
            --set run.seed=2306171
    fi
    if [ "$DENSE" = 1 ]; then simulate dense-fast configs/emu-seed-dense.toml; fi
fi
if wants simulate && part wide; then
    # mosaics of (S0, alpha) drawn from the prior wider than the training box (MID_PAIRS): 42 to train on, 48 to
    # calibrate on, 48 to test on; and the fixed test pairs, 10 of 12 in the training box's outer tenth but well
    # inside this prior. Does a network that has seen shapes beyond the pairs read them without the shrinkage
    # towards the box's middle that under-covers them?
    simulate wide-fast-42 configs/emu-seed.toml "${MID_PAIRS[@]}" --set realisations.n=42 --set run.seed=2306172 \
        "${SEED_SPLIT[@]}"
    simulate test-fast configs/emu-seed-test.toml
    simulate calib-mid-fast configs/emu-seed-calib.toml "${MID_PAIRS[@]}" --set realisations.n=48 \
        --set run.seed=2306173
    simulate test-24-fast configs/emu-seed-test.toml "${MORE_TEST[@]}"
    simulate test-mid-fast configs/emu-seed-test.toml "${MID_PAIRS[@]}" --set realisations.n=48 \
        --set run.seed=2306174
    # 48 more test mosaics drawn the same way (a seed of their own): a coverage that rests on 96 count shapes, where
    # intervals that are exactly right meet 68 +- 8% in about 90% of bins (78% of 48)
    simulate test-mid2-fast configs/emu-seed-test.toml "${MID_PAIRS[@]}" --set realisations.n=48 \
        --set run.seed=2306175
    # 48 more calibration mosaics drawn the same way: conformal quantiles from 96 skies instead of 48
    simulate calib-mid2-fast configs/emu-seed-calib.toml "${MID_PAIRS[@]}" --set realisations.n=48 \
        --set run.seed=2306176
fi
if wants simulate && part pointings; then
    simulate transfer-fast configs/emu-seed-transfer.toml
    simulate transfer-wsclean configs/emu-seed-transfer.toml --set 'imaging.backend="wsclean"'
    # the transfer networks' own skies: the training and calibration skies as pointings; the training set also
    # with each (S0, alpha) pair 2 and 4 times (42 and 84 skies): how the score grows with the training skies
    simulate pointing-fast configs/emu-seed.toml "${SEED_SPLIT[@]}" "${POINTING[@]}"
    simulate pointing-fast-42 configs/emu-seed.toml "${SEED_SPLIT[@]}" "${POINTING[@]}" --set realisations.repeats=2
    simulate pointing-fast-84 configs/emu-seed.toml "${SEED_SPLIT[@]}" "${POINTING[@]}" --set realisations.repeats=4
    simulate pointing-test-fast configs/emu-seed-transfer.toml --set realisations.repeats=4
    # the pointing networks' calibration and coverage skies: (S0, alpha) drawn anew for every sky from one prior,
    # the box the training pairs span, with two seeds of their own (96 to calibrate, 144 to test): a coverage that
    # rests on 144 independent count shapes, not on 12 pairs seen 4 times, and calibration skies drawn as the test
    # skies are
    simulate pointing-calib-random configs/emu-seed-transfer.toml "${RANDOM_PAIRS[@]}" --set realisations.n=96 \
        --set run.seed=2306163
    simulate pointing-test-random configs/emu-seed-transfer.toml "${RANDOM_PAIRS[@]}" --set realisations.n=144 \
        --set run.seed=2306164
    if [ "$WTERM" = 1 ]; then
        # the same skies with the fast imager's w-term (exact PSFs at 5 x 5 nodes, each for its facet): the test
        # skies, the 84 training skies and the 96 calibration skies, so that a network trained, calibrated and
        # tested on them sees only the imager's CLEAN change when it reads WSClean's images
        simulate transfer-fast-w configs/emu-seed-transfer.toml "${WNODES[@]}"
        simulate pointing-fast-84-w configs/emu-seed.toml "${SEED_SPLIT[@]}" "${POINTING[@]}" \
            --set realisations.repeats=4 "${WNODES[@]}"
        simulate pointing-calib-random-w configs/emu-seed-transfer.toml "${RANDOM_PAIRS[@]}" --set realisations.n=96 \
            --set run.seed=2306163 "${WNODES[@]}"
        # 24 more test skies (the 12 test pairs twice, a seed of their own) by WSClean and by the fast imager with
        # the w-term: 12 skies resolve a shift between the imagers of about 0.007 in the top bin, 36 about 0.004
        simulate transfer-24-wsclean configs/emu-seed-transfer.toml "${MORE_TEST[@]}" --set 'imaging.backend="wsclean"'
        simulate transfer-24-fast-w configs/emu-seed-transfer.toml "${MORE_TEST[@]}" "${WNODES[@]}"
    fi
    if [ "$PRIORS" = 1 ]; then
        # 24 more test skies (the 12 test pairs twice, the seed of transfer-24-wsclean above), flat-sky fast and by
        # WSClean: the likelihood calibrated for WSClean's images tested on 36 skies instead of 12 (over 12, a faint
        # bin's mean dy has a standard error of 0.14-0.16)
        simulate transfer-24-fast configs/emu-seed-transfer.toml "${MORE_TEST[@]}"
        simulate transfer-24-wsclean configs/emu-seed-transfer.toml "${MORE_TEST[@]}" --set 'imaging.backend="wsclean"'
        # and 24 more again (another seed): 60 test skies, where 36 left the faintest bins' transfer unresolved (the
        # fast and WSClean means both within their errors of zero)
        simulate transfer-24b-fast configs/emu-seed-transfer.toml "${MORE_TEST_B[@]}"
        simulate transfer-24b-wsclean configs/emu-seed-transfer.toml "${MORE_TEST_B[@]}" --set 'imaging.backend="wsclean"'
        # the first 24 of pointing-test-mid's skies (its seed and realisations) by the fast imager and by WSClean: the
        # transfer and the intervals of the calibration for WSClean tested on shapes drawn as its calibration skies'
        # were, not only on the 12 fixed pairs (most at the training box's edges)
        both_imagers pointing-test-mid24 24 2306168
        # and 24 more such test skies (a seed of their own): the transfer on 48 independent shapes, where 24 measure a
        # bin's mean dy only to 0.004-0.12
        both_imagers pointing-test-mid24b 24 2306190
        # and 24 more again (a third seed): 72 independent shapes, where 48 left the faint bins' fast error (below
        # 0.01) unresolved
        both_imagers pointing-test-mid24c 24 2306192
        # and a fourth and fifth 24 (120 independent shapes): on 72 skies a bin's 68% coverage has a binomial
        # standard deviation of 5.5%, so a training whose intervals cover as claimed misses 68 +- 8% by chance
        both_imagers pointing-test-mid24d 24 2306194
        both_imagers pointing-test-mid24e 24 2306195
        # and a sixth 24 (144 independent shapes): on 120 a calibrated interval's 68% coverage is measured only to
        # +-4.3% by the test skies' own draw
        both_imagers pointing-test-mid24f 24 2306196
        # calibration and coverage skies from a wider prior: do the intervals then hold for the fixed test pairs,
        # most of which sit at the edge of the training box, and at the new prior's own edges?
        simulate pointing-calib-mid configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=96 \
            --set run.seed=2306167
        # the same 96 skies and noise draws with 0.1% more noise rms: how precisely the networks need the noise level
        # (radtrain compare; 2026-12-06, fifth session: 0.8% higher counts in the top bin, 11% at 0.1 uJy)
        simulate pointing-calib-mid-rms configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=96 \
            --set run.seed=2306167 --set imaging.noise_rms_jy=25.025e-6
        # and the same skies with the w-term (imaging.w_nodes = 5) three times: the image-plane noise flat-sky, with
        # the w-term (imaging.noise = "image-w", the same white-noise draws filtered facet by facet) and drawn on the
        # visibilities: how the networks read the w-term in the noise, and whether "image-w" reads as WSClean's noise
        for noise in image image-w visibilities; do
            simulate "pointing-calib-mid-w-$noise" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" \
                --set realisations.n=96 --set run.seed=2306167 "${WNODES[@]}" --set "imaging.noise=\"$noise\""
        done
        simulate pointing-test-mid configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=144 \
            --set run.seed=2306168
        # the first 24 of the 96 calibration skies (the same seed and realisations) imaged again by WSClean: the
        # count model's likelihood calibrated for WSClean's images (radtrain calibrate --imager-dataset)
        simulate pointing-calib-mid-wsclean configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=24 \
            --set run.seed=2306167 --set 'imaging.backend="wsclean"'
        # and 24 more calibration skies (another seed), fast and imaged again by WSClean: 48 pairs for that
        # calibration, on 120 calibration skies
        both_imagers pointing-calib-mid2 24 2306178
        # and 24 more again (a third seed): 72 pairs, on 144 calibration skies (12 test skies could not tell the
        # faint bins' transfer apart; calibrate also cross-validates it on the pairs)
        both_imagers pointing-calib-mid3 24 2306179
        # and a fourth 24 (96 pairs): going from 48 to 72 pairs moved the calibration's imager change by up to 0.05
        both_imagers pointing-calib-mid4 24 2306191
        # and 192 more calibration skies by the fast imager alone: resampling the calibration skies moved the
        # like-for-like transfer mostly through the maps fitted on all of them, not through the 96 pairs' shift
        simulate pointing-calib-mid5 configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=192 \
            --set run.seed=2306193
        # the sets made by both imagers once more by the fast imager with the noise WSClean's images of the same skies
        # carry (imaging.noise = "visibilities": each visibility's noise drawn as the wsclean backend draws it):
        # between two noise draws of one sky the readings differ by 0.009-0.017 (1-10 uJy, likelihood for the mix),
        # 40-50% of the variance of their difference between the imagers; read on one noise realisation per sky
        # (RUN-likelihood-shared-for-wsclean and -for-fast) the transfer measures the imagers alone; and the fast
        # imager's other calibration skies so too, since the networks read images with the visibilities' noise
        # 0.007-0.018 higher from 1 to 10 uJy than with the image-plane noise they were trained on
        for set in pointing-calib-mid:96:2306167 pointing-calib-mid2:24:2306178 pointing-calib-mid3:24:2306179 \
                   pointing-calib-mid4:24:2306191 pointing-test-mid24:24:2306168 pointing-test-mid24b:24:2306190 \
                   pointing-test-mid24c:24:2306192 pointing-calib-mid5:192:2306193 \
                   pointing-test-mid24d:24:2306194 pointing-test-mid24e:24:2306195 \
                   pointing-test-mid24f:24:2306196; do
            IFS=: read -r name n seed <<< "$set"
            simulate "$name-shared" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n="$n" \
                --set run.seed="$seed" "${SHARED_NOISE[@]}"
        done
        # and every set WSClean imaged once more by the fast imager with its noise and the w-term in the sky's PSF
        # (imaging.w_nodes = 5; pointing-calib-mid's first 24 skies, those WSClean imaged): which fast imager's images
        # WSClean's match, sky by sky and without a network (radsim compare in the evaluate stage; 2026-12-06,
        # seventh session: on 12 skies the flat-sky fast imager's readings matched WSClean's, the w-term's read 0.5%
        # lower in the top bin, and CLEAN made that difference)
        for set in "${WSCLEAN_SETS[@]}"; do
            IFS=: read -r name n seed <<< "$set"
            simulate "$name-w-shared" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n="$n" \
                --set run.seed="$seed" "${SHARED_NOISE[@]}" "${WNODES[@]}"
        done
        simulate transfer-w-shared configs/emu-seed-transfer.toml "${SHARED_NOISE[@]}" "${WNODES[@]}"
        simulate transfer-24-w-shared configs/emu-seed-transfer.toml "${MORE_TEST[@]}" "${SHARED_NOISE[@]}" "${WNODES[@]}"
        simulate transfer-24b-w-shared configs/emu-seed-transfer.toml "${MORE_TEST_B[@]}" "${SHARED_NOISE[@]}" \
            "${WNODES[@]}"
        # and 384 more calibration skies by the fast imager with WSClean's noise alone: with pointing-calib-mid5's 192
        # they calibrate the likelihood on 576 skies none of which WSClean imaged (RUN-likelihood-unpaired), so that
        # every sky WSClean imaged (the 96 pairs and the test skies) tests it, and the thresholds' own draw moves
        # its coverage by +-1.9% rather than the 96 pairs' +-4.7%
        simulate pointing-calib-mid6-shared configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=384 \
            --set run.seed=2306198 "${SHARED_NOISE[@]}"
        # and the 12 fixed test pairs and their 48 repeats so too: the transfer on them with one noise per sky
        simulate transfer-shared configs/emu-seed-transfer.toml "${SHARED_NOISE[@]}"
        simulate transfer-24-shared configs/emu-seed-transfer.toml "${MORE_TEST[@]}" "${SHARED_NOISE[@]}"
        simulate transfer-24b-shared configs/emu-seed-transfer.toml "${MORE_TEST_B[@]}" "${SHARED_NOISE[@]}"
        # and training skies from it: does a network that has seen shapes beyond the test pairs err less on them?
        simulate pointing-wide-84 configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=84 \
            --set run.seed=2306169 "${SEED_SPLIT[@]}"
        # the first 24 of those training skies (their seed and realisations) imaged again by WSClean: a network trained
        # on both imagers' images of them (pointing-small-wide-mix) learns what the imagers share, not one imager's
        # CLEAN; WSClean's training skies are the transfer's only cost here (40 min per 24 skies)
        simulate pointing-wide24-wsclean configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n=24 \
            --set run.seed=2306169 "${SEED_SPLIT[@]}" --set 'imaging.backend="wsclean"'
        # and from a prior wider than that (as densely: 126 skies over 1.45x the area): are the intervals then right
        # at the edges of the prior they are calibrated and tested on, where a network's counts would otherwise
        # shrink towards the middle of what it learnt?
        simulate pointing-xwide-126 configs/emu-seed-transfer.toml "${XWIDE_PAIRS[@]}" --set realisations.n=126 \
            --set run.seed=2306177 "${SEED_SPLIT[@]}"
    fi
    if [ "$MENDED" != 0 ]; then
        # the transfer study again with the mended fast imager (MENDED_IMAGER): pointing-wide-84's training skies,
        # pointing-calib-mid5-shared's and -mid6-shared's 576 calibration skies that WSClean never imaged, and every
        # sky WSClean imaged (the sets of drawn shapes and the fixed pairs with their repeats), each as SET-mended
        # (SET-exact with MENDED=exact): a network trained and calibrated on them
        # (pointing-small-wide-mended-likelihood-unpaired) reads WSClean's images of those skies and the mended fast
        # ones of the same skies with the same noise
        simulate "pointing-wide-84-$MENDED_KIND" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" \
            --set realisations.n=84 --set run.seed=2306169 "${SEED_SPLIT[@]}" "${MENDED_IMAGER[@]}"
        for set in pointing-calib-mid5:192:2306193 pointing-calib-mid6:384:2306198 "${WSCLEAN_SETS[@]}"; do
            IFS=: read -r name n seed <<< "$set"
            simulate "$name-$MENDED_KIND" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" --set realisations.n="$n" \
                --set run.seed="$seed" "${MENDED_IMAGER[@]}"
        done
        if [ "$MENDED" = 1 ]; then          # (MENDED=exact: EXACT=1 below makes the fixed pairs)
            simulate transfer-mended configs/emu-seed-transfer.toml "${MENDED_IMAGER[@]}"
            simulate transfer-24-mended configs/emu-seed-transfer.toml "${MORE_TEST[@]}" "${MENDED_IMAGER[@]}"
            simulate transfer-24b-mended configs/emu-seed-transfer.toml "${MORE_TEST_B[@]}" "${MENDED_IMAGER[@]}"
        else
            # and WSClean's images of the sets of drawn shapes once more, restored without wrap-around: the exact
            # imager is read against them (WSClean's own restore put 1.2% more faint variance in the outer tiles)
            for set in "${WSCLEAN_SETS[@]}"; do
                IFS=: read -r name n seed <<< "$set"
                simulate "$name-wsclean-linear" configs/emu-seed-transfer.toml "${MID_PAIRS[@]}" \
                    --set realisations.n="$n" --set run.seed="$seed" "${LINEAR_WSCLEAN[@]}"
            done
        fi
    fi
    if [ "$EXACT" = 1 ]; then
        # the 12 fixed pairs and their 48 repeats by the fast imager with the exact major cycle, then by WSClean
        # restored without wrap-around (compared sky by sky in the evaluate stage: images/SET-exact.json)
        simulate transfer-exact configs/emu-seed-transfer.toml "${EXACT_IMAGER[@]}"
        simulate transfer-24-exact configs/emu-seed-transfer.toml "${MORE_TEST[@]}" "${EXACT_IMAGER[@]}"
        simulate transfer-24b-exact configs/emu-seed-transfer.toml "${MORE_TEST_B[@]}" "${EXACT_IMAGER[@]}"
        simulate transfer-wsclean-linear configs/emu-seed-transfer.toml "${LINEAR_WSCLEAN[@]}"
        simulate transfer-24-wsclean-linear configs/emu-seed-transfer.toml "${MORE_TEST[@]}" "${LINEAR_WSCLEAN[@]}"
        simulate transfer-24b-wsclean-linear configs/emu-seed-transfer.toml "${MORE_TEST_B[@]}" \
            "${LINEAR_WSCLEAN[@]}"
    fi
fi

SMALL=configs/train-seed-small.toml
if wants train && part mosaics; then
    fit fast-small $SMALL seed-fast
    fit fast-small-noise $SMALL seed-fast --set 'data.aux_inputs=["width", "noise"]'
    fit fast-small-linear $SMALL seed-fast --set 'data.preprocess="standardise"'
    fit fast-small-noaug $SMALL seed-fast --set data.augment=false
    fit fast-small-gauss $SMALL seed-fast --set 'model.head="gaussian"'
    # two more training seeds of seed-small: how far one seed's ablation rows can be trusted
    for seed in 2 3; do
        fit "fast-small-s$seed" $SMALL seed-fast --set "train.seed=$seed"
    done
    if [ "$LARGE" = 1 ]; then fit fast-large configs/train-seed-large.toml seed-fast; fi
    if [ "$RESNET" = 1 ]; then fit fast-resnet $SMALL seed-fast --set 'model.architecture="resnet"'; fi
    if [ "$DENSE" = 1 ]; then fit dense-small $SMALL dense-fast; fi
fi
if wants train && part pointings; then
    for set in pointing-fast pointing-fast-42 pointing-fast-84; do
        fit "${set/-fast/-small}" $SMALL "$set"
    done
    # two more training seeds of the 42-sky network: how much one seed's figures can be trusted
    for seed in 2 3; do
        fit "pointing-small-42-s$seed" $SMALL pointing-fast-42 --set "train.seed=$seed"
    done
    if [ "$WTERM" = 1 ]; then fit pointing-small-84-w $SMALL pointing-fast-84-w; fi
    if [ "$PRIORS" = 1 ]; then
        fit pointing-small-wide $SMALL pointing-wide-84
        fit pointing-small-xwide $SMALL pointing-xwide-126
        # and on pointing-wide-84 with 24 of its skies imaged again by WSClean mixed in (radtrain fit --mix): 108
        # training images of 84 skies, 19 of them seen through both imagers
        complete "pointing-wide24-wsclean" &&
            fit pointing-small-wide-mix $SMALL pointing-wide-84 --mix "$OUT/pointing-wide24-wsclean"
        # both twice more (training seeds 2 and 3): two trainings of one network differed by as much as the mix
        # changed the transfer, so it is compared over three seeds, and the three seeds' counts averaged
        for seed in 2 3; do
            fit "pointing-small-wide-s$seed" $SMALL pointing-wide-84 --set "train.seed=$seed"
            complete "pointing-wide24-wsclean" &&
                fit "pointing-small-wide-mix-s$seed" $SMALL pointing-wide-84 --mix "$OUT/pointing-wide24-wsclean" \
                    --set "train.seed=$seed"
        done
    fi
fi
if wants train && part pointings && [ "$MENDED" != 0 ]; then
    # pointing-small-wide's network and seeds on the same skies by the mended fast imager
    fit "pointing-small-wide-$MENDED_KIND" $SMALL "pointing-wide-84-$MENDED_KIND"
    for seed in 2 3; do
        fit "pointing-small-wide-$MENDED_KIND-s$seed" $SMALL "pointing-wide-84-$MENDED_KIND" --set "train.seed=$seed"
    done
fi
if wants train && part wide; then fit wide-small $SMALL wide-fast-42; fi

if [ "$PLAN" = 1 ]; then
    unpriced=""
    [ "${#UNPRICED[@]}" -gt 0 ] && unpriced=" (not priced: ${UNPRICED[*]})"
    say "plan: $(hours "$PLANNED_S") on $NPROCS ranks to simulate what is left (calibration: ${PLAN_CALIBRATION:-the \
built-in one, emu-seed mosaics on the 2-core development machine}), and $(hours "$PLANNED_TRAIN_S") on 1 rank to \
train what is left$unpriced (calibration: ${PLAN_TRAIN_CALIBRATION:-the built-in seed-small of the development \
machine}; every epoch, though early stopping can end a training sooner); calibration and evaluation are not \
priced: see the budget in this script's header"
    exit 0
fi

POINTING_RUNS=(pointing-small pointing-small-42 pointing-small-84 pointing-small-42-s2 pointing-small-42-s3)
[ "$WTERM" = 1 ] && POINTING_RUNS+=(pointing-small-84-w)
MID_RUNS=(pointing-small pointing-small-42 pointing-small-84)
# PRIORS=1: the flat-sky pointing networks also with a curved calibration line (RUN-curved)
CURVED_POINTING_RUNS=(pointing-small pointing-small-42 pointing-small-84 pointing-small-42-s2 pointing-small-42-s3)
# and once more with conformal intervals on top of the curved line (RUN-conformal, on their own calibration skies)
# and the networks trained on the wider prior and on the wider-still one, both calibrated on the wider prior, also with
# a curved line and conformal intervals (pointing-small-wide-conformal, pointing-small-xwide-conformal), and with the
# count model's likelihood over the calibration skies' (S0, alpha) on top (RUN-likelihood, --likelihood)
PRIOR_RUNS=(pointing-small-wide pointing-small-xwide)
[ "$PRIORS" = 1 ] && PRIOR_RUNS+=(pointing-small-wide-mix)
[ "$PRIORS" = 1 ] && POINTING_RUNS+=("${MID_RUNS[@]/%/-mid}" "${PRIOR_RUNS[@]}" "${CURVED_POINTING_RUNS[@]/%/-curved}"
                                    "${CURVED_POINTING_RUNS[@]/%/-conformal}" "${PRIOR_RUNS[@]/%/-conformal}"
                                    "${PRIOR_RUNS[@]/%/-likelihood}")
# and the likelihood calibrated for WSClean's images from 96 of the calibration skies imaged again by WSClean
# (RUN-likelihood-for-wsclean, on pointing-calib-mid and pointing-calib-mid2, -mid3 and -mid4, --imager-dataset
# pointing-calib-mid-wsclean and pointing-calib-mid2-wsclean, -mid3-wsclean and -mid4-wsclean; 24 fewer for each of
# -mid2, -mid3, -mid4 not yet made by both imagers): tested on WSClean's images only
IMAGER_RUNS=()
MID_TESTS=(mid24 mid24b mid24c)     # their test sets of drawn shapes: pointing-test-SET and pointing-test-SET-wsclean
SHARED_TESTS=("${MID_TESTS[@]}" mid24d mid24e mid24f)  # and the one-noise calibrations' (144 skies: their coverage)
[ "$PRIORS" = 1 ] && IMAGER_RUNS=("${PRIOR_RUNS[@]/%/-likelihood-for-wsclean}")
# and pointing-small-wide and pointing-small-wide-mix of training seeds 2 and 3, read by both likelihoods alone
SEED_RUNS=()
[ "$PRIORS" = 1 ] && SEED_RUNS=(pointing-small-wide-s2 pointing-small-wide-s3 pointing-small-wide-mix-s2
                                pointing-small-wide-mix-s3)
POINTING_RUNS+=("${SEED_RUNS[@]/%/-likelihood}")
IMAGER_RUNS+=("${SEED_RUNS[@]/%/-likelihood-for-wsclean}")
# and each of them once more for the fast imager's images on the same calibration skies (RUN-likelihood-for-fast: no
# --imager-dataset), tested on the fast images of the test skies of drawn shapes: only the imager differs between
# RUN-likelihood-for-fast on fast images and RUN-likelihood-for-wsclean on WSClean's, not the calibration skies
# (RUN-likelihood is calibrated on pointing-calib-mid's 96 alone)
SAME_SKY_RUNS=("${IMAGER_RUNS[@]/%-for-wsclean/-for-fast}")
# and both once more with the fast images of the sets made by both imagers replaced by those with WSClean's noise
# (pointing-*-shared): RUN-likelihood-shared-for-wsclean on WSClean's test images, RUN-likelihood-shared-for-fast
# on the fast ones of the same noise
SHARED_RUNS=("${IMAGER_RUNS[@]/%-likelihood-for-wsclean/-likelihood-shared-for-wsclean}"
             "${IMAGER_RUNS[@]/%-likelihood-for-wsclean/-likelihood-shared-for-fast}")
# and once more calibrated on the fast images with WSClean's noise of 576 skies WSClean never imaged
# (RUN-likelihood-unpaired: pointing-calib-mid5-shared and pointing-calib-mid6-shared), tested on every sky of drawn
# shape that WSClean imaged (the 96 pairs and the test skies) and on the fast images of the same skies
UNPAIRED_RUNS=("${IMAGER_RUNS[@]/%-likelihood-for-wsclean/-likelihood-unpaired}")
# MENDED=1: and pointing-small-wide-mended and its seeds so calibrated on the mended fast imager's images of the same
# 576 skies (pointing-calib-mid5-mended, -mid6-mended), tested on the same skies by WSClean and by the mended imager
MENDED_RUNS=()
[ "$MENDED" != 0 ] && MENDED_RUNS=("pointing-small-wide-$MENDED_KIND" "pointing-small-wide-$MENDED_KIND-s2"
                              "pointing-small-wide-$MENDED_KIND-s3")
UNPAIRED_RUNS+=("${MENDED_RUNS[@]/%/-likelihood-unpaired}")
UNPAIRED_SETS=(pointing-calib-mid pointing-calib-mid2 pointing-calib-mid3 pointing-calib-mid4
               "${SHARED_TESTS[@]/#/pointing-test-}")
# and once more on those 576 and the 96 pairs' fast images with WSClean's noise (672 skies), the pairs' WSClean images
# shifting the map alone (RUN-likelihood-shift-for-wsclean: --imager-term shift; the thresholds stay the 672 skies'),
# and the same 672 without the shift for the fast images (RUN-likelihood-shift-for-fast): tested on the test skies of
# drawn shapes and on the fixed pairs, each imager by its own
SHIFT_RUNS=("${IMAGER_RUNS[@]/%-likelihood-for-wsclean/-likelihood-shift-for-wsclean}"
            "${IMAGER_RUNS[@]/%-likelihood-for-wsclean/-likelihood-shift-for-fast}")
# and the networks calibrated for WSClean (wide, xwide, the mix, and seeds 2 and 3 of wide and the mix), each reading
# the calibration skies with 0.1% more noise rms and with the noise drawn on the visibilities, and the same skies
# with the w-term with and without it in the image-plane noise, and with it against the visibilities' noise
# (radtrain compare: RUN/compare-noise-rms.json, -noise-model.json, -noise-w-term.json, -noise-image-w.json)
NOISE_RUNS=()
# the sets imaged by WSClean and by the fast imager with its noise (SET-wsclean, SET-shared and SET-w-shared)
IMAGED_BY_BOTH=(pointing-calib-mid pointing-calib-mid2 pointing-calib-mid3 pointing-calib-mid4
                "${SHARED_TESTS[@]/#/pointing-test-}" transfer transfer-24 transfer-24b)
[ "$PRIORS" = 1 ] && NOISE_RUNS=("${IMAGER_RUNS[@]/%-likelihood-for-wsclean/}")
part pointings || { POINTING_RUNS=(); CURVED_POINTING_RUNS=(); PRIOR_RUNS=(); IMAGER_RUNS=(); SEED_RUNS=();
                    SAME_SKY_RUNS=(); SHARED_RUNS=(); UNPAIRED_RUNS=(); SHIFT_RUNS=(); NOISE_RUNS=(); MENDED_RUNS=(); }
# PART=wide: the network trained on mosaics drawn from the wider prior, calibrated on mosaics drawn from it with a
# straight line and normal intervals, and once more (RUN-conformal) with a curved line and conformal intervals, and
# so on 96 (RUN-96-conformal: calib-mid-fast and calib-mid2-fast)
WIDE_RUNS=(wide-small wide-small-conformal wide-small-96-conformal)
part wide || WIDE_RUNS=()
calibration_set() {   # the datasets a run is calibrated on (one or more)
    case "$1" in
        wide-*-96-conformal) echo calib-mid-fast calib-mid2-fast ;;
        wide-*) echo calib-mid-fast ;;
        *-curved) calibration_set "${1%-curved}" ;;
        pointing-*-conformal) calibration_set "${1%-conformal}" ;;
        pointing-*-likelihood) calibration_set "${1%-likelihood}" ;;
        pointing-*-likelihood-for-wsclean) echo "$(pair_sets "${1%-likelihood-for-wsclean}")$(more_fast)" ;;
        pointing-*-likelihood-for-fast) echo "$(pair_sets "${1%-likelihood-for-fast}")$(more_fast)" ;;
        pointing-*-likelihood-shared-for-*)
            shared "$(pair_sets "${1%-likelihood-shared-for-*}")$(more_fast)" ;;
        pointing-*-likelihood-unpaired)
            local fast
            fast="$(fast_images "$1")"
            echo "pointing-calib-mid5-$fast pointing-calib-mid6-$fast" ;;
        pointing-*-likelihood-shift-for-*)
            local sets
            sets="$(shared "$(pair_sets "${1%-likelihood-shift-for-*}")$(more_fast)")"
            echo "${sets# } pointing-calib-mid6-shared" ;;
        *-conformal) echo calib-random-fast ;;
        *-union) echo calib-fast calib-random-fast ;;
        pointing-*-w) echo pointing-calib-random-w ;;
        pointing-*-mid|pointing-*-wide|pointing-*-xwide|pointing-*-mix|pointing-*-wide-s*|pointing-*-mix-s*)
            echo pointing-calib-mid ;;
        pointing-*) echo pointing-calib-random ;;
        *-drawn) echo calib-random-fast ;;
        *) echo calib-fast ;;
    esac
}

fast_images() {   # run: the fast images with WSClean's noise it is calibrated on and reads beside WSClean's
                  # (SET-shared, or SET-mended and SET-exact for the mended imagers' networks)
    case "$1" in
        *-mended*) echo mended ;;
        *-exact*) echo exact ;;
        *) echo shared ;;
    esac
}

wsclean_images() {   # run: WSClean's images it reads beside the fast ones (SET-wsclean, or for the exact imager's
                     # networks SET-wsclean-linear, restored without wrap-around)
    if [[ "$1" == *-exact* ]]; then echo wsclean-linear; else echo wsclean; fi
}

pair_sets() {   # run: its calibration sets made by both imagers (its own, pointing-calib-mid, and more_pairs)
    echo -n "$(calibration_set "$1")$(more_pairs)"
}

shared() {   # sets: each as made by the fast imager with WSClean's noise (SET-shared)
    local set
    for set in $1; do echo -n " $set-shared"; done
}

more_fast() {   # the calibration sets made by the fast imager alone for the likelihood runs, if complete
    complete pointing-calib-mid5 && echo -n " pointing-calib-mid5"
}

more_pairs() {   # the calibration sets beyond pointing-calib-mid made by both imagers (24 pairs each), if complete
    local set
    for set in pointing-calib-mid2 pointing-calib-mid3 pointing-calib-mid4; do
        complete "$set" && complete "$set-wsclean" && echo -n " $set"
    done
}

copy_likelihood() {   # run: its copies for the count model's likelihood calibrations (RUN-likelihood*)
    local suffix
    for suffix in "" -for-wsclean -for-fast -shared-for-wsclean -shared-for-fast -unpaired -shift-for-wsclean \
                  -shift-for-fast; do
        copy_network "$1" "$1-likelihood$suffix"
    done
}

copy_network() {   # run copy: the same trained network, to be calibrated on other skies
    [ -e "$OUT/$1/best.weights.h5" ] || return 0
    mkdir -p "$OUT/$2"
    # -p: a copy keeps its network's time, so that copying it again does not make its evaluations look out of date
    cp -p "$OUT/$1"/{best.weights.h5,config.toml,run.json,history.csv} "$OUT/$2/"
}

if wants calibrate; then
    if [ "$PRIORS" = 1 ]; then
        for run in "${MID_RUNS[@]}"; do copy_network "$run" "$run-mid"; done
        for run in "${DRAWN_RUNS[@]}"; do copy_network "$run" "$run-drawn"; copy_network "$run" "$run-union"; done
        for run in "${CURVED_RUNS[@]}" "${CURVED_POINTING_RUNS[@]}"; do
            copy_network "$run" "$run-curved"
            copy_network "$run" "$run-conformal"
        done
        for run in "${SEED_RUNS[@]}"; do
            copy_likelihood "$run"
        done
        for run in "${PRIOR_RUNS[@]}"; do
            copy_network "$run" "$run-conformal"
            copy_likelihood "$run"
        done
    fi
    for run in "${MENDED_RUNS[@]}"; do copy_network "$run" "$run-likelihood-unpaired"; done
    for run in "${WIDE_RUNS[@]:1}"; do copy_network wide-small "$run"; done    # calibration copies of wide-small
    for run in "${RUNS[@]}" "${POINTING_RUNS[@]}" "${WIDE_RUNS[@]}" "${IMAGER_RUNS[@]}" \
               "${SAME_SKY_RUNS[@]}" "${SHARED_RUNS[@]}" "${UNPAIRED_RUNS[@]}" "${SHIFT_RUNS[@]}"; do
        selected "$run" || continue
        [ -e "$OUT/$run/best.weights.h5" ] || { say "$run: not trained, skipped"; continue; }
        calib="$(calibration_set "$run")"
        if [[ "$run" == *-likelihood-shared-for-* || "$run" == *-likelihood-unpaired ||
              "$run" == *-likelihood-shift-for-* ]]; then   # all sets, or none
            unmade=""
            for set in $calib; do complete "$set" || unmade+=" $set"; done
            [ -z "$unmade" ] || { say "$run: not calibrated, sets with WSClean's noise not made yet:$unmade"; continue; }
        fi
        args=()
        for set in $calib; do args+=(--dataset "$OUT/$set"); done
        how=""
        likelihood=0
        [[ "$run" == *-likelihood || "$run" == *-likelihood-*for-* || "$run" == *-likelihood-unpaired ]] &&
            likelihood=1
        [[ "$run" == *-curved || "$run" == *-conformal || "$likelihood" = 1 ]] &&
            { args+=(--curved); how=", curved line"; }
        [[ "$run" == *-conformal || "$likelihood" = 1 ]] && { args+=(--conformal); how+=", conformal intervals"; }
        [ "$likelihood" = 1 ] && { args+=(--likelihood); how+=", the count model's likelihood"; }
        [[ "$run" == *-likelihood-for-wsclean || "$run" == *-likelihood-shared-for-wsclean ||
           "$run" == *-likelihood-shift-for-wsclean ]] && {
            pairs="$(pair_sets "${run%-likelihood-*for-wsclean}")"
            for set in $pairs; do args+=(--imager-dataset "$OUT/$set-wsclean"); done
            how+=" for WSClean's images (their WSClean images: $((24 * $(wc -w <<< "$pairs"))) pairs"
            [[ "$run" == *-shift-for-wsclean ]] && { args+=(--imager-term shift); how+=", shifting the map alone"; }
            how+=")"; }
        say "calibrate $run on $calib$how"
        radtrain calibrate "$OUT/$run" "${args[@]}" 2>&1 | tee "$OUT/$run-calibrate.log" | tail -14
    done
fi

if wants evaluate; then
    for run in "${RUNS[@]}"; do
        [ -e "$OUT/$run/best.weights.h5" ] || { say "$run: not trained, skipped"; continue; }
        evaluate "$run" test-fast eval-test
        for set in test-24 test-random; do
            complete "$set-fast" && evaluate "$run" "$set-fast" "eval-$set"
        done
    done
    for run in "${WIDE_RUNS[@]}"; do
        [ -e "$OUT/$run/best.weights.h5" ] || { say "$run: not trained, skipped"; continue; }
        evaluate "$run" test-fast eval-test
        for set in test-24 test-mid test-mid2; do
            complete "$set-fast" && evaluate "$run" "$set-fast" "eval-$set"
        done
    done
    for imager in fast fast-w wsclean 24-fast 24-fast-w 24-wsclean 24b-fast 24b-wsclean; do
        complete "transfer-$imager" || continue
        for run in fast-small "${POINTING_RUNS[@]}"; do
            [ -e "$OUT/$run/best.weights.h5" ] && evaluate "$run" "transfer-$imager" "eval-transfer-$imager"
        done
    done
    for run in "${IMAGER_RUNS[@]}"; do       # calibrated for WSClean's images: tested on them alone
        for imager in wsclean 24-wsclean 24b-wsclean; do
            complete "transfer-$imager" && [ -e "$OUT/$run/best.weights.h5" ] &&
                evaluate "$run" "transfer-$imager" "eval-transfer-$imager"
        done
        for set in "${MID_TESTS[@]}"; do
            complete "pointing-test-$set-wsclean" && [ -e "$OUT/$run/best.weights.h5" ] &&
                evaluate "$run" "pointing-test-$set-wsclean" "eval-pointing-$set-wsclean"
        done
    done
    # and the fast calibrations on the same skies' fast images
    for run in "${PRIOR_RUNS[@]/%/-likelihood}" "${SEED_RUNS[@]/%/-likelihood}" "${SAME_SKY_RUNS[@]}"; do
        for set in "${MID_TESTS[@]}"; do
            complete "pointing-test-$set" && [ -e "$OUT/$run/best.weights.h5" ] &&
                evaluate "$run" "pointing-test-$set" "eval-pointing-$set"
        done
    done
    # and with WSClean's noise in the fast images: on WSClean's test images, and on the fast ones with its noise
    for run in "${SHARED_RUNS[@]}"; do
        for set in "${SHARED_TESTS[@]}"; do
            test="pointing-test-$set-shared" name="eval-pointing-$set"
            [[ "$run" == *-for-wsclean ]] && test="pointing-test-$set-wsclean" name="eval-pointing-$set-wsclean"
            complete "$test" && [ -e "$OUT/$run/best.weights.h5" ] && evaluate "$run" "$test" "$name"
        done
        for set in transfer transfer-24 transfer-24b; do        # the fixed pairs: WSClean's, or the fast with its noise
            test="$set-shared"
            [[ "$run" == *-for-wsclean ]] && test="$set-wsclean"
            complete "$test" && [ -e "$OUT/$run/best.weights.h5" ] &&
                evaluate "$run" "$test" "eval-$test"
        done
    done
    # and the calibration on skies WSClean never imaged: on every sky it imaged (the drawn ones, and the 12 fixed
    # pairs and their repeats), by it and by the fast imager with its noise; both ways or neither, since the report
    # compares them sky by sky; WSClean's for every run first (their coverage), then the fast ones (SET-shared, or
    # SET-mended and SET-exact for the mended imagers' networks, these read against SET-wsclean-linear)
    for pass in wsclean fast; do
        for run in "${UNPAIRED_RUNS[@]}"; do
            [ -e "$OUT/$run/best.weights.h5" ] || continue
            fast="$(fast_images "$run")"
            wsclean="$(wsclean_images "$run")"
            imager=$fast
            [ "$pass" = wsclean ] && imager=$wsclean
            for set in "${UNPAIRED_SETS[@]}" transfer transfer-24 transfer-24b; do
                { complete "$set-$wsclean" && complete "$set-$fast"; } || continue
                evaluate "$run" "$set-$imager" "eval-$set-$imager"
            done
        done
    done
    # and the calibrations with the pairs' shift alone: the test skies of drawn shapes and the fixed pairs made both
    # ways, WSClean's images by RUN-likelihood-shift-for-wsclean (first: their coverage), the fast ones with its noise
    # by RUN-likelihood-shift-for-fast
    for run in "${SHIFT_RUNS[@]}"; do
        [ -e "$OUT/$run/best.weights.h5" ] || continue
        imager=shared
        [[ "$run" == *-for-wsclean ]] && imager=wsclean
        for set in "${SHARED_TESTS[@]/#/pointing-test-}" transfer transfer-24 transfer-24b; do
            { complete "$set-wsclean" && complete "$set-shared"; } || continue
            evaluate "$run" "$set-$imager" "eval-$set-$imager"
        done
    done
    # and how those networks read the 96 calibration skies with another noise: 0.1% more rms, and
    # the noise drawn on the visibilities as WSClean's (the -shared sets made before commit 292420b carry ducc0's 1/n,
    # 0.01% more rms over the field: remove pointing-calib-mid-shared to make it again)
    # and how WSClean's images of every sky it imaged differ from the fast imager's with its noise, flat-sky
    # (SET-shared) and with the w-term (SET-w-shared), sky by sky without a network (images/SET-KIND.json)
    if [ "$PRIORS" = 1 ] && part pointings; then
        for set in "${IMAGED_BY_BOTH[@]}"; do
            for kind in shared w-shared; do
                compare_images "$set" "$kind"
            done
        done
    fi
    # EXACT=1: and the fixed pairs' images by the exact major cycle against WSClean's restored without wrap-around
    # (MENDED=exact: every set imaged by both)
    if [ "$EXACT" = 1 ] && part pointings; then
        EXACT_COMPARED=(transfer transfer-24 transfer-24b)
        [ "$MENDED" = exact ] && EXACT_COMPARED=("${IMAGED_BY_BOTH[@]}")
        for set in "${EXACT_COMPARED[@]}"; do
            compare_images "$set" exact wsclean-linear
        done
    fi
    for run in "${NOISE_RUNS[@]}"; do
        # and how the networks read them: WSClean's test images of drawn shapes against each fast imager's
        for set in "${SHARED_TESTS[@]/#/pointing-test-}"; do
            compare_sets "$run" "$set-shared" "$set-wsclean" "imager-flat-$set"
            compare_sets "$run" "$set-w-shared" "$set-wsclean" "imager-w-$set"
        done
        compare_sets "$run" pointing-calib-mid pointing-calib-mid-rms noise-rms
        compare_sets "$run" pointing-calib-mid pointing-calib-mid-shared noise-model
        # and, on the same skies with the w-term, the image-plane noise with it against that without it (one white
        # noise draw, filtered both ways), then against the noise drawn on the visibilities
        compare_sets "$run" pointing-calib-mid-w-image pointing-calib-mid-w-image-w noise-w-term
        compare_sets "$run" pointing-calib-mid-w-image-w pointing-calib-mid-w-visibilities noise-image-w
    done
    for run in "${POINTING_RUNS[@]}"; do
        [[ "$run" == *-w ]] && continue     # the test sets below are imaged without the w-term
        [ -e "$OUT/$run/best.weights.h5" ] && evaluate "$run" pointing-test-fast eval-pointing-test
        if [ "$(calibration_set "$run")" = pointing-calib-mid ]; then
            [ -e "$OUT/$run/best.weights.h5" ] && evaluate "$run" pointing-test-mid eval-pointing-mid
        else
            [ -e "$OUT/$run/best.weights.h5" ] && evaluate "$run" pointing-test-random eval-pointing-random
        fi
    done
fi

if wants pofd && part mosaics; then
    if [ -e "$OUT/pofd-fast/pofd.json" ]; then say "pofd-fast: done"; else
        say "P(D) baseline on test-fast"
        radsim pofd "$OUT/test-fast" --out "$OUT/pofd-fast" 2>&1 | tee "$OUT/pofd-fast.log" | tail -16
    fi
fi

if wants report; then
    if [ "$PART" = pointings ]; then
        say "report -> docs/results-pointings.md"
        python scripts/science_report.py "$OUT" --doc docs/results-pointings.md --figure-prefix results-pointings
    elif [ "$PART" = wide ]; then
        say "report -> docs/results-wide.md"
        python scripts/science_report.py "$OUT" --doc docs/results-wide.md --figure-prefix results-wide
    else
        say "report -> docs/results.md"
        python scripts/science_report.py "$OUT"
    fi
fi
