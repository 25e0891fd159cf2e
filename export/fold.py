"""Eval-only rewrite of an ST-GCN backbone for export: every BatchNorm folded into the convolution
before it, and the spatial graph convolution reordered so that it needs one plain GEMM and one
ordinary convolution instead of a broadcast matmul and a sum.

Training's ``GraphConv`` computes ``y = sum_k (W_k x + b_k) A_k`` (1x1 convolution to K * C_out
channels, then a (V, V) matmul per partition and a sum over k). With a fixed adjacency
(A * edge importance, known at export) the same value is

    y[c, t, v] = sum_{c', k} W_k[c, c'] (x A_k)[c', t, v] + sum_k b_k[c] colsum(A_k)[v]

so ``x @ A_stack`` (A_stack (V, V * K), column v * K + k = A_k[:, v]) followed by a convolution
with kernel (1, K) and stride (1, K) gives it, plus a constant (C_out, V)
(``train.stgcn.aggregate_first_form``, which training's ``GraphConv`` also runs by default; what
this module adds is the fixed adjacency and the BatchNorm folded in). The graph matmul then
runs on C_in channels instead of K * C_out, and the BatchNorm that follows (eval mode: a
per-channel affine map) folds into the convolution's weights and the constant. The temporal and
residual convolutions absorb their BatchNorms in the usual way. ``data_bn`` stays (it scales each
(joint, channel) pair, which no shared weight can absorb); so does everything after pooling.
ONNX Runtime's own fusions cannot do this: the BatchNorm sits after the ReduceSum.

``channels_last_blocks``: the last blocks run on (N, T, V, C) tensors instead (same value), the
form the int8 variant is quantised from (``export.quantize``). ONNX Runtime runs its integer
convolutions channels-last; on channels-first tensors it wraps each one in a pair of Transposes,
because the graph matmul over the joint axis needs (N, C, T, V). Channels-last, that matmul takes
the constant on the left, stack^T (V * K, V) @ x (N, T, V, C), and the convolutions' explicit
Transposes cancel against the ones ONNX Runtime inserts, so the integer blocks run without
layout changes (measured in docs/export.md, "Channels-last integer blocks").

Shapes and outputs are those of ``train.stgcn.STGCN`` in eval mode; ``vcl export`` checks the
rewritten graph against the original PyTorch model (``export.parity``).
"""

from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn

from train.model import MultiStreamModel
from train.stgcn import STGCN, STGCNBlock, aggregate_first_form


