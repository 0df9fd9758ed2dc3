"""The ``pyfunc-ops`` command: help everywhere, exit codes, one-line user errors, describe,
predict (Parquet, CSV, JSON lines, local and S3) and the registry and run listings."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cli_run import help_text, run_cli
from sklearn.linear_model import LinearRegression

import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import tracking
from pyfunc_ops.cli import build_parser, job_options, main
from pyfunc_ops.jobs.request import field_names, option_defaults, required_fields
from pyfunc_ops.jobs.scoring import ScoreFilesRequest
from pyfunc_ops.storage.filesystem import get_filesystem

X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [0.0, 1.0, 0.0, 1.0, 1.0]})


def _expected(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(2 * frame["a"] + frame["b"])


@pytest.fixture
def registry() -> dict[str, Any]:
    """Registered model 'churn': v1 and v2 (y = 2a + b), logged in two runs."""
    estimator = LinearRegression().fit(X, _expected(X))
    v1 = pyfunc_sklearn.log_model(estimator, "model", registered_model_name="churn")
    v2 = pyfunc_sklearn.log_model(
        estimator, "model", registered_model_name="churn", input_example=X.head(2)
    )
    return {"v1": v1, "v2": v2}


# -- help and usage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        ([], "describe|predict|models|runs|--debug"),
        (["describe"], "--json"),
        (["predict"], "--input-format {parquet,csv,json}|--env-manager|--key-column"),
        (["models"], "list|versions|promote"),
        (["models", "list"], "List registered models."),
        (["models", "versions"], "List the versions of a registered model.|name"),
        (["models", "promote"], "--stage STAGE"),
        (["runs"], "list runs, newest first"),
        (["runs", "list"], "--limit"),
    ],
)
def test_help_on_every_subcommand(
    capsys: pytest.CaptureFixture[str], argv: list[str], shown: str
) -> None:
    out = help_text(capsys, argv)
    assert out.startswith(f"usage: pyfunc-ops {' '.join(argv)}".rstrip())
    for part in shown.split("|"):
        assert part in out


def test_installed_console_script() -> None:
    script = Path(sys.executable).parent / "pyfunc-ops"
    assert script.is_file(), "pyproject's [project.scripts] entry is not installed"
    done = subprocess.run(
        [str(script), "models", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: pyfunc-ops models")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "promote", "churn", "1"], "one of the arguments --alias --stage is required"),
        (
            ["models", "promote", "churn", "1", "--alias", "a", "--stage", "Staging"],
            "argument --stage: not allowed with argument --alias",
        ),
        (["models", "promote", "churn", "one", "--alias", "a"], "invalid int value: 'one'"),
        (["predict", "-m", "m", "-i", "in.csv"], "the following arguments are required: -o"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


# -- user errors: one line, exit 1, no traceback ----------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["describe", "/no/such/model"], "No model at '/no/such/model': expected an MLmodel"),
        (["describe", "foo:bar"], "Invalid model URI 'foo:bar'"),
        (["describe", "models:/nope/1"], "registered model 'nope' does not exist; registered "),
        (["describe", "models:/churn/9"], "'churn' has no version 9; versions that exist: 1, 2"),
        (["describe", "models:/churn@champion"], "'churn' has no alias 'champion'"),
        (["describe", "runs:/feedbeef/model"], "run 'feedbeef' does not exist"),
        (["models", "versions", "nope"], "registered model 'nope' does not exist"),
        (["models", "promote", "churn", "7", "--alias", "x"], "'churn' has no version 7"),
        (["models", "promote", "churn", "1", "--stage", "Live"], "stage 'Live' is not a stage"),
        (["models", "promote", "churn", "1", "--alias", "a b"], "alias 'a b' for registered"),
        (["predict", "-m", "models:/nope/1", "-i", "x.csv", "-o", "y.parquet"], "does not exist"),
    ],
)
def test_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], registry: dict[str, Any], argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("pyfunc-ops: error:")]
    assert len(lines) == 1 and message in lines[0]


def test_debug_shows_the_traceback(registry: dict[str, Any]) -> None:
    from pyfunc_ops.errors import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError, match="'nope' does not exist"):
        main(["--debug", "describe", "models:/nope/1"])


# -- describe ---------------------------------------------------------------------------


def test_describe_json(capsys: pytest.CaptureFixture[str], registry: dict[str, Any]) -> None:
    tracking.TrackingClient().set_registered_model_alias("churn", "champion", 2)
    tracking.TrackingClient().transition_model_version_stage("churn", 2, "Staging")
    code, out, _ = run_cli(capsys, "describe", "models:/churn@champion", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["flavors"] == ["python_function", "sklearn"]
    assert info["loader_module"] == "mlflow.sklearn"
    assert info["run_id"] == registry["v2"].run_id
    assert info["model_uuid"] == registry["v2"].model_uuid
    assert [c["name"] for c in info["signature"]["inputs"]] == ["a", "b"]
    assert [c["type"] for c in info["signature"]["inputs"]] == ["double", "double"]
    env = info["environment"]
    assert env["python_version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert any(r.startswith("scikit-learn==") for r in env["requirements"])
    assert {"MLmodel", "model.skops", "requirements.txt", "python_env.yaml"} <= set(info["files"])
    local = Path(info["local_path"])
    assert info["size_bytes"] == sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
    digest = tracking.TrackingClient().get_model_version("churn", 2).digest
    assert digest is not None and digest.startswith("sha256:")
    assert info["registry"] == {
        "name": "churn",
        "version": 2,
        "stage": "Staging",
        "aliases": ["champion"],
        "digest": digest,
    }
    assert (info["digest"], info["verified"]) == (digest, True)


def test_describe_text_of_a_run_artifact(
    capsys: pytest.CaptureFixture[str], registry: dict[str, Any]
) -> None:
    code, out, _ = run_cli(capsys, "describe", registry["v1"].model_uri)
    assert code == 0
    assert "flavors:        python_function, sklearn" in out
    assert "loader module:  mlflow.sklearn" in out
    assert "registry:" not in out  # a runs:/ URI names no registered version
    assert "inputs:" not in out  # v1 was logged without a signature
    assert "  model.skops" in out.splitlines()
    assert f"digest:         {registry['v1'].digest} (files verified)" in out


def test_describe_says_when_a_version_has_no_digest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A model without a manifest (as MLflow writes them) registers and describes."""
    from pyfunc_ops.models.manifest import MANIFEST_FILE_NAME

    model = tmp_path / "mlflow-like"
    pyfunc_sklearn.save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), model)
    (model / MANIFEST_FILE_NAME).unlink()
    version = tracking.TrackingClient().register_model(str(model), "plain")
    assert version.digest is None
    code, out, _ = run_cli(capsys, "describe", "models:/plain/1")
    assert code == 0
    assert "digest:         none recorded (no pyfunc_ops manifest" in out
    code, out, _ = run_cli(capsys, "models", "versions", "plain")
    assert out.splitlines()[1].split()[-2:] == ["none", str(model)]


