"""Inference of the three-stream model: ONNX Runtime vs PyTorch eager, side by side in one run.

Exports a three-stream model (the imported official NTU-60 one when ../shared/data is there, else
a freshly initialised one of the same architecture), then times both engines on the same inputs at
batch 1, 8, 32 and 128: clips/s, latency p50/p99, and the fraction of the machine's measured
float32 matmul rate that the model's FLOPs reach.

Usage: python bench/inference.py [--repeats 10] [--threads 0]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from harness import bench_parser, matmul_rate, random_checkpoint, ratio, time_calls


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    args = parser.parse_args()
    from train.allocator import tune_malloc

    tune_malloc()
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from export.graph import ExportGraph
    from export.onnx_export import export_checkpoint
    from runtime.model import OnnxModel
    from train.checkpoint import load_checkpoint
    from train.official import import_official

    if args.threads:
        torch.set_num_threads(args.threads)
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "vcl_official"
    with tempfile.TemporaryDirectory() as tmp:
        if shared.is_dir():
            paths = {s: shared / f"ntu60_xsub_{s}_linear.pt" for s in ("joint", "bone", "motion")}
            checkpoint = import_official(paths, Path(tmp) / "ckpt")
            source = "the official NTU-60 model"
        else:  # the same architecture with random weights: timing does not depend on the values
            from skeleton.classes import NTU60_CLASSES

            checkpoint = random_checkpoint(Path(tmp) / "ckpt", "none", NTU60_CLASSES)
            source = "a randomly initialised three-stream model"
        model_dir = Path(tmp) / "onnx"
        export_checkpoint(checkpoint, model_dir, precisions=("int8",), max_batch=8)
        runtime = OnnxModel(model_dir, threads=args.threads)
        runtime_int8 = OnnxModel(model_dir, precision="int8", threads=args.threads)
        model, _ = load_checkpoint(checkpoint)
        graph = ExportGraph(model).eval()
        rng = np.random.default_rng(0)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            graph(torch.zeros(1, 3, 50, 25, 2))
        flops_per_clip = counter.get_total_flops()
        matmul = matmul_rate()
        print(
            f"{source}, three streams, T=50, V=25, M=2; providers {runtime.providers}; "
            f"{torch.get_num_threads()} torch threads"
        )
        print(
            f"forward FLOPs per clip: {flops_per_clip / 1e9:.2f} GFLOP; measured matmul rate "
            f"{matmul / 1e9:.0f} GFLOP/s"
        )
        print(
            f"{'batch':>5} | {'engine':>12} | {'clips/s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | {'of peak':>7}"
        )
        for batch in args.batches:
            x = rng.normal(0, 0.2, (batch, 3, 50, 25, 2)).astype(np.float32)
            rates = {}
            for engine in ("onnxruntime", "ort-int8", "pytorch"):

                def run(engine: str = engine, x: np.ndarray = x) -> None:
                    if engine == "onnxruntime":
                        runtime.run(x)
                    elif engine == "ort-int8":
                        runtime_int8.run(x)
                    else:
                        with torch.no_grad():
                            graph(torch.from_numpy(x))

                times = time_calls(run, args.repeats)
                times_ms = 1000 * times
                rate = batch / np.median(times)
                rates[engine] = rate
                print(
                    f"{batch:>5} | {engine:>12} | {rate:8.1f} | {np.percentile(times_ms, 50):8.1f} | "
                    f"{np.percentile(times_ms, 99):8.1f} | {rate * flops_per_clip / matmul:6.1%}"
                )
            print(
                f"{batch:>5} | {'ORT/PyTorch':>12} | {ratio(rates['onnxruntime'], rates['pytorch']):>8} | "
                f"int8/PyTorch {ratio(rates['ort-int8'], rates['pytorch'])}"
            )


if __name__ == "__main__":
    main()
