"""Fuse per-stream test logits saved by ``vcl eval`` (``*.logits.npz``), e.g. from one run per
stream. Usage: python bench/fuse_streams.py RESULT.logits.npz [...] [--weights 0.6 0.6 0.4]
Prints top-1 of each stream and of the fusion sum_s w_s * logits_s, per seed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

STREAMS = ("joint", "bone", "motion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--weights", type=float, nargs=3, default=[0.6, 0.6, 0.4])
    args = parser.parse_args()
    logits: dict[tuple[str, str], np.ndarray] = {}
    labels = None
    for f in args.files:
        with np.load(f) as data:
            if labels is not None and not np.array_equal(labels, data["labels"]):
                raise SystemExit(f"{f}: test labels differ from the first file's")
            labels = data["labels"]
            for key in data.files:
                if key != "labels":
                    stream, seed = key.rsplit("_", 1)
                    logits[(stream, seed)] = data[key]
    assert labels is not None
    weights = dict(zip(STREAMS, args.weights, strict=True))
    out = {}
    for seed in sorted({seed for _, seed in logits}):
        row = {
            s: float((logits[(s, seed)].argmax(1) == labels).mean()) for s in STREAMS if (s, seed) in logits
        }
        fused = sum(weights[s] * logits[(s, seed)] for s in STREAMS if (s, seed) in logits)
        row["fused"] = float((np.asarray(fused).argmax(1) == labels).mean())
        out[seed] = row
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
