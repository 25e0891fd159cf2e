"""A few minutes of CPU pretraining on the synthetic dataset does what it should."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from skeleton.layouts import NTU
from skeleton.prepare import prepare_dataset
from skeleton.prepared import PreparedDataset
from train.checkpoint import load_checkpoint
from train.config import load_config
from train.probe import extract_features, linear_probe_accuracy
from train.trainer import train


def test_short_vcl_run_learns(tmp_path: Path) -> None:
    data = tmp_path / "syn"
    prepare_dataset("synthetic", None, data, num_samples=660, seed=0, progress=False)
    config = load_config(
        None,
        [
            f"data.path={data}",
            f"run.out_dir={tmp_path / 'run'}",
            "data.streams=[joint]",
            "optim.epochs=5",
            "optim.batch_size=64",
            "loss.queue_size=256",
            "run.monitor_every=5",
            "model.logvar_bias=-4",
        ],
    )
    out = train(config, progress=False)
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    initial = next(r for r in records if r["kind"] == "initial")
    final = [r for r in records if r["kind"] == "epoch"][-1]
    print(
        "held-out InfoNCE",
        initial["heldout/info_nce"],
        "->",
        final["heldout/info_nce"],
        "sigma",
        final["joint/mean_sigma"],
        "knn",
        final["knn_top1"],
    )
    # the contrastive loss on fixed held-out clips goes down
    assert final["heldout/info_nce"] < initial["heldout/info_nce"] - 0.05
    # the posterior keeps a real spread: no collapse to a point
    assert final["joint/mean_sigma"] > 0.05

    dataset = PreparedDataset(data)
    model, _ = load_checkpoint(out / "checkpoints" / "last")
    train_idx, test_idx = dataset.split("xsub", "train"), dataset.split("xsub", "test")
    labels = torch.from_numpy(dataset.labels)
    feats = {
        part: extract_features(model.encoders, dataset.joints[idx], NTU.parents)["joint"]
        for part, idx in (("train", train_idx), ("test", test_idx))
    }
    accuracy = linear_probe_accuracy(feats["train"], labels[train_idx], feats["test"], labels[test_idx])
    chance = 1 / dataset.manifest["num_classes"]
    print("linear probe", accuracy, "chance", chance)
    assert accuracy > 3 * chance
    assert np.isfinite(final["loss"])
