"""Scores from model outputs, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.scores import (
    entropy,
    fuse_logits,
    fused_sigma,
    output_logvars,
    sigma_score,
    sigma_scores,
    softmax,
    softmax_uncertainty,
    stream_sigma_scores,
)


def test_softmax_of_zero_and_ln3_is_a_quarter_and_three_quarters() -> None:
    probs = softmax(np.array([[0.0, math.log(3.0)], [5.0, 5.0]]))
    np.testing.assert_allclose(probs, [[0.25, 0.75], [0.5, 0.5]], atol=1e-12)


def test_softmax_is_stable_for_large_logits_and_keeps_dtype() -> None:
    probs = softmax(np.array([[1000.0, 1000.0 + math.log(3.0)]], np.float32))
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs, [[0.25, 0.75]], atol=1e-4)  # float32 holds 1000 + ln 3 to 6e-5


def test_entropy_in_nats() -> None:
    # uniform over 4: ln 4; certain: 0; (1/4, 3/4): -(1/4 ln 1/4 + 3/4 ln 3/4) = ln 4 - 3/4 ln 3
    probs = np.array([[0.25] * 4, [1.0, 0, 0, 0], [0.25, 0.75, 0, 0]])
    np.testing.assert_allclose(
        entropy(probs), [math.log(4), 0.0, math.log(4) - 0.75 * math.log(3)], atol=1e-9
    )


def test_softmax_uncertainty_is_one_minus_max_probability() -> None:
    logits = np.array([[0.0, math.log(3.0)], [0.0, 0.0], [10.0, -10.0]])
    np.testing.assert_allclose(softmax_uncertainty(logits), [0.25, 0.5, 0.0], atol=1e-8)


def test_sigma_score_from_sigma_outputs() -> None:
    # joint: sigma (1, e^-1) -> log sigma^2 (0, -2), mean -1; bone: sigma e^-2 twice -> -4
    outputs = {
        "joint_sigma": np.array([[1.0, math.exp(-1.0)]]),
        "bone_sigma": np.array([[math.exp(-2.0), math.exp(-2.0)]]),
        "joint_mu": np.zeros((1, 2)),
    }
    logvars = output_logvars(outputs, ["joint", "bone"])
    np.testing.assert_allclose(logvars["joint"], [[0.0, -2.0]], atol=1e-12)
    per_stream = stream_sigma_scores(outputs, ["joint", "bone"])
    np.testing.assert_allclose(per_stream["joint"], [-1.0])
    np.testing.assert_allclose(per_stream["bone"], [-4.0])
    assert sigma_scores(logvars).keys() == {"joint", "bone"}
    np.testing.assert_allclose(sigma_score(logvars), [-2.5])


def test_fuse_logits_is_the_weighted_sum() -> None:
    logits = {
        "joint": np.array([[1.0, 2.0]]),
        "bone": np.array([[3.0, -1.0]]),
        "motion": np.array([[0.0, 5.0]]),
    }
    fused = fuse_logits(logits, {"joint": 0.6, "bone": 0.6, "motion": 0.4})
    # 0.6 * 1 + 0.6 * 3 + 0.4 * 0 = 2.4; 0.6 * 2 - 0.6 * 1 + 0.4 * 5 = 2.6
    np.testing.assert_allclose(fused, [[2.4, 2.6]])


def test_fused_sigma_by_the_delta_method() -> None:
    # joint: mu - c = (3, 4), norm 5, weight 0.25 -> sqrt 0.5 * sigma / 5 = (0.1, 0.2) * 0.5
    # motion: no center, mu (0, 2), norm 2, weight 1 -> sigma / 2
    outputs = {
        "joint_mu": np.array([[4.0, 4.0]]),
        "joint_sigma": np.array([[1.0, 2.0]]),
        "motion_mu": np.array([[0.0, 2.0]]),
        "motion_sigma": np.array([[0.5, 1.0]]),
    }
    sigma = fused_sigma(outputs, ["joint", "motion"], {"joint": 0.25, "motion": 1.0}, {"joint": [1.0, 0.0]})
    np.testing.assert_allclose(sigma, [[0.1, 0.2, 0.25, 0.5]])


def test_fused_sigma_guards_a_zero_norm_and_negative_weight() -> None:
    outputs = {"joint_mu": np.array([[1.0, 1.0]]), "joint_sigma": np.array([[1.0, 1.0]])}
    sigma = fused_sigma(outputs, ["joint"], {"joint": 1.0}, {"joint": [1.0, 1.0]})
    assert np.isfinite(sigma).all() and sigma[0, 0] == pytest.approx(1e12)
    assert (fused_sigma(outputs, ["joint"], {"joint": -1.0}, {}) == 0).all()


def test_a_sigma_that_under_or_overflowed_gives_a_finite_score() -> None:
    from runtime.scores import output_logvars

    out = {"bone_sigma": np.array([[0.0, 1.0, np.inf]], np.float32)}
    logvar = output_logvars(out, ["bone"])["bone"]
    info = np.finfo(np.float32)
    np.testing.assert_allclose(logvar[0], [np.log(info.tiny), 0.0, np.log(float(info.max))])
