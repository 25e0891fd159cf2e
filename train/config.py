"""Training configuration: frozen dataclasses loaded from YAML, validated on load.

A YAML file has the sections ``data``, ``model``, ``loss``, ``augment``, ``optim`` and ``run``;
any field may be left out (defaults are those of the official VCL code) and ``--set
section.field=value`` overrides one. Unknown keys and wrongly typed values are refused with the
file and key named. The resolved config is written beside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.errors import VclError
from skeleton.streams import STREAMS
from train.stgcn import STRIDES, WIDTHS


class ConfigError(VclError):
    """A config file or override is invalid."""


@dataclass(frozen=True)
class DataConfig:
    """Prepared dataset (``vcl data prepare`` output) and what to pretrain on.

    ``protocol``/``part`` select the pretraining clips (``protocol: all`` takes every clip);
    ``monitor_part`` of the same protocol is the held-out split of the kNN monitor ("" = none).
    """

    path: str = ""
    protocol: str = "xsub"
    part: str = "train"
    monitor_part: str = "test"
    streams: tuple[str, ...] = STREAMS


@dataclass(frozen=True)
class ModelConfig:
    """``method``: ``vcl`` (Gaussian head) or ``skeletonclr`` (deterministic projection).

    ``logvar_bias``: initial bias of the log sigma^2 layer; null keeps PyTorch's default (sigma
    starts near 1, as the official code). A negative value (e.g. -4, sigma ~0.14) lets short runs
    learn before the sampling noise drowns the contrast; see docs/training.md.

    ``init``: a checkpoint directory (``vcl train`` or ``vcl import-official`` output) whose
    backbones start the run's encoders, and whose heads too where they are of the run's kind; ""
    starts from random weights. Its layout, streams and weight shapes must fit the run's
    (``train.checkpoint.init_encoders``); resuming a run restores its own weights instead.

    ``input_bn``: ``batch`` (ST-GCN's input BatchNorm standardises every joint coordinate by batch
    statistics, as the official model) or ``frozen`` (it keeps its running statistics, those of
    ``init`` or mean 0 / variance 1 from scratch; ``train.stgcn.STGCN.freeze_statistics``).
    ``block_bn``: the same for every BatchNorm inside the ST-GCN blocks; ``frozen`` with ``init``
    continues a pretrained encoder with the statistics of the data it was pretrained on.
    """

    method: str = "vcl"
    widths: tuple[int, ...] = WIDTHS
    strides: tuple[int, ...] = STRIDES
    dropout: float = 0.5
    hidden_dim: int = 256
    projection_dim: int = 128
    latent_dim: int = 64
    logvar_bias: float | None = None
    init: str = ""
    input_bn: str = "batch"
    block_bn: str = "batch"

    @property
    def head(self) -> str:
        """The encoder head the method trains: ``gaussian`` (VCL) or ``projection`` (SkeletonCLR)."""
        return "gaussian" if self.method == "vcl" else "projection"

    def architecture(self) -> dict[str, Any]:
        """The fields that fix the network's shape, as a checkpoint's ``meta.json`` saves them
        (``train.model.build_encoders`` reads this form)."""
        return {
            "widths": list(self.widths),
            "strides": list(self.strides),
            "dropout": self.dropout,
            "hidden_dim": self.hidden_dim,
            "projection_dim": self.projection_dim,
            "latent_dim": self.latent_dim,
        }


@dataclass(frozen=True)
class LossConfig:
    """InfoNCE and KL options. The KL weight ramps linearly from 0 to ``kl_weight`` over
    ``kl_anneal_epochs`` (``kl_schedule: linear``) or stays at ``kl_weight`` (``constant``)."""

    temperature: float = 0.07
    queue_size: int = 32768
    momentum: float = 0.999
    kl_weight: float = 1.0
    kl_schedule: str = "linear"
    kl_anneal_epochs: float = 50.0
    kl_reduction: str = "mean"
    free_bits: float = 0.0
    kl_on_key: bool = False


@dataclass(frozen=True)
class AugmentConfig:
    """Pretext augmentations, drawn per sample and per view (``train.augment``): SkeletonCLR's
    temporal crop and shear, plus a random rotation (``rotation``: the largest angle in degrees
    about each axis) and Gaussian jitter of the joints (``noise``: its std in coordinate units,
    metres for Kinect data); both 0 = SkeletonCLR's views, as the official NTU recipe."""

    crop_padding_ratio: int = 6
    shear: float = 0.5
    rotation: float = 0.0
    noise: float = 0.0


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with a step schedule, as the official VCL code."""

    lr: float = 0.002
    weight_decay: float = 1e-4
    batch_size: int = 256
    epochs: int = 300
    lr_milestones: tuple[int, ...] = (250,)
    lr_gamma: float = 0.1


@dataclass(frozen=True)
class RunConfig:
    """Where and how to run. ``device``: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.

    Under ``torchrun`` (``train.distributed``): ``sync_batchnorm`` turns the query encoders'
    BatchNorm into SyncBatchNorm (CUDA only); ``shuffle_bn`` shuffles the global batch across
    ranks for the key encoders (MoCo's shuffling BN). Both do nothing in a single process.

    ``amp`` is mixed precision on CUDA; ``precision`` on the CPU: ``auto`` (bf16 autocast of the
    encoders when the processor has native bf16, AVX-512 BF16 or AMX; else float32), ``bf16`` or
    ``fp32`` (``train.precision``; measured in docs/training.md). ``graph_aggregate_first``: the
    graph convolutions aggregate over joints before their 1x1 convolution (the same value, less
    memory and a faster step; ``train.stgcn.GraphConv``); False computes them in the original order.
    """

    out_dir: str = "runs/train"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    precision: str = "auto"
    deterministic: bool = False
    threads: int = 0
    checkpoint_every: int = 10
    monitor_every: int = 10
    knn_k: int = 20
    log_every: int = 10
    sigma_collapse: float = 0.01
    kl_blowup: float = 10.0
    sync_batchnorm: bool = False
    shuffle_bn: bool = False
    graph_aggregate_first: bool = True


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, tuple | list):
                return [plain(v) for v in value]
            return value

        return {
            name: {k: plain(v) for k, v in section.items()}
            for name, section in dataclasses.asdict(self).items()
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


CHOICES = {
    ("model", "method"): ("vcl", "skeletonclr"),
    ("model", "input_bn"): ("batch", "frozen"),
    ("model", "block_bn"): ("batch", "frozen"),
    ("loss", "kl_schedule"): ("linear", "constant"),
    ("loss", "kl_reduction"): ("mean", "sum"),
    ("run", "device"): ("auto", "cpu", "cuda"),
    ("run", "precision"): ("auto", "bf16", "fp32"),
    ("data", "part"): ("train", "test"),
    ("data", "monitor_part"): ("train", "test", ""),
}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _coerce(value, options[0], where)
    if origin is tuple:
        (inner, _) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if hint is float and not isinstance(value, float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return value


def _section(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected one of: {', '.join(names)}")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()})


def config_from_dict(values: dict[str, Any], source: str = "config") -> TrainConfig:
    """Build and validate a TrainConfig from nested dicts."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(values).__name__}")
    hints = typing.get_type_hints(TrainConfig)
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ConfigError(f"{source}: unknown section {unknown[0]!r}; expected one of: {', '.join(names)}")
    config = TrainConfig(**{k: _section(hints[k], v or {}, f"{source}: {k}") for k, v in values.items()})
    validate(config, source)
    return config


