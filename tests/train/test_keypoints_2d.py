"""Training and export on pose-estimator keypoints: C = 2 (x, y) and a score channel (issue 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.conftest import TINY_MODEL
from train.augment import augment, shear


def test_shear_leaves_a_score_channel_alone() -> None:
    x = torch.randn(4, 3, 6, 17, 2)
    out = shear(x, 0.5, torch.Generator().manual_seed(0), coords=2)
    assert torch.equal(out[:, 2], x[:, 2])
    assert not torch.allclose(out[:, :2], x[:, :2])
    plain = shear(x, 0.5, torch.Generator().manual_seed(0))  # all three channels, as before
    assert torch.equal(plain, shear(x, 0.5, torch.Generator().manual_seed(0), coords=3))
    two = augment(x[:, :2], 6, 0.5, torch.Generator().manual_seed(1), coords=2)
    assert two.shape == (4, 2, 6, 17, 2)


def test_xy_keypoints_train_and_export_with_two_channels(tmp_path: Path) -> None:
    from export.onnx_export import export_checkpoint
    from runtime.model import OnnxModel
    from skeleton.pipelines import preprocess_clips
    from skeleton.prepare import prepare_dataset
    from skeleton.synthetic import synthetic_clip
    from train.checkpoint import load_checkpoint
    from train.config import load_config
    from train.trainer import train

    data = tmp_path / "syn"
    prepare_dataset(
        "synthetic",
        None,
        data,
        pipeline="pose2d",
        pipeline_options={"channels": "xy", "keep_score": False},
        num_samples=22,
        seed=1,
        synthetic_layout="openpose25",
        synthetic_channels="xy",
        progress=False,
        workers=1,
    )
    overrides = [*TINY_MODEL, "optim.batch_size=11", "loss.queue_size=22", "optim.epochs=1"]
    overrides += [f"data.path={data}", f"run.out_dir={tmp_path / 'run'}"]
    train(load_config(None, overrides), progress=False)
    model, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last")
    assert meta["architecture"]["in_channels"] == 2 and meta["layout"] == "openpose25"
    manifest = export_checkpoint(tmp_path / "run" / "checkpoints" / "last", tmp_path / "model", max_batch=4)
    assert manifest["input"]["shape"] == ["N", 2, 50, 25, 2]
    runtime = OnnxModel(tmp_path / "model")
    assert runtime.manifest.input_channels == 2
    clip = synthetic_clip(3, seed=5, layout="openpose25", channels="xy")
    joints = preprocess_clips([clip], "openpose25", runtime.manifest.pipeline)
    out = runtime.run(joints)
    assert np.isfinite(out["embedding"]).all() and out["embedding"].shape[0] == 1
