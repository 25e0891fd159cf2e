"""Exact BatchNorm statistics ("precise BN", Wu & Johnson, arXiv 2105.07576).

BatchNorm's running mean and variance are an exponential average (momentum 0.1) that starts at
mean 0, variance 1. After s steps the start still weighs 0.9^s. The input BatchNorm of ST-GCN
normalises joint coordinates whose per-channel variance has a median of 0.004-0.012 after the
``vcl-official`` pipeline (a tenth of the channels below 0.0025), so the start dominates for a
long time: after 20 steps (a labelled set of 29-36 clips, one batch an epoch, 20 epochs) the
running variance is ~0.12 more than it should be, the eval-mode network sees its input shrunk
3-10x and predicts one class for every clip, while in train mode (batch statistics) it already
fits. Short CPU runs (4-7 steps an epoch on MSR Action3D and UTD-MHAD) hit the same lag.
``recompute_batchnorm`` replaces the running statistics by the exact mean and variance over a set
of clips, as eval mode should see them (no dropout).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from train.stgcn import STGCN
from train.streams import derive_stream


@torch.no_grad()
def recompute_batchnorm(
    encoders: dict[str, nn.Module] | nn.ModuleDict,
    joints: np.ndarray | torch.Tensor,
    parents: tuple[int, ...],
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    score: bool = False,
) -> None:
    """Set every BatchNorm's running mean/variance of each stream's encoder to the average over
    ``joints`` (N, C, T, V, M): batch statistics averaged over near-equal batches (momentum None),
    dropout off. ``score``: the joints' last channel is a keypoint score (``train.streams``).
    Parameters are untouched; each encoder's train/eval mode is restored. BatchNorms frozen
    by ``STGCN.freeze_statistics`` keep their statistics."""
    for stream, encoder in encoders.items():
        frozen = {id(n) for m in encoder.modules() if isinstance(m, STGCN) for n in m.frozen_norms()}
        norms = [
            m
            for m in encoder.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in frozen
        ]
        if not norms:
            continue
        was_training = encoder.training
        saved = [m.momentum for m in norms]
        encoder.eval()
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches that follow
            m.train()
        try:
            # near-equal batches: the cumulative average weighs every batch alike
            for rows in np.array_split(np.arange(len(joints)), -(-len(joints) // batch_size)):
                x = torch.as_tensor(np.asarray(joints[rows[0] : rows[-1] + 1]), dtype=torch.float32)
                encoder(derive_stream(x.to(device), parents, stream, score))
        finally:
            for m, momentum in zip(norms, saved, strict=True):
                m.momentum = momentum
            encoder.train(was_training)
