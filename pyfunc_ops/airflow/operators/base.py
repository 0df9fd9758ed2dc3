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

Storage: ``aws_conn_id`` names the Amazon provider's connection whose credentials and
endpoint become the ``s3`` storage options of the task's settings (over the
``pyfunc_ops`` connection's); a job argument given as an ``ObjectStoragePath``
(``s3://aws_default@bucket/key``) becomes its plain URL, and its connection id counts as
``aws_conn_id``. One task reads S3 through one connection.

Lineage: the OpenLineage provider calls ``get_openlineage_facets_on_start`` and
``_on_complete`` (see :meth:`lineage`); OpenLineage is imported only inside them, so
parsing a DAG never pays for it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from pyfunc_ops import config
from pyfunc_ops.airflow.hooks.pyfunc_ops import PyfuncOpsHook
from pyfunc_ops.config import Settings
from pyfunc_ops.core.redact import redact, redact_mapping
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.jobs.request import field_names, make_request, option_defaults

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "MODEL_FACET",
    "OUTPUT_ASSET_ALIAS",
    "PyfuncOpsBaseOperator",
    "emit_output_event",
    "lineage_dataset_name",
    "output_asset",
    "output_outlets",
    "plain_url",
]

_CONN_FIELD = "pyfunc_ops_conn_id"
_AWS_FIELD = "aws_conn_id"
# The run facet that names the model version a task packaged or scored with.
MODEL_FACET = "pyfunc_ops_model"
_MODEL_FACET_SCHEMA = "https://pyfunc-ops.dev/spec/facets/1-0-0/PyfuncOpsModelRunFacet.json"
# The asset alias of scoring outputs whose URL is only known at run time (templated).
OUTPUT_ASSET_ALIAS = "pyfunc-ops-predictions"
_URL = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/]*)/?(?P<rest>.*)$")


def _is_empty(value: Any) -> bool:
    return (isinstance(value, str) and not value.strip()) or (
        isinstance(value, (list, tuple, dict)) and not value
    )


