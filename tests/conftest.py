"""Shared fixtures: the real data folder beside the checkout (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A tiny ST-GCN and loss setup for tests that train (seconds instead of minutes).
TINY_MODEL = [
    "model.widths=[8, 8, 16]",
    "model.strides=[1, 2, 1]",
    "model.hidden_dim=32",
    "model.projection_dim=16",
    "model.latent_dim=8",
    "model.logvar_bias=-4.0",
]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the test with a reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it lives beside the checkout, not in it)")
    return path


@pytest.fixture
def ntu_samples() -> list[Path]:
    return sorted(shared_path("ntu_samples").glob("*.skeleton"))


@pytest.fixture
def reference() -> dict:
    import numpy as np

    with np.load(shared_path("vcl_official", "reference.npz")) as data:
        return {key: data[key] for key in data.files}


def tiny_exported_model(
    root: Path, seed: int, streams: str = "[joint, bone, motion]", classifier: bool = False
) -> tuple[Path, Path]:
    """Prepare 44 synthetic clips, pretrain a tiny VCL model for one epoch, export it; with
    ``classifier``, linear probes fitted on all 44 clips become its classifiers (as the demo does).

    Returns (prepared dataset directory, exported model directory) under ``root``.
    """
    from export.onnx_export import export_checkpoint
    from skeleton.prepare import prepare_dataset
    from train.config import load_config
    from train.trainer import train

    data = root / "syn"
    prepare_dataset("synthetic", None, data, num_samples=44, seed=seed, progress=False)
    overrides = [
        *TINY_MODEL,
        "optim.batch_size=11",
        "loss.queue_size=22",
        "optim.epochs=1",
        f"data.streams={streams}",
        f"data.path={data}",
        f"run.out_dir={root / 'run'}",
    ]
    train(load_config(None, overrides), progress=False)
    checkpoint = root / "run" / "checkpoints" / "last"
    if classifier:
        checkpoint = _probe_classifiers(checkpoint, data, root / "classifier")
    export_checkpoint(checkpoint, root / "model", max_batch=8)
    return data, root / "model"


def _probe_classifiers(checkpoint: Path, data: Path, out: Path) -> Path:
    from train.probe import save_probed_checkpoint

    return save_probed_checkpoint(checkpoint, data, out, epochs=100)
