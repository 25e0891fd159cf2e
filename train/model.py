"""Per-stream encoders and the multi-stream model that predict and export use.

``StreamEncoder`` = ST-GCN backbone + head: ``gaussian`` (VCL: projection 256 -> 256 -> 128, then
mu and log sigma^2 of the latent), ``projection`` (SkeletonCLR: the deterministic 128-d
projection) or ``none`` (a bare backbone, e.g. the authors' linear-evaluation checkpoints).

``MultiStreamModel`` holds one encoder per stream in a dict keyed by stream name, optional
per-stream linear classifiers on the pooled feature, and the fusion weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from skeleton.graph import spatial_partition
from skeleton.layouts import Layout
from skeleton.streams import STREAMS
from train.heads import GaussianHead, ProjectionHead
from train.stgcn import STGCN, STRIDES, WIDTHS
from train.streams import derive_stream

HEADS = ("gaussian", "projection", "none")
DEFAULT_FUSION = {"joint": 0.6, "bone": 0.6, "motion": 0.4}
# The official VCL architecture, in the form a checkpoint's meta.json saves it.
DEFAULT_ARCHITECTURE: dict[str, Any] = {
    "widths": list(WIDTHS),
    "strides": list(STRIDES),
    "dropout": 0.5,
    "hidden_dim": 256,
    "projection_dim": 128,
    "latent_dim": 64,
}


class StreamEncoder(nn.Module):
    """Joints of one stream (N, C, T, V, M) -> dict of ``feature`` (N, 256) and, per head,
    ``mu``/``logvar`` (N, latent_dim) or ``embedding`` (N, projection_dim)."""

    def __init__(
        self,
        adjacency: torch.Tensor,
        head: str = "gaussian",
        widths: tuple[int, ...] = WIDTHS,
        strides: tuple[int, ...] = STRIDES,
        dropout: float = 0.5,
        hidden_dim: int = 256,
        projection_dim: int = 128,
        latent_dim: int = 64,
        logvar_bias: float | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.head = head
        self.embedding_dim = {"gaussian": latent_dim, "projection": projection_dim, "none": 0}[head]
        self.backbone = STGCN(
            adjacency, in_channels=in_channels, widths=widths, strides=strides, dropout=dropout
        )
        if head != "none":
            self.projection = ProjectionHead(self.backbone.feature_dim, hidden_dim, projection_dim)
        if head == "gaussian":
            self.gaussian = GaussianHead(projection_dim, latent_dim, logvar_bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.from_feature(self.backbone(x))

    def from_feature(self, feature: torch.Tensor) -> dict[str, torch.Tensor]:
        """The head's outputs for a pooled backbone feature (N, 256) (what ``forward`` returns)."""
        out = {"feature": feature}
        if self.head == "none":
            return out
        h = self.projection(feature)
        if self.head == "gaussian":
            out["mu"], out["logvar"] = self.gaussian(h)
        else:
            out["embedding"] = h
        return out


def build_encoders(
    layout: Layout,
    streams: Iterable[str],
    head: str,
    architecture: Mapping[str, Any] | None = None,
    logvar_bias: float | None = None,
) -> dict[str, StreamEncoder]:
    """One untrained encoder per stream, in the order given, on the layout's spatial-partition graph:
    the one place that turns an architecture description into encoders (training, checkpoint
    loading, the official import, evaluation from scratch, the benches).

    Args:
        layout: the skeleton layout; its graph is every encoder's adjacency.
        streams: stream names.
        head: ``gaussian``, ``projection`` or ``none``.
        architecture: ``widths``, ``strides``, ``dropout``, ``hidden_dim``, ``projection_dim`` and
            ``latent_dim``, as in a checkpoint's ``meta.json`` (None: ``DEFAULT_ARCHITECTURE``),
            and optionally ``in_channels``, the input's C (3 when absent; 2 for x, y keypoints).
        logvar_bias: initial bias of the log sigma^2 layer (an initialisation, not architecture).
    """
    arch = DEFAULT_ARCHITECTURE if architecture is None else architecture
    missing = [key for key in DEFAULT_ARCHITECTURE if key not in arch]
    if missing:
        raise ValueError(f"architecture: missing {missing[0]!r}; expected {', '.join(DEFAULT_ARCHITECTURE)}")
    adjacency = torch.as_tensor(spatial_partition(layout))
    return {
        stream: StreamEncoder(
            adjacency,
            head=head,
            widths=tuple(arch["widths"]),
            strides=tuple(arch["strides"]),
            dropout=arch["dropout"],
            hidden_dim=arch["hidden_dim"],
            projection_dim=arch["projection_dim"],
            latent_dim=arch["latent_dim"],
            logvar_bias=logvar_bias,
            in_channels=int(arch.get("in_channels", 3)),
        )
        for stream in streams
    }


class MultiStreamModel(nn.Module):
    """Raw-joint input (N, C, T, V, M) -> per-stream outputs and fused logits.

    Args:
        encoders: stream name -> encoder; streams are derived from the joints inside.
        parents: bone parent of every joint (the layout's).
        classifiers: stream name -> Linear(256, num_classes), or None.
        fusion_weights: stream name -> weight of its raw logits in the fusion.
        score_channel: the input's last channel is a keypoint score (``train.streams``).
    """

    def __init__(
        self,
        encoders: dict[str, StreamEncoder],
        parents: tuple[int, ...],
        classifiers: dict[str, nn.Linear] | None = None,
        fusion_weights: dict[str, float] | None = None,
        score_channel: bool = False,
    ) -> None:
        super().__init__()
        self.score_channel = score_channel
        unknown = [s for s in encoders if s not in STREAMS]
        if unknown:
            raise ValueError(f"unknown stream {unknown[0]!r}; known streams: {', '.join(STREAMS)}")
        self.streams = [s for s in STREAMS if s in encoders]
        self.encoders = nn.ModuleDict({s: encoders[s] for s in self.streams})
        self.classifiers = nn.ModuleDict(classifiers or {})
        self.parents = tuple(parents)
        weights = fusion_weights or DEFAULT_FUSION
        self.fusion_weights = {s: float(weights.get(s, 0.0)) for s in self.streams}

    def forward(self, joints: torch.Tensor) -> dict[str, dict[str, torch.Tensor] | torch.Tensor]:
        """Per stream: the encoder outputs plus ``logits`` when classified; ``fused_logits`` =
        sum of weight * logits in stream order (joint, bone, motion)."""
        out: dict[str, dict[str, torch.Tensor] | torch.Tensor] = {}
        fused: torch.Tensor | None = None
        for stream in self.streams:
            result = self.encoders[stream](derive_stream(joints, self.parents, stream, self.score_channel))
            if stream in self.classifiers:
                result["logits"] = self.classifiers[stream](result["feature"])
                weighted = self.fusion_weights[stream] * result["logits"]
                fused = weighted if fused is None else fused + weighted
            out[stream] = result
        if fused is not None:
            out["fused_logits"] = fused
        return out
