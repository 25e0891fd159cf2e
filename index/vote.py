"""Classification by retrieval: a similarity-weighted vote over an index's labelled neighbours,
and the rule that says whether the model or that vote decides a ``classify`` answer.

The vote (a weighted k-nearest-neighbour classifier, as in Wu et al., CVPR 2018, "Unsupervised
feature learning via non-parametric instance discrimination"): each labelled neighbour i with
similarity s_i (cosine) votes for its label with weight exp(s_i / T); a label's share is the sum
of its weights over the sum of all weights, so the shares add up to 1. Unlabelled neighbours do
not vote. With T = 0.05 a neighbour 0.05 more similar counts e (2.72) times as much.

The decision for ``by = both``: the index decides when its label is not one of the model's
classes (an action enrolled after training, which the model cannot name) or when its share is
larger than the model's softmax probability for the model's own label; otherwise the model
decides. Both numbers lie in [0, 1] and add up to 1 over their labels; ties go to the model.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

By = Literal["model", "index", "both"]
BY: tuple[str, ...] = ("model", "index", "both")
VOTE_K = 10  # neighbours that vote (docs/index.md, "Enrolment": chosen by bench/enrolment.py)
TEMPERATURE = 0.05


@dataclass(frozen=True)
class Vote:
    """The outcome of a vote: the winning label (None when no neighbour had a label), its share,
    every voted label's share (largest first) and how many labelled neighbours voted."""

    label: str | None
    share: float
    shares: dict[str, float]
    voters: int


def knn_vote(labels: Sequence[str | None], scores: Sequence[float], temperature: float = TEMPERATURE) -> Vote:
    """Vote of K neighbours, nearest first: ``labels`` (K,) and similarities ``scores`` (K,).

    Weights exp(s / T) are computed relative to the largest labelled score (the shares do not
    change, the exponent cannot overflow). Equal shares go to the label of the nearer neighbour.
    """
    if len(labels) != len(scores):
        raise ValueError(f"knn_vote: {len(labels)} labels but {len(scores)} scores")
    if temperature <= 0:
        raise ValueError(f"knn_vote: temperature must be positive, got {temperature}")
    voted = [(label, float(s)) for label, s in zip(labels, scores, strict=True) if label is not None]
    if not voted:
        return Vote(None, 0.0, {}, 0)
    top = max(s for _, s in voted)
    weights: dict[str, float] = {}  # insertion order = nearest neighbour of each label first
    for label, s in voted:
        weights[label] = weights.get(label, 0.0) + float(np.exp((s - top) / temperature))
    total = sum(weights.values())
    ranked = sorted(weights.items(), key=lambda kv: -kv[1])  # stable: ties keep the nearer label
    shares = {label: w / total for label, w in ranked}
    return Vote(ranked[0][0], shares[ranked[0][0]], shares, len(voted))


def decide(
    by: str, model_label: str, model_probability: float, model_classes: Collection[str], vote: Vote
) -> str:
    """``model`` or ``index``: who gives the answer under ``by`` (module docstring). ``by =
    index`` with a vote that has no label raises ValueError (nothing in the index to name)."""
    if by not in BY:
        raise ValueError(f"by: expected one of {', '.join(BY)}, got {by!r}")
    if by == "model":
        return "model"
    if vote.label is None:
        if by == "index":
            raise ValueError("by=index: none of the nearest index items has a label")
        return "model"
    if by == "index" or vote.label not in model_classes or vote.share > model_probability:
        return "index"
    return "model"
