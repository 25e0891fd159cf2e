"""Preprocessing pipelines: raw clip joints (M, F, V, 3) -> fixed-size network input (C, T, V, M).

Pipelines are named and versioned; the name and version go into every dataset manifest and
export manifest so that serving applies exactly what training saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
from skeleton.pipelines.base import Pipeline, PipelineResult
from skeleton.pipelines.skeletonclr import SkeletonClrPipeline
from skeleton.pipelines.vcl_official import VclOfficialPipeline

PIPELINES: dict[str, type[VclOfficialPipeline] | type[SkeletonClrPipeline]] = {
    VclOfficialPipeline.name: VclOfficialPipeline,
    SkeletonClrPipeline.name: SkeletonClrPipeline,
}


def get_pipeline(name: str, **options: Any) -> Pipeline:
    """A pipeline by name, e.g. ``get_pipeline("vcl-official", num_frames=50)``."""
    try:
        cls = PIPELINES[name]
    except KeyError:
        raise SkeletonError(f"unknown pipeline {name!r}; known pipelines: {', '.join(PIPELINES)}") from None
    return cls(**options)


def preprocess_clips(clips: list[Clip], layout_name: str, pipeline: dict[str, Any]) -> np.ndarray:
    """Clips -> (N, 3, T, V, M) float32 with a model's pipeline (its manifest's ``pipeline`` record).

    Raises SkeletonError when a clip's layout is not the model's.
    """
    layout = get_layout(layout_name)
    options = {k: v for k, v in pipeline.items() if k not in ("name", "version")}
    run = get_pipeline(pipeline["name"], **options)
    out = []
    for clip in clips:
        if clip.layout != layout.name:
            raise SkeletonError(
                f"{clip.meta.source}: layout {clip.layout!r} does not match the model's {layout.name!r}"
            )
        out.append(run(clip.joints, layout).joints)
    return np.stack(out)


__all__ = ["PIPELINES", "Pipeline", "PipelineResult", "get_pipeline", "preprocess_clips"]
