"""One realisation through the stages: counts model -> catalogue (chunks) -> sky image -> tiles and labels.

Plain values in and out; no files, no MPI. A ``sink`` may receive the catalogue chunk by chunk (to stream it to
disk) so that the whole catalogue never needs to be in memory.

Random streams of realisation i (see radsim.run.realisations): purpose (0,) the modifier's per-realisation
parameters, (1,) the Poisson numbers of sources, (2, k) catalogue chunk k, (3,) the re-sampling of a T-RECS
catalogue, (4,) the imaging (noise).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from radsim import tiles
from radsim.errors import RadsimError
from radsim.instrument.imaging.base import build_imager
from radsim.run import realisations
from radsim.sky import catalogue as catalogue_mod
from radsim.sky import counts, render
from radsim.sky.grid import Grid


class RealisationError(RadsimError, ValueError):
    """A realisation that cannot be made as configured; the message names the keys."""


class StageTimer:
    """Accumulates wall time per stage name (s)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, name):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[name] = timer.seconds.get(name, 0.0) + time.perf_counter() - self.t0
        return _Ctx()


def build_model(cfg, realisation: realisations.Realisation) -> counts.CountsModel:
    """The realisation's counts model, with its per-realisation random parameters drawn."""
    base = counts.load_base(cfg.counts.base)
    lo, hi = base.valid_range_at(cfg.field.frequency_hz)
    drawn = not cfg.sources.trecs_catalogues
    if drawn and (cfg.sources.flux_min_jy < lo * (1 - 1e-9) or cfg.sources.flux_max_jy > hi * (1 + 1e-9)):
        raise RealisationError(f"sources.flux_min_jy..flux_max_jy = "
                               f"{cfg.sources.flux_min_jy:g}..{cfg.sources.flux_max_jy:g}"
                               f" Jy is outside the range of counts.base {cfg.counts.base!r} at "
                               f"{cfg.field.frequency_hz:g} Hz ({lo:.3g}..{hi:.3g} Jy)")
    rng = np.random.default_rng(realisation.seed_sequence(cfg.run.seed, 0))
    params = counts.resolve_modifier(realisation.modifier_name, realisation.modifier_params, rng)
    return counts.CountsModel(base, cfg.field.frequency_hz, realisation.modifier_name, params)


_TRECS_CACHE: dict = {}


def load_trecs(paths, frequency_hz: float) -> catalogue_mod.Catalogue:
    """T-RECS catalogue(s) read once per process (a driver makes many realisations of the same sky)."""
    key = (tuple(paths), float(frequency_hz))
    if key not in _TRECS_CACHE:
        _TRECS_CACHE.clear()
        _TRECS_CACHE[key] = catalogue_mod.Catalogue.concatenate(
            catalogue_mod.read_trecs(p, frequency_hz) for p in paths)
    return _TRECS_CACHE[key]


@dataclass
class _Sources:
    model: counts.CountsModel
    n_per_class: np.ndarray
    mean_per_class: np.ndarray
    n_chunks: int
    chunk: object            # k -> Catalogue
    expected_per_bin: object  # (edges, tiling, grid) -> (n_tiles, n_bins)


def _drawn_sources(cfg, real, grid) -> _Sources:
    model = build_model(cfg, real)
    plan = catalogue_mod.plan_sources(model, grid, cfg.sources.flux_min_jy, cfg.sources.flux_max_jy,
                                      np.random.default_rng(real.seed_sequence(cfg.run.seed, 1)))
    return _Sources(model, plan.n_per_class, plan.mean_per_class, plan.n_chunks,
                    lambda k: catalogue_mod.draw_chunk(plan, grid, k,
                                                       np.random.default_rng(real.seed_sequence(cfg.run.seed, 2, k))),
                    lambda edges, tiling: tiles.expected_counts(model, grid, tiling, edges))


