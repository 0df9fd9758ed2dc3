"""The error hierarchy: one root, narrow subclasses that are also the expected built-ins,
and for each class one real place that raises it."""

from __future__ import annotations

from pathlib import Path

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
    errors.InputNotFoundError: FileNotFoundError,
    errors.TrackingStoreError: ConnectionError,
    errors.IntegrityError: ValueError,
    errors.UntrustedModelError: PermissionError,
    errors.ResourceNotFoundError: LookupError,
    errors.ResourceExistsError: ValueError,
    errors.AliasConflictError: RuntimeError,
    errors.LoaderError: ImportError,
    errors.SchemaEnforcementError: ValueError,
    errors.SerializationError: ValueError,
    errors.ResultTypeError: TypeError,
    errors.ModelEnvironmentError: RuntimeError,
    errors.WorkerError: RuntimeError,
    errors.ModelValidationError: RuntimeError,
    errors.StoragePermissionError: PermissionError,
    errors.ScoringError: RuntimeError,
    errors.LockTimeoutError: TimeoutError,
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


def test_new_classes_are_caught_as_the_builtin_callers_expect() -> None:
    """``except FileNotFoundError`` sees a missing job input, ``except OSError`` an
    unreachable store, ``except ValueError`` a digest mismatch and ``except
    PermissionError`` an untrusted model."""
    with pytest.raises(FileNotFoundError, match="input"):
        raise errors.InputNotFoundError("input 'in.csv' is missing")
    with pytest.raises(OSError, match="store"):
        raise errors.TrackingStoreError("store down")
    with pytest.raises(ValueError, match="digest"):
        raise errors.IntegrityError("digest differs")
    with pytest.raises(PermissionError, match="trust"):
        raise errors.UntrustedModelError("trust_remote_code=True needed")
    assert not issubclass(errors.InputNotFoundError, errors.ResourceNotFoundError)
    assert not issubclass(errors.InputNotFoundError, LookupError)


# -- real raise sites ---------------------------------------------------------------------


def test_unreachable_tracking_store_raises_tracking_store_error() -> None:
    from pyfunc_ops.tracking import TrackingClient

    client = TrackingClient("postgresql+psycopg://someone:secret@127.0.0.1:1/nothing")
    with pytest.raises(
        errors.TrackingStoreError, match=r"cannot open the tracking database.*127\.0\.0\.1:1"
    ) as info:
        client.get_run("x")
    assert "secret" not in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_tracking_store_that_fails_after_opening_raises_tracking_store_error(
    tmp_path: Path,
) -> None:
    from sqlalchemy import create_engine, text

    from pyfunc_ops.tracking.engine import read_transaction, write_transaction

    engine = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'x.db'}")
    try:
        for transaction in (read_transaction, write_transaction):
            with (
                pytest.raises(
                    errors.TrackingStoreError,
                    match=r"the tracking database 'sqlite:///.*x\.db' failed: .*check that",
                ),
                transaction(engine) as conn,
            ):
                conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def test_newer_tracking_schema_raises_tracking_store_error(tmp_path: Path) -> None:
    from pyfunc_ops.tracking import TrackingClient, migrations, schema
    from pyfunc_ops.tracking.engine import dispose_engines, get_engine

    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    with get_engine(url).begin() as conn:
        conn.execute(schema.schema_version.update().values(version=99))
    dispose_engines(url)
    try:
        with pytest.raises(
            errors.TrackingStoreError,
            match=f"schema version 99, newer than the version {migrations.latest_version()}",
        ):
            TrackingClient(url).get_run("x")
    finally:
        dispose_engines(url)


def test_model_asset_with_alias_and_stage_raises_invalid_parameter() -> None:
    pytest.importorskip("airflow.sdk")
    from pyfunc_ops.airflow.assets import model_asset

    with pytest.raises(
        errors.InvalidParameterError,
        match=r"model_asset\('churn'\): give alias or stage, not both; got alias='champion' and "
        r"stage='Production'",
    ):
        model_asset("churn", alias="champion", stage="Production")


def test_bad_alias_in_registry_and_uri_raise_their_own_classes() -> None:
    from pyfunc_ops.core.names import validate_alias
    from pyfunc_ops.core.uri import parse_model_uri

    with pytest.raises(errors.InvalidParameterError, match=r"alias 'latest' .* is reserved"):
        validate_alias("latest", "churn")
    with pytest.raises(errors.InvalidURIError, match=r"alias 'latest' .* is reserved"):
        parse_model_uri("models:/churn@latest")
