"""bench/gpu_check.sh and bench/gpu_check.py without a GPU: the script parses, and the summary
reads the parts' JSON (a failed GPU path shows as its problem, not as a crash)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_script_parses() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    subprocess.run(["bash", "-n", str(REPO / "bench" / "gpu_check.sh")], check=True)


def test_summary_of_the_parts(tmp_path: Path) -> None:
    parts = {
        "env": {"torch": {"version": "2.13.0", "cuda_build": "13.0", "device": "NVIDIA H200"}},
        "ort": {
            "session_providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
            "latency": {"B=1": {"cuda": {"p50_ms": 1.5, "p99_ms": 2.0, "clips_per_s": 650.0}}},
        },
        "faiss": {"vectors": 1000, "dim": 192, "k": 10, "cpu_qps": 50.0, "gpu_qps": 9000.0},
        "train": {"problem": "torch 2.13.0+cpu sees no CUDA device (built for CUDA None)"},
    }
    for name, value in parts.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(value))
    cmd = [sys.executable, str(REPO / "bench" / "gpu_check.py"), "summary", "--out", str(tmp_path)]
    subprocess.run([*cmd, "--work", str(tmp_path / "work")], check=True, cwd=REPO, capture_output=True)
    summary = (tmp_path / "summary.md").read_text()
    assert "| session providers | CUDAExecutionProvider, CPUExecutionProvider" in summary
    assert "| ORT cuda B=1 | p50 1.50 ms, p99 2.00 ms, 650 clips/s |" in summary
    assert "GPU 9000 QPS, CPU 50 QPS" in summary
    assert "| pretraining | torch 2.13.0+cpu sees no CUDA device" in summary
