"""No lost writes, no reused ids: adds and removes while a rebuild runs (re-applied on top of it),
removing the highest id and adding again, ids across rebuilds."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from server.app import create_app
from server.settings import Settings
from skeleton.readers.npz import write_npz
from skeleton.synthetic import SYNTHETIC_CLASSES, synthetic_clip
from tests.server.conftest import ServiceFiles, serve_in_thread

ADMIN = {"X-API-Key": "adm-writes-8e2c4b19f6a0"}
BIG = 400


@pytest.fixture(scope="module")
def root(service_files: ServiceFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("writes-root")
    shutil.copytree(service_files.root / "few", base / "few")
    (base / "big").mkdir()
    for part in range(4):  # long enough a rebuild for writes to land while it runs
        clips = [synthetic_clip(i, seed=3) for i in range(part * 100, (part + 1) * 100)]
        write_npz(base / "big" / f"part{part}.npz", clips, list(SYNTHETIC_CLASSES))
    return base


def _settings(files: ServiceFiles, index: Path, root: Path) -> Settings:
    return Settings(
        model_dir=str(files.model),
        index_dir=str(index),
        data_root=str(root),
        admin_key=ADMIN["X-API-Key"],
        allow_mutation=True,
    )


def _all_ids(url: str, any_id: int) -> list[int]:
    found = requests.post(f"{url}/v1/search", json={"id": any_id, "k": 1000}, timeout=30).json()
    return [n["id"] for n in found["neighbours"]]


def test_writes_during_a_rebuild_are_kept_and_ids_never_reused(
    service_files: ServiceFiles, root: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(service_files.index, index)
    with serve_in_thread(create_app(_settings(service_files, index, root))) as url:
        before = set(_all_ids(url, 0))
        started = requests.post(f"{url}/v1/index/rebuild", json={"folder": "big"}, headers=ADMIN, timeout=30)
        assert started.status_code == 202, started.text
        job_url = f"{url}{started.json()['status_url']}"
        lock = threading.Lock()
        added: list[int] = []  # acknowledged adds
        removed: list[int] = []  # acknowledged removes
        during: list[bool] = []  # was the rebuild still running when the write was answered?
        refused: list[int] = []

        def writer(worker: int) -> None:
            session = requests.Session()
            old = sorted(before)[worker::4]
            step = 0
            while requests.get(job_url, headers=ADMIN, timeout=30).json()["status"] in ("queued", "running"):
                step += 1
                if step % 3 == 0 and old:  # remove an item of the old collection
                    target = old.pop()
                    answer = session.delete(f"{url}/v1/index/items/{target}", headers=ADMIN, timeout=30)
                elif step % 3 == 2 and added:  # remove one of our own acknowledged adds
                    with lock:
                        target = added.pop() if added else -1
                    if target < 0:
                        continue
                    answer = session.delete(f"{url}/v1/index/items/{target}", headers=ADMIN, timeout=30)
                    if answer.status_code != 200:
                        with lock:
                            added.append(target)
                else:
                    body = {"clips": [{"path": "few/clip0.npz", "label": f"w{worker}"}]}
                    answer = session.post(f"{url}/v1/index/items", json=body, headers=ADMIN, timeout=30)
                    target = -1
                running = requests.get(job_url, headers=ADMIN, timeout=30).json()["status"] == "running"
                with lock:
                    if answer.status_code == 201:
                        added.extend(answer.json()["ids"])
                        during.append(running)
                    elif answer.status_code == 200:
                        removed.append(target)
                        during.append(running)
                    else:
                        refused.append(answer.status_code)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        job = requests.get(job_url, headers=ADMIN, timeout=30).json()
        assert job["status"] == "succeeded", job
        assert any(during), "no write landed while the rebuild ran"
        assert all(code in (404, 409) for code in refused), refused
        final = _all_ids(url, added[0]) if added else _all_ids(url, job["result"]["count"])
        assert len(final) == len(set(final)), "an id names two items"
        assert set(added) <= set(final), "an acknowledged add was lost"
        assert not set(removed) & set(final), "an acknowledged remove was undone"
        assert len(final) == BIG + len(added), (len(final), len(added))
        rebuilt = set(final) - set(added)
        assert not rebuilt & before and not set(added) & before, "an id was reused"
        assert len(added) + len(removed) > 0


def test_removing_the_highest_id_never_gives_it_out_again(
    service_files: ServiceFiles, root: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(service_files.index, index)
    settings = _settings(service_files, index, root)
    body: dict[str, Any] = {"clips": [{"path": "few/clip1.npz"}]}
    with serve_in_thread(create_app(settings)) as url:
        (first,) = requests.post(f"{url}/v1/index/items", json=body, headers=ADMIN, timeout=30).json()["ids"]
        assert requests.delete(f"{url}/v1/index/items/{first}", headers=ADMIN, timeout=30).status_code == 200
        (second,) = requests.post(f"{url}/v1/index/items", json=body, headers=ADMIN, timeout=30).json()["ids"]
        assert second == first + 1
    with serve_in_thread(create_app(settings)) as url:  # and after a restart
        requests.delete(f"{url}/v1/index/items/{second}", headers=ADMIN, timeout=30)
        (third,) = requests.post(f"{url}/v1/index/items", json=body, headers=ADMIN, timeout=30).json()["ids"]
        assert third == second + 1
        job = requests.post(
            f"{url}/v1/index/rebuild", json={"folder": "few"}, headers=ADMIN, timeout=30
        ).json()
        end = time.monotonic() + 60
        while (state := requests.get(f"{url}{job['status_url']}", headers=ADMIN, timeout=30).json())[
            "status"
        ] in ("queued", "running"):
            assert time.monotonic() < end
            time.sleep(0.05)
        ids = _all_ids(url, third + 1)
        assert sorted(ids) == [third + 1, third + 2, third + 3], state
