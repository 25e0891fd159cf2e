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


def model_parser(doc: str | None, repeats: int) -> argparse.ArgumentParser:
    """``bench_parser`` with the arguments of a bench over an exported model directory: ``model``,
    ``--repeats`` and ``--batches`` (default 1 and 32)."""
    parser = bench_parser(doc)
    parser.add_argument("model", type=Path)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    return parser


def ort_session(
    path: Path, intra: int = 2, inter: int = 1, parallel: bool = False, optimized: Path | None = None
) -> Any:
    """An ONNX Runtime CPU session as the server runs one (every graph optimisation, no spinning):
    ``intra`` x ``inter`` threads, the parallel execution mode if asked, the optimised graph saved
    to ``optimized`` if given."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = intra, inter
    options.execution_mode = ort.ExecutionMode.ORT_PARALLEL if parallel else ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


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


def alternated_medians(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each of ``calls``, after one untimed call each, the calls
    alternated round by round so that drifting load from elsewhere hits every one alike."""
    for fn in calls.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            times[name].extend(time_calls(fn, 1, warmup=0))
    return {name: float(np.median(t)) for name, t in times.items()}


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
