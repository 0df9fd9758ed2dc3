"""Point 6: secrets planted in every place a user can put one never come out again.

A tracking URI password, an s3 URL with ``key:secret@``, storage options and an
``AWS_SESSION_TOKEN``-like token go into the main flows (log, register, load, score, CLI);
captured logs, stdout/stderr, messages and reprs are searched for them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pyfunc_ops import config, tracking
from pyfunc_ops.cli import main
from pyfunc_ops.errors import PyfuncOpsError
from pyfunc_ops.pyfunc import PythonModel, load_model, log_model
from pyfunc_ops.tracking import TrackingClient

SECRETS = ("S3CRETpw", "S3CRETsk", "S3CRETso", "S3CRETtok")
PG_URI = "postgresql://u:S3CRETpw@127.0.0.1:1/db"
S3_URL = "s3://KEY:S3CRETsk@bucket/m"


class Doubler(PythonModel):
    def predict(self, context: object, model_input: pd.DataFrame) -> pd.Series:
        return model_input["x"] * 2


def _clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked in: {text[:300]}"


def test_secrets_never_leak_from_the_main_flows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "S3CRETtok")
    registry = tmp_path / "reg.db"
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", str(registry))
    settings = config.Settings.from_env(
        storage_options={"memory": {"secret": "S3CRETso"}, "s3": {"token": "S3CRETtok"}}
    )
    messages: list[str] = []
    with config.use_settings(settings):
        logging.getLogger("pyfunc_ops.test").info("storage options %s", settings.storage_options)
        with tracking.start_run():
            info = log_model("model", python_model=Doubler(), registered_model_name="churn")
        model = load_model("models:/churn/1")
        assert list(model.predict(pd.DataFrame({"x": [1.0, 2.0]}))) == [2.0, 4.0]

        inputs = tmp_path / "in"
        inputs.mkdir()
        pd.DataFrame({"x": np.arange(4.0)}).to_parquet(inputs / "p.parquet")
        assert (
            main(
                [
                    "predict",
                    "-m",
                    "models:/churn/1",
                    "-i",
                    str(inputs),
                    "-o",
                    str(tmp_path / "out.parquet"),
                ]
            )
            == 0
        )
        assert main(["describe", "models:/churn/1"]) == 0

        # Failing calls carrying the secrets.
        for call in (
            lambda: TrackingClient(PG_URI).search_registered_models(),
            lambda: TrackingClient("postgresql:/u:S3CRETpw@db/reg"),
            lambda: load_model(S3_URL.replace("s3://", "nosuchproto://")),
        ):
            with pytest.raises(PyfuncOpsError) as err:
                call()
            messages.append(str(err.value))
        messages.append(repr(TrackingClient(PG_URI)))
        for argv in (["models", "list"], ["describe", S3_URL.replace("s3://", "s3:/")]):
            main(argv)
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", PG_URI)
    assert main(["models", "list"]) == 1
    out, err = capsys.readouterr()
    _clean(caplog.text, out, err, *messages, repr(info))
    assert "***" in " ".join(messages)
