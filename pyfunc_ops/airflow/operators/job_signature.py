"""The constructor signature of a job operator, generated from its request type.

An operator for a job names the job's request dataclass; its keyword arguments are the
request's fields, with the request's defaults and types. Airflow reads ``__init__``'s
signature for ``default_args``, required arguments and ``.partial().expand()``, so the
generated parameters must be in it: :func:`job_signature` builds that signature and
:func:`forwarding_init` gives an operator without its own ``__init__`` one to carry it.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pyfunc_ops.jobs.request import option_defaults

__all__ = ["forwarding_init", "job_signature"]


def forwarding_init(cls: type[Any]) -> Callable[..., None]:
    """An ``__init__`` for ``cls`` that passes every keyword argument to its base's."""

    def __init__(self: Any, **kwargs: Any) -> None:
        super(cls, self).__init__(**kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def job_signature(
    init: Any,
    request_type: type[Any],
    arguments: Mapping[str, str],
    connections: Mapping[str, tuple[Any, Any]],
) -> inspect.Signature:
    """``init``'s own parameters, then the job's ``arguments`` (argument name -> request
    field, with the request's defaults and types), then the ``connections`` arguments
    (name -> ``(default, annotation)``) and ``**kwargs``."""
    own = inspect.signature(init)
    kinds = inspect.Parameter
    params = [p for p in own.parameters.values() if p.kind is not kinds.VAR_KEYWORD]
    taken = {p.name for p in params}
    types: dict[str, Any] = {f.name: f.type for f in dataclasses.fields(request_type)}
    defaults = option_defaults(request_type)
    for name in (*arguments, *connections):
        if name in taken:
            continue
        request_field = arguments.get(name, name)
        default: Any = defaults.get(request_field, kinds.empty)
        annotation: Any = types.get(request_field, "str")
        if name in connections:
            default, annotation = connections[name]
        params.append(kinds(name, kinds.KEYWORD_ONLY, default=default, annotation=annotation))
    params.append(kinds("kwargs", kinds.VAR_KEYWORD, annotation="Any"))
    return own.replace(parameters=params)
