"""Adding a tracking backend is one module plus one registry line.

The module is ``memory_backend.py`` beside this file (a toy that keeps everything in
memory, implementing only the store base's primitives); the line is ``TOY`` below,
registered for the duration of each test. The conformance tests imported here then run
against it unchanged: pytest collects them in this module, where ``tracking_uri`` is the
toy's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pyfunc_ops.tracking import TrackingClient, backends

from .test_alias_compare_and_set import (  # noqa: F401 - collected here, on the toy
    test_a_retried_promotion_is_idempotent,
    test_expected_version_moves_the_alias_only_from_where_it_was,
    test_missing_version_is_reported_before_the_comparison,
)
from .test_registry import (  # noqa: F401 - collected here, on the toy
    test_aliases_point_and_move,
    test_create_and_get_registered_model,
    test_delete_model_version_never_reuses_numbers,
    test_duplicate_registered_model,
    test_latest_versions_per_stage,
    test_not_found_errors_are_worded_as_by_sqlite,
    test_search_model_versions,
    test_stage_transitions_case_insensitive,
    test_tag_deletes_and_their_errors,
    test_versions_are_numbered_per_model,
)
from .test_runs import (  # noqa: F401 - collected here, on the toy
    test_params_are_immutable_but_relogging_is_idempotent,
    test_runs_behave_as_in_sql,
    test_search_runs_newest_first_with_filters,
)

# The one registry line: scheme, the backend module's dotted path, its install hint.
TOY = backends.BackendSpec("memtrack", f"{__package__}.memory_backend", "nothing (a test's toy)")


@pytest.fixture
def tracking_uri(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty toy store, also set as PYFUNC_OPS_TRACKING_URI."""
    backends.register_backend(TOY)
    uri = f"memtrack://{uuid.uuid4().hex}"
    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", uri)
    try:
        yield uri
    finally:
        backends.unregister_backend(TOY.scheme)


def test_the_registry_line_is_all_it_takes(tracking_uri: str) -> None:
    assert backends.is_tracking_uri(tracking_uri)
    assert backends.backend_for(tracking_uri) == TOY
    assert type(TrackingClient().registry).__name__ == "MemoryRegistry"
    assert not backends.is_tracking_uri("s3://bucket/models")


def test_without_the_line_the_scheme_is_unknown() -> None:
    from pyfunc_ops.errors import InvalidURIError

    with pytest.raises(InvalidURIError, match=r"'memtrack' names a database driver.*sqlite"):
        TrackingClient("memtrack://x")
