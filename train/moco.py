"""The training method: MoCo-style momentum contrast per stream, variational (VCL) or not
(SkeletonCLR). One small wrapper for both, as in facebookresearch/moco, run on CPU and GPU alike.

Per stream s: the query encoder sees view 1, the momentum (EMA) copy sees view 2; VCL samples
z = mu + sigma * eps for both, SkeletonCLR uses the projection; both are L2-normalised and scored
by InfoNCE against the stream's own key queue; VCL adds kl_weight * KL(q || N(0, I)).
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from train import distributed
from train.config import LossConfig
from train.heads import reparameterize
from train.losses import KeyQueue, info_nce, kl_standard_normal
from train.model import StreamEncoder
from train.streams import derive_stream


class MomentumContrast(nn.Module):
    """Query encoders, their momentum copies and key queues, one of each per stream.

    Args:
        encoders: stream name -> query encoder (``gaussian`` head for VCL, ``projection`` for
            SkeletonCLR).
        parents: the layout's bone parents, to derive bone streams from the augmented joints.
        score_channel: the joints' last channel is a keypoint score (``train.streams``).
        loss: the run's loss options, shared by all streams (``queue_size``, ``momentum``,
            ``temperature``, ``kl_reduction``, ``free_bits``, ``kl_on_key``; the KL weight and its
            schedule are the caller's, passed to ``forward``).
    """

    def __init__(
        self,
        encoders: dict[str, StreamEncoder],
        parents: tuple[int, ...],
        loss: LossConfig,
        generator: torch.Generator | None = None,
        score_channel: bool = False,
    ) -> None:
        super().__init__()
        self.score_channel = score_channel
        self.loss_config = loss
        self.parents = tuple(parents)
        self.query = nn.ModuleDict(encoders)
        self.key = copy.deepcopy(self.query)
        for p in self.key.parameters():
            p.requires_grad_(False)
        if any(e.head == "none" for e in encoders.values()):
            raise ValueError("contrastive training needs a 'gaussian' or 'projection' head, not 'none'")
        dims = {s: e.embedding_dim for s, e in encoders.items()}
        self.queues = nn.ModuleDict({s: KeyQueue(loss.queue_size, d, generator) for s, d in dims.items()})
        # Data-parallel training (train.distributed): stream -> DistributedDataParallel over the
        # query encoder, called instead of it; shuffling BN for the key encoders.
        self.replicas: dict[str, nn.Module] = {}
        self.shuffle_bn = False
        # bf16 autocast of the encoders on CPU (train.precision); the loss stays float32
        self.compute_dtype: torch.dtype | None = None

    def _encode(self, encoder: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """encoder(x), under autocast to ``compute_dtype`` with float32 outputs when it is set."""
        if self.compute_dtype is None:
            return encoder(x)
        with torch.autocast(x.device.type, dtype=self.compute_dtype):
            out = encoder(x)
        return {k: v.float() for k, v in out.items()}

    @torch.no_grad()
    def momentum_update(self) -> None:
        """key <- m * key + (1 - m) * query, parameter by parameter (the EMA)."""
        m = self.loss_config.momentum
        for q, k in zip(self.query.parameters(), self.key.parameters(), strict=True):
            k.mul_(m).add_(q.detach(), alpha=1 - m)

    def _latent(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        z = reparameterize(out["mu"], out["logvar"]) if "mu" in out else out["embedding"]
        return F.normalize(z, dim=1)

    def forward(
        self, view_q: torch.Tensor, view_k: torch.Tensor, kl_weight: float = 1.0
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Losses for two augmented views of the joints, each (N, C, T, V, M).

        Returns per stream: ``loss`` (to minimise), ``info_nce``, ``kl``, ``mean_sigma`` (VCL) and
        ``pos_top1`` (how often the positive outranks every negative). The momentum update and
        the queue push happen here too, after the loss is formed.
        """
        self.momentum_update()
        results = {}
        for stream, encoder in self.query.items():
            q_in = derive_stream(view_q, self.parents, stream, self.score_channel)
            q_out = self._encode(self.replicas.get(stream, encoder), q_in)
            with torch.no_grad():
                k_in = derive_stream(view_k, self.parents, stream, self.score_channel)
                k_out = (
                    distributed.shuffled_key_forward(partial(self._encode, self.key[stream]), k_in)
                    if self.shuffle_bn
                    else self._encode(self.key[stream], k_in)
                )
                z_k = self._latent(k_out)
            z_q = self._latent(q_out)
            queue: KeyQueue = self.queues[stream]  # type: ignore[assignment]
            nce, logits = info_nce(z_q, z_k, queue.keys.clone(), self.loss_config.temperature)
            stats = {"info_nce": nce, "pos_top1": (logits.argmax(dim=1) == 0).float().mean()}
            loss = nce
            if "mu" in q_out:
                reduction, free_bits = self.loss_config.kl_reduction, self.loss_config.free_bits
                kl = kl_standard_normal(q_out["mu"], q_out["logvar"], reduction, free_bits)
                if self.loss_config.kl_on_key:
                    kl = kl + kl_standard_normal(k_out["mu"], k_out["logvar"], reduction, free_bits)
                loss = loss + kl_weight * kl
                stats["kl"] = kl
                stats["mean_sigma"] = torch.exp(0.5 * q_out["logvar"]).mean().detach()
            stats["loss"] = loss
            queue.push(distributed.gather(z_k))  # the global batch's keys, in rank order
            results[stream] = stats
        return results

    @torch.no_grad()
    def heldout_info_nce(self, view_q: torch.Tensor, view_k: torch.Tensor, seed: int = 0) -> dict[str, float]:
        """InfoNCE of held-out clips against each other, with no update and no side effect.

        Query samples of view 1 are scored against the key samples of view 2 of the same clips
        (the positive on the diagonal, the other clips as negatives), with BatchNorm on batch
        statistics as in training; the random state, running statistics and queues are left as
        they were. Comparable across a run (same clips, views and noise), unlike the training
        loss, whose queue starts with random keys. Views: (N, C, T, V, M).
        """
        saved = {k: v.clone() for k, v in self.state_dict().items() if "running_" in k or "num_batches" in k}
        was_training = self.training
        self.train()
        result = {}
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for stream, encoder in self.query.items():
                    q_in = derive_stream(view_q, self.parents, stream, self.score_channel)
                    k_in = derive_stream(view_k, self.parents, stream, self.score_channel)
                    z_q, z_k = self._latent(encoder(q_in)), self._latent(self.key[stream](k_in))
                    logits = z_q @ z_k.t() / self.loss_config.temperature
                    target = torch.arange(len(z_q), device=z_q.device)
                    result[stream] = float(F.cross_entropy(logits, target))
        finally:
            self.load_state_dict(saved, strict=False)
            self.train(was_training)
        return result
