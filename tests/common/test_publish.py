"""publish_dir: a directory replaced in one step, fsynced, and nothing left behind either way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common import publish
from common.publish import publish_dir


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> text of every file below ``root``."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _write(tmp: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-aside"])
def test_out_is_replaced_and_the_old_version_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    if not exchange:
        monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    out.mkdir()
    _write(out, {"old.txt": "old", "sub/old.bin": "old"})
    with publish_dir(out) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and tmp != out
        assert _tree(out) == {"old.txt": "old", "sub/old.bin": "old"}  # untouched until the end
        _write(tmp, {"new.txt": "new", "sub/deeper/new.json": "{}"})
    assert _tree(out) == {"new.txt": "new", "sub/deeper/new.json": "{}"}
    assert os.listdir(tmp_path) == ["out"]  # neither the temporary nor the old directory remains


def test_an_exception_leaves_out_untouched_and_no_temporary_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _write(out, {"old.txt": "old"})
    with pytest.raises(RuntimeError, match="half written"), publish_dir(out) as tmp:
        _write(tmp, {"new.txt": "new"})
        raise RuntimeError("half written")
    assert _tree(out) == {"old.txt": "old"}
    assert os.listdir(tmp_path) == ["out"]


def test_an_exception_with_no_previous_version_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), publish_dir(tmp_path / "out") as tmp:
        _write(tmp, {"new.txt": "new"})
        raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []


def test_publishes_where_out_and_its_parent_do_not_exist(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    with publish_dir(out) as tmp:
        _write(tmp, {"x.txt": "x"})
    assert _tree(out) == {"x.txt": "x"}
    assert os.listdir(out.parent) == ["out"]


def test_every_file_and_directory_is_fsynced_before_the_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    synced: list[tuple[str, Path, bool]] = []  # (kind, path, out already replaced)
    fsync_file, fsync_dir = publish.fsync_file, publish.fsync_dir

    def record_file(path: str | Path) -> None:
        synced.append(("file", Path(path), out.exists()))
        fsync_file(path)

    def record_dir(path: str | Path) -> None:
        synced.append(("dir", Path(path), out.exists()))
        fsync_dir(path)

    monkeypatch.setattr(publish, "fsync_file", record_file)
    monkeypatch.setattr(publish, "fsync_dir", record_dir)
    with publish_dir(out) as tmp:
        _write(tmp, {"a.txt": "a", "sub/b.txt": "b"})
    files = {p.relative_to(tmp) for kind, p, _ in synced if kind == "file"}
    dirs = {p for kind, p, _ in synced if kind == "dir"}
    assert files == {Path("a.txt"), Path("sub/b.txt")}
    assert {tmp, tmp / "sub", tmp_path} <= dirs  # the tree, then the parent after the rename
    assert not any(done for kind, p, done in synced if p != tmp_path)  # the tree before the swap
    assert synced[-1] == ("dir", tmp_path, True)
    assert _tree(out) == {"a.txt": "a", "sub/b.txt": "b"}