# -- registry and runs ------------------------------------------------------------------


def test_models_list_versions_promote(
    capsys: pytest.CaptureFixture[str], registry: dict[str, Any]
) -> None:
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["NAME", "LATEST", "ALIASES", "UPDATED"]
    assert row.split()[:3] == ["churn", "2", "-"]

    assert run_cli(capsys, "models", "promote", "churn", "1", "--alias", "champion")[1] == (
        "churn: alias 'champion' -> version 1\n"
    )
    code, out, _ = run_cli(capsys, "models", "promote", "churn", "2", "--stage", "production")
    assert (code, out) == (0, "churn: version 2 -> stage Production\n")
    code, out, _ = run_cli(
        capsys, "models", "promote", "churn", "1", "--stage", "Production", "--archive-existing"
    )
    assert code == 0
    client = tracking.TrackingClient()
    assert client.get_model_version_by_alias("churn", "champion").version == 1
    assert client.get_model_version("churn", 1).current_stage == "Production"
    assert client.get_model_version("churn", 2).current_stage == "Archived"

    code, out, _ = run_cli(capsys, "models", "versions", "churn")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["VERSION", "STAGE", "ALIASES", "RUN", "CREATED", "DIGEST", "SOURCE"]
    assert [r[:4] for r in rows[1:]] == [
        ["2", "Archived", "-", registry["v2"].run_id],
        ["1", "Production", "champion", registry["v1"].run_id],
    ]
    assert rows[2][-1] == registry["v1"].artifact_uri
    assert rows[2][-2] == registry["v1"].digest[:19]

    assert run_cli(capsys, "models", "list")[1].splitlines()[1].split()[:3] == [
        "churn",
        "2",
        "champion->v1",
    ]


