"""Preprocessing pipelines: raw clip joints (M, F, V, C) -> fixed-size network input (C', T, V, M).

``vcl-official`` and ``skeletonclr`` take 3D captures (x, y, z); ``pose2d`` takes pose-estimator
keypoints (x, y with or without a score). A pipeline names the channels it takes
(``input_channels``, compared with ``Clip.channels``) and the C' it gives (``output_channels``).

Pipelines are named and versioned; the name and version go into every dataset manifest and
export manifest so that serving applies exactly what training saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from skeleton.clip import Clip
from skeleton.errors import SkeletonError
from skeleton.layouts import get_layout
from skeleton.pipelines.base import Pipeline, PipelineResult
from skeleton.pipelines.pose2d import Pose2DPipeline
from skeleton.pipelines.skeletonclr import SkeletonClrPipeline
from skeleton.pipelines.vcl_official import VclOfficialPipeline

PIPELINES: dict[str, Callable[..., Pipeline]] = {
    VclOfficialPipeline.name: VclOfficialPipeline,
    SkeletonClrPipeline.name: SkeletonClrPipeline,
    Pose2DPipeline.name: Pose2DPipeline,
}


def get_pipeline(name: str, **options: Any) -> Pipeline:
    """A pipeline by name, e.g. ``get_pipeline("vcl-official", num_frames=50)``."""
    try:
        cls = PIPELINES[name]
    except KeyError:
        raise SkeletonError(f"unknown pipeline {name!r}; known pipelines: {', '.join(PIPELINES)}") from None
    try:
        return cls(**options)
    except TypeError as err:  # an option this pipeline does not have
        raise SkeletonError(f"pipeline {name!r}: {err}") from None


def pipeline_from_spec(spec: dict[str, Any]) -> Pipeline:
    """The pipeline a manifest's ``pipeline`` record (``Pipeline.describe()``) describes."""
    options = {k: v for k, v in spec.items() if k not in ("name", "version")}
    return get_pipeline(spec["name"], **options)


def spec_output_channels(spec: dict[str, Any]) -> int:
    """C of the network input a ``pipeline`` record produces (3 for the 3D pipelines)."""
    return pipeline_from_spec(spec).output_channels


def spec_score_channel(spec: dict[str, Any]) -> bool:
    """Whether the network input of a ``pipeline`` record ends in a score channel."""
    return pipeline_from_spec(spec).score_channel


def preprocess_clips(clips: list[Clip], layout_name: str, pipeline: dict[str, Any]) -> np.ndarray:
    """Clips -> (N, C, T, V, M) float32 with a model's pipeline (its manifest's ``pipeline`` record).

    Raises SkeletonError when a clip's layout or channels are not the model's.
    """
    layout = get_layout(layout_name)
    run = pipeline_from_spec(pipeline)
    out = []
    for clip in clips:
        if clip.layout != layout.name:
            raise SkeletonError(
                f"{clip.meta.source}: layout {clip.layout!r} does not match the model's {layout.name!r}"
            )
        check_channels(clip, run)
        out.append(run(clip.joints, layout).joints)
    return np.stack(out)


def check_channels(clip: Clip, pipeline: Pipeline) -> None:
    """Raise SkeletonError naming both when a clip's channels are not those the pipeline takes."""
    if clip.channels != pipeline.input_channels:
        raise SkeletonError(
            f"{clip.meta.source}: channels {clip.channels!r} ({len(clip.channels)}) do not match the "
            f"model's {pipeline.input_channels!r} ({len(pipeline.input_channels)}, pipeline {pipeline.name})"
        )


__all__ = [
    "PIPELINES",
    "Pipeline",
    "PipelineResult",
    "check_channels",
    "get_pipeline",
    "pipeline_from_spec",
    "preprocess_clips",
    "spec_output_channels",
    "spec_score_channel",
]
