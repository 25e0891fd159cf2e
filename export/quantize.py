"""The int8 variant: static quantisation in QDQ form with per-channel weights, of the last blocks.

ONNX Runtime runs QuantizeLinear -> DequantizeLinear pairs around a convolution as one QLinearConv
with u8 activations and s8 weights, which uses the processor's integer dot-product instructions
(VNNI); activation ranges come from calibration clips (min / max over the fixture clips of
``export.onnx_export.fixture_joints``). Only the nodes of the last ``INT8_BLOCKS`` ST-GCN blocks
are quantised (convolutions, graph-aggregation MatMuls, adds, ReLUs and the layout Transposes, so
those blocks run in integers from end to end). The graph they are quantised from runs those
blocks channels-last (``export.fold``, ``channels_last_blocks``), so ONNX Runtime's channels-last
integer convolutions follow each other without layout changes; the graph matmul then has the
adjacency as its left operand, quantised to u8 (ONNX Runtime's QLinearMatMul has no s8 x u8
kernel); from a graph exported without folding (``--no-fold-bn``) the same blocks are quantised
channels-first. Six of the ten blocks (from the first 32-channel one of the official architecture:
about 93% of its multiply-adds, the last three 84%): quantising the 16-channel blocks too (all
ten) turned 1 of the 5 NTU reference clips' prediction and dropped the fused argmax agreement with
fp32 on the fixture from 96% to 68% (docs/export.md, where the choice of six is measured).

The dynamic int8 of earlier versions (ConvInteger, quantising activations at run time) was 5x
slower than fp32 on this kind of CPU and is gone.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

INT8_BLOCKS = 6
CALIBRATION_BATCH = 8
_BLOCK = re.compile(r"backbone\.(?:blocks|st_gcn_networks)\.(\d+)'")
_OPS = ["Conv", "MatMul", "Add", "Relu", "Transpose"]


def _block_of(node: object) -> int | None:
    """The ST-GCN block a node of a torch-exported graph belongs to, from its name scopes."""
    for prop in node.metadata_props:  # type: ignore[attr-defined]
        if prop.key == "pkg.torch.onnx.name_scopes":
            found = _BLOCK.findall(prop.value)
            return int(found[-1]) if found else None
    return None


def late_block_nodes(model: object, blocks: int = INT8_BLOCKS) -> list[str]:
    """Names of the Conv, MatMul, Add, ReLU and Transpose nodes in the last ``blocks`` blocks of
    every stream."""
    nodes = [(n.name, _block_of(n)) for n in model.graph.node if n.op_type in _OPS]  # type: ignore[attr-defined]
    indices = [b for _, b in nodes if b is not None]
    if not indices:
        return []
    first = max(indices) + 1 - blocks
    return [name for name, b in nodes if b is not None and b >= first]


def left_constants(model: Any, nodes: list[str]) -> list[str]:
    """The initializers that are the left operand of one of ``nodes``' MatMuls (the adjacency of
    a channels-last graph matmul): they are quantised as u8, as the activations."""
    constants = {i.name for i in model.graph.initializer}
    chosen = set(nodes)
    return sorted(
        {
            n.input[0]
            for n in model.graph.node
            if n.op_type == "MatMul" and n.name in chosen and n.input[0] in constants
        }
    )


def quantize_int8(
    fp32_path: Path, out_path: Path, calibration: np.ndarray, input_name: str, blocks: int = INT8_BLOCKS
) -> int:
    """Write the int8 model, the last ``blocks`` blocks quantised; returns how many nodes were
    (0: the graph has no ST-GCN name scopes, nothing to quantise, and the caller refuses).
    calibration: (N, C, T, V, M)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            batches = range(0, len(calibration), CALIBRATION_BATCH)
            self.batches = iter([calibration[i : i + CALIBRATION_BATCH] for i in batches])

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # without ORT's optimisation pass, which renames nodes and drops the name scopes that
        # late_block_nodes reads (it does so on the graph that skips absent persons)
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True, skip_optimization=True)
        model = onnx.load(str(prepared))
        nodes = late_block_nodes(model, blocks)
        if not nodes:
            return 0
        unsigned = [{"quant_type": QuantType.QUInt8}]
        overrides = {name: unsigned for name in left_constants(model, nodes)}
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=_OPS,
            nodes_to_quantize=nodes,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"TensorQuantOverrides": overrides} if overrides else None,
        )
    return len(nodes)
