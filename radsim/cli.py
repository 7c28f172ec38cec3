"""The ``radsim`` command line: a thin shell around the stages."""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from radsim import __version__
from radsim.errors import RadsimError

EPILOG = """\
Units: fluxes in Jy, frequencies in Hz, angles in deg (field) or arcsec (source shapes).
Configuration: a TOML file (see configs/quickstart.toml); any key can be overridden with
--set section.key=value (repeatable), the value written as in TOML, e.g. --set field.npix=256
--set 'counts.modifier={name="seed", s0_jy=5e-5, alpha=0.2}'.
"""


class UserError(RadsimError):
    """Bad arguments or files named on the command line."""


def _add_config(p):
    p.add_argument("config", help="TOML configuration file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a configuration value (repeatable); the value is parsed as TOML")


def _load(args):
    from radsim import config
    return config.load(args.config, args.overrides)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------------------------------------------

def cmd_realise(args) -> int:
    from radsim.dataset import products
    from radsim.instrument.imaging import build_imager
    from radsim.run import pipeline
    from radsim.sky.grid import Grid
    cfg = _load(args)
    out = Path(args.out)
    existing = [n for n in products.PRODUCT_NAMES if (out / n).exists()]
    if existing and not args.overwrite:
        raise UserError(f"{out} already holds {', '.join(existing)}; choose another --out or pass --overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {out}: {exc.strerror}") from None
    grid = Grid.from_config(cfg.field)
    t0 = time.perf_counter()
    workdir = out / "imaging" if cfg.imaging.keep_ms else None
    imager = build_imager(cfg, workdir)  # the observation's PSF and beam: errors before any work
    setup_s = time.perf_counter() - t0
    sink = None
    if not args.no_catalogue:
        sink = products.CatalogueFitsWriter(out / "catalogue.fits", grid, cfg.field.frequency_hz,
                                            {"REALISN": args.index, "CFGHASH": cfg.hash()[:16]})
    try:
        result = pipeline.make_realisation(cfg, args.index, sink=sink, imager=imager)
    except BaseException:
        if sink is not None:
            sink.close(ok=False)
        raise
    finally:
        imager.close()
    if sink is not None:
        sink.close()
    tw = time.perf_counter()
    written = (["catalogue.fits"] if sink is not None else []) + products.write_realisation(out, cfg, result, grid)
    stale = products.remove_stale(out, written)
    result.timings_s["write"] = time.perf_counter() - tw + result.timings_s.pop("write_catalogue", 0.0)
    result.timings_s = {"imaging setup": setup_s, **result.timings_s}
    _print_summary(cfg, result, out, time.perf_counter() - t0, written)
    if stale:
        print(f"  removed {', '.join(stale)}: left by an earlier realisation (--overwrite)")
    return 0


def add_realise_parser(sub, fmt) -> None:
    r = sub.add_parser("realise", formatter_class=fmt, epilog=EPILOG,
                       help="make one sky realisation: catalogue, sky image, imaging, labelled tiles",
                       description="Make realisation INDEX of the config and write into --out: catalogue.fits "
                                   "(the sources), sky.fits (sky model, Jy/pixel), restored.fits, residual.fits and "
                                   "psf.fits (the sky imaged by imaging.backend, Jy/beam, with BMAJ/BMIN/BPA) and "
                                   "tiles.h5 (tiles of the restored image and per-tile labels: numbers of sources per "
                                   "label flux bin).")
    _add_config(r)
    r.add_argument("--index", type=int, default=0, help="realisation index (parameter set = index // repeats); "
                                                        "default 0")
    r.add_argument("--out", required=True, help="output directory (created if missing)")
    r.add_argument("--no-catalogue", action="store_true", help="do not write catalogue.fits (it can be large: "
                                                               "about 37 bytes per source)")
    r.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    r.set_defaults(func=cmd_realise)


