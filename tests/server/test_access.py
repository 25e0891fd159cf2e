"""Keys on the headers before any body (pure ASGI), the read policy over /docs and /openapi.json,
the key rules of the settings, and the stepwise JSON parser of large bodies."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from pydantic import ValidationError

from server.access import level
from server.app import create_app
from server.deps import loads_in_steps
from server.settings import Settings
from tests.server.conftest import ServiceFiles, serve_in_thread

READER = "read-access-5b1d93e0c7"
ADMIN = "adm-access-2f8a6c41d9"


@pytest.fixture(scope="module")
def url(service_files: ServiceFiles) -> Iterator[str]:
    settings = Settings(
        model_dir=str(service_files.model),
        index_dir=str(service_files.index),
        data_root=str(service_files.root),
        read_open=False,
        api_key=READER,
        admin_key=ADMIN,
        allow_mutation=True,
    )
    with serve_in_thread(create_app(settings), settings) as served:
        yield served


@pytest.mark.parametrize(
    ("path", "key", "status"),
    [("/v1/classify", None, 401), ("/v1/index/items", READER, 403), ("/v1/index/rebuild", None, 401)],
)
def test_a_refused_key_is_answered_before_the_body_is_sent(
    url: str, path: str, key: str | None, status: int
) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 42000000\r\n"
        if key:
            head += f"X-API-Key: {key}\r\n"
        start = time.monotonic()
        sock.sendall((head + "\r\n").encode())  # and not one byte of the 42 MB
        answer = sock.recv(65536).decode()
        assert answer.startswith(f"HTTP/1.1 {status}"), answer
        assert time.monotonic() - start < 2


def test_docs_and_openapi_follow_the_read_policy(url: str) -> None:
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert requests.get(f"{url}{path}", timeout=10).status_code == 401
        assert requests.get(f"{url}{path}", headers={"X-API-Key": READER}, timeout=10).status_code == 200
    assert requests.get(f"{url}/livez", timeout=10).status_code == 200


def test_levels() -> None:
    assert level("GET", "/v1/index/items/3") == "read"
    assert level("DELETE", "/v1/index/items/3") == "admin"
    assert level("POST", "/v1/index/items/files") == "admin"
    assert level("GET", "/v1/index/jobs/x") == "admin"
    assert level("GET", "/static/app.js") == "open" and level("GET", "/openapi.json") == "read"


def test_key_rules(service_files: ServiceFiles) -> None:
    model = str(service_files.model)
    with pytest.raises(ValidationError, match="shorter than 16"):
        Settings(model_dir=model, api_key="short-key")
    with pytest.raises(ValidationError, match="shorter than 16"):
        Settings(model_dir=model, allow_mutation=True, admin_key="adm-1234")
    with pytest.raises(ValidationError, match="well-known default"):
        Settings(model_dir=model, api_key="changemechangeme")
    with pytest.raises(ValidationError, match="are the same"):
        Settings(model_dir=model, api_key=ADMIN, admin_key=ADMIN)
    settings = Settings(model_dir=model, api_key=READER, admin_key=ADMIN, allow_mutation=True)
    assert READER not in repr(settings) and ADMIN not in repr(settings)  # held as secrets
    assert settings.secret("api_key") == READER


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2, {"b": [3]}], "c": {}}',
        "[]",
        " [ 1 , [2,[3,[4]]] ] ",
        '"x"',
        '{"clips": [{"joints": [[1e3]]}]}',
    ],
)
def test_stepwise_json_equals_json_loads(text: str) -> None:
    assert loads_in_steps(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a" 1}', "[1 2]", "{1: 2}", "[1,]", "[1] x", "", '{"a": [1, }'])
def test_stepwise_json_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads_in_steps(text)


def test_keys_never_appear_in_settings_errors(service_files: ServiceFiles) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(model_dir=str(service_files.model), api_key="short-secret-k")
    assert "short-secret-k" not in str(refused.value)
    settings = Settings(model_dir=str(service_files.model), api_key=READER)
    assert "api_key" not in settings.model_dump()
