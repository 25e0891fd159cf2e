"""Pretraining-step throughput, plain vs optimised side by side: clips/s, ratios and peak RSS.

One VCL step = query encoder forward + backward, momentum-encoder forward, queue, AdamW update,
on two augmented views of a batch (B, 3, T, V, M), for one stream or all three. Variants, each
in its own process (malloc settings are per process, and so is the peak RSS, read from
``getrusage``):

- ``plain``: float32, glibc's default malloc (today's code without any of the fixes);
- ``malloc``: float32 with the allocator fix (``train.allocator``);
- ``bf16``: the allocator fix and bf16 autocast of the encoders (``train.precision``) — what
  ``vcl train`` runs on a CPU with native bf16 (``run.precision: auto``);
- ``bf16-conv-first``: ``bf16`` with the graph convolutions in their original order (1x1 conv,
  then the graph matmul; ``run.graph_aggregate_first: false``), as ``plain`` and ``malloc`` run
  them; ``bf16`` aggregates first (``train.stgcn.GraphConv``, the default);
- ``bf16-rand-mask``: ``bf16`` with dropout masks drawn as one ``torch.rand`` float per entry (the
  code before ``train.stgcn.keep_mask``), as ``plain``, ``malloc`` and ``bf16-conv-first`` draw
  them; ``bf16`` takes 16 random bits per entry from 64-bit draws;
- ``compile`` (with ``--compile``): ``bf16`` with every encoder wrapped in ``torch.compile``,
  compile time excluded from the step time and reported apart.

The processes run in ``--rounds`` rounds, variants alternated within each, so that load from
elsewhere hits all alike; the report gives medians over rounds and the ratio to ``plain``, plus
the FLOPs of a step per clip (torch.utils.flop_counter) against the machine's float32 matmul rate.

Usage: python bench/train_throughput.py [--batch 128] [--steps 3] [--rounds 2] [--streams joint]
       [--compile] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

from harness import bench_parser, matmul_rate, ratio

if TYPE_CHECKING:
    import torch

VARIANTS = ("plain", "malloc", "bf16-conv-first", "bf16-rand-mask", "bf16")
NEW_MASK = ("bf16", "compile")  # the others draw dropout masks as the code before keep_mask did


def rand_keep_mask(shape: torch.Size, p: float, device: torch.device | None = None) -> torch.Tensor:
    """The dropout keep-mask as drawn before ``train.stgcn.keep_mask``: one uniform float per entry."""
    import torch

    return torch.rand(shape, device=device) >= p


def child(args: argparse.Namespace) -> None:
    if args.variant != "plain":
        from train.allocator import tune_malloc

        assert tune_malloc(), "mallopt failed"
    import torch

    import train.stgcn
    from skeleton.layouts import NTU
    from train.augment import augment
    from train.config import LossConfig
    from train.moco import MomentumContrast
    from train.model import build_encoders
    from train.stgcn import set_aggregate_first

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoders = build_encoders(NTU, args.streams, "gaussian")
    method = MomentumContrast(encoders, NTU.parents, LossConfig(queue_size=32768))
    if args.variant in ("bf16", "bf16-conv-first", "bf16-rand-mask", "compile"):
        method.compute_dtype = torch.bfloat16
    set_aggregate_first(method, args.variant in ("bf16", "bf16-rand-mask", "compile"))
    if args.variant not in NEW_MASK:
        train.stgcn.keep_mask = rand_keep_mask
    optimizer = torch.optim.AdamW(method.query.parameters(), lr=0.002, weight_decay=1e-4)
    x = torch.randn(args.batch, 3, 50, 25, 2)
    if args.variant == "compile":
        for stream in args.streams:
            method.query[stream] = torch.compile(method.query[stream])  # type: ignore[assignment]
            method.key[stream] = torch.compile(method.key[stream])  # type: ignore[assignment]

    def step() -> float:
        view_q, view_k = augment(x, 6, 0.5), augment(x, 6, 0.5)
        results = method(view_q, view_k, kl_weight=1.0)
        loss = torch.stack([r["loss"] for r in results.values()]).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    flops_per_clip = 0.0
    start = time.perf_counter()
    if args.variant == "plain":
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            step()
        flops_per_clip = counter.get_total_flops() / args.batch
    else:
        step()  # warm-up (and compilation)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "step_s": float(np.median(times)),
                "first_step_s": compile_s,
                "flops_per_clip": flops_per_clip,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process (median)")
    parser.add_argument("--rounds", type=int, default=2, help="processes per variant, alternated")
    parser.add_argument("--streams", nargs="+", default=["joint"], choices=["joint", "bone", "motion"])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (bf16)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    variants = [*VARIANTS, "compile"] if args.compile else list(VARIANTS)
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            env = dict(os.environ, VCL_MALLOC_TUNING="0" if variant == "plain" else "1")
            cmd = [sys.executable, __file__, "--variant", variant, "--batch", str(args.batch)]
            cmd += ["--steps", str(args.steps), "--threads", str(args.threads), "--streams", *args.streams]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            runs[variant].append(json.loads(out.strip().splitlines()[-1]))
    flops = runs["plain"][0]["flops_per_clip"]
    matmul = matmul_rate()
    print(
        f"VCL pretraining step, {len(args.streams)} stream(s) ({', '.join(args.streams)}), B={args.batch}, "
        f"K=32768, T=50, V=25, M=2, {runs['plain'][0]['threads']} threads; {args.rounds} rounds x "
        f"{args.steps} steps"
    )
    print(f"FLOPs per clip (fwd+bwd query, fwd key): {flops / 1e9:.2f} GFLOP")
    print(f"measured float32 matmul rate: {matmul / 1e9:.1f} GFLOP/s")
    base = float(np.median([r["step_s"] for r in runs["plain"]]))
    for variant, results in runs.items():
        step_s = float(np.median([r["step_s"] for r in results]))
        rss = max(r["peak_rss_gb"] for r in results)
        achieved = args.batch * flops / step_s
        first = float(np.median([r["first_step_s"] for r in results]))
        extra = f"  first step {first:.1f} s" if variant == "compile" else ""
        print(
            f"  {variant:14s}: {args.batch / step_s:7.2f} clips/s ({step_s:.2f} s/step)  "
            f"{ratio(base, step_s):>6} of plain  peak RSS {rss:.2f} GB  {achieved / 1e9:6.1f} GFLOP/s = "
            f"{achieved / matmul:.0%} of fp32 matmul{extra}"
        )


if __name__ == "__main__":
    main()
