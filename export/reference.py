"""The manifest's ``uncertainty`` block at export (``vcl export --reference DATA``): the exported
graph scores the validation clips of a prepared dataset (``skeleton.validation``, carved from the
protocol's training part, never the test part), and ``common.calibration`` turns their scores
into quantiles, a calibrated probability that the label is wrong, and the unknown threshold.

The classifier must not have been trained on these clips (``vcl eval uncertainty
--classifier-out`` fits it on the rest of the training part), or the calibration is optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.calibration import uncertainty_reference
from common.errors import VclError
from runtime.model import OnnxModel
from runtime.scores import output_logvars, sigma_score, softmax_uncertainty
from skeleton.prepared import PreparedDataset
from skeleton.validation import carve_validation


@dataclass(frozen=True)
class ReferenceSpec:
    """Which clips calibrate the uncertainty, and the rule of the unknown threshold.

    ``unknown_score``: sigma, softmax (1 - max p) or wrong_probability; ``flag_rate``: the share
    of validation clips above the threshold (default 0.05, docs/evaluation.md); ``calibrate_on``:
    the scores P(wrong) is fitted on (softmax alone by default: Platt scaling)."""

    data: Path
    split: str = "xsub"
    validation: str = "subject"
    fraction: float = 0.2
    unknown_score: str = "softmax"
    flag_rate: float = 0.05
    calibrate_on: tuple[str, ...] = ("softmax",)


class ReferenceSpecError(VclError):
    """The reference clips cannot calibrate this model."""


def reference_block(model: OnnxModel, spec: ReferenceSpec, batch: int = 64) -> dict[str, Any]:
    """The ``uncertainty`` block for ``model`` from the validation clips ``spec`` names."""
    m = model.manifest
    dataset = PreparedDataset(spec.data)
    if not m.classified or list(m.class_names or ()) != dataset.class_names:
        raise ReferenceSpecError(
            f"{spec.data}: the reference clips' classes must be the model's; model: "
            f"{list(m.class_names or [])[:3]}..., data: {dataset.class_names[:3]}..."
        )
    _, val = carve_validation(
        dataset.samples, dataset.split(spec.split, "train"), spec.validation, spec.fraction
    )
    parts: dict[str, list[np.ndarray]] = {"sigma": [], "softmax": [], "predicted": []}
    for start in range(0, len(val), batch):
        joints = np.asarray(dataset.joints[val[start : start + batch]], dtype=np.float32)
        out = model.run(joints[..., : m.input_shape[-1]])
        if m.has_gaussian_head:
            parts["sigma"].append(sigma_score(output_logvars(out, m.streams)))
        parts["softmax"].append(softmax_uncertainty(out["fused_logits"]))
        parts["predicted"].append(out["fused_logits"].argmax(axis=1))
    scores = {s: np.concatenate(v) for s, v in parts.items() if v and s != "predicted"}
    wrong = np.concatenate(parts["predicted"]) != np.asarray(dataset.labels)[val]
    subjects = sorted({str(dataset.samples[i].get("subject")) for i in val})
    source = (
        f"{len(val)} validation clips of {spec.data} ({spec.split} train part, by {spec.validation}, "
        f"fraction {spec.fraction}; subjects {', '.join(subjects)})"
    )
    try:
        return uncertainty_reference(
            scores, wrong, spec.unknown_score, spec.flag_rate, source, spec.calibrate_on
        )
    except ValueError as err:
        raise ReferenceSpecError(f"{spec.data}: {err}") from None
