"""The exported computation: raw preprocessed joints in, everything the server needs out.

``ExportGraph`` wraps a ``MultiStreamModel`` in eval mode and returns a fixed tuple of named
outputs, deterministic (mu, never a sample):

- ``<stream>_logits`` (N, C) and ``fused_logits`` (N, C), when the checkpoint has classifiers;
- ``<stream>_mu``, ``<stream>_sigma`` (N, D) with sigma = exp(log sigma^2 / 2), for a Gaussian head;
- ``<stream>_feature`` (N, 256), the pooled backbone feature;
- ``embedding`` (N, S * D): concat_s sqrt(w_s) * normalize(mu_s - c_s) (pooled features stand in
  without a Gaussian head), so that the inner product of two embeddings is the fusion-weighted sum
  of per-stream cosine similarities. c_s is the mean of mu_s over reference clips (``vcl export``
  computes it): after short training mu carries a large shared component (cosines of 0.9999
  between any two demo clips), which leaves neighbour ranking to float32 rounding; centred, the
  cosines spread over [-1, 1].

``skip_absent_frames`` (T, the clip length; ``vcl export`` sets it by default) keeps absent persons
out of the backbones: in eval mode each person of a clip is run alone and the pooled features are
averaged over the M person slots, so a slot whose stream input is all zeros (no second person: the
pipelines pad with zeros) always gives the backbone's response to zeros. That response is computed
once, kept as a constant, and put in the place of every all-zero slot; only the other persons (and
always the first slot, so no batch is empty) go through the convolutions. Exact (the same
function), and about half the work on one-person clips at M = 2, the common case.

With classifiers, the graph has explanation outputs too, listed apart (``explain_names``, the
manifest's ``explain.outputs``) because ONNX Runtime computes only the outputs a call fetches:

- ``cam`` (N, C, T', V), the fused class activation map, and ``<stream>_cam`` per stream
  (``export.cam``): summed over (T', V), ``cam`` is ``fused_logits`` minus the fused bias.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from export.cam import class_activation_maps
from train.model import MultiStreamModel, StreamEncoder
from train.stgcn import STGCN
from train.streams import derive_stream


class ExportGraph(nn.Module):
    """joints (N, 3, T, V, M) float32 -> tuple of tensors named by ``output_names``."""

    def __init__(
        self,
        model: MultiStreamModel,
        centers: dict[str, torch.Tensor] | None = None,
        skip_absent_frames: int | None = None,
    ) -> None:
        """``centers``: per stream, the mean retrieval basis (mu, or the pooled feature without a
        Gaussian head) over reference clips, subtracted before normalising (zeros when None).
        ``skip_absent_frames``: the clip length T, to skip all-zero persons (module docstring);
        None runs every person slot through the backbones."""
        super().__init__()
        self.model = model.eval()
        self.streams = list(model.streams)
        self.classified = all(s in model.classifiers for s in self.streams) and len(model.classifiers) > 0
        heads = {model.encoders[s].head for s in self.streams}
        self.gaussian = heads == {"gaussian"}
        weights = model.fusion_weights
        # streams with weight 0 still get their outputs, but no share of the embedding
        self.embedding_weights = {s: math.sqrt(max(weights.get(s, 0.0), 0.0)) for s in self.streams}
        for s in self.streams:
            encoder = model.encoders[s]
            dim = int(encoder.embedding_dim) if self.gaussian else int(encoder.backbone.feature_dim)  # type: ignore[union-attr, arg-type]
            center = torch.zeros(dim) if centers is None else torch.as_tensor(centers[s], dtype=torch.float32)
            self.register_buffer(f"center_{s}", center.reshape(dim))
        self.skip_absent = skip_absent_frames is not None
        if skip_absent_frames is not None:
            for s in self.streams:
                backbone = cast(STGCN, model.encoders[s].backbone)
                zeros = torch.zeros(1, backbone.in_channels, skip_absent_frames, backbone.num_joints, 1)
                with torch.no_grad():
                    self.register_buffer(f"absent_{s}", backbone.forward_maps(zeros))  # (1, 256, T', V)

    @property
    def output_names(self) -> list[str]:
        names = []
        if self.classified:
            names += [f"{s}_logits" for s in self.streams] + ["fused_logits"]
        if self.gaussian:
            names += [f"{s}_mu" for s in self.streams] + [f"{s}_sigma" for s in self.streams]
        names += [f"{s}_feature" for s in self.streams] + ["embedding"]
        return names

    @property
    def explain_names(self) -> list[str]:
        """The explanation outputs, after ``output_names`` in the graph (none without classifiers)."""
        return ["cam", *[f"{s}_cam" for s in self.streams]] if self.classified else []

    @property
    def all_names(self) -> list[str]:
        """Every output of the graph, in order: ``output_names`` then ``explain_names``."""
        return self.output_names + self.explain_names

    def _classifier(self, s: str) -> nn.Linear:
        return cast(nn.Linear, self.model.classifiers[s])

    def fused_bias(self) -> torch.Tensor:
        """(C,) sum_s w_s b_s: what ``fused_logits`` adds to the sum of ``cam`` over (T', V)."""
        weights = self.model.fusion_weights
        return torch.stack([weights[s] * self._classifier(s).bias.detach() for s in self.streams]).sum(0)

    def _stream(self, s: str, joints: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The encoder's outputs for one stream, as ``MultiStreamModel.forward`` computes them,
        and the backbone's maps (N * M, 256, T', V) they pool."""
        encoder = cast(StreamEncoder, self.model.encoders[s])
        backbone = cast(STGCN, encoder.backbone)  # or a FoldedSTGCN
        x = derive_stream(joints, self.model.parents, s, self.model.score_channel)
        n, c, t, v, m = x.shape
        if not self.skip_absent or m == 1:
            maps = backbone.forward_maps(x)
            return encoder.from_feature(maps.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)), maps
        persons = x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)  # row i * M + j: clip i, slot j
        first = torch.arange(n * m, device=x.device) % m == 0
        run = torch.nonzero((persons.abs().amax(dim=(1, 2, 3)) > 0) | first).squeeze(1)
        torch._check(run.shape[0] >= 1)  # for torch.export: the first slots make it at least N
        ran = backbone.forward_maps(persons.index_select(0, run).unsqueeze(-1))  # (P, 256, T', V)
        absent: torch.Tensor = getattr(self, f"absent_{s}")
        pooled = absent.mean(dim=(2, 3)).expand(n * m, -1).index_copy(0, run, ran.mean(dim=(2, 3)))
        # the full maps only feed the explanation outputs, which ONNX Runtime computes when asked
        maps = absent.expand(n * m, -1, -1, -1).index_copy(0, run, ran)
        return encoder.from_feature(pooled.view(n, m, -1).mean(dim=1)), maps

    def forward(self, joints: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """joints (N, C, T, V, M) -> the outputs named by ``all_names``."""
        values: dict[str, torch.Tensor] = {}
        parts = []
        fused: torch.Tensor | None = None
        cam: torch.Tensor | None = None
        for s in self.streams:
            result, maps = self._stream(s, joints)
            if self.classified:
                classifier = self._classifier(s)
                weight = self.model.fusion_weights[s]
                values[f"{s}_logits"] = logits = classifier(result["feature"])
                values[f"{s}_cam"] = stream_cam = class_activation_maps(
                    maps, classifier.weight, joints.shape[-1]
                )
                fused = weight * logits if fused is None else fused + weight * logits
                cam = weight * stream_cam if cam is None else cam + weight * stream_cam
            if self.gaussian:
                values[f"{s}_mu"] = result["mu"]
                values[f"{s}_sigma"] = torch.exp(0.5 * result["logvar"])
            values[f"{s}_feature"] = result["feature"]
            basis = result["mu"] if self.gaussian else result["feature"]
            center = getattr(self, f"center_{s}")
            parts.append(self.embedding_weights[s] * F.normalize(basis - center, dim=1))
        if fused is not None and cam is not None:
            values["fused_logits"], values["cam"] = fused, cam
        values["embedding"] = torch.cat(parts, dim=1)
        return tuple(values[name] for name in self.all_names)
