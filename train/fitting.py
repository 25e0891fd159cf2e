"""Fitting the classifiers of the evaluation protocols (``train.evaluate``).

- ``train_on_features``: a linear layer on precomputed (frozen) features (N, D), optionally
  standardised with the training statistics (``Standardize``), SGD with a step schedule;
- ``train_network``: a classifier on an encoder's pooled feature trained through the network
  (the encoder frozen in train mode, or fine-tuned with ``full``), SGD or AdamW, step or cosine
  schedule, the pretext augmentations, then exact BatchNorm statistics;
- ``classify``: logits (N, num_classes) of clips (N, C, T, V, M) through encoder and classifier.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from train.augment import augment
from train.batchnorm import recompute_batchnorm
from train.eval_config import DEFAULT_LR, EvalConfig
from train.model import StreamEncoder
from train.stgcn import Dropout
from train.streams import derive_stream


def _batches(n: int, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch] for i in range(0, n, batch)]


class Standardize(nn.Module):
    """Parameter-free feature standardisation with fixed statistics (a BatchNorm without affine, as
    in MAE's linear probing). (N, D) -> (N, D)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def train_on_features(
    x: torch.Tensor, y: torch.Tensor, num_classes: int, config: EvalConfig, seed: int
) -> nn.Module:
    """A linear classifier on precomputed features (N, D) with the SGD step schedule; with
    ``config.standardize`` the features are first standardised with the training statistics."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    norm: nn.Module = Standardize(x.mean(0), x.std(0) + 1e-6) if config.standardize else nn.Identity()
    layer = nn.Linear(x.shape[1], num_classes)
    lr = config.lr or DEFAULT_LR["frozen"]
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr, momentum=0.9, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), 0.1)
    with torch.no_grad():
        z = norm(x)
    for _ in range(config.epochs):
        for idx in _batches(len(x), config.batch_size or 128, generator):
            optimizer.zero_grad()
            F.cross_entropy(layer(z[idx]), y[idx]).backward()
            optimizer.step()
        scheduler.step()
    return nn.Sequential(norm, layer).eval()


def train_network(
    encoder: StreamEncoder,
    classifier: nn.Linear,
    stream: str,
    parents: tuple[int, ...],
    x: torch.Tensor,
    y: torch.Tensor,
    config: EvalConfig,
    seed: int,
    full: bool,
    progress: bool,
    score: bool = False,
) -> None:
    """The classifier (``full``: and the encoder) trained with the encoder in train mode, then the
    encoder's BatchNorm statistics recomputed on ``x`` (``train.batchnorm``). ``score``: the last
    channel of ``x`` is a keypoint score (never sheared; ``train.streams``)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    params = list(classifier.parameters()) + (list(encoder.parameters()) if full else [])
    batch = config.batch_size or (128 if full else 256)
    if config.optimizer == "adamw":
        lr = config.lr or DEFAULT_LR["adamw"]
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    else:
        lr = config.lr or DEFAULT_LR["full" if full else "official"]
        optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=config.weight_decay)
    total_steps = config.epochs * -(-len(x) // batch)
    per_step = config.schedule == "cosine"
    scheduler: torch.optim.lr_scheduler.LRScheduler = (
        torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.5 + 0.5 * math.cos(math.pi * s / total_steps)
        )
        if per_step
        else torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), 0.1)
    )
    if config.dropout >= 0:
        for m in encoder.modules():
            if isinstance(m, Dropout) and m.p > 0:  # block 0 has none, as the official model
                m.p = config.dropout
    encoder.train()
    classifier.train()
    for p in encoder.parameters():
        p.requires_grad_(full)
    bar = tqdm(range(config.epochs), desc=f"{stream} seed {seed}", leave=False, disable=not progress)
    for _ in bar:
        for idx in _batches(len(x), batch, generator):
            clips = x[idx]
            if config.shear or config.crop_padding_ratio:
                coords = clips.shape[1] - int(score)
                clips = augment(clips, config.crop_padding_ratio, config.shear, generator, coords)
            with torch.set_grad_enabled(full):
                feature = encoder(derive_stream(clips, parents, stream, score))["feature"]
            loss = F.cross_entropy(classifier(feature), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if per_step:
                scheduler.step()
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        if not per_step:
            scheduler.step()
    for p in encoder.parameters():
        p.requires_grad_(True)
    # the running statistics after few steps still carry their start (train.batchnorm)
    recompute_batchnorm({stream: encoder}, x, parents, score=score)
    encoder.eval()
    classifier.eval()


@torch.no_grad()
def classify(
    encoder: StreamEncoder,
    classifier: nn.Linear,
    stream: str,
    parents: tuple[int, ...],
    x: torch.Tensor,
    batch: int = 256,
    score: bool = False,
) -> torch.Tensor:
    encoder.eval()
    return torch.cat(
        [
            classifier(encoder(derive_stream(x[i : i + batch], parents, stream, score))["feature"])
            for i in range(0, len(x), batch)
        ]
    )
