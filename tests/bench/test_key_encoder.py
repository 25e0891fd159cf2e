"""bench/key_encoder.py: the momentum encoders of a run become a checkpoint that loads and differs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import key_encoder
from skeleton.prepare import prepare_dataset
from tests.conftest import TINY_MODEL
from train.checkpoint import load_checkpoint
from train.config import load_config
from train.trainer import train


def test_key_encoders_written_as_a_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "syn"
    prepare_dataset("synthetic", None, data, num_samples=22, seed=0, progress=False, workers=1)
    overrides = [
        *TINY_MODEL,
        "optim.batch_size=11",
        "loss.queue_size=22",
        "optim.epochs=2",
        "loss.momentum=0.5",
        "data.streams=[joint, bone]",
        f"data.path={data}",
        f"run.out_dir={tmp_path / 'run'}",
    ]
    train(load_config(None, overrides), progress=False)
    last = tmp_path / "run" / "checkpoints" / "last"
    monkeypatch.setattr(sys, "argv", ["key_encoder.py", str(last), str(tmp_path / "key")])
    key_encoder.main()
    query, _ = load_checkpoint(last)
    key, meta = load_checkpoint(tmp_path / "key")  # the weights hash checks out
    assert meta["streams"] == ["joint", "bone"] and meta["method"] == "vcl"
    state = torch.load(last / "state.pt", weights_only=False)["method"]
    for stream in ("joint", "bone"):
        k, q = key.encoders[stream].state_dict(), query.encoders[stream].state_dict()
        name = next(n for n in k if n.endswith("conv.weight"))
        torch.testing.assert_close(k[name], state[f"key.{stream}.{name}"], rtol=0, atol=0)
        # four steps of an average with m = 0.5 leave the key encoder away from the query encoder
        assert (k[name] - q[name]).abs().max() > 1e-4


def test_a_checkpoint_without_state_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "syn"
    prepare_dataset("synthetic", None, data, num_samples=22, seed=0, progress=False, workers=1)
    overrides = [*TINY_MODEL, "optim.batch_size=11", "loss.queue_size=22", "optim.epochs=1",
                 "data.streams=[joint]", f"data.path={data}", f"run.out_dir={tmp_path / 'run'}"]  # fmt: skip
    train(load_config(None, overrides), progress=False)
    best = tmp_path / "run" / "checkpoints" / "best"  # kept without state.pt
    monkeypatch.setattr(sys, "argv", ["key_encoder.py", str(best), str(tmp_path / "key")])
    with pytest.raises(SystemExit, match="no state.pt"):
        key_encoder.main()
    assert not (tmp_path / "key").exists()
