"""Named points where a test can kill this process, as ``kill -9`` would.

The fault suite must show what a run killed at the worst moment leaves behind (half a
download, an upload without its ``MLmodel``, a predictions file not yet renamed) and that
the next run copes. Timing a signal from outside cannot hit those moments reliably, so
the code names them: :func:`crash_point` kills the process with ``SIGKILL`` when the
environment variable ``PYFUNC_OPS_TEST_CRASH_AT`` names that point. Unset (always, outside
tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "PYFUNC_OPS_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, at once and without cleanup, if ``PYFUNC_OPS_TEST_CRASH_AT == name``."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
