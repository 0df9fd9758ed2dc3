"""One root error and narrow subclasses.

Every error a user can hit derives from :class:`PyfuncOpsError`, so ``except PyfuncOpsError``
catches all of ours. Each subclass also inherits the built-in exception a caller would
naturally expect (a missing model is a ``FileNotFoundError``, a bad argument a
``ValueError``), so code written against the standard library keeps working.

Messages name the object, what was expected, what was found and what to do.
"""

from __future__ import annotations


class PyfuncOpsError(Exception):
    """Root of every error raised by pyfunc_ops."""


class InvalidParameterError(PyfuncOpsError, ValueError):
    """An argument has the wrong value, type or combination."""


class ModelFormatError(PyfuncOpsError, ValueError):
    """An ``MLmodel`` file or a model directory does not follow the pyfunc format."""


class ModelNotFoundError(PyfuncOpsError, FileNotFoundError):
    """No model (no ``MLmodel`` file) exists where one was expected."""


class ArtifactNotFoundError(PyfuncOpsError, FileNotFoundError):
    """An artifact named in ``artifacts=`` (a file or folder, not a model) does not exist."""


class ModelExistsError(PyfuncOpsError, FileExistsError):
    """A save would overwrite an existing, non-empty destination."""


class InvalidURIError(PyfuncOpsError, ValueError):
    """A model or artifact URI is malformed."""


class StorageError(PyfuncOpsError, OSError):
    """Reading or writing a model tree through fsspec failed."""


class StoragePermissionError(StorageError, PermissionError):
    """A file or folder cannot be written or read for lack of permission."""


class ScoringError(PyfuncOpsError, RuntimeError):
    """The model itself raised while scoring a batch; names the model, the batch and its
    rows, and carries the model's exception as its cause."""


class LockTimeoutError(PyfuncOpsError, TimeoutError):
    """Waiting for a lock another process holds took longer than allowed."""


class InputNotFoundError(PyfuncOpsError, FileNotFoundError):
    """A job's input (a file or folder to score, an estimator file to package) is missing."""


class TrackingStoreError(PyfuncOpsError, ConnectionError):
    """The tracking store (registry database or server) is unreachable or misconfigured."""


class IntegrityError(PyfuncOpsError, ValueError):
    """A model's files do not match the manifest or digest recorded for them."""


class UntrustedModelError(PyfuncOpsError, PermissionError):
    """Loading the model would run code it brings, and the caller has not trusted it."""


class ResourceNotFoundError(PyfuncOpsError, LookupError):
    """A run, registered model, version, stage or alias does not exist in the registry."""


class ResourceExistsError(PyfuncOpsError, ValueError):
    """A registry object with that name or key exists already."""


class AliasConflictError(PyfuncOpsError, RuntimeError):
    """A compare-and-set of a registered model alias found it moved (or created) by someone
    else: the alias is not where the caller expected, so nothing was changed."""


class LoaderError(PyfuncOpsError, ImportError):
    """The model's loader module cannot be imported or does not define ``_load_pyfunc``."""


class SchemaEnforcementError(PyfuncOpsError, ValueError):
    """Model input does not match the model's signature."""


class SerializationError(PyfuncOpsError, ValueError):
    """A value cannot be serialized (YAML, pickle, skops) or deserialized."""


class ResultTypeError(PyfuncOpsError, TypeError):
    """A Spark ``result_type`` is unsupported, or predictions do not fit it."""


class ModelEnvironmentError(PyfuncOpsError, RuntimeError):
    """Restoring or using a model's own Python environment failed."""


class WorkerError(PyfuncOpsError, RuntimeError):
    """A scoring worker process failed; carries the remote traceback when there is one."""

    def __init__(self, message: str, remote_traceback: str | None = None) -> None:
        super().__init__(message if not remote_traceback else f"{message}\n{remote_traceback}")
        self.remote_traceback = remote_traceback


class ModelValidationError(PyfuncOpsError, RuntimeError):
    """A model did not meet the metric thresholds of its evaluation; ``result`` holds the
    verdict (metrics, baseline, the failed checks) as the evaluation returned it."""

    def __init__(self, message: str, result: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.result = dict(result or {})
