"""``vcl predict``: raw clip files -> the model's preprocessing -> streams -> fused logits.

Works with a training checkpoint directory (PyTorch, imported only then) and with an exported
model directory (ONNX Runtime, no torch); both give the same output structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.attribution import CAM_OUTPUT, Attribution, attributions, require_explain, top_joints
from runtime.manifest import ExplainSpec
from runtime.scores import softmax
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
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


def _run_onnx(
    model_dir: Path, joints: np.ndarray, explain: bool, precision: str
) -> tuple[dict[str, np.ndarray], ExplainSpec | None]:
    from runtime.model import OnnxModel

    model = OnnxModel(model_dir, precision=precision)
    if not explain:
        return model.run(joints), None
    spec = require_explain(model.manifest, model_dir)
    return model.run(joints, outputs=[*model.output_names, CAM_OUTPUT]), spec


def _run_checkpoint(
    model_dir: Path, joints: np.ndarray, explain: bool, precision: str = "fp32"
) -> tuple[dict[str, np.ndarray], ExplainSpec | None]:
    """The checkpoint through ``export.graph.ExportGraph`` (the exported computation, in PyTorch)."""
    import torch

    from export.graph import ExportGraph
    from export.onnx_export import explain_spec
    from train.checkpoint import load_checkpoint

    model, _ = load_checkpoint(model_dir)
    graph = ExportGraph(model).eval()
    wanted = [f"{s}_logits" for s in graph.streams] + [f"{s}_feature" for s in graph.streams]
    wanted += ["fused_logits", *([CAM_OUTPUT] if explain else [])]
    outputs: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for start in range(0, len(joints), 64):
            values = graph(torch.from_numpy(joints[start : start + 64]))
            for name, value in zip(graph.all_names, values, strict=True):
                if name in wanted:
                    outputs.setdefault(name, []).append(value.numpy())
    out = {k: np.concatenate(v) for k, v in outputs.items()}
    if not explain:
        return out, None
    raw = explain_spec(graph, {CAM_OUTPUT: {"shape": ["N", *out[CAM_OUTPUT].shape[1:]]}})
    return out, ExplainSpec(
        tuple(raw["outputs"]), tuple(raw["fused_bias"]), raw["temporal_stride"], raw["frames"]
    )


def explanation_json(
    attribution: Attribution, class_names: list[str], joint_names: tuple[str, ...]
) -> dict[str, Any]:
    """One clip's attribution as JSON: the class, per-frame per-joint shares, per-joint sums."""
    return {
        "class_index": attribution.class_index,
        "label": class_names[attribution.class_index],
        "total": attribution.total,
        "bias": attribution.bias,
        "joint_names": list(joint_names),
        "joints": np.round(attribution.joints, 6).tolist(),
        "frames": np.round(attribution.attribution, 6).tolist(),
        "top_joints": [{"joint": j, "share": v} for j, v in top_joints(attribution, joint_names)],
    }


def predict_files(
    model_dir: str | Path,
    files: list[Path],
    top: int = 5,
    explain: bool = False,
    explain_class: str | None = None,
    precision: str = "auto",
) -> list[dict[str, Any]]:
    """Per clip: label, class index, top-k with softmax probabilities, per-stream logits and features;
    with ``explain``, ``explanation``: the attribution (``runtime.attribution``) of the predicted
    class, or of ``explain_class`` (a class name), over the model's input frames and joints.
    ``precision``: the exported graph that runs (``runtime.model.OnnxModel``; by default the one
    ``vcl serve`` runs); a checkpoint always runs in float32."""
    model_dir = Path(model_dir)
    onnx = (model_dir / "manifest.json").is_file()
    model = _describe(model_dir, onnx)
    if model.class_names is None:
        raise SkeletonError(
            f"{model_dir}: this model has no classifier (pretraining only); train a linear probe first"
        )
    names = model.class_names
    if explain_class is not None and explain_class not in names:
        raise SkeletonError(
            f"--explain-class {explain_class!r}: not a class of {model_dir} ({', '.join(names[:10])}, ...)"
        )
    clips = [clip for path in files for clip in read_clips(path)]
    joints = preprocess_clips(clips, model.layout, model.pipeline)
    run = _run_onnx if onnx else _run_checkpoint
    outputs, spec = run(model_dir, joints, explain or explain_class is not None, precision)
    probs = softmax(outputs["fused_logits"])
    explained: list[Attribution] = []
    if spec is not None:
        wanted = probs.argmax(1) if explain_class is None else np.full(len(clips), names.index(explain_class))
        explained = attributions(outputs[CAM_OUTPUT], wanted, spec, joints.shape[2])
    joint_names = get_layout(model.layout).joints
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
        if explained:
            results[-1]["explanation"] = explanation_json(explained[i], names, joint_names)
    return results
