"""Progress of long transfers and scoring runs: a bar on a terminal, INFO lines elsewhere.

A tqdm bar written to a file is noise: Airflow captures a task's stderr and shows every
redraw as an ERROR line. So the choice is made once, here: a bar when stderr is a terminal
(or when the caller forces it, e.g. the CLI's ``--progress``), and otherwise a short INFO
log line at most every ``interval`` seconds (and one at the end) through the caller's
logger, which is what a task log or a CI log wants.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

__all__ = ["Progress", "forced_bars", "progress"]

# None: decide by the terminal; True: always a bar; False: never a bar (log lines).
_bars: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "pyfunc_ops_progress_bars", default=None
)

DEFAULT_INTERVAL = 30.0


@contextlib.contextmanager
def forced_bars(enabled: bool | None) -> Iterator[None]:
    """Within the block, show bars (``True``), never show them (``False``) or decide by
    whether stderr is a terminal (``None``)."""
    token = _bars.set(enabled)
    try:
        yield
    finally:
        _bars.reset(token)


def _want_bar() -> bool:
    forced = _bars.get()
    if forced is not None:
        return forced
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


class Progress:
    """Counts units of work; shows them as a bar or as periodic log lines."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = 0
        self._logger = logger
        self._interval = interval
        self._started = time.monotonic()
        self._last = self._started
        self._bar: Any = None
        if _want_bar():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=desc, mininterval=1, leave=False)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._log()

    def _log(self) -> None:
        elapsed = time.monotonic() - self._started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total:,}" if self.total is not None else ""
        self._logger.info(
            "%s: %s%s %s (%.0f %s/s, %.1f s)",
            self.desc,
            f"{self.n:,}",
            of,
            self.unit,
            rate,
            self.unit,
            elapsed,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.n and time.monotonic() - self._started >= self._interval:
            # Only long runs get a closing line; a short one is covered by the caller's log.
            self._log()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def progress(
    total: int | None,
    desc: str,
    unit: str,
    logger: logging.Logger,
    interval: float = DEFAULT_INTERVAL,
) -> Progress:
    """A :class:`Progress` for ``total`` units (``None`` if unknown)."""
    return Progress(total, desc, unit, logger, interval)
