"""core.lazy (package attributes on first use) and core.dotted (importing a module a user
names, with an error that says what to do)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from pyfunc_ops.core.dotted import import_named_module
from pyfunc_ops.core.lazy import lazy_attributes
from pyfunc_ops.errors import LoaderError


def test_a_lazy_name_is_imported_on_first_use_and_kept() -> None:
    namespace: dict[str, Any] = {}
    getattr_, dir_ = lazy_attributes("pyfunc_ops.core", {"parse_model_uri": "uri"}, namespace)
    assert "parse_model_uri" in dir_()
    function = getattr_("parse_model_uri")
    assert function is sys.modules["pyfunc_ops.core.uri"].parse_model_uri
    assert namespace["parse_model_uri"] is function


def test_an_unknown_lazy_name_is_an_attribute_error() -> None:
    getattr_, _ = lazy_attributes("pyfunc_ops.core", {}, {})
    with pytest.raises(AttributeError, match=r"module 'pyfunc_ops\.core' has no attribute 'nope'"):
        getattr_("nope")


def test_the_packages_serve_their_names_lazily() -> None:
    import pyfunc_ops.storage as storage
    import pyfunc_ops.tracking as tracking

    assert tracking.TrackingClient.__name__ == "TrackingClient"
    assert callable(storage.fetch)
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        _ = tracking.missing


def test_a_named_module_is_imported() -> None:
    assert import_named_module("metric 'json:dumps'", "json", "fix it.").dumps


def test_a_missing_module_names_what_asked_and_what_to_do() -> None:
    with pytest.raises(
        LoaderError,
        match=r"custom metric 'nowhere_xyz:f': cannot import module 'nowhere_xyz' .*; install it",
    ):
        import_named_module("custom metric 'nowhere_xyz:f'", "nowhere_xyz", "install it.")
