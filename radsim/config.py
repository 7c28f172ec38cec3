"""The radsim configuration: one typed schema, loaded from TOML and validated before any work starts.

Every physical quantity carries its unit in its name (``_jy``, ``_hz``, ``_deg``, ``_arcsec``). The keys that
define the sky and the study (field, sources, counts.base, labels, tiles, run.seed) have no default: a config
must state them. The observation defaults to an EMU-like one (each default named in docs/configuration.md).
A bad key or value raises :class:`ConfigError` naming the key, the value given and what was expected.
"""
from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from radsim.errors import RadsimError
from radsim.instrument.imaging.base import BACKENDS
from radsim.sky import counts as _counts


class ConfigError(RadsimError, ValueError):
    """A configuration that cannot be used; the message names every offending key."""


def _flux_limits_ordered(section):
    if not section.flux_min_jy < section.flux_max_jy:
        raise ValueError(f"flux_min_jy ({section.flux_min_jy:g}) must be below flux_max_jy ({section.flux_max_jy:g})")
    return section


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)   # no "512" for 512: a typo, not a number


class FieldConfig(_Section):
    """The imaged field: a square SIN-projected grid centred on the phase centre."""

    centre_ra_deg: float = Field(ge=0.0, lt=360.0, description="Right ascension of the field centre (deg, J2000).")
    centre_dec_deg: float = Field(ge=-90.0, le=90.0, description="Declination of the field centre (deg, J2000).")
    size_deg: float = Field(gt=0.0, le=30.0, description="Side of the square field (deg).")
    npix: int = Field(gt=0, le=65536, description="Pixels along each side of the image.")
    frequency_hz: float = Field(gt=1e7, lt=1e12, description="Observing (centre) frequency (Hz).")
    bandwidth_hz: float = Field(gt=0.0, description="Observed bandwidth (Hz); the FREQ axis width of images.")

    @property
    def pixel_deg(self) -> float:
        """Pixel side (deg)."""
        return self.size_deg / self.npix

    @property
    def pixel_arcsec(self) -> float:
        """Pixel side (arcsec)."""
        return self.pixel_deg * 3600.0


class SourcesConfig(_Section):
    """Which sources are put in the sky: fluxes at the observing frequency."""

    flux_min_jy: float = Field(gt=0.0, description="Faintest source put in the sky (Jy at field.frequency_hz).")
    flux_max_jy: float = Field(gt=0.0, description="Brightest source put in the sky (Jy at field.frequency_hz).")
    trecs_catalogues: list[str] = Field(
        default_factory=list,
        description="T-RECS FITS catalogue(s) of one field (e.g. the 2019 AGN and SFG files). When given, "
                    "sources are taken from them instead of drawn from counts.base: cropped to the field, then "
                    "re-sampled to the realisation's modifier keeping their morphology.")
    max_sources: int = Field(
        1_000_000_000, gt=0,
        description="A realisation that would hold more sources is refused (it fails and the job goes on): a "
                    "guard against parameter draws whose sky would take hours and tens of GB (about 4 s and 40 "
                    "bytes per million sources).")

    _ordered = model_validator(mode="after")(lambda self: _flux_limits_ordered(self))


class CountsConfig(_Section):
    """The source-count model dN/dS: a base model times a modifier."""

    base: str = Field(description='"builtin" (the two-population model of radsim.sky.counts) or the path of a '
                                  "table written by `radsim counts from-trecs`.")
    modifier: dict[str, Any] = Field(default_factory=lambda: {"name": "none"},
                                     description="Multiplier of the base counts: {name = ..., parameters...}. "
                                                 f"Names: {', '.join(sorted(_counts.MODIFIERS))}.")

    @field_validator("modifier")
    @classmethod
    def _known_modifier(cls, value):
        name = value.get("name")
        if name not in _counts.MODIFIERS:
            raise ValueError(f"modifier name {name!r} is not one of {sorted(_counts.MODIFIERS)}")
        _counts.check_modifier_params(name, {k: v for k, v in value.items() if k != "name"}, complete=False)
        return value


