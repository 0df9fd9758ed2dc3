"""What the command prints and how: the answer on stdout, remarks on stderr, both redacted;
tables, sizes and times in the forms every subcommand shares.

The one place the command line writes to a terminal, so that a password in a tracking URI
or a signed URL never reaches a terminal or a CI log.
"""

from __future__ import annotations

import sys
from typing import Any

from pyfunc_ops.core.redact import redact
from pyfunc_ops.jobs.run_facts import utc_time

__all__ = [
    "emit",
    "fmt_optional",
    "human_size",
    "note",
    "pairs",
    "say_which_store",
    "store",
    "summary",
    "table",
    "ts",
    "ts_seconds",
]


def emit(text: str) -> None:
    """The command's answer, on stdout (what scripts parse)."""
    sys.stdout.write(redact(text) + "\n")


def note(text: str) -> None:
    """A remark for the human on stderr (stdout stays the answer scripts parse)."""
    sys.stderr.write(redact(f"pyfunc-ops: {text}") + "\n")


def store() -> str:
    """The tracking URI the commands read (redacted when printed)."""
    from pyfunc_ops import config

    return config.tracking_uri()


def say_which_store(what: str) -> None:
    # An empty answer most often means "the wrong store": say which one was read, on
    # stderr so that stdout stays the plain answer scripts parse.
    note(
        f"{what}: read the registry at {store()}; to read another one, pass "
        "--tracking-uri or set PYFUNC_OPS_TRACKING_URI (e.g. postgresql://user@host/db, "
        "sqlite:///path/to/tracking.db or http://mlflow-server:5000)"
    )


def ts(ms: int | None) -> str:
    """A store's milliseconds as a UTC time (``-`` for none)."""
    return utc_time(ms)


def ts_seconds(seconds: float | None) -> str:
    return utc_time(int(seconds * 1000) if seconds else None)


def table(rows: list[list[Any]], header: list[str]) -> str:
    """Left-aligned columns under ``header``; ``None`` shows as ``-``."""
    cells = [header] + [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"


def pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items()) or "-"


def summary(mapping: dict[str, Any], limit: int = 40) -> str | None:
    """``k=v,...`` sorted and cut to ``limit`` characters (a table cell)."""
    text = ",".join(f"{k}={v}" for k, v in sorted(mapping.items()))
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_optional(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
