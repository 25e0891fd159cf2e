"""The int8 variant's layout and extent, side by side: channels-first vs channels-last blocks.

From one exported model (``vcl export`` output holding ``model.onnx`` and ``model.int8.onnx``),
quantises the fp32 graph again as earlier versions did (its channels-first blocks: ONNX Runtime
wraps every integer convolution in a pair of Transposes) with the last 3 and the last 6 blocks,
next to the exported variant (the last ``export.quantize.INT8_BLOCKS`` blocks channels-last,
``export.fold``). Prints each graph's fused-argmax agreement with fp32 on the fixture's held-out
clips, its count of Transpose nodes after ONNX Runtime's optimisation, and its time per call on
random two-person clips, the graphs alternated call by call (server session settings: 2 threads,
no spinning), with the ratio to the 3-block channels-first graph. Measured in docs/export.md.

Usage: python bench/int8_layout.py MODEL_DIR [--repeats 8] [--batches 1 32]
"""

from __future__ import annotations

import json
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from harness import alternated_medians, model_parser, ort_session, ratio


def main() -> None:
    args = model_parser(__doc__, repeats=8).parse_args()

    from export.onnx_export import CALIBRATION_CLIPS, fixture_joints
    from export.quantize import INT8_BLOCKS, quantize_int8

    manifest = json.loads((args.model / "manifest.json").read_text())
    meta = {"pipeline": manifest["pipeline"], "layout": manifest["layout"]}
    parity = max(int(b) for b in manifest["parity"]["batches"])
    clips, _, _ = fixture_joints(meta, max(parity, 32) + CALIBRATION_CLIPS + 256)
    first = max(parity, 32)
    calibration, held_out = clips[first : first + CALIBRATION_CLIPS], clips[first + CALIBRATION_CLIPS :]
    with tempfile.TemporaryDirectory() as tmp:
        graphs = {}
        for blocks in (3, 6):
            path = Path(tmp) / f"first_{blocks}.onnx"
            quantize_int8(args.model / "model.onnx", path, calibration, "joints", blocks=blocks)
            graphs[f"channels-first, {blocks} blocks"] = path
        graphs[f"channels-last, {INT8_BLOCKS} blocks (exported)"] = args.model / "model.int8.onnx"
        fp32 = ort_session(args.model / "model.onnx")
        optimized = {name: Path(tmp) / f"{i}.opt.onnx" for i, name in enumerate(graphs)}
        sessions = {name: ort_session(p, optimized=optimized[name]) for name, p in graphs.items()}

        def fused(s: Any) -> np.ndarray:
            return np.concatenate(
                [
                    s.run(["fused_logits"], {"joints": held_out[i : i + 32]})[0]
                    for i in range(0, len(held_out), 32)
                ]
            ).argmax(1)

        reference = fused(fp32)
        for name, s in sessions.items():
            nodes = onnx.load(str(optimized[name])).graph.node
            transposes = sum(n.op_type == "Transpose" for n in nodes)
            agreement = float((fused(s) == reference).mean())
            print(
                f"{name}: fused argmax agreement {agreement:.1%} on {len(held_out)} clips, "
                f"{transposes} Transposes"
            )
        shape = manifest["input"]["shape"][1:]
        rng = np.random.default_rng(0)
        outputs = ["fused_logits", "embedding"]
        for batch in args.batches:
            x = (0.3 * rng.standard_normal((batch, *shape))).astype(np.float32)  # both person slots filled
            feed = {"joints": x}
            medians = alternated_medians(
                {n: partial(s.run, outputs, feed) for n, s in sessions.items()}, args.repeats
            )
            base = next(iter(medians.values()))
            cells = [f"{name} {1e3 * t:.1f} ms ({ratio(base, t)})" for name, t in medians.items()]
            print(f"B={batch}: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
