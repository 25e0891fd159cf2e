"""Class activation maps (Zhou et al., "Learning Deep Features for Discriminative Localization",
CVPR 2016) of the exported ST-GCN streams: which joints, in which frames, made a class's logit.

Each stream ends in global average pooling and a linear classifier (``train.model``):

    feature_s[n] = 1/(M T' V) sum_{m, t, v} maps_s[n, m, :, t, v]      (``STGCN.forward``)
    logits_s[n, c] = W_s[c] . feature_s[n] + b_s[c]

so the map

    cam_s[n, c, t, v] = 1/(M T' V) sum_m W_s[c] . maps_s[n, m, :, t, v]

sums over (t, v) to exactly ``logits_s[n, c] - b_s[c]``: no gradient, no approximation. The fused
map ``cam = sum_s w_s cam_s`` (the fusion weights, 0.6 / 0.6 / 0.4 for joint / bone / motion) sums
to ``fused_logits - sum_s w_s b_s``. The mean over persons is folded in (a clip's absent second
person, all zeros, contributes its constant share as in the pooled feature). T' is the backbone's
output length, ceil(T / 4) for the default strides: output frame t' is centred on input frame
4 t' (``runtime.attribution`` maps it back).
"""

from __future__ import annotations

import torch


def class_activation_maps(maps: torch.Tensor, weight: torch.Tensor, persons: int) -> torch.Tensor:
    """Backbone maps (N * M, C, T', V) and a classifier's weight (K, C) -> (N, K, T', V).

    Summed over (T', V) it is ``weight @ feature`` with ``feature`` the pooled (N, C) feature."""
    nm, c, t, v = maps.shape
    per_person = torch.matmul(weight, maps.reshape(nm, c, t * v))  # (N * M, K, T' V)
    return per_person.view(nm // persons, persons, -1, t, v).sum(dim=1) / (persons * t * v)
