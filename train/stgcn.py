"""ST-GCN encoder (Yan et al., AAAI 2018) at the SkeletonCLR / VCL "1/4 channels" width.

Ten blocks of a spatial graph convolution over the K = 3 spatial-partition adjacencies followed by
a temporal convolution (kernel 9), widths 16,16,16,16,32,32,32,64,64,256, stride 2 at blocks 5 and
8, residual connections; an input BatchNorm over V * C channels with persons folded into the
batch; learnable edge-importance masks; global average pooling over (T, V) and then the mean over
persons, the all-zero person of a one-person clip included (as the official code does).

Parameter and buffer names follow the official checkpoints one to one (``data_bn``,
``edge_importance.{l}``, ``st_gcn_networks.{l}.gcn.conv``, ``.tcn.{0,2,3}``, ``.residual.{0,1}``),
so loading them is a matter of stripping their prefixes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (16, 16, 16, 16, 32, 32, 32, 64, 64, 256)
STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)


def keep_mask(shape: torch.Size, p: float, device: torch.device | None = None) -> torch.Tensor:
    """A dropout keep-mask of ``shape`` (bool), each entry True with probability 1 - p (p rounded
    to a multiple of 2^-16), independently.

    On the CPU the random number generator is the cost, so the mask takes 16 bits per entry from
    full-range 64-bit draws, four entries per draw, instead of one ``torch.rand`` float each
    (about 4x fewer draws; ``uniform_`` was a tenth of a bf16 training step).
    """
    if p <= 0:
        return torch.ones(shape, dtype=torch.bool, device=device)
    if p >= 1:
        return torch.zeros(shape, dtype=torch.bool, device=device)
    count = math.prod(shape)
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    lanes = words.view(torch.int16)[:count].view(shape)  # uniform over [-2^15, 2^15 - 1]
    return lanes >= round(p * 65536) - 32768


class Dropout(nn.Module):
    """Inverted dropout; on CPU it draws the mask with ``keep_mask`` (16 random bits per entry,
    4x fewer generator calls than ``torch.rand``, itself twice as fast as ``nn.Dropout``'s
    ``bernoulli_``). No parameters, so checkpoints are unaffected; the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.is_cuda or self.p >= 1:
            return F.dropout(x, self.p, training=True)
        keep = keep_mask(x.shape, self.p, x.device).to(x.dtype)
        return x * keep.mul_(1.0 / (1.0 - self.p))


class GraphConv(nn.Module):
    """Spatial graph convolution: sum_k (W_k x + b_k) A_k, the weights of a 1x1 conv to K * C_out
    channels (output channel k * C_out + c), as the official ST-GCN.

    Shapes: x (N, C_in, T, V), adjacency (K, V, V) -> (N, C_out, T, V).

    ``aggregate_first`` (default) computes the same value in the other order, as ``export.fold``
    does: x @ [A_1 .. A_K] (the graph matmul on C_in channels), then a (1, K)-strided convolution
    with the same weights, plus sum_k b_k colsum(A_k). It never materialises the (N, K, C_out, T, V)
    intermediate: a bf16 training step at B=128 peaks at 2.45 GB instead of 3.08 and runs 1.02x
    faster (``bench/train_throughput.py``, docs/training.md). False: the 1x1 conv first, then one
    broadcast matmul.
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int) -> None:
        super().__init__()
        self.num_partitions = num_partitions
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)
        self.aggregate_first = True

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        k = self.num_partitions
        if not self.aggregate_first:
            y = self.conv(x).view(n, k, -1, v)  # (N, K, C_out * T, V), a view
            # sum_k y_k @ A_k as one broadcast matmul: ~20% faster on CPU than the einsum
            return torch.matmul(y, adjacency.unsqueeze(0)).sum(dim=1).view(n, -1, t, v)
        stack, kernel, constant = aggregate_first_form(self.conv.weight, self.conv.bias, adjacency)
        y = F.conv2d(torch.matmul(x, stack), kernel, stride=(1, k))  # (N, C_in, T, V * K) -> (N, C_out, T, V)
        return y + constant.view(1, -1, 1, v).to(y.dtype)


def aggregate_first_form(
    weight: torch.Tensor, bias: torch.Tensor | None, adjacency: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sum_k (W_k x + b_k) A_k rewritten as conv(x @ stack, kernel, stride (1, K)) + constant.

    ``weight`` (K * C_out, C_in, 1, 1) and ``bias`` (K * C_out) of the 1x1 conv (output channel
    k * C_out + c; None: no bias), ``adjacency`` (K, V, V) -> ``stack`` (V, V * K), column w * K + k
    = A_k[:, w]; ``kernel`` (C_out, C_in, 1, K); ``constant`` (C_out, V) = sum_k b_k colsum(A_k).
    Differentiable (training's ``GraphConv``) and used detached by ``export.fold``.
    """
    k, v, _ = adjacency.shape
    c_in, c_out = weight.shape[1], weight.shape[0] // k
    stack = adjacency.permute(1, 2, 0).reshape(v, v * k)
    kernel = weight[:, :, 0, 0].view(k, c_out, c_in).permute(1, 2, 0).unsqueeze(2)
    b = bias.view(k, c_out) if bias is not None else weight.new_zeros(k, c_out)
    return stack, kernel, b.t() @ adjacency.sum(dim=1)


