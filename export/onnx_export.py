"""``vcl export``: checkpoint -> ``model.onnx`` + ``manifest.json`` (+ fp16 / int8 variants).

The graph comes from the torch.export-based exporter (``torch.onnx.export(..., dynamo=True)``)
with a dynamic batch axis, opset 18, from the model with its BatchNorms folded and its graph
convolutions reordered (``export.fold``; ``fold_bn=False`` exports the model as trained). Parity
is always checked against the original PyTorch model. Everything is written into a temporary
directory published in place of ``out`` only when ONNX Runtime matches PyTorch (``export.parity``:
batch sizes 1, 2, 7 and the maximum on fixture clips); a failure raises ``ExportError`` and leaves
``out`` as it was. The parity record goes into the manifest.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from common.errors import VclError
from common.publish import publish_dir
from export.fold import fold_model
from export.graph import ExportGraph
from export.parity import PARITY_BATCHES, check_parity
from export.quantize import INT8_BLOCKS
from export.reference import ReferenceSpec, reference_block
from runtime.manifest import MANIFEST_FORMAT
from runtime.model import OnnxModel
from skeleton.hashing import sha256_file
from skeleton.layouts import get_layout
from skeleton.pipelines import pipeline_from_spec, spec_output_channels
from skeleton.prepared import PreparedDataset
from train.checkpoint import load_checkpoint

OPSET = 18


class ExportError(VclError):
    """Export failed (parity or conversion); nothing was written in place."""


def fixture_joints(
    meta: dict[str, Any], count: int, fixture: Path | None = None
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(count, C, T, V, M) float32 clips to check parity on, their labels (count,) when they come
    from a prepared dataset labelled with the model's own classes (else None), and their source."""
    pipeline = meta["pipeline"]
    layout = get_layout(meta["layout"])
    run = pipeline_from_spec(pipeline)
    source = fixture or (Path(meta["dataset"]["path"]) if meta.get("dataset", {}).get("path") else None)
    if source is not None and (source / "manifest.json").is_file():
        data = PreparedDataset(source)
        if data.manifest["layout"] == layout.name and data.joints.shape[2] == pipeline["num_frames"]:
            index = np.arange(count) % len(data)
            labels = np.asarray(data.labels[index])
            same_classes = data.manifest.get("class_names") == meta.get("class_names")
            known = labels if same_classes and meta.get("class_names") and (labels >= 0).all() else None
            return np.asarray(data.joints[index], dtype=np.float32), known, f"prepared dataset {source}"
    if layout.name == "ntu" or (layout.estimator and run.input_channels in ("xyz", "xys", "xy")):
        from skeleton.synthetic import synthetic_clip

        clips = [
            run(
                synthetic_clip(i, seed=123, layout=layout.name, channels=run.input_channels).joints, layout
            ).joints
            for i in range(count)
        ]
        return np.stack(clips).astype(np.float32), None, "synthetic clips through the model's pipeline"
    rng = np.random.default_rng(0)
    shape = (count, run.output_channels, pipeline["num_frames"], layout.num_joints, pipeline["num_persons"])
    walk = np.cumsum(rng.normal(0, 0.01, shape), axis=2) + rng.normal(0, 0.3, shape[:2] + (1,) + shape[3:])
    return walk.astype(np.float32), None, "smooth random walks"


CENTER_CLIPS = 256


