"""The binary clip body: ``server.npy`` on its own (header checks, without allocating), then the
``/npy`` routes through the test client answering as the JSON routes do for the same clips."""

from __future__ import annotations

import io
import pickle
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.npy import read_npy_body
from server.settings import Settings
from skeleton.errors import SkeletonError
from skeleton.readers.limits import ReadLimits
from skeleton.synthetic import synthetic_clip
from tests.server.conftest import ServiceFiles

LIMITS = ReadLimits.for_clips(max_clips=64, max_persons=4, max_frames=3000)
NPY = {"Content-Type": "application/x-npy"}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _object_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return buffer.getvalue()


# ---------------------------------------------------------------------------- server.npy alone
@pytest.mark.parametrize("dtype", ["<f2", "<f4", ">f4", "<f8"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_every_float_dtype_and_order_reads_back_the_same_values(dtype: str, order: Literal["C", "F"]) -> None:
    values = np.arange(2 * 5 * 25 * 3, dtype=np.float64).reshape(2, 5, 25, 3) / 8  # exact in float16
    array = np.asarray(values, dtype=dtype, order=order)
    read = read_npy_body(_npy(array), LIMITS)
    assert read.shape == (2, 5, 25, 3) and read.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(read.astype(np.float64), values)


BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "body: not a .npy array"),
    "json": (b'{"clips": []}', "body: not a .npy array"),
    "pickle": (pickle.dumps(np.zeros((2, 4, 25, 3))), "body: not a .npy array"),
    "object dtype": (_object_npy(), "body: object arrays are not accepted (they are pickles)"),
    "int dtype": (_npy(np.zeros((1, 4, 25, 3), np.int32)), "body: dtype '<i4' (int32): expected float16"),
    "structured": (_npy(np.zeros(4, [("x", "<f4"), ("y", "<f4")])), "body: dtype"),
    "rank 2": (_npy(np.zeros((4, 25), np.float32)), "body: shape (4, 25): expected (T, V, C)"),
    "rank 6": (_npy(np.zeros((1, 1, 1, 2, 25, 3), np.float32)), "body: shape (1, 1, 1, 2, 25, 3)"),
    "persons": (_npy(np.zeros((5, 4, 25, 3), np.float32)), "body: 5 persons, at most 4 (VCL_MAX_PERSONS)"),
    "frames": (_header((1, 3001, 25, 3)), "body: 3001 frames, at most 3000 (VCL_MAX_FRAMES)"),
    "clips": (_header((65, 1, 4, 25, 3)), "body: 65 clips, at most 64 (VCL_MAX_CLIPS)"),
    "zero frames": (
        _npy(np.zeros((1, 0, 25, 3), np.float32)),
        "body: shape (1, 0, 25, 3): the array is empty",
    ),
    "negative": (_header((1, -4, 25, 3)), "body: unreadable .npy header (negative dimension"),
    "header cut": (_header((1, 4, 25, 3))[:20], "body: unreadable .npy header"),
    "truncated": (
        _npy(np.zeros((1, 4, 25, 3), np.float32))[:-4],
        "body: truncated: the header declares (1, 4, 25, 3) float32, 1200 bytes of data; the body holds 1196",
    ),
    "extra": (_npy(np.zeros((1, 4, 25, 3), np.float32)) + b"xx", "body: longer than its header says"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_bodies_are_refused_naming_the_problem(case: str) -> None:
    data, message = BAD_BODIES[case]
    with pytest.raises(SkeletonError) as caught:
        read_npy_body(data, LIMITS)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "shape",
    [(4, 3000, 25, 10**9), (64, 4, 3000, 33, 10**12), (1, 2**40, 25, 3), (2**62, 4, 3000, 25, 3)],
)
def test_a_huge_declared_shape_in_a_tiny_body_is_refused_without_allocating(shape: tuple[int, ...]) -> None:
    body = _header(shape) + bytes(64)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SkeletonError, match=r"^body: (truncated|\d+ (frames|clips))"):
            read_npy_body(body, LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 and time.perf_counter() - start < 0.5


def test_a_small_body_is_read_on_the_event_loop_and_a_large_one_in_a_thread() -> None:
    from server.clips import INLINE_BYTES, ClipReader
    from server.schemas import ClipIn, ClipOptions

    reader = ClipReader(Settings(model_dir="unused"))
    joints = synthetic_clip(0, seed=1).joints.astype(np.float32)  # (M, T, V, C)
    one = _npy(joints)  # one clip: tens of kB
    many = _npy(np.stack([joints] * 4))  # four of them
    assert len(one) <= INLINE_BYTES < len(many)
    assert reader.npy_source(one, ClipOptions()).small and not reader.npy_source(many, ClipOptions()).small
    source = reader.npy_source(one, ClipOptions()).then(lambda clips: clips * 2)
    assert source.small and len(source()) == 2 and source()[0].joints.shape == joints.shape
    assert not reader.json_source([ClipIn(joints=np.zeros((5, 25, 3)).tolist())]).small  # parsed in a thread


def test_the_array_is_a_view_of_the_body() -> None:
    data = _npy(np.ones((2, 4, 25, 3), np.float32))
    read = read_npy_body(data, LIMITS)
    assert not read.flags.writeable and not read.flags.owndata


# ---------------------------------------------------------------------------- the routes
@pytest.fixture(scope="module")
def client(service_files: ServiceFiles) -> Iterator[TestClient]:
    files = service_files
    settings = Settings(
        model_dir=str(files.model), index_dir=str(files.index), data_root=str(files.root), max_persons=4
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _clips(count: int, frames: int = 48) -> np.ndarray:
    """(count, 2, frames, 25, 3) float32 joints of synthetic NTU clips."""
    return np.stack([synthetic_clip(i, seed=9).joints[:, :frames] for i in range(count)]).astype(np.float32)


def _json_clips(batch: np.ndarray) -> list[dict[str, Any]]:
    return [{"joints": clip.tolist()} for clip in batch]  # float32 -> float64 is exact


def _assert_same_classification(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert (a["name"], a["label"], a["class_index"]) == (b["name"], b["label"], b["class_index"])
    assert a["probability"] == pytest.approx(b["probability"], abs=1e-6)
    assert [p["class_index"] for p in a["top_k"]] == [p["class_index"] for p in b["top_k"]]
    np.testing.assert_allclose(
        [p["probability"] for p in a["top_k"]], [p["probability"] for p in b["top_k"]], atol=1e-6
    )
    assert a["uncertainty"]["score"] == pytest.approx(b["uncertainty"]["score"], abs=1e-5)
    assert a["uncertainty"]["softmax_entropy"] == pytest.approx(b["uncertainty"]["softmax_entropy"], abs=1e-5)


def test_one_clip_classifies_as_its_json(client: TestClient) -> None:
    clip = _clips(1)[0]
    by_json = client.post("/v1/classify", json={"clips": _json_clips(clip[None]), "top_k": 3})
    by_npy = client.post("/v1/classify/npy?top_k=3", content=_npy(clip), headers=NPY)
    assert by_json.status_code == by_npy.status_code == 200, by_npy.text
    [a], [b] = by_json.json()["results"], by_npy.json()["results"]
    assert len(b["top_k"]) == 3 and 0 < b["probability"] <= 1
    _assert_same_classification(a, b)
    # (T, V, C) is the one person of (1, T, V, C), as in JSON
    [one] = client.post("/v1/classify/npy", content=_npy(clip[0]), headers=NPY).json()["results"]
    [one_json] = client.post("/v1/classify", json={"clips": [{"joints": clip[0].tolist()}]}).json()["results"]
    _assert_same_classification(one, one_json)


def test_a_batch_classifies_and_embeds_as_its_json(client: TestClient) -> None:
    batch = _clips(3)
    by_json = client.post("/v1/classify", json={"clips": _json_clips(batch), "preview": True}).json()
    by_npy = client.post("/v1/classify/npy?preview=true&name=b", content=_npy(batch), headers=NPY).json()
    assert len(by_npy["results"]) == 3
    for a, b in zip(by_json["results"], by_npy["results"], strict=True):
        _assert_same_classification({**a, "name": "b"}, b)
        np.testing.assert_allclose(a["skeleton"]["frames"], b["skeleton"]["frames"], atol=1e-6)
    assert (
        len({r["label"] for r in by_npy["results"]}) > 1
        or len({r["probability"] for r in by_npy["results"]}) > 1
    )
    # float16 and float64 bodies work too; embeddings agree with JSON's
    emb_json = client.post("/v1/embed", json={"clips": _json_clips(batch)}).json()["results"]
    emb_npy = client.post("/v1/embed/npy", content=_npy(batch.astype(np.float64)), headers=NPY).json()[
        "results"
    ]
    for a, b in zip(emb_json, emb_npy, strict=True):
        np.testing.assert_allclose(a["embedding"], b["embedding"], atol=1e-6)
        for stream, values in a["streams"].items():
            np.testing.assert_allclose(values["sigma"], b["streams"][stream]["sigma"], atol=1e-5)
    half = client.post("/v1/embed/npy", content=_npy(batch.astype(np.float16)), headers=NPY)
    assert half.status_code == 200 and len(half.json()["results"]) == 3


def test_search_by_npy_finds_what_search_by_json_finds(client: TestClient) -> None:
    clip = _clips(1)[0]
    by_json = client.post("/v1/search", json={"clip": {"joints": clip.tolist()}, "k": 4}).json()
    by_npy = client.post("/v1/search/npy?k=4", content=_npy(clip), headers=NPY).json()
    assert by_npy["version"] == by_json["version"] and len(by_npy["neighbours"]) == 4
    assert [n["id"] for n in by_npy["neighbours"]] == [n["id"] for n in by_json["neighbours"]]
    np.testing.assert_allclose(
        [n["score"] for n in by_npy["neighbours"]], [n["score"] for n in by_json["neighbours"]], atol=1e-6
    )
    batch = client.post("/v1/search/npy", content=_npy(_clips(2)), headers=NPY)
    assert (
        batch.status_code == 422 and batch.json()["detail"] == "search: expected one clip, the input holds 2"
    )


@pytest.mark.parametrize("case", ["pickle", "object dtype", "truncated", "persons", "frames", "clips"])
def test_bad_bodies_get_422_naming_the_problem(client: TestClient, case: str) -> None:
    data, message = BAD_BODIES[case]
    answer = client.post("/v1/classify/npy", content=data, headers=NPY)
    assert answer.status_code == 422 and answer.json()["detail"].startswith(message), answer.text


def test_wrong_options_and_content_types_name_the_problem(client: TestClient) -> None:
    clip = _npy(_clips(1)[0])
    as_json = client.post("/v1/classify/npy", json={"clips": []})
    assert as_json.status_code == 415 and as_json.json()["detail"].startswith(
        "Content-Type application/json: this route takes application/x-npy"
    )
    bare = client.post("/v1/embed/npy", content=clip)
    assert bare.status_code == 415 and "Content-Type (none)" in bare.json()["detail"]
    layout = client.post("/v1/classify/npy?layout=coco17", content=clip, headers=NPY)
    assert layout.status_code == 422 and "body" in layout.json()["detail"] and "17" in layout.json()["detail"]
    channels = client.post("/v1/embed/npy?channels=xy", content=clip, headers=NPY)
    assert channels.status_code == 422 and "channels" in channels.json()["detail"]
    top_k = client.post("/v1/classify/npy?top_k=1e3", content=clip, headers=NPY)
    assert top_k.status_code == 422 and top_k.json()["detail"][0]["loc"] == ["query", "top_k"]


def test_a_huge_declared_shape_is_answered_at_once(client: TestClient) -> None:
    start = time.perf_counter()
    answer = client.post("/v1/embed/npy", content=_header((4, 3000, 25, 10**9)) + bytes(64), headers=NPY)
    assert answer.status_code == 422 and answer.json()["detail"].startswith("body: truncated")
    assert time.perf_counter() - start < 2.0
