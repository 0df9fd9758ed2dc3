"""The REST store: an existing MLflow tracking server as pyfunc_ops' registry.

A tracking URI ``http(s)://...`` selects it (see :class:`~pyfunc_ops.tracking.TrackingClient`).
It speaks MLflow's REST API 2.0 (runs, registered models, model versions, aliases), the
MLflow 3 logged-model endpoints, and the proxied artifact endpoints, through one pooled HTTP
session per server (:mod:`.http`). The stores satisfy the interface of
:mod:`pyfunc_ops.tracking.store`, with the SQL stores' error classes and messages.

pyfunc_ops never imports mlflow: this is plain HTTP (``requests``).
"""

from __future__ import annotations

from pyfunc_ops.tracking.rest.artifacts import MlflowArtifactsFileSystem, register
from pyfunc_ops.tracking.rest.http import ServerConfig, ServerConnection, connection_for
from pyfunc_ops.tracking.rest.registry import RestRegistryStore
from pyfunc_ops.tracking.rest.runs import RestRunStore

__all__ = [
    "MlflowArtifactsFileSystem",
    "RestRegistryStore",
    "RestRunStore",
    "ServerConfig",
    "ServerConnection",
    "connection_for",
    "register",
    "stores_for",
]


def stores_for(uri: str) -> tuple[RestRunStore, RestRegistryStore]:
    """The run and registry stores of the server at ``uri``; registers the
    ``mlflow-artifacts`` filesystem so the runs' artifact locations can be read."""
    register()
    connection = connection_for(uri)
    return RestRunStore(connection), RestRegistryStore(connection)
