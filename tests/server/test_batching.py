"""The dynamic batcher and the job runner on their own, with plain functions as the model."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from server.batching import Batcher, BatchStats, DeadlineExceeded, QueueFull
from server.jobs import JobBusy, Jobs


class Doubler:
    """A model: out = 2 * x per row; records the batch sizes it was called with; fails on NaN."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay = delay

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.calls.append(len(x))
        time.sleep(self.delay)
        if np.isnan(x).any():
            raise ValueError("NaN in the batch")
        return {"y": 2 * x, "n": np.full(len(x), len(x))}


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_concurrent_requests_share_one_call_and_get_their_own_rows() -> None:
    model = Doubler()
    seen: list[tuple[int, int]] = []

    async def main() -> list[dict[str, np.ndarray]]:
        batcher = Batcher(
            model, max_batch=64, max_wait_s=0.05, stats=BatchStats(lambda c, r, _: seen.append((c, r)))
        )
        batcher.start()
        inputs = [np.full((k, 3), float(i)) for i, k in enumerate([1, 2, 3, 1, 5])]
        try:
            return await asyncio.gather(*(batcher.submit(x) for x in inputs))
        finally:
            await batcher.stop()

    outs = _run(main())
    assert model.calls == [12] and seen == [(12, 5)]
    for i, (out, k) in enumerate(zip(outs, [1, 2, 3, 1, 5], strict=True)):
        assert out["y"].shape == (k, 3) and np.all(out["y"] == 2 * i) and np.all(out["n"] == 12)


def test_max_batch_splits_and_an_oversized_request_runs_alone() -> None:
    model = Doubler()

    async def main() -> None:
        batcher = Batcher(model, max_batch=4, max_wait_s=0.05)
        batcher.start()
        try:
            await asyncio.gather(*(batcher.submit(np.ones((k, 2))) for k in [3, 1, 2, 6, 1]))
        finally:
            await batcher.stop()

    _run(main())
    assert model.calls == [4, 2, 6, 1]  # 3+1 | 2 (6 would pass 4) | 6 alone | 1


def test_a_failing_request_does_not_fail_its_batch_mates() -> None:
    model = Doubler()

    async def main() -> list[object]:
        batcher = Batcher(model, max_batch=16, max_wait_s=0.05)
        batcher.start()
        bad = np.ones((1, 2))
        bad[0, 1] = np.nan
        try:
            return await asyncio.gather(
                batcher.submit(np.ones((2, 2))),
                batcher.submit(bad),
                batcher.submit(np.zeros((1, 2))),
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    good, failed, other = _run(main())
    assert isinstance(failed, ValueError) and "NaN" in str(failed)
    assert np.all(good["y"] == 2) and np.all(other["y"] == 0)
    assert model.calls == [4, 2, 1, 1]  # the batch, then each request alone


def test_full_queue_and_deadline() -> None:
    model = Doubler(delay=0.3)

    async def main() -> tuple[list[Any], int]:
        batcher = Batcher(model, max_batch=1, max_wait_s=0.0, max_queue=2, timeout_s=0.1)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit(np.ones((1, 1))))
            await asyncio.sleep(0.02)  # the worker takes it: the queue is empty, the model busy
            waiting = [asyncio.ensure_future(batcher.submit(np.ones((1, 1)))) for _ in range(2)]
            await asyncio.sleep(0)
            with pytest.raises(QueueFull, match="queue is full"):
                await batcher.submit(np.ones((1, 1)))
            results = await asyncio.gather(first, *waiting, return_exceptions=True)
            await asyncio.sleep(0.4)  # the worker finishes the first call, then drops the expired ones
            return results, batcher.depth
        finally:
            await batcher.stop()

    results, depth = _run(main())
    assert all(isinstance(r, DeadlineExceeded) for r in results)  # 0.3 s of work, 0.1 s deadlines
    assert depth == 0 and model.calls == [1]  # the expired requests never reached the model


