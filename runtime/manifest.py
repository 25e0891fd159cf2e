"""``manifest.json`` of an exported model as a frozen dataclass: the one reader of that file.

``vcl export`` writes the manifest (``export.onnx_export``); everything that runs an exported model
(``runtime.model``, ``index``, ``server``) reads it through :func:`read_manifest`, which checks the
format and the fields every consumer relies on, and names the file and field when one is wrong.
The raw dictionary stays available as ``ModelManifest.raw`` for fields only reports show
(parity record, variant deltas, training config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import VclError
from common.jsonfile import read_json_file
from runtime.reference import UncertaintyBlockError, UncertaintyReference, parse_reference

MANIFEST_FORMAT = "vcl-onnx-model"


class RuntimeModelError(VclError):
    """An exported model directory is missing, corrupt, or given input it cannot take."""


@dataclass(frozen=True)
class VariantFile:
    """A reduced-precision copy of the graph (``fp16``, ``int8``) listed in the manifest.
    ``guard_passed``: the export's int8 guard verdict (``export.onnx_export.int8_guard``; False
    for a variant kept with ``--lossy-int8``), None where none was recorded. ``uncertainty``: the
    variant's own ``uncertainty`` block (its scores on the same validation clips; exported with
    ``--reference``), which ``runtime.model.OnnxModel`` uses in place of fp32's when it runs it."""

    file: str
    sha256: str
    guard_passed: bool | None = None
    uncertainty: UncertaintyReference | None = None


@dataclass(frozen=True)
class ExplainSpec:
    """The class-activation-map outputs of a classifier model (``export.cam``).

    Attributes:
        outputs: ``cam`` (N, K, T', V), fused, then ``<stream>_cam`` per stream.
        fused_bias: (K,) sum_s w_s b_s; the sum of ``cam`` over (T', V) plus it is ``fused_logits``.
        temporal_stride: output frame t' is centred on input frame ``temporal_stride * t'``.
        frames: T'.
    """

    outputs: tuple[str, ...]
    fused_bias: tuple[float, ...]
    temporal_stride: int
    frames: int


@dataclass(frozen=True)
class ModelManifest:
    """What an exported model is: graph file, input shape, outputs, layout, streams and classes.

    Attributes:
        input_shape: (C, T, V, M) of the input ``joints`` (N, C, T, V, M); the batch axis is dynamic.
        outputs: output names in graph order (``{stream}_logits|_feature|_mu|_sigma``,
            ``fused_logits``, ``embedding``).
        class_names: one per class, or None for a model without classifier.
        embedding_centers: stream -> the mean retrieval basis subtracted before normalising.
        explain: the class activation maps, or None (no classifier, or exported before them).
        uncertainty: what the scores mean against validation clips (``runtime.reference``), or
            None for a model exported without ``--reference`` (and every older manifest).
    """

    model_file: str
    model_sha256: str
    opset: int
    input_name: str
    input_shape: tuple[int, ...]
    outputs: tuple[str, ...]
    layout: str
    joint_names: tuple[str, ...]
    pipeline: dict[str, Any]
    streams: tuple[str, ...]
    fusion_weights: dict[str, float]
    class_names: tuple[str, ...] | None
    has_gaussian_head: bool
    embedding_dim: int
    embedding_centers: dict[str, tuple[float, ...]]
    method: str
    variants: dict[str, VariantFile] = field(default_factory=dict)
    explain: ExplainSpec | None = None
    uncertainty: UncertaintyReference | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    @property
    def classified(self) -> bool:
        return bool(self.class_names)

    @property
    def input_channels(self) -> int:
        return self.input_shape[0]

    def file_for(self, precision: str) -> VariantFile:
        """The graph file and hash for ``fp32`` or a listed variant."""
        if precision == "fp32":
            return VariantFile(self.model_file, self.model_sha256)
        if precision not in self.variants:
            raise RuntimeModelError(
                f"no {precision!r} model; available: {', '.join(['fp32', *self.variants])}"
            )
        return self.variants[precision]

    def summary(self) -> dict[str, Any]:
        """The fields a client needs to know what it talks to (``GET /v1/model``)."""
        return {
            "layout": self.layout,
            "streams": list(self.streams),
            "fusion_weights": dict(self.fusion_weights),
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "has_gaussian_head": self.has_gaussian_head,
            "pipeline": self.pipeline,
            "model_sha256": self.model_sha256,
            "outputs": list(self.outputs),
            "opset": self.opset,
            "method": self.method,
            "explainable": self.explain is not None,
            "uncertainty": self.uncertainty.summary() if self.uncertainty is not None else None,
        }


