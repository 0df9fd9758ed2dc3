"""What every job's request type shares: how the model is loaded (:class:`LoadOptions`),
building a request from keyword options, and its defaults.

Each job (batch scoring of files, Spark scoring, evaluation, packaging) takes one frozen
dataclass whose field defaults are the only defaults of that job. The library function, the
Airflow operator and the CLI subcommand all build that dataclass, so a new parameter is one
new field; these helpers read the fields so that no caller lists them again. The jobs that
load a model inherit its options from :class:`LoadOptions`, so they are declared, defaulted
and checked in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pyfunc_ops.errors import InvalidParameterError

R = TypeVar("R")

__all__ = [
    "LoadOptions",
    "check_batch_size",
    "field_names",
    "make_request",
    "option_defaults",
    "required_fields",
]


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """How a job loads its model and calls ``predict``: the fields every model-loading job
    request inherits (keyword-only, after the job's own fields).

    ``env_manager`` is passed to ``load_model`` (``"local"``, ``"virtualenv"``/``"uv"`` or
    ``"conda"``). ``trust_remote_code`` and ``skops_trusted_types`` are passed to
    ``load_model`` (``None``: the settings decide; see docs/security.md). ``params`` (a
    mapping, e.g. ``{"threshold": 0.5}``) is passed to every ``model.predict(frame,
    params=params)`` call; ``None`` passes none.
    """

    # The job's name in error messages ("score_files: trust_remote_code must be ...").
    job: ClassVar[str] = "load_model"

    env_manager: str = "local"
    trust_remote_code: bool | None = None
    skops_trusted_types: Sequence[str] | None = None
    params: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        from pyfunc_ops.pyfunc.trust import check_trust_parameter

        check_trust_parameter(self.trust_remote_code, f"{self.job}: trust_remote_code")
        if self.params is not None and not isinstance(self.params, Mapping):
            raise InvalidParameterError(
                f"params must be a mapping of parameter names to values (or None); got a "
                f"{type(self.params).__name__}: {self.params!r}."
            )

    def load_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``load_model`` these options give."""
        return {
            "env_manager": self.env_manager,
            "trust_remote_code": self.trust_remote_code,
            "skops_trusted_types": self.skops_trusted_types,
        }

    def call_predict(self, model: Any, frame: Any) -> Any:
        """``model.predict(frame)``, with ``params=`` when ``params`` is given (a bare
        model object's ``predict(df)`` works too)."""
        if self.params is None:
            return model.predict(frame)
        return model.predict(frame, params=dict(self.params))


def check_batch_size(size: object, prefix: str = "") -> None:
    """Refuse a ``batch_size`` that is not a positive whole number of rows (``True`` is
    not one); ``prefix`` names the job in the message (``"evaluate_model: "``)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidParameterError(
            f"{prefix}batch_size must be a positive number of rows; got {size!r}."
        )


def _fields(request_type: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(request_type)


def field_names(request_type: type[Any]) -> tuple[str, ...]:
    """The request's fields in the order its constructor takes them: its own fields as
    declared, then the keyword-only ones it inherits (:class:`LoadOptions`)."""
    fields = _fields(request_type)
    return tuple(f.name for f in fields if not f.kw_only) + tuple(
        f.name for f in fields if f.kw_only
    )


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
