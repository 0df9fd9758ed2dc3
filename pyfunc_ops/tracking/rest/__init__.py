"""The REST store: an existing MLflow tracking server as pyfunc_ops' registry.

The backend registry (:mod:`pyfunc_ops.tracking.backends`) names this package for the
``http`` and ``https`` schemes: :func:`normalize_uri` and :func:`open_stores` are its two
backend functions.
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
from pyfunc_ops.tracking.store import Stores
from pyfunc_ops.tracking.uri import check_authority

__all__ = [
    "MlflowArtifactsFileSystem",
    "RestRegistryStore",
    "RestRunStore",
    "ServerConfig",
    "ServerConnection",
    "connection_for",
    "normalize_uri",
    "open_stores",
    "register",
    "stores_for",
]


def normalize_uri(uri: str) -> str:
    """An MLflow tracking server's URL, checked, without a trailing ``/``."""
    check_authority(uri)
    return uri.rstrip("/")


def open_stores(uri: str) -> Stores:
    """The run and registry stores of the server at ``uri``: :func:`stores_for`."""
    return Stores(*stores_for(uri))


def stores_for(uri: str) -> tuple[RestRunStore, RestRegistryStore]:
    """The run and registry stores of the server at ``uri``; registers the
    ``mlflow-artifacts`` filesystem so the runs' artifact locations can be read."""
    register()
    connection = connection_for(uri)
    return RestRunStore(connection), RestRegistryStore(connection)
