"""train.precision: bf16 on the CPU only where it is native, float32 losses, and a guarded result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from skeleton.layouts import NTU
from skeleton.prepare import prepare_dataset
from train import precision
from train.config import LossConfig, load_config
from train.moco import MomentumContrast
from train.model import build_encoders
from train.trainer import train

TINY = [
    "model.widths=[8, 8, 16]",
    "model.strides=[1, 2, 1]",
    "model.hidden_dim=32",
    "model.projection_dim=16",
    "model.latent_dim=8",
    "optim.batch_size=16",
    "loss.queue_size=32",
    "optim.epochs=3",
    "data.streams=[joint]",
]


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_vnni\n")
    assert not precision.cpu_has_native_bf16(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n")
    assert precision.cpu_has_native_bf16(info)
    assert not precision.cpu_has_native_bf16(tmp_path / "missing")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert precision.cpu_precision("auto") is None and precision.cpu_precision("fp32") is None
    assert precision.cpu_precision("bf16") == torch.bfloat16  # forced: emulated, with a warning
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.cpu_precision("auto") == torch.bfloat16
    with pytest.raises(ValueError, match="run.precision must be one of auto, bf16, fp32, got 'fp16'"):
        precision.cpu_precision("fp16")


def test_bf16_encoders_give_float32_losses() -> None:
    torch.manual_seed(0)
    encoders = build_encoders(NTU, ["joint"], "gaussian", {**_arch(), "dropout": 0.0})
    method = MomentumContrast(encoders, NTU.parents, LossConfig(queue_size=32))
    method.compute_dtype = torch.bfloat16
    x = torch.randn(4, 3, 20, 25, 2)
    stats = method(x, x)["joint"]
    assert stats["loss"].dtype == torch.float32 and torch.isfinite(stats["loss"])
    stats["loss"].backward()
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in method.query.parameters())


def _arch() -> dict:
    return {
        "widths": [8, 8, 16],
        "strides": [1, 2, 1],
        "dropout": 0.5,
        "hidden_dim": 32,
        "projection_dim": 16,
        "latent_dim": 8,
    }


def _heldout(data: Path, out: Path, seed: int, run_precision: str) -> float:
    config = load_config(
        None,
        [
            *TINY,
            f"data.path={data}",
            f"run.out_dir={out}",
            f"run.seed={seed}",
            f"run.precision={run_precision}",
        ],
    )
    train(config, progress=False)
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r["kind"] == "epoch"][-1]["heldout/info_nce"]


def test_bf16_run_lands_within_the_fp32_seed_spread(tmp_path: Path) -> None:
    """The numeric guard of bf16 training: a short fixed-seed run's held-out InfoNCE lies within
    the spread of float32 runs over three seeds (docs/training.md)."""
    data = tmp_path / "syn"
    prepare_dataset("synthetic", None, data, num_samples=96, seed=2, progress=False, workers=1)
    fp32 = [_heldout(data, tmp_path / f"fp32_{seed}", seed, "fp32") for seed in (0, 1, 2)]
    bf16 = _heldout(data, tmp_path / "bf16_0", 0, "bf16")
    spread = max(fp32) - min(fp32)
    print("fp32 held-out InfoNCE over seeds", fp32, "bf16 seed 0", bf16)
    assert abs(bf16 - fp32[0]) <= spread
