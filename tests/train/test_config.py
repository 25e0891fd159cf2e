from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from train.config import ConfigError, TrainConfig, config_from_dict, load_config
from train.trainer import kl_weight_at

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_defaults_are_the_official_recipe() -> None:
    c = TrainConfig()
    assert (c.optim.lr, c.optim.weight_decay, c.optim.batch_size, c.optim.epochs) == (0.002, 1e-4, 256, 300)
    assert (c.optim.lr_milestones, c.optim.lr_gamma) == ((250,), 0.1)
    assert (c.loss.temperature, c.loss.queue_size, c.loss.momentum) == (0.07, 32768, 0.999)
    assert (c.loss.kl_anneal_epochs, c.loss.kl_reduction) == (50.0, "mean")
    assert (c.augment.crop_padding_ratio, c.augment.shear) == (6, 0.5)


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    c = load_config(None, ["optim.epochs=7", "data.streams=[bone, joint]", "loss.free_bits=0.1"])
    path = tmp_path / "c.yaml"
    path.write_text(c.to_yaml())
    assert load_config(path) == c
    assert c.data.streams == ("bone", "joint") and c.loss.free_bits == 0.1


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (["optim.epoch=3"], r"defaults: optim: unknown key 'epoch'; expected one of: lr, weight_decay"),
        (["optim.epochs=three"], r"optim.epochs: expected an integer, got 'three'"),
        (["optim.epochs=0"], r"optim.epochs: expected a positive value, got 0"),
        (["model.method=byol"], r"model.method: expected one of \['vcl', 'skeletonclr'\], got 'byol'"),
        (["data.streams=[joint, accel]"], r"data.streams: expected a non-empty subset"),
        (["loss.momentum=1.5"], r"loss.momentum: expected 0 <= m < 1"),
        (["run.amp=maybe"], r"run.amp: expected true or false"),
        (["augment.rotation=200"], r"augment.rotation: expected degrees in \[0, 180\], got 200"),
        (["augment.noise=-0.1"], r"augment.noise: expected a std >= 0, got -0.1"),
        (["epochs=3"], r"expected section.key=value"),
        (["train.epochs=3"], r"unknown section 'train'"),
    ],
)
def test_bad_values_are_named(overrides: list[str], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_config(None, overrides)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(bad)


def test_kl_schedule() -> None:
    c = load_config(None, ["loss.kl_weight=2.0", "loss.kl_anneal_epochs=50"])
    assert [kl_weight_at(c, e) for e in (0, 25, 50, 80)] == [0.0, 1.0, 2.0, 2.0]
    constant = load_config(None, ["loss.kl_schedule=constant", "loss.kl_weight=0.5"])
    assert kl_weight_at(constant, 0) == 0.5


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    config = load_config(path)
    assert config.data.path and yaml.safe_load(path.read_text())
    assert config_from_dict(config.to_dict()) == config


def test_every_dataset_has_a_config() -> None:
    names = {p.stem for p in CONFIGS}
    assert {
        "ntu60_xsub",
        "ntu60_xview",
        "ntu120_xsub",
        "ntu120_xset",
        "pku_mmd_xsub",
        "msr_action3d",
        "utd_mhad",
        "synthetic",
    } <= names
