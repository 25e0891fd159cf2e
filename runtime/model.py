"""Run an exported model with ONNX Runtime — no torch import, for the server and the index.

``OnnxModel(model_dir)`` reads ``manifest.json`` (``runtime.manifest``), checks the SHA-256 of
``model.onnx`` (and of the variant file asked for), opens a session asking for CUDA then CPU (or
only CUDA with ``require_gpu``), and exposes the providers actually in use. ``run(joints)``
validates the input against the manifest (shape, dtype, finiteness) and returns every output by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runtime.manifest import ModelManifest, RuntimeModelError, read_manifest
from skeleton.hashing import sha256_file

__all__ = ["AUTO", "OnnxModel", "RuntimeModelError", "auto_precision"]

AUTO = "auto"


def auto_precision(manifest: ModelManifest, cuda: bool) -> str:
    """The graph ``precision="auto"`` runs: ``int8`` when the manifest lists an int8 variant whose
    export guard passed (fused top-1 within a point of fp32's on labelled held-out clips, or the
    same predictions on 90% of unlabelled ones; ``export.onnx_export.int8_guard``) and the session
    runs on the CPU, where it is 1.6-1.9x as fast as the fp32 graph (docs/export.md);
    ``fp32`` otherwise (on CUDA, for a variant without a guard verdict, or for one that failed it)."""
    variant = manifest.variants.get("int8")
    return "int8" if not cuda and variant is not None and variant.guard_passed is True else "fp32"


class OnnxModel:
    """An exported model ready to run.

    Args:
        model_dir: directory written by ``vcl export``.
        precision: ``fp32`` (``model.onnx``), a variant listed in the manifest (``fp16``, ``int8``),
            or ``auto`` (``auto_precision``: the int8 variant on a CPU where its export guard
            passed, else fp32). ``self.precision`` is the graph chosen; ``self.manifest`` carries
            that graph's ``uncertainty`` block where the export wrote one for it.
        require_gpu: fail instead of falling back to the CPU when CUDA is not usable.
        threads: intra-op threads for the CPU provider (0 = ONNX Runtime's default).
        spin: let idle intra-op threads spin-wait for work (ONNX Runtime's default: lowest latency
            for back-to-back calls). The server turns it off: between requests spinning threads
            burn a core that request parsing needs (measured in docs/server.md).
    """

    def __init__(
        self,
        model_dir: str | Path,
        precision: str = "fp32",
        require_gpu: bool = False,
        threads: int = 0,
        spin: bool = True,
    ) -> None:
        import onnxruntime as ort

        self.model_dir = Path(model_dir)
        self.manifest = read_manifest(self.model_dir)
        available = ort.get_available_providers()
        if precision == AUTO:
            precision = auto_precision(self.manifest, require_gpu or "CUDAExecutionProvider" in available)
        try:
            wanted_file = self.manifest.file_for(precision)
        except RuntimeModelError as err:
            raise RuntimeModelError(f"{self.model_dir}: {err}") from None
        if wanted_file.uncertainty is not None:  # what this graph's scores mean, not fp32's
            self.manifest = dataclasses.replace(self.manifest, uncertainty=wanted_file.uncertainty)
        path = self.model_dir / wanted_file.file
        if not path.is_file():
            raise RuntimeModelError(f"{self.model_dir}: missing {path.name}")
        actual = sha256_file(path)
        if actual != wanted_file.sha256:
            raise RuntimeModelError(
                f"{path}: SHA-256 {actual[:12]}… does not match the manifest's "
                f"{wanted_file.sha256[:12]}… (file changed or corrupt)"
            )
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if require_gpu:
            if "CUDAExecutionProvider" not in available:
                raise RuntimeModelError(
                    f"require_gpu: CUDAExecutionProvider is not available (ONNX Runtime has "
                    f"{', '.join(available)}); install onnxruntime-gpu on a CUDA machine"
                )
            wanted = ["CUDAExecutionProvider"]
        options = ort.SessionOptions()
        # ONNX Runtime's default, stated: its NCHWc convolution layout is what makes the CPU fast
        # here (basic or extended graph optimisation runs the official model 0.8x as fast).
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(path), options, providers=[p for p in wanted if p in available]
        )
        self.providers: list[str] = self.session.get_providers()
        if require_gpu and "CUDAExecutionProvider" not in self.providers:
            raise RuntimeModelError(f"require_gpu: the session fell back to {self.providers}")
        self.precision = precision
        self.input_name = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        explain = self.manifest.explain.outputs if self.manifest.explain else ()
        missing = [n for n in (*self.manifest.outputs, *explain) if n not in names]
        if missing:
            raise RuntimeModelError(
                f"{path}: output {missing[0]!r} listed in the manifest is missing from the graph"
            )
        self.output_names = list(self.manifest.outputs)
        self.graph_outputs = tuple(names)  # output_names and any explanation outputs
        self.input_shape = self.manifest.input_shape  # (C, T, V, M)

    def run(self, joints: np.ndarray, outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """joints (N, C, T, V, M) float32 -> {output name: array} for the manifest's ``outputs``,
        or for the names given (ONNX Runtime computes only what they need: ``("cam",)`` runs the
        backbones and the class activation maps, not the heads)."""
        fetch = self.output_names if outputs is None else list(outputs)
        unknown = [n for n in fetch if n not in self.graph_outputs]
        if unknown:
            raise RuntimeModelError(
                f"{self.model_dir}: the model has no output {unknown[0]!r} (it has "
                f"{', '.join(self.graph_outputs)})"
            )
        x = np.asarray(joints)
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape:
            raise RuntimeModelError(
                f"input joints: expected shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise RuntimeModelError("input joints: empty batch")
        if not np.issubdtype(x.dtype, np.floating):
            raise RuntimeModelError(f"input joints: expected float32, got {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise RuntimeModelError("input joints: NaN or infinite values")
        values = self.session.run(fetch, {self.input_name: x})
        return {name: np.asarray(value, dtype=np.float32) for name, value in zip(fetch, values, strict=True)}
