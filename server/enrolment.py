"""Classification through the index (``by`` index or both on classify): each clip's nearest index
items vote for their labels (``index.vote``), and the vote, or the model, gives the answer.

This is how an action is enrolled without retraining: add a few labelled clips of it to the
index (``POST /v1/index/items``) and classify with ``by = index`` or ``both``.
"""

from __future__ import annotations

from collections.abc import Sequence

from index.action_index import Hit
from index.vote import decide, knn_vote
from server.errors import Conflict
from server.schemas import ClassifyResult, IndexVote, VoteNeighbour


def apply_votes(
    results: Sequence[ClassifyResult], hits: Sequence[Sequence[Hit]], by: str, class_names: Sequence[str]
) -> None:
    """Write into each model answer its index vote over ``hits`` (the clip's neighbours, nearest
    first), ``decided_by``, and, when the index decides, its label, class index (None for a
    label the model does not know) and share as the probability. Conflict when ``by`` is index
    and a clip's neighbours have no label."""
    for result, near in zip(results, hits, strict=True):
        vote = knn_vote([h.label for h in near], [h.score for h in near])
        try:
            who = decide(by, result.label, result.probability, class_names, vote)
        except ValueError as err:
            raise Conflict(f"clip {result.name!r}: {err}") from None
        result.decided_by = "index" if who == "index" else "model"
        result.index_vote = IndexVote(
            label=vote.label,
            share=vote.share,
            shares=vote.shares,
            neighbours=[VoteNeighbour(id=h.id, label=h.label, score=h.score) for h in near],
            version=near[0].version if near else "",
        )
        if who == "index" and vote.label is not None:
            result.label = vote.label
            result.class_index = list(class_names).index(vote.label) if vote.label in class_names else None
            result.probability = vote.share