def _field(raw: dict[str, Any], path: Path, name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in raw:
        raise RuntimeModelError(f"{path}: missing field {name!r}")
    value = raw[name]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RuntimeModelError(f"{path}: field {name!r}: expected {names}, got {type(value).__name__}")
    return value


def _explain(value: Any, path: Path) -> ExplainSpec | None:
    if value is None:
        return None
    try:
        return ExplainSpec(
            outputs=tuple(str(n) for n in value["outputs"]),
            fused_bias=tuple(float(b) for b in value["fused_bias"]),
            temporal_stride=int(value["temporal_stride"]),
            frames=int(value["frames"]),
        )
    except (TypeError, KeyError, ValueError) as err:
        raise RuntimeModelError(
            f"{path}: field 'explain': expected outputs, fused_bias, temporal_stride and frames ({err!r})"
        ) from None


def parse_manifest(raw: dict[str, Any], path: Path) -> ModelManifest:
    """Validate a manifest dictionary (read from ``path``, for messages) into a ModelManifest."""
    if raw.get("format") != MANIFEST_FORMAT:
        raise RuntimeModelError(
            f"{path}: field 'format': expected {MANIFEST_FORMAT!r}, got {raw.get('format')!r}"
        )
    spec = _field(raw, path, "input", dict)
    shape = spec.get("shape")
    if not (isinstance(shape, list) and len(shape) == 5 and all(isinstance(d, int) for d in shape[1:])):
        raise RuntimeModelError(f"{path}: field 'input.shape': expected [N, C, T, V, M], got {shape!r}")
    classes = raw.get("class_names")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise RuntimeModelError(f"{path}: field 'class_names': expected a list of strings or null")
    streams = tuple(_field(raw, path, "streams", list))
    weights = _field(raw, path, "fusion_weights", dict)
    centers = raw.get("embedding_centers") or {}
    gaussian = bool(_field(raw, path, "has_gaussian_head", bool))

    def reference(block: Any, name: str) -> UncertaintyReference | None:
        try:
            parsed = parse_reference(block, path)
        except UncertaintyBlockError as err:
            raise RuntimeModelError(str(err)) from None
        if (
            parsed is not None
            and not gaussian
            and ("sigma" in parsed.features or parsed.quantiles.keys() - {"softmax"})
        ):
            raise RuntimeModelError(
                f"{path}: field '{name}': uses the sigma score, but the model has no Gaussian head"
            )
        return parsed

    variants = {}
    for name, v in (raw.get("variants") or {}).items():
        if not (isinstance(v, dict) and isinstance(v.get("file"), str) and isinstance(v.get("sha256"), str)):
            raise RuntimeModelError(f"{path}: field 'variants.{name}': expected file and sha256")
        passed = (v.get("guard") or {}).get("passed")
        variants[name] = VariantFile(
            v["file"],
            v["sha256"],
            passed if isinstance(passed, bool) else None,
            reference(v.get("uncertainty"), f"variants.{name}.uncertainty"),
        )
    uncertainty = reference(raw.get("uncertainty"), "uncertainty")
    return ModelManifest(
        explain=_explain(raw.get("explain"), path),
        model_file=_field(raw, path, "model_file", str),
        model_sha256=_field(raw, path, "model_sha256", str),
        opset=int(raw.get("opset", 0)),
        input_name=str(spec.get("name", "joints")),
        input_shape=tuple(int(d) for d in shape[1:]),
        outputs=tuple(_field(raw, path, "outputs", list)),
        layout=_field(raw, path, "layout", str),
        joint_names=tuple(raw.get("joint_names") or ()),
        pipeline=_field(raw, path, "pipeline", dict),
        streams=streams,
        fusion_weights={str(k): float(v) for k, v in weights.items()},
        class_names=tuple(classes) if classes else None,
        has_gaussian_head=gaussian,
        embedding_dim=int(_field(raw, path, "embedding_dim", int)),
        embedding_centers={str(s): tuple(float(x) for x in c) for s, c in centers.items()},
        method=str(raw.get("method", "")),
        variants=variants,
        uncertainty=uncertainty,
        raw=raw,
    )


def read_manifest(model_dir: str | Path) -> ModelManifest:
    """The validated manifest of an exported model directory."""
    path = Path(model_dir) / "manifest.json"
    raw = read_json_file(path, MANIFEST_FORMAT, RuntimeModelError, "an exported model")
    return parse_manifest(raw, path)
