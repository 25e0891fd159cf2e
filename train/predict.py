"""``vcl predict``: raw clip files -> the model's preprocessing -> streams -> fused logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
from skeleton.pipelines import get_pipeline
from skeleton.readers.auto import read_clips
from train.checkpoint import load_checkpoint


def preprocess(clips: list[Clip], meta: dict[str, Any]) -> np.ndarray:
    """Clips -> (N, 3, T, V, M) float32 with the checkpoint's own pipeline and layout."""
    layout = get_layout(meta["layout"])
    options = {k: v for k, v in meta["pipeline"].items() if k not in ("name", "version")}
    pipeline = get_pipeline(meta["pipeline"]["name"], **options)
    out = []
    for clip in clips:
        if clip.layout != layout.name:
            raise SkeletonError(
                f"{clip.meta.source}: layout {clip.layout!r} does not match the model's {layout.name!r}"
            )
        out.append(pipeline(clip.joints, layout).joints)
    return np.stack(out)


def predict_files(
    model_dir: str | Path, files: list[Path], top: int = 5, batch_size: int = 64
) -> list[dict[str, Any]]:
    """Per clip: label, class index, top-k with softmax probabilities, per-stream logits and features."""
    model, meta = load_checkpoint(model_dir)
    if not meta.get("num_classes"):
        raise SkeletonError(
            f"{model_dir}: this checkpoint has no classifier (pretraining only); train a linear probe first"
        )
    clips = [clip for path in files for clip in read_clips(path)]
    joints = preprocess(clips, meta)
    names = meta["class_names"]
    results = []
    with torch.no_grad():
        for start in range(0, len(clips), batch_size):
            out = model(torch.from_numpy(joints[start : start + batch_size]))
            fused = out["fused_logits"]
            assert isinstance(fused, torch.Tensor)
            probs = torch.softmax(fused, dim=1)
            for i, clip in enumerate(clips[start : start + batch_size]):
                p, idx = probs[i].topk(min(top, probs.shape[1]))
                best = int(idx[0])
                results.append(
                    {
                        "file": clip.meta.source,
                        "name": clip.meta.name,
                        "label": names[best],
                        "class_index": best,
                        "top": [
                            {"class_index": int(c), "label": names[int(c)], "probability": float(q)}
                            for q, c in zip(p, idx, strict=True)
                        ],
                        "stream_logits": {s: out[s]["logits"][i].tolist() for s in model.streams},
                        "stream_features": {s: out[s]["feature"][i].tolist() for s in model.streams},
                        "fused_logits": fused[i].tolist(),
                    }
                )
    return results
