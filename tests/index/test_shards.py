"""Sharded builds: shard-and-merge equals a single build; incomplete or mixed shards are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index import shards
from index.action_index import ActionIndex
from index.shards import ShardError, ShardSpec, shard_range
from skeleton.readers.npz import write_npz
from skeleton.synthetic import synthetic_clip
from tests.conftest import tiny_exported_model
from vcl.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("shards")
    data, model = tiny_exported_model(root, seed=11, streams="[joint]")
    clips = root / "clips"
    (clips / "b").mkdir(parents=True)
    write_npz(clips / "a.npz", [synthetic_clip(i, seed=3) for i in (0, 1)])
    write_npz(clips / "b" / "c.npz", [synthetic_clip(2, seed=3)])
    write_npz(clips / "d.npz", [synthetic_clip(i, seed=3) for i in (3, 4, 5)])
    return data, model, clips


def _contents(root: Path) -> dict[str, Any]:
    """Everything a version holds but the timestamps: ids, vectors, metadata, sigmas, previews."""
    index = ActionIndex(root)
    ids, vectors, items, sigmas = index._rows(index._snapshot)
    rows = [{k: v for k, v in it.to_json().items() if k != "added"} for it in items]
    info = index.info()
    return {
        "ids": ids.tolist(),
        "vectors": vectors,
        "rows": rows,
        "previews": [it.preview for it in items],
        "sigmas": sigmas,
        "content": info["content_sha256"],
        "count": info["count"],
    }


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["ids"] == b["ids"] and a["count"] == b["count"]
    assert np.array_equal(a["vectors"], b["vectors"])
    assert a["rows"] == b["rows"] and a["previews"] == b["previews"]
    assert (a["sigmas"] is None) == (b["sigmas"] is None)
    if a["sigmas"] is not None:
        assert np.array_equal(a["sigmas"], b["sigmas"])
    assert a["content"] == b["content"]


def _build(model: Path, data: list[Path], out: Path, *extra: str) -> None:
    assert (
        main(["index", "build", "--model", str(model), "--data", *map(str, data), "--out", str(out), *extra])
        == 0
    )


def test_prepared_shards_merge_to_the_single_build(
    setup: tuple[Path, Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, model, _ = setup
    monkeypatch.setattr(shards, "EMBED_BATCH", 8)  # blocks of 8, so 3 shards of 44 clips all hold some
    _build(model, [data], tmp_path / "single")
    for i in (2, 0, 1):  # any order, any process
        _build(model, [data], tmp_path / "parts", "--shard", f"{i}/3")
    assert "embedded shard 1/3: 16 clips" in capsys.readouterr().out
    assert main(["index", "merge", str(tmp_path / "parts"), "--out", str(tmp_path / "merged")]) == 0
    assert "merged 44 clips" in capsys.readouterr().out
    single, merged = _contents(tmp_path / "single"), _contents(tmp_path / "merged")
    assert single["count"] == 44 and single["sigmas"] is not None and single["previews"][0] is not None
    _assert_same(single, merged)


def test_file_shards_merge_to_the_single_build(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, model, clips = setup
    _build(model, [clips], tmp_path / "single")
    for i in range(4):  # four shards of three files: one is empty
        _build(model, [clips], tmp_path / "parts", "--shard", f"{i}/4")
    files = sorted((tmp_path / "parts").iterdir())
    assert [p.name for p in files][0] == "shard-00000-of-00004.sqlite"
    assert main(["index", "merge", *map(str, files), "--out", str(tmp_path / "merged")]) == 0
    single, merged = _contents(tmp_path / "single"), _contents(tmp_path / "merged")
    assert single["ids"] == list(range(6))
    _assert_same(single, merged)


def test_incomplete_duplicate_and_mixed_shards_are_refused(
    setup: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model, clips = setup
    parts = tmp_path / "parts"
    _build(model, [data], parts, "--shard", "0/3")
    _build(model, [data], parts, "--shard", "2/3")
    capsys.readouterr()
    assert main(["index", "merge", str(parts), "--out", str(tmp_path / "x")]) == 2
    assert "incomplete: 2 of 3 shards; missing 1/3" in capsys.readouterr().err
    first = parts / "shard-00000-of-00003.sqlite"
    with pytest.raises(ShardError, match="shard 0/3 given more than once"):
        shards.merge([first, first, parts / "shard-00002-of-00003.sqlite"], tmp_path / "x")
    _build(model, [clips], tmp_path / "files", "--shard", "1/3")
    with pytest.raises(ShardError, match="does not belong with shard 0/3: collection"):
        shards.merge([first, tmp_path / "files" / "shard-00001-of-00003.sqlite"], tmp_path / "x")
    (tmp_path / "junk.sqlite").write_text("not a database")
    with pytest.raises(ShardError, match="junk.sqlite: not a VCL index shard"):
        shards.merge([tmp_path / "junk.sqlite"], tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert (
        main(
            [
                "index",
                "build",
                "--model",
                str(model),
                "--data",
                str(data),
                "--out",
                str(parts),
                "--shard",
                "3/3",
            ]
        )
        == 2
    )
    assert "--shard '3/3': expected I/N with 0 <= I < N" in capsys.readouterr().err


@pytest.mark.parametrize("total", [0, 1, 7, 44, 1000])
@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize("block", [1, 8, 64])
def test_shard_ranges_partition_the_collection(total: int, count: int, block: int) -> None:
    ranges = [shard_range(total, ShardSpec(i, count), block) for i in range(count)]
    assert [p for r in ranges for p in r] == list(range(total))  # contiguous, in order, each once
    assert all(r.start % block == 0 for r in ranges if len(r))
    sizes = [len(r) for r in ranges]
    assert max(sizes) - min(sizes) <= 2 * block  # balanced to a block or two
