"""``vcl eval linear|knn|semi|finetune``: the evaluation protocols, with three-stream fusion.

- ``linear``: a linear classifier on the frozen 256-d pooled feature. ``recipe=frozen`` (default,
  SkeletonCLR's way): backbone in eval mode, features computed once, SGD lr 3.0, momentum 0.9,
  no weight decay, 100 epochs, lr x0.1 at 80, batch 128; unlike SkeletonCLR the features are
  standardised with the training statistics first (``standardize``; without it short-trained
  encoders, whose features vary little around a common mean, probe far worse: 50% vs 89% joint
  top-1 on the demo model). ``recipe=official`` (the VCL code's):
  backbone in train mode (batch statistics, dropout) but frozen, SGD lr 6.0 at batch 256.
- ``knn``: cosine kNN, similarity-weighted votes, on the pooled feature or on mu.
- ``semi``: the whole network fine-tuned on a class-balanced 1% / 10% of the training labels
  (``train.semi``), tested on the test split.
- ``finetune``: the whole network fine-tuned on all training labels; ``--from-scratch`` starts
  from random weights (the supervised ST-GCN baseline).

Every protocol scores each stream and the fusion sum_s w_s * logits_s (default 0.6/0.6/0.4),
top-1 and top-5, over one or more seeds (mean and std), and writes a JSON result holding its
resolved config, the dataset's content hash, the checkpoint's weights hash and the metrics.
The options are ``train.eval_config.EvalConfig``; the classifiers are fitted by ``train.fitting``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import VclError
from common.scores import sigma_score, softmax_uncertainty
from skeleton.layouts import get_layout
from skeleton.pipelines import spec_score_channel
from skeleton.prepared import PreparedDataset
from skeleton.streams import STREAMS
from train.checkpoint import load_checkpoint
from train.eval_config import OPTIMIZERS, PROTOCOLS, SCHEDULES, EvalConfig
from train.fitting import classify, train_network, train_on_features
from train.model import DEFAULT_ARCHITECTURE, DEFAULT_FUSION, StreamEncoder, build_encoders
from train.probe import extract_features, knn_predict, knn_votes
from train.semi import labelled_subset, per_class_subset
from train.uncertainty import CORRUPTIONS, auroc, corrupt


class EvalError(VclError):
    """An evaluation cannot run as configured."""


def topk(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    return {
        "top1": float((top[:, 0] == labels).float().mean()),
        "top5": float((top == labels[:, None]).any(dim=1).float().mean()),
    }


def fuse(logits: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """sum_s w_s * logits_s in stream order (joint, bone, motion)."""
    streams = [s for s in STREAMS if s in logits]
    return torch.stack([weights[s] * logits[s] for s in streams]).sum(dim=0)


class Evaluation:
    """Loads data and model once; ``run()`` evaluates every seed and returns the result dict."""

    def __init__(self, config: EvalConfig, progress: bool = True) -> None:
        if config.protocol not in PROTOCOLS:
            raise EvalError(f"unknown protocol {config.protocol!r}; known: {', '.join(PROTOCOLS)}")
        if len(config.fusion) != len(STREAMS):
            raise EvalError(
                f"fusion needs {len(STREAMS)} weights (joint, bone, motion), got {list(config.fusion)}"
            )
        if config.protocol in ("linear", "knn") and (config.from_scratch or not config.model):
            raise EvalError(f"{config.protocol} evaluates a pretrained checkpoint: pass --model")
        if config.optimizer not in OPTIMIZERS or config.schedule not in SCHEDULES:
            raise EvalError(
                f"optimizer must be one of {OPTIMIZERS} and schedule one of {SCHEDULES}, "
                f"got {config.optimizer!r} and {config.schedule!r}"
            )
        if config.per_class < 0 or (config.per_class and config.protocol not in ("semi", "linear")):
            raise EvalError(
                f"per_class (--per-class) labels K >= 1 clips per class for semi and linear; "
                f"got {config.per_class} with {config.protocol}"
            )
        if config.threads:
            torch.set_num_threads(config.threads)
        self.config = config
        self.progress = progress
        self.dataset = PreparedDataset(config.data)
        self.layout = get_layout(self.dataset.manifest["layout"])
        self.score = spec_score_channel(self.dataset.manifest["pipeline"])  # x, y, score input
        # networks trained from scratch take the data's C (3, or 2 for x, y keypoints)
        self.scratch = {**DEFAULT_ARCHITECTURE, "in_channels": int(self.dataset.joints.shape[1])}
        self.train_idx = self.dataset.split(config.split, "train")
        self.test_idx = self.dataset.split(config.split, "test")
        labels = self.dataset.labels
        if (labels[self.train_idx] < 0).any() or (labels[self.test_idx] < 0).any():
            raise EvalError(
                f"{config.data}: evaluation needs labels on every clip of the {config.split} split"
            )
        self.labels = torch.from_numpy(labels)
        self.num_classes = int(self.dataset.manifest["num_classes"])
        self.meta: dict[str, Any] | None = None
        if config.model and not config.from_scratch:
            model, self.meta = load_checkpoint(config.model)
            if self.meta["layout"] != self.layout.name:
                raise EvalError(
                    f"{config.model} was trained on layout {self.meta['layout']!r}, the data is "
                    f"{self.layout.name!r}"
                )
            self.encoders: dict[str, StreamEncoder] = {
                s: e for s, e in model.encoders.items() if isinstance(e, StreamEncoder)
            }
        else:
            self.encoders = build_encoders(self.layout, config.streams or STREAMS, "none", self.scratch)
        if config.streams:
            missing = [s for s in config.streams if s not in self.encoders]
            if missing:
                raise EvalError(
                    f"{config.model}: no {missing[0]!r} stream; it has {', '.join(self.encoders)}"
                )
            self.encoders = {s: self.encoders[s] for s in config.streams}
        self.initial = {
            s: {k: v.clone() for k, v in e.state_dict().items()} for s, e in self.encoders.items()
        }
        persons = config.persons or self.dataset.joints.shape[-1]
        joints = self.dataset.joints
        self.x_train = torch.from_numpy(np.ascontiguousarray(joints[self.train_idx][..., :persons]))
        self.x_test = torch.from_numpy(np.ascontiguousarray(joints[self.test_idx][..., :persons]))

    def run(self) -> dict[str, Any]:
        config = self.config
        start = time.time()
        per_seed: list[dict[str, Any]] = []
        extras: dict[str, Any] = {}
        seeds = config.seeds if config.protocol != "knn" else config.seeds[:1]
        features = None
        if config.protocol in ("knn", "linear") and config.recipe == "frozen" or config.protocol == "knn":
            features = self._features()
        test_logits: dict[str, np.ndarray] = {"labels": self.labels[self.test_idx].numpy()}
        for seed in seeds:
            logits = self._logits(seed, features)
            test_logits.update({f"{s}_seed{seed}": v.numpy() for s, v in logits.items()})
            y = self.labels[self.test_idx]
            scores = {s: topk(v, y) for s, v in logits.items()}
            fused = fuse(logits, config.fusion_weights())
            scores["fused"] = topk(fused, y)
            per_seed.append({"seed": seed, **scores})
            if seed == seeds[0] and config.protocol == "linear" and self._gaussian():
                extras["uncertainty"], extras["arrays"] = self._uncertainty(fused, y)
        summary: dict[str, dict[str, float]] = {}
        for name in per_seed[0]:
            if name == "seed":
                continue
            for metric in ("top1", "top5"):
                values = np.array([r[name][metric] for r in per_seed])
                summary.setdefault(name, {})[f"{metric}_mean"] = float(values.mean())
                summary[name][f"{metric}_std"] = float(values.std())
        result = {
            "protocol": config.protocol,
            "config": dataclasses.asdict(config),
            "dataset": {
                "path": config.data,
                "dataset": self.dataset.manifest["dataset"],
                "content_sha256": self.dataset.manifest["content_sha256"],
                "num_classes": self.num_classes,
                "train": len(self.train_idx),
                "test": len(self.test_idx),
            },
            "checkpoint": None
            if self.meta is None
            else {
                "path": config.model,
                "method": self.meta["method"],
                "weights_sha256": self.meta["weights_sha256"],
            },
            "method": "supervised" if self.meta is None else self.meta["method"],
            "metrics": {"seeds": per_seed, "summary": summary},
            "seconds": round(time.time() - start, 1),
        }
        if "uncertainty" in extras:
            result["uncertainty"] = extras["uncertainty"]
            result["_arrays"] = extras["arrays"]
        result["_logits"] = test_logits
        return result

    def _gaussian(self) -> bool:
        return all(e.head == "gaussian" for e in self.encoders.values())

    def _features(self) -> dict[str, dict[str, torch.Tensor]]:
        key = self.config.knn_on if self.config.protocol == "knn" else "feature"
        if key == "mu" and not self._gaussian():
            raise EvalError(f"{self.config.model}: kNN on mu needs a Gaussian (VCL) head")
        return {
            part: extract_features(self.encoders, x, self.layout.parents, key=key, score=self.score)
            for part, x in (("train", self.x_train), ("test", self.x_test))
        }

    def _reset(self) -> None:
        for s, e in self.encoders.items():
            e.load_state_dict(self.initial[s])

    def _logits(
        self, seed: int, features: dict[str, dict[str, torch.Tensor]] | None
    ) -> dict[str, torch.Tensor]:
        config = self.config
        y_train = self.labels[self.train_idx]
        logits = {}
        if config.protocol == "knn":
            assert features is not None
            for s in self.encoders:
                predicted_votes = knn_votes(
                    features["train"][s], y_train, features["test"][s], config.k, self.num_classes
                )
                logits[s] = predicted_votes
            return logits
        rows = self._labelled_rows(y_train, seed)
        if config.protocol == "linear" and config.recipe == "frozen":
            assert features is not None
            for s in self.encoders:
                x_s, y_s = features["train"][s][rows], y_train[rows]
                layer = train_on_features(x_s, y_s, self.num_classes, config, seed)
                with torch.no_grad():
                    logits[s] = layer(features["test"][s])
            return logits
        x, y = self.x_train[rows], y_train[rows]
        full = config.protocol in ("semi", "finetune")
        for s, encoder in self.encoders.items():
            self._reset()
            torch.manual_seed(seed)
            if config.from_scratch:
                encoder = build_encoders(self.layout, (s,), "none", self.scratch)[s]
            classifier = nn.Linear(encoder.backbone.feature_dim, self.num_classes)
            parents = self.layout.parents
            progress, score = self.progress, self.score
            train_network(encoder, classifier, s, parents, x, y, config, seed, full, progress, score)
            logits[s] = classify(encoder, classifier, s, parents, self.x_test, score=self.score)
        self._reset()
        return logits

    def _labelled_rows(self, y_train: torch.Tensor, seed: int) -> np.ndarray:
        """Rows of the train part that keep their label: ``per_class`` clips of every class (semi
        and the frozen linear probe), ``label_fraction`` of them (semi), or all."""
        config = self.config
        y = y_train.numpy()
        if config.per_class:  # the same count per class (semi and linear only: checked at start)
            return per_class_subset(y, config.per_class, seed)
        if config.protocol == "semi":
            return labelled_subset(y, config.label_fraction, config.sampling, seed)
        return np.arange(len(y))

    def _uncertainty(
        self, fused: torch.Tensor, y: torch.Tensor
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """AUROC of the sigma score and of softmax confidence for the fused linear prediction's
        errors; the score on clean vs corrupted test clips."""
        logvar = {
            s: v.numpy()
            for s, v in extract_features(
                self.encoders, self.x_test, self.layout.parents, key="logvar", score=self.score
            ).items()
        }
        score = sigma_score(logvar)
        errors = (fused.argmax(1) != y).numpy()
        softmax = softmax_uncertainty(fused.numpy())
        corrupted = {}
        for kind in CORRUPTIONS:
            noisy = corrupt(self.x_test.numpy(), kind, seed=0)
            lv = {
                s: v.numpy()
                for s, v in extract_features(
                    self.encoders, noisy, self.layout.parents, key="logvar", score=self.score
                ).items()
            }
            corrupted[kind] = float(sigma_score(lv).mean())
        mu = extract_features(self.encoders, self.x_test, self.layout.parents, key="mu", score=self.score)
        embedding = np.concatenate([F.normalize(mu[s], dim=1).numpy() for s in STREAMS if s in mu], axis=1)
        summary = {
            "score": "mean log sigma^2 over latent dimensions and streams",
            "error_rate": float(errors.mean()),
            "auroc_sigma": auroc(score, errors),
            "auroc_softmax": auroc(softmax, errors),
            "score_clean": float(score.mean()),
            "score_corrupted": corrupted,
        }
        arrays = {
            "score": score,
            "errors": errors,
            "softmax_uncertainty": softmax,
            "labels": y.numpy(),
            "embedding": embedding,
        }
        return summary, arrays


def write_result(result: dict[str, Any], path: Path) -> Path:
    """The JSON result, the per-stream test logits of every seed beside it (``.logits.npz``: keys
    ``<stream>_seed<seed>`` and ``labels``, so runs of one stream each can be fused later) and,
    with uncertainty arrays, an .npz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logits = result.pop("_logits", None)
    if logits is not None:
        np.savez_compressed(path.with_suffix(".logits.npz"), **logits)
        result["logits"] = path.with_suffix(".logits.npz").name
    arrays = result.pop("_arrays", None)
    if arrays is not None:
        np.savez_compressed(path.with_suffix(".npz"), **arrays)
        result["arrays"] = path.with_suffix(".npz").name
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


__all__ = ["DEFAULT_FUSION", "EvalConfig", "Evaluation", "fuse", "knn_predict", "write_result"]
