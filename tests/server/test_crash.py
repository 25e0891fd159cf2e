"""Crash windows: the real server (a subprocess) SIGKILLs itself at each point of an index write
(``index.store.fault``: after the new version's files are written, after the rename into place,
after the ``CURRENT`` swap, after old versions are removed) while adding, removing or rebuilding;
it is restarted on what is on disk, and must serve exactly the last acknowledged state when the
kill came before the ``CURRENT`` swap (the commit point) and exactly the new state after it, never
anything else; leftovers of the interrupted write (temporary directories, unpublished versions)
must be gone after the restart.

Each restart is also the next round's server: it is started with the next kill already armed
(``VCL_TEST_FAULT=POINT@N``: the N-th write dies, the ones before it are acknowledged), so
``ROUNDS`` kills per point cost ``ROUNDS + 1`` starts. The four points run side by side, each on
its own copy of the index.
"""

from __future__ import annotations

import http.client
import random
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from index.store import FAULT_POINTS
from tests.server.conftest import ServerProcess, ServiceFiles

ADMIN_KEY = "adm-crash-51f0c2-7d3e"
ROUNDS = 13  # kills per point: 52 in all
COMMITTED = {"after_files": False, "after_rename": False, "after_current": True, "after_cleanup": True}


@dataclass
class State:
    """What the index serves: version number and ids; ``next_id`` bounds every id handed out."""

    version: int
    ids: set[int]
    next_id: int
    log: list[str] = field(default_factory=list)


def _served(server: ServerProcess) -> tuple[int, set[int]]:
    status, info = server.call("GET", "/v1/index")
    assert status == 200, info
    status, found = server.call("POST", "/v1/search", {"clip": {"path": "few/clip0.npz"}, "k": 1000})
    assert status == 200 and found["version"] == info["version"], found
    ids = {n["id"] for n in found["neighbours"]}
    assert len(ids) == info["count"], (info, len(ids))
    return int(info["version"][1:]), ids


def _write(server: ServerProcess, kind: str, state: State, rng: random.Random) -> tuple[bool, Any]:
    """One write; (acknowledged, what it did: the new ids of an add, the id a remove names)."""
    target = rng.choice(sorted(state.ids)) if kind == "remove" else None
    try:
        if kind == "add":
            status, body = server.call("POST", "/v1/index/items", {"clips": [{"path": "few/clip1.npz"}]})
            assert status == 201, body
            return True, set(body["ids"])
        if kind == "remove":
            status, body = server.call("DELETE", f"/v1/index/items/{target}")
            assert status == 200, body
            return True, target
        status, body = server.call("POST", "/v1/index/rebuild", {"folder": "few"})
        assert status == 202, body
        while True:
            status, job = server.call("GET", body["status_url"])
            assert status == 200, job
            if job["status"] not in ("queued", "running"):
                assert job["status"] == "succeeded", job
                return True, None
    except (OSError, http.client.HTTPException):  # the connection died with the server
        return False, target


def _expected_after(kind: str, state: State, did: Any) -> None:
    """Apply an acknowledged write to ``state`` (a rebuild's ids are read back by the caller)."""
    state.version += 1
    if kind == "add":
        assert min(did) >= state.next_id, (did, state.next_id)
        state.ids |= did
        state.next_id = max(did) + 1
    elif kind == "remove":
        state.ids.discard(did)


def _check_restart(server: ServerProcess, point: str, kind: str, state: State, target: Any) -> None:
    version, ids = _served(server)
    where = f"{point} during {kind} ({'; '.join(state.log[-3:])})"
    if not COMMITTED[point]:
        assert (version, ids) == (state.version, state.ids), where  # the last acknowledged state
    else:
        assert version == state.version + 1, where  # the committed new version, nothing newer
        new = ids - state.ids
        if kind == "add":
            assert ids >= state.ids and len(new) == 1 and min(new) >= state.next_id, where
        elif kind == "remove":
            assert ids == state.ids - {target}, where
        else:
            assert len(ids) == 3 and min(ids) >= state.next_id, where
        state.version, state.ids = version, ids
        state.next_id = max([state.next_id, *(i + 1 for i in ids)])
    index = server.index
    assert index is not None
    current = (index / "CURRENT").read_text().strip()
    leftovers = [
        p.name for p in index.iterdir() if ".tmp" in p.name or (p.name.startswith("v") and p.name > current)
    ]
    assert not leftovers, f"{where}: left after restart: {leftovers}"


def _rounds(files: ServiceFiles, index: Path, point: str, seed: int, kills: list[str]) -> None:
    rng = random.Random(seed)
    env = {"VCL_ALLOW_MUTATION": "true", "VCL_ADMIN_KEY": ADMIN_KEY}

    def start(nth: int | None) -> ServerProcess:
        fault = {} if nth is None else {"VCL_TEST_FAULT": f"{point}@{nth}"}
        return ServerProcess(files.model, index, files.root, {**env, **fault}, key=ADMIN_KEY)

    nth = rng.choice((1, 2))
    server = start(nth)
    version, ids = _served(server)
    state = State(version, ids, max(ids) + 1)
    try:
        for round_ in range(ROUNDS):
            for attempt in range(1, nth + 1):
                kind = rng.choice(("add", "add", "remove", "rebuild")) if len(state.ids) > 3 else "add"
                acknowledged, did = _write(server, kind, state, rng)
                state.log.append(
                    f"round {round_} write {attempt}: {kind} {'ok' if acknowledged else 'killed'}"
                )
                if acknowledged:
                    assert attempt < nth, f"{point}: write {attempt} should have been killed"
                    _expected_after(kind, state, did)
                    if kind == "rebuild":
                        state.ids = _served(server)[1]
                        assert min(state.ids) >= state.next_id
                        state.next_id = max(state.ids) + 1
                    continue
                assert server.wait_dead() == -9, f"{point}: the server did not die by SIGKILL"
                kills.append(point)
                print(f"{point}: kill {kills.count(point)} ({kind})", flush=True)
                nth = rng.choice((1, 2))
                server = start(nth if round_ < ROUNDS - 1 else None)
                _check_restart(server, point, kind, state, did)
                break
    finally:
        server.stop()


@pytest.mark.parametrize("points", [FAULT_POINTS])
def test_sigkill_at_every_point_of_a_write(
    service_files: ServiceFiles, tmp_path: Path, points: tuple[str, ...]
) -> None:
    kills: list[str] = []
    errors: list[BaseException] = []

    def run(point: str, seed: int) -> None:
        index = tmp_path / point
        shutil.copytree(service_files.index, index)
        try:
            _rounds(service_files, index, point, seed, kills)
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(p, i)) for i, p in enumerate(points)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    assert len(kills) >= 50 and {kills.count(p) for p in points} == {ROUNDS}, kills