def _print_summary(cfg, r, out, total_s, written):
    from radsim.sky.counts import CLASSES
    real = r.realisation
    params = {k: v for k, v in r.modifier_params.items() if k not in ("knots", "edges_jy")}
    print(f"realisation {real.index} (parameter set {real.set_index}, repeat {real.repeat}): "
          f"modifier {real.modifier_name} {params}")
    print(f"  field {cfg.field.size_deg:g} deg x {cfg.field.size_deg:g} deg, {cfg.field.npix} x {cfg.field.npix} "
          f"pixels of {cfg.field.pixel_arcsec:.3g} arcsec, {cfg.field.frequency_hz / 1e6:.1f} MHz")
    sfg = int(r.n_per_class[0])
    agn = int(r.n_per_class[1] + r.n_per_class[2])
    print(f"  sources {r.n_sources:,} ({', '.join(f'{c} {int(n):,}' for c, n in zip(CLASSES, r.n_per_class))}); "
          f"SFG {sfg:,}, AGN {agn:,} ({100 * agn / max(1, r.n_sources):.1f}%); "
          f"expected {r.mean_per_class.sum():,.0f}")
    print(f"  flux: sources {r.flux_total_jy:.6g} Jy, in image {r.flux_in_image_jy:.6g} Jy "
          f"(beyond the edge {r.flux_total_jy - r.flux_in_image_jy:.3g} Jy)")
    im = r.imaged
    if im.beam is not None:
        extra = f", {im.info['clean_iterations']} CLEAN iterations in {im.info['major_cycles']} major cycles" \
            if "clean_iterations" in im.info else ""
        beams = im.info.get("n_beams", 1)
        mosaic = (f"a mosaic of {beams} beams ({cfg.imaging.footprint}, {cfg.imaging.primary_beam} primary beams; "
                  f"noise map in noise.fits), " if im.noise_map is not None else "")
        print(f"  imaging {im.backend}: {mosaic}beam {im.beam.bmaj_arcsec:.2f} x {im.beam.bmin_arcsec:.2f} arcsec, "
              f"PA {im.beam.bpa_deg:.0f} deg; expected noise rms {im.noise_rms_jy * 1e6:.1f} uJy/beam{extra}")
    else:
        print(f"  imaging {im.backend}: the sky model itself (Jy/pixel)")
    lab = r.labels.sum(0)
    all_tiles = (cfg.field.npix // cfg.tiles.size) ** 2
    where = "" if r.tiles.shape[0] == all_tiles else (f" (of {all_tiles}: where the mosaic's noise is within "
                                                      f"{cfg.tiles.sensitivity_factor:g} of its best)")
    print(f"  tiles {r.tiles.shape[0]} of {r.tiles.shape[1]} px{where}; labelled sources per bin: "
          + " ".join(f"{int(v)}" for v in lab))
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in r.timings_s.items())
    print(f"  time {total_s:.2f} s ({stages}); {r.n_sources / max(total_s, 1e-9):,.0f} sources/s; "
          f"peak memory {_peak_rss_mib():.0f} MiB")
    print(f"  wrote {out}/: " + ", ".join(sorted(written)))


def cmd_counts_plot(args) -> int:
    from radsim import figures
    from radsim.run import pipeline, realisations
    from radsim.sky import counts
    cfg = _load(args)
    plan = realisations.plan(cfg)
    seen, models, names = set(), [], []
    for real in plan:
        if real.set_index in seen:
            continue
        seen.add(real.set_index)
        models.append(pipeline.build_model(cfg, real))
        p = {k: v for k, v in real.modifier_params.items() if k not in ("knots", "edges_jy")}
        names.append(f"{real.modifier_name} " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                                          for k, v in p.items()))
    if not models:
        models = [counts.CountsModel(counts.load_base(cfg.counts.base), cfg.field.frequency_hz)]
    _ensure_parent(args.out)
    figures.counts_plot(models, cfg.labels.edges_jy, cfg.labels.detection_threshold_jy, cfg.field.frequency_hz,
                      args.out, names=names)
    print(f"wrote {args.out} ({len(models)} parameter sets)")
    return 0


def cmd_counts_from_trecs(args) -> int:
    from radsim.sky import catalogue, counts
    parts = []
    for path in args.catalogues:
        if not Path(path).is_file():
            raise UserError(f"T-RECS catalogue not found: {path}")
        parts.append(catalogue.read_trecs(path, args.frequency_hz))
    cat = catalogue.Catalogue.concatenate(parts)
    if len(cat) == 0:
        raise UserError("the catalogue(s) hold no source with positive flux at that frequency")
    area = args.area_deg2 or catalogue.trecs_area_deg2(cat)
    centres, dnds = catalogue.histogram_counts(cat, area, args.per_decade)
    _ensure_parent(args.out)
    counts.write_table(args.out, centres, dnds, args.frequency_hz,
                       {"source": [str(p) for p in args.catalogues], "area_deg2": area, "n_sources": len(cat)})
    per_class = cat.counts_per_class()
    print(f"read {len(cat):,} sources ({', '.join(f'{c} {n:,}' for c, n in zip(counts.CLASSES, per_class))}) "
          f"over {area:.4g} deg^2; wrote {args.out} ({centres.size} flux bins at {args.frequency_hz:g} Hz)")
    return 0