def _trecs_sources(cfg, real, grid) -> _Sources:
    """A T-RECS sky: sources on the field, within the flux limits, re-sampled to the modifier. Expected numbers
    are sum_i m(S_i) over those sources, spread over the tiles by solid angle."""
    model = build_model(cfg, real)
    full = load_trecs(cfg.sources.trecs_catalogues, cfg.field.frequency_hz)
    catalogue_mod.check_covers(full, grid, ", ".join(cfg.sources.trecs_catalogues))
    inside = catalogue_mod.crop_to_field(full, grid)
    inside = inside.select((inside.flux_jy >= cfg.sources.flux_min_jy) & (inside.flux_jy < cfg.sources.flux_max_jy))
    weight = model.modifier(inside.flux_jy)
    cat = catalogue_mod.resample(inside, model.modifier, grid,
                                 np.random.default_rng(real.seed_sequence(cfg.run.seed, 3)))
    size = catalogue_mod.CHUNK
    omega = grid.solid_angle_sr()

    def expected(edges, tiling):
        per_bin = np.histogram(inside.flux_jy, edges, weights=weight)[0]
        return grid.solid_angles_sr(tiling.boxes())[:, None] / omega * per_bin[None, :]

    return _Sources(model, cat.counts_per_class(),
                    np.bincount(inside.cls, weights=weight, minlength=len(counts.CLASSES)),
                    max(1, -(-len(cat) // size)), lambda k: cat.select(slice(k * size, (k + 1) * size)), expected)


@dataclass
class RealisationResult:
    realisation: realisations.Realisation
    modifier_params: dict
    observed: object                # the sky: a radsim.sky.render.Sky, or the sky-model image (Jy/pixel)
    imaged: object                  # ImagedSky: restored (Jy/beam), residual, psf, beam, noise
    tiles: np.ndarray               # (n_tiles, size, size) float32, tiles of the restored image
    labels: np.ndarray              # (n_tiles, n_bins) float32, numbers of sources
    expected: np.ndarray            # (n_tiles, n_bins) float64, model expectation
    tile_origin: np.ndarray         # (n_tiles, 2) int32
    tile_noise: np.ndarray          # (n_tiles,) float32, thermal noise of each tile (Jy/beam, median)
    bin_edges_jy: np.ndarray
    n_per_class: np.ndarray         # (3,) sources drawn per class
    mean_per_class: np.ndarray      # (3,) expected numbers per class
    flux_total_jy: float            # sum of all source fluxes
    flux_in_image_jy: float         # sum of the sky image
    timings_s: dict = field(default_factory=dict)

    @property
    def sky(self) -> np.ndarray:
        """(npix, npix) float32 sky model, Jy/pixel (made when first asked for: a simulation writing only tiles
        never needs it; none when the realisation was made with ``sky_model=False``)."""
        return self.observed.model if isinstance(self.observed, render.Sky) else self.observed

    @property
    def n_sources(self) -> int:
        return int(self.n_per_class.sum())


def imaging_work(cfg) -> tuple[int, float, int]:
    """What imaging one realisation of ``cfg`` grids, which its cost grows with (radsim.studies.scaling): (beams,
    million visibilities per beam (rows x channels), each beam's window in pixels)."""
    from radsim.instrument import beams
    from radsim.instrument.imaging.base import footprint_settings, observation_of
    im = cfg.imaging
    observation = observation_of(cfg)
    fp = footprint_settings(im)
    pb = beams.PrimaryBeam(fp.pop("primary_beam"), (cfg.field.frequency_hz,), (1.0,), observation.dish_diameter_m,
                           fp.pop("fwhm_factor"))
    layout = beams.make_footprint(Grid.from_config(cfg.field), primary_beam=pb, **fp)
    return len(layout.windows), observation.n_visibilities * im.n_channels / 1e6, layout.size


def make_realisation(cfg, index: int, sink=None, imager=None, sky_model: bool = True) -> RealisationResult:
    """Make realisation ``index`` of ``cfg``. ``sink``, if given, gets ``sink.begin(n_rows)`` then
    ``sink.write(chunk)`` for every catalogue chunk. ``imager`` (from :func:`build_imager`) is built from
    ``cfg`` when not given. ``sky_model=False``: the result need not offer the pixelised sky model
    (``RealisationResult.sky``), so an imager that observes only the band-limited sky (fast, yandasoft) gets
    the points transformed as they come, and memory does not grow with the number of sources."""
    real = realisations.get(cfg, index)
    if imager is None:
        imager = build_imager(cfg)
    timer = StageTimer()
    grid = Grid.from_config(cfg.field)
    tiling = tiles.Tiling(cfg.field.npix, cfg.tiles.size)
    noise_map = getattr(imager, "noise_map_jy", None)
    if noise_map is not None:                # a mosaic: tiles only where the noise is near its best
        tiling = tiles.select(tiling, noise_map, cfg.tiles.sensitivity_factor)
        if tiling.n_tiles == 0:
            raise RealisationError(f"no tile of {cfg.tiles.size} pixels has a noise within tiles.sensitivity_factor "
                                   f"= {cfg.tiles.sensitivity_factor:g} of the best; raise it or use smaller tiles")
    edges = cfg.labels.edges_jy
    with timer("catalogue"):
        src = (_trecs_sources if cfg.sources.trecs_catalogues else _drawn_sources)(cfg, real, grid)
    n_sources = int(src.n_per_class.sum())
    if n_sources > cfg.sources.max_sources:
        raise RealisationError(f"realisation {index} would hold {n_sources:,} sources (expected "
                         f"{src.mean_per_class.sum():,.0f}), more than sources.max_sources = "
                         f"{cfg.sources.max_sources:,}")
    if sink is not None:
        sink.begin(int(src.n_per_class.sum()))
    # the synthesis backends observe the sky with every point at its position; ``none`` shows the sky model
    observed_sky = getattr(imager, "observes_points", False)
    components = getattr(imager, "observes_components", False)
    accumulator = render.SkyAccumulator(grid, keep_points=observed_sky, keep_components=components,
                                        stream_points=not (sky_model or components))
    labels = np.zeros((tiling.n_tiles, len(edges) - 1))
    flux_total = 0.0
    for k in range(src.n_chunks):
        with timer("catalogue"):
            chunk = src.chunk(k)
            flux_total += float(chunk.flux_jy.sum())
        with timer("render"):
            accumulator.add(chunk)
        with timer("labels"):
            x, y = grid.lm_to_pixel(chunk.l, chunk.m)
            labels += tiles.label_counts(tiling, x, y, chunk.flux_jy, edges)
        if sink is not None:
            with timer("write_catalogue"):
                sink.write(chunk)
    sky = accumulator.sky() if observed_sky else accumulator.image64().astype(np.float32)
    del accumulator
    with timer("image"):
        imaged = imager.image(sky, np.random.default_rng(real.seed_sequence(cfg.run.seed, 4)))
    with timer("tiles"):
        tile_images = tiling.cut(imaged.restored)
        expected = src.expected_per_bin(edges, tiling)
        noise = tiles.tile_noise(tiling, imaged.noise_map, imaged.noise_rms_jy)
    return RealisationResult(real, src.model.modifier_params, sky, imaged, tile_images, labels.astype(np.float32),
                             expected, tiling.origins(), noise, edges, src.n_per_class, src.mean_per_class, flux_total,
                             sky.flux_jy if observed_sky else float(sky.sum(dtype=np.float64)), timer.seconds)
