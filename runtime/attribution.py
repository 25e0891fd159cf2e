"""Which joints mattered: per-frame, per-joint attribution of a class from the exported ``cam``.

The graph's ``cam`` output (N, K, T', V) is the fused class activation map (``export.cam``): for
each class, its entries sum over (T', V) to exactly ``fused_logits - fused_bias`` (the manifest's
``explain``). This module maps the T' backbone frames back to the model's T input frames and
normalises, without torch:

- Frames. The backbone's temporal stride s (4 for the default ST-GCN, strides 2 at blocks 5 and 8)
  centres output frame t' on input frame s t'. Each input frame t goes to the output frame with the
  nearest centre, t' = min(floor((t + s // 2) / s), T' - 1), so output frame t' covers input frames
  [s t' - s // 2, s t' + s // 2) (clipped to the clip: frames 0-1 and 46-49 of T = 50); its value
  is shared equally among the frames it covers, so the sum over frames is unchanged. (Each output
  frame *sees* a much wider window, the receptive field of ten kernel-9 convolutions; the window
  here says where its evidence is centred.)
- Normalisation. ``raw`` (T, V) stays in logit units: it sums to ``total`` = logit - bias of the
  class. ``attribution`` = raw / sum |raw|, so sum |attribution| = 1 and each entry is the signed
  share of the evidence (positive: for the class, negative: against it); ``joints`` (V,) sums it
  over frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.manifest import ExplainSpec, ModelManifest, RuntimeModelError

CAM_OUTPUT = "cam"


def require_explain(manifest: ModelManifest, model: object) -> ExplainSpec:
    """The manifest's ``explain``, or RuntimeModelError naming the missing output and the fix;
    ``model`` names the model in the message (its directory, or "this model")."""
    if not manifest.classified:
        raise RuntimeModelError(f"{model} has no classifier, so no class to explain")
    if manifest.explain is None or CAM_OUTPUT not in manifest.explain.outputs:
        raise RuntimeModelError(
            f"{model} has no {CAM_OUTPUT!r} output (it was exported before explanations existed); "
            "re-export it from its checkpoint with `vcl export --checkpoint CHECKPOINT --out DIR` "
            "to get per-joint attribution"
        )
    return manifest.explain


def frame_owner(num_frames: int, cam_frames: int, stride: int) -> np.ndarray:
    """(T,) int: the output frame t' whose window holds each input frame (nearest centre s t')."""
    t = np.arange(num_frames)
    return np.minimum((t + stride // 2) // stride, cam_frames - 1)


def to_input_frames(cam: np.ndarray, num_frames: int, stride: int) -> np.ndarray:
    """(..., T', V) -> (..., T, V): each output frame's value shared equally among the input frames
    of its window; the sum over frames is kept (every output frame owns its centre frame)."""
    owner = frame_owner(num_frames, cam.shape[-2], stride)
    counts = np.bincount(owner, minlength=cam.shape[-2]).astype(np.float64)
    return cam[..., owner, :] / counts[owner][:, None]


@dataclass(frozen=True)
class Attribution:
    """One clip's attribution of one class.

    Attributes:
        class_index: the class explained.
        raw: (T, V) in logit units, summing to ``total``.
        attribution: (T, V) raw / sum |raw| (signed shares, sum of absolute values 1).
        joints: (V,) attribution summed over frames.
        total: logit - bias of the class: sum of ``raw``.
        bias: the class's fused bias (total + bias = the fused logit).
    """

    class_index: int
    raw: np.ndarray
    attribution: np.ndarray
    joints: np.ndarray
    total: float
    bias: float


def attributions(
    cam: np.ndarray, classes: np.ndarray, spec: ExplainSpec, num_frames: int
) -> list[Attribution]:
    """``cam`` (N, K, T', V) and the class to explain per clip (N,) -> one Attribution per clip,
    over the model's T = ``num_frames`` input frames."""
    out = []
    for n, c in enumerate(np.asarray(classes, dtype=int)):
        raw = to_input_frames(cam[n, c].astype(np.float64), num_frames, spec.temporal_stride)
        scale = float(np.abs(raw).sum())
        share = raw / scale if scale > 0 else np.zeros_like(raw)
        out.append(
            Attribution(
                class_index=int(c),
                raw=raw,
                attribution=share,
                joints=share.sum(axis=0),
                total=float(raw.sum()),
                bias=float(spec.fused_bias[c]),
            )
        )
    return out


def top_joints(
    attribution: Attribution, names: tuple[str, ...] | list[str], count: int = 5
) -> list[tuple[str, float]]:
    """The ``count`` joints with the largest positive share, as (name, share), largest first."""
    order = np.argsort(-attribution.joints, kind="stable")[:count]
    return [(names[int(v)], float(attribution.joints[v])) for v in order if attribution.joints[v] > 0]
