"""Search conditions as SQL: the ``WHERE`` clauses of the SQL registry store's searches.

The conditions arrive parsed (:mod:`pyfunc_ops.tracking.filters`) and canonical (versions
as numbers, stages spelled canonically: :func:`pyfunc_ops.tracking.store.
canonical_condition`); this module only turns them into SQLAlchemy expressions, kept apart
from the store so the store reads as its transactions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, not_, select
from sqlalchemy.sql.elements import ColumnElement

from pyfunc_ops.tracking.filters import Condition
from pyfunc_ops.tracking.schema import model_version_tags, model_versions

__all__ = ["compare", "version_clause"]

_mv = model_versions


def compare(column: Any, condition: Condition) -> ColumnElement[bool]:
    """``column`` compared as ``condition`` says (``=``, ``!=``, ``LIKE``, ``ILIKE``,
    ``IN``, ``NOT IN``)."""
    op, value = condition.op, condition.value
    if op == "=":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "LIKE":
        return column.like(value)  # type: ignore[no-any-return]
    if op == "ILIKE":
        return column.ilike(value)  # type: ignore[no-any-return]
    values = list(value) if isinstance(value, tuple) else [value]
    return column.in_(values) if op == "IN" else not_(column.in_(values))  # type: ignore[no-any-return]


def version_clause(condition: Condition) -> ColumnElement[bool]:
    """The clause selecting the model versions that satisfy ``condition``."""
    if condition.field.startswith("tag:"):
        key = condition.field[len("tag:") :]
        tags = model_version_tags
        return (
            select(tags.c.name)
            .where(
                and_(
                    tags.c.name == _mv.c.name,
                    tags.c.version == _mv.c.version,
                    tags.c.key == key,
                    compare(tags.c.value, condition),
                )
            )
            .exists()
        )
    if condition.field == "version":
        return compare(_mv.c.version, condition)
    column = {
        "name": _mv.c.name,
        "run_id": _mv.c.run_id,
        "source": _mv.c.source,
        "current_stage": _mv.c.current_stage,
    }[condition.field]
    if condition.op not in ("IN", "NOT IN") and not isinstance(condition.value, str):
        condition = Condition(condition.field, condition.op, str(condition.value))
    return compare(column, condition)
