"""``vcl eval uncertainty``: does the sigma score earn its place? Open-set detection, error
detection, what sigma correlates with, and the default unknown threshold, on frozen encoders.

Splits: the protocol's training part is cut into *fit* and *validation* clips
(``skeleton.validation``, by subject by default); linear probes (``train.probe.linear_probe_layer``,
one per stream, fused sum_s w_s * logits_s) train on the fit clips; the validation clips set the
threshold and the calibration; the test part only measures.

- closed set: probes on every class; AUROC for "this prediction is wrong" of the sigma score
  (mean log sigma^2), softmax confidence (1 - max p), softmax entropy and the calibrated
  probability that the label is wrong (``common.calibration``, fitted on validation); Brier score
  and ECE of that probability on test; the flag rates on test of each score's threshold.
- open set: per seed, ``open_set_classes`` classes drawn and held out of the probes' training;
  AUROC for "this test clip is an unseen action" of each score, the error AUROC on the seen
  classes, and each threshold's detection rate (unseen flagged) and false alarms (seen flagged).
- correlates: Spearman correlations on the test clips of the sigma score and of softmax
  confidence with clip length (frames before resampling), motion energy, person count, subject
  and correctness, and the variance share (eta^2) between subjects, classes and views.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.calibration import (
    UNKNOWN_SCORES,
    brier,
    expected_calibration_error,
    logistic_probability,
    uncertainty_reference,
)
from common.errors import VclError
from common.scores import entropy, sigma_score, sigma_scores, softmax, softmax_uncertainty
from skeleton.layouts import get_layout
from skeleton.prepared import PreparedDataset
from skeleton.streams import STREAMS
from skeleton.validation import carve_validation
from train.checkpoint import load_checkpoint, save_checkpoint
from train.model import StreamEncoder
from train.probe import extract_features, linear_probe_layer
from train.uncertainty import auroc, spearman, variance_explained


class StudyError(VclError):
    """The uncertainty study cannot run as configured."""


@dataclass(frozen=True)
class UncertaintyConfig:
    """``open_set_classes`` 0: a quarter of the classes. ``seeds``: one draw of held-out classes each."""

    data: str
    model: str
    split: str = "xsub"
    open_set_classes: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)
    validation: str = "subject"
    validation_fraction: float = 0.2
    flag_rate: float = 0.05
    probe_epochs: int = 300
    fusion: tuple[float, ...] = (0.6, 0.6, 0.4)
    threads: int = 0


def score_table(logits: np.ndarray, logvars: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """name -> (N,) uncertainty scores of fused logits (N, K) and per-stream log sigma^2 (N, D)."""
    return {
        "sigma": sigma_score(logvars),
        "softmax": softmax_uncertainty(logits),
        "entropy": entropy(softmax(logits)),
    }


def open_set_metrics(
    logits: np.ndarray, scores: dict[str, np.ndarray], labels: np.ndarray, seen: np.ndarray
) -> dict[str, Any]:
    """For test clips with fused logits (N, K) over the ``seen`` classes (K,) (original class ids,
    column order) and true ``labels`` (N,): AUROC of every score (name -> (N,)) for "unseen
    action", and for "wrong prediction" among the clips of seen classes."""
    unseen = ~np.isin(labels, seen)
    predicted = np.asarray(seen)[logits.argmax(axis=1)]
    wrong = predicted != labels
    known = ~unseen
    return {
        "unseen_clips": int(unseen.sum()),
        "seen_clips": int(known.sum()),
        "seen_error_rate": float(wrong[known].mean()),
        "auroc_unseen": {s: auroc(v, unseen) for s, v in scores.items()},
        "auroc_wrong_seen": {s: auroc(v[known], wrong[known]) for s, v in scores.items()},
    }


