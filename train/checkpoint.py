"""Model checkpoints on disk: what ``predict``, ``eval`` and ``export`` load.

A checkpoint is a directory:

- ``model.pt``: ``{"encoders": {stream: state_dict}, "classifiers": {stream: state_dict}}``
  (loaded with ``weights_only=True``);
- ``meta.json``: format, method, head, streams, layout, preprocessing pipeline, class names,
  fusion weights, architecture, dataset hash, epoch and the SHA-256 of ``model.pt``;
- ``config.yaml``: the resolved training config, when the checkpoint comes from training;
- ``state.pt``: optimizer, scheduler, queues, RNG states, only in a run's ``last`` checkpoint.

Directories are published atomically (``common.publish``): written under a temporary name,
fsynced, then swapped into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.errors import VclError
from common.jsonfile import read_json_file
from common.publish import publish_dir
from skeleton.hashing import sha256_file
from skeleton.layouts import get_layout
from skeleton.pipelines import spec_score_channel
from train.model import MultiStreamModel, StreamEncoder, build_encoders

FORMAT = "vcl-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(VclError):
    """A checkpoint directory is missing, corrupt or does not fit."""


def build_model(meta: dict[str, Any]) -> MultiStreamModel:
    """An untrained MultiStreamModel with the architecture a checkpoint's meta describes."""
    layout = get_layout(meta["layout"])
    arch = meta["architecture"]
    encoders = build_encoders(layout, meta["streams"], meta["head"], arch)
    classifiers = None
    if meta.get("num_classes"):
        classifiers = {s: nn.Linear(arch["widths"][-1], meta["num_classes"]) for s in meta["streams"]}
    score = bool(meta.get("pipeline")) and spec_score_channel(meta["pipeline"])
    return MultiStreamModel(encoders, layout.parents, classifiers, meta.get("fusion_weights"), score)


def save_checkpoint(
    directory: str | Path,
    model: MultiStreamModel,
    meta: dict[str, Any],
    config_yaml: str | None = None,
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (replacing an existing one)."""
    directory = Path(directory)
    with publish_dir(directory) as tmp:
        weights = {
            "encoders": {s: model.encoders[s].state_dict() for s in model.streams},
            "classifiers": {s: c.state_dict() for s, c in model.classifiers.items()},
        }
        torch.save(weights, tmp / "model.pt")
        full_meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **meta,
            "streams": list(model.streams),
            "fusion_weights": model.fusion_weights,
            "weights_sha256": sha256_file(tmp / "model.pt"),
        }
        (tmp / "meta.json").write_text(json.dumps(full_meta, indent=1) + "\n")
        if config_yaml is not None:
            (tmp / "config.yaml").write_text(config_yaml)
        if state is not None:
            torch.save(state, tmp / "state.pt")
    return directory


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of a checkpoint directory, its format checked."""
    return read_json_file(Path(directory) / "meta.json", FORMAT, CheckpointError, "a VCL checkpoint")


def load_checkpoint(
    directory: str | Path, device: str | torch.device = "cpu"
) -> tuple[MultiStreamModel, dict[str, Any]]:
    """The model (in eval mode) and meta of a checkpoint directory; verifies the weights hash."""
    directory = Path(directory)
    meta = read_meta(directory)
    weights_path = directory / "model.pt"
    if not weights_path.is_file():
        raise CheckpointError(f"{directory}: missing model.pt")
    actual = sha256_file(weights_path)
    if actual != meta.get("weights_sha256"):
        raise CheckpointError(
            f"{weights_path}: SHA-256 {actual[:12]}… does not match meta.json's "
            f"{str(meta.get('weights_sha256'))[:12]}…"
        )
    weights = torch.load(weights_path, map_location="cpu", weights_only=True)
    model = build_model(meta)
    for stream in model.streams:
        model.encoders[stream].load_state_dict(weights["encoders"][stream])
        if stream in model.classifiers:
            model.classifiers[stream].load_state_dict(weights["classifiers"][stream])
    return model.to(device).eval(), meta


def init_encoders(encoders: dict[str, StreamEncoder], directory: str | Path, layout: str) -> dict[str, Any]:
    """Start a run's encoders from a checkpoint's weights (``model.init``), in place.

    Every stream's backbone is copied from the checkpoint's encoder of the same stream; its
    projection / Gaussian head too when the checkpoint's is of the same kind (an imported official
    checkpoint has none: the run's heads keep their fresh initialisation).

    Args:
        encoders: stream name -> ``train.model.StreamEncoder``, as built for the run.
        directory: the checkpoint directory.
        layout: the run's layout name (the prepared data's); the checkpoint's must be the same.

    Returns:
        What the run's ``meta.json`` records: the path, the weights' SHA-256, and per stream
        whether the head came along (``kept``) or started fresh (``new``).
    """
    source, meta = load_checkpoint(directory)
    if meta["layout"] != layout:
        raise CheckpointError(
            f"{directory}: its encoders read the {meta['layout']!r} layout, the data is {layout!r}; "
            f"prepare the data with --map-to {meta['layout']} (docs/data.md)"
        )
    absent = [s for s in encoders if s not in source.encoders]
    if absent:
        raise CheckpointError(
            f"{directory}: no {absent[0]!r} stream to start from (it holds {', '.join(source.streams)})"
        )
    heads = {}
    for stream, encoder in encoders.items():
        start = source.encoders[stream]
        assert isinstance(start, StreamEncoder)
        same_head = start.head == encoder.head
        wanted = encoder.state_dict() if same_head else encoder.backbone.state_dict()
        given = start.state_dict() if same_head else start.backbone.state_dict()
        extra = sorted(set(given) - set(wanted))
        if extra:
            raise CheckpointError(
                f"{directory}: {stream} {extra[0]}: the checkpoint has weights this run lacks "
                f"({len(extra)} in all; model widths and strides must match)"
            )
        for key, value in wanted.items():
            if key not in given or given[key].shape != value.shape:
                found = tuple(given[key].shape) if key in given else "nothing"
                raise CheckpointError(
                    f"{directory}: {stream} {key}: this run needs shape {tuple(value.shape)}, the "
                    f"checkpoint has {found} (model widths, latent sizes and the input's channels "
                    "must match)"
                )
        target: nn.Module = encoder if same_head else encoder.backbone
        target.load_state_dict(given)
        heads[stream] = "kept" if same_head else "new"
    return {"path": str(directory), "weights_sha256": meta["weights_sha256"], "heads": heads}
