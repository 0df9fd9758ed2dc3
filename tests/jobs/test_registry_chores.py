"""Registry chores as library calls: summaries, versions newest first, promote by alias or
stage, tags on a model or a version, delete with its version count."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import tracking
from pyfunc_ops.errors import InvalidParameterError, ResourceNotFoundError
from pyfunc_ops.jobs.registry_chores import (
    ModelSummary,
    delete_registered_model,
    delete_tag,
    list_model_versions,
    list_registered_models,
    promote,
    set_tag,
)

X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})


@pytest.fixture
def churn() -> None:
    estimator = LinearRegression().fit(X, 2 * X["a"] + X["b"])
    for _ in range(2):
        pyfunc_sklearn.log_model(estimator, "model", registered_model_name="churn")


def test_list_promote_tag_delete(churn: None) -> None:
    assert promote("churn", 1, alias="champion") == "champion"
    assert promote("churn", 2, stage="production") == "Production"
    (summary,) = list_registered_models()
    assert isinstance(summary, ModelSummary)
    assert (summary.name, summary.latest_version, summary.aliases) == ("churn", 2, {"champion": 1})
    assert summary.last_updated
    assert [v.version for v in list_model_versions("churn")] == [2, 1]

    client = tracking.TrackingClient()
    set_tag("churn", "team", "risk")
    set_tag("churn", "ok", "yes", version=2)
    assert client.get_registered_model("churn").tags == {"team": "risk"}
    assert client.get_model_version("churn", 2).tags == {"ok": "yes"}
    delete_tag("churn", "team")
    delete_tag("churn", "ok", version=2)
    assert client.get_registered_model("churn").tags == {}
    assert client.get_model_version("churn", 2).tags == {}

    assert delete_registered_model("churn") == 2
    assert list_registered_models() == []


def test_an_unknown_model_is_an_error_not_an_empty_list() -> None:
    with pytest.raises(ResourceNotFoundError, match="'nope' does not exist"):
        list_model_versions("nope")


@pytest.mark.parametrize("choice", [{}, {"alias": "champion", "stage": "Production"}])
def test_promote_takes_an_alias_or_a_stage(churn: None, choice: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterError, match=r"give alias .* or stage .*, one of them"):
        promote("churn", 1, **choice)
    version = tracking.TrackingClient().get_model_version("churn", 1)
    assert (version.current_stage, version.aliases) == ("None", [])  # nothing moved
