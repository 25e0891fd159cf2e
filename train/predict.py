"""``vcl predict``: raw clip files -> the model's preprocessing -> streams -> fused logits.

Works with a training checkpoint directory (PyTorch) and with an exported model directory
(ONNX Runtime, no torch); both give the same output structure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.pipelines import preprocess_clips
from skeleton.readers.auto import read_clips


def preprocess(clips: list[Clip], meta: dict[str, Any]) -> np.ndarray:
    """Clips -> (N, 3, T, V, M) float32 with the model's own pipeline and layout."""
    return preprocess_clips(clips, meta["layout"], meta["pipeline"])


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _run_onnx(model_dir: Path, joints: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from runtime.model import OnnxModel

    model = OnnxModel(model_dir)
    return model.manifest, model.run(joints)


def _run_checkpoint(model_dir: Path, joints: np.ndarray, meta: dict[str, Any]) -> dict[str, np.ndarray]:
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
    if onnx:
        from runtime.manifest import read_manifest

        meta = read_manifest(model_dir)
    else:
        from train.checkpoint import read_meta

        meta = read_meta(model_dir)
    if not meta.get("num_classes"):
        raise SkeletonError(
            f"{model_dir}: this model has no classifier (pretraining only); train a linear probe first"
        )
    clips = [clip for path in files for clip in read_clips(path)]
    joints = preprocess(clips, meta)
    outputs = _run_onnx(model_dir, joints)[1] if onnx else _run_checkpoint(model_dir, joints, meta)
    names = meta["class_names"]
    streams = [s for s in meta["streams"]]
    probs = _softmax(outputs["fused_logits"])
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
                "stream_logits": {s: outputs[f"{s}_logits"][i].tolist() for s in streams},
                "stream_features": {s: outputs[f"{s}_feature"][i].tolist() for s in streams},
                "fused_logits": outputs["fused_logits"][i].tolist(),
            }
        )
    return results