class LabelsConfig(_Section):
    """The per-tile labels: numbers of sources in log-spaced flux bins."""

    flux_min_jy: float = Field(gt=0.0, description="Lower edge of the first label bin (Jy).")
    flux_max_jy: float = Field(gt=0.0, description="Upper edge of the last label bin (Jy).")
    n_bins: int = Field(gt=0, le=1000, description="Number of log-spaced label bins.")
    detection_threshold_jy: float = Field(gt=0.0, description="The survey's detection threshold (Jy, ~5 sigma); "
                                                                 "marked on plots and reports.")

    _ordered = model_validator(mode="after")(lambda self: _flux_limits_ordered(self))

    @property
    def edges_jy(self):
        import numpy as np
        return np.logspace(math.log10(self.flux_min_jy), math.log10(self.flux_max_jy), self.n_bins + 1)


class TilesConfig(_Section):
    size: int = Field(gt=1, le=8192, description="Side of the square, non-overlapping tiles (pixels).")
    sensitivity_factor: float = Field(1.25, ge=1.0, description="With a mosaic (imaging.footprint other than "
                                      "'single', or a primary beam): tiles only where the mosaic's noise is within "
                                      "this factor of its best everywhere in the tile; this area also defines the "
                                      "survey rms (imaging.noise_rms_jy is its median noise).")


