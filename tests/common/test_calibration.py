"""Quantiles and percentiles, the logistic calibration, the flag threshold, Brier and ECE: values
worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from common.calibration import (
    brier,
    expected_calibration_error,
    flag_threshold,
    logistic_fit,
    logistic_probability,
    percentile_of,
    quantile_table,
    uncertainty_reference,
)


def test_percentiles_read_back_from_the_quantile_table() -> None:
    table = quantile_table(np.arange(101.0))  # 0..100: the p-th percentile is p
    assert table[:3] == [0.0, 5.0, 10.0] and table[-1] == 100.0 and len(table) == 21
    np.testing.assert_allclose(
        percentile_of(np.array([-5.0, 0.0, 12.5, 37.0, 100.0, 300.0]), table), [0, 0, 12.5, 37, 100, 100]
    )
    # a reference with ties: every stored quantile of 1 is 1, so 1 reads as the middle level
    assert float(percentile_of(1.0, quantile_table(np.ones(10)))) == 50.0


def test_logistic_fit_recovers_the_generating_parameters() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2))
    y = rng.random(20000) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5)))
    weights, bias = logistic_fit(x, y, ridge=0.0)
    np.testing.assert_allclose(weights, [2.0, -1.0], atol=0.08)
    assert bias == pytest.approx(0.5, abs=0.06)
    assert logistic_probability(np.zeros((1, 2)), weights, bias)[0] == pytest.approx(1 / (1 + np.exp(-bias)))
    # separable classes stay finite under the ridge
    weights, _ = logistic_fit(np.array([[-1.0], [1.0]]), np.array([0, 1]))
    assert np.isfinite(weights).all() and weights[0] > 1


def test_threshold_brier_and_calibration_error() -> None:
    assert flag_threshold(np.arange(101.0), 0.05) == 95.0  # 5 of 101 clips lie above
    with pytest.raises(ValueError, match="flag rate must be in"):
        flag_threshold(np.arange(3.0), 0.0)
    assert brier(np.array([0.9, 0.2]), np.array([1, 0])) == pytest.approx((0.01 + 0.04) / 2)
    # bins [0.1, 0.2) and [0.8, 0.9): |0.1 - 0| * 0.5 + |0.8 - 0.5| * 0.5
    assert expected_calibration_error(np.array([0.1, 0.8, 0.8]), np.array([0, 1, 0])) == pytest.approx(
        (1 / 3) * 0.1 + (2 / 3) * 0.3
    )


def test_uncertainty_reference_block() -> None:
    sigma = np.linspace(-3.0, -2.0, 40)
    softmax = np.linspace(0.0, 0.9, 40)[::-1]
    wrong = softmax > 0.5
    block = uncertainty_reference({"sigma": sigma, "softmax": softmax}, wrong, "softmax", 0.1, "test")
    assert block["clips"] == 40 and block["error_rate"] == pytest.approx(wrong.mean())
    assert block["quantiles"]["sigma"][0] == -3.0 and block["quantiles"]["softmax"][-1] == 0.9
    assert block["unknown"] == {"score": "softmax", "threshold": pytest.approx(0.81), "flag_rate": 0.1}
    c = block["wrong_probability"]
    assert c["features"] == ["softmax"] and c["center"] == pytest.approx([0.45])  # Platt by default
    assert c["weights"][0] > 1  # softmax confidence separates the wrong ones here
    both = uncertainty_reference(
        {"sigma": sigma, "softmax": softmax}, wrong, "sigma", 0.1, "t", ("sigma", "softmax")
    )
    assert (
        both["wrong_probability"]["features"] == ["sigma", "softmax"] and both["unknown"]["score"] == "sigma"
    )
    with pytest.raises(ValueError, match="cannot calibrate on"):
        uncertainty_reference({"softmax": softmax}, wrong, "softmax", 0.1, "t", ("sigma",))
    with pytest.raises(ValueError, match="no 'sigma' score to threshold"):
        uncertainty_reference({"softmax": softmax}, wrong, "sigma", 0.1, "test")
