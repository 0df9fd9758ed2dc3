"""Model version stages: the four canonical names and case-insensitive parsing.

Users type stages in URIs and DAG arguments (``models:/churn/production``), so any casing
is accepted, but the registry stores and returns only the canonical spelling so that
comparisons and listings are stable.
"""

from __future__ import annotations

from pyfunc_ops.errors import InvalidParameterError

NONE = "None"
STAGING = "Staging"
PRODUCTION = "Production"
ARCHIVED = "Archived"

#: Canonical stage names, in life-cycle order.
ALL_STAGES: tuple[str, ...] = (NONE, STAGING, PRODUCTION, ARCHIVED)

#: Stages whose other occupants ``archive_existing_versions`` moves to Archived.
ACTIVE_STAGES: tuple[str, ...] = (STAGING, PRODUCTION)

_BY_LOWER = {stage.lower(): stage for stage in ALL_STAGES}


def is_stage(value: str) -> bool:
    """Whether ``value`` names a stage in any casing."""
    return value.strip().lower() in _BY_LOWER


def canonical_stage(value: str) -> str:
    """The canonical spelling of ``value`` (``"production"`` -> ``"Production"``)."""
    stage = _BY_LOWER.get(str(value).strip().lower())
    if stage is None:
        raise InvalidParameterError(
            f"model version stage {value!r} is not a stage; expected one of "
            f"{', '.join(ALL_STAGES)} (any casing)"
        )
    return stage
