"""``vcl import-official``: the authors' NTU-60 linear-evaluation checkpoints -> our format.

The official files (github.com/Dang-Dinh-NGUYEN/graph-based_action-recognition, commit 5b6b531)
are dicts ``{"model", "optimizer", "history"}`` whose model keys all start with
``module.backbone.``; the backbone holds the linear classifier as ``fc``. Every other key maps one
to one onto ``train.stgcn.STGCN``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from skeleton.classes import NTU60_CLASSES
from skeleton.hashing import sha256_file
from skeleton.layouts import NTU
from skeleton.pipelines import get_pipeline
from train.checkpoint import CheckpointError, save_checkpoint
from train.model import DEFAULT_ARCHITECTURE, DEFAULT_FUSION, MultiStreamModel, StreamEncoder, build_encoders

PREFIX = "module.backbone."


def _load(path: Path) -> dict[str, torch.Tensor]:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except Exception as err:  # torch raises many kinds for a non-checkpoint file
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        keys = sorted(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{path}: expected a dict with a 'model' entry, got {keys}")
    return checkpoint["model"]


def convert_stream(path: Path, stream: str = "joint") -> tuple[StreamEncoder, nn.Linear]:
    """One official checkpoint -> (encoder without head, 60-way classifier); refuses misfits."""
    state = _load(path)
    outside = [k for k in state if not k.startswith(PREFIX)]
    if outside:
        raise CheckpointError(f"{path}: key {outside[0]!r} does not start with {PREFIX!r}")
    state = {k[len(PREFIX) :]: v for k, v in state.items()}
    encoder = build_encoders(NTU, (stream,), "none")[stream]
    classifier = nn.Linear(DEFAULT_ARCHITECTURE["widths"][-1], len(NTU60_CLASSES))
    expected = {**encoder.backbone.state_dict(), **{f"fc.{k}": v for k, v in classifier.state_dict().items()}}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: keys do not fit the ST-GCN: missing {missing[:3]}"
            f"{'…' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
            f"{'…' if len(unexpected) > 3 else ''}"
        )
    for key, value in expected.items():
        if state[key].shape != value.shape:
            raise CheckpointError(
                f"{path}: {key}: expected shape {tuple(value.shape)}, got {tuple(state[key].shape)}"
            )
    encoder.backbone.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
    classifier.load_state_dict({"weight": state["fc.weight"], "bias": state["fc.bias"]})
    return encoder, classifier


def import_official(paths: dict[str, Path], out: Path) -> Path:
    """Convert the joint, bone and motion checkpoints into one checkpoint directory."""
    encoders, classifiers = {}, {}
    for stream, path in paths.items():
        encoders[stream], classifiers[stream] = convert_stream(Path(path), stream)
    model = MultiStreamModel(encoders, NTU.parents, classifiers, DEFAULT_FUSION)
    meta = {
        "method": "vcl",
        "head": "none",
        "layout": NTU.name,
        "pipeline": get_pipeline("vcl-official").describe(),
        "class_names": list(NTU60_CLASSES),
        "num_classes": len(NTU60_CLASSES),
        "architecture": dict(DEFAULT_ARCHITECTURE),
        "dataset": {"dataset": "ntu60", "protocol": "xsub"},
        "source": {
            "kind": "vcl-official",
            "repository": "github.com/Dang-Dinh-NGUYEN/graph-based_action-recognition",
            "commit": "5b6b531",
            "files": {s: {"name": Path(p).name, "sha256": sha256_file(Path(p))} for s, p in paths.items()},
        },
        "epoch": None,
    }
    return save_checkpoint(out, model, meta)
