"""A training run's directory and the state that resumes it exactly.

Layout of ``run.out_dir``:

- ``config.yaml``: the resolved config;
- ``log.jsonl``, ``tb/``: the run log (``train.run_log``);
- ``checkpoints/last`` (every epoch, with ``state.pt`` for ``--resume``), ``checkpoints/best``
  (best kNN monitor), ``checkpoints/epoch_NNNN`` (every ``run.checkpoint_every`` epochs).

``state.pt`` holds the ``state_dict`` of each stateful part (method, optimizer, scheduler, grad
scaler), the counters (epoch, global step, best monitor score, the world size of a
``torchrun`` job, which a resumption must match) and every random generator's state
(torch, CUDA, numpy's global one, Python's), so a run resumed at an epoch boundary continues as an
uninterrupted one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import yaml

from common.errors import VclError
from train.config import ConfigError, TrainConfig, config_from_dict

# What may change between a run and its resumption.
RESUMABLE_CHANGES = (("optim", "epochs"), ("run", "device"), ("run", "threads"))
COUNTERS = ("epoch", "global_step", "best", "world_size")


class TrainingError(VclError):
    """Training cannot start or continue."""


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def state_path(out: Path) -> Path:
    """The resume state of run directory ``out``."""
    return out / "checkpoints" / "last" / "state.pt"


def prepare_run_dir(out: Path, config: TrainConfig, resume: bool) -> None:
    """Create (or, with ``resume``, check) run directory ``out`` and write the resolved config.

    Refuses to start over an existing run without ``resume``, and to resume one that has no
    state or whose config changed other than in ``RESUMABLE_CHANGES``.
    """
    saved = out / "config.yaml"
    if resume:
        if not state_path(out).is_file():
            raise TrainingError(f"{out}: nothing to resume (no checkpoints/last/state.pt)")
        previous = config_from_dict(yaml.safe_load(saved.read_text()), str(saved))
        check_resumable(out, config, previous)
    elif (out / "checkpoints").exists():
        raise TrainingError(
            f"{out}: already holds a run; pass --resume to continue it or choose another run.out_dir"
        )
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(config.to_yaml())


def check_resumable(out: Path, config: TrainConfig, previous: TrainConfig) -> None:
    """Raise ``ConfigError`` naming the first field that differs from the run's saved config."""
    now, before = config.to_dict(), previous.to_dict()
    for section, values in now.items():
        for key, value in values.items():
            if (section, key) in RESUMABLE_CHANGES:
                continue
            if before[section][key] != value:
                raise ConfigError(
                    f"cannot resume {out}: {section}.{key} changed from "
                    f"{before[section][key]!r} to {value!r} (only optim.epochs may change)"
                )


def resume_state(parts: Mapping[str, Stateful], counters: Mapping[str, Any]) -> dict[str, Any]:
    """What ``state.pt`` holds: each part's state, the counters and the random generators' states."""
    return {
        **{name: part.state_dict() for name, part in parts.items()},
        **{name: counters[name] for name in COUNTERS},
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": np.random.get_state(),  # noqa: NPY002 (the global state, for exact resume)
            "python": random.getstate(),
        },
    }


def restore_state(path: Path, device: torch.device, parts: Mapping[str, Stateful]) -> dict[str, Any]:
    """Load ``state.pt`` into ``parts`` and the random generators; returns the counters."""
    state = torch.load(path, map_location=device, weights_only=False)
    for name, part in parts.items():
        part.load_state_dict(state[name])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
    np.random.set_state(state["rng"]["numpy"])  # noqa: NPY002
    random.setstate(state["rng"]["python"])
    return {"world_size": 1, **{name: state[name] for name in COUNTERS if name in state}}  # 1: older runs
