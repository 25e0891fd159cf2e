"""The in-process baseline: what the server does for a clip, without HTTP, batching or JSON.

``DirectClient`` preprocesses one clip and calls the runtime, as one load-generator client;
``stacked_rates`` calls the runtime alone on stacked clips from one thread, the most batching can
win in the model itself on this machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from load_generator import OK


class DirectClient:
    """What the server does for one clip, minus HTTP and JSON: preprocess, then one runtime call."""

    def __init__(self, model: Any, clips: list[Any]) -> None:
        from skeleton.pipelines import preprocess_clips

        self.preprocess, self.model, self.clips = preprocess_clips, model, clips

    def __call__(self, i: int) -> str:
        manifest = self.model.manifest
        self.model.run(self.preprocess([self.clips[i % len(self.clips)]], manifest.layout, manifest.pipeline))
        return OK

    def close(self) -> None:
        pass


def stacked_rates(model: Any, x: np.ndarray, sizes: list[int], max_seconds: float) -> dict[int, float]:
    """Clips/s of one thread calling the runtime on ``size`` stacked clips: the median call of at least
    3 and 1 s (at most 20 calls or ``max_seconds``)."""
    rates = {}
    for size in sizes:
        batch = np.concatenate([x] * (size // len(x) + 1))[:size]
        model.run(batch)
        times: list[float] = []
        begin = time.perf_counter()
        while len(times) < 20 and time.perf_counter() - begin < max_seconds:
            if len(times) >= 3 and time.perf_counter() - begin > 1.0:
                break
            start = time.perf_counter()
            model.run(batch)
            times.append(time.perf_counter() - start)
        rates[size] = size / float(np.median(times))
    return rates