def test_empty_registry_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "models", "list")[:2] == (0, "no registered models\n")
    assert run_cli(capsys, "runs", "list")[:2] == (0, "no runs\n")


def test_runs_list(capsys: pytest.CaptureFixture[str], registry: dict[str, Any]) -> None:
    code, out, _ = run_cli(capsys, "runs", "list")
    rows = [line.split() for line in out.splitlines()]
    header = ["RUN", "NAME", "STATUS", "STARTED", "ENDED", "PARAMS", "METRICS"]
    assert code == 0 and rows[0] == header
    # Newest first.
    assert [(r[0], r[2]) for r in rows[1:]] == [
        (registry["v2"].run_id, "FINISHED"),
        (registry["v1"].run_id, "FINISHED"),
    ]
    assert len(run_cli(capsys, "runs", "list", "--limit", "1")[1].splitlines()) == 2


# -- predict ----------------------------------------------------------------------------


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)


@pytest.mark.parametrize(
    ("name", "fmt", "extra"),
    [
        ("in.parquet", "parquet", []),
        ("in.csv", "csv", []),
        ("in.jsonl", "json", []),
        ("records.txt", "json", ["--input-format", "json"]),
    ],
)
def test_predict_formats(
    capsys: pytest.CaptureFixture[str],
    registry: dict[str, Any],
    tmp_path: Path,
    name: str,
    fmt: str,
    extra: list[str],
) -> None:
    data = pd.DataFrame({"id": range(7), "a": np.arange(7.0), "b": [0.0, 1.0] * 3 + [0.0]})
    _write(data, tmp_path / name, fmt)
    out_path = tmp_path / "out" / "scores.parquet"
    code, out, err = run_cli(
        capsys,
        "predict",
        *("-m", "models:/churn/2", "-i", str(tmp_path / name), "-o", str(out_path)),
        *("--batch-size", "3", "--key-column", "id"),
        *extra,
    )
    assert code == 0, err
    assert out == f"wrote 7 predictions for 7 rows to {out_path}\n"
    scored = pd.read_parquet(out_path)
    assert list(scored.columns) == ["id", "prediction"]
    assert scored["id"].tolist() == list(range(7))
    # v2's signature (a, b) selects the model's columns; 'id' is only copied through.
    np.testing.assert_allclose(scored["prediction"], _expected(data), atol=1e-9)


def test_predict_keep_input(
    capsys: pytest.CaptureFixture[str], registry: dict[str, Any], tmp_path: Path
) -> None:
    X.to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run_cli(
        capsys,
        "predict",
        *("-m", registry["v1"].model_uri, "-i", str(tmp_path / "in.csv")),
        *("-o", str(tmp_path / "o.parquet"), "--keep-input"),
    )
    assert code == 0, err
    scored = pd.read_parquet(tmp_path / "o.parquet")
    assert list(scored.columns) == ["a", "b", "prediction"]
    np.testing.assert_allclose(scored["prediction"], _expected(X), atol=1e-9)


def _predict_parser() -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["predict"]