def set_aggregate_first(module: nn.Module, enabled: bool) -> None:
    """Choose the order of every ``GraphConv`` under ``module`` (the value is the same)."""
    for m in module.modules():
        if isinstance(m, GraphConv):
            m.aggregate_first = enabled


class STGCNBlock(nn.Module):
    """One ST-GCN block: ReLU(tcn(gcn(x)) + residual(x)).

    Shapes: x (N, C_in, T, V) -> (N, C_out, ceil(T / stride), V).

    Args:
        residual: ``"none"`` (block 0), ``"identity"`` (same width and stride 1) or ``"conv"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_partitions: int,
        stride: int,
        dropout: float,
        residual: str,
        temporal_kernel: int = 9,
    ) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, num_partitions)
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(out_channels),
            Dropout(dropout),
        )
        self.residual_kind = residual
        if residual == "conv":
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                nn.BatchNorm2d(out_channels),
            )
        elif residual not in ("none", "identity"):
            raise ValueError(f"residual must be 'none', 'identity' or 'conv', got {residual!r}")
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        out = self.tcn(self.gcn(x, adjacency))
        if self.residual_kind == "identity":
            out = out + x
        elif self.residual_kind == "conv":
            out = out + self.residual(x)
        return self.relu(out)


class STGCN(nn.Module):
    """ST-GCN backbone: joints (N, C, T, V, M) -> pooled feature (N, 256).

    Args:
        adjacency: (K, V, V) spatial-partition adjacency of the layout (``skeleton.graph``).
        in_channels: C (3 for xyz).
        widths: output channels of the blocks.
        strides: temporal stride of the blocks.
        dropout: dropout inside blocks 1..9 (block 0 has none), as the official model.
    """

    def __init__(
        self,
        adjacency: np.ndarray | torch.Tensor,
        in_channels: int = 3,
        widths: tuple[int, ...] = WIDTHS,
        strides: tuple[int, ...] = STRIDES,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if len(widths) != len(strides):
            raise ValueError(
                f"widths and strides must have the same length, got {len(widths)} and {len(strides)}"
            )
        a = torch.as_tensor(np.asarray(adjacency), dtype=torch.float32)
        self.register_buffer("A", a)
        k, v, _ = a.shape
        self.num_joints = v
        self.in_channels = in_channels
        self.feature_dim = widths[-1]
        self.data_bn = nn.BatchNorm1d(in_channels * v)
        self.input_frozen = False
        self.blocks_frozen = False
        blocks = []
        c_in = in_channels
        for i, (c_out, stride) in enumerate(zip(widths, strides, strict=True)):
            residual = "none" if i == 0 else ("identity" if c_in == c_out and stride == 1 else "conv")
            blocks.append(STGCNBlock(c_in, c_out, k, stride, 0.0 if i == 0 else dropout, residual))
            c_in = c_out
        self.st_gcn_networks = nn.ModuleList(blocks)
        self.edge_importance = nn.ParameterList([nn.Parameter(torch.ones_like(a)) for _ in blocks])

    def freeze_statistics(self, input: bool = False, blocks: bool = False) -> None:
        """Keep BatchNorms normalising with their running statistics in training too: the input
        BatchNorm (``input``, ``model.input_bn: frozen``) and/or those inside the blocks
        (``blocks``, ``model.block_bn: frozen``). They stay as loaded (``model.init``) or
        initialised (mean 0, variance 1: coordinates enter unstandardised, scaled by the learnt
        affine), and ``train.batchnorm.recompute_batchnorm`` leaves them alone; their affine still
        learns. Standardising each joint coordinate by the statistics of a few hundred clips scales
        near-constant channels (the centred root joint's jitter) up to unit variance; what freezing
        gains or costs depends on the data (docs/RESULTS.md, "Fourth study", "Fifth study")."""
        self.input_frozen = input
        self.blocks_frozen = blocks
        self.train(self.training)

    def frozen_norms(self) -> list[nn.Module]:
        """The BatchNorms ``freeze_statistics`` froze."""
        norms: list[nn.Module] = [self.data_bn] if self.input_frozen else []
        if self.blocks_frozen:
            norms += [
                m for m in self.st_gcn_networks.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            ]
        return norms

    def train(self, mode: bool = True) -> STGCN:
        super().train(mode)
        for norm in self.frozen_norms():
            norm.eval()
        return self

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> feature maps (N * M, C_out, T', V)."""
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t)  # channel index v * C + c
        x = self.data_bn(x)
        x = x.view(n * m, v, c, t).permute(0, 2, 3, 1)
        a: torch.Tensor = self.A  # type: ignore[assignment]
        for block, importance in zip(self.st_gcn_networks, self.edge_importance, strict=True):
            x = block(x, a * importance)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> (N, 256): mean over (T, V), then over persons."""
        n, m = x.shape[0], x.shape[-1]
        maps = self.forward_maps(x)
        return maps.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)
