"""The ``pyfunc-ops`` command: describe, score, copy and download models; manage the
registry, runs, the download cache and built environments.

The command only parses and prints; every operation it offers is a library function an
operator or a script can call too (:mod:`pyfunc_ops.jobs.model_facts`, ``model_copy``,
``run_facts``, ``registry_chores``, ``housekeeping`` and the job requests). The package:

- :mod:`~pyfunc_ops.cli.entry`: ``main``, the global flags, logging, errors as one line;
- :mod:`~pyfunc_ops.cli.parser`: the subcommands, built from a table;
- :mod:`~pyfunc_ops.cli.options`: every option once (flags, help, type, default), and one
  flag per field of the job request types;
- :mod:`~pyfunc_ops.cli.arguments`: argument types (sizes, durations, JSON objects);
- :mod:`~pyfunc_ops.cli.commands`: the handlers, one library call and its printout each;
- :mod:`~pyfunc_ops.cli.output`: printing, redacted, and the shared layouts.

User errors (anything raised as a ``PyfuncOpsError``) end with a one-line message and exit
code 1, never a traceback; ``--debug`` (anywhere on the command line) shows the traceback
when you need it. Everything printed, and every log line, goes through
:mod:`pyfunc_ops.core.redact`, so passwords in tracking URIs or URLs never reach a terminal
or a CI log. Logs are WARNING and above unless ``-v`` (INFO) or ``--debug`` (DEBUG): a
command's answer is what it prints on stdout.
"""

from __future__ import annotations

from pyfunc_ops.cli.arguments import parse_duration
from pyfunc_ops.cli.entry import main
from pyfunc_ops.cli.options import job_options
from pyfunc_ops.cli.parser import build_parser

# The library functions this module used to define, importable from here as before.
from pyfunc_ops.jobs.model_copy import copy_model, download_model
from pyfunc_ops.jobs.model_facts import NO_SIGNATURE, describe
from pyfunc_ops.jobs.run_facts import run_facts

__all__ = [
    "NO_SIGNATURE",
    "build_parser",
    "copy_model",
    "describe",
    "download_model",
    "job_options",
    "main",
    "parse_duration",
    "run_facts",
]