class ImagingConfig(_Section):
    """How the sky is imaged (radsim.instrument.imaging). Names follow WSClean where they can."""

    backend: str = Field(
        "fast", description="none: the sky model (or convolved with beam_arcsec); fast: built-in image-plane "
                            "imager; wsclean: WSClean on a simulated Measurement Set; yandasoft: csimulator + "
                            "imager (in the Apptainer image).")
    beam_arcsec: float | None = Field(None, gt=0.0, description="none backend: FWHM of a circular restoring beam "
                                                                  "(arcsec); unset: the sky model in Jy/pixel.")
    noise_rms_jy: float | None = Field(25e-6, ge=0.0, description="Image noise rms (Jy/beam); EMU-like default. "
                                                                   "Unset it to use system_temperature_k.")
    system_temperature_k: float | None = Field(None, gt=0.0, description="System temperature (K): noise from the "
                                               "radiometer equation instead of noise_rms_jy.")
    aperture_efficiency: float = Field(0.8, gt=0.0, le=1.0, description="Aperture efficiency (radiometer noise).")
    noise: Literal["image", "image-w", "visibilities"] = Field(
        "image", description="fast: how the thermal noise is made. 'image': white noise filtered to the "
        "observation's noise spectrum, at a cost that does not grow with the visibilities, but flat-sky (the phase "
        "centre's correlation everywhere: a network read a flat-sky 2 deg pointing's 1-10 uJy counts 0.4-1.2% "
        "lower than with the visibilities' noise, as for 0.05% less noise rms, but 1.0-3.2% higher with the "
        "w-term in the sky's PSF, through CLEAN, docs/results-pointings.md); 'image-w': so too, but with the "
        "w-term: filtered at each node of imaging.w_nodes (which it needs) with the uv coverage as the w-term "
        "shifts it there, each facet taken from its node's field, so that the noise's side lobes are sheared as "
        "the PSF's are (in a 2 deg pointing's corner facets 0.90 +- 0.11 of the w-term's shear, the visibilities' "
        "noise 0.80 +- 0.15; 0.37 s per 1024^2 pointing with 5 x 5 nodes on one core, the filters made once in 14 s "
        "and cached, benchmarks/noise.py). A network reads it as the flat-sky noise (0.13 +- 0.10% higher in the "
        "top bin), not as the visibilities' noise: CLEAN treats the noise by more than its local correlation "
        "(docs/results-pointings.md), so compare imagers with 'visibilities'; 'visibilities': Gaussian "
        "noise on every visibility, drawn as the wsclean backend draws it for the same run.seed and realisation, "
        "imaged with the imaging weights and the w-term: the very noise WSClean images, so that a sky imaged by "
        "both imagers carries one noise realisation (a paired comparison measures the imagers, not two noise draws; "
        "3.3 s more per pointing of 12 million visibilities on one core, benchmarks/noise.py). The wsclean and "
        "yandasoft backends always add their noise to the visibilities.")
    ha_start_h: float = Field(-4.0, ge=-12.0, le=12.0, description="First hour angle of the observation (h).")
    ha_end_h: float = Field(4.0, ge=-12.0, le=12.0, description="Last hour angle of the observation (h).")
    integration_s: float = Field(300.0, gt=0.0, description="Integration time per visibility (s); ASKAP's "
                                                          "correlator integrates for 10 s.")
    n_channels: int = Field(1, ge=1, le=288, description="fast: channels across the band for multi-frequency "
                            "synthesis (1: the centre frequency alone; ASKAP continuum: 288 of 1 MHz). More "
                            "channels and shorter integrations fill the uv plane and lower the PSF's far "
                            "sidelobes (about 1/sqrt(2 x visibilities)).")
    footprint: str = Field("single", description="ASKAP PAF footprint: 'single' (one beam on the field centre), "
                           "'closepack36' (EMU) or 'square_KxK' (e.g. 'square_6x6' as RACS). Each beam is imaged "
                           "and CLEANed on its own, then the beams are linearly mosaicked (radsim.instrument.beams).")
    beam_pitch_deg: float = Field(0.9, gt=0.0, description="Distance between neighbouring beams (deg); EMU: 0.9.")
    footprint_rotation_deg: float = Field(0.0, description="Rotation of the footprint from north through east (deg); "
                                          "EMU: 45.")
    primary_beam: Literal["none", "gaussian", "airy"] = Field(
        "none", description="Primary-beam model of each PAF beam, FWHM = pb_fwhm_factor lambda / D scaled with "
                            "frequency across the band; 'none': no attenuation (the seed study's set-up).")
    pb_fwhm_factor: float = Field(1.02, gt=0.0, description="Primary-beam FWHM in units of lambda / D (1.02: "
                                  "ASKAP's footprint tools, 1.55 deg at 943.5 MHz).")
    pb_cutoff: float = Field(0.2, gt=0.0, lt=1.0, description="linmos cut-off: a beam contributes to the mosaic "
                             "where its primary-beam response is at least this.")
    date_mjd: float = Field(60676.0, description="Date of the observation (MJD, UTC); transit nearest to it. Must lie "
                                                 "inside the IERS Earth-orientation table shipped with "
                                                 "astropy-iers-data (1973 to a year after its release).")
    elevation_limit_deg: float = Field(15.0, ge=0.0, lt=90.0, description="Lowest elevation observed (deg).")
    weighting: Literal["natural", "uniform", "briggs"] = Field("briggs", description="Visibility weighting.")
    robust: float = Field(0.0, ge=-2.0, le=2.0, description="Briggs robustness.")
    taper_arcsec: float | None = Field(None, gt=0.0, description="Gaussian uv taper, FWHM in the image (arcsec).")
    super_weight: float = Field(1.0, gt=0.0, description="Uniform/Briggs density boxes of this many uv cells of "
                                                        "the image padded by 1.2, exactly as WSClean's "
                                                        "-super-weight; raise it for wide fields.")
    restoring_beam: Literal["fitted", "radsim"] | list[float] = Field(
        "fitted", description="The beam CLEAN components are restored with. 'fitted': each imager's own fit to its "
        "PSF (fast: radsim's; wsclean and yandasoft: their own fits, which differ from radsim's by up to "
        "2% in area for the same PSF); 'radsim': radsim's fit to the PSF of these weights, given to WSClean "
        "(-beam-shape) and Yandasoft (restore.beam) too, so that every backend restores with one beam; "
        "[bmaj_arcsec, bmin_arcsec, bpa_deg]: a fixed beam for every backend (none: the sky model convolved with "
        "it), as a survey restores to one resolution.")
    niter: int = Field(100_000, ge=0, description="CLEAN iteration limit.")
    gain: float = Field(0.1, gt=0.0, le=1.0, description="CLEAN loop gain.")
    mgain: float = Field(0.8, gt=0.0, le=1.0, description="CLEAN major-cycle gain.")
    auto_threshold: float = Field(3.0, ge=0.0, description="CLEAN threshold in units of the residual's robust "
                                  "rms (WSClean -auto-threshold).")
    auto_mask: float | None = Field(None, gt=0.0, description="fast, wsclean: CLEAN first everywhere down to this "
                                    "many rms, then only where it found components down to auto_threshold "
                                    "(WSClean -auto-mask): deep cleaning of sources that leaves the noise alone.")
    psf_patch_pixels: int = Field(8, ge=1, le=4096, description="fast: half-width of the PSF patch that CLEAN's "
                                  "minor cycles subtract (pixels); the sidelobes beyond it set each major "
                                  "cycle's depth (Clark 1980).")
    final_major: Literal["peak", "threshold"] = Field(
        "peak", description="fast: which major cycle ends a CLEAN pass (with auto_mask the pass everywhere, then "
        "the masked one). 'peak': the first after which the residual's peak is within 10% of the threshold; "
        "'threshold': the one whose minor cycles reached the threshold, as WSClean ends a pass. With "
        "auto-masking WSClean's rule stops the first pass one major cycle earlier, so its mask is smaller and "
        "less noise is cleaned: on WSClean's own dirty images of 36 transfer pointings it reads the top bin as "
        "WSClean's CLEAN does (-0.01 +- 0.07%), where 'peak' reads it 0.90% lower (docs/results-pointings.md).")
    major_cycle: Literal["psf", "visibilities"] = Field(
        "psf", description="fast: how the dirty image and CLEAN's major cycles apply the instrument. 'psf': the sky "
        "and the CLEAN model convolved with the PSF (one flat PSF, or w_nodes' facets): its cost does not grow with "
        "the visibilities. 'visibilities': as WSClean's major cycle does it: the band-limited sky and the model "
        "predicted to every visibility and imaged again with the imaging weights by ducc0's w-gridder, the w-term "
        "exact everywhere (leave w_nodes unset); no PSF but the centre's for the minor cycles, and one degridding "
        "and gridding per major cycle (benchmarks/major_cycle.py). Measured against WSClean's images of the same "
        "skies and noise in docs/results-pointings.md.")
    gridder_epsilon: float = Field(
        1e-5, ge=1e-5, le=1e-3, description="fast: the accuracy ducc0's w-gridder is asked for where the fast imager "
        "grids visibilities (major_cycle = 'visibilities', noise = 'visibilities'): its kernel's error relative to "
        "the image. Larger is faster: on the transfer pointing (12.1 million visibilities, one core) the exact major "
        "cycle imaged a sky in 50.0, 41.4, 38.7 and 34.3 s at 1e-5, 1e-4, 3e-4 and 1e-3, its restored image "
        "0.05%, 0.05% and 0.18% of the noise rms from 1e-5's (rms; 15% at most at 1e-3), and at 3e-4 the 12 fixed "
        "pairs' faint-pixel variance against WSClean's was the same to 0.001% (benchmarks/major_cycle.py, "
        "benchmarks/README.md).")
    w_nodes: int | None = Field(None, ge=2, le=9, description="fast: model the w-term, which the fast imager "
                                "otherwise leaves out (a flat sky, one PSF): the PSF of a point at each node of a "
                                "w_nodes x w_nodes grid over every beam's window is made exactly with the w-term "
                                "(ducc0's w-gridder), and the dirty image and CLEAN's major cycles convolve each "
                                "facet of pixels nearest a node with that node's PSF. Costs w_nodes^2 PSFs once "
                                "(about 30 s each for a 2048^2 grid on one core; cached); each convolution "
                                "then transforms the w_nodes^2 facets forward and inverts once (for a 1024^2 "
                                "window on one core 0.38, 0.73 and 1.14 s with 5, 7 and 9 nodes, 0.05 s flat; "
                                "benchmarks/w_term.py). A point's error grows with its offset from its node: on "
                                "36 transfer pointings imaged by WSClean too (with final_major = 'threshold'), the "
                                "top bin reads +0.70, +0.33, +0.18 and +0.16% from WSClean's flat and with 5, 7 "
                                "and 9 nodes, the faint pixels' variance +0.15, +0.09, +0.04 and +0.03% "
                                "(docs/results-pointings.md). Unset: flat sky.")
    yandasoft_ranks: int = Field(2, ge=2, description="yandasoft: MPI ranks of its imager (one master and workers; "
                                 "it refuses a serial run). Launched by mpirun -np N, or $RADSIM_YANDASOFT_LAUNCHER "
                                 "(a template with {ranks}, e.g. 'srun -n {ranks}').")
    wsclean_restore: Literal["wsclean", "linear"] = Field(
        "wsclean", description="wsclean: the restored image. 'wsclean': WSClean's own, whose restore convolves the "
        "CLEAN model with the restoring beam by a transform of the image's size, so that a source on one edge "
        "spills onto the opposite one (on the 12 transfer pointings the outer ring of tiles then holds 1.1% more "
        "faint-pixel variance than the fast imager's, docs/results-pointings.md); 'linear': WSClean's model "
        "convolved with WSClean's restoring beam without wrap-around, plus WSClean's residual, as the fast imager "
        "restores (the same 12 pointings: faint variance -0.002 +- 0.020% from the fast imager's with "
        "major_cycle = 'visibilities' over all tiles).")
    keep_ms: bool = Field(False, description="wsclean/yandasoft: keep the Measurement Set and logs.")
    wsclean_args: list[str] = Field(default_factory=list, description="wsclean: extra arguments for both runs "
                                                                      "(e.g. ['-no-small-inversion']).")

    @field_validator("backend")
    @classmethod
    def _registered(cls, value):
        if value not in BACKENDS:
            raise ValueError(f"expected one of {', '.join(BACKENDS)} (radsim.instrument.imaging.BACKENDS)")
        return value

    @field_validator("restoring_beam")
    @classmethod
    def _beam_shape(cls, value):
        if not isinstance(value, str) and (len(value) != 3 or not value[0] >= value[1] > 0.0):
            raise ValueError(f"expected 'fitted', 'radsim' or [bmaj_arcsec, bmin_arcsec, bpa_deg] with "
                             f"bmaj >= bmin > 0, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _one_noise(self):
        if self.system_temperature_k is not None and "noise_rms_jy" in self.model_fields_set \
                and self.noise_rms_jy is not None:
            raise ValueError("give either noise_rms_jy or system_temperature_k, not both")
        if not self.ha_end_h > self.ha_start_h:
            raise ValueError(f"ha_end_h ({self.ha_end_h}) must be after ha_start_h ({self.ha_start_h})")
        if self.beam_arcsec is not None and not isinstance(self.restoring_beam, str):
            raise ValueError("give either beam_arcsec (backend none) or a fixed restoring_beam, not both")
        if self.noise == "image-w" and self.w_nodes is None:
            raise ValueError("noise = 'image-w' filters the noise at the nodes of w_nodes, which is unset: set "
                             "w_nodes (5 for a 2 deg pointing) or use noise = 'image' for a flat sky")
        if self.major_cycle == "visibilities" and self.w_nodes is not None:
            raise ValueError("w_nodes models the w-term in the PSFs that major_cycle = 'psf' convolves with; "
                             "major_cycle = 'visibilities' applies it exactly: leave w_nodes unset")
        if self.n_channels > 1 and self.backend == "yandasoft":
            raise ValueError(f"n_channels = {self.n_channels} is for backends 'fast', 'wsclean' and 'none' (its "
                             f"primary beams); backend 'yandasoft' observes one channel at the centre frequency")
        return self

    @field_validator("footprint")
    @classmethod
    def _footprint(cls, value):
        from radsim.instrument.beams import BeamsError, footprint_offsets
        try:
            footprint_offsets(value, 1.0)
        except BeamsError as err:
            raise ValueError(str(err).split(": ", 1)[-1]) from None
        return value


class RunConfig(_Section):
    seed: int = Field(ge=0, lt=2**63,
                      description="Base seed; realisation i draws from SeedSequence(seed) child (1, i).")


class Prior(_Section):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)   # TOML gives the bounds as arrays

    uniform: tuple[float, float] | None = Field(None, description="Draw uniformly in [low, high].")
    loguniform: tuple[float, float] | None = Field(None, description="Draw log-uniformly in [low, high] (both > 0).")
    size: int | None = Field(None, gt=0, description="Draw a list of this many values (for list parameters).")

    @field_validator("uniform", "loguniform", "size", mode="before")
    @classmethod
    def _numbers(cls, value):
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, (str, bool)) for v in values):
            raise ValueError("expected numbers, not strings")
        return value

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in ("uniform", "loguniform") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a prior needs exactly one of 'uniform' or 'loguniform'")
        lo, hi = getattr(self, given[0])
        if not lo < hi:
            raise ValueError(f"prior bounds must satisfy low < high, got [{lo}, {hi}]")
        if given[0] == "loguniform" and lo <= 0:
            raise ValueError("loguniform bounds must be positive")
        return self


