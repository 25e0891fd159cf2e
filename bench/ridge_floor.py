"""The floor a learned encoder must beat: a ridge classifier on raw preprocessed coordinates.

Writes a result JSON that ``vcl report`` reads beside the ``vcl eval`` results. With
``--per-class K`` the ridge sees only K labelled clips of every class (the draw ``vcl eval
--per-class`` makes, one per seed): the label-efficiency reference of bench/linear_per_class.sh.
Usage: python bench/ridge_floor.py DATA_DIR --out RESULT.json [--split xsub] [--alpha 100]
       [--per-class K --seeds 0 1 2 3 4]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness import bench_parser
from skeleton.prepared import PreparedDataset
from train.semi import per_class_subset
from vcl.demo import ridge_accuracy


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="xsub")
    parser.add_argument("--alpha", type=float, default=100.0)
    parser.add_argument("--per-class", type=int, default=0, help="labelled clips per class (0: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="draws of the labelled clips")
    args = parser.parse_args()
    if args.per_class < 0:
        parser.error(f"--per-class: labelled clips per class must be >= 0 (0: all), got {args.per_class}")
    dataset = PreparedDataset(args.data)
    train, test = dataset.split(args.split, "train"), dataset.split(args.split, "test")
    x = np.asarray(dataset.joints[:, :, ::2, :, 0]).reshape(len(dataset), -1)  # person 0, 25 frames
    num_classes = dataset.manifest["num_classes"]
    y_train = dataset.labels[train]
    seeds: list[dict[str, Any]] = []
    for seed in args.seeds if args.per_class else [0]:
        rows = np.arange(len(train))
        if args.per_class:  # the same draw as vcl eval --per-class
            rows = per_class_subset(y_train, args.per_class, seed)
        top1 = ridge_accuracy(
            x[train][rows], y_train[rows], x[test], dataset.labels[test], num_classes, args.alpha
        )
        seeds.append({"seed": seed, "fused": {"top1": top1}})
    values = [r["fused"]["top1"] for r in seeds]
    top1 = float(np.mean(values))
    result = {
        "protocol": "ridge",
        "method": "ridge",
        "config": {
            "protocol": "ridge",
            "data": str(args.data),
            "split": args.split,
            "alpha": args.alpha,
            "per_class": args.per_class,
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
            "seeds": seeds,
            "summary": {"fused": {"top1_mean": top1, "top1_std": float(np.std(values))}},
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{dataset.manifest['dataset']} {args.split}: ridge top-1 {top1:.1%} -> {args.out}")


if __name__ == "__main__":
    main()
