"""Exact BatchNorm statistics: what eval mode sees after a short fine-tuning run."""

from __future__ import annotations

import torch

from skeleton.graph import spatial_partition
from skeleton.layouts import get_layout
from train.batchnorm import recompute_batchnorm
from train.model import StreamEncoder

LAYOUT = get_layout("ntu")


def _encoder() -> StreamEncoder:
    torch.manual_seed(0)
    adjacency = torch.as_tensor(spatial_partition(LAYOUT))
    return StreamEncoder(adjacency, head="none", widths=(8, 16), strides=(1, 1), dropout=0.5)


def _clips(n: int = 12) -> torch.Tensor:
    # coordinates spread ~0.03 per channel, as after the vcl-official pipeline: far from BN's start (var 1)
    return 0.03 * torch.randn(n, 3, 10, LAYOUT.num_joints, 1, generator=torch.Generator().manual_seed(1))


def test_running_statistics_become_the_exact_ones() -> None:
    encoder, x = _encoder(), _clips()
    encoder.eval()
    recompute_batchnorm({"joint": encoder}, x, LAYOUT.parents, batch_size=len(x))
    bn = encoder.backbone.data_bn
    channels = x.permute(0, 4, 3, 1, 2).reshape(len(x), -1, x.shape[2])  # (N * M, V * C, T)
    torch.testing.assert_close(bn.running_mean, channels.mean(dim=(0, 2)))
    torch.testing.assert_close(bn.running_var, channels.var(dim=(0, 2)))
    assert bn.momentum == 0.1 and not encoder.training


def test_eval_mode_then_matches_batch_statistics_without_dropout() -> None:
    """One batch holding every clip: eval mode after the recomputation = train mode on that batch
    with dropout off (up to BatchNorm's unbiased n / (n - 1) variance)."""
    encoder, x = _encoder(), _clips()
    encoder.eval()
    stale = encoder(x)["feature"]
    for m in encoder.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.train()
    batch_stats = encoder(x)["feature"].detach()
    recompute_batchnorm({"joint": encoder}, x, LAYOUT.parents, batch_size=len(x))
    exact = encoder(x)["feature"].detach()
    torch.testing.assert_close(exact, batch_stats, rtol=1e-2, atol=1e-3)
    assert (stale - batch_stats).abs().max() > 10 * (exact - batch_stats).abs().max()


def test_batches_are_averaged_and_modes_restored() -> None:
    encoder, x = _encoder(), _clips(12)
    encoder.train()
    recompute_batchnorm({"joint": encoder}, x, LAYOUT.parents, batch_size=3)  # 4 batches of 3 clips
    channels = x.permute(0, 4, 3, 1, 2).reshape(len(x), -1, x.shape[2])
    torch.testing.assert_close(encoder.backbone.data_bn.running_mean, channels.mean(dim=(0, 2)))
    assert encoder.training