class RealisationsConfig(_Section):
    """The parameter sets of a training set; each set is realised `repeats` times (independent skies)."""

    mode: Literal["single", "list", "grid", "random"] = Field(
        "single", description="single: counts.modifier as given; list: `sets`; grid: the product of `grid`; "
                              "random: `n` draws from `priors`.")
    repeats: int = Field(1, gt=0, description="Independent skies per parameter set.")
    sets: list[dict[str, Any]] = Field(default_factory=list,
                                       description="list mode: modifier parameters per set (may also set 'name').")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="grid mode: values per parameter.")
    priors: dict[str, Prior] = Field(default_factory=dict, description="random mode: a prior per parameter.")
    n: int = Field(0, ge=0, description="random mode: number of parameter sets drawn.")

    @model_validator(mode="after")
    def _consistent(self):
        need = {"list": "sets", "grid": "grid", "random": "priors"}
        if self.mode in need and not getattr(self, need[self.mode]):
            raise ValueError(f"mode {self.mode!r} needs '{need[self.mode]}'")
        if self.mode == "random" and self.n < 1:
            raise ValueError("mode 'random' needs n >= 1")
        return self


class DatasetConfig(_Section):
    """How `radsim simulate` writes a dataset. These keys do not change any tile: they may differ between the
    runs that build one dataset (see :meth:`RadsimConfig.tiles_hash`)."""

    shard_max_mb: float = Field(1024.0, gt=0.0, description="A rank starts a new shard when its current one "
                                                            "reaches this size (MiB).")
    commit_interval_s: float = Field(300.0, gt=0.0, description="A rank completes its open shard at least this "
                                     "often (s): a killed job loses at most the realisations of the last interval "
                                     "(SIGTERM and SIGINT lose none that were complete).")
    compression: Literal["none", "lzf", "gzip"] = Field(
        "none", description="HDF5 filter for the tiles (benchmarks/README.md: noise-like float32 tiles hardly "
                            "compress, and 'none' writes and reads fastest).")
    split_by: Literal["realisation", "set", "tile"] = Field(
        "realisation", description="realisation: whole skies held out; set: whole parameter sets held out; "
                                   "tile: tiles assigned one by one as in the seed study (tiles of one sky then "
                                   "leak across the splits).")
    train_fraction: float = Field(0.72, ge=0.0, le=1.0, description="Fraction of the split units for training.")
    validation_fraction: float = Field(0.18, ge=0.0, le=1.0, description="Fraction for validation.")
    test_fraction: float = Field(0.10, ge=0.0, le=1.0, description="Fraction held out for the test.")

    @model_validator(mode="after")
    def _fractions(self):
        total = self.train_fraction + self.validation_fraction + self.test_fraction
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train_fraction + validation_fraction + test_fraction must be 1, got {total:g}")
        return self


