"""The pyfunc_ops connection type: field mapping, environment fallback, applying it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyfunc_ops import config, tracking
from pyfunc_ops.airflow.hooks import PyfuncOpsConfig, PyfuncOpsHook
from pyfunc_ops.errors import InvalidParameterError
from pyfunc_ops.storage import filesystem

CONN_VAR = "AIRFLOW_CONN_PYFUNC_OPS_DEFAULT"


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "pyfunc_ops_default", **fields):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "pyfunc_ops", **fields})
    )


def test_json_connection_maps_every_field(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        login="AKIAEXAMPLE",
        password="secret-key",
        extra={
            "tracking_uri": "postgresql://u:p@db/registry",
            "artifact_root": "s3://bucket/artifacts",
            "endpoint_url": "http://127.0.0.1:9000",
            "region_name": "eu-west-1",
            "aws_session_token": "tok",
            "storage_options": {"use_ssl": False},
        },
    )
    cfg = PyfuncOpsHook().get_config()
    assert cfg == PyfuncOpsConfig(
        tracking_uri="postgresql://u:p@db/registry",
        artifact_root="s3://bucket/artifacts",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret-key",
        aws_session_token="tok",
        region_name="eu-west-1",
        storage_options={"use_ssl": False},
    )
    assert cfg.s3_storage_options() == {
        "use_ssl": False,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
        "key": "AKIAEXAMPLE",
        "secret": "secret-key",
        "token": "tok",
    }


def test_uri_connection_host_is_the_endpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "reg.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_STORE",
        f"pyfunc-ops://key:secretvalue@minio:9000/https?tracking_uri={db}&region_name=us-east-2",
    )
    cfg = PyfuncOpsHook("my_store").get_config()
    assert cfg.endpoint_url == "https://minio:9000"
    assert (cfg.aws_access_key_id, cfg.aws_secret_access_key) == ("key", "secretvalue")
    assert cfg.tracking_uri == str(db)
    assert cfg.region_name == "us-east-2"
    assert cfg.artifact_root == config.artifact_root()  # not in the connection: the default


def test_missing_connection_falls_back_to_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(CONN_VAR, raising=False)
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", "sqlite:////tmp/from-env.db")
    with caplog.at_level(logging.DEBUG, logger="pyfunc_ops.airflow.hooks.pyfunc_ops"):
        cfg = PyfuncOpsHook("pyfunc_ops_absent").get_config()
    assert cfg == PyfuncOpsConfig(
        tracking_uri="sqlite:////tmp/from-env.db", artifact_root=config.artifact_root()
    )
    assert cfg.s3_storage_options() == {}
    assert "no Airflow connection 'pyfunc_ops_absent'" in caplog.text


def test_bad_connection_fields_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "bad_schema", host="minio", schema="ftp")
    with pytest.raises(InvalidParameterError, match="schema 'ftp' is used as the S3 endpoint"):
        PyfuncOpsHook("bad_schema").get_config()
    _set_conn(monkeypatch, "bad_options", extra={"storage_options": "anon=true"})
    with pytest.raises(InvalidParameterError, match="'storage_options' must be a JSON object"):
        PyfuncOpsHook("bad_options").get_config()


def test_unknown_extra_keys_are_named(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _set_conn(monkeypatch, extra={"trackng_uri": "x"})
    with caplog.at_level(logging.WARNING, logger="pyfunc_ops.airflow.hooks.pyfunc_ops"):
        PyfuncOpsHook().get_config()
    assert "ignoring unknown extra keys ['trackng_uri']" in caplog.text


def test_configured_applies_and_restores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The session's moto server (when an earlier test started it) exports AWS_* variables;
    # this test is about what the connection alone contributes.
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PYFUNC_OPS_ARTIFACT_ROOT", "/before")
    outer = config.Settings.from_env(storage_options={"s3": {"anon": True}})
    _set_conn(
        monkeypatch,
        login="k1",
        password="s1",
        extra={"tracking_uri": str(tmp_path / "t.db"), "endpoint_url": "http://127.0.0.1:1"},
    )
    environ_before = dict(os.environ)
    with config.use_settings(outer):
        with pytest.raises(RuntimeError, match="boom"), PyfuncOpsHook().configured() as cfg:
            assert config.current_settings() is cfg
            assert config.tracking_uri() == str(tmp_path / "t.db")
            assert tracking.get_tracking_uri() == f"sqlite:///{tmp_path / 't.db'}"
            assert config.artifact_root() == "/before"  # fallback value
            options = filesystem.get_storage_options("s3")
            assert options["key"] == "k1" and options["secret"] == "s1"
            assert options["client_kwargs"]["endpoint_url"] == "http://127.0.0.1:1"
            assert "anon" not in options  # replaced, not merged with the earlier options
            assert cfg.tracking_uri == str(tmp_path / "t.db")
            assert dict(os.environ) == environ_before  # nothing written to the environment
            raise RuntimeError("boom")
        assert config.current_settings() is outer
        assert filesystem.get_storage_options("s3").get("anon") is True
        assert "k1" not in json.dumps(filesystem.get_storage_options("s3"))
    assert "PYFUNC_OPS_TRACKING_URI" not in os.environ
    assert os.environ["PYFUNC_OPS_ARTIFACT_ROOT"] == "/before"
    assert filesystem.get_storage_options("s3") == {}


def test_connection_tracking_uri_wins_over_set_tracking_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _set_conn(monkeypatch, extra={"tracking_uri": str(tmp_path / "conn.db")})
    _set_conn(monkeypatch, "no_registry", extra={"artifact_root": str(tmp_path / "art")})
    tracking.set_tracking_uri(tmp_path / "process.db")
    try:
        with PyfuncOpsHook().configured():
            assert tracking.get_tracking_uri() == f"sqlite:///{tmp_path / 'conn.db'}"
        # A connection without a tracking URI leaves the process-wide override in force.
        with PyfuncOpsHook("no_registry").configured():
            assert tracking.get_tracking_uri() == f"sqlite:///{tmp_path / 'process.db'}"
            assert config.artifact_root() == str(tmp_path / "art")
        assert tracking.get_tracking_uri() == f"sqlite:///{tmp_path / 'process.db'}"
        assert PyfuncOpsHook("no_registry").get_client().tracking_uri.endswith("process.db")
    finally:
        tracking.set_tracking_uri(None)


def test_missing_connection_keeps_the_callers_settings(tmp_path: Path) -> None:
    caller = config.Settings.from_env(tracking_uri=str(tmp_path / "caller.db"))
    with config.use_settings(caller):
        assert PyfuncOpsHook("pyfunc_ops_absent").get_settings() is caller


def test_client_and_test_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _set_conn(monkeypatch, extra={"tracking_uri": str(tmp_path / "reg.db")})
    hook = PyfuncOpsHook()
    client = hook.get_client()
    client.create_registered_model("seen_through_hook")
    assert client.tracking_uri == f"sqlite:///{tmp_path / 'reg.db'}"
    ok, message = hook.test_connection()
    assert ok and str(tmp_path / "reg.db") in message
    _set_conn(monkeypatch, "broken", extra={"tracking_uri": "nosuchdialect://x/y"})
    ok, message = PyfuncOpsHook("broken").test_connection()
    assert not ok and "nosuchdialect" in message


@pytest.mark.airflow
def test_s3_through_connection_only(
    monkeypatch: pytest.MonkeyPatch, s3_bucket: str, s3_server: str, tmp_path: Path
) -> None:
    """With the AWS_* variables gone, the connection alone reaches the S3 endpoint."""
    import pandas as pd

    from pyfunc_ops.airflow.operators import PyfuncPredictOperator

    with PyfuncOpsHook("nothing").configured():  # no connection: environment (moto) applies
        fs, path = filesystem.get_filesystem(f"{s3_bucket}/in/x.csv")
        fs.pipe(path, b"a,b\n1,2\n3,4\n")
    for var in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    _set_conn(monkeypatch, login="testing", password="testing", extra={"endpoint_url": s3_server})

    class Sum:
        def predict(self, df: pd.DataFrame) -> pd.Series:
            return df["a"] + df["b"]

    import pyfunc_ops.pyfunc.load as load

    monkeypatch.setattr(load, "load_model", lambda uri, env_manager="local", **kw: Sum())
    op = PyfuncPredictOperator(
        task_id="s3",
        model_uri="m",
        input_url=f"{s3_bucket}/in",
        output_url=f"{s3_bucket}/out/p.parquet",
    )
    result = op.execute({})
    assert (result["rows_in"], result["rows_out"]) == (2, 2)
    with PyfuncOpsHook().configured():
        fs, path = filesystem.get_filesystem(f"{s3_bucket}/out/p.parquet")
        with fs.open(path, "rb") as fh:
            assert pd.read_parquet(fh)["prediction"].tolist() == [3, 7]
    assert filesystem.get_storage_options("s3") == {}  # the connection's options are gone


def test_provider_registered(airflow_env: dict[str, str], airflow_db: Path) -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hooks = ProvidersManagerTaskRuntime().hooks
    assert (
        hooks["pyfunc_ops"].hook_class_name == "pyfunc_ops.airflow.hooks.pyfunc_ops.PyfuncOpsHook"
    )
    assert hooks["pyfunc_ops"].connection_id_attribute_name == "pyfunc_ops_conn_id"
    listed = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "json"],
        env=airflow_env,
        capture_output=True,
        text=True,
        check=True,
    )
    # Airflow logs a line before the JSON document.
    document = next(line for line in listed.stdout.splitlines() if line.startswith("["))
    providers = {p["package_name"]: p for p in json.loads(document)}
    assert "pyfunc-ops" in providers, listed.stdout
    assert providers["pyfunc-ops"]["description"].startswith("Package, register and score")


def test_provider_info_is_valid_and_its_modules_import() -> None:
    import importlib

    import airflow
    import jsonschema

    from pyfunc_ops.airflow.get_provider_info import get_provider_info

    info = get_provider_info()
    schema_file = Path(airflow.__file__).parent / "provider_info.schema.json"
    jsonschema.validate(info, json.loads(schema_file.read_text()))
    modules = [
        m
        for key in ("operators", "sensors", "triggers", "hooks")
        for e in info[key]
        for m in e["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == PyfuncOpsHook.conn_type
    assert conn_type["hook-class-name"].endswith(".PyfuncOpsHook")


# -- the connection form: one table drives provider info, the hook and the docs ----------


def test_connection_form_comes_from_one_table() -> None:
    from pyfunc_ops.airflow import connection_form
    from pyfunc_ops.airflow.get_provider_info import get_provider_info
    from pyfunc_ops.airflow.hooks import pyfunc_ops as hook_module

    (conn_type,) = get_provider_info()["connection-types"]
    behaviour = PyfuncOpsHook.get_ui_field_behaviour()
    assert behaviour == connection_form.ui_field_behaviour()
    assert conn_type["ui-field-behaviour"] == {
        "hidden-fields": behaviour["hidden_fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }
    assert conn_type["conn-fields"] == connection_form.conn_fields()
    # Every field the hook reads is in the table; port is read, so it is shown.
    names = {f.name for f in connection_form.FIELDS}
    built_in = {"host", "port", "schema", "login", "password", "extra"}
    assert names >= built_in
    assert hook_module._EXTRA_KEYS == connection_form.extra_keys() == names - built_in
    assert "port" not in behaviour["hidden_fields"]
    assert behaviour["relabeling"]["port"] == "S3 endpoint port"
    # A field without its own form field says why; a secret is masked.
    for f in connection_form.FIELDS:
        assert f.label and f.meaning
        if f.hidden:
            assert f.name not in conn_type["conn-fields"]
    assert conn_type["conn-fields"]["aws_session_token"]["schema"]["format"] == "password"
    assert conn_type["conn-fields"]["token"]["schema"]["format"] == "password"


def test_docs_table_is_the_generated_one() -> None:
    from pyfunc_ops.airflow.connection_form import markdown_table

    docs = (Path(__file__).parents[2] / "docs" / "airflow.md").read_text()
    start, end = "<!-- connection-fields: start -->\n", "<!-- connection-fields: end -->"
    assert start in docs and end in docs, "docs/airflow.md lost its connection-fields markers"
    table = docs.split(start, 1)[1].split(end, 1)[0]
    assert table == markdown_table(), "regenerate the table: connection_form.markdown_table()"


def test_provider_form_reaches_airflows_providers_manager(airflow_db: Path) -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    behaviours = manager.field_behaviours
    widgets = manager.connection_form_widgets
    assert behaviours["pyfunc_ops"]["relabeling"]["port"] == "S3 endpoint port"
    assert "extra__pyfunc_ops__tracking_uri" in widgets
    assert widgets["extra__pyfunc_ops__aws_session_token"].is_sensitive


@pytest.mark.parametrize(
    ("extra", "env", "expected"),
    [
        ({"trust_remote_code": True}, None, True),
        ({"trust_remote_code": "true"}, None, True),
        ({"trust_remote_code": False}, "1", False),  # the connection wins over the env
        ({}, "1", True),  # not set: the caller's settings stay
        ({}, None, False),
    ],
)
def test_connection_extra_trust_remote_code(
    monkeypatch: pytest.MonkeyPatch, extra: dict, env: str | None, expected: bool
) -> None:
    if env is not None:
        monkeypatch.setenv("PYFUNC_OPS_TRUST_REMOTE_CODE", env)
    else:
        monkeypatch.delenv("PYFUNC_OPS_TRUST_REMOTE_CODE", raising=False)
    _set_conn(monkeypatch, extra=extra)
    assert PyfuncOpsHook().get_settings().trust_remote_code is expected


def test_connection_extra_trust_remote_code_must_be_a_bool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set_conn(monkeypatch, extra={"trust_remote_code": "sometimes"})
    with pytest.raises(InvalidParameterError, match=r"'trust_remote_code' must be true or false"):
        PyfuncOpsHook().get_settings()


def test_connection_extra_token_reaches_the_settings_and_never_shows(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The ``token`` extra is the tracking server's bearer token (the REST session sends
    it, see tests/tracking/test_tracking_rest.py); no repr or log line shows it."""
    monkeypatch.delenv("PYFUNC_OPS_TRACKING_URI", raising=False)
    _set_conn(
        monkeypatch,
        extra={"tracking_uri": "https://mlflow.example.com", "token": "bearer-s3cret"},
    )
    caplog.set_level(logging.DEBUG)
    hook = PyfuncOpsHook()
    settings = hook.get_settings()
    assert settings.tracking_token == "bearer-s3cret"
    assert settings.tracking_uri == "https://mlflow.example.com"
    assert hook.get_config().tracking_token == "bearer-s3cret"
    shown = repr(settings) + repr(hook.get_config()) + repr(hook.get_client()) + caplog.text
    assert "bearer-s3cret" not in shown
    _set_conn(monkeypatch, conn_id="no_token", extra={"tracking_uri": "http://h"})
    assert PyfuncOpsHook("no_token").get_settings().tracking_token is None
