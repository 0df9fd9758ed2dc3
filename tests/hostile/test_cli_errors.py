"""The CLI on malformed input: exit 1, one line on stderr, no traceback; ``--debug``
(before or after the subcommand) raises so the traceback shows. Secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfunc_ops.cli import main
from pyfunc_ops.errors import PyfuncOpsError

SECRET = "S3CRETpw"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _bad_model(tmp_path: Path, content: bytes) -> str:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "MLmodel").write_bytes(content)
    return str(folder)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["describe", "{bad}"], "binary"),
        (["describe", "s3:/bucket/m"], "is not 's3://...'"),
        (["describe", "models:/m/0"], "versions start at 1"),
        (["models", "versions", "a/b"], "contains '/' or '@'"),
        (["models", "promote", "m", "1", "--alias", "v2"], "is reserved"),
        (["predict", "-m", "{bad}", "-i", "{missing}", "-o", "{out}"], "does not exist"),
    ],
)
def test_cli_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    bad = _bad_model(tmp_path, b"\x00\x01binary")
    values = {"bad": bad, "missing": str(tmp_path / "nope"), "out": str(tmp_path / "o.parquet")}
    code, out, err = _run(capsys, *[a.format(**values) for a in argv])
    assert code == 1 and out == ""
    assert err.startswith("pyfunc-ops: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_anywhere_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    bad = _bad_model(tmp_path, b"\x00\x01binary")
    argv = ["--debug", "describe", bad] if where == "before" else ["describe", bad, "--debug"]
    with pytest.raises(PyfuncOpsError, match="binary"):
        main(argv)


def test_bad_tracking_uri_is_one_redacted_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"postgresql://u:{SECRET}@db:port/reg")
    code, out, err = _run(capsys, "models", "list")
    assert code == 1 and "port" in err and err.count("\n") == 1
    assert SECRET not in out + err


def test_unreachable_store_is_one_redacted_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"postgresql://u:{SECRET}@127.0.0.1:1/db")
    code, out, err = _run(capsys, "models", "list")
    assert code == 1 and "tracking database" in err and err.count("\n") == 1
    assert SECRET not in out + err


def test_models_list_names_the_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", str(tmp_path / "empty.db"))
    code, out, err = _run(capsys, "models", "list")
    assert (code, out) == (0, "no registered models\n")
    assert str(tmp_path / "empty.db") in err and "PYFUNC_OPS_TRACKING_URI" in err
