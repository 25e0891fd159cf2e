"""``vcl predict``: raw clip files -> the model's preprocessing -> streams -> fused logits.

Works with a training checkpoint directory (PyTorch, imported only then) and with an exported
model directory (ONNX Runtime, no torch); both give the same output structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.scores import softmax
from skeleton.errors import SkeletonError
from skeleton.pipelines import preprocess_clips
from skeleton.readers.auto import read_clips


@dataclass(frozen=True)
class _Model:
    """What prediction needs to know of a model, from an export's manifest or a checkpoint's meta."""

    layout: str
    pipeline: dict[str, Any]
    streams: tuple[str, ...]
    class_names: list[str] | None  # None: no classifier


def _describe(model_dir: Path, onnx: bool) -> _Model:
    if onnx:
        from runtime.manifest import read_manifest

        manifest = read_manifest(model_dir)
        names = list(manifest.class_names) if manifest.class_names else None
        return _Model(manifest.layout, manifest.pipeline, manifest.streams, names)
    from train.checkpoint import read_meta

    meta = read_meta(model_dir)
    names = meta["class_names"] if meta.get("num_classes") else None
    return _Model(meta["layout"], meta["pipeline"], tuple(meta["streams"]), names)


def _run_onnx(model_dir: Path, joints: np.ndarray) -> dict[str, np.ndarray]:
    from runtime.model import OnnxModel

    return OnnxModel(model_dir).run(joints)


def _run_checkpoint(model_dir: Path, joints: np.ndarray) -> dict[str, np.ndarray]:
    import torch

    from train.checkpoint import load_checkpoint

    model, _ = load_checkpoint(model_dir)
    outputs: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for start in range(0, len(joints), 64):
            out = model(torch.from_numpy(joints[start : start + 64]))
            for s in model.streams:
                stream_out = out[s]
                assert isinstance(stream_out, dict)
                outputs.setdefault(f"{s}_logits", []).append(stream_out["logits"].numpy())
                outputs.setdefault(f"{s}_feature", []).append(stream_out["feature"].numpy())
            fused = out["fused_logits"]
            assert isinstance(fused, torch.Tensor)
            outputs.setdefault("fused_logits", []).append(fused.numpy())
    return {k: np.concatenate(v) for k, v in outputs.items()}


def predict_files(model_dir: str | Path, files: list[Path], top: int = 5) -> list[dict[str, Any]]:
    """Per clip: label, class index, top-k with softmax probabilities, per-stream logits and features."""
    model_dir = Path(model_dir)
    onnx = (model_dir / "manifest.json").is_file()
    model = _describe(model_dir, onnx)
    if model.class_names is None:
        raise SkeletonError(
            f"{model_dir}: this model has no classifier (pretraining only); train a linear probe first"
        )
    clips = [clip for path in files for clip in read_clips(path)]
    joints = preprocess_clips(clips, model.layout, model.pipeline)
    outputs = _run_onnx(model_dir, joints) if onnx else _run_checkpoint(model_dir, joints)
    names = model.class_names
    probs = softmax(outputs["fused_logits"])
    results = []
    for i, clip in enumerate(clips):
        order = np.argsort(-probs[i], kind="stable")[: min(top, probs.shape[1])]
        best = int(order[0])
        results.append(
            {
                "file": clip.meta.source,
                "name": clip.meta.name,
                "label": names[best],
                "class_index": best,
                "top": [
                    {"class_index": int(c), "label": names[int(c)], "probability": float(probs[i, c])}
                    for c in order
                ],
                "stream_logits": {s: outputs[f"{s}_logits"][i].tolist() for s in model.streams},
                "stream_features": {s: outputs[f"{s}_feature"][i].tolist() for s in model.streams},
                "fused_logits": outputs["fused_logits"][i].tolist(),
            }
        )
    return results
