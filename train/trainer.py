"""``vcl train``: the multi-stream VCL / SkeletonCLR pretraining loop.

The run directory and the resume state are ``train.run_dir``'s; the log, TensorBoard and the
health warnings ``train.run_log``'s. Every epoch reseeds torch from (seed, epoch) and draws its
shuffling and augmentations from generators seeded the same way, so a run resumed at an epoch
boundary continues exactly as an uninterrupted one (bit for bit on CPU with ``run.deterministic``).
Under ``torchrun`` each process trains its share of every global batch (``train.distributed``);
rank 0 alone logs and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from skeleton.layouts import get_layout
from skeleton.pipelines import spec_score_channel
from skeleton.prepared import PreparedDataset
from train import distributed
from train.augment import augment
from train.batchnorm import recompute_batchnorm
from train.checkpoint import init_encoders, save_checkpoint
from train.config import TrainConfig
from train.moco import MomentumContrast
from train.model import MultiStreamModel, StreamEncoder, build_encoders
from train.precision import cpu_precision
from train.probe import extract_features, knn_accuracy
from train.progress import progress_postfix
from train.run_dir import Stateful, TrainingError, prepare_run_dir, restore_state, resume_state, state_path
from train.run_log import RunLog, health_warnings, momentum_warning
from train.stgcn import set_aggregate_first

log = logging.getLogger("vcl.train")


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919) % (2**31 - 1)


def kl_weight_at(config: TrainConfig, epoch_progress: float) -> float:
    """KL weight at a (fractional) epoch: linear ramp 0 -> weight over the anneal epochs, or constant."""
    loss = config.loss
    if loss.kl_schedule == "constant" or loss.kl_anneal_epochs <= 0:
        return loss.kl_weight
    return loss.kl_weight * min(1.0, epoch_progress / loss.kl_anneal_epochs)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("run.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


class Trainer:
    """Holds everything a run needs; ``fit()`` trains to ``optim.epochs``."""

    def __init__(self, config: TrainConfig, resume: bool = False, progress: bool = True) -> None:
        self.config = config
        self.out = Path(config.run.out_dir)
        self.device = resolve_device(config.run.device)
        # torchrun: one process per device, rank 0 logs and writes (train.distributed)
        self.dist, self._owns_group = distributed.setup(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if config.optim.batch_size % self.dist.world_size:
            raise TrainingError(
                f"optim.batch_size {config.optim.batch_size} is the global batch and must be a "
                f"multiple of the world size {self.dist.world_size}"
            )
        self.progress = progress and self.dist.is_main
        if config.run.threads > 0:
            torch.set_num_threads(config.run.threads)
        if config.run.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        distributed.main_first(self.dist, lambda: prepare_run_dir(self.out, config, resume))

        self.dataset = PreparedDataset(config.data.path)
        self.layout = get_layout(self.dataset.manifest["layout"])
        self.train_index = self._indices(config.data.part)
        if len(self.train_index) == 0:
            raise TrainingError(f"{config.data.path}: no clips in {config.data.protocol}/{config.data.part}")
        self.joints = torch.from_numpy(np.ascontiguousarray(self.dataset.joints[self.train_index]))
        self.monitor_index = self._indices(config.data.monitor_part) if config.data.monitor_part else None
        self.has_labels = bool((self.dataset.labels >= 0).all())

        torch.manual_seed(config.run.seed)
        m = config.model
        # the input's C comes from the data (3: x, y, z or x, y, score; 2: x, y keypoints)
        self.architecture = {**m.architecture(), "in_channels": int(self.dataset.joints.shape[1])}
        # the shear augmentation mixes coordinates only, never a score channel (pose2d keep_score)
        score = spec_score_channel(self.dataset.manifest["pipeline"])
        self.coords = self.architecture["in_channels"] - int(score)
        encoders = build_encoders(
            self.layout, config.data.streams, m.head, self.architecture, logvar_bias=m.logvar_bias
        )
        # model.init: start from a checkpoint's weights (before the key encoders copy the query's)
        self.init = init_encoders(encoders, m.init, self.layout.name) if m.init else None
        if self.init:
            log.info("encoders start from %s (heads: %s)", m.init, self.init["heads"])
        for encoder in encoders.values():
            encoder.backbone.freeze_statistics(input=m.input_bn == "frozen", blocks=m.block_bn == "frozen")
        self.method = MomentumContrast(
            encoders,
            self.layout.parents,
            config.loss,
            torch.Generator().manual_seed(config.run.seed),
            score_channel=score,
        ).to(self.device)
        self.score = score
        self.optimizer = torch.optim.AdamW(
            self.method.query.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(config.optim.lr_milestones), gamma=config.optim.lr_gamma
        )
        set_aggregate_first(self.method, config.run.graph_aggregate_first)
        self.amp_dtype = self._amp_dtype()
        if self.device.type == "cpu":
            self.method.compute_dtype = cpu_precision(config.run.precision)
            log.info("CPU encoders compute in %s", self.method.compute_dtype or torch.float32)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.epoch = 0
        self.best: float | None = None
        self.global_step = 0
        if resume:
            counters = restore_state(state_path(self.out), self.device, self._stateful())
            if counters["world_size"] != self.dist.world_size:
                raise TrainingError(
                    f"cannot resume {self.out}: it was trained by {counters['world_size']} process(es), "
                    f"this launch has {self.dist.world_size}; resume with the same world size "
                    "(torchrun --nnodes x --nproc-per-node)"
                )
            self.epoch, self.global_step = counters["epoch"], counters["global_step"]
            self.best = counters["best"]
            log.info("resumed %s at epoch %d", self.out, self.epoch)
        if self.dist.enabled:
            self.method.replicas = distributed.wrap_query(
                self.method.query, self.device, config.run.sync_batchnorm
            )
            self.method.shuffle_bn = config.run.shuffle_bn
        self.run_log: RunLog | distributed.QuietLog = (
            RunLog(self.out, purge_step=self.global_step) if self.dist.is_main else distributed.QuietLog()
        )

    # ------------------------------------------------------------------ setup
    def _indices(self, part: str) -> np.ndarray:
        if self.config.data.protocol == "all":
            return np.arange(len(self.dataset))
        return self.dataset.split(self.config.data.protocol, part)

    def _amp_dtype(self) -> torch.dtype | None:
        if not self.config.run.amp or self.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    # ------------------------------------------------------------------ state
    def _stateful(self) -> dict[str, Stateful]:
        return {
            "method": self.method,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "scaler": self.scaler,
        }

    def _state(self) -> dict[str, Any]:
        counters = {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best": self.best,
            "world_size": self.dist.world_size,
        }
        return resume_state(self._stateful(), counters)

    def export_model(self) -> MultiStreamModel:
        """The query encoders as a MultiStreamModel (what later stages load)."""
        encoders: dict[str, StreamEncoder] = dict(self.method.query.items())  # type: ignore[arg-type]
        return MultiStreamModel(encoders, self.layout.parents, score_channel=self.score)

    def _meta(self) -> dict[str, Any]:
        m = self.config.model
        return {
            "method": m.method,
            "head": m.head,
            "layout": self.layout.name,
            "pipeline": self.dataset.manifest["pipeline"],
            "class_names": self.dataset.manifest["class_names"],
            "num_classes": None,
            "architecture": self.architecture,
            "dataset": {
                "path": self.config.data.path,
                "dataset": self.dataset.manifest["dataset"],
                "content_sha256": self.dataset.manifest["content_sha256"],
            },
            "epoch": self.epoch,
            "init": self.init,
        }

    def save(self, name: str, with_state: bool = False) -> Path:
        return save_checkpoint(
            self.out / "checkpoints" / name,
            self.export_model(),
            self._meta(),
            self.config.to_yaml(),
            self._state() if with_state else None,
        )

    # ------------------------------------------------------------------ training
    def heldout_views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Two fixed augmented views of up to 256 held-out clips (train clips without a held-out part)."""
        index = self.monitor_index if self.monitor_index is not None else self.train_index
        chosen = np.sort(np.random.default_rng(self.config.run.seed).permutation(index)[:256])
        x = torch.from_numpy(np.ascontiguousarray(self.dataset.joints[chosen]))
        generator = torch.Generator().manual_seed(self.config.run.seed)
        return self.view(x, generator).to(self.device), self.view(x, generator).to(self.device)

    def view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One augmented view of joints (N, C, T, V, M) with the config's augmentations."""
        a = self.config.augment
        return augment(x, a.crop_padding_ratio, a.shear, generator, self.coords, a.rotation, a.noise)

    def heldout(self) -> dict[str, float]:
        """Held-out InfoNCE per stream (``heldout/<stream>``) and its mean (``heldout/info_nce``)."""
        scores = self.method.heldout_info_nce(*self._heldout, seed=self.config.run.seed)
        return {
            **{f"heldout/{s}": v for s, v in scores.items()},
            "heldout/info_nce": float(np.mean(list(scores.values()))),
        }

    def fit(self) -> Path:
        epochs = self.config.optim.epochs
        self._heldout = self.heldout_views()
        if self.epoch == 0:
            self.run_log.record({"kind": "initial", "epoch": 0, "step": 0, **self.heldout()})
            per_epoch = len(self.joints) // self.global_batch()  # the incomplete last batch is dropped
            message = momentum_warning(self.config.loss.momentum, epochs * per_epoch)
            if message and self.dist.is_main:
                self.run_log.warn(message, 0, 0)
        while self.epoch < epochs:
            stats = self.train_epoch()
            self.epoch += 1
            self.scheduler.step()
            record: dict[str, Any] = {"kind": "epoch", "epoch": self.epoch, "step": self.global_step, **stats}
            monitor_due = (
                self.monitor_index is not None
                and self.has_labels
                and (self.epoch % self.config.run.monitor_every == 0 or self.epoch == epochs)
            )
            keep = self.epoch % self.config.run.checkpoint_every == 0
            if monitor_due or keep or self.epoch == epochs:
                # exact eval-mode statistics for the monitor and the checkpoints (train.batchnorm)
                recompute_batchnorm(
                    self.method.query, self.joints, self.layout.parents, device=self.device, score=self.score
                )
            if monitor_due or self.epoch == epochs:
                record.update(self.heldout())  # on every rank: SyncBatchNorm takes part in it
            if monitor_due and self.dist.is_main:
                record.update(self.monitor())
                score = record["knn_top1"]
                if self.best is None or score > self.best:
                    self.best = score
                    self.save("best")
            self.run_log.record(record)
            for message in health_warnings(stats, self.config.data.streams, self.config.run):
                self.run_log.warn(message, self.epoch, self.global_step)
            if self.dist.is_main:
                if keep:
                    self.save(f"epoch_{self.epoch:04d}")
                self.save("last", with_state=True)
        self.run_log.close()
        distributed.barrier()  # every rank returns once the checkpoints are written
        return self.out

    def close(self) -> None:
        """Leave the process group if this trainer joined it."""
        if self._owns_group:
            distributed.teardown()
            self._owns_group = False

    def global_batch(self) -> int:
        """Clips per optimizer step over all ranks: ``optim.batch_size``, at most the clips that
        divide evenly among the ranks."""
        n = len(self.joints)
        return min(self.config.optim.batch_size, n - n % self.dist.world_size)

    def train_epoch(self) -> dict[str, float]:
        config = self.config
        seed = epoch_seed(config.run.seed, self.epoch)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        n = len(self.joints)
        batch = self.global_batch()
        order = torch.randperm(n, generator=generator)  # the same on every rank
        if self.dist.enabled:  # each rank its own augmentations, dropout and sampling noise
            torch.manual_seed(distributed.rank_seed(seed, self.dist.rank))
            generator.manual_seed(distributed.rank_seed(seed, self.dist.rank))
        batches = distributed.rank_batches(order, batch, self.dist)
        steps = len(batches)
        self.method.train()
        sums: dict[str, float] = {}
        start = time.perf_counter()
        bar = tqdm(
            range(steps),
            desc=f"epoch {self.epoch + 1}/{config.optim.epochs}",
            leave=False,
            disable=not self.progress,
            dynamic_ncols=True,
        )
        for i in bar:
            x = self.joints[batches[i]]
            view_q, view_k = self.view(x, generator), self.view(x, generator)
            kl_weight = kl_weight_at(config, self.epoch + i / steps)
            autocast = (
                torch.autocast(self.device.type, dtype=self.amp_dtype)
                if self.amp_dtype is not None
                else contextlib.nullcontext()
            )
            with autocast:
                results = self.method(view_q.to(self.device), view_k.to(self.device), kl_weight)
                total = torch.stack([r["loss"] for r in results.values()]).sum()
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.global_step += 1
            step_stats = {"loss": float(total.detach())}
            for stream, values in results.items():
                step_stats.update({f"{stream}/{k}": float(v.detach()) for k, v in values.items()})
            for key, value in step_stats.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(progress_postfix(step_stats, kl_weight))
            if self.global_step % config.run.log_every == 0:
                elapsed = time.perf_counter() - start
                self.run_log.record(
                    {
                        "kind": "step",
                        "epoch": self.epoch,
                        "step": self.global_step,
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "kl_weight": kl_weight,
                        "clips_per_s": (i + 1) * batch / elapsed,
                        **step_stats,
                    }
                )
        bar.close()
        elapsed = time.perf_counter() - start
        means = distributed.mean_over_ranks({k: v / max(steps, 1) for k, v in sums.items()})
        return {
            **means,
            "lr": self.optimizer.param_groups[0]["lr"],
            "kl_weight": kl_weight_at(config, self.epoch + 1),
            "clips_per_s": steps * batch / elapsed,
        }

    def monitor(self) -> dict[str, float]:
        """Cosine kNN top-1 of each stream's pooled feature: train part -> monitor part."""
        assert self.monitor_index is not None
        labels = torch.from_numpy(self.dataset.labels)
        gallery = extract_features(
            self.method.query, self.joints, self.layout.parents, device=self.device, score=self.score
        )
        queries = extract_features(
            self.method.query,
            self.dataset.joints[self.monitor_index],
            self.layout.parents,
            device=self.device,
            score=self.score,
        )
        scores = {
            f"{s}/knn_top1": knn_accuracy(
                gallery[s],
                labels[self.train_index],
                queries[s],
                labels[self.monitor_index],
                self.config.run.knn_k,
            )
            for s in gallery
        }
        fused = torch.cat([torch.nn.functional.normalize(gallery[s], dim=1) for s in gallery], dim=1)
        fused_q = torch.cat([torch.nn.functional.normalize(queries[s], dim=1) for s in queries], dim=1)
        scores["knn_top1"] = knn_accuracy(
            fused, labels[self.train_index], fused_q, labels[self.monitor_index], self.config.run.knn_k
        )
        return scores


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train a run to completion; returns its directory. Under ``torchrun`` every process calls
    this (rank 0 writes the run directory)."""
    trainer = Trainer(config, resume=resume, progress=progress)
    try:
        return trainer.fit()
    finally:
        trainer.close()
