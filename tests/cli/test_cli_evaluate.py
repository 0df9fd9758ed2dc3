"""``pyfunc-ops evaluate``: the evaluation gate from a shell, its flags (one per request
field), its exit code on a failed verdict, and ``describe`` showing the recorded metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cli_run import run_cli
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from pyfunc_ops import sklearn as pyfunc_sklearn
from pyfunc_ops.cli import build_parser, job_options, main
from pyfunc_ops.jobs.evaluation import EvaluateRequest
from pyfunc_ops.jobs.request import field_names, required_fields


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(100, 2)), columns=["a", "b"])
    y = 2 * x["a"] + x["b"]
    pyfunc_sklearn.log_model(DummyRegressor().fit(x, y), "model", registered_model_name="house")
    good = pyfunc_sklearn.log_model(
        LinearRegression().fit(x, y), "model", registered_model_name="house"
    )
    x.assign(price=y).to_csv(tmp_path / "holdout.csv", index=False)
    return {"data": str(tmp_path / "holdout.csv"), "good": good}


def test_evaluate_flags_are_the_request_fields() -> None:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = commands.choices["evaluate"]
    flags = {a.dest for a in parser._actions if not isinstance(a, argparse._HelpAction)}
    assert flags - {"json"} == set(field_names(EvaluateRequest))
    required = {a.dest for a in parser._actions if a.required}
    assert required == set(required_fields(EvaluateRequest))
    args = build_parser().parse_args(["evaluate", "-m", "m", "-d", "d", "--target", "y"])
    assert job_options(args, EvaluateRequest) == {"model_uri": "m", "data_url": "d", "target": "y"}


def test_evaluate_prints_the_verdict_and_describe_shows_the_metrics(
    capsys: pytest.CaptureFixture[str], models: dict[str, Any]
) -> None:
    code, out, err = run_cli(
        capsys,
        *("evaluate", "-m", "models:/house/2", "-d", models["data"], "--target", "price"),
        *("--baseline", "models:/house/1", "--no-plot"),
        *("--thresholds", '{"root_mean_squared_error": {"min_relative_change": 0.5}}'),
    )
    assert code == 0, err
    assert "verdict: passed (100 rows)" in out
    assert "root_mean_squared_error" in out and "models:/house/1" in out
    assert "report: " in out and out.strip().endswith("evaluation/report.json")
    code, out, err = run_cli(capsys, "describe", "models:/house/2", "--json")
    assert code == 0, err
    described = json.loads(out)
    assert "root_mean_squared_error" in json.dumps(described)


def test_a_failed_verdict_exits_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], models: dict[str, Any]
) -> None:
    argv = ["evaluate", "-m", "models:/house/1", "-d", models["data"], "--target", "price"]
    argv += ["--baseline", "models:/house/2", "--no-plot", "--thresholds"]
    argv += ['{"r2_score": {"min_absolute_change": 0.01}}']
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert "pyfunc-ops: error: model 'models:/house/1' failed its evaluation" in err
    assert "r2_score=" in err and out == ""
    code, out, err = run_cli(capsys, *argv, "--on-failure", "continue", "--json")
    assert code == 0, err
    verdict = json.loads(out)
    assert verdict["passed"] is False and verdict["baseline"]["version"] == 2


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [("{nope", "not valid JSON"), ("[1]", "must be a JSON object of metric names")],
)
def test_bad_thresholds_are_usage_errors(
    capsys: pytest.CaptureFixture[str], thresholds: str, message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "-m", "m", "-d", "d", "--target", "y", "--thresholds", thresholds])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
