"""OpenLineage for the pyfunc_ops operators: datasets named by OpenLineage's rules and
the ``pyfunc_ops_model`` run facet that names the model version a task used.

The OpenLineage provider calls ``get_openlineage_facets_on_start`` and ``_on_complete``
on an operator; :class:`LineageMixin` answers both from what the task declares it reads
and writes (:meth:`LineageMixin.lineage_io`) and, at completion, from what it recorded
while it ran. OpenLineage is imported only inside those calls, so parsing a DAG never
pays for it. Kept apart from the operator base so the base holds only what every
operator is; the output Assets reuse :func:`lineage_dataset_name` for their URIs.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pyfunc_ops.core.uri import SCHEME, is_runs_uri

__all__ = ["MODEL_FACET", "LineageMixin", "lineage_dataset_name"]

# The run facet that names the model version a task packaged or scored with.
MODEL_FACET = "pyfunc_ops_model"
_MODEL_FACET_SCHEMA = "https://pyfunc-ops.dev/spec/facets/1-0-0/PyfuncOpsModelRunFacet.json"
_URL = re.compile(rf"^(?P<protocol>{SCHEME})://(?P<host>[^/]*)/?(?P<rest>.*)$")


class LineageMixin:
    """The OpenLineage side of an operator: what it read, wrote and ran with.

    The operator calls :meth:`init_lineage` in its constructor; its ``execute_job`` fills
    ``_lineage_inputs``/``_lineage_outputs`` and calls :meth:`record_model`.
    """

    _lineage_inputs: list[str]
    _lineage_outputs: list[str]
    _lineage_model: dict[str, Any]

    def init_lineage(self) -> None:
        """Start with nothing read, written or resolved (the START event's view)."""
        self._lineage_inputs = []
        self._lineage_outputs = []
        self._lineage_model = {}

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
        from pyfunc_ops.tracking.client import resolve_model_target, resolve_model_version

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
            elif is_runs_uri(model_uri):
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
