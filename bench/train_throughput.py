"""Pretraining-step throughput of one stream, with and without the allocator fix, side by side.

One VCL step = query encoder forward + backward, momentum-encoder forward, queue, AdamW update,
on two augmented views of a batch (B, 3, T, V, M). Each configuration runs in its own process
(the malloc settings are per process); the report gives clips/s, the FLOPs of a step per clip
(counted by torch.utils.flop_counter), the machine's measured float32 matmul rate and the
fraction of it the step achieves.

Usage: python bench/train_throughput.py [--batch 128] [--steps 4] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from harness import bench_parser, matmul_rate, ratio, time_calls


def child(args: argparse.Namespace) -> None:
    if args.malloc == "tuned":
        from train.allocator import tune_malloc

        assert tune_malloc(), "mallopt failed"
    import torch

    from skeleton.layouts import NTU
    from train.augment import augment
    from train.config import LossConfig
    from train.moco import MomentumContrast
    from train.model import build_encoders

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoders = build_encoders(NTU, ["joint"], "gaussian")
    method = MomentumContrast(encoders, NTU.parents, LossConfig(queue_size=32768))
    optimizer = torch.optim.AdamW(method.query.parameters(), lr=0.002, weight_decay=1e-4)
    x = torch.randn(args.batch, 3, 50, 25, 2)

    def step() -> None:
        view_q, view_k = augment(x, 6, 0.5), augment(x, 6, 0.5)
        loss = method(view_q, view_k, kl_weight=1.0)["joint"]["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops_per_clip = counter.get_total_flops() / args.batch
    seconds = float(time_calls(step, args.steps).mean())
    matmul = matmul_rate()
    print(
        json.dumps(
            {
                "clips_per_s": args.batch / seconds,
                "step_s": seconds,
                "flops_per_clip": flops_per_clip,
                "matmul_flops": matmul,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--malloc", choices=["default", "tuned"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.malloc:
        child(args)
        return
    results = {}
    for mode in ("default", "tuned"):
        env = dict(os.environ, VCL_MALLOC_TUNING="1" if mode == "tuned" else "0")
        cmd = [
            sys.executable,
            __file__,
            "--malloc",
            mode,
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
        ]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    base, tuned = results["default"], results["tuned"]
    print(f"VCL pretraining step, one stream, B={args.batch}, T=50, V=25, M=2, {base['threads']} threads")
    print(f"FLOPs per clip (fwd+bwd query, fwd key): {base['flops_per_clip'] / 1e9:.2f} GFLOP")
    print(f"measured float32 matmul rate: {base['matmul_flops'] / 1e9:.1f} GFLOP/s")
    for mode, r in results.items():
        achieved = r["clips_per_s"] * r["flops_per_clip"]
        print(
            f"  malloc {mode:7s}: {r['clips_per_s']:7.2f} clips/s  ({r['step_s']:.2f} s/step)  "
            f"{achieved / 1e9:6.1f} GFLOP/s = {achieved / r['matmul_flops']:.1%} of matmul rate"
        )
    print(f"allocator fix speed-up: {ratio(tuned['clips_per_s'], base['clips_per_s'])}")


if __name__ == "__main__":
    main()
