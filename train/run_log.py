"""A training run's log and its health warnings.

``log.jsonl`` gets one JSON object per record: ``kind`` (``initial``, ``step``, ``epoch`` or
``warning``), ``epoch``, ``step`` (the global step) and the figures; every number but ``epoch``
and ``step`` also goes to TensorBoard (``tb/``) as ``<kind>/<name>`` at that step.

The health checks watch the variational term: a mean sigma below ``run.sigma_collapse`` (the
posterior collapsing to a point) or a KL above ``run.kl_blowup`` (or not finite) becomes a
warning, in the log, on the console and in ``log.jsonl``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from train.config import RunConfig

log = logging.getLogger("vcl.train")


class RunLog:
    """Appends records to ``out/log.jsonl`` and their numbers to TensorBoard under ``out/tb``.

    Args:
        out: the run directory.
        purge_step: TensorBoard events from this step on are dropped (a resumed run's replay).
    """

    def __init__(self, out: Path, purge_step: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.path = out / "log.jsonl"
        self.writer = SummaryWriter(str(out / "tb"), purge_step=purge_step)

    def record(self, record: Mapping[str, Any]) -> None:
        """Append one record (it holds ``kind``, ``epoch`` and ``step``)."""
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if isinstance(value, int | float) and key not in ("epoch", "step"):
                self.writer.add_scalar(f"{record.get('kind', 'train')}/{key}", value, record["step"])

    def warn(self, message: str, epoch: int, step: int) -> None:
        """A warning: logged, printed above the progress bar and recorded."""
        log.warning(message)
        tqdm.write(f"warning: {message}")
        self.record({"kind": "warning", "epoch": epoch, "step": step, "message": message})

    def close(self) -> None:
        self.writer.close()


def health_warnings(stats: Mapping[str, float], streams: Iterable[str], run: RunConfig) -> list[str]:
    """The warnings an epoch's mean statistics (``<stream>/mean_sigma``, ``<stream>/kl``) call for."""
    warnings = []
    for stream in streams:
        sigma = stats.get(f"{stream}/mean_sigma")
        kl = stats.get(f"{stream}/kl")
        if sigma is not None and sigma < run.sigma_collapse:
            warnings.append(
                f"{stream}: mean sigma {sigma:.2e} < {run.sigma_collapse}: the posterior is "
                "collapsing to a point (variational term inactive)"
            )
        if kl is not None and (not math.isfinite(kl) or kl > run.kl_blowup):
            warnings.append(f"{stream}: KL {kl:.3g} > {run.kl_blowup}: the KL term is blowing up")
    return warnings


def momentum_warning(momentum: float, total_steps: int) -> str | None:
    """A warning when the momentum (key) encoder cannot follow the query encoder within the run.

    The key encoder is an exponential average of the query encoder with a time constant of
    1 / (1 - ``momentum``) steps; when that exceeds a quarter of ``total_steps`` the keys stay close
    to the random initialisation for most of the run, and the contrastive task hardly improves
    the features (measured at CPU scale: docs/RESULTS.md, "Self-supervised pretraining at CPU scale").
    The suggestion (a time constant of 1/40 of the run) is floored at 0.9; at or below it, no warning.
    """
    horizon = 1.0 / (1.0 - momentum)
    suggested = max(0.9, 1.0 - 40.0 / max(total_steps, 1))  # a time constant of 1/40 of the run
    if total_steps <= 0 or horizon <= total_steps / 4 or momentum <= suggested:
        return None  # short enough, or already at the floor of what is worth suggesting
    return (
        f"loss.momentum {momentum:g} averages the key encoder over ~{horizon:.0f} steps, more than a "
        f"quarter of this run's {total_steps} steps: the keys stay near their initialisation; "
        f"consider loss.momentum <= {suggested:.3g}"
    )
