"""The index vote and the model-or-index rule, against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from index.vote import Vote, decide, knn_vote


def test_shares_are_normalised_exponential_weights() -> None:
    # T = 0.05; weights relative to the best labelled score 0.9: a: e^0 + e^(-0.1/0.05) = 1 + e^-2
    # = 1.135335, b: e^(-0.05/0.05) = e^-1 = 0.367879; total 1.503214. The unlabelled item (0.99)
    # does not vote.
    vote = knn_vote(["a", "b", "a", None], [0.9, 0.85, 0.8, 0.99], temperature=0.05)
    assert vote.label == "a" and vote.voters == 3
    assert vote.share == pytest.approx(0.755272, abs=1e-6)
    assert list(vote.shares) == ["a", "b"]
    assert vote.shares["b"] == pytest.approx(0.244728, abs=1e-6)


def test_a_warmer_temperature_spreads_the_vote() -> None:
    # T = 0.1: x weighs 1, y e^(-0.1/0.1) = e^-1: share of x = 1 / (1 + e^-1) = 0.731059
    vote = knn_vote(["x", "y"], [0.3, 0.2], temperature=0.1)
    assert vote.share == pytest.approx(0.731059, abs=1e-6)
    # three weak neighbours outvote one strong one at T = 0.1 (3 e^-1 = 1.10 > 1) ...
    assert knn_vote(["x", "y", "y", "y"], [0.3, 0.2, 0.2, 0.2], temperature=0.1).label == "y"
    # ... but not at T = 0.05 (3 e^-2 = 0.41 < 1)
    assert knn_vote(["x", "y", "y", "y"], [0.3, 0.2, 0.2, 0.2], temperature=0.05).label == "x"


def test_ties_go_to_the_nearer_label_and_large_scores_stay_finite() -> None:
    tie = knn_vote(["b", "a"], [0.5, 0.5])
    assert tie.label == "b" and tie.shares == {"b": 0.5, "a": 0.5}
    big = knn_vote(["p", "q"], [1000.0, 999.0], temperature=0.05)  # e^(1000/0.05) would overflow
    assert big.share == pytest.approx(1 / (1 + math.exp(-20)), abs=1e-12)


def test_no_labelled_neighbour_gives_no_label() -> None:
    assert knn_vote([None, None], [0.9, 0.8]) == Vote(None, 0.0, {}, 0)
    assert knn_vote([], []) == Vote(None, 0.0, {}, 0)


def test_bad_arguments_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="2 labels but 1 scores"):
        knn_vote(["a", "b"], [0.1])
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        knn_vote(["a"], [0.1], temperature=0)


CLASSES = ("wave", "clap")


@pytest.mark.parametrize(
    ("by", "vote", "probability", "expected"),
    [
        ("model", Vote("jumping jack", 0.99, {}, 10), 0.2, "model"),  # the default never asks the index
        ("index", Vote("wave", 0.3, {}, 10), 0.9, "index"),
        ("both", Vote("jumping jack", 0.3, {}, 10), 0.9, "index"),  # a label the model cannot give
        ("both", Vote("clap", 0.6, {}, 10), 0.5, "index"),  # a stronger vote
        ("both", Vote("clap", 0.5, {}, 10), 0.5, "model"),  # ties go to the model
        ("both", Vote("clap", 0.4, {}, 10), 0.5, "model"),
        ("both", Vote(None, 0.0, {}, 0), 0.1, "model"),  # nothing labelled nearby
    ],
)
def test_who_decides(by: str, vote: Vote, probability: float, expected: str) -> None:
    assert decide(by, "wave", probability, CLASSES, vote) == expected


def test_by_index_without_labels_and_an_unknown_by_are_errors() -> None:
    with pytest.raises(ValueError, match="none of the nearest index items has a label"):
        decide("index", "wave", 0.5, CLASSES, Vote(None, 0.0, {}, 0))
    with pytest.raises(ValueError, match="expected one of model, index, both, got 'oracle'"):
        decide("oracle", "wave", 0.5, CLASSES, Vote("wave", 1.0, {}, 1))
