"""``vcl train``: multi-stream VCL / SkeletonCLR pretraining with checkpoints and exact resume.

Run directory layout (``run.out_dir``):

- ``config.yaml``: the resolved config;
- ``log.jsonl``: one JSON object per logged step, per epoch and per warning;
- ``tb/``: TensorBoard scalars (the same numbers);
- ``checkpoints/last`` (every epoch, with ``state.pt`` for ``--resume``), ``checkpoints/best``
  (best kNN monitor), ``checkpoints/epoch_NNNN`` (every ``run.checkpoint_every`` epochs).

Every epoch reseeds torch from (seed, epoch) and draws its shuffling and augmentations from
generators seeded the same way, so a run resumed at an epoch boundary continues exactly as an
uninterrupted one (bit for bit on CPU with ``run.deterministic``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from skeleton.errors import SkeletonError
from skeleton.graph import spatial_partition
from skeleton.layouts import get_layout
from skeleton.prepared import PreparedDataset
from train.augment import augment
from train.batchnorm import recompute_batchnorm
from train.checkpoint import save_checkpoint
from train.config import ConfigError, TrainConfig, config_from_dict
from train.moco import ContrastOptions, MomentumContrast
from train.model import MultiStreamModel, StreamEncoder
from train.probe import extract_features, knn_accuracy
from train.progress import progress_postfix

log = logging.getLogger("vcl.train")


class TrainingError(SkeletonError):
    """Training cannot start or continue."""


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
        self.progress = progress
        self.out = Path(config.run.out_dir)
        self.device = resolve_device(config.run.device)
        if config.run.threads > 0:
            torch.set_num_threads(config.run.threads)
        if config.run.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self._prepare_run_dir(resume)

        self.dataset = PreparedDataset(config.data.path)
        self.layout = get_layout(self.dataset.manifest["layout"])
        self.train_index = self._indices(config.data.part)
        if len(self.train_index) == 0:
            raise TrainingError(f"{config.data.path}: no clips in {config.data.protocol}/{config.data.part}")
        self.joints = torch.from_numpy(np.ascontiguousarray(self.dataset.joints[self.train_index]))
        self.monitor_index = self._indices(config.data.monitor_part) if config.data.monitor_part else None
        self.has_labels = bool((self.dataset.labels >= 0).all())

        torch.manual_seed(config.run.seed)
        adjacency = torch.as_tensor(spatial_partition(self.layout))
        head = "gaussian" if config.model.method == "vcl" else "projection"
        m = config.model
        encoders = {
            s: StreamEncoder(
                adjacency,
                head=head,
                widths=m.widths,
                strides=m.strides,
                dropout=m.dropout,
                hidden_dim=m.hidden_dim,
                projection_dim=m.projection_dim,
                latent_dim=m.latent_dim,
                logvar_bias=m.logvar_bias,
            )
            for s in config.data.streams
        }
        loss = config.loss
        options = ContrastOptions(
            loss.queue_size,
            loss.momentum,
            loss.temperature,
            loss.kl_reduction,
            loss.free_bits,
            loss.kl_on_key,
        )
        self.method = MomentumContrast(
            encoders, self.layout.parents, options, torch.Generator().manual_seed(config.run.seed)
        ).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.method.query.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(config.optim.lr_milestones), gamma=config.optim.lr_gamma
        )
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.epoch = 0
        self.best: float | None = None
        self.global_step = 0
        if resume:
            self._load_state()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.out / "tb"), purge_step=self.global_step)

    # ------------------------------------------------------------------ setup
    def _prepare_run_dir(self, resume: bool) -> None:
        saved = self.out / "config.yaml"
        if resume:
            if not (self.out / "checkpoints" / "last" / "state.pt").is_file():
                raise TrainingError(f"{self.out}: nothing to resume (no checkpoints/last/state.pt)")
            previous = config_from_dict(yaml.safe_load(saved.read_text()), str(saved))
            self._check_resumable(previous)
        elif (self.out / "checkpoints").exists():
            raise TrainingError(
                f"{self.out}: already holds a run; pass --resume to continue it or choose another run.out_dir"
            )
        self.out.mkdir(parents=True, exist_ok=True)
        saved.write_text(self.config.to_yaml())

    def _check_resumable(self, previous: TrainConfig) -> None:
        now, before = self.config.to_dict(), previous.to_dict()
        for section, values in now.items():
            for key, value in values.items():
                if (section, key) in (("optim", "epochs"), ("run", "device"), ("run", "threads")):
                    continue
                if before[section][key] != value:
                    raise ConfigError(
                        f"cannot resume {self.out}: {section}.{key} changed from "
                        f"{before[section][key]!r} to {value!r} (only optim.epochs may change)"
                    )

    def _indices(self, part: str) -> np.ndarray:
        if self.config.data.protocol == "all":
            return np.arange(len(self.dataset))
        return self.dataset.split(self.config.data.protocol, part)

    def _amp_dtype(self) -> torch.dtype | None:
        if not self.config.run.amp or self.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return {
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best": self.best,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": np.random.get_state(),  # noqa: NPY002 (the global state, for exact resume)
                "python": random.getstate(),
            },
        }

    def _load_state(self) -> None:
        path = self.out / "checkpoints" / "last" / "state.pt"
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.global_step, self.best = state["epoch"], state["global_step"], state["best"]
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        np.random.set_state(state["rng"]["numpy"])  # noqa: NPY002
        random.setstate(state["rng"]["python"])
        log.info("resumed %s at epoch %d", self.out, self.epoch)

    def export_model(self) -> MultiStreamModel:
        """The query encoders as a MultiStreamModel (what later stages load)."""
        encoders: dict[str, StreamEncoder] = dict(self.method.query.items())  # type: ignore[arg-type]
        return MultiStreamModel(encoders, self.layout.parents)

    def _meta(self) -> dict[str, Any]:
        m = self.config.model
        return {
            "method": m.method,
            "head": "gaussian" if m.method == "vcl" else "projection",
            "layout": self.layout.name,
            "pipeline": self.dataset.manifest["pipeline"],
            "class_names": self.dataset.manifest["class_names"],
            "num_classes": None,
            "architecture": {
                "widths": list(m.widths),
                "strides": list(m.strides),
                "dropout": m.dropout,
                "hidden_dim": m.hidden_dim,
                "projection_dim": m.projection_dim,
                "latent_dim": m.latent_dim,
            },
            "dataset": {
                "path": self.config.data.path,
                "dataset": self.dataset.manifest["dataset"],
                "content_sha256": self.dataset.manifest["content_sha256"],
            },
            "epoch": self.epoch,
        }

    def save(self, name: str, with_state: bool = False) -> Path:
        return save_checkpoint(
            self.out / "checkpoints" / name,
            self.export_model(),
            self._meta(),
            self.config.to_yaml(),
            self._state() if with_state else None,
        )

    # ------------------------------------------------------------------ logging
    def _record(self, record: dict[str, Any]) -> None:
        with open(self.out / "log.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if isinstance(value, int | float) and key not in ("epoch", "step"):
                self.writer.add_scalar(f"{record.get('kind', 'train')}/{key}", value, self.global_step)

    def _warn(self, message: str) -> None:
        log.warning(message)
        tqdm.write(f"warning: {message}")
        self._record({"kind": "warning", "epoch": self.epoch, "step": self.global_step, "message": message})

    def _check_health(self, stats: dict[str, float]) -> None:
        run = self.config.run
        for stream in self.config.data.streams:
            sigma = stats.get(f"{stream}/mean_sigma")
            kl = stats.get(f"{stream}/kl")
            if sigma is not None and sigma < run.sigma_collapse:
                self._warn(
                    f"{stream}: mean sigma {sigma:.2e} < {run.sigma_collapse}: the posterior is "
                    "collapsing to a point (variational term inactive)"
                )
            if kl is not None and (not math.isfinite(kl) or kl > run.kl_blowup):
                self._warn(f"{stream}: KL {kl:.3g} > {run.kl_blowup}: the KL term is blowing up")

    # ------------------------------------------------------------------ training
    def heldout_views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Two fixed augmented views of up to 256 held-out clips (train clips without a held-out part)."""
        index = self.monitor_index if self.monitor_index is not None else self.train_index
        chosen = np.sort(np.random.default_rng(self.config.run.seed).permutation(index)[:256])
        x = torch.from_numpy(np.ascontiguousarray(self.dataset.joints[chosen]))
        generator = torch.Generator().manual_seed(self.config.run.seed)
        a = self.config.augment
        return (
            augment(x, a.crop_padding_ratio, a.shear, generator).to(self.device),
            augment(x, a.crop_padding_ratio, a.shear, generator).to(self.device),
        )

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
            self._record({"kind": "initial", "epoch": 0, "step": 0, **self.heldout()})
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
                recompute_batchnorm(self.method.query, self.joints, self.layout.parents, device=self.device)
            if monitor_due or self.epoch == epochs:
                record.update(self.heldout())
            if monitor_due:
                record.update(self.monitor())
                score = record["knn_top1"]
                if self.best is None or score > self.best:
                    self.best = score
                    self.save("best")
            self._record(record)
            self._check_health(stats)
            if keep:
                self.save(f"epoch_{self.epoch:04d}")
            self.save("last", with_state=True)
        self.writer.close()
        return self.out

    def train_epoch(self) -> dict[str, float]:
        config = self.config
        seed = epoch_seed(config.run.seed, self.epoch)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        n = len(self.joints)
        batch = min(config.optim.batch_size, n)
        order = torch.randperm(n, generator=generator)
        steps = n // batch
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
            x = self.joints[order[i * batch : (i + 1) * batch]]
            view_q = augment(x, config.augment.crop_padding_ratio, config.augment.shear, generator)
            view_k = augment(x, config.augment.crop_padding_ratio, config.augment.shear, generator)
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
                self._record(
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
        means = {k: v / max(steps, 1) for k, v in sums.items()}
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
        gallery = extract_features(self.method.query, self.joints, self.layout.parents, device=self.device)
        queries = extract_features(
            self.method.query,
            self.dataset.joints[self.monitor_index],
            self.layout.parents,
            device=self.device,
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
    """Train a run to completion; returns its directory."""
    return Trainer(config, resume=resume, progress=progress).fit()
