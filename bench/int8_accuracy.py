"""int8 against fp32 on a real dataset: fused top-1 of both exports of one classified model.

A pretrained checkpoint gets a linear probe per stream on the train part of a prepared dataset
(``train.probe.linear_probe_layer``, the classifier folded onto the raw pooled features), is
exported with its int8 variant (``vcl export --precision int8``: calibrated on training clips
after the parity fixture), and both ONNX graphs classify the test part through ONNX Runtime.
Printed: top-1 of fp32 and int8, their difference in points, the fused-argmax agreement and the
ratio of their speed on the test clips at batch 32 (alternated calls).

Usage: python bench/int8_accuracy.py CHECKPOINT DATA [--split xsub] [--out models/int8_check]
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from harness import bench_parser


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--split", default="xsub")
    parser.add_argument("--out", type=Path, default=Path("models/int8_check"))
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch

    from export.onnx_export import export_checkpoint
    from runtime.model import OnnxModel
    from skeleton.prepared import PreparedDataset
    from train.probe import save_probed_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = PreparedDataset(args.data)
    train_idx, test_idx = dataset.split(args.split, "train"), dataset.split(args.split, "test")
    classified = args.out.with_name(args.out.name + "_checkpoint")
    shutil.rmtree(classified, ignore_errors=True)
    save_probed_checkpoint(args.checkpoint, args.data, classified, rows=train_idx, epochs=300)
    joints = np.asarray(dataset.joints, dtype=np.float32)
    export_checkpoint(classified, args.out, ("int8",), 32, args.data, overwrite=True, lossy_int8=True)

    x, y = joints[test_idx], dataset.labels[test_idx]
    engines = {
        p: OnnxModel(args.out, precision=p, threads=args.threads, spin=False) for p in ("fp32", "int8")
    }
    preds, seconds = {}, {p: 0.0 for p in engines}
    for p in engines:
        preds[p] = np.concatenate(
            [engines[p].run(x[i : i + 32])["fused_logits"].argmax(1) for i in range(0, len(x), 32)]
        )
    for _ in range(3):  # timing: the two engines alternated batch by batch
        for i in range(0, len(x), 32):
            for p, engine in engines.items():
                start = time.perf_counter()
                engine.run(x[i : i + 32])
                seconds[p] += time.perf_counter() - start
    top1 = {p: float((preds[p] == y).mean()) for p in engines}
    parts = f"{args.split}: {len(train_idx)} train, {len(x)} test clips"
    print(f"{args.checkpoint} probed on {args.data} ({parts})")
    for p in engines:
        print(f"  {p}: fused top-1 {top1[p]:.1%}  ({3 * len(x) / seconds[p]:.1f} clips/s at batch 32)")
    print(
        f"  int8 - fp32: {100 * (top1['int8'] - top1['fp32']):+.1f} points; fused argmax agreement "
        f"{(preds['int8'] == preds['fp32']).mean():.1%}; speed {seconds['fp32'] / seconds['int8']:.2f}x fp32"
    )


if __name__ == "__main__":
    main()
