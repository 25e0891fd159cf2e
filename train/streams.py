"""Joint, bone and motion streams in torch, equal to ``skeleton.streams`` (numpy).

Streams are derived from the (augmented) joints inside the training step and inside the
exported graph; tensors use the axis order (N, C, T, V, M). With ``score`` the last channel is
an estimator's confidence (the ``pose2d`` pipeline's ``keep_score``): bone and motion take the
difference of the coordinates only, and their score channel is the mean score of the two joints
or frames involved, as ``skeleton.streams`` (and PySKL) do.
"""

from __future__ import annotations

import torch

from skeleton.streams import STREAMS


def bone(x: torch.Tensor, parents: tuple[int, ...], score: bool = False) -> torch.Tensor:
    """bone[..., v, :] = x[..., v, :] - x[..., parent(v), :]; (N, C, T, V, M) -> same shape.
    With ``score``, channel C-1 is the mean score of v and its parent instead."""
    index = torch.tensor(parents, device=x.device)
    parent = x.index_select(-2, index)
    if not score:
        return x - parent
    return torch.cat([x[:, :-1] - parent[:, :-1], 0.5 * (x[:, -1:] + parent[:, -1:])], dim=1)


def motion(x: torch.Tensor, score: bool = False) -> torch.Tensor:
    """motion[:, :, t] = x[:, :, t + 1] - x[:, :, t], last frame zero; (N, C, T, V, M) -> same shape.
    With ``score``, channel C-1 is the mean score of frames t and t + 1 instead (last frame zero)."""
    diff = x[:, :, 1:] - x[:, :, :-1]
    if score:
        diff = torch.cat([diff[:, :-1], 0.5 * (x[:, -1:, 1:] + x[:, -1:, :-1])], dim=1)
    return torch.cat([diff, torch.zeros_like(x[:, :, :1])], dim=2)


def derive_stream(
    x: torch.Tensor, parents: tuple[int, ...], stream: str, score: bool = False
) -> torch.Tensor:
    """One stream of joints x (N, C, T, V, M) by name; ``score``: the last channel is a score."""
    if stream == "joint":
        return x
    if stream == "bone":
        return bone(x, parents, score)
    if stream == "motion":
        return motion(x, score)
    raise ValueError(f"unknown stream {stream!r}; known streams: {', '.join(STREAMS)}")
