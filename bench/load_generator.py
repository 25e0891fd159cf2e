"""Closed-loop load: client threads that each send their requests one after another, timed.

``run_level`` starts ``clients`` threads, each with its own ``Client`` (an HTTP keep-alive
connection, or the direct in-process path of ``direct_runtime``), lets all of them warm up, then
releases them together and times every call; a ``Probe`` read just before and after (server
metrics, CPU seconds) is differenced around the measured window. CPU seconds come from Linux
``/proc`` (NaN elsewhere).
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

HOST = "127.0.0.1"
OK = "ok"


class Client(Protocol):
    def __call__(self, i: int) -> str:
        """Send request number ``i``; ``OK`` or what went wrong (an HTTP status or an error name)."""
        ...

    def close(self) -> None: ...


class HttpClient:
    """One keep-alive connection posting pre-encoded bodies of ``content_type`` in turn."""

    def __init__(
        self, port: int, path: str, bodies: list[bytes], content_type: str = "application/json"
    ) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)
        self.path, self.bodies = path, bodies
        self.headers = {"Content-Type": content_type}

    def __call__(self, i: int) -> str:
        try:
            self.conn.request("POST", self.path, body=self.bodies[i % len(self.bodies)], headers=self.headers)
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as err:
            self.conn.close()  # the next request reconnects
            return type(err).__name__
        return OK if response.status == 200 else str(response.status)

    def close(self) -> None:
        self.conn.close()


Probe = Callable[[], dict[str, float]]


def run_level(
    open_client: Callable[[], Client],
    clients: int,
    probe: Probe,
    requests: int,
    warmup: int,
    max_seconds: float,
) -> dict[str, Any]:
    """``clients`` threads, each ``warmup`` unmeasured calls then up to ``requests`` timed ones,
    stopping at ``max_seconds``.

    ``probe`` is read once all warm-ups are done and again after the last call; the result holds
    the difference of each of its values under ``delta``.
    """
    ready, go = threading.Barrier(clients + 1), threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[Counter[str]] = [Counter() for _ in range(clients)]
    ends = [0.0] * clients
    failures: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            client = open_client()
            try:
                for i in range(warmup):
                    client(k + i)
                ready.wait()
                go.wait()
                deadline = time.perf_counter() + max_seconds
                for i in range(requests):
                    if time.perf_counter() > deadline:
                        break
                    start = time.perf_counter()
                    status = client(k * requests + i)
                    statuses[k][status] += 1
                    if status == OK:
                        latencies[k].append(time.perf_counter() - start)
                ends[k] = time.perf_counter()
            finally:
                client.close()
        except threading.BrokenBarrierError:
            pass
        except BaseException as err:  # reported by the main thread
            failures.append(err)
            ready.abort()
            go.abort()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
        before = probe()
        start = probed = time.perf_counter()
        go.wait()
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join()
        raise RuntimeError(f"a client failed during warm-up: {failures[0]!r}") from failures[0]
    for thread in threads:
        thread.join()
    after = probe()
    window = time.perf_counter() - probed
    if failures:
        raise RuntimeError(f"a client failed: {failures[0]!r}") from failures[0]
    seconds = max(ends) - start
    total: Counter[str] = sum(statuses, Counter())
    ok_ms = 1000 * np.array([t for per_client in latencies for t in per_client])
    return {
        "clients": clients,
        "ok": total[OK],
        "errors": {k: v for k, v in sorted(total.items()) if k != OK},
        "seconds": seconds,
        "clips_per_s": total[OK] / seconds,
        "p50_ms": float(np.percentile(ok_ms, 50)) if len(ok_ms) else None,
        "p99_ms": float(np.percentile(ok_ms, 99)) if len(ok_ms) else None,
        "delta": {key: after[key] - before.get(key, 0.0) for key in after},
        "probe_window_s": window,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes have spent busy so far, summed over CPUs (Linux /proc; NaN elsewhere)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return float("nan")
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def local_probe() -> dict[str, float]:
    """CPU of this process (every thread) and of the whole machine."""
    return {"bench_cpu_s": time.process_time(), "machine_busy_s": machine_busy_seconds()}
