"""Bounds for reading untrusted clip files, checked from headers before anything is decompressed.

A caller that reads files it did not write (the server: uploads, paths, rebuild folders) sets
limits for the calls it makes (``with bounded(ReadLimits(...)):``); the readers of compressed
formats consult them (``current()``): the ``.npz`` reader checks every member's declared sizes,
compression method and ratio and its ``.npy`` header (shape, dtype) against them before loading,
the UTD-MHAD ``.mat`` reader counts the decompressed bytes of each compressed element in bounded
chunks and checks ``scipy.io.whosmat`` shapes before ``loadmat``. Without limits (the CLI reading
its own datasets) nothing is bounded. The limits are a context variable, so each thread and task
sees its own, and worker threads started with ``anyio.to_thread`` inherit the caller's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

MAX_JOINTS = 33  # the most joints of any layout (mediapipe33), for byte bounds from clip limits


@dataclass(frozen=True)
class ReadLimits:
    """At most ``max_clips`` clips per file, ``max_persons`` and ``max_frames`` per clip,
    ``max_array_bytes`` per decompressed array and ``max_ratio`` between a compressed member's
    declared size and its compressed size. None: not bounded."""

    max_clips: int | None = None
    max_persons: int | None = None
    max_frames: int | None = None
    max_array_bytes: int | None = None
    max_ratio: float = 200.0

    @classmethod
    def for_clips(cls, max_clips: int, max_persons: int, max_frames: int) -> ReadLimits:
        """Limits whose byte bound is what that many clips of float64 joints can take."""
        clip_bytes = max_persons * max_frames * MAX_JOINTS * 3 * 8
        return cls(max_clips, max_persons, max_frames, max(1 << 20, max_clips * clip_bytes))


_CURRENT: ContextVar[ReadLimits | None] = ContextVar("vcl_read_limits", default=None)


def current() -> ReadLimits | None:
    """The limits set by the caller, or None."""
    return _CURRENT.get()


@contextmanager
def bounded(limits: ReadLimits | None) -> Iterator[None]:
    """Readers called inside the block check ``limits``."""
    token = _CURRENT.set(limits)
    try:
        yield
    finally:
        _CURRENT.reset(token)