def test_predict_flags_are_the_request_fields_with_its_defaults() -> None:
    """Every field of ScoreFilesRequest has a flag (dest = the field) and the command has no
    defaults of its own: a new field without a flag, or a second default, fails here."""
    flags = {
        a.dest: a for a in _predict_parser()._actions if not isinstance(a, argparse._HelpAction)
    }
    assert set(flags) == set(field_names(ScoreFilesRequest))
    assert isinstance(flags["trust_remote_code"], argparse._StoreTrueAction)
    assert "--trust-remote-code" in flags["trust_remote_code"].option_strings
    assert all(a.default is argparse.SUPPRESS for a in flags.values())
    assert {d for d, a in flags.items() if a.required} == set(required_fields(ScoreFilesRequest))
    args = build_parser().parse_args(["predict", "-m", "m", "-i", "in", "-o", "out"])
    options = job_options(args, ScoreFilesRequest)
    assert options == {"model_uri": "m", "input_url": "in", "output_url": "out"}
    # So the command's batch size is the library's (it was 100,000 against 10,000).
    assert (
        ScoreFilesRequest(**options).batch_size == option_defaults(ScoreFilesRequest)["batch_size"]
    )
    args = build_parser().parse_args(
        ["predict", "-m", "m", "-i", "in", "-o", "out", "--keep-input", "--columns", "a", "b"]
    )
    assert job_options(args, ScoreFilesRequest)["keep_columns"] == "all"
    assert job_options(args, ScoreFilesRequest)["columns"] == ["a", "b"]


def test_predict_columns_selects_the_model_input(
    capsys: pytest.CaptureFixture[str], registry: dict[str, Any], tmp_path: Path
) -> None:
    X.assign(noise=9.0).to_csv(tmp_path / "in.csv", index=False)
    code, _, err = run_cli(
        capsys,
        "predict",
        *("-m", registry["v1"].model_uri, "-i", str(tmp_path / "in.csv")),
        *("-o", str(tmp_path / "o.parquet"), "--columns", "a", "b"),
    )
    assert code == 0, err
    scored = pd.read_parquet(tmp_path / "o.parquet")
    np.testing.assert_allclose(scored["prediction"], _expected(X), atol=1e-9)


def test_predict_bad_batch_size_is_a_user_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, "predict", "-m", "m", "-i", str(tmp_path), "-o", "o", "--batch-size", "0"
    )
    assert code == 1
    assert err == "pyfunc-ops: error: batch_size must be a positive number of rows; got 0.\n"


def test_predict_malformed_json_lines_is_a_user_error(
    capsys: pytest.CaptureFixture[str], registry: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "bad.jsonl").write_text('{"a": 1.0, "b": 0.0}\nnot json\n')
    code, out, err = run_cli(
        capsys,
        "predict",
        *("-m", "models:/churn/1", "-i", str(tmp_path / "bad.jsonl"), "-o", str(tmp_path / "o")),
    )
    assert (code, out) == (1, "")
    assert "Traceback" not in err
    assert "pyfunc-ops: error: cannot read scoring input" in err
    assert "as JSON-lines" in err
    assert not list(tmp_path.glob("o*"))  # nothing half-written


def test_predict_s3_to_s3(
    capsys: pytest.CaptureFixture[str], registry: dict[str, Any], s3_bucket: str
) -> None:
    fs, bucket = get_filesystem(s3_bucket)
    buffer = io.BytesIO()
    X.to_json(buffer, orient="records", lines=True)
    fs.pipe(f"{bucket}/input/part-0.jsonl", buffer.getvalue())
    fs.pipe(f"{bucket}/input/part-1.jsonl", buffer.getvalue())
    code, out, err = run_cli(
        capsys,
        "predict",
        *("-m", "models:/churn/1", "-i", f"{s3_bucket}/input/"),
        *("-o", f"{s3_bucket}/scores/"),
    )
    assert code == 0, err
    assert out == f"wrote 10 predictions for 10 rows to {s3_bucket}/scores/predictions.parquet\n"
    with fs.open(f"{bucket}/scores/predictions.parquet", "rb") as fh:
        scored = pd.read_parquet(fh)
    np.testing.assert_allclose(scored["prediction"], np.tile(_expected(X), 2), atol=1e-9)