def test_one_job_at_a_time_with_status() -> None:
    jobs = Jobs()
    release = threading.Event()

    def slow(stage: Any) -> dict[str, Any]:
        stage("embedding")
        release.wait(10)
        return {"count": 3}

    job = jobs.start("rebuild", slow)
    with pytest.raises(JobBusy, match=job.id):
        jobs.start("rebuild", slow)
    time.sleep(0.05)
    running = jobs.get(job.id)
    assert running is not None and running.status == "running" and running.stage == "embedding"
    release.set()
    done = jobs.wait(job.id, 10)
    assert done is not None and done.status == "succeeded" and done.result == {"count": 3}

    def broken(stage: Any) -> dict[str, Any]:
        raise ValueError("no clip files in 'x'")

    failed = jobs.wait(jobs.start("rebuild", broken).id, 10)
    assert failed is not None and failed.status == "failed" and failed.error == "no clip files in 'x'"
    assert jobs.running is None and jobs.get("nope") is None


def test_a_lone_request_does_not_wait_but_announced_ones_are_waited_for() -> None:
    model = Doubler()

    async def main() -> tuple[float, list[int]]:
        batcher = Batcher(model, max_batch=64, max_wait_s=0.5)
        batcher.start()
        try:
            start = time.perf_counter()
            await batcher.submit(np.ones((1, 2)))  # nothing else announced: runs at once
            alone = time.perf_counter() - start

            async def slow_client(delay: float) -> None:
                with batcher.announce() as announcement:
                    await asyncio.sleep(delay)  # preprocessing
                    await batcher.submit(np.ones((1, 2)), announcement)

            async def failing_client() -> None:
                with batcher.announce():
                    await asyncio.sleep(0.02)
                    raise ValueError("bad clip")  # never queued: must not hold the batch

            await asyncio.gather(slow_client(0.0), slow_client(0.1), failing_client(), return_exceptions=True)
            return alone, list(model.calls)
        finally:
            await batcher.stop()

    alone, calls = _run(main())
    assert alone < 0.25  # far below the 0.5 s window
    assert calls == [1, 2]  # the first request waited for the announced one, not for the window


def test_announcements_are_released_on_every_path() -> None:
    async def main() -> int:
        batcher = Batcher(Doubler(), max_batch=1, max_queue=1, max_wait_s=0.0, timeout_s=5)
        batcher.start()
        try:
            with batcher.announce() as unsubmitted:  # announced, never submitted
                assert batcher._announced == 1 and not unsubmitted.queued
            with pytest.raises(ValueError), batcher.announce():
                raise ValueError
            with batcher.announce() as announcement:
                await batcher.submit(np.ones((1, 1)), announcement)
            return batcher._announced
        finally:
            await batcher.stop()

    assert _run(main()) == 0


def test_the_deadline_counts_from_arrival_not_from_queue_entry() -> None:
    from server.batching import ARRIVAL

    model = Doubler(delay=0.3)

    async def main() -> None:
        batcher = Batcher(model, max_batch=4, max_wait_s=0.0, timeout_s=0.5)
        batcher.start()
        try:
            ARRIVAL.set(time.monotonic() - 0.6)  # reading and preprocessing took the whole budget
            with pytest.raises(DeadlineExceeded, match="of its arrival"):
                await batcher.submit(np.ones((1, 3)))
            ARRIVAL.set(time.monotonic() - 0.3)  # 0.2 s left, the model needs 0.3
            with pytest.raises(DeadlineExceeded):
                await batcher.submit(np.ones((1, 3)))
            ARRIVAL.set(time.monotonic())
            assert (await batcher.submit(np.ones((1, 3))))["y"].shape == (1, 3)
        finally:
            await batcher.stop()

    _run(main())
    assert model.calls == [1, 1]  # the first never reached the model


