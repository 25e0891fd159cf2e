"""Enrolment through the index over HTTP: three labelled clips of an action the model was never
trained on are added through the admin API, and a fourth clip of it is classified as that label
with ``by = index`` and ``by = both``; ``by = model`` answers as before."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from server.app import create_app
from server.settings import Settings
from skeleton.clip import Clip, ClipMeta
from skeleton.readers.npz import write_npz
from skeleton.synthetic import SYNTHETIC_CLASSES, _forward, _hold, _rest_pose, _subject_body, _to
from tests.server.conftest import ServiceFiles, serve_in_thread

ADMIN = {"X-API-Key": "adm-enrol-5d1f8a3c7b20"}
NEW = "jumping jack"  # not one of the model's classes (SYNTHETIC_CLASSES)


def jumping_jack(seed: int) -> np.ndarray:
    """A jumping jack (not in ``SYNTHETIC_CLASSES``): both arms swing sideways from the hips to
    overhead while the legs spread, 2-4 times; subject ``seed``'s body, 2.5-3.5 m in front of
    the camera, ~1 cm noise -> (T, 25, 3) metres."""
    rng = np.random.default_rng([77, seed])
    frames = int(rng.integers(60, 90))
    u = np.linspace(0.0, 1.0, frames)
    pose = _rest_pose(frames, rng)
    env = _hold(u, rng)
    swing = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(2.0, 4.0) * u + rng.uniform(-0.3, 0.3))
    for s in ("r", "l"):
        _to(pose, env, s, elev=10 + rng.uniform(140, 165) * swing, azim=90.0, twist=-90.0, elbow=10.0)
        _to(pose, env, s, abd=5 + rng.uniform(15, 25) * swing)
    joints = _forward(_subject_body(77, seed % 10 + 1), pose)
    joints = joints + np.array([rng.uniform(-0.3, 0.3), -1.0, rng.uniform(2.5, 3.5)])
    return joints + rng.normal(0.0, 0.01, joints.shape)


def _clip_json(seed: int, **extra: Any) -> dict[str, Any]:
    return {"joints": np.round(jumping_jack(seed), 4).tolist(), "layout": "ntu", "name": f"jj{seed}", **extra}


@pytest.fixture(scope="module")
def served(service_files: ServiceFiles, tmp_path_factory: pytest.TempPathFactory) -> Any:
    index = tmp_path_factory.mktemp("enrol") / "index"
    shutil.copytree(service_files.index, index)
    settings = Settings(
        model_dir=str(service_files.model),
        index_dir=str(index),
        data_root=str(service_files.root),
        admin_key=ADMIN["X-API-Key"],
        allow_mutation=True,
    )
    with serve_in_thread(create_app(settings)) as url:
        added = requests.post(
            f"{url}/v1/index/items",
            json={"clips": [_clip_json(seed, label=NEW) for seed in range(3)]},
            headers=ADMIN,
            timeout=60,
        )
        assert added.status_code == 201, added.text
        yield url, added.json()["ids"]


def _classify(url: str, **body: Any) -> requests.Response:
    return requests.post(f"{url}/v1/classify", json={"clips": [_clip_json(3)], **body}, timeout=60)


def test_a_new_action_enrolled_by_three_clips_is_recognised_by_the_index(served: Any) -> None:
    url, ids = served
    assert len(ids) == 3
    answer = _classify(url, by="index")
    assert answer.status_code == 200, answer.text
    result = answer.json()["results"][0]
    assert result["label"] == NEW and result["decided_by"] == "index"
    assert result["class_index"] is None  # a label the model does not know
    vote = result["index_vote"]
    assert vote["label"] == NEW and vote["share"] == result["probability"] > 0.5
    assert abs(sum(vote["shares"].values()) - 1.0) < 1e-6
    # the nearest neighbour is enrolled and so are all three within the five nearest: the tiny
    # model (a few epochs on synthetic clips) puts look-alikes among them (an "arms up" clip, arms
    # overhead too, ranked second in one training draw), which the vote outweighs
    nearest = [n["id"] for n in vote["neighbours"]]
    assert len(nearest) == 10 and set(ids) <= set(nearest[:5]) and nearest[0] in ids
    assert [n["score"] for n in vote["neighbours"]] == sorted(
        (n["score"] for n in vote["neighbours"]), reverse=True
    )
    assert result["top_k"][0]["label"] in SYNTHETIC_CLASSES  # the model's own ranking is kept


def test_both_lets_the_index_name_an_action_the_model_cannot(served: Any) -> None:
    url, _ = served
    result = _classify(url, by="both").json()["results"][0]
    assert result["label"] == NEW and result["decided_by"] == "index"


def test_by_model_is_the_unchanged_default(served: Any) -> None:
    url, _ = served
    default, explicit = _classify(url).json()["results"][0], _classify(url, by="model").json()["results"][0]
    assert default == explicit
    assert (
        default["label"] in SYNTHETIC_CLASSES and "decided_by" not in default and "index_vote" not in default
    )


def test_uploaded_files_take_by_as_a_form_field(served: Any, tmp_path: Path) -> None:
    url, _ = served
    clip = Clip(joints=jumping_jack(3)[None], label=-1, meta=ClipMeta(source="jj3", name="jj3"), layout="ntu")
    write_npz(tmp_path / "jj3.npz", [clip], list(SYNTHETIC_CLASSES))
    answer = requests.post(
        f"{url}/v1/classify/files",
        files={"files": ("jj3.npz", (tmp_path / "jj3.npz").read_bytes())},
        data={"by": "index"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["label"] == NEW


def test_an_unknown_by_is_a_422_naming_the_field(served: Any) -> None:
    url, _ = served
    answer = _classify(url, by="oracle")
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail[0]["loc"][-1] == "by" and "'model', 'index' or 'both'" in detail[0]["msg"]


@pytest.mark.parametrize("binary", [True, False])
def test_the_python_client_enrols_and_explains(served: Any, binary: bool) -> None:
    """VclClient.classify passes by and explain on the .npy fast path and on JSON alike."""
    from server.client import VclClient

    url, _ = served
    client = VclClient(url, binary=binary)
    clip = {"joints": jumping_jack(3).astype(np.float32), "layout": "ntu", "name": "jj3"}
    [result] = client.classify(clips=[clip], by="both", explain=True)["results"]
    assert result["label"] == NEW and result["decided_by"] == "index"
    explanation = result["explanation"]  # of the model's own predicted class
    assert explanation["label"] == result["top_k"][0]["label"] != NEW
    assert abs(sum(abs(v) for row in explanation["frames"] for v in row) - 1.0) < 1e-3
