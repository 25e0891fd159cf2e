"""Three stream encoders as three graphs vs one grouped computation, in ONNX Runtime, side by side.

The route issue 14 names for inference: the joint, bone and motion ST-GCNs run as one network
whose convolutions have ``groups=3`` (the three streams' weights concatenated) and whose graph
aggregation is one batched matmul over (stream, partition), instead of three passes. This bench
builds the grouped network from three eval-mode ``train.stgcn.STGCN`` backbones (random weights,
randomised BatchNorm statistics), checks that it computes the same pooled features (max abs
difference printed), exports both to ONNX and times them alternately in one process at each
batch size, with the server's session settings (``ORT_ENABLE_ALL``, no spinning). It times the
backbones only (the heads and fusion are <1% of the FLOPs).

Usage: python bench/grouped_streams.py [--batches 1 32] [--repeats 20] [--threads 2]
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np

from harness import alternated_medians, bench_parser, ratio

STREAMS = ("joint", "bone", "motion")
SHAPE = (3, 50, 25, 2)  # (C, T, V, M) of the NTU-60 model


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from torch import nn

    from skeleton.graph import spatial_partition
    from skeleton.layouts import NTU
    from train.stgcn import STGCN

    torch.manual_seed(0)
    adjacency = spatial_partition(NTU)
    backbones: list[Any] = [STGCN(adjacency).eval() for _ in STREAMS]
    for b in backbones:  # trained-looking BatchNorm statistics and edge importances
        for mod in b.modules():
            if isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
                mod = cast(Any, mod)
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.uniform_(-0.2, 0.2)
        for p in b.edge_importance:
            p.data.uniform_(0.5, 1.5)

    class Separate(nn.Module):
        """Three passes: streams (3 * C) stacked on the channel axis in, (N, 3 * 256) out."""

        def __init__(self) -> None:
            super().__init__()
            self.backbones = nn.ModuleList(backbones)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            parts = x.chunk(3, dim=1)
            return torch.cat([b(p) for b, p in zip(self.backbones, parts, strict=True)], dim=1)

    def grouped_conv(convs: list[Any]) -> nn.Conv2d:
        c = convs[0]
        out = nn.Conv2d(
            3 * c.in_channels,
            3 * c.out_channels,
            c.kernel_size,
            c.stride,
            c.padding,
            groups=3,
        )
        out.weight.data = torch.cat([k.weight.data for k in convs])
        cast(Any, out.bias).data = torch.cat([k.bias.data for k in convs])
        return out

    def grouped_norm(norms: list[Any]) -> nn.BatchNorm2d:
        out = nn.BatchNorm2d(3 * norms[0].num_features).eval()
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(out, name).data = torch.cat([getattr(n, name).data for n in norms])
        return out

    class GroupedBlock(nn.Module):
        def __init__(self, blocks: list[Any]) -> None:
            super().__init__()
            first = blocks[0]
            self.k = first.gcn.num_partitions
            self.gcn = grouped_conv([b.gcn.conv for b in blocks])
            self.norm1 = grouped_norm([b.tcn[0] for b in blocks])
            self.tconv = grouped_conv([b.tcn[2] for b in blocks])
            self.norm2 = grouped_norm([b.tcn[3] for b in blocks])
            self.kind = first.residual_kind
            if self.kind == "conv":
                self.res_conv = grouped_conv([b.residual[0] for b in blocks])
                self.res_norm = grouped_norm([b.residual[1] for b in blocks])

        def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
            n, _, t, v = x.shape
            y = self.gcn(x).view(n, 3, self.k, -1, v)  # (N, S, K, C_out * T, V)
            y = torch.matmul(y, adjacency.unsqueeze(0)).sum(dim=2).view(n, -1, t, v)  # A: (S, K, V, V)
            out = self.norm2(self.tconv(torch.relu(self.norm1(y))))
            if self.kind == "identity":
                out = out + x
            elif self.kind == "conv":
                out = out + self.res_norm(self.res_conv(x))
            return torch.relu(out)

    class Grouped(nn.Module):
        """One pass: the three streams' blocks as grouped convolutions."""

        def __init__(self) -> None:
            super().__init__()
            self.data_bns = nn.ModuleList([b.data_bn for b in backbones])
            self.blocks = nn.ModuleList(
                [
                    GroupedBlock([b.st_gcn_networks[i] for b in backbones])
                    for i in range(len(backbones[0].st_gcn_networks))
                ]
            )
            adjacency = torch.stack(
                [torch.stack([b.A * imp for imp in b.edge_importance]) for b in backbones], dim=1
            )  # (blocks, S, K, V, V)
            self.adjacency: torch.Tensor
            self.register_buffer("adjacency", adjacency.detach())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, _, t, v, m = x.shape
            parts = []
            for bn, p in zip(self.data_bns, x.chunk(3, dim=1), strict=True):
                c = p.shape[1]
                p = bn(p.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
                parts.append(p.view(n * m, v, c, t).permute(0, 2, 3, 1))
            y = torch.cat(parts, dim=1)
            for i, block in enumerate(self.blocks):
                y = block(y, self.adjacency[i])
            return y.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)

    models = {"three passes": Separate().eval(), "grouped": Grouped().eval()}
    c, t, v, m = SHAPE
    probe = torch.randn(4, 3 * c, t, v, m)
    with torch.no_grad():
        diff = (models["three passes"](probe) - models["grouped"](probe)).abs().max().item()
    print(f"max |three passes - grouped| over the pooled features: {diff:.2e}")

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            path = Path(tmp) / f"{name.replace(' ', '_')}.onnx"
            torch.onnx.export(
                model,
                (probe,),
                str(path),
                input_names=["x"],
                output_names=["features"],
                dynamic_axes={"x": {0: "batch"}},
                dynamo=False,
            )
            sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    print("| batch | engine | p50 ms | clips/s | vs three passes |")
    print("| --- | --- | --- | --- | --- |")
    for batch in args.batches:
        x = np.random.default_rng(0).standard_normal((batch, 3 * c, t, v, m)).astype(np.float32)
        medians = alternated_medians(
            {n: partial(s.run, None, {"x": x}) for n, s in sessions.items()}, args.repeats
        )
        base = medians["three passes"]
        for name, p50 in medians.items():
            print(f"| {batch} | {name} | {1e3 * p50:.1f} | {batch / p50:.1f} | {ratio(base, p50)} |")


if __name__ == "__main__":
    main()