def add_counts_parser(sub, fmt) -> None:
    c = sub.add_parser("counts", help="source-count models: plot them, build one from a T-RECS catalogue",
                       formatter_class=fmt)
    csub = c.add_subparsers(dest="counts_command", required=True, metavar="ACTION")
    cp = csub.add_parser("plot", formatter_class=fmt, epilog=EPILOG,
                         help="plot the base and modified counts as S^2.5 dN/dS",
                         description="Plot source counts as Euclidean-normalised S^2.5 dN/dS (Jy^1.5 sr^-1): "
                                     "the base model at 1.4 GHz against published counts (Hopkins et al. "
                                     "2003, Matthews et al. 2021), and the base and modified models of every "
                                     "parameter set at the observing frequency with the label bins and the "
                                     "detection threshold marked.")
    _add_config(cp)
    cp.add_argument("--out", required=True, help="output image (PNG or PDF)")
    cp.set_defaults(func=cmd_counts_plot)
    ct = csub.add_parser("from-trecs", formatter_class=fmt,
                         help="tabulate per-class dN/dS from T-RECS FITS catalogue(s), for counts.base",
                         description="Histogram the sources of one or more T-RECS catalogues (e.g. the 2019 AGN "
                                     "and SFG files of one field) at a frequency and write a counts table (ECSV) "
                                     "usable as counts.base.")
    ct.add_argument("catalogues", nargs="+", help="T-RECS FITS catalogue(s) of the same field")
    ct.add_argument("--frequency-hz", type=float, required=True, help="frequency of the table (Hz); fluxes are "
                    "interpolated in log between the catalogue's I<MHz> columns")
    ct.add_argument("--out", required=True, help="output table (.ecsv)")
    ct.add_argument("--area-deg2", type=float, help="field area (deg^2); default: from the extent of "
                                                     "x_coord, y_coord")
    ct.add_argument("--per-decade", type=int, default=10, help="flux bins per decade (default 10)")
    ct.set_defaults(func=cmd_counts_from_trecs)


def cmd_preview(args) -> int:
    import h5py
    from astropy.io import fits

    from radsim import figures
    d = Path(args.dir)
    missing = [n for n in ("sky.fits", "tiles.h5") if not (d / n).is_file()]
    if missing:
        raise UserError(f"{d} is not a realisation directory (missing {', '.join(missing)}); "
                        "make one with `radsim realise`")
    with fits.open(d / "sky.fits") as h:
        sky = np.squeeze(h[0].data).astype(float)
    with h5py.File(d / "tiles.h5", "r") as f:
        tiles, labels, expected = f["images"][:], f["labels"][:], f["expected"][:]
        origins, edges = f["tile_origin"][:], f.attrs["bin_edges_jy"]
        cfg = json.loads(f.attrs["config"])
        index = int(f.attrs["realisation_index"])
        modifier = json.loads(f.attrs["modifier"])
    if args.tile is not None and not 0 <= args.tile < len(tiles):
        raise UserError(f"--tile {args.tile} is out of range (0..{len(tiles) - 1})")
    shown = {k: v for k, v in modifier.items() if k not in ("knots", "edges_jy")}
    restored = psf = beam = noise = None
    if (d / "restored.fits").is_file():
        from radsim.instrument.imaging import Beam
        with fits.open(d / "restored.fits") as h:
            restored = np.squeeze(h[0].data).astype(float)
            hdr = h[0].header
            beam = Beam(hdr["BMAJ"] * 3600, hdr["BMIN"] * 3600, hdr["BPA"])
            noise = hdr.get("NOISERMS") or None
    if (d / "psf.fits").is_file():
        with fits.open(d / "psf.fits") as h:
            psf = np.squeeze(h[0].data).astype(float)
    out = args.out or d / "preview.png"
    _ensure_parent(out)
    figures.preview_plot(sky, tiles, labels, expected, origins, edges, cfg["labels"]["detection_threshold_jy"], out,
                       args.tile, title=f"realisation {index}: {shown}", restored=restored, psf=psf, beam=beam,
                       noise_rms_jy=noise, pixel_arcsec=cfg["field"]["size_deg"] * 3600 / cfg["field"]["npix"])
    print(f"wrote {out}")
    return 0


