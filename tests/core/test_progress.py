"""Progress: a bar only on a terminal or when forced; periodic INFO lines otherwise."""

from __future__ import annotations

import logging

import pytest

from pyfunc_ops.core.progress import forced_bars, progress


def test_no_terminal_means_log_lines_not_a_bar(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("pyfunc_ops.test_progress")
    with (
        caplog.at_level(logging.INFO, logger=logger.name),
        forced_bars(False),
        progress(total=10, desc="scoring", unit="rows", logger=logger, interval=0) as bar,
    ):
        assert bar._bar is None
        bar.update(4)
        bar.update(6)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("scoring: 4/10 rows")
    assert lines[1].startswith("scoring: 10/10 rows")


def test_forced_bar_uses_tqdm(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("pyfunc_ops.test_progress")
    with forced_bars(True), progress(3, "upload", "file", logger) as bar:
        assert bar._bar is not None
        bar.update(3)
    assert "upload" in capsys.readouterr().err


def test_quiet_when_short(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("pyfunc_ops.test_progress")
    with (
        caplog.at_level(logging.INFO, logger=logger.name),
        forced_bars(False),
        progress(None, "scoring", "rows", logger, interval=3600) as bar,
    ):
        bar.update(5)
    assert caplog.records == []
