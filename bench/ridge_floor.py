"""The floor a learned encoder must beat: a ridge classifier on raw preprocessed coordinates.

Writes a result JSON that ``vcl report`` reads beside the ``vcl eval`` results.
Usage: python bench/ridge_floor.py DATA_DIR --out RESULT.json [--split xsub] [--alpha 100]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness import bench_parser
from skeleton.prepared import PreparedDataset
from vcl.demo import ridge_accuracy


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="xsub")
    parser.add_argument("--alpha", type=float, default=100.0)
    args = parser.parse_args()
    dataset = PreparedDataset(args.data)
    train, test = dataset.split(args.split, "train"), dataset.split(args.split, "test")
    x = np.asarray(dataset.joints[:, :, ::2, :, 0]).reshape(len(dataset), -1)  # person 0, 25 frames
    num_classes = dataset.manifest["num_classes"]
    top1 = ridge_accuracy(
        x[train], dataset.labels[train], x[test], dataset.labels[test], num_classes, args.alpha
    )
    result = {
        "protocol": "ridge",
        "method": "ridge",
        "config": {
            "protocol": "ridge",
            "data": str(args.data),
            "split": args.split,
            "alpha": args.alpha,
            "features": "person 0 joints, every 2nd of 50 preprocessed frames, standardised",
        },
        "dataset": {
            "path": str(args.data),
            "dataset": dataset.manifest["dataset"],
            "content_sha256": dataset.manifest["content_sha256"],
            "num_classes": num_classes,
            "train": len(train),
            "test": len(test),
        },
        "checkpoint": None,
        "metrics": {
            "seeds": [{"seed": 0, "fused": {"top1": top1}}],
            "summary": {"fused": {"top1_mean": top1, "top1_std": 0.0}},
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{dataset.manifest['dataset']} {args.split}: ridge top-1 {top1:.1%} -> {args.out}")


if __name__ == "__main__":
    main()