def add_preview_parser(sub, fmt) -> None:
    pv = sub.add_parser("preview", formatter_class=fmt,
                        help="one-page picture of a realisation: sky, a tile and its labels",
                        description="Draw the sky model of a `radsim realise` directory with its tile grid, one "
                                    "tile (default: the one with most labelled sources), its labels (sources per "
                                    "flux bin) against the counts model's expectation, and the same for all "
                                    "tiles summed.")
    pv.add_argument("dir", help="directory written by `radsim realise`")
    pv.add_argument("--out", help="output image (default DIR/preview.png)")
    pv.add_argument("--tile", type=int, help="tile to show (index)")
    pv.set_defaults(func=cmd_preview)


def cmd_config(args) -> int:
    from radsim.run import realisations
    cfg = _load(args)
    plan = realisations.plan(cfg)
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))
    print(f"# config hash {cfg.hash()}")
    print(f"# {len(plan)} realisation(s):")
    for r in plan[: args.show]:
        p = {k: v for k, v in r.modifier_params.items() if k not in ("knots", "edges_jy")}
        print(f"#   {r.index}: set {r.set_index} repeat {r.repeat} {r.modifier_name} {p}")
    if len(plan) > args.show:
        print(f"#   ... ({len(plan) - args.show} more)")
    return 0


def add_config_parser(sub, fmt) -> None:
    cf = sub.add_parser("config", formatter_class=fmt, epilog=EPILOG,
                        help="validate a config and list its realisations",
                        description="Validate a config (with --set overrides), print it with every default "
                                    "filled in, its hash and its planned realisations.")
    _add_config(cf)
    cf.add_argument("--show", type=int, default=50, help="realisations listed (default 50)")
    cf.set_defaults(func=cmd_config)


def cmd_simulate(args) -> int:
    from radsim.run import driver
    cfg = _load(args)
    return driver.simulate(cfg, Path(args.out), force_new=args.force_new,
                           allow_version_change=args.allow_version_change)


SIMULATE_EPILOG = """
Examples:
  radsim simulate configs/quickstart.toml --out runs/sim               # one process
  mpirun -n 4 radsim simulate configs/quickstart.toml --out runs/sim   # four ranks
  sbatch jobs/simulate.sh                                              # Slurm (CONFIG=..., OUT=...)
Exit status: 0 when every planned realisation is in the dataset, 1 when some failed or a write failed
(listed at the end; run again to retry them), 2 for a bad config or output directory, 75 when stopped by
SIGTERM or SIGINT (Ctrl-C, a Slurm time limit or requeue): every completed realisation is kept, run the
same command again to resume. Each rank completes its shard at least every dataset.commit_interval_s
(default 300 s), so even SIGKILL loses at most that much work.
"""


def add_simulate_parser(sub, fmt) -> None:
    sm = sub.add_parser("simulate", formatter_class=fmt, epilog=EPILOG + SIMULATE_EPILOG,
                        help="make every realisation of a config in parallel (MPI) into a sharded dataset",
                        description="Make every planned realisation of the config (parameter sets x repeats) and "
                                    "write their tiles and labels into the dataset directory --out: manifest.json "
                                    "and shards/*.h5 (see radsim.dataset.shards). Runs as one process or under "
                                    "mpirun / srun; rank 0 hands realisations out one at a time. Running the "
                                    "same command again resumes: completed realisations are kept, interrupted "
                                    "and failed ones are made again.")
    _add_config(sm)
    sm.add_argument("--out", required=True, help="dataset directory (created if missing; resumed if it holds a "
                                                 "dataset of the same config)")
    sm.add_argument("--force-new", action="store_true",
                    help="when --out holds a dataset of another config, move it into --out/superseded-<time>/ "
                         "and start a new one (nothing is deleted)")
    sm.add_argument("--allow-version-change", action="store_true",
                    help="resume a dataset whose shards were made by other versions of radsim, numpy, scipy, "
                         "ducc0, astropy or pyerfa (refused by default: its tiles would be made two ways)")
    sm.set_defaults(func=cmd_simulate)


