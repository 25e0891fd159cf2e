"""ONNX Runtime's sequential vs parallel execution mode on an exported model, side by side.

The three streams are independent subgraphs, so ``ExecutionMode.ORT_PARALLEL`` could run them at
once (inter-op threads) instead of one after another with every node split over the intra-op
threads (what ``runtime.model.OnnxModel`` does). Times, alternated call by call on the same
random two-person clips, for each graph of the model (fp32 and int8 when exported): sequential
with 2 intra-op threads (the runtime's setting on this machine), parallel with 1 x 2 and 2 x 2
(intra x inter) threads; prints the median per call and the ratio to sequential. No spinning,
as the server runs. Measured in docs/export.md.

Usage: python bench/ort_execution.py MODEL_DIR [--repeats 6] [--batches 1 32]
"""

from __future__ import annotations

import json
from functools import partial

import numpy as np

from harness import alternated_medians, model_parser, ort_session, ratio

CONFIGS = {"sequential 2x1": ("seq", 2, 1), "parallel 1x2": ("par", 1, 2), "parallel 2x2": ("par", 2, 2)}


def main() -> None:
    args = model_parser(__doc__, repeats=6).parse_args()
    manifest = json.loads((args.model / "manifest.json").read_text())
    shape = manifest["input"]["shape"][1:]  # (C, T, V, M)
    rng = np.random.default_rng(0)
    for graph in sorted(p.name for p in args.model.glob("*.onnx")):
        sessions = {
            name: ort_session(args.model / graph, intra, inter, mode == "par")
            for name, (mode, intra, inter) in CONFIGS.items()
        }
        input_name = sessions["sequential 2x1"].get_inputs()[0].name
        for batch in args.batches:
            x = (0.3 * rng.standard_normal((batch, *shape))).astype(np.float32)
            outputs = [s.run(None, {input_name: x}) for s in sessions.values()]
            for other in outputs[1:]:  # the same numbers, whichever mode runs them
                assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(outputs[0], other, strict=True))
            feed = {input_name: x}
            medians = alternated_medians(
                {n: partial(s.run, None, feed) for n, s in sessions.items()}, args.repeats
            )
            base = medians["sequential 2x1"]
            cells = [f"{name} {1e3 * t:.1f} ms ({ratio(base, t)})" for name, t in medians.items()]
            print(f"{graph} B={batch}: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