def validate(config: TrainConfig, source: str) -> None:
    d = config.to_dict()
    for (section, key), allowed in CHOICES.items():
        if d[section][key] not in allowed:
            raise ConfigError(
                f"{source}: {section}.{key}: expected one of {list(allowed)}, got {d[section][key]!r}"
            )
    bad = [s for s in config.data.streams if s not in STREAMS]
    if bad or not config.data.streams:
        raise ConfigError(
            f"{source}: data.streams: expected a non-empty subset of {list(STREAMS)}, got "
            f"{list(config.data.streams)}"
        )
    positive = {
        "loss.temperature": config.loss.temperature,
        "loss.queue_size": config.loss.queue_size,
        "optim.lr": config.optim.lr,
        "optim.batch_size": config.optim.batch_size,
        "optim.epochs": config.optim.epochs,
        "model.latent_dim": config.model.latent_dim,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{source}: {key}: expected a positive value, got {value}")
    if not 0 <= config.augment.rotation <= 180:
        raise ConfigError(
            f"{source}: augment.rotation: expected degrees in [0, 180], got {config.augment.rotation}"
        )
    if config.augment.noise < 0:
        raise ConfigError(f"{source}: augment.noise: expected a std >= 0, got {config.augment.noise}")
    if not 0 <= config.loss.momentum < 1:
        raise ConfigError(f"{source}: loss.momentum: expected 0 <= m < 1, got {config.loss.momentum}")
    if len(config.model.widths) != len(config.model.strides):
        raise ConfigError(f"{source}: model.widths and model.strides must have the same length")


def parse_override(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` -> (section, key, YAML-parsed value)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. optim.epochs=10")
    path, raw = text.split("=", 1)
    section, key = path.split(".", 1)
    return section, key, yaml.safe_load(raw)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load a YAML config (None: all defaults) and apply ``section.key=value`` overrides."""
    values: dict[str, Any] = {}
    source = str(path) if path else "defaults"
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as err:
            raise ConfigError(f"{path}: cannot read config ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: invalid YAML ({err})") from None
    for text in overrides:
        section, key, value = parse_override(text)
        if not isinstance(values.get(section, {}), dict):
            raise ConfigError(f"{source}: {section}: expected a mapping")
        values.setdefault(section, {})
        values[section] = {**(values[section] or {}), key: value}
    return config_from_dict(values, source)
