"""Shared fixtures: the real data folder beside the checkout (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A tiny ST-GCN and loss setup for tests that train (seconds instead of minutes).
TINY_MODEL = [
    "model.widths=[8, 8, 16]",
    "model.strides=[1, 2, 1]",
    "model.hidden_dim=32",
    "model.projection_dim=16",
    "model.latent_dim=8",
    "model.logvar_bias=-4.0",
]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the test with a reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it lives beside the checkout, not in it)")
    return path


@pytest.fixture
def ntu_samples() -> list[Path]:
    return sorted(shared_path("ntu_samples").glob("*.skeleton"))


@pytest.fixture
def reference() -> dict:
    import numpy as np

    with np.load(shared_path("vcl_official", "reference.npz")) as data:
        return {key: data[key] for key in data.files}
