"""What the benches share: their argument parser, timing loops, the machine's matmul rate, ratios,
and a randomly initialised model to time when no trained one is given.

Imported by the scripts beside it as ``harness`` (a script's folder is first on ``sys.path``; the
name ``common`` would hide the project's ``common`` package). Nothing here imports torch at
module level, so torch-free benches stay torch-free.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of a bench's docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 1) -> np.ndarray:
    """Seconds of each of ``repeats`` calls of ``fn``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times


def matmul_rate(size: int = 2048, repeats: int = 10) -> float:
    """The float32 FLOP/s torch reaches on this machine in a ``size`` x ``size`` matmul."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = time_calls(lambda: a @ b, repeats)
    return 2 * size**3 * repeats / float(seconds.sum())


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``1.23x`` (``-`` when ``b`` is 0)."""
    return f"{a / b:.2f}x" if b else "-"


def random_checkpoint(
    out: Path,
    head: str,
    class_names: Sequence[str],
    architecture: dict[str, Any] | None = None,
    streams: Sequence[str] = ("joint", "bone", "motion"),
) -> Path:
    """Save an untrained NTU-layout checkpoint (vcl-official pipeline, one classifier per stream)
    to ``out``; timings do not depend on the weights. ``architecture`` None: the official one."""
    from skeleton.pipelines import get_pipeline
    from train.checkpoint import build_model, save_checkpoint
    from train.model import DEFAULT_ARCHITECTURE

    meta = {
        "method": "vcl",
        "head": head,
        "layout": "ntu",
        "streams": list(streams),
        "pipeline": get_pipeline("vcl-official").describe(),
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "architecture": architecture or dict(DEFAULT_ARCHITECTURE),
    }
    return save_checkpoint(out, build_model(meta), meta)
