"""The int8 variant: static quantisation in QDQ form with per-channel weights, of the last blocks.

ONNX Runtime runs QuantizeLinear -> DequantizeLinear pairs around a convolution as one QLinearConv
with u8 activations and s8 weights, which uses the processor's integer dot-product instructions
(VNNI); activation ranges come from calibration clips (min / max over the fixture clips of
``export.onnx_export.fixture_joints``). Only the nodes of the last ``INT8_BLOCKS`` ST-GCN blocks
are quantised (convolutions, graph-aggregation MatMuls, adds and ReLUs, so those blocks run in
integers from end to end): in the official architecture they carry about 85% of the FLOPs, while
quantising the early 16-channel blocks too turned 1 of the 5 NTU reference clips' prediction and
dropped the fused argmax agreement with fp32 on the fixture from 96% to 68% (docs/export.md).

The dynamic int8 of earlier versions (ConvInteger, quantising activations at run time) was 5x
slower than fp32 on this kind of CPU and is gone.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

INT8_BLOCKS = 3
CALIBRATION_BATCH = 8
_BLOCK = re.compile(r"backbone\.(?:blocks|st_gcn_networks)\.(\d+)'")
_OPS = ["Conv", "MatMul", "Add", "Relu"]


def _block_of(node: object) -> int | None:
    """The ST-GCN block a node of a torch-exported graph belongs to, from its name scopes."""
    for prop in node.metadata_props:  # type: ignore[attr-defined]
        if prop.key == "pkg.torch.onnx.name_scopes":
            found = _BLOCK.findall(prop.value)
            return int(found[-1]) if found else None
    return None


def late_block_nodes(model: object, blocks: int = INT8_BLOCKS) -> list[str]:
    """Names of the Conv, MatMul, Add and ReLU nodes in the last ``blocks`` blocks of every stream."""
    nodes = [(n.name, _block_of(n)) for n in model.graph.node if n.op_type in _OPS]  # type: ignore[attr-defined]
    indices = [b for _, b in nodes if b is not None]
    if not indices:
        return []
    first = max(indices) + 1 - blocks
    return [name for name, b in nodes if b is not None and b >= first]


def quantize_int8(fp32_path: Path, out_path: Path, calibration: np.ndarray, input_name: str) -> int:
    """Write the int8 model; returns how many nodes were quantised (0: the graph has no ST-GCN
    name scopes, nothing to quantise, and the caller refuses). calibration: (N, C, T, V, M)."""
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
        nodes = late_block_nodes(onnx.load(str(prepared)))
        if not nodes:
            return 0
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
        )
    return len(nodes)
