"""Two replicas over one index directory: a write through the writer is served by the follower
within the documented delay; a write sent to the follower is refused naming the writer; a second
writer refuses to start."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from server.app import create_app
from server.replicas import WriterLock
from server.settings import Settings
from tests.conftest import REPO
from tests.server.conftest import ServiceFiles, serve_in_thread

SECOND_WRITER = """
import sys
from index.store import IndexStoreError
from server.replicas import WriterLock
try:
    WriterLock(sys.argv[1], "http://second:8001")
except IndexStoreError as err:
    sys.exit(str(err))
"""

ADMIN = {"X-API-Key": "adm-replicas-0e4b7d2a9c"}
INTERVAL_S = 0.2


def test_a_follower_serves_the_writers_versions(service_files: ServiceFiles, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(service_files.index, index)
    common: dict[str, Any] = {
        "model_dir": str(service_files.model),
        "index_dir": str(index),
        "data_root": str(service_files.root),
    }
    writer = Settings(
        **common, allow_mutation=True, admin_key=ADMIN["X-API-Key"], public_url="http://writer:8000"
    )
    follower = Settings(**common, follow_interval_s=INTERVAL_S)
    with serve_in_thread(create_app(writer)) as w, serve_in_thread(create_app(follower)) as f:
        added = requests.post(
            f"{w}/v1/index/items", json={"clips": [{"path": "few/clip0.npz"}]}, headers=ADMIN, timeout=30
        )
        assert added.status_code == 201, added.text
        version, (new_id,) = added.json()["version"], added.json()["ids"]
        start = time.monotonic()
        while requests.get(f"{f}/v1/index", timeout=10).json()["version"] != version:
            assert time.monotonic() - start < INTERVAL_S + 5, "the follower did not follow"
            time.sleep(0.05)
        assert requests.get(f"{f}/v1/index/items/{new_id}", timeout=10).status_code == 200
        refused = requests.post(
            f"{f}/v1/index/items", json={"clips": [{"path": "few/clip0.npz"}]}, headers=ADMIN, timeout=30
        )
        assert refused.status_code == 403 and "http://writer:8000" in refused.json()["detail"], refused.text
        second = subprocess.run(  # another process: a second writer
            [sys.executable, "-c", SECOND_WRITER, str(index)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second.stderr
        assert "another server writes this index: http://writer:8000" in second.stderr
    WriterLock(index, "http://second:8001").release()  # free once the writer stopped
