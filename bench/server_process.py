"""``vcl serve`` as a subprocess on a free loopback port, and reading its ``/metrics``."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from load_generator import HOST

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def http_get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scrape(port: int) -> dict[str, float]:
    """The /metrics values this bench reads (cumulative; callers difference them)."""
    status, body = http_get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}: {body[:200]!r}")
    values: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    keys = {
        "batch_clips_sum": "vcl_batch_size_clips_sum",
        "batch_clips_count": "vcl_batch_size_clips_count",
        "batch_requests_sum": "vcl_batch_size_requests_sum",
        "inference_s": "vcl_inference_duration_seconds_sum",
    }
    return {key: values.get(name, 0.0) for key, name in keys.items()}


@contextmanager
def serve(
    model_dir: Path, env: dict[str, str], log_path: Path, timeout_s: float
) -> Iterator[tuple[int, int]]:
    """``vcl serve`` on a free loopback port with extra VCL_* variables; yields (port, pid) once ready."""
    port = free_port()
    command = [sys.executable, "-m", "vcl.cli", "serve", "--model", str(model_dir), "--host", HOST]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"vcl serve exited with {proc.returncode} before ready:\n{tail}")
            try:
                if http_get(port, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vcl serve not ready within {timeout_s:g} s (log: {log_path})")
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
