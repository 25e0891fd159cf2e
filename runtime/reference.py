"""The manifest's optional ``uncertainty`` block as a dataclass: what a clip's scores mean against the
validation clips of the model's training data (written by ``vcl export --reference``).

A clip's raw scores (the sigma score, softmax confidence 1 - max p) become readable here: their
percentile among the reference clips, a calibrated probability that the predicted label is wrong,
and whether it is flagged unknown (its ``unknown_score`` above the threshold). The numbers come
from ``common.calibration.uncertainty_reference``; an old manifest has no block, and then none of
this is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.calibration import SCORES, UNKNOWN_SCORES, logistic_probability, percentile_of
from common.errors import VclError


class UncertaintyBlockError(VclError):
    """A manifest's ``uncertainty`` block is malformed."""


@dataclass(frozen=True)
class UncertaintyReference:
    """Attributes:
    reference: where the validation clips came from, and how many.
    quantiles: score name -> its 21 percentiles (0, 5, ..., 100) on the reference clips.
    features, center, scale, weights, bias: P(wrong) = sigmoid(w . (s - center) / scale + b).
    unknown_score: the score ``unknown_threshold`` applies to (sigma, softmax, wrong_probability).
    """

    reference: str
    quantiles: dict[str, tuple[float, ...]]
    features: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    unknown_score: str
    unknown_threshold: float
    flag_rate: float

    def read(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """From scores (name -> (N,)), per clip: ``percentile_<name>`` for every score with
        quantiles, ``wrong_probability`` and ``unknown_value`` (the ``unknown_score``'s value)."""
        out = {
            f"percentile_{s}": percentile_of(scores[s], q) for s, q in self.quantiles.items() if s in scores
        }
        x = np.stack([np.asarray(scores[f], dtype=np.float64) for f in self.features], axis=1)
        z = (x - np.asarray(self.center)) / np.asarray(self.scale)
        out["wrong_probability"] = logistic_probability(z, self.weights, self.bias)
        out["unknown_value"] = np.asarray(
            out["wrong_probability"]
            if self.unknown_score == "wrong_probability"
            else scores[self.unknown_score],
            dtype=np.float64,
        )
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "unknown_score": self.unknown_score,
            "unknown_threshold": self.unknown_threshold,
            "flag_rate": self.flag_rate,
        }


def _numbers(value: Any, path: Path, name: str, length: int | None = None) -> tuple[float, ...]:
    if not (
        isinstance(value, list)
        and all(isinstance(v, (int, float)) and np.isfinite(v) for v in value)
        and (length is None or len(value) == length)
    ):
        expected = f"{length} finite numbers" if length is not None else "a list of finite numbers"
        raise UncertaintyBlockError(f"{path}: field {name!r}: expected {expected}, got {value!r}")
    return tuple(float(v) for v in value)


def parse_reference(raw: Any, path: Path) -> UncertaintyReference | None:
    """The ``uncertainty`` block of a manifest read from ``path``, or None when there is none."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise UncertaintyBlockError(
            f"{path}: field 'uncertainty': expected an object, got {type(raw).__name__}"
        )
    try:
        calibration, unknown = raw["wrong_probability"], raw["unknown"]
        features = tuple(calibration["features"])
        quantiles = {
            str(s): _numbers(q, path, f"uncertainty.quantiles.{s}", 21) for s, q in raw["quantiles"].items()
        }
        k = len(features)
        reference = UncertaintyReference(
            reference=str(raw.get("reference", "")),
            quantiles=quantiles,
            features=features,
            center=_numbers(calibration["center"], path, "uncertainty.wrong_probability.center", k),
            scale=_numbers(calibration["scale"], path, "uncertainty.wrong_probability.scale", k),
            weights=_numbers(calibration["weights"], path, "uncertainty.wrong_probability.weights", k),
            bias=float(calibration["bias"]),
            unknown_score=str(unknown["score"]),
            unknown_threshold=float(unknown["threshold"]),
            flag_rate=float(unknown.get("flag_rate", 0.0)),
        )
    except (KeyError, TypeError) as err:
        raise UncertaintyBlockError(f"{path}: field 'uncertainty': missing or malformed {err}") from None
    if any(f not in SCORES for f in features) or reference.unknown_score not in UNKNOWN_SCORES:
        raise UncertaintyBlockError(
            f"{path}: field 'uncertainty': scores must be among {', '.join(UNKNOWN_SCORES)}, got "
            f"features {list(features)} and unknown score {reference.unknown_score!r}"
        )
    if reference.unknown_score in SCORES and reference.unknown_score not in features:
        raise UncertaintyBlockError(
            f"{path}: field 'uncertainty.unknown.score': {reference.unknown_score!r} is not a feature"
        )
    return reference
