"""Several ``vcl serve`` processes over one index directory: one writer, any number of followers.

The writer (``VCL_ALLOW_MUTATION``) holds an exclusive ``flock`` on ``WRITER.lock`` in the index
directory for its whole life and records who it is in ``WRITER`` (its URL, host and pid), so a
second writer refuses to start with a message naming the first. Every other server follows:
every ``VCL_FOLLOW_INTERVAL_S`` (2 s) it reads ``CURRENT`` and, when it names another version,
verifies and loads it and swaps it in (``ActionIndex.reload``), so a write through the writer is
served by every follower within the interval plus one load. A write sent to a follower is
refused (403) naming the writer. ``flock`` needs a local file system or one with working locks
(NFSv4, most cluster file systems).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import anyio.to_thread

from index.store import IndexStoreError

WRITER = "WRITER"
LOCK = "WRITER.lock"
log = logging.getLogger("vcl.server")


def describe_writer(index_dir: str | Path) -> str | None:
    """``URL (pid N on HOST)`` of the index's writer, from ``WRITER``; None when there is none."""
    try:
        info = json.loads((Path(index_dir) / WRITER).read_text())
    except (OSError, ValueError):
        return None
    return f"{info.get('url') or 'a server'} (pid {info.get('pid')} on {info.get('host')})"


_HELD: dict[Path, tuple[IO[str], int]] = {}  # locks this process holds: handle, apps sharing it


class WriterLock:
    """The index directory's writer lock, held until ``release``; IndexStoreError naming the
    current writer when another process holds it (apps within one process share it)."""

    def __init__(self, index_dir: str | Path, url: str | None) -> None:
        self.root = Path(index_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        key = self.root.resolve()
        self._handle: IO[str] | None = None
        if key in _HELD:
            handle, users = _HELD[key]
            _HELD[key] = (handle, users + 1)
            self._handle = handle
            return
        self._handle = open(self.root / LOCK, "a")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            self._handle = None
            writer = describe_writer(self.root) or "unknown"
            raise IndexStoreError(
                f"{self.root.name}: another server writes this index: {writer}; "
                "start this one without VCL_ALLOW_MUTATION to follow it"
            ) from None
        _HELD[key] = (self._handle, 1)
        info = {"url": url, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        tmp = self.root / f"{WRITER}.tmp"
        tmp.write_text(json.dumps(info) + "\n")
        os.replace(tmp, self.root / WRITER)

    def release(self) -> None:
        if self._handle is None:
            return
        key = self.root.resolve()
        handle, users = _HELD.pop(key, (self._handle, 1))
        self._handle = None
        if users > 1:
            _HELD[key] = (handle, users - 1)
            return
        (self.root / WRITER).unlink(missing_ok=True)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


async def follow(step: Callable[[], bool], interval_s: float) -> None:
    """Run ``step`` (a blocking check of ``CURRENT``) in a worker thread every ``interval_s``."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            if await anyio.to_thread.run_sync(step):
                log.info("following the index: now serving a new version")
        except Exception as err:  # a version being written or a bad one: keep serving the old
            log.warning("following the index: %s", err)
