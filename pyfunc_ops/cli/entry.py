"""The command's entry point: the global flags, logging, and turning errors into one line
and an exit code.

The global flags (``--tracking-uri``, ``-v``, ``--progress``, ``--debug``) work before or
after the subcommand, where users type them. ``--tracking-uri`` is applied as a
:func:`~pyfunc_ops.config.use_settings` scope, never through ``os.environ``. A user error
(any ``PyfuncOpsError``, or an ``OSError`` a storage backend did not wrap) ends with one
line on stderr and exit code 1; ``--debug`` (or ``PYFUNC_OPS_DEBUG``) shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from pyfunc_ops.cli.parser import build_parser
from pyfunc_ops.core.redact import install_log_redaction, redact
from pyfunc_ops.errors import PyfuncOpsError

__all__ = ["main"]

_GLOBAL_SWITCHES = {
    "--debug": "debug",
    "-v": "verbose",
    "--verbose": "verbose",
    "--progress": "progress",
}


def _split_globals(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``argv`` without the global flags, and their values: ``--debug``, ``-v``,
    ``--progress`` and ``--tracking-uri URI`` work before or after the subcommand
    (``pyfunc-ops models list --debug``), where users type them. Everything after ``--``
    is left alone."""
    found: dict[str, Any] = {}
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest.append(arg)
            rest.extend(args)
            break
        if arg in _GLOBAL_SWITCHES:
            found[_GLOBAL_SWITCHES[arg]] = True
        elif arg == "--tracking-uri":
            value = next(args, None)
            found["tracking_uri"] = value  # None: reported as a usage error by main()
        elif arg.startswith("--tracking-uri="):
            found["tracking_uri"] = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, found


@contextlib.contextmanager
def _applied(args: argparse.Namespace) -> Iterator[None]:
    """The global flags as scopes: ``--tracking-uri`` (settings) and ``--progress``."""
    from pyfunc_ops.config import current_settings, resolved_settings, use_settings
    from pyfunc_ops.core.progress import forced_bars

    with contextlib.ExitStack() as stack:
        # One command reads the environment's settings once, however many calls it makes.
        stack.enter_context(resolved_settings())
        if args.tracking_uri:
            stack.enter_context(
                use_settings(current_settings().with_changes(tracking_uri=args.tracking_uri))
            )
        stack.enter_context(forced_bars(True if args.progress else None))
        yield


def _configure_logging(args: argparse.Namespace) -> None:
    install_log_redaction("pyfunc_ops")
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # basicConfig does nothing when the root logger has handlers (a host application, a
    # test runner): the package's level is what -v and --debug decide either way.
    logging.getLogger("pyfunc_ops").setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Run ``pyfunc-ops`` with ``argv`` (default: the process's); returns the exit code."""
    parser = build_parser()
    argv, found = _split_globals(list(sys.argv[1:] if argv is None else argv))
    if "tracking_uri" in found and found["tracking_uri"] is None:
        parser.error("argument --tracking-uri: expected one argument")
    args = parser.parse_args(argv)
    for name, value in found.items():
        setattr(args, name, value)
    _configure_logging(args)
    try:
        with _applied(args):
            args.func(args)
    except (PyfuncOpsError, OSError) as exc:
        # OSError: storage and file problems a backend did not wrap (permissions, ...).
        if args.debug or os.environ.get("PYFUNC_OPS_DEBUG"):
            raise
        text = redact(str(exc)).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        sys.stderr.write(f"pyfunc-ops: error: {first_line}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("pyfunc-ops: interrupted\n")
        return 130
    return 0
