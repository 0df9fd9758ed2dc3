"""The model registry of an MLflow tracking server (REST API 2.0).

The server allocates version numbers (its own store serializes concurrent registrations),
keeps stages and aliases; this store translates calls and answers, and rebuilds the SQL
store's "not found" messages (which list what exists) from extra lookups made only once a
lookup has failed. Filters are parsed by :mod:`pyfunc_ops.tracking.filters` as for the SQL
store; the equality conditions the server understands narrow its search and every condition
is then checked here, so both stores return the same versions for the same filter.

The digest pyfunc_ops records for a version travels as the version tag
``pyfunc_ops.digest`` and comes back as :attr:`ModelVersion.digest`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

from pyfunc_ops.errors import InvalidParameterError, ResourceExistsError, ResourceNotFoundError
from pyfunc_ops.tracking import hints
from pyfunc_ops.tracking.entities import ModelVersion, RegisteredModel
from pyfunc_ops.tracking.filters import Condition, matches
from pyfunc_ops.tracking.rest import convert
from pyfunc_ops.tracking.rest.http import NotFoundOnServer, ServerConnection
from pyfunc_ops.tracking.store import RegistryStoreBase

__all__ = ["RestRegistryStore"]

log = logging.getLogger(__name__)
_PAGE = 1000
# Where MLflow 3 keeps a logged model's files: <experiment>/models/<model id>/artifacts.
_LOGGED_MODEL_PATH = re.compile(r"/models/(m-[0-9a-f]+)/artifacts(?:/|$)")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _version_field(version: ModelVersion, condition: Condition) -> Any:
    field = condition.field
    if field.startswith("tag:"):
        return version.tags.get(field[len("tag:") :])
    if field == "source":
        return convert.theirs(version.source)
    return getattr(version, field)


class RestRegistryStore(RegistryStoreBase):
    """Registered models and versions on the MLflow tracking server behind ``connection``."""

    def __init__(self, connection: ServerConnection) -> None:
        self._conn = connection

    def __repr__(self) -> str:
        return f"RestRegistryStore({self._conn.url!r})"

    # -- errors ---------------------------------------------------------------------------

    def _model_names(self) -> list[str]:
        return sorted(m.name for m in self._search_models(None))

    def _model_not_found(self, name: str) -> ResourceNotFoundError:
        return hints.model_not_found(name, self._model_names())

    def _version_not_found(self, name: str, version: int) -> ResourceNotFoundError:
        numbers = sorted(v.version for v in self._search_versions(f"name = {_quote(name)}"))
        return hints.version_not_found(name, version, numbers)

    def _missing(self, name: str, version: int | None = None) -> ResourceNotFoundError:
        """The message for a failed lookup of ``name`` (and ``version``): which is absent."""
        try:
            self._conn.call("GET", "/registered-models/get", {"name": name})
        except NotFoundOnServer:
            return self._model_not_found(name)
        if version is None:
            return self._model_not_found(name)
        return self._version_not_found(name, version)

    # -- registered models ----------------------------------------------------------------

    def _create_registered_model(
        self, name: str, tags: dict[str, str], description: str | None
    ) -> RegisteredModel:
        try:
            answer = self._conn.call(
                "POST",
                "/registered-models/create",
                {
                    "name": name,
                    "tags": convert.as_key_values(tags),
                    "description": description,
                },
            )
        except ResourceExistsError as exc:
            raise self._exists(name) from exc
        return convert.registered_model(answer["registered_model"])

    def _get_registered_model(self, name: str) -> RegisteredModel:
        try:
            answer = self._conn.call("GET", "/registered-models/get", {"name": name})
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc
        return convert.registered_model(answer["registered_model"])

    def _search_models(self, filter_string: str | None) -> Iterator[RegisteredModel]:
        token: str | None = None
        while True:
            answer = self._conn.call(
                "GET",
                "/registered-models/search",
                {"filter": filter_string, "max_results": _PAGE, "page_token": token},
            )
            for item in answer.get("registered_models") or ():
                yield convert.registered_model(item)
            token = answer.get("next_page_token")
            if not token:
                return

    def _search_registered_models(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[RegisteredModel]:
        equal = [c for c in conditions if c.op == "=" and isinstance(c.value, str)]
        server_filter = f"name = {_quote(str(equal[0].value))}" if equal else None
        found = [
            m
            for m in self._search_models(server_filter)
            if all(matches(m.name, c) for c in conditions)
        ]
        found.sort(key=lambda m: m.name)
        return found if max_results is None else found[:max_results]

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        try:
            self._conn.call(
                "PATCH",
                "/registered-models/update",
                {"name": name, "description": description or ""},
            )
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc
        return self.get_registered_model(name)

    def _set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        try:
            self._conn.call(
                "POST", "/registered-models/set-tag", {"name": name, "key": key, "value": value}
            )
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc

    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions, tags and aliases (artifacts stay)."""
        try:
            self._conn.call("DELETE", "/registered-models/delete", {"name": name})
        except NotFoundOnServer as exc:
            raise self._model_not_found(name) from exc

    def _rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        self.get_registered_model(name)  # the SQL store's message when it is missing
        if new_name in self._model_names():
            raise ResourceExistsError(
                f"registered model {new_name!r} already exists; choose another name for "
                f"{name!r} or delete {new_name!r} first"
            )
        self._conn.call("POST", "/registered-models/rename", {"name": name, "new_name": new_name})
        return self.get_registered_model(new_name)

    def _delete_registered_model_tag(self, name: str, key: str) -> bool:
        # Looked up first: the server answers a missing key with success.
        if key not in self.get_registered_model(name).tags:
            return False
        self._conn.call("DELETE", "/registered-models/delete-tag", {"name": name, "key": key})
        return True

    # -- model versions -------------------------------------------------------------------

    def _create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None,
        tags: dict[str, str],
        description: str | None,
        digest: str | None,
    ) -> ModelVersion:
        """A new version; the server picks its number. ``digest`` (of the model's files)
        is kept as the version tag ``pyfunc_ops.digest``."""
        tag_values = dict(tags)
        if digest is not None:
            tag_values[convert.DIGEST_TAG] = digest
        # A source inside an MLflow 3 logged model's folder belongs to that model, not to
        # the run: the server accepts it only with the model's id.
        logged = _LOGGED_MODEL_PATH.search(source) if source.startswith(convert.SCHEME) else None
        try:
            answer = self._conn.call(
                "POST",
                "/model-versions/create",
                {
                    "name": name,
                    "source": convert.theirs(source),
                    "run_id": run_id,
                    "tags": convert.as_key_values(tag_values),
                    "description": description,
                    "model_id": logged.group(1) if logged else None,
                },
            )
        except NotFoundOnServer as exc:
            raise self._missing(name) from exc
        created = convert.model_version(answer["model_version"])
        log.info("registered model %r version %d (source %s)", name, created.version, source)
        return created

    def _get_model_version(self, name: str, number: int) -> ModelVersion:
        try:
            answer = self._conn.call(
                "GET", "/model-versions/get", {"name": name, "version": str(number)}
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc
        return convert.model_version(answer["model_version"])

    def _delete_model_version(self, name: str, number: int) -> None:
        try:
            self._conn.call(
                "DELETE", "/model-versions/delete", {"name": name, "version": str(number)}
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc

    def _transition_stage(
        self, name: str, number: int, target: str, archive_existing_versions: bool
    ) -> ModelVersion:
        try:
            answer = self._conn.call(
                "POST",
                "/model-versions/transition-stage",
                {
                    "name": name,
                    "version": str(number),
                    "stage": target,
                    "archive_existing_versions": archive_existing_versions,
                },
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc
        return convert.model_version(answer["model_version"])

    def _update_model_version(
        self, name: str, number: int, description: str | None
    ) -> ModelVersion:
        try:
            self._conn.call(
                "PATCH",
                "/model-versions/update",
                {"name": name, "version": str(number), "description": description or ""},
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc
        return self.get_model_version(name, number)

    def _set_model_version_tag(self, name: str, number: int, key: str, value: str) -> None:
        try:
            self._conn.call(
                "POST",
                "/model-versions/set-tag",
                {"name": name, "version": str(number), "key": key, "value": value},
            )
        except NotFoundOnServer as exc:
            raise self._missing(name, number) from exc

    def _delete_model_version_tag(self, name: str, number: int, key: str) -> bool:
        # Looked up first: the server answers a missing key with success.
        if key not in self.get_model_version(name, number).tags:
            return False
        self._conn.call(
            "DELETE",
            "/model-versions/delete-tag",
            {"name": name, "version": str(number), "key": key},
        )
        return True

    # -- aliases --------------------------------------------------------------------------

    def _write_alias(self, name: str, alias: str, number: int) -> None:
        """MLflow's REST API has no conditional alias update, so the base's
        read-compare-write is the compare-and-set here (not atomic: serialize promotions,
        e.g. ``max_active_runs=1``, where a race in its one-request window matters)."""
        self._conn.call(
            "POST",
            "/registered-models/alias",
            {"name": name, "alias": alias, "version": str(number)},
        )

    def _delete_alias(self, name: str, alias: str) -> bool:
        # Looked up first: the server answers a missing alias with success.
        if alias not in self.get_registered_model(name).aliases:
            return False
        self._conn.call("DELETE", "/registered-models/alias", {"name": name, "alias": alias})
        return True

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        try:
            answer = self._conn.call(
                "GET", "/registered-models/alias", {"name": name, "alias": alias}
            )
        except (NotFoundOnServer, InvalidParameterError) as exc:
            # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE on some versions.
            try:
                self._conn.call("GET", "/registered-models/get", {"name": name})
            except NotFoundOnServer:
                raise self._model_not_found(name) from exc
            aliases = self.get_registered_model(name).aliases
            raise hints.alias_not_found(name, alias, aliases) from exc
        return convert.model_version(answer["model_version"])

    # -- search ---------------------------------------------------------------------------

    def _search_versions(self, filter_string: str | None) -> Iterator[ModelVersion]:
        token: str | None = None
        while True:
            answer = self._conn.call(
                "GET",
                "/model-versions/search",
                {"filter": filter_string, "max_results": _PAGE, "page_token": token},
            )
            for item in answer.get("model_versions") or ():
                yield convert.model_version(item)
            token = answer.get("next_page_token")
            if not token:
                return

    def _search_model_versions(
        self, conditions: Sequence[Condition], max_results: int | None
    ) -> list[ModelVersion]:
        server = []
        for c in conditions:
            if c.op != "=" or not isinstance(c.value, str) or "`" in c.field:
                continue
            if c.field == "name":
                server.append(f"name = {_quote(c.value)}")
            elif c.field == "run_id":
                server.append(f"run_id = {_quote(c.value)}")
            elif c.field.startswith("tag:"):
                server.append(f"tags.`{c.field[len('tag:') :]}` = {_quote(c.value)}")
        found = [
            v
            for v in self._search_versions(" AND ".join(server) or None)
            if all(matches(_version_field(v, c), c) for c in conditions)
        ]
        found.sort(key=lambda v: (v.name, -v.version))
        return found if max_results is None else found[:max_results]