def cmd_inspect(args) -> int:
    from radsim.dataset import layout
    summary, problems = layout.inspect(args.dir, verify=not args.quick)
    if summary:
        print(layout.format_summary(args.dir, summary))
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print("integrity: every shard opens" + ("" if args.quick else ", every checksum verifies")
          + ", tiles and realisations match the manifest, no realisation twice, nothing missing")
    return 0


def add_inspect_parser(sub, fmt) -> None:
    ins = sub.add_parser("inspect", formatter_class=fmt,
                         help="summarise a dataset and check its integrity",
                         description="Summarise a dataset written by `radsim simulate` (realisations, tiles, split, "
                                     "parameter coverage, time per stage and rank) and check it: every shard opens, "
                                     "every HDF5 checksum verifies, tiles and realisations match the manifest, no "
                                     "realisation is there twice, none is missing. Exit status 1 on any problem.")
    ins.add_argument("dir", help="dataset directory")
    ins.add_argument("--quick", action="store_true", help="skip reading every tile (checksums not verified)")
    ins.set_defaults(func=cmd_inspect)


def cmd_scaling(args) -> int:
    from radsim.studies import scaling
    runs = []
    for d in args.dirs:
        try:
            runs.append(scaling.read_run(d))
        except (scaling.ScalingError, OSError, KeyError, ValueError) as exc:
            raise UserError(f"{d}: not a finished run ({exc})") from None
    report = scaling.write_report(runs, args.out)
    print(report["markdown"])
    m = report["model"]
    if m.sim_t_real_s:
        print(f"\ncost model, simulation: {m.sim_t_real_s:.2f} s per realisation on one core, set-up "
              f"{m.sim_t_setup_s:.2f} s per rank, {m.sim_bytes_per_realisation / 2 ** 20:.1f} MiB per realisation")
    if m.train_compute_s_per_tile:
        print(f"cost model, training: {m.train_compute_s_per_tile * 1e3:.2f} ms per tile per rank, allreduce "
              f"latency {m.train_allreduce_latency_s * 1e3:.2f} ms, bandwidth {m.train_allreduce_gb_per_s:.3g} GB/s, "
              f"gradients {m.train_allreduce_mb:.1f} MiB; with several ranks "
              f"{(m.train_multi_compute_s_per_tile or m.train_compute_s_per_tile) * 1e3:.2f} ms per tile and "
              f"{m.train_step_overhead_s * 1e3:.1f} ms per step of overhead")
    print(f"wrote {args.out}/scaling.md, scaling.csv, model.json, speedup.png, efficiency.png, stages.png")
    return 0


def add_scaling_parser(sub, fmt) -> None:
    sc = sub.add_parser("scaling", formatter_class=fmt,
                        help="scaling report of simulation and training runs: table, plots, cost model",
                        description="Read simulation runs (dataset directories) and training runs (radtrain run "
                                    "directories), tabulate rate, strong and weak speed-up and parallel efficiency, "
                                    "per-stage time, I/O and allreduce figures; fit the cost model (docs/scaling.md) "
                                    "and show its prediction beside each measurement. Writes scaling.md, scaling.csv, "
                                    "model.json (the calibration for `radsim plan`) and plots.")
    sc.add_argument("dirs", nargs="+", metavar="DIR", help="run directories (jobs/scaling.sh makes a sweep of them)")
    sc.add_argument("--out", required=True, metavar="REPORT", help="report directory")
    sc.set_defaults(func=cmd_scaling)


def cmd_plan(args) -> int:
    import json as _json

    from radsim.studies import scaling
    cfg = _load(args)
    model = None
    if args.calibration:
        try:
            model = scaling.CostModel.from_dict(_json.loads(Path(args.calibration).read_text()))
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read the calibration {args.calibration}: {exc}") from None
        if not model.sim_t_real_s:
            raise UserError(f"{args.calibration} holds no simulation measurements (run radsim scaling on "
                            "simulation runs)")
    if args.nodes < 1 or args.cores_per_node < 1:
        raise UserError("--nodes and --cores-per-node must be at least 1")
    done = _realisations_made(Path(args.resume), cfg) if args.resume else 0
    p = scaling.plan(cfg, args.nodes, args.cores_per_node, model, args.io_gbs, done=done)
    print(_json.dumps(p, indent=1) if args.json else scaling.format_plan(p))
    return 0


