"""Dynamic batching: concurrent requests share one ONNX Runtime call.

Each request puts its preprocessed clips (n, C, T, V, M) on a bounded queue with a deadline and
awaits a future. One worker task takes the oldest request, keeps taking more until ``max_batch``
clips are gathered or ``max_wait_s`` has passed since it started gathering, runs the model once in
a worker thread and hands every request its own rows. It waits only while more work is on its way:
requests announce themselves (``announce``) before their preprocessing starts, and when nothing is
queued or announced the batch runs at once, so a lone request never pays the gathering window.
A full queue is refused at once (``QueueFull``, the app answers 503 with Retry-After); a request
still waiting at its deadline gets ``DeadlineExceeded`` (504) and is dropped from any batch not
yet run. The deadline counts from the request's arrival (``ARRIVAL``, set by the app's middleware
when the request line and headers are in, before the body is read and the clips preprocessed),
or from queue entry when no arrival is known. Inputs are validated before they are queued, so one
bad clip cannot reach a batch; should the runtime still fail on a batch, each request in it is
re-run alone, so only the failing request sees the error.

With ``workers`` > 1 that many worker tasks gather and run batches at once, each in its own
thread (ONNX Runtime sessions take concurrent calls): while one batch runs, the next gathers and
starts on the other cores. The service pairs it with intra-op threads = cores / workers, so that
request parsing on one core stalls one batch rather than every thread of a parallel one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

RunFn = Callable[[np.ndarray], dict[str, np.ndarray]]
POLL_S = 0.001  # how often a gathering batch re-checks whether announced requests are still coming
ARRIVAL: ContextVar[float | None] = ContextVar("vcl_request_arrival", default=None)  # time.monotonic()


class QueueFull(Exception):
    """The batching queue is at capacity."""


class DeadlineExceeded(Exception):
    """A request waited past its deadline."""


@dataclass
class _Request:
    inputs: np.ndarray
    deadline: float
    future: asyncio.Future[dict[str, np.ndarray]] = field(repr=False)


@dataclass
class Announcement:
    """A request on its way to the queue (see ``Batcher.announce``)."""

    queued: bool = False


@dataclass
class BatchStats:
    """What the metrics need: called with (batch size in clips, requests in it, seconds in run)."""

    on_batch: Callable[[int, int, float], None] | None = None


class Batcher:
    """Gathers requests into batches of at most ``max_batch`` clips (one request larger than that
    runs alone). ``max_queue`` bounds waiting requests; ``timeout_s`` is each request's deadline."""

    def __init__(
        self,
        run: RunFn,
        max_batch: int = 32,
        max_wait_s: float = 0.005,
        max_queue: int = 256,
        timeout_s: float = 10.0,
        stats: BatchStats | None = None,
        workers: int = 1,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0 or timeout_s <= 0 or workers < 1:
            raise ValueError("batcher: max_batch, max_queue and workers >= 1, max_wait_s >= 0, timeout_s > 0")
        self.workers = workers
        self.run_fn = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.timeout_s = timeout_s
        self.stats = stats or BatchStats()
        self._queue: asyncio.Queue[_Request] = asyncio.Queue(maxsize=max_queue)
        self._tasks: list[asyncio.Task[None]] = []
        self._announced = 0  # requests being preprocessed, not yet queued

    @contextmanager
    def announce(self) -> Iterator[Announcement]:
        """Wrap a request's preprocessing and ``submit(..., announcement)``: until it is queued, a
        gathering batch may wait for it (up to ``max_wait_s``)."""
        announcement = Announcement()
        self._announced += 1
        try:
            yield announcement
        finally:
            if not announcement.queued:
                self._announced -= 1

    @property
    def depth(self) -> int:
        """Requests waiting (not yet taken into a batch)."""
        return self._queue.qsize()

    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._worker(), name=f"vcl-batcher-{i}") for i in range(self.workers)
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        while not self._queue.empty():
            request = self._queue.get_nowait()
            if not request.future.done():
                request.future.set_exception(DeadlineExceeded("server shutting down"))

    async def submit(
        self, inputs: np.ndarray, announcement: Announcement | None = None
    ) -> dict[str, np.ndarray]:
        """Run ``inputs`` (n, C, T, V, M) as part of a batch; returns this request's output rows.
        ``announcement``: from ``announce()``, when the caller announced this request. The deadline
        is ``timeout_s`` after the request's ``ARRIVAL`` (or now, when none is set)."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        deadline = (ARRIVAL.get() or now) + self.timeout_s
        if deadline <= now:  # spent reading and preprocessing (an announcement ends with its block)
            raise DeadlineExceeded(f"not answered within {self.timeout_s:g} s of its arrival")
        request = _Request(inputs, deadline, loop.create_future())
        try:
            self._queue.put_nowait(request)
        except asyncio.QueueFull:
            raise QueueFull(f"the batching queue is full ({self._queue.maxsize} requests)") from None
        if announcement is not None and not announcement.queued:
            announcement.queued = True
            self._announced -= 1
        try:
            return await asyncio.wait_for(asyncio.shield(request.future), timeout=deadline - now)
        except TimeoutError:
            request.future.cancel()
            raise DeadlineExceeded(f"not answered within {self.timeout_s:g} s") from None

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            clips = len(first.inputs)
            gather_until = time.monotonic() + self.max_wait_s
            while clips < self.max_batch:
                remaining = gather_until - time.monotonic()
                if self._queue.empty() and (remaining <= 0 or self._announced == 0):
                    break  # nothing more is on its way (or the window is over): run now
                try:
                    nxt = (
                        self._queue.get_nowait()
                        if not self._queue.empty()
                        else await asyncio.wait_for(self._queue.get(), timeout=min(remaining, POLL_S))
                    )
                except TimeoutError:
                    continue  # look again: the announced requests may have failed or been queued
                if clips + len(nxt.inputs) > self.max_batch:
                    await self._run(loop, batch)  # nxt starts the next batch
                    batch, clips = [nxt], len(nxt.inputs)
                    gather_until = time.monotonic() + self.max_wait_s
                    continue
                batch.append(nxt)
                clips += len(nxt.inputs)
            await self._run(loop, batch)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Request]) -> None:
        now = time.monotonic()
        live = []
        for request in batch:
            if request.future.done():
                continue  # the caller gave up
            if now > request.deadline:
                request.future.set_exception(
                    DeadlineExceeded(
                        f"not answered within {self.timeout_s:g} s (the deadline passed while queued)"
                    )
                )
                continue
            live.append(request)
        if not live:
            return
        inputs = np.concatenate([r.inputs for r in live]) if len(live) > 1 else live[0].inputs
        timing: list[float] = []

        def timed_run() -> dict[str, np.ndarray]:
            start = time.perf_counter()  # inside the thread: the runtime's own time, not the hand-off
            try:
                return self.run_fn(inputs)
            finally:
                timing.append(time.perf_counter() - start)

        try:
            out = await loop.run_in_executor(None, timed_run)
        except Exception as exc:
            if len(live) == 1:
                if not live[0].future.done():
                    live[0].future.set_exception(exc)
                return
            for request in live:  # isolate the failing request
                await self._run(loop, [request])
            return
        if self.stats.on_batch is not None:
            self.stats.on_batch(len(inputs), len(live), timing[0])
        offset = 0
        for request in live:
            n = len(request.inputs)
            if not request.future.done():
                request.future.set_result({k: v[offset : offset + n] for k, v in out.items()})
            offset += n
