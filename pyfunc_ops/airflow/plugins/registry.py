"""The provider's Airflow plugin: a read-only view of the model registry in Airflow's UI.

A FastAPI app mounted in the API server at ``/pyfunc-ops`` (``/pyfunc-ops/registry/``)
and a navigation entry ("Model registry", under Browse) that shows it inside the UI, as
Airflow's own plugin views are. The provider registers the plugin through
``get_provider_info``; nothing to copy into a plugins folder.

Access is Airflow's: every request is authenticated by the API server's auth manager (the
session cookie the UI sets, or a bearer token), anonymous requests are refused (401), and
a user who may not read DAGs gets a 403 and sees nothing. Links to DAG runs are shown for
the DAGs the user may read only. The registry read is the one the API server's
environment configures (``PYFUNC_OPS_TRACKING_URI`` ...), or the ``pyfunc_ops``
connection named by ``[pyfunc_ops] ui_conn_id`` (``AIRFLOW__PYFUNC_OPS__UI_CONN_ID``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from pyfunc_ops.airflow.plugins import registry_data as data
from pyfunc_ops.airflow.plugins import registry_html as pages

logger = logging.getLogger(__name__)

URL_PREFIX = "/pyfunc-ops"
VIEW_PATH = "/registry"


async def _readable_dags(request: Request) -> set[str]:
    """The DAG ids the caller may read; 401 when anonymous, 403 when none at all."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    user = await get_user(request, None, await bearer_scheme(request))
    manager = get_auth_manager()
    if not manager.is_authorized_dag(method="GET", user=user):
        raise HTTPException(
            status_code=403, detail="The model registry view needs permission to read DAGs."
        )
    return set(manager.get_authorized_dag_ids(user=user, method="GET"))


@contextlib.contextmanager
def _registry() -> Iterator[Any]:
    """A client of the configured registry, inside its settings."""
    from airflow.configuration import conf

    from pyfunc_ops import config
    from pyfunc_ops.tracking import TrackingClient

    conn_id = conf.get("pyfunc_ops", "ui_conn_id", fallback=None)
    if conn_id:
        from pyfunc_ops.airflow.hooks import PyfuncOpsHook

        settings = PyfuncOpsHook(conn_id).get_settings()
    else:
        settings = config.current_settings()
    with config.use_settings(settings):
        yield TrackingClient()


def _paths(request: Request) -> tuple[str, str]:
    """(this view's base URL, Airflow's root URL) as seen by the browser."""
    root = request.scope.get("root_path", "").rstrip("/")
    airflow_root = root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else ""
    return root + VIEW_PATH, airflow_root


def create_app() -> FastAPI:
    """The registry view's FastAPI app (mounted by the API server at ``/pyfunc-ops``)."""
    from pyfunc_ops.errors import PyfuncOpsError, ResourceNotFoundError

    app = FastAPI(title="pyfunc_ops model registry", docs_url=None, redoc_url=None)
    Readable = Depends(_readable_dags)

    @app.get(VIEW_PATH + "/", response_class=HTMLResponse)
    def list_models(request: Request, readable: set[str] = Readable) -> str:
        base, _ = _paths(request)
        with _registry() as client:
            return pages.models_page(base, data.list_models(client))

    @app.get(VIEW_PATH + "/models/{name}", response_class=HTMLResponse)
    def show_model(
        request: Request,
        name: str,
        page: int = 1,
        metric: str | None = None,
        readable: set[str] = Readable,
    ) -> HTMLResponse:
        base, root = _paths(request)
        try:
            with _registry() as client:
                found = data.model_page(client, name, page=page, metric=metric, readable=readable)
        except ResourceNotFoundError as exc:
            return HTMLResponse(pages.error_page("Not found", str(exc)), status_code=404)
        return HTMLResponse(pages.model_page_html(base, root, found))

    @app.get(VIEW_PATH + "/models/{name}/versions/{version}", response_class=HTMLResponse)
    def show_version(
        request: Request, name: str, version: int, readable: set[str] = Readable
    ) -> HTMLResponse:
        base, root = _paths(request)
        try:
            with _registry() as client:
                found = client.get_model_version(name, version)
                row = data.version_row(client, found, readable)
                state, detail = data.verify_version(found)
        except ResourceNotFoundError as exc:
            return HTMLResponse(pages.error_page("Not found", str(exc)), status_code=404)
        except PyfuncOpsError as exc:
            logger.warning("registry view: %s", exc)
            return HTMLResponse(pages.error_page("Registry error", str(exc)), status_code=502)
        return HTMLResponse(pages.version_page(base, root, name, row, state, detail))

    return app


class PyfuncOpsRegistryPlugin(AirflowPlugin):
    """The model registry view (read-only) in Airflow's API server and navigation."""

    name = "pyfunc_ops_registry"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Model registry"}]
    external_views = [
        {
            "name": "Model registry",
            "href": f"{URL_PREFIX}{VIEW_PATH}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "model-registry",
        }
    ]
