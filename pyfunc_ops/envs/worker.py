"""The caller's side of a scoring worker: a long-lived process in the model's environment.

:func:`load_in_environment` builds (or finds) the environment, starts one worker per
(environment, model) in this process, and returns a :class:`RemoteModel`, the
implementation object ``pyfunc.load_model`` wraps in its ``PyFuncModel``: that enforces
the signature here, and the input goes to the worker as Arrow IPC (DataFrames) or raw
buffers (ndarrays) with a JSON description (see :mod:`pyfunc_ops.envs.codec`), so the
model receives what it would locally. The worker runs the
program the caller names by module (``python -m <worker_module>``), so this package never
imports the pyfunc layer that sits above it. Workers are shared by every model object of
this process for the same model and stop when the last one is garbage-collected or the
process exits.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import threading
import weakref
from pathlib import Path
from typing import Any

from pyfunc_ops.envs import protocol
from pyfunc_ops.envs.builder import env_python, get_environment
from pyfunc_ops.envs.serve import LOG_LEVEL_ENV, PARENT_ENV, PDEATHSIG_ENV
from pyfunc_ops.errors import InvalidParameterError, WorkerError
from pyfunc_ops.models.mlmodel import Model

log = logging.getLogger(__name__)
_STDERR_TAIL = 30
# Variables that would make the worker import the caller's packages instead of its own.
_DROPPED_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONSTARTUP")
_workers: weakref.WeakValueDictionary[tuple[str, ...], EnvironmentWorker] = (
    weakref.WeakValueDictionary()
)
_workers_lock = threading.Lock()


def _forward_stderr(stream: Any, pid: int, tail: collections.deque[str]) -> None:
    """Relay the worker's stderr to our log and keep its last lines for error messages.
    A plain function, so the thread holds no reference to the EnvironmentWorker (which
    must stay collectable for its finalizer to stop the process)."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        tail.append(line)
        log.info("[worker %d] %s", pid, line)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Close the worker's input (it exits at end of input); kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


class EnvironmentWorker:
    """One worker process for one model in one environment; thread-safe, restartable.

    ``worker_module`` is the program the process runs (``python -m``), given the model
    folder and ``args`` (the caller's decisions the worker obeys, e.g. the trust
    decision: the worker never takes them from its own environment) as its arguments; it
    answers with :func:`pyfunc_ops.envs.serve.main`.
    """

    def __init__(
        self, python: Path, model_dir: Path, worker_module: str, args: tuple[str, ...] = ()
    ) -> None:
        self.python = python
        self.model_dir = model_dir
        self.worker_module = worker_module
        self.args = tuple(args)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner = os.getpid()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self._drain: threading.Thread | None = None
        self._finalizer: weakref.finalize | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _stderr_text(self) -> str:
        if self._drain is not None:
            self._drain.join(timeout=2)
        tail = "\n".join(self._stderr_tail)
        return f"\nLast lines of its stderr:\n{tail}" if tail else ""

    def start(self) -> None:
        """Start the worker and wait until it has loaded the model."""
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_VARS}
        env[PARENT_ENV] = str(os.getpid())
        # PR_SET_PDEATHSIG fires when the *thread* that started the child exits, so it is
        # only safe when that thread is the main one.
        main = threading.current_thread() is threading.main_thread()
        env[PDEATHSIG_ENV] = "1" if main else "0"
        env.setdefault(LOG_LEVEL_ENV, logging.getLevelName(log.getEffectiveLevel()))
        cmd = [str(self.python), "-I", "-m", self.worker_module, str(self.model_dir), *self.args]
        self._stderr_tail.clear()
        if self._finalizer is not None:
            self._finalizer()  # reap the previous, dead process
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        self._proc, self._owner = proc, os.getpid()
        self._finalizer = weakref.finalize(self, _stop, proc)
        self._drain = threading.Thread(
            target=_forward_stderr, args=(proc.stderr, proc.pid, self._stderr_tail), daemon=True
        )
        self._drain.start()
        self.starts += 1
        try:
            header, _ = protocol.read_message(proc.stdout)  # type: ignore[arg-type]
        except EOFError:
            code = proc.wait()
            raise WorkerError(
                f"The scoring worker for the model at {self.model_dir} (pid {proc.pid}, "
                f"{self.python}) exited with code {code} before it loaded the model."
                f"{self._stderr_text()}"
            ) from None
        if not header.get("ok"):
            self.close()
            raise WorkerError(
                f"The scoring worker could not load the model at {self.model_dir} in its "
                f"environment ({header.get('error')}). Check that the model's requirements "
                "include everything it imports.",
                header.get("traceback"),
            )
        log.info("Started worker %d (Python %s) for %s", proc.pid, header["python"], self.model_dir)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Score ``data`` (any input ``PyFuncModel.predict`` hands a model) in the worker;
        it arrives there with the same types, dtypes and shapes (see
        :mod:`pyfunc_ops.envs.codec` for what can cross)."""
        header, body = protocol.encode_request(data, params)
        with self._lock:
            if self._owner != os.getpid():  # forked: the pipes belong to the parent's worker
                if self._finalizer is not None:
                    self._finalizer.detach()
                self._proc, self._finalizer = None, None
            if not self._alive():
                if self._proc is not None:
                    log.warning(
                        "Worker %d for %s had died; restarting it", self.pid, self.model_dir
                    )
                self.start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None and proc.stdout is not None
            try:
                protocol.write_message(proc.stdin, header, body)
                reply, payload = protocol.read_message(proc.stdout)
            except (EOFError, BrokenPipeError) as exc:
                code = proc.wait()
                raise WorkerError(
                    f"The scoring worker for the model at {self.model_dir} (pid {proc.pid}) "
                    f"died while predicting (exit code {code}); it is restarted on the next "
                    f"call.{self._stderr_text()}"
                ) from exc
        if not reply.get("ok"):
            raise WorkerError(
                f"The model at {self.model_dir} raised in its scoring worker: {reply['error']}",
                reply.get("traceback"),
            )
        return protocol.decode_result(reply, payload)

    def close(self) -> None:
        """Stop the worker process (the next predict starts a new one)."""
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None


class RemoteModel:
    """The ``PyFuncModel`` implementation object that predicts through a worker."""

    def __init__(self, worker: EnvironmentWorker) -> None:
        self.worker = worker

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return self.worker.predict(model_input, params)

    def unwrap_python_model(self) -> Any:
        raise InvalidParameterError(
            f"unwrap_python_model: the model at {self.worker.model_dir} runs in a worker "
            "process in its own environment; load it with env_manager='local' to get the "
            "Python object."
        )


def load_in_environment(
    model_dir: Path,
    manager: str,
    worker_module: str,
    model: Model | None = None,
    args: tuple[str, ...] = (),
) -> RemoteModel:
    """A :class:`RemoteModel` predicting with the model in ``model_dir`` in a worker that
    runs ``worker_module`` in the model's own environment (built when not cached).

    ``model`` is the model's MLmodel when the caller has read it already (it is not read
    again). ``args`` follow the model folder on the worker's command line; workers with
    other ``args`` (another trust decision) are separate processes.
    """
    model_dir = Path(model_dir).absolute()
    python = env_python(get_environment(model_dir, manager, model))
    key = (str(python), str(model_dir), worker_module, *args)
    with _workers_lock:
        worker = _workers.get(key)
        if worker is None or worker._owner != os.getpid():
            worker = EnvironmentWorker(python, model_dir, worker_module, tuple(args))
            worker.start()
            _workers[key] = worker
    return RemoteModel(worker)
