"""Reading uncertainty scores against reference clips: quantiles, percentiles, a logistic
calibration of "the label is wrong", and the default unknown threshold.

Pure numpy, shared by ``train`` (the uncertainty study of ``vcl eval uncertainty``), ``export``
(which fits these on a validation split and writes them into the manifest) and ``runtime`` (which
reads a clip's score through them). Scores follow ``common.scores``: larger = more uncertain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

QUANTILE_LEVELS = np.linspace(0.0, 100.0, 21)  # every 5th percentile: 21 numbers per score


def quantile_table(scores: np.ndarray, levels: np.ndarray = QUANTILE_LEVELS) -> list[float]:
    """The scores' percentiles at ``levels`` (0..100), ascending: the reference a clip is read against."""
    return [float(q) for q in np.percentile(np.asarray(scores, dtype=np.float64), levels)]


def percentile_of(
    score: float | np.ndarray, table: Sequence[float] | np.ndarray, levels: np.ndarray = QUANTILE_LEVELS
) -> np.ndarray:
    """The percentile (0..100) of ``score`` among the reference clips summarised by ``table``
    (``quantile_table``), linear between the stored quantiles and clipped to 0 and 100 outside.
    Equal quantiles (ties in the reference) read as the middle of their levels."""
    table = np.asarray(table, dtype=np.float64)
    x = np.asarray(score, dtype=np.float64)
    low = np.interp(x, table, levels)  # np.interp takes the last of equal xp: the highest level
    high = -np.interp(-x, -table[::-1], -levels[::-1])  # mirrored: the lowest of equal xp
    return np.asarray((low + high) / 2)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64))))


def logistic_fit(
    features: np.ndarray, targets: np.ndarray, ridge: float = 1e-3, steps: int = 50
) -> tuple[np.ndarray, float]:
    """Weights (K,) and bias of P(target) = sigmoid(features @ w + b), fitted by Newton's method on
    the mean log-loss plus ``ridge`` * |w|^2 / 2 (features (N, K), targets (N,) of 0/1). One
    feature is Platt scaling (Platt 1999). The ridge keeps the fit finite when the classes separate."""
    x = np.asarray(features, dtype=np.float64).reshape(len(targets), -1)
    y = np.asarray(targets, dtype=np.float64)
    a = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(a.shape[1])
    theta[-1] = np.log((y.mean() + 1e-3) / (1 - y.mean() + 1e-3))
    penalty = np.diag([ridge] * x.shape[1] + [0.0])
    for _ in range(steps):
        p = sigmoid(a @ theta)
        grad = a.T @ (p - y) / len(y) + penalty @ theta
        hess = (a * (p * (1 - p))[:, None]).T @ a / len(y) + penalty + 1e-9 * np.eye(len(theta))
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:-1], float(theta[-1])


def logistic_probability(
    features: np.ndarray, weights: np.ndarray | Sequence[float], bias: float
) -> np.ndarray:
    """(N,) sigmoid(features @ weights + bias) for features (N, K)."""
    x = np.asarray(features, dtype=np.float64).reshape(-1, len(weights))
    return sigmoid(x @ np.asarray(weights, dtype=np.float64) + bias)


def flag_threshold(scores: np.ndarray, rate: float) -> float:
    """The score above which a fraction ``rate`` of the reference clips lies: the (1 - rate)
    quantile, so flagging scores above it raises a false alarm on about ``rate`` of known clips."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"flag rate must be in (0, 1), got {rate}")
    return float(np.quantile(np.asarray(scores, dtype=np.float64), 1.0 - rate))


def brier(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """Mean squared difference between predicted probabilities and 0/1 outcomes."""
    return float(np.mean((np.asarray(probabilities) - np.asarray(targets, dtype=np.float64)) ** 2))


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray, bins: int = 10) -> float:
    """Sum over equal-width probability bins of (bin share) * |mean prediction - outcome rate|."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(total)


SCORES = ("sigma", "softmax")  # the sigma score and softmax confidence (1 - max p)
UNKNOWN_SCORES = (*SCORES, "wrong_probability")


def uncertainty_reference(
    scores: dict[str, np.ndarray],
    wrong: np.ndarray,
    unknown_score: str,
    flag_rate: float,
    source: str,
    calibrate_on: tuple[str, ...] = ("softmax",),
) -> dict[str, Any]:
    """The manifest's ``uncertainty`` block, from the scores (name in ``SCORES`` -> (N,)) of N
    validation clips whose predictions are ``wrong`` (N,) bools:

    - ``quantiles``: per score, ``quantile_table`` (a clip's percentile is read from it);
    - ``wrong_probability``: a logistic calibration of "the label is wrong" on the scores
      ``calibrate_on`` (softmax alone is Platt scaling; the default by docs/evaluation.md),
      each standardised by the validation mean and std first (``center``, ``scale``);
    - ``unknown``: the ``unknown_score`` and its ``flag_threshold`` at ``flag_rate``.
    """
    if unknown_score not in UNKNOWN_SCORES:
        raise ValueError(f"unknown score {unknown_score!r}; choose one of {', '.join(UNKNOWN_SCORES)}")
    names = [s for s in SCORES if s in scores]
    if unknown_score in SCORES and unknown_score not in names:
        raise ValueError(f"no {unknown_score!r} score to threshold; have {', '.join(names)}")
    features = [s for s in SCORES if s in calibrate_on]
    if not features or any(s not in names for s in calibrate_on):
        raise ValueError(f"cannot calibrate on {list(calibrate_on)}; have {', '.join(names)}")
    x = np.stack([np.asarray(scores[s], dtype=np.float64) for s in names], axis=1)
    f = x[:, [names.index(s) for s in features]]
    center, scale = f.mean(axis=0), f.std(axis=0) + 1e-12
    weights, bias = logistic_fit((f - center) / scale, np.asarray(wrong, dtype=bool))
    calibration = {
        "features": features,
        "center": center.tolist(),
        "scale": scale.tolist(),
        "weights": weights.tolist(),
        "bias": bias,
    }
    thresholded = (
        logistic_probability((f - center) / scale, weights, bias)
        if unknown_score == "wrong_probability"
        else x[:, names.index(unknown_score)]
    )
    return {
        "reference": source,
        "clips": len(x),
        "error_rate": float(np.mean(wrong)),
        "quantiles": {s: quantile_table(x[:, i]) for i, s in enumerate(names)},
        "wrong_probability": calibration,
        "unknown": {
            "score": unknown_score,
            "threshold": flag_threshold(thresholded, flag_rate),
            "flag_rate": flag_rate,
        },
    }
