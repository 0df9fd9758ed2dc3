"""Argument types: text from the command line turned into sizes, durations and JSON objects.

A bad value is a usage error (``argparse.ArgumentTypeError``: exit code 2, the message as
is, no traceback), said in the words of the library's own check where there is one.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from typing import Any

from pyfunc_ops.errors import InvalidParameterError

__all__ = ["duration_arg", "json_object_arg", "parse_duration", "size_arg"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: ``90``, ``90s``, ``30m``, ``12h``, ``7d``, ``2w``."""
    match = _DURATION.match(str(text))
    if match is None:
        raise InvalidParameterError(
            f"duration {text!r} is not a duration; expected a number with an optional unit "
            "s, m, h, d or w, e.g. 12h or 7d."
        )
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def _usage_error(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except InvalidParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def size_arg(text: str) -> int:
    """``--max-size``: bytes in ``10G``, ``500M``, ... (``config.parse_size``'s grammar)."""
    from pyfunc_ops.config import parse_size

    return int(_usage_error(parse_size, text))


def duration_arg(text: str) -> float:
    """``--older-than``: seconds in ``7d``, ``12h``, ... (see :func:`parse_duration`)."""
    return float(_usage_error(parse_duration, text))


def json_object_arg(of: str, example: str) -> Callable[[str], dict[str, Any]]:
    """An argument type for a JSON object (of ``of``, e.g. "parameter names to values"),
    its errors showing ``example``: shells eat quotes, so say how to quote it."""

    def json_object(text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(
                f"not valid JSON ({exc.msg} at position {exc.pos}): {text!r}; give an object "
                f"such as '{example}' (quote it for the shell)"
            ) from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(
                f"must be a JSON object of {of}, got {type(value).__name__} {text!r}; "
                f"e.g. '{example}'"
            )
        return value

    return json_object