class RadsimConfig(_Section):
    field: FieldConfig
    sources: SourcesConfig
    counts: CountsConfig
    labels: LabelsConfig
    tiles: TilesConfig
    run: RunConfig
    imaging: ImagingConfig = Field(default_factory=ImagingConfig)
    realisations: RealisationsConfig = Field(default_factory=RealisationsConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)

    @model_validator(mode="after")
    def _cross_checks(self):
        if self.tiles.size > self.field.npix:
            raise ValueError(f"tiles.size ({self.tiles.size}) is larger than field.npix ({self.field.npix})")
        # every parameter set that will be realised must be complete for its modifier
        from radsim.run.realisations import parameter_sets
        for i, (name, params) in enumerate(parameter_sets(self)):
            try:
                _counts.check_modifier_params(name, params, complete=True)
            except ValueError as exc:
                raise ValueError(f"realisations: parameter set {i}: {exc}") from None
        return self

    def hash(self) -> str:
        """SHA-256 of the validated config (canonical JSON): the identity of a dataset. Input files (a counts
        table, T-RECS catalogues) count by their content, not their path, so a dataset and its config moved to
        another machine keep their identity."""
        return _digest(self._portable(self.model_dump(mode="json")))

    def tiles_hash(self) -> str:
        """SHA-256 of every key that fixes the tiles and labels (all but the ``dataset`` section): runs that
        add to one dataset must agree on it."""
        return _digest(self._portable(self.model_dump(mode="json", exclude={"dataset"})))

    def _portable(self, dump: dict) -> dict:
        # keys added after datasets were made leave those datasets' identity alone while at their defaults
        for key, default in _IMAGING_KEYS_ADDED_LATER.items():
            if key in dump["imaging"] and dump["imaging"][key] == default:
                del dump["imaging"][key]
        if self.counts.base != "builtin":
            dump["counts"]["base"] = _file_identity(self.counts.base)
        if self.sources.trecs_catalogues:
            dump["sources"]["trecs_catalogues"] = [_file_identity(p) for p in self.sources.trecs_catalogues]
        return dump


