"""Inference of the three-stream model, plain vs optimised exports side by side in one run.

Exports a three-stream model (the imported official NTU-60 one when ../shared/data is there, else
a freshly initialised one of the same architecture) three times: as trained (``--no-fold-bn
--no-skip-absent``, fp32: the plain export of earlier versions), folded but running every person
slot (``--no-skip-absent``), and as ``vcl export`` writes it by default (BatchNorms folded, graph
convolutions as one GEMM, absent persons skipped; fp32 and the static int8 variant, which ``vcl
serve`` runs by default on a CPU where its export guard passed: ``runtime.model.auto_precision``,
the line "served by default" says which). Times these
four in ONNX Runtime and PyTorch eager, calls alternated engine by engine on the same inputs, at
each batch size and for two kinds of clip: two persons present, and one (the second slot all
zeros, as the pipelines pad a clip of one person: most NTU-60 actions and most pose-estimator
clips): clips/s, latency p50/p99 (medians over ``--repeats`` rounds), the ratio to the plain
export and the share of the machine's measured float32 matmul rate (the FLOPs of two persons).
The sessions do not spin (``OnnxModel(spin=False)``, as the server runs them), so that one's idle
threads cannot slow the next one's call. With the official model it also prints the fused
predictions of the five NTU reference clips per engine.

Usage: python bench/inference.py [--repeats 10] [--threads 0] [--batches 1 32]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness import bench_parser, matmul_rate, random_checkpoint, ratio


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--no-pytorch", action="store_true", help="skip PyTorch eager")
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
        plain_dir, every_dir, folded_dir = Path(tmp) / "plain", Path(tmp) / "every", Path(tmp) / "folded"
        export_checkpoint(checkpoint, plain_dir, max_batch=8, fold_bn=False, skip_absent=False)
        export_checkpoint(checkpoint, every_dir, max_batch=8, skip_absent=False)
        # int8 measured whatever its agreement (the guard's figure is printed below)
        manifest = export_checkpoint(
            checkpoint, folded_dir, precisions=("int8",), max_batch=8, lossy_int8=True
        )
        engines = {
            # no spinning (the server's setting): alternated, a spinning session's idle threads
            # would take the cores of the next session's call (1.45-1.58x slower, docs/server.md)
            "ort plain": OnnxModel(plain_dir, threads=args.threads, spin=False),
            "ort folded all": OnnxModel(every_dir, threads=args.threads, spin=False),
            "ort folded": OnnxModel(folded_dir, threads=args.threads, spin=False),
            "ort int8": OnnxModel(folded_dir, precision="int8", threads=args.threads, spin=False),
        }
        model, _ = load_checkpoint(checkpoint)
        graph = ExportGraph(model).eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            graph(torch.zeros(1, 3, 50, 25, 2))
        flops_per_clip = counter.get_total_flops()
        matmul = matmul_rate()
        print(
            f"{source}, three streams, T=50, V=25, M=2; providers {engines['ort plain'].providers}; "
            f"{torch.get_num_threads()} torch threads"
        )
        print(
            f"forward FLOPs per clip: {flops_per_clip / 1e9:.2f} GFLOP; measured matmul rate "
            f"{matmul / 1e9:.0f} GFLOP/s"
        )
        delta = manifest["variants"]["int8"]["accuracy_delta_vs_fp32"]
        print(
            f"int8 vs fp32 on {manifest['parity']['gallery_size']} fixture clips: fused argmax agreement "
            f"{delta.get('fused_argmax_agreement', float('nan')):.1%}, embedding cosine >= "
            f"{delta['embedding_min_cosine']:.4f}"
        )
        guard = manifest["variants"]["int8"]["guard"]
        print(
            f"int8 guard: {guard['reason']} (passed: {guard['passed']}); served by default: "
            f"{OnnxModel(folded_dir, precision='auto').precision}"
        )
        if shared.is_dir():
            with np.load(shared / "reference.npz") as ref:
                clips, want = ref["inputs_joint"].astype(np.float32), ref["pred_fused"].tolist()
            for name, engine in engines.items():
                got = engine.run(clips)["fused_logits"].argmax(1).tolist()
                print(
                    f"reference clips, {name}: fused predictions {got} (authors' {want}, same: {got == want})"
                )

        def pytorch(x: np.ndarray) -> None:
            with torch.no_grad():
                graph(torch.from_numpy(x))

        calls: dict[str, Callable[[np.ndarray], object]] = {n: e.run for n, e in engines.items()}
        if not args.no_pytorch:
            calls["pytorch eager"] = pytorch
        rng = np.random.default_rng(0)
        print(
            f"{'batch':>5} | {'persons':>7} | {'engine':>14} | {'clips/s':>8} | {'p50 ms':>8} | "
            f"{'p99 ms':>8} | {'vs plain':>8} | {'of peak':>7}"
        )
        for batch, persons in ((b, p) for b in args.batches for p in (2, 1)):
            x = rng.normal(0, 0.2, (batch, 3, 50, 25, 2)).astype(np.float32)
            x[..., persons:] = 0  # one person: the second slot padded with zeros
            times: dict[str, list[float]] = {name: [] for name in calls}
            for call in calls.values():  # warm-up
                call(x)
            for _ in range(args.repeats):  # alternated, so that load from elsewhere hits all alike
                for name, call in calls.items():
                    start = time.perf_counter()
                    call(x)
                    times[name].append(time.perf_counter() - start)
            plain_rate = batch / float(np.median(times["ort plain"]))
            for name, seconds in times.items():
                ms = 1000 * np.array(seconds)
                rate = batch / float(np.median(seconds))
                print(
                    f"{batch:>5} | {persons:>7} | {name:>14} | {rate:8.1f} | {np.percentile(ms, 50):8.1f} | "
                    f"{np.percentile(ms, 99):8.1f} | {ratio(rate, plain_rate):>8} | "
                    f"{rate * flops_per_clip / matmul:6.1%}"
                )


if __name__ == "__main__":
    main()
