"""Validation carved from a training part: a partition, whole subjects, the same every time."""

from __future__ import annotations

import numpy as np
import pytest

from skeleton.errors import DatasetError
from skeleton.validation import carve_validation

SAMPLES = [{"name": f"clip{i:03d}", "subject": i % 5 + 1} for i in range(100)]
TRAIN = np.arange(0, 100, 2)  # subjects 1, 3, 5 (i even: i % 5 in 0, 2, 4)


def test_by_subject_holds_out_whole_subjects() -> None:
    fit, val = carve_validation(SAMPLES, TRAIN[::-1], "subject", 0.2)
    assert np.array_equal(np.sort(np.concatenate([fit, val])), TRAIN)  # a partition, sorted
    held = {SAMPLES[i]["subject"] for i in val}
    assert len(held) == 1 and not held & {SAMPLES[i]["subject"] for i in fit}  # ceil(0.2 * 3) = 1
    again = carve_validation(SAMPLES, TRAIN, "subject", 0.2)
    assert np.array_equal(again[1], val)


def test_by_hash_takes_about_the_fraction_and_errors_name_the_cause() -> None:
    fit, val = carve_validation(SAMPLES, np.arange(100), "hash", 0.3)
    assert 15 <= len(val) <= 45 and len(fit) + len(val) == 100
    with pytest.raises(DatasetError, match="unknown method 'random'"):
        carve_validation(SAMPLES, TRAIN, "random")
    with pytest.raises(DatasetError, match="some training clips have no subject"):
        carve_validation([{"name": "a", "subject": None}] * 3, np.arange(3), "subject")
    with pytest.raises(DatasetError, match=r"the training part has 1 subject\(s\)"):
        carve_validation(SAMPLES, np.array([0, 5, 10]), "subject")