def clip_properties(dataset: PreparedDataset, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Per clip of ``idx``: ``length`` (source frames, before resampling), ``motion`` (mean joint
    displacement per frame of the preprocessed clip over present persons), ``persons`` (non-empty
    person slots), ``subject`` and ``view`` (-1 when unknown, views numbered by first appearance)."""
    samples = [dataset.samples[i] for i in idx]
    x = np.asarray(dataset.joints[idx], dtype=np.float64)  # (N, C, T, V, M)
    present = np.abs(x).sum(axis=(1, 2, 3)) > 0  # (N, M)
    step = np.linalg.norm(np.diff(x, axis=2), axis=1).mean(axis=(1, 2))  # (N, M)
    motion = (step * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    views = sorted({str(s.get("view")) for s in samples if s.get("view") is not None})
    return {
        "length": np.array([s["frame_range"][1] - s["frame_range"][0] for s in samples], dtype=np.float64),
        "motion": motion,
        "persons": present.sum(axis=1).astype(np.float64),
        "subject": np.array([s.get("subject") if s.get("subject") is not None else -1 for s in samples]),
        "view": np.array([views.index(str(s["view"])) if s.get("view") is not None else -1 for s in samples]),
    }


def correlates(
    scores: dict[str, np.ndarray], properties: dict[str, np.ndarray], labels: np.ndarray, correct: np.ndarray
) -> dict[str, dict[str, float]]:
    """score -> {``rho_<property>``: Spearman correlation; ``eta2_<group>``: variance share}."""
    out = {}
    for name in ("sigma", "softmax"):
        s = scores[name]
        row = {f"rho_{p}": spearman(s, properties[p]) for p in ("length", "motion", "persons", "subject")}
        row["rho_correct"] = spearman(s, correct.astype(np.float64))
        row["eta2_subject"] = variance_explained(s, properties["subject"])
        row["eta2_class"] = variance_explained(s, labels)
        row["eta2_view"] = (
            variance_explained(s, properties["view"]) if (properties["view"] >= 0).all() else float("nan")
        )
        out[name] = row
    return out


def threshold_rates(
    block: dict[str, Any], scores: dict[str, np.ndarray], positives: np.ndarray, score: str
) -> dict[str, float]:
    """The threshold the validation ``block`` sets on ``score`` (``block["thresholds"]``), applied
    to test scores: the share of ``positives`` (unseen or wrong) flagged, and of the others."""
    value = _calibrated(block, scores) if score == "wrong_probability" else np.asarray(scores[score])
    flagged = value > float(block["thresholds"][score])
    return {
        "flagged_positive": float(flagged[positives].mean()) if positives.any() else float("nan"),
        "flagged_negative": float(flagged[~positives].mean()) if (~positives).any() else float("nan"),
    }


def _calibration_quality(
    block: dict[str, Any], scores: dict[str, np.ndarray], wrong: np.ndarray
) -> dict[str, Any]:
    """Brier score, ECE and AUROC on test of a block's calibrated P(wrong), and its weights."""
    p = _calibrated(block, scores)
    c = block["wrong_probability"]
    return {
        "brier": brier(p, wrong),
        "ece": expected_calibration_error(p, wrong),
        "auroc": auroc(p, wrong),
        "weights": dict(zip(c["features"], c["weights"], strict=True)),
    }


def _calibrated(block: dict[str, Any], scores: dict[str, np.ndarray]) -> np.ndarray:
    c = block["wrong_probability"]
    x = np.stack([scores[f] for f in c["features"]], axis=1)
    return logistic_probability(
        (x - np.asarray(c["center"])) / np.asarray(c["scale"]), c["weights"], c["bias"]
    )


class UncertaintyStudy:
    """Loads data and checkpoint, extracts features and log sigma^2 once; ``run()`` returns the result."""

    def __init__(self, config: UncertaintyConfig) -> None:
        if config.threads:
            torch.set_num_threads(config.threads)
        if not config.model:
            raise StudyError("the uncertainty study evaluates a pretrained checkpoint: pass --model")
        self.config = config
        self.dataset = PreparedDataset(config.data)
        self.layout = get_layout(self.dataset.manifest["layout"])
        model, self.meta = load_checkpoint(config.model)
        if self.meta["layout"] != self.layout.name:
            raise StudyError(
                f"{config.model} was trained on layout {self.meta['layout']!r}, "
                f"the data is {self.layout.name!r}"
            )
        self.model = model
        self.encoders = {s: e for s, e in model.encoders.items() if isinstance(e, StreamEncoder)}
        if not self.encoders or any(e.head != "gaussian" for e in self.encoders.values()):
            raise StudyError(
                f"{config.model}: the uncertainty study needs Gaussian (VCL) heads on every stream"
            )
        self.weights = dict(zip(STREAMS, config.fusion, strict=True))
        train_idx = self.dataset.split(config.split, "train")
        self.test_idx = self.dataset.split(config.split, "test")
        self.fit_idx, self.val_idx = carve_validation(
            self.dataset.samples, train_idx, config.validation, config.validation_fraction
        )
        self.labels = np.asarray(self.dataset.labels)
        self.num_classes = int(self.dataset.manifest["num_classes"])
        joints = np.array(self.dataset.joints)  # a writable copy for torch
        self.features = extract_features(self.encoders, joints, self.layout.parents)
        self.logvars = {
            s: v.numpy()
            for s, v in extract_features(self.encoders, joints, self.layout.parents, key="logvar").items()
        }

    def _probes(self, classes: np.ndarray) -> dict[str, torch.nn.Linear]:
        rows = self.fit_idx[np.isin(self.labels[self.fit_idx], classes)]
        remap = {int(c): i for i, c in enumerate(classes)}
        y = torch.tensor([remap[int(c)] for c in self.labels[rows]])
        return {
            s: linear_probe_layer(f[rows], y, len(classes), epochs=self.config.probe_epochs)
            for s, f in self.features.items()
        }

    def _scores(
        self, probes: dict[str, torch.nn.Linear], idx: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        with torch.no_grad():
            logits = sum(self.weights[s] * p(self.features[s][idx]).numpy() for s, p in probes.items())
        assert isinstance(logits, np.ndarray)
        return logits, score_table(logits, {s: v[idx] for s, v in self.logvars.items()})

    def _stream_sigma(self) -> dict[str, np.ndarray]:
        """stream -> (N,) sigma score of the test clips."""
        return sigma_scores({s: v[self.test_idx] for s, v in self.logvars.items()})

    def _reference(
        self,
        probes: dict[str, torch.nn.Linear],
        classes: np.ndarray,
        calibrate_on: tuple[str, ...] = ("softmax",),
    ) -> dict[str, Any]:
        """The validation block (every unknown score's threshold under ``thresholds``), on the
        validation clips of ``classes``."""
        val = self.val_idx[np.isin(self.labels[self.val_idx], classes)]
        logits, scores = self._scores(probes, val)
        wrong = classes[logits.argmax(1)] != self.labels[val]
        blocks = {
            u: uncertainty_reference(scores, wrong, u, self.config.flag_rate, "validation", calibrate_on)
            for u in UNKNOWN_SCORES
        }
        block = blocks["softmax"]
        block["thresholds"] = {u: b["unknown"]["threshold"] for u, b in blocks.items()}
        return block

    def closed_set(self) -> tuple[dict[str, Any], dict[str, torch.nn.Linear], dict[str, Any]]:
        classes = np.arange(self.num_classes)
        probes = self._probes(classes)
        block = self._reference(probes, classes)
        both = self._reference(probes, classes, ("sigma", "softmax"))
        logits, scores = self._scores(probes, self.test_idx)
        wrong = logits.argmax(1) != self.labels[self.test_idx]
        calibrated = _calibrated(block, scores)
        scores_all = {**scores, "wrong_probability": calibrated, "sigma+softmax": _calibrated(both, scores)}
        result = {
            "error_rate": float(wrong.mean()),
            "validation_error_rate": block["error_rate"],
            "auroc_wrong": {s: auroc(v, wrong) for s, v in scores_all.items()},
            "auroc_wrong_sigma_per_stream": {s: auroc(v, wrong) for s, v in self._stream_sigma().items()},
            "calibration": {
                name: _calibration_quality(b, scores, wrong)
                for name, b in (("softmax", block), ("sigma+softmax", both))
            },
            "brier_constant": brier(np.full(len(wrong), block["error_rate"]), wrong),
            "thresholds": {
                u: {"threshold": block["thresholds"][u], **threshold_rates(block, scores, wrong, u)}
                for u in UNKNOWN_SCORES
            },
            "score_spread": {s: {"mean": float(v.mean()), "std": float(v.std())} for s, v in scores.items()},
        }
        properties = clip_properties(self.dataset, self.test_idx)
        table = correlates(scores, properties, self.labels[self.test_idx], ~wrong)
        return result, probes, table

    def open_set(self, seed: int) -> dict[str, Any]:
        k = self.config.open_set_classes or max(1, round(self.num_classes / 4))
        if not 0 < k < self.num_classes - 1:
            raise StudyError(
                f"open set: cannot hold out {k} of {self.num_classes} classes (at least 2 must stay seen)"
            )
        unseen = np.sort(np.random.default_rng(seed).choice(self.num_classes, size=k, replace=False))
        seen = np.setdiff1d(np.arange(self.num_classes), unseen)
        probes = self._probes(seen)
        block = self._reference(probes, seen)
        logits, scores = self._scores(probes, self.test_idx)
        labels = self.labels[self.test_idx]
        metrics = open_set_metrics(logits, scores, labels, seen)
        is_unseen = ~np.isin(labels, seen)
        both = self._reference(probes, seen, ("sigma", "softmax"))
        metrics["auroc_unseen"]["wrong_probability"] = auroc(_calibrated(block, scores), is_unseen)
        metrics["auroc_unseen"]["sigma+softmax"] = auroc(_calibrated(both, scores), is_unseen)
        metrics["thresholds"] = {u: threshold_rates(block, scores, is_unseen, u) for u in UNKNOWN_SCORES}
        metrics["auroc_unseen_sigma_per_stream"] = {
            s: auroc(v, is_unseen) for s, v in self._stream_sigma().items()
        }
        return {"seed": seed, "unseen_classes": unseen.tolist(), **metrics}

    def run(self) -> dict[str, Any]:
        start = time.time()
        closed, self.closed_probes, table = self.closed_set()
        per_seed = [self.open_set(seed) for seed in self.config.seeds]
        summary: dict[str, Any] = {}
        for key in ("auroc_unseen", "auroc_wrong_seen"):
            for s in per_seed[0][key]:
                values = np.array([r[key][s] for r in per_seed])
                summary.setdefault(key, {})[s] = {"mean": float(values.mean()), "std": float(values.std())}
        for u in UNKNOWN_SCORES:
            for side in ("flagged_positive", "flagged_negative"):
                values = np.array([r["thresholds"][u][side] for r in per_seed])
                summary.setdefault("thresholds", {}).setdefault(u, {})[side] = float(values.mean())
        return {
            "protocol": "uncertainty",
            "config": dataclasses.asdict(self.config),
            "dataset": {
                "path": self.config.data,
                "dataset": self.dataset.manifest["dataset"],
                "content_sha256": self.dataset.manifest["content_sha256"],
                "num_classes": self.num_classes,
                "fit": len(self.fit_idx),
                "validation": len(self.val_idx),
                "validation_subjects": sorted(
                    {self.dataset.samples[i].get("subject") for i in self.val_idx}, key=str
                ),
                "test": len(self.test_idx),
            },
            "checkpoint": {"path": self.config.model, "weights_sha256": self.meta["weights_sha256"]},
            "closed_set": closed,
            "open_set": {"seeds": per_seed, "summary": summary},
            "correlates": table,
            "seconds": round(time.time() - start, 1),
        }

    def save_classifier(self, out: str | Path) -> Path:
        """The checkpoint with the closed-set probes (trained on the fit clips) as its classifiers,
        so that ``vcl export --reference`` calibrates on validation clips they never saw."""
        probes = getattr(self, "closed_probes", None) or self._probes(np.arange(self.num_classes))
        for s, p in probes.items():
            self.model.classifiers[s] = p
        meta = {
            **self.meta,
            "num_classes": self.num_classes,
            "class_names": self.dataset.class_names,
            "classifier": f"linear probe on frozen features ({self.config.split} train part without the "
            f"validation clips by {self.config.validation}, fraction {self.config.validation_fraction})",
        }
        return save_checkpoint(out, self.model, meta)
