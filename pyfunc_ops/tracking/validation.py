"""Checks on run keys before they reach the database.

Param, metric and tag keys end up inside file names of exported runs, so they must be
relative paths without ``..``. The rules for registered model names, versions, stages and
aliases are shared with the ``models:/`` URI parser and live in
:mod:`pyfunc_ops.core.names`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pyfunc_ops.errors import InvalidParameterError

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000

_KEY_RE = re.compile(r"^[\w\-. /:]+$")


def validate_key(key: object, kind: str) -> str:
    """A param, metric or tag key."""
    if not isinstance(key, str) or not key or not _KEY_RE.match(key):
        raise InvalidParameterError(
            f"{kind} key {key!r} is invalid; use a non-empty string of letters, digits, "
            "underscores, dashes, periods, spaces, colons and slashes"
        )
    if len(key) > MAX_KEY_LENGTH or ".." in key.split("/") or key.startswith("/"):
        raise InvalidParameterError(
            f"{kind} key {key[:40]!r} is invalid; keys are at most {MAX_KEY_LENGTH} "
            "characters and must be relative paths without '..'"
        )
    return key


MAX_RESULTS_LIMIT = 1_000_000


def validate_max_results(value: object, call: str) -> int | None:
    """``max_results`` of a search: ``None`` (no limit) or a positive int. A string of
    digits (as a template renders it) is accepted; anything else is refused here, not
    handed to SQL as a LIMIT the database reports in its own words."""
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 0 < number <= MAX_RESULTS_LIMIT:
        raise InvalidParameterError(
            f"{call}: max_results must be a positive integer of at most {MAX_RESULTS_LIMIT:,} "
            f"(or None for no limit); got {value!r}"
        )
    return number


def validate_filter(value: object, call: str) -> str | None:
    """A filter string (MLflow syntax) or ``None``."""
    if value is not None and not isinstance(value, str):
        raise InvalidParameterError(
            f"{call}: filter_string must be a string such as \"name = 'churn'\" or None; "
            f"got {type(value).__name__} {value!r}"
        )
    if isinstance(value, str) and "\x00" in value:
        raise InvalidParameterError(f"{call}: filter_string contains a NUL character")
    return value


def validate_tags(value: object, call: str) -> dict[str, Any] | None:
    """Tags: ``None`` or a mapping of string keys (values are stored as strings)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            f"{call}: tags must be a mapping of tag keys to values, such as {{'team': 'ml'}}; "
            f"got {type(value).__name__} {value!r}"
        )
    for key in value:
        validate_key(key, "tag")
    return dict(value)


def validate_text(value: object, what: str, call: str) -> str | None:
    """An optional free-text argument (a description, a run name): ``None`` or a string."""
    if value is not None and not isinstance(value, str):
        raise InvalidParameterError(
            f"{call}: {what} must be a string or None; got {type(value).__name__} {value!r}"
        )
    return value


def metric_value(value: Any, key: str) -> float:
    """A metric's value as a float; text is refused (it belongs in a tag or a param)."""
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"metric {key!r} must be a number; got {value!r} ({type(value).__name__}); "
            "log text as a tag or a param instead"
        ) from exc


def string_values(values: Mapping[str, Any] | None, kind: str) -> dict[str, str]:
    """``values`` with checked keys (``kind``: ``"tag"`` or ``"param"``) and values as
    strings: what every store keeps for tags and params, whatever the caller passed."""
    return {validate_key(k, kind): str(v) for k, v in (values or {}).items()}


def validate_batch(
    run_id: str,
    metrics_: Iterable[Any],
    params_: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    now: int,
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """The checked rows of a ``log_batch``, the same for every store: metric rows
    (``key``, ``value``, ``step``, ``timestamp``), params and tags as strings."""
    metric_rows = []
    for m in metrics_:
        validate_key(m.key, "metric")
        metric_rows.append(
            {
                "key": m.key,
                "value": metric_value(m.value, m.key),
                "step": int(m.step),
                "timestamp": int(m.timestamp) if m.timestamp else now,
            }
        )
    param_values = string_values(params_, "param")
    for key, value in param_values.items():
        if len(value) > MAX_PARAM_VALUE_LENGTH:
            raise InvalidParameterError(
                f"param {key!r} of run {run_id!r} is {len(value)} characters long; the "
                f"limit is {MAX_PARAM_VALUE_LENGTH}: log long text as an artifact instead"
            )
    return metric_rows, param_values, string_values(tags, "tag")


def new_params(
    run_id: str, param_values: Mapping[str, str], existing: Mapping[str, str]
) -> dict[str, str]:
    """The params not logged yet; a changed value is refused (params are immutable)."""
    for key, value in param_values.items():
        if key in existing and existing[key] != value:
            raise InvalidParameterError(
                f"param {key!r} of run {run_id!r} is already {existing[key]!r}; "
                f"cannot change it to {value!r}: params are immutable. Log the "
                "new value under another key, as a tag, or in a new run"
            )
    return {k: v for k, v in param_values.items() if k not in existing}


def validate_transition(
    name: str, version: int | str, stage: str, archive_existing_versions: bool
) -> tuple[int, str]:
    """The version number and canonical stage of a stage transition, the same for every
    store; ``archive_existing_versions`` only applies to the active stages."""
    from pyfunc_ops.core.names import ACTIVE_STAGES, canonical_stage, validate_version

    number = validate_version(version, name)
    target = canonical_stage(stage)
    if archive_existing_versions and target not in ACTIVE_STAGES:
        raise InvalidParameterError(
            f"archive_existing_versions=True applies only to transitions into "
            f"{' or '.join(ACTIVE_STAGES)}; got stage {target!r} for version "
            f"{number} of registered model {name!r}. Pass archive_existing_versions=False"
        )
    return number, target
