"""The error hierarchy: one root, narrow subclasses that are also the expected built-ins."""

from __future__ import annotations

import pytest

from pyfunc_ops import errors

EXPECTED_BUILTIN = {
    errors.InvalidParameterError: ValueError,
    errors.ModelFormatError: ValueError,
    errors.ModelNotFoundError: FileNotFoundError,
    errors.ArtifactNotFoundError: FileNotFoundError,
    errors.ModelExistsError: FileExistsError,
    errors.InvalidURIError: ValueError,
    errors.StorageError: OSError,
    errors.ResourceNotFoundError: LookupError,
    errors.ResourceExistsError: ValueError,
    errors.LoaderError: ImportError,
    errors.SchemaEnforcementError: ValueError,
    errors.SerializationError: ValueError,
    errors.ResultTypeError: TypeError,
    errors.ModelEnvironmentError: RuntimeError,
    errors.WorkerError: RuntimeError,
}


@pytest.mark.parametrize(("cls", "builtin"), EXPECTED_BUILTIN.items(), ids=lambda c: c.__name__)
def test_each_error_is_a_pyfunc_ops_error_and_its_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, errors.PyfuncOpsError)
    assert issubclass(cls, builtin)
    with pytest.raises(errors.PyfuncOpsError, match="boom"):
        raise cls("boom") if cls is not errors.WorkerError else cls("boom", None)


def test_every_error_class_is_covered() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type)
        and issubclass(obj, errors.PyfuncOpsError)
        and obj is not errors.PyfuncOpsError
    }
    assert defined == set(EXPECTED_BUILTIN)


def test_root_is_a_plain_exception() -> None:
    assert errors.PyfuncOpsError.__mro__[1] is Exception


def test_worker_error_carries_the_remote_traceback() -> None:
    remote = "Traceback (most recent call last):\n  File \"x.py\"\nKeyError: 'a'"
    err = errors.WorkerError("scoring worker 12 failed", remote)
    assert err.remote_traceback == remote
    assert str(err) == f"scoring worker 12 failed\n{remote}"
    plain = errors.WorkerError("worker exited")
    assert plain.remote_traceback is None
    assert str(plain) == "worker exited"
