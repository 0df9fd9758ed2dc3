"""``PyfuncOpsBaseOperator``: what every pyfunc_ops operator shares.

Like the Amazon provider's ``AwsBaseOperator``, the base owns the connection: the templated
``pyfunc_ops_conn_id``, a :class:`~pyfunc_ops.airflow.hooks.PyfuncOpsHook` built on first
use (after templates are rendered) and cached, and the settings the task runs with:
:meth:`execute` calls the subclass's :meth:`execute_job` inside
``pyfunc_ops.config.use_settings(hook.get_settings())``, a scope of this task's thread only,
so two tasks in one worker never see each other's registry or credentials.

An operator for a job (scoring, Spark scoring, packaging) names the job's request type in
``request_type``. Its keyword arguments and ``template_fields`` are then the request's
fields (minus ``operator_fields``, which the operator fills in itself), with the request's
defaults: the operator never lists them again, and a new field of the request is a new
argument of the operator. The arguments appear in ``__init__``'s signature, which is what
Airflow reads for ``default_args``, required arguments and ``.partial().expand()``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from pyfunc_ops import config
from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook
from pyfunc_ops.core.redact import redact_mapping
from pyfunc_ops.jobs.request import field_names, make_request, option_defaults

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["PyfuncOpsBaseOperator"]

_CONN_FIELD = "pyfunc_ops_conn_id"


def _is_empty(value: Any) -> bool:
    return (isinstance(value, str) and not value.strip()) or (
        isinstance(value, (list, tuple, dict)) and not value
    )


class PyfuncOpsBaseOperator(BaseOperator):
    """Base of the pyfunc_ops operators; subclasses implement :meth:`execute_job`.

    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection (templated); without such a
        connection the library's environment variables apply.
    """

    template_fields: Sequence[str] = (_CONN_FIELD,)
    # The job's request dataclass (None: the operator is not a job, e.g. registry calls).
    request_type: ClassVar[type[Any] | None] = None
    # Request fields the operator computes itself instead of taking them as arguments.
    operator_fields: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        templated = [*cls.job_arguments(), *cls.template_fields, _CONN_FIELD]
        cls.template_fields = tuple(dict.fromkeys(templated))
        if cls.request_type is None:
            return
        if "__init__" not in cls.__dict__:
            cls.__init__ = _forwarding_init(cls)  # type: ignore[method-assign]
        init = cls.__dict__["__init__"]
        # Runs before BaseOperatorMeta wraps __init__, so Airflow sees these parameters.
        init.__signature__ = _job_signature(init, cls.request_type, cls.job_arguments())

    def __init__(
        self, *, pyfunc_ops_conn_id: str = PyfuncOpsHook.default_conn_name, **kwargs: Any
    ) -> None:
        defaults = option_defaults(self.request_type) if self.request_type else {}
        options = {
            name: kwargs.pop(name) if name in kwargs else defaults[name]
            for name in self.job_arguments()
            if name in kwargs or name in defaults
        }
        super().__init__(**kwargs)
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id
        for name, value in options.items():
            setattr(self, name, value)

    @classmethod
    def job_arguments(cls) -> tuple[str, ...]:
        """The request fields this operator takes as (templated) keyword arguments."""
        if cls.request_type is None:
            return ()
        return tuple(n for n in field_names(cls.request_type) if n not in cls.operator_fields)

    @cached_property
    def hook(self) -> PyfuncOpsHook:
        """The hook of ``pyfunc_ops_conn_id``, built once (the id is rendered by then)."""
        return PyfuncOpsHook(self.pyfunc_ops_conn_id)

    def job_request(self) -> Any:
        """The job's request from the (rendered) arguments. A field that defaults to
        ``None`` and rendered empty (``""``, ``[]``, ``{}``) is ``None``: a template such
        as ``"{{ params.key or '' }}"`` means "not given"."""
        if self.request_type is None:
            raise TypeError(f"{type(self).__name__} has no request_type")
        defaults = option_defaults(self.request_type)
        values = {}
        for name in self.job_arguments():
            if not hasattr(self, name):
                continue  # a required argument that was never given: make_request says so
            value = getattr(self, name)
            if name in defaults and defaults[name] is None and _is_empty(value):
                value = None
            values[name] = value
        return make_request(self.request_type, type(self).__name__, values)

    def execute(self, context: Context) -> Any:
        with config.use_settings(self.hook.get_settings()):
            result = self.execute_job(context)
        # The return value becomes an XCom, shown in the UI and stored in the database:
        # no password of a URL or secret-looking key may ride along.
        return redact_mapping(result)

    def execute_job(self, context: Context) -> Any:
        """The task's work, run with the connection's settings current."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute_job")


def _forwarding_init(cls: type[PyfuncOpsBaseOperator]) -> Callable[..., None]:
    def __init__(self: PyfuncOpsBaseOperator, **kwargs: Any) -> None:
        super(cls, self).__init__(**kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _job_signature(
    init: Any, request_type: type[Any], arguments: Sequence[str]
) -> inspect.Signature:
    """``init``'s own parameters, then the job's ``arguments`` (with the request's defaults
    and types), then ``pyfunc_ops_conn_id`` and ``**kwargs``."""
    own = inspect.signature(init)
    kinds = inspect.Parameter
    params = [p for p in own.parameters.values() if p.kind is not kinds.VAR_KEYWORD]
    taken = {p.name for p in params}
    types: dict[str, Any] = {f.name: f.type for f in dataclasses.fields(request_type)}
    defaults = option_defaults(request_type)
    for name in (*arguments, _CONN_FIELD):
        if name in taken:
            continue
        default: Any = defaults.get(name, kinds.empty)
        annotation: Any = types.get(name, "str")
        if name == _CONN_FIELD:
            default = PyfuncOpsHook.default_conn_name
        params.append(kinds(name, kinds.KEYWORD_ONLY, default=default, annotation=annotation))
    params.append(kinds("kwargs", kinds.VAR_KEYWORD, annotation="Any"))
    return own.replace(parameters=params)