class PyfuncOpsBaseOperator(BaseOperator):
    """Base of the pyfunc_ops operators; subclasses implement :meth:`execute_job`.

    :param pyfunc_ops_conn_id: the ``pyfunc_ops`` connection (templated); without such a
        connection the library's environment variables apply.
    """

    template_fields: Sequence[str] = (_CONN_FIELD, _AWS_FIELD)
    # The job's request dataclass (None: the operator is not a job, e.g. registry calls).
    request_type: ClassVar[type[Any] | None] = None
    # Request fields the operator computes itself instead of taking them as arguments.
    operator_fields: ClassVar[frozenset[str]] = frozenset()
    # Request fields taken under another argument name: Airflow's BaseOperator owns
    # ``params`` (the DAG's params, always set), so the model's params are ``model_params``.
    renamed_fields: ClassVar[Mapping[str, str]] = MappingProxyType({"params": "model_params"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        templated = [*cls.job_arguments(), *cls.template_fields, _CONN_FIELD, _AWS_FIELD]
        cls.template_fields = tuple(dict.fromkeys(templated))
        if cls.request_type is None:
            return
        if "__init__" not in cls.__dict__:
            cls.__init__ = _forwarding_init(cls)  # type: ignore[method-assign]
        init = cls.__dict__["__init__"]
        # Runs before BaseOperatorMeta wraps __init__, so Airflow sees these parameters.
        init.__signature__ = _job_signature(init, cls.request_type, cls._argument_fields())

    def __init__(
        self,
        *,
        pyfunc_ops_conn_id: str = PyfuncOpsHook.default_conn_name,
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        defaults = self._argument_defaults()
        options = {
            name: kwargs.pop(name) if name in kwargs else defaults[name]
            for name in self.job_arguments()
            if name in kwargs or name in defaults
        }
        super().__init__(**kwargs)
        self.pyfunc_ops_conn_id = pyfunc_ops_conn_id
        self.aws_conn_id = aws_conn_id
        # What the task read, wrote and ran with, for its OpenLineage events.
        self._lineage_inputs: list[str] = []
        self._lineage_outputs: list[str] = []
        self._lineage_model: dict[str, Any] = {}
        for name, value in options.items():
            setattr(self, name, value)

    @classmethod
    def job_arguments(cls) -> tuple[str, ...]:
        """The (templated) keyword arguments this operator takes for its request's fields."""
        return tuple(cls._argument_fields())

    @classmethod
    def _argument_fields(cls) -> dict[str, str]:
        """Argument name -> request field, for the fields the operator takes as arguments."""
        if cls.request_type is None:
            return {}
        return {
            cls.renamed_fields.get(n, n): n
            for n in field_names(cls.request_type)
            if n not in cls.operator_fields
        }

    @classmethod
    def _argument_defaults(cls) -> dict[str, Any]:
        if cls.request_type is None:
            return {}
        defaults = option_defaults(cls.request_type)
        return {arg: defaults[f] for arg, f in cls._argument_fields().items() if f in defaults}

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
        defaults = self._argument_defaults()
        values = {}
        for name, request_field in self._argument_fields().items():
            if not hasattr(self, name):
                continue  # a required argument that was never given: make_request says so
            value = getattr(self, name)
            if name in defaults and defaults[name] is None and _is_empty(value):
                value = None
            values[request_field] = value
        return make_request(self.request_type, type(self).__name__, values)

    def task_settings(self) -> Settings:
        """The settings the task runs with: the ``pyfunc_ops`` connection's, with the ``s3``
        options of ``aws_conn_id`` (or of the connection in an ``ObjectStoragePath``
        argument) when there is one. Turns ``ObjectStoragePath`` arguments into URLs."""
        conn_ids = {self.aws_conn_id} if self.aws_conn_id else set()
        for name in self.job_arguments():
            value = getattr(self, name, None)
            if _is_object_storage_path(value):
                url, conn_id = plain_url(value)
                setattr(self, name, url)
                if conn_id:
                    conn_ids.add(conn_id)
        settings = self.hook.get_settings()
        if len(conn_ids) > 1:
            raise InvalidParameterError(
                f"{type(self).__name__} {self.task_id!r}: its S3 paths and aws_conn_id name "
                f"several connections {sorted(conn_ids)}; one task reads and writes S3 "
                "through one connection. Use the same connection id everywhere (or copy the "
                "data first)."
            )
        if conn_ids:
            from pyfunc_ops.airflow.hooks.aws import aws_storage_options

            s3 = aws_storage_options(conn_ids.pop())
            settings = settings.with_changes(storage_options={**settings.storage_options, "s3": s3})
        return settings

    def execute(self, context: Context) -> Any:
        with config.use_settings(self.task_settings()):
            result = self.execute_job(context)
        # The return value becomes an XCom, shown in the UI and stored in the database:
        # no password of a URL or secret-looking key may ride along.
        return redact_mapping(result)

    def execute_job(self, context: Context) -> Any:
        """The task's work, run with the connection's settings current."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute_job")

    # -- OpenLineage ---------------------------------------------------------------------

    def lineage_io(self) -> tuple[list[str], list[str]]:
        """The URLs this task reads and writes, from its (rendered) arguments: what the
        OpenLineage START event reports. Subclasses name their fields."""
        return [], []

    def lineage(self, complete: bool) -> Any:
        """An ``OperatorLineage``: input and output datasets (OpenLineage naming:
        ``file`` + absolute path, ``s3://<bucket>`` + key, ...) and, as the run facet
        ``pyfunc_ops_model``, the model version (name, version, digest, model URI). At
        completion it reports what the task actually read, wrote and resolved."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        inputs, outputs = self.lineage_io()
        model = {"model_uri": _text(getattr(self, "model_uri", None))}
        if complete:
            inputs = self._lineage_inputs or inputs
            outputs = self._lineage_outputs or outputs
            model = {**model, **self._lineage_model}
        run_facets = {}
        if model.get("model_uri"):
            run_facets[MODEL_FACET] = _model_facet_type()(**_facet_fields(model))
        return OperatorLineage(
            inputs=_datasets(inputs), outputs=_datasets(outputs), run_facets=run_facets
        )

    def record_model(self, model_uri: str, **known: Any) -> dict[str, Any]:
        """Remember (for lineage and the output's Asset event) the model version
        ``model_uri`` stands for: name, version, digest and artifact location of a
        ``models:/`` URI, the digest recorded for a ``runs:/`` URI. ``known`` values (a
        packaging result) are used as they are. Run with the task's settings current."""
        from pyfunc_ops.tracking.resolve import resolve_model_target, resolve_model_version

        model: dict[str, Any] = {"model_uri": model_uri, **known}
        if "version" not in known:
            version = resolve_model_version(model_uri)
            if version is not None:
                model.update(
                    name=version.name,
                    version=int(version.version),
                    digest=version.digest,
                    source=version.source,
                )
            elif str(model_uri).startswith("runs:/"):
                target = resolve_model_target(model_uri)
                model.update(digest=target.digest, source=target.location)
            else:
                model.update(source=str(model_uri))
        self._lineage_model = model
        return model

    def get_openlineage_facets_on_start(self) -> Any:
        """Called by the OpenLineage provider before the task runs (templates rendered)."""
        return self.lineage(complete=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Called by the OpenLineage provider after the task succeeded."""
        return self.lineage(complete=True)


def _forwarding_init(cls: type[PyfuncOpsBaseOperator]) -> Callable[..., None]:
    def __init__(self: PyfuncOpsBaseOperator, **kwargs: Any) -> None:
        super(cls, self).__init__(**kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _job_signature(
    init: Any, request_type: type[Any], arguments: Mapping[str, str]
) -> inspect.Signature:
    """``init``'s own parameters, then the job's ``arguments`` (with the request's defaults
    and types), then ``pyfunc_ops_conn_id``, ``aws_conn_id`` and ``**kwargs``."""
    own = inspect.signature(init)
    kinds = inspect.Parameter
    params = [p for p in own.parameters.values() if p.kind is not kinds.VAR_KEYWORD]
    taken = {p.name for p in params}
    types: dict[str, Any] = {f.name: f.type for f in dataclasses.fields(request_type)}
    defaults = option_defaults(request_type)
    for name in (*arguments, _CONN_FIELD, _AWS_FIELD):
        if name in taken:
            continue
        request_field = arguments.get(name, name)
        default: Any = defaults.get(request_field, kinds.empty)
        annotation: Any = types.get(request_field, "str")
        if name == _CONN_FIELD:
            default = PyfuncOpsHook.default_conn_name
        elif name == _AWS_FIELD:
            default, annotation = None, "str | None"
        params.append(kinds(name, kinds.KEYWORD_ONLY, default=default, annotation=annotation))
    params.append(kinds("kwargs", kinds.VAR_KEYWORD, annotation="Any"))
    return own.replace(parameters=params)


# -- storage paths ---------------------------------------------------------------------


def _is_object_storage_path(value: Any) -> bool:
    """An Airflow ``ObjectStoragePath`` (checked by name: no import at parse time)."""
    return any(c.__name__ == "ObjectStoragePath" for c in type(value).__mro__)


def plain_url(path: Any) -> tuple[str, str | None]:
    """``(url, conn_id)`` of an ``ObjectStoragePath``: ``s3://aws_default@bucket/key``
    is ``("s3://bucket/key", "aws_default")``; a local one is its absolute path. Only S3
    paths may name a connection (it is read with the Amazon provider's hook)."""
    protocol = str(path.protocol or "file")
    conn_id = path.conn_id or None
    if protocol in ("file", "local"):
        return str(path.path), None
    if conn_id and protocol not in ("s3", "s3a"):
        raise InvalidParameterError(
            f"ObjectStoragePath {redact(str(path))!r}: a connection id is supported for s3:// "
            f"paths only, found protocol {protocol!r}; give the path without the connection "
            "and its storage options in the pyfunc_ops connection's storage_options extra."
        )
    return f"{protocol}://{path.path}", conn_id


# -- OpenLineage -----------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def lineage_dataset_name(url: str) -> tuple[str, str]:
    """``(namespace, name)`` of a URL by OpenLineage's dataset naming: a local path is
    ``("file", "/absolute/path")``, ``s3://bucket/key`` (and ``s3a://``) is
    ``("s3://bucket", "key")``, any other ``proto://host/path`` is ``("proto://host",
    "path")``. Credentials or a connection id before ``@`` are left out."""
    text = str(url)
    if text.startswith("file://"):
        text = text[len("file://") :] or "/"
    match = _URL.match(text)
    if match is None:
        return "file", os.path.abspath(text)
    protocol = match["protocol"].lower()
    protocol = "s3" if protocol in ("s3a", "s3n") else protocol
    host = match["host"].rsplit("@", 1)[-1]
    return f"{protocol}://{host}", match["rest"] or "/"


def _datasets(urls: Iterable[str | None]) -> list[Any]:
    from openlineage.client.event_v2 import Dataset

    seen = dict.fromkeys(lineage_dataset_name(u) for u in urls if u)
    return [Dataset(namespace=namespace, name=name) for namespace, name in seen]


def _facet_fields(model: Mapping[str, Any]) -> dict[str, Any]:
    version = model.get("version")
    return {
        "model_uri": str(model.get("model_uri") or ""),
        "name": _text(model.get("name")),
        "version": None if version is None else int(version),
        "digest": _text(model.get("digest")),
        "source": _text(model.get("source")),
    }


@functools.cache
def _model_facet_type() -> type[Any]:
    """The ``pyfunc_ops_model`` run facet class (built on first use: OpenLineage is
    imported only when lineage is emitted)."""
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class PyfuncOpsModelRunFacet(RunFacet):  # type: ignore[misc]
        """The model version a task packaged or scored with."""

        model_uri: str = ""
        name: str | None = None
        version: int | None = None
        digest: str | None = None
        source: str | None = None

        @staticmethod
        def _get_schema() -> str:
            return _MODEL_FACET_SCHEMA

    return PyfuncOpsModelRunFacet


# -- output assets ---------------------------------------------------------------------


def output_asset(url: str) -> Any:
    """The Asset of a scoring output: its URL (``file://`` + absolute path when local;
    an ``s3a://`` output is the same ``s3://`` object)."""
    from airflow.sdk import Asset

    namespace, name = lineage_dataset_name(url)
    if namespace == "file":
        return Asset(f"file://{name}")
    return Asset(f"{namespace}/{name}")


def output_outlets(output_url: Any) -> list[Any]:
    """Default outlets of a scoring operator: the output's Asset when ``output_url`` is
    known when the DAG is parsed, else the asset alias ``pyfunc-ops-predictions``
    through which the run attaches the event to the output's Asset."""
    from airflow.sdk import AssetAlias

    from pyfunc_ops.airflow.assets import is_templated

    if isinstance(output_url, str) and output_url and not is_templated(output_url):
        return [output_asset(output_url)]
    return [AssetAlias(OUTPUT_ASSET_ALIAS)]


def emit_output_event(
    context: Mapping[str, Any], outlets: Sequence[Any], output_uri: str, model: Mapping[str, Any]
) -> Any:
    """Attach ``{"output_uri", "model_uri", "name", "version", "digest"}`` to the event of
    the output's Asset, directly or through the ``pyfunc-ops-predictions`` alias; returns
    the Asset (``None``: no outlet of this task stands for it)."""
    from airflow.sdk import Asset, AssetAlias

    asset = output_asset(output_uri)
    extra = {
        "output_uri": output_uri,
        **{k: model.get(k) for k in ("model_uri", "name", "version", "digest")},
    }
    events = context.get("outlet_events")
    if events is None:  # called outside a task run (no event accessors): nothing to attach
        return None
    if any(isinstance(o, Asset) and o.uri == asset.uri for o in outlets):
        events[asset].extra.update(extra)
        return asset
    alias = AssetAlias(OUTPUT_ASSET_ALIAS)
    if any(isinstance(o, AssetAlias) and o.name == alias.name for o in outlets):
        events[alias].add(asset, extra=extra)
        return asset
    return None