def embedding_centers(
    model: Any, meta: dict[str, Any], fixture: Path | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """Per stream, the mean retrieval basis (mu, or the pooled feature) over ``CENTER_CLIPS``
    reference clips (the training dataset when it is there; see ``fixture_joints``)."""
    joints, _, source = fixture_joints(meta, CENTER_CLIPS, fixture)
    plain = ExportGraph(model).eval()
    key = "mu" if plain.gaussian else "feature"
    sums: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for start in range(0, len(joints), 64):
            out = dict(zip(plain.all_names, plain(torch.from_numpy(joints[start : start + 64])), strict=True))
            for s in plain.streams:
                sums[s] = sums.get(s, 0) + out[f"{s}_{key}"].double().sum(0)
    return {s: (v / len(joints)).float() for s, v in sums.items()}, f"{len(joints)} {source}"


def explain_spec(graph: ExportGraph, outputs: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``explain``: the class-activation-map outputs (``export.cam``), the fused
    bias their sum leaves out (sum over (T', V) of ``cam`` = ``fused_logits - fused_bias``), and
    the backbone's temporal stride: output frame t' is centred on input frame stride * t'
    (``runtime.attribution`` maps the T' frames back to the input's T)."""
    backbone: Any = graph.model.encoders[graph.streams[0]].backbone
    stride = math.prod([int(block.tcn[2].stride[0]) for block in backbone.st_gcn_networks])
    return {
        "outputs": graph.explain_names,
        "fused_bias": graph.fused_bias().tolist(),
        "temporal_stride": stride,
        "frames": outputs["cam"]["shape"][2],
    }


# the variants ``vcl export`` writes unless told otherwise (int8 only where its guard passes:
# ``export_checkpoint(int8_if_guarded=True)``; ``runtime.model.auto_precision`` serves it)
DEFAULT_PRECISIONS = ("int8",)
CALIBRATION_CLIPS = 64
# The int8 guard runs both graphs on this many fixture clips after the calibration clips (held out
# when the fixture has that many). With labels of the model's own classes (a prepared dataset),
# int8's fused top-1 may be at most INT8_MAX_TOP1_DROP below fp32's; without, int8 must give fp32's
# fused prediction on at least INT8_MIN_AGREEMENT of them. Otherwise the export refuses the variant
# (``lossy_int8`` keeps it anyway). Measured, docs/export.md: where int8 stayed within 0.7 points
# of fp32's top-1 on real data, agreement was 90.9-97.7%; where it fell by 5-24 points, 66.5-85.1%.
INT8_GUARD_CLIPS = 256
INT8_MAX_TOP1_DROP = 0.01
INT8_MIN_AGREEMENT = 0.90


def _write_onnx(graph: ExportGraph, example: torch.Tensor, path: Path, checkpoint: Path) -> None:
    """Export ``graph`` to ``path`` (batch axis dynamic); a failure is an ``ExportError``."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        torch.onnx.export(
            graph,
            (example,),
            str(path),
            dynamo=True,
            input_names=["joints"],
            output_names=graph.all_names,
            dynamic_shapes={"joints": {0: batch}},
            opset_version=OPSET,
            verbose=False,
            external_data=False,
        )
    except Exception as err:  # the exporter raises many kinds
        raise ExportError(f"{checkpoint}: ONNX export failed: {type(err).__name__}: {err}") from None


def _variant(fp32_path: Path, precision: str, out: Path, calibration: np.ndarray, int8_blocks: int) -> Path:
    if precision == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
        path = out / "model.fp16.onnx"
        onnx.save(model, str(path))
        return path
    if precision == "int8":
        from export.quantize import quantize_int8

        path = out / "model.int8.onnx"
        if quantize_int8(fp32_path, path, calibration, "joints", int8_blocks) == 0:
            raise ExportError(f"{fp32_path}: int8: no ST-GCN block found in the graph to quantise")
        return path
    raise ExportError(f"unknown precision {precision!r}; choose fp16 or int8")


def _delta(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "max_abs_error": {n: float(np.abs(other[n] - reference[n]).max()) for n in reference}
    }
    if "fused_logits" in reference:
        out["fused_argmax_agreement"] = float(
            (other["fused_logits"].argmax(1) == reference["fused_logits"].argmax(1)).mean()
        )
    a, b = reference["embedding"], other["embedding"]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    out["embedding_min_cosine"] = float(cos.min())
    return out


def int8_guard(
    fp32: OnnxModel, int8: OnnxModel, clips: np.ndarray, labels: np.ndarray | None
) -> dict[str, Any]:
    """Whether the int8 graph may stand in for the fp32 one, judged on held-out clips (N, C, T, V,
    M): with labels (N,), fused top-1 at most ``INT8_MAX_TOP1_DROP`` below fp32's; without, the
    same fused argmax on at least ``INT8_MIN_AGREEMENT`` of the clips. Returns the figures,
    ``passed`` and a ``reason`` naming them."""
    predictions = {}
    for name, model in (("fp32", fp32), ("int8", int8)):
        logits = [model.run(clips[i : i + 32])["fused_logits"] for i in range(0, len(clips), 32)]
        predictions[name] = np.concatenate(logits).argmax(1)
    agreement = float((predictions["int8"] == predictions["fp32"]).mean())
    out: dict[str, Any] = {"clips": len(clips), "fused_argmax_agreement": agreement}
    if labels is not None:
        top1 = {name: float((p == labels).mean()) for name, p in predictions.items()}
        drop = top1["fp32"] - top1["int8"]
        out.update(criterion="top1", top1_fp32=top1["fp32"], top1_int8=top1["int8"])
        out["passed"] = drop <= INT8_MAX_TOP1_DROP + 1e-9
        out["reason"] = (
            f"fused top-1 {top1['int8']:.1%} against fp32's {top1['fp32']:.1%} on {len(clips)} labelled "
            f"held-out clips (at most {100 * INT8_MAX_TOP1_DROP:g} point below allowed)"
        )
    else:
        out.update(criterion="agreement", passed=agreement >= INT8_MIN_AGREEMENT)
        out["reason"] = (
            f"fp32's fused prediction on {agreement:.1%} of {len(clips)} held-out clips (at least "
            f"{INT8_MIN_AGREEMENT:.0%} needed)"
        )
    return out


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    precisions: tuple[str, ...] = (),
    max_batch: int = 64,
    fixture: Path | None = None,
    tolerance: float = 1e-4,
    overwrite: bool = False,
    fold_bn: bool = True,
    lossy_int8: bool = False,
    calibrate: ReferenceSpec | None = None,
    skip_absent: bool = True,
    int8_if_guarded: bool = False,
) -> dict[str, Any]:
    """Export, check, write; returns the manifest. ``fold_bn``: export ``export.fold``'s rewrite
    (BatchNorms folded, one GEMM per graph convolution; 1.0-1.25x plain in ONNX Runtime, measured
    in docs/export.md). ``skip_absent``: all-zero person slots skip the backbones (``export.graph``;
    exact, about half the work on one-person clips). An int8 variant that fails ``int8_guard`` on
    held-out fixture clips is refused (``ExportError``) unless ``lossy_int8``; the verdict is in
    the manifest. ``int8_if_guarded`` (what ``vcl export`` does by default, ``DEFAULT_PRECISIONS``):
    an int8 variant that the guard refuses, or that no guard can judge (a model without a
    classifier), is left out instead, the reason under the manifest's ``variants_left_out``; the
    export goes on in fp32. ``calibrate``: score its validation clips with the exported graph and write the
    manifest's ``uncertainty`` block (``export.reference``)."""
    checkpoint, out = Path(checkpoint), Path(out)
    if out.exists() and not overwrite:
        raise ExportError(f"{out}: already exists; choose another --out or pass --overwrite")
    model, meta = load_checkpoint(checkpoint)
    centers, center_source = embedding_centers(model, meta, fixture)
    graph = ExportGraph(model, centers).eval()  # every person through the backbones: the reference
    layout = get_layout(meta["layout"])
    t, m = meta["pipeline"]["num_frames"], meta["pipeline"]["num_persons"]
    skip = t if skip_absent and m > 1 else None
    exported = ExportGraph(fold_model(model) if fold_bn else model, centers, skip).eval()
    c = spec_output_channels(meta["pipeline"])
    example = torch.zeros(2, c, t, layout.num_joints, m)
    with publish_dir(out) as tmp:
        _write_onnx(exported, example, tmp / "model.onnx", checkpoint)
        outputs = {}
        with torch.no_grad():
            for name, value in zip(graph.all_names, graph(example), strict=True):
                outputs[name] = {"shape": ["N", *value.shape[1:]], "dtype": "float32"}
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "format_version": 1,
            "model_file": "model.onnx",
            "model_sha256": sha256_file(tmp / "model.onnx"),
            "opset": OPSET,
            "batchnorm_folded": fold_bn,
            "absent_persons_skipped": skip is not None,
            "input": {
                "name": "joints",
                "shape": ["N", c, t, layout.num_joints, m],
                "dtype": "float32",
                "axes": ["N", "C", "T", "V", "M"],
            },
            "outputs": graph.output_names,
            "output_specs": outputs,
            "layout": layout.name,
            "joint_names": list(layout.joints),
            "pipeline": meta["pipeline"],
            "streams": graph.streams,
            "fusion_weights": model.fusion_weights,
            "class_names": meta.get("class_names") if graph.classified else None,
            "num_classes": meta.get("num_classes") if graph.classified else None,
            "has_gaussian_head": graph.gaussian,
            "embedding_dim": outputs["embedding"]["shape"][1],
            "explain": explain_spec(graph, outputs) if graph.classified else None,
            "embedding_centers": {s: c.tolist() for s, c in centers.items()},
            "embedding_center_source": center_source,
            "method": meta["method"],
            "source_checkpoint": {
                "path": str(checkpoint),
                "weights_sha256": sha256_file(checkpoint / "model.pt"),
            },
            "training_config": (checkpoint / "config.yaml").read_text()
            if (checkpoint / "config.yaml").is_file()
            else None,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        joints, _, source = fixture_joints(meta, max(max_batch, 32), fixture)
        runtime = OnnxModel(tmp)
        parity = check_parity(graph, runtime, joints, (*PARITY_BATCHES, max_batch), tolerance)
        parity["fixture"] = source
        parity["providers"] = runtime.providers
        if not parity["passed"]:
            worst = max(
                (e for b in parity["batches"].values() for e in b["max_abs_error"].items()),
                key=lambda kv: kv[1],
            )
            raise ExportError(
                f"{checkpoint}: ONNX Runtime does not match PyTorch: worst output {worst[0]} off by "
                f"{worst[1]:.2e} (tolerance {tolerance}); neighbours identical: "
                f"{parity['top10_neighbours_identical']}"
            )
        manifest["parity"] = parity
        if calibrate is not None:
            manifest["uncertainty"] = reference_block(runtime, calibrate)
        reference = runtime.run(joints)
        manifest["variants"] = {}
        calibration, guard, guard_labels = joints, joints, None
        if "int8" in precisions:  # clips after the fixture's own: calibration, then the guard's
            first = len(joints) + CALIBRATION_CLIPS
            clips, labels, _ = fixture_joints(meta, first + INT8_GUARD_CLIPS, fixture)
            calibration, guard = clips[len(joints) : first], clips[first:]
            guard_labels = labels[first:] if labels is not None else None
        if int8_if_guarded and "int8" in precisions and "fused_logits" not in reference:
            precisions = tuple(p for p in precisions if p != "int8")
            manifest["variants_left_out"] = {"int8": "the model has no classifier to guard an int8 variant"}
        depth = min(len(cast(Any, e).backbone.st_gcn_networks) for e in model.encoders.values())
        blocks = min(INT8_BLOCKS, depth)  # the last blocks of every stream that int8 quantises
        for precision in precisions:
            graph_file = tmp / "model.onnx"
            # int8 is quantised from the graph whose integer blocks run channels-last (export.fold)
            if precision == "int8" and fold_bn:
                graph_file = tmp / "int8_source.onnx"
                last = ExportGraph(fold_model(model, blocks), centers, skip).eval()
                _write_onnx(last, example, graph_file, checkpoint)
            path = _variant(graph_file, precision, tmp, calibration, blocks)
            if graph_file.name == "int8_source.onnx":
                graph_file.unlink()
            manifest["variants"][precision] = {"file": path.name, "sha256": sha256_file(path)}
            if precision == "int8":  # how it was built: how many blocks, and their layout
                manifest["variants"]["int8"]["quantised_blocks"] = blocks
                manifest["variants"]["int8"]["layout"] = "channels_last" if fold_bn else "channels_first"
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
            delta = _delta(reference, OnnxModel(tmp, precision=precision).run(joints))
            manifest["variants"][precision]["accuracy_delta_vs_fp32"] = delta
            if precision == "int8" and "fused_logits" in reference:
                verdict = int8_guard(runtime, OnnxModel(tmp, precision="int8"), guard, guard_labels)
                manifest["variants"]["int8"]["guard"] = verdict
                if not verdict["passed"] and int8_if_guarded and not lossy_int8:
                    del manifest["variants"]["int8"]
                    path.unlink()
                    manifest["variants_left_out"] = {"int8": f"refused by the guard: {verdict['reason']}"}
                elif not verdict["passed"] and not lossy_int8:
                    raise ExportError(
                        f"{checkpoint}: the int8 variant is refused: {verdict['reason']}; export "
                        "without --precision int8, or pass --lossy-int8 to keep it anyway"
                    )
        if calibrate is not None:  # each kept variant's own scores on the same validation clips
            for precision in manifest["variants"]:
                block = reference_block(OnnxModel(tmp, precision=precision), calibrate)
                manifest["variants"][precision]["uncertainty"] = block
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
