"""Data-layer throughput, side by side in one run.

1. NTU ``.skeleton`` parsing: our block parser vs a plain line-by-line float parser.
2. ``prepare`` of NTU ``.skeleton`` files (parse + vcl-official pipeline): one worker vs all cores.

Prints clips/s and the ratios. Usage: ``python bench/prepare_throughput.py [--files 1000]``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import bench_parser, ratio, time_calls
from skeleton.prepare import prepare_dataset
from skeleton.readers.ntu import read_ntu_skeleton, write_ntu_skeleton
from skeleton.synthetic import synthetic_clip


def plain_ntu_parse(path: Path) -> np.ndarray:
    """The straightforward parser: float() per value, one body at a time."""
    lines = path.read_text().split()
    pos = 0
    frames = int(lines[pos])
    pos += 1
    out = []
    for _ in range(frames):
        bodies = int(lines[pos])
        pos += 1
        frame = []
        for _ in range(bodies):
            pos += 10
            joints = int(lines[pos])
            pos += 1
            body = []
            for _ in range(joints):
                body.append([float(lines[pos]), float(lines[pos + 1]), float(lines[pos + 2])])
                pos += 12
            frame.append(body)
        out.append(frame)
    return np.array(out[0])


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(20):
            clip = synthetic_clip(i)
            path = Path(tmp) / f"S001C001P001R001A{i + 1:03d}.skeleton"
            frames = [
                [(1, clip.joints[m, t]) for m in range(2) if clip.joints[m, t].any()]
                for t in range(clip.num_frames)
            ]
            write_ntu_skeleton(path, frames)
            files.append(path)
        ours = time_calls(lambda: [read_ntu_skeleton(p) for p in files], 5, warmup=0).mean() / len(files)
        plain = time_calls(lambda: [plain_ntu_parse(p) for p in files], 5, warmup=0).mean() / len(files)
        print(
            f"NTU parse   ours {1 / ours:8.1f} files/s   plain {1 / plain:8.1f} files/s   "
            f"ratio {ratio(plain, ours)}"
        )

        root = Path(tmp) / "ntu"
        root.mkdir()
        for i in range(args.files):
            (root / f"S001C001P{i % 40 + 1:03d}R{i // 40 + 1:03d}A001.skeleton").symlink_to(files[i % 20])
        cores = os.cpu_count() or 1
        results = {}
        for workers in (1, cores):
            start = time.perf_counter()
            prepare_dataset("ntu60", root, Path(tmp) / f"out{workers}", workers=workers, progress=False)
            results[workers] = args.files / (time.perf_counter() - start)
        print(
            f"prepare     1 worker {results[1]:8.1f} files/s   {cores} workers {results[cores]:8.1f} files/s "
            f"ratio {ratio(results[cores], results[1])}"
        )


if __name__ == "__main__":
    main()