def _realisations_made(out: Path, cfg) -> int:
    """How many of ``cfg``'s realisations the dataset ``out`` holds in complete shards (what `radsim simulate`
    would not make again); 0 where nothing was made yet. A dataset of another configuration is refused."""
    from radsim.dataset import layout
    from radsim.run import realisations
    try:
        manifest = layout.read_manifest(out)
        if manifest is not None and manifest.get("tiles_hash") != cfg.tiles_hash():
            raise UserError(f"{out} holds a dataset made from another configuration (tiles hash "
                            f"{str(manifest.get('tiles_hash'))[:12]}, this config {cfg.tiles_hash()[:12]}): "
                            "radsim simulate would not resume it; plan it with its own config")
        found = layout.scan_shards(out) if out.is_dir() else []
    except layout.DatasetError as exc:
        raise UserError(f"cannot count what {out} holds: {exc}") from None
    return len({int(i) for s in found for i in s["table"]["id"]} & set(range(realisations.n_realisations(cfg))))


def add_plan_parser(sub, fmt) -> None:
    pl = sub.add_parser("plan", formatter_class=fmt, help="predict the wall time, core-hours and dataset size of a run",
                        description="Predict what simulating CONFIG costs on --nodes nodes of --cores-per-node cores: "
                                    "per-realisation time scaled from a calibration (model.json of `radsim scaling`, "
                                    "or the built-in one measured on the development machine) by the expected "
                                    "number of sources and pixels, plus what the imaging mode costs beyond the fast "
                                    "imager's PSF major cycle (the exact major cycle, WSClean, w nodes, the "
                                    "visibilities' noise: measured per beam and million visibilities, "
                                    "docs/scaling.md); wall time, core-hours, efficiency, dataset size. With --resume "
                                    "DIR, of what is left of the dataset DIR.")
    _add_config(pl)
    pl.add_argument("--nodes", type=int, required=True, help="number of nodes")
    pl.add_argument("--cores-per-node", type=int, default=64, help="MPI ranks per node (default 64)")
    pl.add_argument("--calibration", metavar="MODEL_JSON", help="model.json from radsim scaling")
    pl.add_argument("--io-gbs", type=float, help="aggregate file-system write bandwidth (GB/s) to bound the run by")
    pl.add_argument("--resume", metavar="DIR", help="plan only what is left of the dataset DIR (its realisations in "
                    "complete shards are not made again); a DIR not yet made plans everything")
    pl.add_argument("--json", action="store_true", help="print the plan as JSON (seconds, bytes) for scripts")
    pl.set_defaults(func=cmd_plan)


def cmd_pofd(args) -> int:
    from radsim import config as config_mod
    from radsim.baseline import fit as pofd_fit
    from radsim.dataset import atomic, metrics, reader
    try:
        ds = reader.Dataset(args.dataset)
    except (reader.ShardError, OSError) as exc:
        raise UserError(f"cannot open the dataset {args.dataset}: {exc}") from None
    cfg = config_mod.from_dict(ds.manifest["config"], source=f"{args.dataset}/manifest.json")
    if args.split not in ds.split.get("fractions", {}) or not ds.realisations(args.split):
        raise UserError(f"{args.dataset}: the {args.split} split holds no skies")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def progress(k, n, sky):
        f = sky["fit"]
        noise = f" noise {f['noise_sigma'] * 1e6:.1f} uJy/beam" if "noise_sigma" in f else ""
        print(f"sky {sky['id']} ({k}/{n}): S0 {10 ** f['log10_s0']:.3g} Jy, alpha {f['alpha']:+.3f}{noise}; "
              f"{sky['seconds']:.0f} s", flush=True)
    m = pofd_fit.baseline(ds, cfg, args.split, progress=progress)
    atomic.write_json(out / "pofd.json", m)
    print(pofd_fit.format_table(m))
    metrics.plot_residuals([("P(D) fit", m)], out / "dy.png",
                               title=f"P(D) baseline, {args.split} split of {args.dataset} ({m['n_skies']} skies)")
    print(f"wrote {out}/pofd.json and {out}/dy.png")
    return 0


