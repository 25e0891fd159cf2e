"""The answers built from a model's outputs: classification with uncertainty, embeddings, skeleton
previews. Pure functions of the manifest, the clips and the outputs; the scores come from
``runtime.scores``.

Parts a model or a request does not give are left unset, so the answer leaves them out: the sigma
score and ``per_stream`` (and ``streams`` of an embedding) without a Gaussian head, ``skeleton``
without ``preview``.
"""

from __future__ import annotations

import numpy as np

from index.preview import load_preview, make_previews, preview_frames
from runtime.attribution import attributions
from runtime.manifest import ExplainSpec, ModelManifest
from runtime.scores import entropy, output_logvars, sigma_score, sigma_scores, softmax, softmax_uncertainty
from server.schemas import (
    ClassifyResult,
    ClassScore,
    EmbedResult,
    Explanation,
    Skeleton,
    StreamEmbedding,
    Uncertainty,
)
from skeleton.clip import Clip
from skeleton.layouts import get_layout
from skeleton.pipelines import spec_score_channel

Outputs = dict[str, np.ndarray]  # output name -> (N, ...) for a batch of N clips


def skeleton_json(blob: bytes | None) -> Skeleton | None:
    """A stored preview (``index.preview``) as frames [F][M][V][3], rounded to 4 decimals."""
    if blob is None:
        return None
    frames = load_preview(blob)  # (F, M, V, 3)
    return Skeleton(frames=np.round(frames, 4).tolist())


def classify_results(
    m: ModelManifest,
    clips: list[Clip],
    joints: np.ndarray,
    out: Outputs,
    top_k: int,
    preview: bool,
    unknown_threshold: float | None,
) -> list[ClassifyResult]:
    """Per clip: the best class, the ``top_k`` classes by fused softmax probability, the softmax
    entropy and (Gaussian head) the sigma score overall and per stream; with the manifest's
    ``uncertainty`` block (``runtime.reference``) also each score's percentile among the validation
    clips and the calibrated probability that the label is wrong. ``unknown``: the block's unknown
    score (the sigma score without a block) is above ``unknown_threshold`` (VCL_UNKNOWN_THRESHOLD),
    or when that is None above the block's default. ``preview`` adds the preprocessed joints
    (N, C, T, V, M) as a skeleton."""
    names = m.class_names or ()
    probs = softmax(out["fused_logits"])
    entropies = entropy(probs)
    logvars = output_logvars(out, m.streams) if m.has_gaussian_head else {}
    scores, per_stream = (sigma_score(logvars), sigma_scores(logvars)) if logvars else (None, {})
    ref = m.uncertainty
    readable = {}
    unknown_value = scores
    if ref is not None:
        named = {"softmax": softmax_uncertainty(out["fused_logits"])}
        if scores is not None:
            named["sigma"] = scores
        readable = ref.read(named)
        unknown_value = readable["unknown_value"]
        unknown_threshold = ref.unknown_threshold if unknown_threshold is None else unknown_threshold
    percentiles = {
        k.removeprefix("percentile_"): v for k, v in readable.items() if k.startswith("percentile_")
    }
    previews = make_previews(joints, score=spec_score_channel(m.pipeline)) if preview else None
    results = []
    for i, clip in enumerate(clips):
        top = [
            ClassScore(label=names[c], class_index=int(c), probability=float(probs[i, c]))
            for c in np.argsort(-probs[i], kind="stable")[:top_k]
        ]
        result = ClassifyResult(
            name=clip.meta.name,
            **top[0].model_dump(),  # label, class_index and probability of the best class
            top_k=top,
            uncertainty=Uncertainty(softmax_entropy=float(entropies[i])),
            unknown=unknown_value is not None
            and unknown_threshold is not None
            and float(unknown_value[i]) > unknown_threshold,
        )
        if scores is not None:
            result.uncertainty.score = float(scores[i])
            result.uncertainty.per_stream = {s: float(v[i]) for s, v in per_stream.items()}
        if readable:
            result.uncertainty.percentile = {s: round(float(v[i]), 1) for s, v in percentiles.items()}
            result.uncertainty.wrong_probability = float(readable["wrong_probability"][i])
        if previews is not None:
            result.skeleton = skeleton_json(previews[i])
        results.append(result)
    return results


def add_explanations(
    m: ModelManifest,
    spec: ExplainSpec,
    results: list[ClassifyResult],
    joints: np.ndarray,
    cam: np.ndarray,
    label: str | None,
) -> None:
    """Attach to each result the attribution (``runtime.attribution``) of its predicted class, or
    of ``label``, from the graph's ``cam`` (N, K, T', V); with a preview, which frames it shows."""
    names = list(m.class_names or ())
    classes = [names.index(label) if label is not None else r.class_index for r in results]
    for i, (result, a) in enumerate(
        zip(results, attributions(cam, np.array(classes), spec, joints.shape[2]), strict=True)
    ):
        result.explanation = Explanation(
            label=names[a.class_index],
            class_index=a.class_index,
            frames=np.round(a.attribution, 5).tolist(),
            joints=np.round(a.joints, 5).tolist(),
            joint_names=list(m.joint_names or get_layout(m.layout).joints),
            total=a.total,
            bias=a.bias,
        )
        if result.skeleton is not None:
            result.explanation.preview_frames = preview_frames(joints[i]).tolist()


def embed_results(m: ModelManifest, clips: list[Clip], out: Outputs) -> list[EmbedResult]:
    """Per clip: the fused retrieval embedding and (Gaussian head) mu and sigma per stream."""
    results = []
    for i, clip in enumerate(clips):
        result = EmbedResult(name=clip.meta.name, embedding=out["embedding"][i].tolist())
        if m.has_gaussian_head:
            result.streams = {
                s: StreamEmbedding(mu=out[f"{s}_mu"][i].tolist(), sigma=out[f"{s}_sigma"][i].tolist())
                for s in m.streams
            }
        results.append(result)
    return results
