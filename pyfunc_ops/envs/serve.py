"""The scoring worker's serving loop: runs inside a model's environment, holds the model
loaded once, and answers predict requests on its stdin/stdout (see
:mod:`pyfunc_ops.envs.protocol`).

The program itself is the pyfunc layer's (:mod:`pyfunc_ops.pyfunc.worker_main`, started as
``<env>/bin/python -I -m pyfunc_ops.pyfunc.worker_main <model_dir>``): it knows how to load
a model and hands that to :func:`main` here, so this package never imports ``pyfunc``. The
real stdout is kept for the protocol and fd 1 is pointed at stderr, so a model that prints
does not corrupt the stream. The worker exits when its parent does: at end of input on
stdin, when its parent process id changes, and (on Linux, when asked) by
``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from pyfunc_ops.core.callables import accepts_parameter
from pyfunc_ops.envs import protocol

log = logging.getLogger("pyfunc_ops.envs.worker_process")
PARENT_ENV = "PYFUNC_OPS_WORKER_PARENT"
PDEATHSIG_ENV = "PYFUNC_OPS_WORKER_PDEATHSIG"
LOG_LEVEL_ENV = "PYFUNC_OPS_WORKER_LOG_LEVEL"
_PR_SET_PDEATHSIG = 1


def _claim_stdio() -> tuple[IO[bytes], IO[bytes]]:
    """Keep private copies of stdin/stdout for the protocol; fd 0 becomes /dev/null and
    fd 1 a copy of stderr."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def _exit_with_parent(parent: int) -> None:
    """Die with the parent even when the stdin pipe stays open (inherited by a fork)."""
    if os.environ.get(PDEATHSIG_ENV) == "1" and sys.platform.startswith("linux"):
        libc_name = ctypes.util.find_library("c")
        if libc_name:
            libc = ctypes.CDLL(libc_name, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                log.info("Parent process %d is gone; exiting", parent)
                os._exit(0)
            time.sleep(0.5)  # polling: there is no portable parent-exit notification

    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _predictor(raw: Any) -> Any:
    """The loaded model's own predict: the caller's PyFuncModel enforced the signature."""
    takes_params = accepts_parameter(raw.predict, "params")

    def predict(data: Any, params: dict[str, Any] | None) -> Any:
        if params is not None and takes_params:
            return raw.predict(data, params=params)
        return raw.predict(data)

    return predict


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


# Loads the model in a folder; returns the object whose predict(data[, params]) scores.
Loader = Callable[[Path], Any]


def serve(load: Loader, model_dir: Path, proto_in: IO[bytes], proto_out: IO[bytes]) -> int:
    try:
        raw = load(model_dir)
    except BaseException as exc:
        protocol.write_message(proto_out, _error(exc))
        return 1
    predict = _predictor(raw)
    protocol.write_message(
        proto_out, {"ok": True, "pid": os.getpid(), "python": sys.version.split()[0]}
    )
    log.info("Loaded %s; serving predictions", model_dir)
    while True:
        try:
            header, body = protocol.read_message(proto_in)
        except EOFError:
            log.info("Input closed; exiting")
            return 0
        try:
            if header.get("op") != "predict":
                raise ValueError(f"unknown request {header.get('op')!r}")
            result = predict(*protocol.decode_request(header, body))
            reply, payload = protocol.encode_result(result)
        except Exception as exc:
            reply, payload = _error(exc), b""
        protocol.write_message(proto_out, reply, payload)


def main(argv: list[str], load: Loader) -> int:
    """Serve the model in the folder ``argv[1]``, loaded with ``load``."""
    proto_in, proto_out = _claim_stdio()
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get(LOG_LEVEL_ENV, "WARNING"),
        format="%(levelname)s %(name)s: %(message)s",
    )
    parent = os.environ.get(PARENT_ENV)
    if parent:
        _exit_with_parent(int(parent))
    return serve(load, Path(argv[1]), proto_in, proto_out)