def add_pofd_parser(sub, fmt) -> None:
    pd = sub.add_parser("pofd", formatter_class=fmt, help="the classical baseline: counts from a P(D) fit of each sky",
                        description="Fit the pixel histogram of every sky of a dataset split with the P(D) of the "
                                    "seed law (1 + S0/S)^alpha on the dataset's base counts (S0 and alpha within the "
                                    "seed's range), through the dataset's imaging (the beam; for restored images the "
                                    "dirty beam's main lobe below CLEAN's level, the clean beam above, fitted noise; "
                                    "radsim.baseline.fit), and "
                                    "score the fitted counts per label bin against the labels as `radtrain evaluate` "
                                    "scores a CNN (dy and relative error per bin per sky). Writes pofd.json and "
                                    "dy.png. Backends none and fast; on one core about 10 s per 2560^2 sky model, "
                                    "30-60 s per restored image.")
    pd.add_argument("dataset", help="dataset directory (radsim simulate)")
    pd.add_argument("--split", default="test", help="split to fit (default test)")
    pd.add_argument("--out", required=True, help="output directory")
    pd.set_defaults(func=cmd_pofd)


def cmd_compare(args) -> int:
    from radsim.dataset import atomic, reader
    from radsim.studies import compare
    for d in (args.a, args.b):
        if not (Path(d) / reader.MANIFEST).is_file():
            raise UserError(f"{d}: not a radsim dataset (no {reader.MANIFEST}); give two directories made by "
                            "`radsim simulate`")
    result = compare.compare(args.a, args.b)
    print(compare.format_table(result))
    if args.out:
        _ensure_parent(args.out)
        atomic.write_json(Path(args.out), result)
        print(f"wrote {args.out}")
    return 0


def add_compare_parser(sub, fmt) -> None:
    cp = sub.add_parser("compare", formatter_class=fmt,
                        help="how the images of the same skies differ between two datasets",
                        description="Compare the tiles of the skies two datasets both hold (one config and seed "
                                    "imaged two ways: another imager, noise model or CLEAN), sky by sky: the change "
                                    "of variance (of every pixel, and of the faint pixels: the noise and the sources "
                                    "far below it), of the robust width and of the flux scale of bright pixels, the "
                                    "rms of the difference and the correlation, as mean +- standard error over skies "
                                    "(radsim.studies.compare). The networks read the faintest counts from the faint "
                                    "pixels' variance: 0.2% more of it (0.1% more noise rms) moves their readings "
                                    "by 0.8% of the top bin's count and 2.4% at 1 uJy. Refuses datasets of other "
                                    "skies (no realisation in common, or other true counts) and tiles cut otherwise.")
    cp.add_argument("a", help="dataset read first (A)")
    cp.add_argument("b", help="dataset compared with it (B)")
    cp.add_argument("--out", help="also write the per-sky figures and the summary to this JSON file")
    cp.set_defaults(func=cmd_compare)


def _ensure_parent(path):
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create directory {parent}: {exc.strerror}") from None


# --------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``radsim`` parser: one ``add_<command>_parser`` per command, beside the command."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="radsim", formatter_class=fmt, epilog=EPILOG,
        description="Simulate radio skies with chosen source counts N(S), image them and cut labelled tiles.")
    p.add_argument("--version", action="version", version=f"radsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_realise_parser(sub, fmt)
    add_counts_parser(sub, fmt)
    add_preview_parser(sub, fmt)
    add_config_parser(sub, fmt)
    add_simulate_parser(sub, fmt)
    add_inspect_parser(sub, fmt)
    add_scaling_parser(sub, fmt)
    add_plan_parser(sub, fmt)
    add_pofd_parser(sub, fmt)
    add_compare_parser(sub, fmt)
    return p


def _launcher_rank() -> int:
    """This process's rank as the launcher (mpirun, srun) says, before MPI starts; 0 when not launched."""
    import os
    for var in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def main(argv=None) -> int:
    """Run one command. A :class:`~radsim.errors.RadsimError` (bad input, a failed write) is printed as one
    ``radsim: error:`` line and sets the exit status; anything else is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    quiet = _launcher_rank() != 0   # under MPI, the same error of every rank is printed once, by rank 0
    try:
        return args.func(args)
    except RadsimError as exc:
        if not quiet:
            print(f"radsim: error: {exc}", file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
