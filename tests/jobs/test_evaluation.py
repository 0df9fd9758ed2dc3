"""The evaluation gate: metrics of a registered model on a labelled dataset streamed in
batches, MLflow's MetricThreshold semantics against a baseline, and what it records (run
metrics, version tags, the JSON + PNG report)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops.errors import (
    InputNotFoundError,
    InvalidParameterError,
    LoaderError,
    ModelValidationError,
)
from pyfunc_ops.jobs.evaluation import EvaluateRequest, evaluate_model
from pyfunc_ops.jobs.thresholds import MetricThreshold, check_thresholds, parse_thresholds
from pyfunc_ops.tracking import TrackingClient

FEATURES = ["f0", "f1"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _regression_data(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 0.1 * rng.normal(size=rows)
    return pd.DataFrame(x, columns=FEATURES).assign(target=y)


def _register(estimator: Any, name: str) -> Any:
    from pyfunc_ops import sklearn

    return sklearn.log_model(estimator, "model", registered_model_name=name)


@pytest.fixture
def regressors(tmp_path: Path) -> dict[str, Any]:
    """Version 1 (a poor model, the champion) and version 2 (a good one) of ``ridge``, and
    the holdout as two Parquet files."""
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    train = _regression_data(seed=1)
    poor = _register(DummyRegressor().fit(train[FEATURES], train["target"]), "ridge")
    good = _register(LinearRegression().fit(train[FEATURES], train["target"]), "ridge")
    TrackingClient().set_registered_model_alias("ridge", "champion", 1)
    holdout = _regression_data(seed=2)
    folder = tmp_path / "holdout"
    folder.mkdir()
    holdout.iloc[:120].to_parquet(folder / "a.parquet", index=False)
    holdout.iloc[120:].to_parquet(folder / "b.parquet", index=False)
    return {"poor": poor, "good": good, "data": str(folder), "frame": holdout}


# -- thresholds --------------------------------------------------------------------------


def test_threshold_semantics_follow_mlflow() -> None:
    bounds = parse_thresholds(
        {
            "r2_score": {"threshold": 0.5},
            "root_mean_squared_error": {"threshold": 1.0, "min_absolute_change": 0.125},
            "accuracy_score": MetricThreshold(min_relative_change=0.5),
        }
    )
    # Equality passes (>= / <=), as in MLflow.
    checks = check_thresholds(
        bounds,
        {"r2_score": 0.5, "root_mean_squared_error": 0.875, "accuracy_score": 0.75},
        {"root_mean_squared_error": 1.0, "accuracy_score": 0.5},
    )
    assert [c.passed for c in checks] == [True, True, True]
    checks = check_thresholds(
        bounds,
        {"r2_score": 0.49, "root_mean_squared_error": 0.95, "accuracy_score": 0.74},
        {"root_mean_squared_error": 1.0, "accuracy_score": 0.5},
    )
    assert [c.passed for c in checks] == [False, False, False]
    assert checks[0].failures == ["r2_score=0.49 is not >= threshold 0.5"]
    assert "baseline 1 - min_absolute_change 0.125" in checks[1].failures[0]
    assert "is not >= 0.75" in checks[2].failures[0]


def test_change_thresholds_need_a_baseline_and_a_zero_baseline_compares_plainly() -> None:
    bounds = parse_thresholds({"mean_absolute_error": {"min_relative_change": 0.5}})
    assert check_thresholds(bounds, {"mean_absolute_error": 9.0}, None)[0].passed
    assert check_thresholds(bounds, {"mean_absolute_error": 0.0}, {"mean_absolute_error": 0})[
        0
    ].passed
    check = check_thresholds(bounds, {"mean_absolute_error": 0.1}, {"mean_absolute_error": 0})[0]
    assert check.failures == [
        "mean_absolute_error=0.1 is not <= 0 (baseline 0 changed by min_relative_change 0.5)"
    ]


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"r2_score": {"min_absolute_change": -1}}, "min_absolute_change must be a positive"),
        ({"r2_score": {"min_relative_change": 2}}, "min_relative_change must be between 0 and 1"),
        ({"r2_score": {"threshold": "high"}}, "threshold must be a finite number"),
        ({"r2_score": {"minimum": 1}}, r"unknown keys \['minimum'\]"),
        ({"r2_score": 0.5}, "must be a MetricThreshold or a mapping"),
        ({"my_metric": {"threshold": 1}}, "give greater_is_better"),
        ([1], "thresholds must map metric names"),
    ],
)
def test_bad_thresholds_are_refused_before_anything_loads(thresholds: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        EvaluateRequest(model_uri="m", data_url="d", target="y", thresholds=thresholds)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model_type": "ranker"}, "model_type must be one of"),
        ({"on_failure": "explode"}, "on_failure must be one of"),
        ({"baseline_metrics": "guess"}, "baseline_metrics must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive"),
        ({"custom_metrics": "pkg:f"}, "custom_metrics must be a list"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        EvaluateRequest(model_uri="m", data_url="d", target="y", **options)


def test_unknown_and_missing_options_name_the_job() -> None:
    with pytest.raises(InvalidParameterError, match=r"evaluate_model: unknown option\(s\)"):
        evaluate_model("m", "d", "y", treshold=1)


# -- the job -----------------------------------------------------------------------------


def test_a_better_candidate_passes_and_everything_is_recorded(regressors: dict[str, Any]) -> None:
    result = evaluate_model(
        "models:/ridge/latest",
        regressors["data"],
        "target",
        batch_size=50,
        baseline_model_uri="models:/ridge@champion",
        thresholds={
            "root_mean_squared_error": {"threshold": 0.5, "min_relative_change": 0.5},
            "r2_score": {"threshold": 0.9},
        },
    )
    assert result.passed and result.failures == []
    # Pinned to the version the URI named when the job started.
    assert (result.model_uri, result.version) == ("models:/ridge/2", 2)
    assert result.baseline is not None and result.baseline["model_uri"] == "models:/ridge/1"
    assert result.rows == 300
    frame = regressors["frame"]
    predicted = np.asarray(_load("models:/ridge/2").predict(frame[FEATURES])).ravel()
    good_rmse = float(np.sqrt(np.mean((predicted - frame["target"].to_numpy()) ** 2)))
    assert result.metrics["root_mean_squared_error"] == pytest.approx(good_rmse)
    assert result.metrics["example_count"] == 300
    assert result.baseline["metrics"]["root_mean_squared_error"] > 1.0

    client = TrackingClient()
    run = client.get_run(regressors["good"].run_id)
    assert run.data.metrics["root_mean_squared_error"] == pytest.approx(good_rmse)
    assert set(run.data.metrics) >= {"r2_score", "mean_absolute_error", "max_error"}
    version = client.get_model_version("ridge", 2)
    assert version.tags["pyfunc_ops.eval.passed"] == "true"
    assert version.tags["pyfunc_ops.eval.baseline"] == "models:/ridge/1"
    assert float(version.tags["pyfunc_ops.eval.root_mean_squared_error"]) == pytest.approx(
        good_rmse, rel=1e-5
    )
    assert result.report_uri == f"{run.info.artifact_uri}/evaluation/report.json"
    report = json.loads(Path(result.report_uri).read_text())
    assert report["passed"] is True and report["metrics"] == result.metrics
    assert Path(str(result.plot_uri)).read_bytes().startswith(PNG_SIGNATURE)
    assert result.to_dict()["checks"][0]["metric"] == "root_mean_squared_error"


def _load(uri: str) -> Any:
    from pyfunc_ops.pyfunc import load_model

    return load_model(uri)


def test_a_worse_candidate_fails_after_recording_its_metrics(regressors: dict[str, Any]) -> None:
    client = TrackingClient()
    client.set_registered_model_alias("ridge", "champion", 2)
    with pytest.raises(
        ModelValidationError,
        match=r"model 'models:/ridge/1' failed its evaluation on .*root_mean_squared_error=.* "
        r"is not <= .*min_absolute_change 0.01.*Keep the current model",
    ) as info:
        evaluate_model(
            "models:/ridge/1",
            regressors["data"],
            "target",
            baseline_model_uri="models:/ridge@champion",
            thresholds={"root_mean_squared_error": {"min_absolute_change": 0.01}},
            plot=False,
        )
    assert info.value.result["passed"] is False
    assert client.get_model_version("ridge", 1).tags["pyfunc_ops.eval.passed"] == "false"
    assert "root_mean_squared_error" in client.get_run(regressors["poor"].run_id).data.metrics
    # on_failure="continue": the same verdict, returned.
    result = evaluate_model(
        "models:/ridge/1",
        regressors["data"],
        "target",
        baseline_model_uri="models:/ridge@champion",
        thresholds={"root_mean_squared_error": {"min_absolute_change": 0.01}},
        on_failure="continue",
        log_to_run=False,
    )
    assert not result.passed and result.report_uri is None


def test_the_recorded_metrics_of_the_baseline(regressors: dict[str, Any], tmp_path: Path) -> None:
    # The champion's own evaluation records its metrics on its run ...
    evaluate_model("models:/ridge@champion", regressors["data"], "target", plot=False)
    # ... which a later evaluation compares with, without loading the champion.
    result = evaluate_model(
        "models:/ridge/2",
        regressors["data"],
        "target",
        baseline_model_uri="models:/ridge@champion",
        baseline_metrics="recorded",
        thresholds={"r2_score": {"min_absolute_change": 0.5}},
        report_url=str(tmp_path / "report"),
    )
    assert result.passed and result.baseline is not None
    assert result.baseline["metrics_from"] == "recorded"
    assert result.report_uri == str(tmp_path / "report" / "report.json")
    with pytest.raises(InvalidParameterError, match=r"has no recorded metrics \['dist'\]"):
        evaluate_model(
            "models:/ridge/1",
            regressors["data"],
            "target",
            baseline_model_uri="models:/ridge/2",
            baseline_metrics="recorded",
            custom_metrics=["math:dist"],
            thresholds={"dist": {"threshold": 0, "greater_is_better": True}},
            log_to_run=False,
        )


def test_no_champion_yet_means_no_baseline(regressors: dict[str, Any]) -> None:
    result = evaluate_model(
        "models:/ridge/2",
        regressors["data"],
        "target",
        baseline_model_uri="models:/ridge@nobody",
        thresholds={"r2_score": {"threshold": 0.9, "min_absolute_change": 1.0}},
        log_to_run=False,
    )
    assert result.passed and result.baseline is None


def test_a_classifier_on_csv_with_a_custom_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    (tmp_path / "team_metrics.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            def false_positives(y_true, y_pred):
                return float(np.sum((y_pred == 1) & (y_true == 0)))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    frame = pd.DataFrame(x, columns=FEATURES).assign(label=(x[:, 0] + x[:, 1] > 0).astype(int))
    info = _register(LogisticRegression().fit(frame[FEATURES], frame["label"]), "churn")
    frame.to_csv(tmp_path / "holdout.csv", index=False)
    result = evaluate_model(
        f"runs:/{info.run_id}/model",
        str(tmp_path / "holdout.csv"),
        "label",
        model_type="classifier",
        custom_metrics=["team_metrics:false_positives"],
        thresholds={
            "accuracy_score": {"threshold": 0.9},
            "false_positives": {"threshold": 20, "greater_is_better": False},
        },
    )
    assert result.passed, result.failures
    assert set(result.metrics) == {
        "example_count",
        "accuracy_score",
        "precision_score",
        "recall_score",
        "f1_score",
        "false_positives",
    }
    # A runs:/ URI: metrics go to that run, no version to tag.
    assert result.run_id == info.run_id and result.version is None
    assert (
        TrackingClient().get_run(info.run_id).data.metrics["false_positives"]
        == (result.metrics["false_positives"])
    )
    assert Path(str(result.plot_uri)).read_bytes().startswith(PNG_SIGNATURE)


def test_batches_do_not_change_the_metrics(regressors: dict[str, Any]) -> None:
    one = evaluate_model("models:/ridge/2", regressors["data"], "target", log_to_run=False)
    many = evaluate_model(
        "models:/ridge/2", regressors["data"], "target", batch_size=7, log_to_run=False
    )
    assert many.metrics == pytest.approx(one.metrics)


def test_data_errors(regressors: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"has no label column 'y'; its columns"):
        evaluate_model("models:/ridge/2", regressors["data"], "y", log_to_run=False)
    with pytest.raises(InvalidParameterError, match=r"model input columns \['nope'\] are not"):
        evaluate_model(
            "models:/ridge/2", regressors["data"], "target", columns=["nope"], log_to_run=False
        )
    with pytest.raises(InvalidParameterError, match="leave it unset to pass every column but the"):
        evaluate_model(
            "models:/ridge/2", regressors["data"], "target", columns=["nope"], log_to_run=False
        )
    with pytest.raises(InputNotFoundError, match="does not exist"):
        evaluate_model("models:/ridge/2", str(tmp_path / "missing.parquet"), "target")
    empty = tmp_path / "empty.parquet"
    regressors["frame"].iloc[:0].to_parquet(empty, index=False)
    with pytest.raises(InvalidParameterError, match="has no rows"):
        evaluate_model("models:/ridge/2", str(empty), "target", log_to_run=False)


def test_custom_metric_errors(
    regressors: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad_metrics.py").write_text("def nothing(y_true, y_pred):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidParameterError, match="is not a dotted path"):
        evaluate_model("models:/ridge/2", regressors["data"], "target", custom_metrics=["x"])
    with pytest.raises(LoaderError, match="cannot import module 'no_such_module_here'"):
        evaluate_model(
            "models:/ridge/2",
            regressors["data"],
            "target",
            custom_metrics=["no_such_module_here:f"],
        )
    with pytest.raises(InvalidParameterError, match="module 'math' has no function 'nope'"):
        evaluate_model(
            "models:/ridge/2", regressors["data"], "target", custom_metrics=["math:nope"]
        )
    with pytest.raises(InvalidParameterError, match="custom metric 'nothing' returned None"):
        evaluate_model(
            "models:/ridge/2",
            regressors["data"],
            "target",
            custom_metrics=["bad_metrics:nothing"],
            log_to_run=False,
        )
    with pytest.raises(InvalidParameterError, match="did not compute"):
        evaluate_model(
            "models:/ridge/2",
            regressors["data"],
            "target",
            thresholds={"accuracy_score": {"threshold": 1}},
            log_to_run=False,
        )


def test_the_plot_without_matplotlib_says_what_to_install(
    regressors: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(LoaderError, match=r"install 'pyfunc-ops\[evaluate\]'.*plot=False"):
        evaluate_model("models:/ridge/2", regressors["data"], "target")
    assert evaluate_model("models:/ridge/2", regressors["data"], "target", plot=False).passed


def test_json_lines_at_an_fsspec_url(regressors: dict[str, Any]) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/evaluation/holdout.jsonl", "w") as fh:
        fh.write(regressors["frame"].to_json(orient="records", lines=True))
    result = evaluate_model(
        "models:/ridge/2", "memory:///evaluation/holdout.jsonl", "target", log_to_run=False
    )
    assert result.rows == 300 and result.metrics["r2_score"] > 0.99
