"""The model's ONNX Runtime sessions behind the batcher's threads.

On a CPU a batch that runs alone is fastest with an intra-op thread on every core, but batches
that run at once, each with a thread per core, stall each other: a parallel operator waits for
its slowest thread, and that thread shares its core with the other batch (and with the event
loop). One intra-op thread per batch avoids the stall but leaves a lone request on one core.
So with several inference workers on a CPU the server keeps two sessions of the same graph:
``alone`` (ONNX Runtime's default threads) for a batch that starts while no other is running, and
``shared`` (the cores shared out between the workers, at least one thread each) for a batch that
starts while others run. Measured in docs/server.md ("Inference workers"): with the default
two workers the server answers 0.91-1.01 of the direct runtime's clips/s at 8 clients (one worker:
0.78-1.12 in the same noisy runs, 0.90 on a quieter one), and a lone request took 10.3 ms (median)
against 12.1 ms when both sessions had one thread.

With one worker, with ``VCL_THREADS`` set, or on CUDA (threads do not matter there; two sessions
would hold the weights twice in GPU memory) it is one session.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from runtime.model import OnnxModel
from server.settings import Settings

Outputs = dict[str, np.ndarray]


def session_threads(settings: Settings) -> int:
    """Intra-op threads of the ``shared`` session: ``VCL_THREADS`` when set; else, with several
    inference workers, this process's cores shared out between them (at least 1 each); else 0
    (ONNX Runtime's choice)."""
    if settings.threads or settings.inference_workers == 1:
        return settings.threads
    return max(1, len(os.sched_getaffinity(0)) // settings.inference_workers)


class Sessions:
    """The sessions one service runs batches on (module docstring); ``alone`` is also the model
    the service reads its manifest and providers from."""

    def __init__(self, settings: Settings) -> None:
        st = settings

        def open_session(threads: int) -> OnnxModel:
            return OnnxModel(
                st.model_dir, precision=st.precision, threads=threads, spin=False, require_gpu=st.require_gpu
            )

        shared_threads = session_threads(st)
        self.alone = open_session(st.threads)
        self.shared: OnnxModel | None = None
        fewer = 0 < shared_threads < len(os.sched_getaffinity(0))  # than the alone session's default
        if not st.threads and fewer and self.alone.providers[0] == "CPUExecutionProvider":
            self.shared = open_session(shared_threads)

    def warm(self) -> None:
        """One call of every session on a zero clip (ONNX Runtime plans its memory on the first)."""
        for model in (self.alone, self.shared):
            if model is not None:
                model.run(np.zeros((1, *model.input_shape), np.float32))

    def runner(self, running: Callable[[], int]) -> Callable[[np.ndarray], Outputs]:
        """The batcher's run function: ``running()`` says how many batches are in the model now,
        this one included."""
        shared = self.shared
        if shared is None:
            return self.alone.run
        alone = self.alone

        def run(joints: np.ndarray) -> Outputs:
            return (shared if running() > 1 else alone).run(joints)

        return run
