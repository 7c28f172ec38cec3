"""The radtrain configuration: what to feed the network, which network, and how to train it.

A TOML file with three sections, validated before any work starts; ``--set section.key=value`` overrides a key
from the command line. Every key has a default, so an empty file is a valid config (the seed's small CNN on
asinh-stretched tiles). A bad key or value raises :class:`ConfigError` naming the key.
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from radtrain.errors import RadtrainError


class ConfigError(RadtrainError, ValueError):
    """A training configuration that cannot be used; the message names every offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)   # no "512" for 512: a typo, not a number


class DataConfig(_Section):
    """What the network sees and what it learns to predict."""

    preprocess: Literal["none", "standardise", "asinh"] = Field(
        "asinh", description="Pixel transform: none; standardise (dataset mean and standard deviation); asinh "
                             "(asinh(x / (asinh_scale * noise)), noise estimated from the training tiles).")
    asinh_scale: float = Field(3.0, gt=0.0, description="Stretch knee of the asinh transform in units of the "
                                                        "image noise (dimensionless).")
    augment: bool = Field(True, description="Train on random flips and 90-degree rotations of each tile (the 8 "
                                            "symmetries of a square; labels unchanged).")
    aux_inputs: list[Literal["total_flux", "rms", "width", "noise"]] = Field(
        [], description="Extra scalar inputs beside the image: the tile's summed pixel values (image units "
                        "times pixels), its rms (image units), the half-width of its 16-84 percentile range "
                        "(image units, the robust width of the pixel distribution) and its thermal noise (Jy/beam, "
                        "from the mosaic's noise map: the dataset's tile_noise; radtrain predict --noise-map), "
                        "standardised with the dataset statistics.")
    target: Literal["log1p", "counts", "standardised"] = Field(
        "log1p", description="Training target: log10(1 + counts); the counts per bin; or counts standardised "
                             "per bin with the training set's mean and standard deviation.")
    batch_size: int = Field(32, ge=1, description="Tiles per step on each rank (the global batch is this times "
                                                  "the number of ranks).")
    shuffle_buffer: int = Field(4096, ge=1, description="Tiles held by the shuffle buffer of each rank.")
    stats_tiles: int = Field(2048, ge=1, description="Training tiles read (evenly spaced) to estimate the "
                                                     "preprocessing statistics.")


class ModelConfig(_Section):
    """The network (radtrain.models)."""

    architecture: Literal["seed-small", "seed-large", "resnet"] = Field(
        "seed-small", description="seed-small / seed-large: the seed study's CNN family (convolution + ReLU + "
                                  "max-pooling blocks, dense head) in two sizes; resnet: a deeper residual CNN.")
    filters: list[int] = Field([], description="Convolution filters per block (empty: the architecture's own).")
    dense_units: list[int] = Field([], description="Units of the dense layers of the head (empty: the "
                                                   "architecture's own).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate before each dense layer.")
    head: Literal["mse", "gaussian"] = Field(
        "mse", description="mse: one output per bin, mean squared error; gaussian: mean and log-variance per "
                           "bin, Gaussian negative log-likelihood (gives uncertainties).")

    @model_validator(mode="after")
    def _positive(self):
        if any(f < 1 for f in self.filters) or any(u < 1 for u in self.dense_units):
            raise ValueError("filters and dense_units must be positive integers")
        return self


class TrainConfig(_Section):
    """The optimisation (radtrain.train)."""

    epochs: int = Field(30, ge=1, description="Maximum number of epochs.")
    learning_rate: float = Field(1e-3, gt=0.0, description="Adam learning rate for one rank; multiplied by the "
                                                           "number of ranks (the global batch grows with them).")
    warmup_epochs: int = Field(2, ge=0, description="Epochs over which the learning rate ramps up to its scaled "
                                                    "value (Goyal et al. 2017).")
    patience: int = Field(8, ge=0, description="Stop when the validation loss has not improved for this many "
                                               "epochs (0: never stop early).")
    steps_per_epoch: int = Field(0, ge=0, description="Training steps per epoch (0: one pass over the tiles of "
                                                      "the rank holding the fewest).")
    seed: int = Field(1, ge=0, description="Seed of weight initialisation, shuffling and augmentation.")
    mixed_precision: bool = Field(False, description="float16 compute with float32 weights on GPUs (ignored, "
                                                     "with a warning, without a GPU).")
    gradient_compression: Literal["none", "fp16"] = Field(
        "none", description="Gradients sent between ranks as float32 (none) or float16 (fp16: half the allreduce "
                            "volume, for bandwidth-bound networks).")


class RadtrainConfig(_Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    def hash(self) -> str:
        """SHA-256 of the validated config (canonical JSON)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_toml(self) -> str:
        """The config as TOML, every key written (what a run directory keeps)."""
        lines = []
        for name, section in self.model_dump(mode="json").items():
            lines.append(f"[{name}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in section.items()]
            lines.append("")
        return "\n".join(lines)


def _override(data: dict, text: str) -> None:
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. train.epochs=5")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    section = data.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise ConfigError(f"--set {text!r}: {parts[0]!r} is not a section")
    section[parts[1]] = value


def from_dict(data: dict, source: str = "<dict>", overrides: list[str] | None = None) -> RadtrainConfig:
    for text in overrides or []:
        _override(data, text)
    try:
        return RadtrainConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"invalid training configuration ({source}):"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            if isinstance(err.get("input"), dict):     # a check of several keys: the message names them
                lines.append(f"  {loc}: {what}")
            else:
                lines.append(f"  {loc} = {err.get('input')!r}: {what}")
        raise ConfigError("\n".join(lines)) from None


def load(path: str | Path | None, overrides: list[str] | None = None) -> RadtrainConfig:
    """Read a TOML training config (None: the defaults) and apply ``--set`` overrides."""
    if path is None:
        return from_dict({}, "defaults", overrides)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"training config not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(data, str(path), overrides)
