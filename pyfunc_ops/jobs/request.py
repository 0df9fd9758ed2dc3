"""What every job's request type shares: building one from keyword options, and its defaults.

Each job (batch scoring of files, Spark scoring, packaging) takes one frozen dataclass whose
field defaults are the only defaults of that job. The library function, the Airflow operator
and the CLI subcommand all build that dataclass, so a new parameter is one new field; these
helpers read the fields so that no caller lists them again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from pyfunc_ops.errors import InvalidParameterError

R = TypeVar("R")

__all__ = ["field_names", "make_request", "option_defaults", "required_fields"]


def _fields(request_type: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(request_type)


def field_names(request_type: type[Any]) -> tuple[str, ...]:
    """The request's fields, in declaration order."""
    return tuple(f.name for f in _fields(request_type))


def required_fields(request_type: type[Any]) -> tuple[str, ...]:
    """The fields without a default (a caller must give them)."""
    return tuple(
        f.name
        for f in _fields(request_type)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )


def option_defaults(request_type: type[Any]) -> dict[str, Any]:
    """``{field: default}`` for every field that has one: the job's only defaults."""
    defaults: dict[str, Any] = {}
    for f in _fields(request_type):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


def make_request(request_type: type[R], job: str, values: Mapping[str, Any]) -> R:
    """``request_type(**values)``, with unknown and missing options reported as
    :class:`InvalidParameterError` naming the job and its options (the dataclass itself
    would raise a bare ``TypeError``)."""
    names = field_names(request_type)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise InvalidParameterError(
            f"{job}: unknown option(s) {unknown}; the options of {request_type.__name__} are "
            f"{list(names)}. Check the spelling."
        )
    missing = [name for name in required_fields(request_type) if name not in values]
    if missing:
        raise InvalidParameterError(
            f"{job}: missing required option(s) {missing} of {request_type.__name__}; give them."
        )
    return request_type(**values)