#: imaging keys added after datasets were made, with the default that behaves as before they existed
_IMAGING_KEYS_ADDED_LATER = {"w_nodes": None, "final_major": "peak", "major_cycle": "psf",
                             "wsclean_restore": "wsclean", "gridder_epsilon": 1e-5}


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_FILE_DIGESTS: dict = {}


def _file_identity(path: str) -> dict:
    """A file's name and the SHA-256 of its content (cached while its size and modification time stay)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return {"name": p.name, "sha256": None}
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        _FILE_DIGESTS[key] = h.hexdigest()
    return {"name": p.name, "sha256": _FILE_DIGESTS[key]}


# --------------------------------------------------------------------------------------------------------------
# loading

def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one ``--set section.key=value``; the value is read as TOML (numbers, strings, arrays, tables) and
    taken as a plain string when it is not valid TOML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    path = [p.strip() for p in key.strip().split(".")]
    if len(path) < 2 or not all(path):
        raise ConfigError(f"--set {text!r}: the key must name a section and a key, e.g. field.npix=512")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    for text in overrides or []:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a section")
        node[path[-1]] = value
    return data


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            lines.append(f"  {loc}: missing; this key has no default and must be given")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  {loc} = {err['input']!r}: unknown key")
        elif isinstance(err["input"], dict):     # a check of several keys: the message names them
            lines.append(f"  {loc}: {msg}" if err["loc"] else f"  {msg}")
        else:
            lines.append(f"  {loc} = {err['input']!r}: {msg}")
    return "\n".join(lines)


def from_dict(data: dict, source: str = "<dict>", base_dir: Path | None = None) -> RadsimConfig:
    """Validate a config given as a dict. A relative ``counts.base`` path is taken relative to ``base_dir``."""
    try:
        cfg = RadsimConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None
    def resolve(value: str, key: str, expected: str) -> str:
        path = Path(value)
        if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"invalid configuration ({source}):\n  {key} = {value!r}: no such file; "
                              f"expected {expected}")
        return str(path.resolve())

    if cfg.counts.base != "builtin":
        base = resolve(cfg.counts.base, "counts.base", "'builtin' or a table from `radsim counts from-trecs`")
        cfg = cfg.model_copy(update={"counts": cfg.counts.model_copy(update={"base": base})})
    if cfg.sources.trecs_catalogues:
        paths = [resolve(p, "sources.trecs_catalogues", "a T-RECS FITS catalogue")
                 for p in cfg.sources.trecs_catalogues]
        cfg = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"trecs_catalogues": paths})})
    return cfg


def load(path: str | Path, overrides: list[str] | None = None) -> RadsimConfig:
    """Read a TOML config, apply ``--set`` overrides and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(apply_overrides(data, overrides), source=str(path), base_dir=path.parent)
