"""The action index: search, metadata, versioned snapshots, faults, concurrency, uncertainty."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import index.store as store
from index.action_index import ActionIndex, mutual_likelihood
from index.metadata import Item
from index.store import IndexStoreError
from skeleton.hashing import sha256_file

MODEL = "m" * 64


def _data(n: int = 100, dim: int = 16, seed: int = 0, first_id: int = 0) -> tuple[np.ndarray, list[Item]]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    items = [
        Item(
            id=first_id + i,
            label=f"class{i % 5}",
            label_index=i % 5,
            source=f"clip{i}.skeleton",
            frame_start=0,
            frame_end=50,
            subject=i % 3,
            view="1",
            dataset="test",
            added=1000.0 + i,
            user={"note": i},
        )
        for i in range(n)
    ]
    return vectors, items


def test_exact_search_with_metadata_and_version(tmp_path: Path) -> None:
    vectors, items = _data()
    index = ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    (hits,) = index.search(vectors[7], k=5)
    assert hits[0].id == 7 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].metadata["source"] == "clip7.skeleton" and hits[0].metadata["user"] == {"note": 7}
    assert {h.version for h in hits} == {"v000001"} and len(hits) == 5
    cos = vectors @ vectors[7] / np.linalg.norm(vectors, axis=1) / np.linalg.norm(vectors[7])
    assert [h.id for h in hits] == np.argsort(-cos)[:5].tolist()
    (only,) = index.search(vectors[7], k=3, label="class1")
    assert {h.label for h in only} == {"class1"} and len(only) == 3
    assert index.info()["count"] == 100 and index.info()["dim"] == 16


def test_same_data_same_ids_vectors_and_checksums(tmp_path: Path) -> None:
    vectors, items = _data()
    a = ActionIndex.create(tmp_path / "a", vectors, items, None, MODEL)
    b = ActionIndex.create(tmp_path / "b", vectors, _data()[1], None, MODEL)
    assert a.info()["content_sha256"] == b.info()["content_sha256"]
    assert sha256_file(tmp_path / "a" / "v000001" / "index.faiss") == sha256_file(
        tmp_path / "b" / "v000001" / "index.faiss"
    )
    ids_a, vec_a = a._snapshot.vectors()
    ids_b, vec_b = b._snapshot.vectors()
    assert np.array_equal(ids_a, ids_b) and np.array_equal(vec_a, vec_b)


def test_fault_between_write_and_rename_keeps_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors, items = _data()
    index = ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)

    def crash(tmp: Path) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(store, "_before_rename", crash)
    with pytest.raises(OSError, match="power cut"):
        index.remove([1, 2])
    monkeypatch.undo()
    reopened = ActionIndex(tmp_path / "idx", MODEL, 16)
    assert reopened.version == "v000001" and reopened.info()["count"] == 100
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["CURRENT", "NEXT_ID", "v000001"]
    assert index.search(vectors[1], k=1)[0][0].id == 1  # the open index still answers


def test_flipped_byte_falls_back_to_the_previous_version(tmp_path: Path) -> None:
    vectors, items = _data()
    index = ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    index.remove([3])
    assert index.version == "v000002"
    path = tmp_path / "idx" / "v000002" / "index.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    reopened = ActionIndex(tmp_path / "idx", MODEL, 16)
    assert reopened.version == "v000001"
    assert any("checksum mismatch" in m for m in reopened.messages)
    assert any("fell back to the previous good version v000001" in m for m in reopened.messages)
    (tmp_path / "idx" / "v000001" / "meta.sqlite").write_bytes(b"garbage")
    with pytest.raises(IndexStoreError, match="no usable version"):
        ActionIndex(tmp_path / "idx", MODEL, 16)


def test_another_models_index_is_refused(tmp_path: Path) -> None:
    vectors, items = _data()
    ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    with pytest.raises(IndexStoreError, match="built by another embedding model"):
        ActionIndex(tmp_path / "idx", "x" * 64, 16)
    with pytest.raises(IndexStoreError, match="embedding dim 16, this model gives 32"):
        ActionIndex(tmp_path / "idx", MODEL, 32)
    with pytest.raises(IndexStoreError, match="not an action index"):
        ActionIndex(tmp_path / "nothing")


def test_remove_and_add_back(tmp_path: Path) -> None:
    vectors, items = _data()
    index = ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    index.remove([7, 8])
    assert 7 not in [h.id for h in index.search(vectors[7], k=10)[0]]
    with pytest.raises(IndexStoreError, match=r"ids not in the index: \[7\]"):
        index.remove([7])
    index.add(vectors[7:8], [Item(id=7, label="class2", source="again.skeleton")])
    (hits,) = index.search(vectors[7], k=1)
    assert hits[0].id == 7 and hits[0].metadata["source"] == "again.skeleton"
    with pytest.raises(IndexStoreError, match=r"ids already in the index: \[7\]"):
        index.add(vectors[7:8], [Item(id=7)])
    new = Item(id=-1, label="class0")
    index.add(vectors[8:9], [new])
    assert new.id == 100  # automatic ids continue after the largest one ever used
    assert sorted(p.name for p in (tmp_path / "idx").iterdir() if p.name.startswith("v")) == [
        "v000003",
        "v000004",
    ]


def test_no_torn_reads_while_rebuilding(tmp_path: Path) -> None:
    a_vectors, a_items = _data(60, seed=1)
    b_vectors, b_items = _data(60, seed=2)
    for item in b_items:
        item.dataset = "b"
    index = ActionIndex.create(tmp_path / "idx", a_vectors, a_items, None, MODEL)
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        rng = np.random.default_rng(threading.get_ident() % 1000)
        while not stop.is_set():
            (hits,) = index.search(rng.normal(size=16).astype(np.float32), k=10)
            sides = {h.metadata["dataset"] for h in hits}
            versions = {h.version for h in hits}
            if len(hits) != 10 or len(sides) != 1 or len(versions) != 1:
                errors.append(f"torn result: {len(hits)} hits, sides {sides}, versions {versions}")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for round_ in range(6):
        vectors, items = (b_vectors, b_items) if round_ % 2 == 0 else (a_vectors, a_items)
        index.rebuild(vectors, [Item(**{**i.to_json()}) for i in items], None)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert index.version == "v000007"


def test_mutual_likelihood_closed_form() -> None:
    q, qs = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    items = np.array([[1.0, 0.0]])
    sig = np.array([[1.0, 1.0]])
    # var = 2 per dim: -1/2 (1/2 + log 2 + 0 + log 2)
    assert mutual_likelihood(q, qs, items, sig)[0] == pytest.approx(-0.5 * (0.5 + 2 * np.log(2)))


def test_uncertainty_aware_rerank_and_abstention(tmp_path: Path) -> None:
    vectors, items = _data(50)
    vectors[2] = vectors[1] + 0.02 * np.linalg.norm(vectors[1]) * np.random.default_rng(9).normal(size=16)
    sigmas = np.full((50, 16), 0.05, np.float32)
    sigmas[1] = 5.0  # item 1 is very uncertain; item 2, almost as close, is sure
    index = ActionIndex.create(tmp_path / "idx", vectors, items, sigmas, MODEL)
    query = vectors[1] + 0.01
    (plain,) = index.search(query, k=3)
    (aware,) = index.search(query, k=3, query_sigmas=np.full((1, 16), 0.05, np.float32))
    assert plain[0].id == 1 and plain[0].mls is None
    assert plain[1].id == 2
    assert aware[0].id == 2 and all(h.mls is not None for h in aware)  # MLS demotes the vague item
    scores = [float(h.mls or 0.0) for h in aware]
    assert scores == sorted(scores, reverse=True)
    sure = index.classify(vectors[10], k=5, uncertainty=-6.0, abstain_above=-2.0)
    vague = index.classify(vectors[10], k=5, uncertainty=0.5, abstain_above=-2.0)
    assert sure["label"] == "class0" and not sure["abstain"]
    assert vague["label"] is None and vague["abstain"] and vague["votes"] == sure["votes"]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_kinds_recall(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    vectors = (centres[rng.integers(0, 20, 2000)] + 0.3 * rng.normal(size=(2000, 16))).astype(np.float32)
    items = [Item(id=i) for i in range(2000)]
    exact = ActionIndex.create(tmp_path / "flat", vectors, items, None, MODEL)
    approx = ActionIndex.create(
        tmp_path / kind, vectors, [Item(id=i) for i in range(2000)], None, MODEL, kind
    )
    queries = vectors[:50] + 0.05
    truth = [{h.id for h in row} for row in exact.search(queries, 10)]
    found = [{h.id for h in row} for row in approx.search(queries, 10)]
    recall = np.mean([len(t & f) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall > 0.9 and approx.info()["kind"] == kind


def test_auto_kind_follows_the_collection_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors, items = _data(100)
    small = ActionIndex.create(tmp_path / "small", vectors, items, None, MODEL)
    assert small._snapshot.manifest["resolved_kind"] == "flat"
    monkeypatch.setattr(store, "AUTO_IVF_FROM", 50)
    large = ActionIndex.create(tmp_path / "large", vectors, _data(100)[1], None, MODEL)
    assert large._snapshot.manifest["resolved_kind"] == "ivf" and large.info()["kind"] == "auto"
    assert large.search(vectors[4], k=1)[0][0].id == 4


def test_ids_only_go_up_across_removals_rebuilds_and_reopening(tmp_path: Path) -> None:
    vectors, items = _data(10)
    index = ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    index.remove([9])  # the highest id
    new = Item(id=-1)
    index.add(vectors[:1], [new])
    assert new.id == 10  # not 9 again
    index.remove([10])
    reopened = ActionIndex(tmp_path / "idx", MODEL, 16)
    again = Item(id=-1)
    reopened.add(vectors[:1], [again])
    assert again.id == 11
    rebuilt = [Item(id=0, label="r") for _ in range(3)]
    reopened.rebuild(vectors[:3], rebuilt, None)
    assert [i.id for i in rebuilt] == [12, 13, 14]  # rebuilt items take fresh ids too
    assert store.read_counter(tmp_path / "idx") == 15
    # a fallback to an older version keeps the counter where it was
    (tmp_path / "idx" / reopened.version / "index.faiss").write_bytes(b"broken")
    fallen = ActionIndex(tmp_path / "idx", MODEL, 16)
    later = Item(id=-1)
    fallen.add(vectors[:1], [later])
    assert later.id == 15


def test_writes_during_a_rebuild_are_reapplied_on_top(tmp_path: Path) -> None:
    vectors, items = _data(10)
    index = ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    index.begin_rebuild()
    added = [Item(id=-1, label="during"), Item(id=-1, label="during-removed")]
    index.add(vectors[:2], added)
    index.remove([added[1].id, 3])  # an item added during the rebuild, and an old one
    with pytest.raises(IndexStoreError, match="already in progress"):
        index.begin_rebuild()
    new_vectors, new_items = _data(5, seed=4)
    index.rebuild(new_vectors, new_items, None)
    ids, _ = index._snapshot.vectors()
    assert sorted(ids.tolist()) == sorted([added[0].id, *(i.id for i in new_items)])
    assert index.item(added[0].id)[0]["label"] == "during"
    assert len(set(ids.tolist())) == len(ids) and min(i.id for i in new_items) > added[1].id
    # a failed rebuild drops its journal; later writes are not replayed by the next rebuild
    index.begin_rebuild()
    index.add(vectors[:1], [Item(id=-1, label="kept")])
    index.abort_rebuild()
    index.rebuild(new_vectors, _data(5, seed=4)[1], None)
    assert index.info()["count"] == 5


def test_a_corrupt_current_never_falls_back_to_a_newer_version(tmp_path: Path) -> None:
    vectors, items = _data(10)
    index = ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    index.remove([1])
    index.remove([2])  # v000003 current, v000002 kept
    root = tmp_path / "idx"
    (root / "CURRENT").write_text("v000002\n")  # as if v000003 were written but never published
    (root / "v000002" / "meta.sqlite").write_bytes(b"rot")
    with pytest.raises(IndexStoreError, match="no usable version"):
        ActionIndex(root, MODEL, 16)  # v000003 is newer than CURRENT: never a candidate
    (root / "CURRENT").write_text("garbage")
    with pytest.raises(IndexStoreError, match="CURRENT is corrupt"):
        ActionIndex(root, MODEL, 16)


def test_the_writer_removes_what_a_crashed_write_left(tmp_path: Path) -> None:
    vectors, items = _data(10)
    ActionIndex.create(tmp_path / "idx", vectors, items, None, MODEL)
    root = tmp_path / "idx"
    (root / ".v000002.tmp.abc").mkdir()
    (root / ".v000002.tmp.abc" / "index.faiss").write_bytes(b"half")
    (root / "CURRENT.tmp").write_text("v000002\n")
    shutil_copy = root / "v000002"
    shutil_copy.mkdir()  # renamed into place, CURRENT never swapped
    reader = ActionIndex(root, MODEL, 16)  # a reader leaves everything alone
    assert (root / "v000002").exists() and reader.version == "v000001"
    writer = ActionIndex(root, MODEL, 16, writer=True)
    assert sorted(p.name for p in root.iterdir()) == ["CURRENT", "NEXT_ID", "v000001"]
    assert any("interrupted write" in m for m in writer.messages)
