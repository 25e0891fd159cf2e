"""The ``holdout`` protocol of pose-estimator datasets: a fixed split by a hash of the clip name."""

from __future__ import annotations

import hashlib

from skeleton.clip import ClipMeta
from skeleton.datasets import DATASETS, ESTIMATOR_DATASETS, HOLDOUT_TEST_PERCENT


def test_holdout_is_the_name_hash_bucket() -> None:
    split = DATASETS["arrays"].protocols["holdout"]
    # sha256("bicep_good_1")[:8] as an integer, mod 100, decides: below 30 is test
    for name in ("bicep_good_1", "clip", "push_up_07"):
        bucket = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 100
        expected = "test" if bucket < HOLDOUT_TEST_PERCENT else "train"
        assert split(ClipMeta(source="x", name=name)) == expected
        assert split(ClipMeta(source="elsewhere", name=name, subject=3)) == expected  # name only


def test_holdout_sends_about_thirty_percent_to_test() -> None:
    split = DATASETS["landmarks"].protocols["holdout"]
    sides = [split(ClipMeta(source="x", name=f"clip_{i}")) for i in range(2000)]
    assert 0.27 < sides.count("test") / len(sides) < 0.33


def test_every_estimator_dataset_without_its_own_splits_has_holdout() -> None:
    assert {d for d in ESTIMATOR_DATASETS if "holdout" in DATASETS[d].protocols} == {
        "openpose",
        "kinetics-skeleton",
        "landmarks",
        "arrays",
    }
