"""The MLflow-style filter string parser (no database needed)."""

from __future__ import annotations

import pytest

from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.tracking.filters import Condition, parse_filter


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_filter_matches_everything(text: str | None) -> None:
    assert parse_filter(text) == []


def test_conditions_and_quoting() -> None:
    assert parse_filter("name='my-model'") == [Condition("name", "=", "my-model")]
    assert parse_filter(
        "name = 'it''s' and run_id IN ('a', \"b\") AND tags.`my key` = 'v' "
        "AND version_number != 3 AND name NOT IN ('x') AND source_path <> 's3://b'"
    ) == [
        Condition("name", "=", "it's"),
        Condition("run_id", "IN", ("a", "b")),
        Condition("tag:my key", "=", "v"),
        Condition("version", "!=", 3),
        Condition("name", "NOT IN", ("x",)),
        Condition("source", "!=", "s3://b"),
    ]
    assert parse_filter(r"name = 'a\'b'") == [Condition("name", "=", "a'b")]
    assert parse_filter("tags.team ILIKE 'ML%'") == [Condition("tag:team", "ILIKE", "ML%")]


def test_not_needs_in() -> None:
    with pytest.raises(InvalidParameterError, match="expected IN after NOT"):
        parse_filter("name NOT LIKE 'a'")


def test_in_list_needs_commas() -> None:
    with pytest.raises(InvalidParameterError, match=r"expected ',' or '\)' in the IN list"):
        parse_filter("name IN ('a' 'b')")
