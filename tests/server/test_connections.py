"""Slow and idle clients are cut off after the read timeout; past the connection cap requests get
503; a large JSON body is parsed off the event loop, so ``/livez`` stays quick meanwhile."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from server.app import create_app
from server.settings import Settings
from tests.server.conftest import ServiceFiles, serve_in_thread

READ_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 6


@pytest.fixture(scope="module")
def url(service_files: ServiceFiles) -> Iterator[str]:
    settings = Settings(
        model_dir=str(service_files.model),
        index_dir=str(service_files.index),
        data_root=str(service_files.root),
        read_timeout_s=READ_TIMEOUT_S,
        max_connections=MAX_CONNECTIONS,
    )
    with serve_in_thread(create_app(settings), settings) as served:
        yield served


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (reading whatever it sends), at most ``limit``."""
    start = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return float("inf"), received
    except ConnectionResetError:
        pass
    return time.monotonic() - start, received


def test_slow_headers_are_cut_off(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\n")
        start = time.monotonic()
        for _ in range(3):  # a byte now and then does not extend the timeout
            time.sleep(0.3)
            sock.sendall(b"X")
        waited, answer = _closed_after(sock, 5)
        assert time.monotonic() - start < READ_TIMEOUT_S + 1.5, "slow headers kept the connection"
        assert waited != float("inf") and answer.startswith(b"HTTP/1.1 408"), answer


def test_a_declared_body_that_never_comes_is_cut_off(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"POST /v1/embed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        waited, answer = _closed_after(sock, 5)
        assert waited < READ_TIMEOUT_S + 1.5, "a missing body kept the connection"
        assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_silent_connection_is_closed(url: str) -> None:
    with _connect(url) as sock:
        waited, _ = _closed_after(sock, 5)
        assert waited < READ_TIMEOUT_S + 1.5


def test_keep_alive_requests_are_not_cut_off(url: str) -> None:
    with requests.Session() as session:
        for _ in range(3):
            assert session.get(f"{url}/livez", timeout=5).status_code == 200
            time.sleep(READ_TIMEOUT_S / 2)  # idle between requests is the keep-alive timeout's


def test_connections_past_the_cap_get_503(url: str) -> None:
    held = [_connect(url) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)
        assert requests.get(f"{url}/livez", timeout=5).status_code == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert requests.get(f"{url}/livez", timeout=5).status_code == 200


def test_livez_stays_quick_while_a_large_json_body_is_parsed(url: str) -> None:
    frame = [[0.1234567, 0.2345678, 0.3456789]] * 25
    body = json.dumps({"clips": [{"joints": [frame] * 3000} for _ in range(16)]}).encode()
    assert len(body) > 40e6
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with requests.Session() as session:
            while not done.is_set():
                start = time.monotonic()
                session.get(f"{url}/livez", timeout=30)
                latencies.append(time.monotonic() - start)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        answer = requests.post(
            f"{url}/v1/embed", data=body, headers={"Content-Type": "application/json"}, timeout=120
        )
    finally:
        done.set()
        poller.join()
    assert answer.status_code in (200, 504), answer.text[:200]  # 504: a slow machine, past the deadline
    assert len(latencies) > 3 and max(latencies) < 1.0, f"/livez took up to {max(latencies):.2f} s"
