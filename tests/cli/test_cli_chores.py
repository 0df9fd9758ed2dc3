"""The daily chores on the command line: registry edits, runs show, download and copy of
models, describe's registry facts, and the global flags (--tracking-uri, --version, -v,
--debug anywhere)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cli_run import help_text, run_cli
from sklearn.linear_model import LinearRegression

import pyfunc_ops
import pyfunc_ops.sklearn as pyfunc_sklearn
from pyfunc_ops import tracking
from pyfunc_ops.cli import NO_SIGNATURE, build_parser, main, parse_duration
from pyfunc_ops.errors import InvalidParameterError, ResourceNotFoundError
from pyfunc_ops.models.manifest import read_manifest

X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})


@pytest.fixture
def churn() -> Any:
    """'churn' v1 (no signature), logged in a run with params and metrics; v2 with one."""
    estimator = LinearRegression().fit(X, 2 * X["a"] + X["b"])
    with tracking.start_run(run_name="train") as run:
        tracking.log_params({"alpha": 0.5, "solver": "lsqr"})
        tracking.log_metrics({"rmse": 0.25})
        v1 = pyfunc_sklearn.log_model(estimator, "model", registered_model_name="churn")
    v2 = pyfunc_sklearn.log_model(
        estimator, "model", registered_model_name="churn", input_example=X.head(2)
    )
    return {"run_id": run.info.run_id, "v1": v1, "v2": v2}


# -- help -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        ([], "--tracking-uri URI|--version|--progress|-v, --verbose|examples:|cache|env"),
        (["models"], "delete|rename|delete-version|set-tag|delete-tag|delete-alias|download|copy"),
        (["models", "copy"], "--to TRACKING_URI_OR_URL|examples:|digest preserved"),
        (["models", "set-tag"], "--version VERSION|examples:"),
        (["runs", "list"], "(default: 50)|examples:"),
        (["runs", "show"], "run_id|--json"),
        (["cache", "prune"], "--max-size SIZE|--older-than AGE|e.g. 10G|e.g. 7d"),
        (["env", "build"], "(default: virtualenv)|--env-manager"),
        (["predict"], "examples:|--key-column is copied to the output"),
    ],
)
def test_help_shows_defaults_and_examples(
    capsys: pytest.CaptureFixture[str], argv: list[str], shown: str
) -> None:
    out = help_text(capsys, argv)
    for part in shown.split("|"):
        assert part in out, part


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"pyfunc-ops {pyfunc_ops.__version__}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cache", "prune", "--max-size", "lots"], "size 'lots' is not a size"),
        (["env", "prune", "--older-than", "soon"], "duration 'soon' is not a duration"),
        (["models", "rename", "churn"], "the following arguments are required: new_name"),
        (["models", "copy", "models:/churn/1"], "the following arguments are required: --to"),
        (["models", "list", "--tracking-uri"], "expected one argument"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "30m", "12h", "7d", "2w")] == [
        90,
        90,
        1800,
        43200,
        604800,
        1209600,
    ]
    with pytest.raises(InvalidParameterError, match="'-1d' is not a duration"):
        parse_duration("-1d")


# -- global flags -----------------------------------------------------------------------


def test_tracking_uri_flag_anywhere_and_empty_store_named(
    capsys: pytest.CaptureFixture[str], churn: Any, tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    for argv in (
        ["--tracking-uri", other, "models", "list"],
        ["models", "list", "--tracking-uri", other],
        ["models", "list", f"--tracking-uri={other}"],
    ):
        code, out, err = run_cli(capsys, *argv)
        assert (code, out) == (0, "no registered models\n")
        assert f"read the registry at {other}" in err and "--tracking-uri" in err
    code, out, err = run_cli(capsys, "runs", "list", "--tracking-uri", other)
    assert (code, out) == (0, "no runs\n") and other in err
    # The flag is a scope for the command only: the default store still has 'churn'.
    assert "churn" in run_cli(capsys, "models", "list")[1]
    assert (
        not (tmp_path / "other.db").exists()
        or "churn" not in run_cli(capsys, "--tracking-uri", other, "models", "list")[1]
    )


def test_the_store_is_redacted_when_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "models", "versions", "x", "--tracking-uri", "postgresql://u:hunter2@127.0.0.1:9/db"
    )
    assert code == 1 and "hunter2" not in err


def test_logs_are_warnings_unless_verbose(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    churn: Any,
    tmp_path: Path,
) -> None:
    X.to_csv(tmp_path / "in.csv", index=False)
    argv = ["predict", "-m", "models:/churn/2", "-i", str(tmp_path / "in.csv")]
    caplog.set_level(logging.DEBUG, logger="")  # the root takes all: the CLI decides
    levels = {}
    for flag in ("", "-v", "--debug"):
        caplog.clear()
        out = str(tmp_path / f"out{flag}.parquet")
        assert main([*argv, "-o", out, *([flag] if flag else [])]) == 0
        levels[flag] = {r.levelname for r in caplog.records if r.name.startswith("pyfunc_ops")}
        assert (
            logging.getLogger("pyfunc_ops").level
            == {
                "": logging.WARNING,
                "-v": logging.INFO,
                "--debug": logging.DEBUG,
            }[flag]
        )
    assert "INFO" not in levels[""] and "DEBUG" not in levels[""]
    assert "INFO" in levels["-v"] and "DEBUG" not in levels["-v"]
    assert "DEBUG" in levels["--debug"]


def test_progress_flag_forces_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyfunc_ops.core import progress

    seen: list[bool] = []
    monkeypatch.setattr(
        "pyfunc_ops.cli.commands.models_list", lambda args: seen.append(progress._want_bar())
    )
    assert main(["models", "list", "--progress"]) == 0
    assert main(["models", "list"]) == 0
    assert seen == [True, False]  # pytest's stderr is not a terminal


def test_debug_after_the_subcommand(churn: Any) -> None:
    with pytest.raises(ResourceNotFoundError, match="'nope' does not exist"):
        main(["models", "versions", "nope", "--debug"])


# -- registry chores --------------------------------------------------------------------


def test_rename_tags_aliases_delete(capsys: pytest.CaptureFixture[str], churn: Any) -> None:
    client = tracking.TrackingClient()
    client.set_registered_model_alias("churn", "champion", 2)
    assert run_cli(capsys, "models", "set-tag", "churn", "team", "risk")[1] == (
        "'churn': tag team=risk\n"
    )
    code, out, _ = run_cli(capsys, "models", "set-tag", "churn", "ok", "yes", "--version", "2")
    assert (code, out) == (0, "'churn' version 2: tag ok=yes\n")
    code, out, _ = run_cli(capsys, "models", "rename", "churn", "attrition")
    assert (code, out) == (0, "renamed registered model 'churn' to 'attrition'\n")
    renamed = client.get_registered_model("attrition")
    assert renamed.tags == {"team": "risk"} and renamed.aliases == {"champion": 2}
    assert client.get_model_version("attrition", 2).tags == {"ok": "yes"}
    assert [v.version for v in client.search_model_versions(name="attrition")] == [2, 1]
    with pytest.raises(ResourceNotFoundError, match="'churn' does not exist"):
        client.get_registered_model("churn")
    # The renamed model still loads, verified against its digests.
    assert main(["describe", "models:/attrition@champion"]) == 0
    capsys.readouterr()

    assert run_cli(capsys, "models", "delete-tag", "attrition", "ok", "--version", "2")[0] == 0
    assert client.get_model_version("attrition", 2).tags == {}
    assert run_cli(capsys, "models", "delete-tag", "attrition", "team")[0] == 0
    assert client.get_registered_model("attrition").tags == {}
    code, out, _ = run_cli(capsys, "models", "delete-alias", "attrition", "champion")
    assert (code, out) == (0, "attrition: deleted alias 'champion'\n")
    code, out, _ = run_cli(capsys, "models", "delete-version", "attrition", "1")
    assert (code, out) == (0, "deleted version 1 of 'attrition' (its files stay)\n")
    assert [v.version for v in client.search_model_versions(name="attrition")] == [2]
    code, out, _ = run_cli(capsys, "models", "delete", "attrition")
    assert (code, out) == (
        0,
        "deleted registered model 'attrition' (1 versions; their files stay)\n",
    )
    assert client.search_registered_models() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "rename", "nope", "x"], "registered model 'nope' does not exist"),
        (["models", "rename", "churn", "churn"], "'churn' already exists"),
        (["models", "rename", "churn", "a/b"], "a/b"),
        (["models", "delete", "nope"], "registered model 'nope' does not exist"),
        (["models", "delete-version", "churn", "9"], "'churn' has no version 9"),
        (["models", "delete-tag", "churn", "team"], "'churn' has no tag 'team'"),
        (["models", "delete-tag", "churn", "t", "--version", "1"], "version 1 of registered"),
        (["models", "set-tag", "churn", "k", "v", "--version", "9"], "no version 9"),
        (["models", "delete-alias", "churn", "champion"], "'churn' has no alias 'champion'"),
        (["runs", "show", "feedbeef"], "run 'feedbeef' does not exist"),
        (["models", "copy", "./no/model", "--to", "sqlite:///x.db"], "needs a registered model"),
        (["models", "copy", "models:/churn/1", "--to", "/tmp/x", "--name", "n"], "--name names"),
        (["env", "build", "models:/churn/1", "--env-manager", "local"], "invalid choice"),
        (["cache", "prune"], "cache prune needs --max-size"),
        (["env", "prune"], "env prune needs --max-size"),
    ],
)
def test_chore_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], churn: Any, argv: list[str], message: str
) -> None:
    try:
        code, out, err = run_cli(capsys, *argv)
    except SystemExit as exited:  # a usage error (argparse)
        code, err = int(str(exited.code)) + 0, capsys.readouterr().err
        assert code == 2 and message in err
        return
    assert code == 1 and out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1 and message in err, err


# -- runs -------------------------------------------------------------------------------


def test_runs_list_and_show(capsys: pytest.CaptureFixture[str], churn: Any) -> None:
    code, out, _ = run_cli(capsys, "runs", "list")
    line = next(row for row in out.splitlines() if row.startswith(churn["run_id"]))
    assert "alpha=0.5,solver=lsqr" in line and "rmse=0.25" in line
    code, out, _ = run_cli(capsys, "runs", "show", churn["run_id"])
    assert code == 0
    assert "  alpha = 0.5" in out and "  rmse = 0.25" in out
    assert "  model/MLmodel  (" in out
    code, out, _ = run_cli(capsys, "runs", "show", churn["run_id"], "--json")
    facts = json.loads(out)
    assert facts["params"] == {"alpha": "0.5", "solver": "lsqr"}
    assert facts["metrics"] == {"rmse": 0.25}
    assert facts["name"] == "train"
    assert facts["tags"]["pyfunc_ops.model_digest.model"] == churn["v1"].digest
    assert "model/model.skops" in facts["artifacts"]


# -- describe ---------------------------------------------------------------------------


def test_describe_shows_source_registry_facts_and_no_signature(
    capsys: pytest.CaptureFixture[str], churn: Any
) -> None:
    client = tracking.TrackingClient()
    client.set_model_version_tag("churn", 1, "validated", "yes")
    code, out, _ = run_cli(capsys, "describe", "models:/churn/1")
    assert code == 0
    lines = out.splitlines()
    assert f"source:         {churn['v1'].artifact_uri}" in lines
    assert not any(line.startswith("local path:") for line in lines)
    assert "version tags:   validated=yes" in lines
    assert "run params:     alpha=0.5, solver=lsqr" in lines
    assert "run metrics:    rmse=0.25" in lines
    assert f"run:            {churn['run_id']}" in lines
    assert any(line.startswith("no signature    (saved without a signature;") for line in lines)
    info = json.loads(run_cli(capsys, "describe", "models:/churn/1", "--json")[1])
    assert info["source"] == churn["v1"].artifact_uri
    assert info["warnings"] == [NO_SIGNATURE]
    assert info["signature"] == {"inputs": None, "outputs": None}
    assert info["version_tags"] == {"validated": "yes"}
    assert info["registry"]["digest"] == churn["v1"].digest
    assert info["run"]["params"] == {"alpha": "0.5", "solver": "lsqr"}
    assert info["run"]["metrics"] == {"rmse": 0.25}
    info = json.loads(run_cli(capsys, "describe", "models:/churn/2", "--json")[1])
    assert [c["name"] for c in info["signature"]["inputs"]] == ["a", "b"]
    assert info["warnings"] == []
    assert info["run"]["params"] == {}
    out = run_cli(capsys, "describe", "models:/churn/2")[1]
    assert "no signature" not in out and "inputs:         a:double, b:double" in out


# -- download and copy ------------------------------------------------------------------


def test_download(capsys: pytest.CaptureFixture[str], churn: Any, tmp_path: Path) -> None:
    dest = tmp_path / "dl"
    code, out, _ = run_cli(capsys, "models", "download", "models:/churn/2", str(dest))
    assert code == 0 and f"digest {churn['v2'].digest}" in out
    manifest = read_manifest(dest)
    assert manifest is not None and manifest.digest == churn["v2"].digest
    code, _, err = run_cli(capsys, "models", "download", "models:/churn/2", str(dest))
    assert code == 1 and "is a file or a folder that is not empty" in err


def test_copy_to_another_registry_keeps_the_digest(
    capsys: pytest.CaptureFixture[str], churn: Any, tmp_path: Path
) -> None:
    client = tracking.TrackingClient()
    client.set_model_version_tag("churn", 2, "validated", "yes")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, out, err = run_cli(
        capsys,
        *("models", "copy", "models:/churn/2", "--to", other),
        *("--artifact-root", str(tmp_path / "other-artifacts")),
    )
    assert code == 0, err
    assert (
        out
        == f"copied models:/churn/2 to {other} as churn version 1 (digest {churn['v2'].digest})\n"
    )
    there = tracking.TrackingClient(tracking_uri=other)
    copied = there.get_model_version("churn", 1)
    assert copied.digest == churn["v2"].digest
    assert copied.tags == {"validated": "yes"}
    assert copied.source.startswith(str(tmp_path / "other-artifacts"))
    # It scores there, verified, with the default store untouched.
    (tmp_path / "in").mkdir()
    X.to_parquet(tmp_path / "in" / "x.parquet")
    argv = ["predict", "-m", "models:/churn/1", "-i", str(tmp_path / "in")]
    assert main([*argv, "-o", str(tmp_path / "o.parquet"), "--tracking-uri", other]) == 0
    np.testing.assert_allclose(
        pd.read_parquet(tmp_path / "o.parquet")["prediction"], 2 * X["a"] + X["b"], atol=1e-9
    )
    assert [v.version for v in client.search_model_versions(name="churn")] == [2, 1]


def test_copy_to_a_url_keeps_the_digest(
    capsys: pytest.CaptureFixture[str], churn: Any, s3_bucket: str
) -> None:
    url = f"{s3_bucket}/exported/churn-v2"
    code, out, err = run_cli(capsys, "models", "copy", "models:/churn/2", "--to", url)
    assert code == 0, err
    assert out == f"copied models:/churn/2 to {url} (digest {churn['v2'].digest})\n"
    # Registering the copy records the same digest (read from its manifest).
    version = tracking.TrackingClient().register_model(url, "exported")
    assert version.digest == churn["v2"].digest
    code, _, err = run_cli(capsys, "models", "copy", "models:/churn/2", "--to", url)
    assert code == 1 and "already holds files" in err


def test_console_script_version() -> None:
    script = Path(sys.executable).parent / "pyfunc-ops"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"pyfunc-ops {pyfunc_ops.__version__}\n"


def test_parser_builds_every_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["cache", "prune", "--max-size", "1.5G", "--older-than", "12h"])
    assert (args.max_size, args.older_than) == (int(1.5 * 2**30), 43200.0)
