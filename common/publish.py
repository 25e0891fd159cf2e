"""Publish a directory atomically: the one way VCL writes a dataset, checkpoint, export or index
version.

``with publish_dir(out) as tmp:`` yields a fresh temporary directory beside ``out``; write the
files there. When the block ends without an exception, every file and the directory are fsynced,
the temporary directory takes the place of ``out`` in one step (``renameat2(RENAME_EXCHANGE)``
where the kernel offers it, so there is never a moment with no ``out``; otherwise the old one is
renamed aside first), the parent is fsynced, and only then is the old version removed. On an
exception the temporary directory is removed and ``out`` is untouched.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def fsync_file(path: str | Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every regular file below ``root``, then every directory, deepest first."""
    dirs: list[str] = []
    for current, _subdirs, files in os.walk(root):
        dirs.append(current)
        for name in files:
            path = os.path.join(current, name)
            if os.path.isfile(path) and not os.path.islink(path):
                fsync_file(path)
    for current in reversed(dirs):
        fsync_dir(current)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False when the platform cannot."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


def replace_dir(tmp: Path, out: Path) -> None:
    """Put directory ``tmp`` in place of ``out`` (which may exist) and remove the old one."""
    parent = out.parent
    if out.exists() and _exchange(tmp, out):
        fsync_dir(parent)
        shutil.rmtree(tmp)  # now holds the old version
        return
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
        os.rmdir(old)
        out.rename(old)
    tmp.rename(out)
    fsync_dir(parent)
    if old is not None:
        shutil.rmtree(old)


@contextmanager
def publish_dir(out: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``out`` atomically when the block succeeds."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp.", dir=out.parent))
    try:
        yield tmp
        fsync_tree(tmp)
        replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