def _bn_affine(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as (scale, shift) per channel."""
    mean, var = cast(torch.Tensor, bn.running_mean), cast(torch.Tensor, bn.running_var)
    scale = bn.weight.detach() / torch.sqrt(var + bn.eps)
    return scale, bn.bias.detach() - mean * scale


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of ``conv`` whose output equals ``bn(conv(x))`` in eval mode."""
    scale, shift = _bn_affine(bn)
    folded = copy.deepcopy(conv)
    folded.weight.data = conv.weight.detach() * scale.view(-1, 1, 1, 1)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(scale)
    folded.bias = nn.Parameter(bias * scale + shift)
    return folded


class FoldedGraphConv(nn.Module):
    """BN(GraphConv(x, A)) for a fixed A: (N, C_in, T, V) -> (N, C_out, T, V)."""

    def __init__(self, conv: nn.Conv2d, adjacency: torch.Tensor, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        k, v, _ = adjacency.shape
        c_in = conv.in_channels
        c_out = conv.out_channels // k
        bias = conv.bias.detach() if conv.bias is not None else None
        stack, kernel, constant = aggregate_first_form(conv.weight.detach(), bias, adjacency.detach())
        scale, shift = _bn_affine(bn)
        self.register_buffer("stack", stack.contiguous())
        self.conv = nn.Conv2d(c_in, c_out, (1, k), stride=(1, k), bias=False)
        self.conv.weight.data = (kernel * scale.view(-1, 1, 1, 1)).contiguous()
        constant = scale.view(-1, 1) * constant + shift.view(-1, 1)  # (C_out, V)
        self.register_buffer("constant", constant.view(1, c_out, 1, v).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stack, constant = cast(torch.Tensor, self.stack), cast(torch.Tensor, self.constant)
        return self.conv(torch.matmul(x, stack)) + constant

    def to_channels_last(self) -> None:
        """Keep the constants in the form ``forward_channels_last`` uses."""
        stack, constant = cast(torch.Tensor, self.stack), cast(torch.Tensor, self.constant)
        self.register_buffer("stack_t", stack.t().contiguous())  # (V * K, V)
        self.register_buffer("constant_last", constant.permute(0, 2, 3, 1).contiguous())  # (1, 1, V, C_out)

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, V, C_in) -> (N, T, V, C_out), the value of ``forward`` in the other layout."""
        stack_t, constant = cast(torch.Tensor, self.stack_t), cast(torch.Tensor, self.constant_last)
        y = torch.matmul(stack_t, x)  # (N, T, V * K, C_in), row w * K + k
        return self.conv(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + constant


class FoldedBlock(nn.Module):
    """An ``STGCNBlock`` in eval mode with its BatchNorms folded: same shapes."""

    def __init__(self, block: STGCNBlock, adjacency: torch.Tensor, channels_last: bool = False) -> None:
        """``channels_last``: ``forward`` takes and returns (N, T, V, C) instead of (N, C, T, V)."""
        super().__init__()
        self.channels_last = channels_last
        tcn = block.tcn
        self.gcn = FoldedGraphConv(block.gcn.conv, adjacency, cast(nn.BatchNorm2d, tcn[0]))
        self.tcn = fold_conv_bn(cast(nn.Conv2d, tcn[2]), cast(nn.BatchNorm2d, tcn[3]))
        self.residual_kind = block.residual_kind
        if self.residual_kind == "conv":
            residual = block.residual
            self.residual = fold_conv_bn(cast(nn.Conv2d, residual[0]), cast(nn.BatchNorm2d, residual[1]))
        if channels_last:
            self.gcn.to_channels_last()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            return self._forward_channels_last(x)
        out = self.tcn(torch.relu(self.gcn(x)))
        if self.residual_kind == "identity":
            out = out + x
        elif self.residual_kind == "conv":
            out = out + self.residual(x)
        return torch.relu(out)

    def _forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, V, C_in) -> (N, T', V, C_out); each convolution between a pair of permutes."""
        hidden = torch.relu(self.gcn.forward_channels_last(x)).permute(0, 3, 1, 2)
        out = self.tcn(hidden).permute(0, 2, 3, 1)
        if self.residual_kind == "identity":
            out = out + x
        elif self.residual_kind == "conv":
            out = out + self.residual(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return torch.relu(out)


class FoldedSTGCN(nn.Module):
    """``STGCN`` in eval mode, folded: (N, C, T, V, M) -> (N, 256). ``channels_last_blocks``: how
    many of the last blocks run channels-last (module docstring); the maps come out as before."""

    def __init__(self, backbone: STGCN, channels_last_blocks: int = 0) -> None:
        super().__init__()
        self.data_bn = copy.deepcopy(backbone.data_bn).eval()
        self.feature_dim = backbone.feature_dim
        self.in_channels, self.num_joints = backbone.in_channels, backbone.num_joints
        a: torch.Tensor = backbone.A  # type: ignore[assignment]
        count = len(backbone.st_gcn_networks)
        if not 0 <= channels_last_blocks <= count:
            raise ValueError(f"channels_last_blocks {channels_last_blocks}: the backbone has {count} blocks")
        pairs = zip(backbone.st_gcn_networks, backbone.edge_importance, strict=True)
        self.blocks = nn.ModuleList(
            FoldedBlock(block, a * importance, i >= count - channels_last_blocks)  # type: ignore[arg-type]
            for i, (block, importance) in enumerate(pairs)
        )

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> feature maps (N * M, 256, T', V), as ``STGCN.forward_maps``."""
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t)
        x = self.data_bn(x).view(n * m, v, c, t).permute(0, 2, 3, 1)
        last = False
        for block in self.blocks:
            if block.channels_last and not last:
                x = x.permute(0, 2, 3, 1)  # (N, T, V, C)
            last = bool(block.channels_last)
            x = block(x)
        return x.permute(0, 3, 1, 2) if last else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = x.shape[0], x.shape[-1]
        return self.forward_maps(x).mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)


@torch.no_grad()
def fold_model(model: MultiStreamModel, channels_last_blocks: int = 0) -> MultiStreamModel:
    """A copy of ``model`` (eval mode) whose backbones are ``FoldedSTGCN`` (their last
    ``channels_last_blocks`` blocks channels-last); the original is untouched."""
    folded = copy.deepcopy(model).eval()
    for encoder in folded.encoders.values():
        encoder.backbone = FoldedSTGCN(cast(STGCN, encoder.backbone), channels_last_blocks)
    return folded.eval()
