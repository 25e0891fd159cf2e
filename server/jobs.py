"""Background index jobs (rebuilds): one at a time, each with an id and a status to poll.

``start`` runs the job in a thread and returns at once; a second job while one runs raises
``JobBusy`` (the app answers 409). A job's record moves queued -> running -> succeeded | failed,
with a stage, timestamps, the new index version and count when it succeeded, and a one-line
error when it failed. The last ``keep`` records are kept in memory.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("vcl.server")


class JobBusy(Exception):
    """Another job is still running."""


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"
    stage: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


JobFn = Callable[[Callable[[str], None]], dict[str, Any]]


class Jobs:
    def __init__(self, keep: int = 100) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._running: str | None = None
        self.keep = keep

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    @property
    def running(self) -> str | None:
        return self._running

    def start(self, kind: str, fn: JobFn) -> Job:
        """Run ``fn(set_stage)`` in a thread; its returned dict becomes the job's result."""
        with self._lock:
            if self._running is not None:
                raise JobBusy(f"job {self._running} is still running")
            job = Job(id=uuid.uuid4().hex[:16], kind=kind)
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)
            self._running = job.id
        threading.Thread(target=self._run, args=(job, fn), name=f"vcl-job-{job.id}", daemon=True).start()
        return job

    def _run(self, job: Job, fn: JobFn) -> None:
        job.status, job.started = "running", time.time()

        def set_stage(stage: str) -> None:
            job.stage = stage

        status, error, result = "succeeded", None, {}
        try:
            result = fn(set_stage)
        except Exception as err:  # reported through the job, never lost
            status, error = "failed", str(err) or type(err).__name__
            log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
        with self._lock:  # free the slot before the outcome is visible: a poller may start the next
            self._running = None
        job.result, job.error, job.finished = result, error, time.time()
        job.stage = "done" if status == "succeeded" else job.stage
        job.status = status

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Poll until the job finishes (for tests and the CLI); None if it is unknown."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = self.get(job_id)
            if job is None or job.status in ("succeeded", "failed"):
                return job
            time.sleep(0.02)
        return self.get(job_id)