class Overlap:
    """A model that records how many of its calls were running at once (each takes ``delay`` s)."""

    def __init__(self, delay: float) -> None:
        self.delay, self.running, self.most = delay, 0, 0
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        return {"y": 2 * x}


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_run_that_many_batches_at_once(workers: int) -> None:
    model = Overlap(delay=0.1)

    async def main() -> list[dict[str, np.ndarray]]:
        batcher = Batcher(model, max_batch=1, max_wait_s=0.0, workers=workers)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(np.full((1, 2), float(i))) for i in range(6)))
        finally:
            await batcher.stop()

    outs = _run(main())
    assert model.most == workers  # six one-clip batches, never more than `workers` in flight
    assert [float(o["y"][0, 0]) for o in outs] == [2.0 * i for i in range(6)]  # each its own rows
    with pytest.raises(ValueError, match="workers >= 1"):
        Batcher(model, workers=0)


class Timed:
    """A model that records when each call started (``time.monotonic()``); each takes ``delay`` s."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.starts: list[tuple[float, int]] = []

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.starts.append((time.monotonic(), len(x)))
        time.sleep(self.delay)
        return {"y": 2 * x}


def test_a_thread_starts_the_next_batch_while_the_event_loop_is_busy() -> None:
    model = Timed(delay=0.05)

    async def main() -> tuple[float, float]:
        batcher = Batcher(model, max_batch=1, max_wait_s=0.0)
        batcher.start()
        try:
            calls = [asyncio.ensure_future(batcher.submit(np.full((1, 2), float(i)))) for i in range(3)]
            await asyncio.sleep(0.01)  # handed over; the first call runs
            blocked = time.monotonic()
            time.sleep(0.3)  # the loop is busy (as with a burst of request parsing)
            released = time.monotonic()
            outs = await asyncio.gather(*calls)
            assert [float(o["y"][0, 0]) for o in outs] == [0.0, 2.0, 4.0]
            return blocked, released
        finally:
            await batcher.stop()

    blocked, released = _run(main())
    starts = [t for t, _ in model.starts]
    assert len(starts) == 3 and blocked < starts[1] < starts[2] < released  # no wait for the loop


def test_a_thread_leaves_a_share_of_the_queue_to_idle_threads() -> None:
    model = Overlap(delay=0.1)
    sizes: list[int] = []

    async def main() -> None:
        batcher = Batcher(
            model, max_batch=64, max_wait_s=0.0, workers=2, stats=BatchStats(lambda c, r, _: sizes.append(c))
        )
        batcher.start()
        try:
            await asyncio.sleep(0.05)  # both threads wait for work
            await asyncio.gather(*(batcher.submit(np.ones((1, 2))) for _ in range(5)))
        finally:
            await batcher.stop()

    _run(main())
    assert sorted(sizes) == [2, 3] and model.most == 2  # ceil(5 / 2) for the first, the rest for the other


def test_one_thread_takes_the_whole_queue() -> None:
    sizes: list[int] = []

    async def main() -> None:
        batcher = Batcher(
            Doubler(), max_batch=64, max_wait_s=0.0, stats=BatchStats(lambda c, r, _: sizes.append(c))
        )
        batcher.start()
        try:
            await asyncio.sleep(0.05)
            await asyncio.gather(*(batcher.submit(np.ones((1, 2))) for _ in range(5)))
        finally:
            await batcher.stop()

    _run(main())
    assert sizes == [5]


def test_the_run_function_sees_how_many_batches_are_running() -> None:
    seen: list[int] = []
    holder: list[Batcher] = []

    def model(x: np.ndarray) -> dict[str, np.ndarray]:
        seen.append(holder[0].running)
        time.sleep(0.1)
        return {"y": x}

    async def main() -> None:
        batcher = Batcher(model, max_batch=1, max_wait_s=0.0, workers=2)
        holder.append(batcher)
        batcher.start()
        try:
            await batcher.submit(np.ones((1, 2)))  # alone
            await asyncio.gather(*(batcher.submit(np.ones((1, 2))) for _ in range(2)))  # side by side
            await asyncio.sleep(0.05)
            assert batcher.running == 0
        finally:
            await batcher.stop()

    _run(main())
    # the lone batch saw itself; of the pair, the later to start saw both (the earlier may too,
    # when the other started before its call read the count)
    assert seen[0] == 1 and len(seen) == 3 and max(seen[1:]) == 2
