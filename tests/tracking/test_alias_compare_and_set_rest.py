"""The alias compare-and-set on the MLflow-server (REST) store: a read, a compare and a
write, with the SQL store's semantics and messages. A fake connection plays the server's
three alias endpoints; the last test pins down the documented limit (not atomic)."""

from __future__ import annotations

from typing import Any

import pytest

from pyfunc_ops.errors import AliasConflictError
from pyfunc_ops.tracking.rest import RestRegistryStore
from pyfunc_ops.tracking.rest.http import NotFoundOnServer


class FakeServer:
    """Registered model ``churn`` with versions 1-3 and its aliases, as MLflow answers."""

    def __init__(self) -> None:
        self.aliases: dict[str, int] = {}
        self.writes: list[dict[str, Any]] = []
        self.before_write: Any = None

    @staticmethod
    def _version(number: int) -> dict[str, Any]:
        return {"name": "churn", "version": str(number), "source": f"/m/{number}"}

    def call(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        if (method, path) == ("GET", "/model-versions/get"):
            if int(params["version"]) not in (1, 2, 3):
                raise NotFoundOnServer("RESOURCE_DOES_NOT_EXIST")
            return {"model_version": self._version(int(params["version"]))}
        if (method, path) == ("GET", "/registered-models/get"):
            aliases = [{"alias": a, "version": str(v)} for a, v in self.aliases.items()]
            return {"registered_model": {"name": "churn", "aliases": aliases}}
        if (method, path) == ("GET", "/registered-models/alias"):
            if params["alias"] not in self.aliases:
                raise NotFoundOnServer("RESOURCE_DOES_NOT_EXIST")
            return {"model_version": self._version(self.aliases[params["alias"]])}
        if (method, path) == ("POST", "/registered-models/alias"):
            if self.before_write is not None:
                self.before_write()
            self.writes.append(dict(params))
            self.aliases[params["alias"]] = int(params["version"])
            return {}
        raise AssertionError(f"unexpected call {method} {path}")


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def store(server: FakeServer) -> RestRegistryStore:
    return RestRegistryStore(server)  # type: ignore[arg-type]


def test_rest_compare_and_set_semantics(server: FakeServer, store: RestRegistryStore) -> None:
    store.set_registered_model_alias("churn", "champion", 1, expected_version=0)
    store.set_registered_model_alias("churn", "champion", 2, expected_version="1")
    assert server.aliases == {"champion": 2}
    with pytest.raises(
        AliasConflictError,
        match=r"alias 'champion' of registered model 'churn' was expected at version 1 but "
        r"points at version 2.*expected_version=2",
    ):
        store.set_registered_model_alias("churn", "champion", 3, expected_version=1)
    with pytest.raises(AliasConflictError, match="expected not to exist yet but points at"):
        store.set_registered_model_alias("churn", "champion", 3, expected_version=0)
    assert server.aliases == {"champion": 2} and len(server.writes) == 2
    # Already where it should go: a retry writes nothing and succeeds.
    store.set_registered_model_alias("churn", "champion", 2, expected_version=1)
    assert len(server.writes) == 2
    store.set_registered_model_alias("churn", "champion", 3)  # no check
    assert server.aliases == {"champion": 3}


def test_rest_compare_and_set_is_not_atomic(server: FakeServer, store: RestRegistryStore) -> None:
    # Documented: a move that lands between the read and the write is not caught.
    server.aliases["champion"] = 1
    server.before_write = lambda: server.aliases.update(champion=3)
    store.set_registered_model_alias("churn", "champion", 2, expected_version=1)
    assert server.aliases == {"champion": 2}
