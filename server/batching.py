"""Dynamic batching: concurrent requests share one ONNX Runtime call.

Each request puts its preprocessed clips (n, C, T, V, M) on a bounded queue with a deadline and
awaits a future. ``workers`` threads (not event-loop tasks) take the oldest request, keep taking
more until ``max_batch`` clips are gathered or ``max_wait_s`` has passed since they started
gathering, run the model and post every request its own rows back to the event loop. A thread goes
straight from one batch to the next: it never waits for the event loop to notice that its call
finished (on a loaded loop that took ~3 ms per batch, with every core idle meanwhile; measured in
docs/server.md). It waits only while more work is on its way: requests announce themselves
(``announce``) before their preprocessing starts, and when nothing is queued or announced the batch
runs at once, so a lone request never pays the gathering window. Requests submitted in one turn of
the event loop reach the threads together (one hand-over per turn), so requests that arrive
together are batched together.
A full queue is refused at once (``QueueFull``, the app answers 503 with Retry-After); a request
still waiting at its deadline gets ``DeadlineExceeded`` (504) and is dropped from any batch not
yet run, as is one whose caller gave up. The deadline counts from the request's arrival
(``ARRIVAL``, set by the app's middleware when the request line and headers are in, before the
body is read and the clips preprocessed), or from queue entry when no arrival is known. Inputs are
validated before they are queued, so one bad clip cannot reach a batch; should the runtime still
fail on a batch, each request in it is re-run alone, so only the failing request sees the error.

With ``workers`` > 1 that many batches run at once (ONNX Runtime sessions take concurrent calls):
while one runs, the next gathers and starts on the other cores. The service pairs it with
sessions chosen per batch by how many others are running (``server.sessions``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

RunFn = Callable[[np.ndarray], dict[str, np.ndarray]]
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
    announced: bool = False  # counted in ``Batcher._announced`` until handed to the threads
    abandoned: bool = False  # the caller gave up (deadline, disconnect): not worth running


@dataclass
class Announcement:
    """A request on its way to the queue (see ``Batcher.announce``)."""

    queued: bool = False


@dataclass
class BatchStats:
    """What the metrics need: called with (batch size in clips, requests in it, seconds in run), from
    a batching thread."""

    on_batch: Callable[[int, int, float], None] | None = None


Outcome = tuple[_Request, "dict[str, np.ndarray] | BaseException"]


class Batcher:
    """Gathers requests into batches of at most ``max_batch`` clips (one request larger than that
    runs alone). ``max_queue`` bounds waiting requests; ``timeout_s`` is each request's deadline.
    ``start``, ``stop``, ``announce`` and ``submit`` are called on the event loop."""

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
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.stats = stats or BatchStats()
        self._cond = threading.Condition()  # guards _queue, _announced, _idle, _running, _stopping
        self._queue: deque[_Request] = deque()  # handed to the threads
        self._pending: list[_Request] = []  # submitted in this turn of the loop (loop only)
        self._announced = 0  # requests being preprocessed, not yet handed over
        self._stopping = False
        self._idle = 0  # threads waiting for work
        self._running = 0  # threads with a batch gathered and not yet run
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextmanager
    def announce(self) -> Iterator[Announcement]:
        """Wrap a request's preprocessing and ``submit(..., announcement)``: until it is queued, a
        gathering batch may wait for it (up to ``max_wait_s``)."""
        announcement = Announcement()
        with self._cond:
            self._announced += 1
        try:
            yield announcement
        finally:
            if not announcement.queued:
                with self._cond:
                    self._announced -= 1
                    self._cond.notify_all()  # a gathering batch stops waiting for it

    @property
    def running(self) -> int:
        """Batches being run now (the run function sees its own among them)."""
        return self._running

    @property
    def depth(self) -> int:
        """Requests waiting (not yet taken into a batch)."""
        return len(self._queue) + len(self._pending)

    def start(self) -> None:
        if not self._threads:
            self._loop = asyncio.get_running_loop()
            self._stopping = False
            self._threads = [
                threading.Thread(target=self._work, name=f"vcl-batcher-{i}", daemon=True)
                for i in range(self.workers)
            ]
            for thread in self._threads:
                thread.start()

    async def stop(self) -> None:
        """Let running batches finish, stop the threads, and fail every request still waiting."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            await asyncio.to_thread(thread.join)
        self._threads = []
        self._flush()
        while self._queue:
            request = self._queue.popleft()
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
        if self.depth >= self.max_queue:
            raise QueueFull(f"the batching queue is full ({self.max_queue} requests)")
        request = _Request(inputs, deadline, loop.create_future())
        if announcement is not None and not announcement.queued:
            announcement.queued = request.announced = True  # uncounted when handed over
        if not self._pending:
            loop.call_soon(self._flush)  # after the other requests of this turn are submitted
        self._pending.append(request)
        try:
            return await asyncio.wait_for(asyncio.shield(request.future), timeout=deadline - now)
        except TimeoutError:
            raise DeadlineExceeded(f"not answered within {self.timeout_s:g} s") from None
        finally:
            if not request.future.done():
                request.abandoned = True
                request.future.cancel()

    def _flush(self) -> None:
        """Hand this turn's requests to the threads (on the loop)."""
        if not self._pending:
            return
        with self._cond:
            for request in self._pending:
                self._queue.append(request)
                if request.announced:
                    self._announced -= 1
            self._pending.clear()
            self._cond.notify_all()

    # -- the batching threads
    def _work(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._queue and not self._stopping:
                    self._cond.wait()
                self._idle -= 1
                if self._stopping:
                    return
                batch = self._gather()
                self._running += 1
            try:
                outcomes = self._run(batch)
            except Exception as exc:  # a failing stats hook: the thread must live on
                outcomes = [(request, exc) for request in batch]
            finally:
                with self._cond:
                    self._running -= 1
            self._post(outcomes)

    def _gather(self) -> list[_Request]:
        """The next batch (called holding the lock, with a request queued). It takes its share of
        the queue, leaving the rest to the threads waiting for work, and waits for announced
        requests only while no other thread is waiting (one that is would take them at once)."""
        share = -(-len(self._queue) // (self._idle + 1))  # ceil: this thread and the idle ones
        first = self._queue.popleft()
        batch, clips = [first], len(first.inputs)
        gather_until = time.monotonic() + self.max_wait_s
        while clips < self.max_batch:
            if self._queue and len(batch) < share:
                if clips + len(self._queue[0].inputs) > self.max_batch:
                    break  # it starts the next batch
                request = self._queue.popleft()
                batch.append(request)
                clips += len(request.inputs)
                continue
            if self._queue or self._idle:
                break  # the rest is another thread's share
            remaining = gather_until - time.monotonic()
            if remaining <= 0 or self._announced == 0 or self._stopping:
                break  # nothing more is on its way (or the window is over): run now
            self._cond.wait(remaining)  # woken when a request is handed over or an announcement ends
            share = len(batch) + -(-len(self._queue) // (self._idle + 1))
        return batch

    def _run(self, batch: list[_Request]) -> list[Outcome]:
        """Run the batch's live requests; each one's rows, or the exception it gets."""
        now = time.monotonic()
        outcomes: list[Outcome] = []
        live = []
        for request in batch:
            if request.abandoned:
                continue
            if now > request.deadline:
                outcomes.append(
                    (
                        request,
                        DeadlineExceeded(
                            f"not answered within {self.timeout_s:g} s (the deadline passed while queued)"
                        ),
                    )
                )
                continue
            live.append(request)
        if not live:
            return outcomes
        inputs = np.concatenate([r.inputs for r in live]) if len(live) > 1 else live[0].inputs
        start = time.perf_counter()
        try:
            out = self.run_fn(inputs)
        except Exception as exc:
            if len(live) == 1:
                return [*outcomes, (live[0], exc)]
            for request in live:  # isolate the failing request
                outcomes.extend(self._run([request]))
            return outcomes
        if self.stats.on_batch is not None:
            self.stats.on_batch(len(inputs), len(live), time.perf_counter() - start)
        offset = 0
        for request in live:
            n = len(request.inputs)
            outcomes.append((request, {k: v[offset : offset + n] for k, v in out.items()}))
            offset += n
        return outcomes

    def _post(self, outcomes: list[Outcome]) -> None:
        """Hand the outcomes to the loop (one wake-up per batch)."""
        if outcomes and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(_deliver, outcomes)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass


def _deliver(outcomes: list[Outcome]) -> None:
    for request, outcome in outcomes:
        if request.future.done():
            continue  # the caller gave up
        if isinstance(outcome, BaseException):
            request.future.set_exception(outcome)
        else:
            request.future.set_result(outcome)
