"""Data-parallel pretraining with ``torch.distributed``, launched by ``torchrun``.

``torchrun`` starts one process per device and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; ``setup`` joins the process group from them (``nccl`` on
CUDA, ``gloo`` on CPU) and without them is a no-op (one process, world size 1). What each piece
does, as in the authors' MoCo code (He et al., CVPR 2020, facebookresearch/moco):

- every rank holds the whole model; ``DistributedDataParallel`` wraps each stream's query
  encoder (the key encoders move by EMA of identical query parameters, so they stay identical);
- ``rank_batches``: all ranks draw the same per-epoch permutation from (seed, epoch) and cut it
  into global batches of ``optim.batch_size``; rank r takes the r-th interleaved share of each
  (``DistributedSampler``'s convention), so a global batch is the same set of clips whatever the
  world size, and an epoch is reproduced exactly on resume;
- ``gather``: the keys of all ranks are concatenated (rank order) before they enter the queue,
  so every rank's queue advances by the global batch and stays identical;
- ``shuffled_key_forward``: optional shuffling BN (MoCo section 3.3): the key encoder sees a
  random cross-rank permutation of the global batch, so its BatchNorm statistics cannot leak
  which key is a query's positive.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from train.run_dir import TrainingError

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank, world size and rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, shows progress and writes checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched() -> bool:
    """True when torchrun (or another launcher) set a world size above one."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_type: str) -> tuple[Context, bool]:
    """Join the process group from torchrun's environment; returns (context, whether this call
    created the group, so the caller should destroy it). An existing group is reused."""
    if dist.is_available() and dist.is_initialized():
        return current(), False
    if not launched():
        return Context(), False
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise TrainingError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} not set: launch with torchrun"
        )
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend=backend, init_method="env://")
    return current(), True


def current() -> Context:
    """The context of the initialised group (world size 1 without one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def main_first(context: Context, fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only; every rank raises rank 0's error, if any, so none is left
    waiting in a collective (e.g. a run directory refused on rank 0)."""
    if not context.enabled:
        return fn()
    result: T | None = None
    failure: Exception | None = None
    if context.is_main:
        try:
            result = fn()
        except Exception as err:
            failure = err
    box: list[Any] = [None if failure is None else f"{type(failure).__name__}: {failure}"]
    dist.broadcast_object_list(box, src=0)
    if failure is not None:
        raise failure
    if box[0] is not None:
        raise TrainingError(f"rank 0 failed: {box[0]}")
    return result


def rank_batches(order: torch.Tensor, batch: int, context: Context) -> list[torch.Tensor]:
    """This rank's part of each global batch of an epoch's permutation ``order``.

    Global batch i is ``order[i * batch : (i + 1) * batch]`` (the incomplete last one dropped);
    rank r gets its elements r, r + W, r + 2W, ... (W = world size), ``batch // W`` clips.
    """
    if batch % context.world_size:
        raise TrainingError(
            f"optim.batch_size {batch} (the global batch) must be a multiple of the world size "
            f"{context.world_size}"
        )
    steps = len(order) // batch
    return [order[i * batch : (i + 1) * batch][context.rank :: context.world_size] for i in range(steps)]


def rank_seed(seed: int, rank: int) -> int:
    """A seed for this rank's augmentations and sampling noise (``seed`` itself on rank 0 of one)."""
    return (seed + 104_729 * rank) % (2**31 - 1)


@torch.no_grad()
def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (N, ...) of every rank along dim 0, in rank order (no gradient)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def shuffled_key_forward(
    encoder: Callable[[torch.Tensor], Mapping[str, torch.Tensor]], x: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Shuffling BN: ``encoder`` applied to a random cross-rank permutation of the global batch,
    outputs returned in this rank's original order. Inputs (N, C, T, V, M), same N on every rank.

    The permutation is drawn on every rank (their random streams stay in step) and rank 0's is
    broadcast, as in the authors' code. With one process it is a plain forward.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return dict(encoder(x))
    world, rank = dist.get_world_size(), dist.get_rank()
    everything = gather(x)
    permutation = torch.randperm(len(everything), device=x.device)
    dist.broadcast(permutation, src=0)
    mine = permutation.view(world, -1)[rank]
    out = encoder(everything[mine])
    restore = torch.argsort(permutation).view(world, -1)[rank]
    return {name: gather(value)[restore] for name, value in out.items()}


def wrap_query(encoders: nn.ModuleDict, device: torch.device, sync_batchnorm: bool) -> dict[str, nn.Module]:
    """One ``DistributedDataParallel`` per stream's query encoder (each is called once per step).

    With ``sync_batchnorm`` the encoders' BatchNorm layers are first converted in place to
    ``SyncBatchNorm`` (statistics over the global batch; CUDA only in PyTorch). Returns stream ->
    wrapper; the encoders themselves stay what is saved and exported.
    """
    if sync_batchnorm and device.type != "cuda":
        raise TrainingError("run.sync_batchnorm needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel)")
    wrapped: dict[str, nn.Module] = {}
    for stream, encoder in encoders.items():
        if sync_batchnorm:
            to_sync_batchnorm(encoder)
        device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
        wrapped[stream] = nn.parallel.DistributedDataParallel(encoder, device_ids=device_ids)
    return wrapped


def to_sync_batchnorm(module: nn.Module) -> None:
    """Replace every BatchNorm child of ``module`` by a SyncBatchNorm, in place."""
    for name, child in list(module.named_children()):
        setattr(module, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))  # recurses itself


def mean_over_ranks(values: Mapping[str, float]) -> dict[str, float]:
    """Each figure averaged over the ranks (same keys on every rank); itself in one process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1 or not values:
        return dict(values)
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return {k: float(v) / dist.get_world_size() for k, v in zip(keys, tensor.tolist(), strict=True)}


class QuietLog:
    """The run log of ranks other than 0: records and warnings go nowhere (rank 0 writes them)."""

    def record(self, record: Mapping[str, Any]) -> None:
        pass

    def warn(self, message: str, epoch: int, step: int) -> None:
        pass

    def close(self) -> None:
        pass
