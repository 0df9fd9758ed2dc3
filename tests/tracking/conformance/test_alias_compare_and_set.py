"""``set_registered_model_alias(..., expected_version=...)``: the compare-and-set that makes a
promotion safe, on every backend (the conformance ``tracking_uri`` fixture runs each test on
each). Two promotions released at once by a barrier: exactly one moves the alias, the other
is told who won (atomic on the SQL stores only)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pyfunc_ops.errors import AliasConflictError, InvalidParameterError, PyfuncOpsError
from pyfunc_ops.tracking import TrackingClient
from pyfunc_ops.tracking.store import ALIAS_ABSENT, validate_expected_version

from .conftest import model_source, skip_on

CONTENDERS = 6


def _model(client: TrackingClient, versions: int) -> None:
    for number in range(1, versions + 1):
        client.register_model(model_source(client, f"/models/churn/{number}"), "churn")


def _alias(client: TrackingClient) -> int | None:
    return client.get_registered_model("churn").aliases.get("champion")


def test_expected_version_moves_the_alias_only_from_where_it_was(client: TrackingClient) -> None:
    _model(client, 3)
    client.set_registered_model_alias("churn", "champion", 1, expected_version=0)
    assert _alias(client) == 1
    client.set_registered_model_alias("churn", "champion", 2, expected_version=1)
    assert _alias(client) == 2
    with pytest.raises(
        AliasConflictError,
        match=r"alias 'champion' of registered model 'churn' was expected at version 1 but "
        r"points at version 2: someone moved it first, so it was not moved to version 3.*"
        r"expected_version=2",
    ):
        client.set_registered_model_alias("churn", "champion", 3, expected_version=1)
    assert _alias(client) == 2  # unchanged
    with pytest.raises(AliasConflictError, match="was expected not to exist yet but points at"):
        client.set_registered_model_alias("churn", "champion", 3, expected_version=0)
    # Templated values arrive as strings.
    client.set_registered_model_alias("churn", "champion", "3", expected_version="2")
    assert _alias(client) == 3
    # None (the default) moves it whatever it points at.
    client.set_registered_model_alias("churn", "champion", 1)
    assert _alias(client) == 1


def test_a_retried_promotion_is_idempotent(client: TrackingClient) -> None:
    _model(client, 2)
    client.set_registered_model_alias("churn", "champion", 1, expected_version=ALIAS_ABSENT)
    client.set_registered_model_alias("churn", "champion", 2, expected_version=1)
    # The task's first try moved it, then failed: the retry expects 1 and finds its own 2.
    client.set_registered_model_alias("churn", "champion", 2, expected_version=1)
    assert _alias(client) == 2


def test_expected_version_of_a_missing_alias(client: TrackingClient) -> None:
    _model(client, 2)
    with pytest.raises(
        AliasConflictError,
        match=r"was expected at version 1 but does not exist.*expected_version=0",
    ):
        client.set_registered_model_alias("churn", "champion", 2, expected_version=1)
    assert _alias(client) is None


def test_other_aliases_and_models_are_untouched(client: TrackingClient) -> None:
    _model(client, 2)
    client.register_model(model_source(client, "/models/fraud/1"), "fraud")
    client.set_registered_model_alias("fraud", "champion", 1)
    client.set_registered_model_alias("churn", "challenger", 2)
    client.set_registered_model_alias("churn", "champion", 1, expected_version=0)
    assert client.get_registered_model("churn").aliases == {"challenger": 2, "champion": 1}
    assert client.get_registered_model("fraud").aliases == {"champion": 1}


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("None", None), (0, 0), ("4", 4), (7, 7)]
)
def test_validate_expected_version(value: Any, expected: int | None) -> None:
    assert validate_expected_version(value, "churn", "champion") == expected


@pytest.mark.parametrize("value", [-1, "v2", True, 1.5, "latest"])
def test_invalid_expected_version_is_refused(client: TrackingClient, value: Any) -> None:
    _model(client, 1)
    with pytest.raises(
        InvalidParameterError,
        match=r"expected_version for alias 'champion' of registered model 'churn' must be None "
        r"\(no check\), 0 \(the alias must not exist yet\)",
    ):
        client.set_registered_model_alias("churn", "champion", 1, expected_version=value)


def test_missing_version_is_reported_before_the_comparison(client: TrackingClient) -> None:
    _model(client, 1)
    with pytest.raises(PyfuncOpsError, match="version 9"):
        client.set_registered_model_alias("churn", "champion", 9, expected_version=0)


def _race(tracking_uri: str, expected: int, targets: list[int]) -> tuple[list[int], list[str]]:
    """Promote every target at once, all expecting ``expected``; (winners, conflicts)."""
    barrier = threading.Barrier(len(targets))
    winners: list[int] = []
    conflicts: list[str] = []
    errors: list[BaseException] = []

    def promote(version: int) -> None:
        client = TrackingClient(tracking_uri)  # one client (and connection) per "worker"
        client.get_registered_model("churn")  # opened before the start line
        barrier.wait(timeout=30)
        try:
            client.set_registered_model_alias(
                "churn", "champion", version, expected_version=expected
            )
            winners.append(version)
        except AliasConflictError as exc:
            conflicts.append(str(exc))
        except BaseException as exc:  # surfaced below: a thread cannot fail the test
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return winners, conflicts


@pytest.mark.parametrize("first_promotion", [True, False], ids=["no-champion", "champion"])
def test_concurrent_promotions_exactly_one_wins(tracking_uri: str, first_promotion: bool) -> None:
    client = TrackingClient(tracking_uri)
    skip_on(
        client,
        "mlflow",
        "MLflow's REST API has no conditional alias update, so the compare-and-set there is "
        "a read-compare-write that two racing promotions can both pass (documented on "
        "set_registered_model_alias; test_alias_compare_and_set_rest.py pins the window)",
    )
    _model(client, CONTENDERS + 1)
    if not first_promotion:
        client.set_registered_model_alias("churn", "champion", 1)
    expected = ALIAS_ABSENT if first_promotion else 1
    targets = list(range(2, CONTENDERS + 2))

    winners, conflicts = _race(tracking_uri, expected, targets)

    assert len(winners) == 1, (winners, conflicts)
    assert len(conflicts) == CONTENDERS - 1
    assert _alias(client) == winners[0]
    assert all(f"points at version {winners[0]}" in message for message in conflicts)
