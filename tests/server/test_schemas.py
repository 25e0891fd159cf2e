"""Request rules in the schemas: exactly one clip source, exactly one search input, at least one
clip; and how a broken rule is rendered as one message naming where it is."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from server.schemas import RULE, AddItemsIn, ClassifyIn, ClipIn, EmbedIn, SearchIn, rule_detail


def _errors(model: type[BaseModel], body: dict[str, Any]) -> list[Any]:
    """The validation errors of ``body`` as FastAPI reports them (located under ``body``)."""
    with pytest.raises(ValidationError) as err:
        model.model_validate(body)
    return [{**e, "loc": ("body", *e["loc"])} for e in err.value.errors()]


@pytest.mark.parametrize("clip", [{"joints": [[[0, 0, 0]]], "path": "a.npz"}, {}, {"layout": "ntu"}])
def test_a_clip_needs_exactly_one_of_joints_and_path(clip: dict[str, Any]) -> None:
    [error] = _errors(ClipIn, clip)
    assert error["type"] == RULE and error["msg"] == "give exactly one of 'joints' or 'path'"
    assert ClipIn(path="a.npz").joints is None and ClipIn(joints=[1]).path is None


@pytest.mark.parametrize("query", [{}, {"id": 1, "embedding": [1.0]}, {"clip": {"path": "a.npz"}, "id": 1}])
def test_a_search_needs_exactly_one_input(query: dict[str, Any]) -> None:
    errors = _errors(SearchIn, {"k": 2, **query})
    assert rule_detail(errors) == "search: give exactly one of 'clip', 'embedding' or 'id'"


def test_rule_messages_name_where_they_are() -> None:
    body = {"clips": [{"path": "a.npz"}, {"path": "b.npz", "joints": [1]}, {}]}
    assert rule_detail(_errors(ClassifyIn, body)) == (
        "clips[1]: give exactly one of 'joints' or 'path'; clips[2]: give exactly one of 'joints' or 'path'"
    )
    assert rule_detail(_errors(SearchIn, {"clip": {}})) == "clip: give exactly one of 'joints' or 'path'"


def test_other_errors_stay_pydantic_lists() -> None:
    mixed = _errors(ClassifyIn, {"clips": [{}], "top_k": 0})
    assert {e["type"] for e in mixed} == {RULE, "greater_than_equal"} and rule_detail(mixed) is None
    assert rule_detail([]) is None


@pytest.mark.parametrize("model", [ClassifyIn, EmbedIn, AddItemsIn])
def test_at_least_one_clip(model: type[BaseModel]) -> None:
    [error] = _errors(model, {"clips": []})
    assert error["type"] == "too_short" and error["loc"] == ("body", "clips")
