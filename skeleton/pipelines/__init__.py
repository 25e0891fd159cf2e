"""Preprocessing pipelines: raw clip joints (M, F, V, 3) -> fixed-size network input (C, T, V, M).

Pipelines are named and versioned; the name and version go into every dataset manifest and
export manifest so that serving applies exactly what training saw.
"""

from __future__ import annotations

from typing import Any

from skeleton.errors import SkeletonError
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


__all__ = ["PIPELINES", "Pipeline", "PipelineResult", "get_pipeline"]
