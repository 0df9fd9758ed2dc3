"""Running the command line in-process, as the CLI tests do: exit code, stdout, stderr."""

from __future__ import annotations

import pytest

from pyfunc_ops.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def help_text(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """What ``pyfunc-ops <argv> --help`` prints; it must exit 0."""
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out
