"""Settings are resolved once per entry point: ``with_settings`` / ``resolved_settings``
read the environment at most once per call, a caller's ``use_settings`` still wins, and
the tracking URI ranks as before (``set_tracking_uri`` over the environment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pyfunc_ops import config
from pyfunc_ops.config import (
    Settings,
    current_settings,
    resolved_settings,
    scoped_settings,
    use_settings,
    with_settings,
)
from pyfunc_ops.errors import InvalidParameterError


@pytest.fixture
def env_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the calls of ``Settings.from_env`` (one item per read)."""
    reads: list[int] = []
    original = Settings.from_env.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Settings], *args: Any, **kwargs: Any) -> Settings:
        reads.append(1)
        return original(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Settings, "from_env", classmethod(counting))
    yield reads


class Doubler:
    def predict(self, df: pd.DataFrame) -> Any:
        return (2 * df["a"]).to_numpy()


def _input(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(folder / f"p{i}.parquet")
    return folder


def test_outside_an_entry_point_every_call_reads_the_environment(env_reads: list[int]) -> None:
    current_settings()
    current_settings()
    assert len(env_reads) == 2


def test_score_files_reads_the_environment_once(tmp_path: Path, env_reads: list[int]) -> None:
    from pyfunc_ops.jobs.scoring import score_files

    result = score_files(
        "unused", str(_input(tmp_path)), str(tmp_path / "out.parquet"), model=Doubler()
    )
    assert result.rows_out == 6
    assert len(env_reads) == 1


def test_save_and_load_model_read_the_environment_once_each(
    tmp_path: Path, env_reads: list[int]
) -> None:
    from pyfunc_ops.pyfunc import PythonModel, load_model, save_model

    class Echo(PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    save_model(str(tmp_path / "m"), python_model=Echo())
    saved = len(env_reads)
    assert saved <= 1
    model = load_model(str(tmp_path / "m"))
    assert len(env_reads) - saved <= 1
    assert model.predict(pd.DataFrame({"a": [1]}))["a"].tolist() == [1]


def test_a_callers_scope_wins(tmp_path: Path, env_reads: list[int]) -> None:
    from pyfunc_ops.jobs.scoring import score_files

    chosen = Settings.from_env(environ={"PYFUNC_OPS_HOME": str(tmp_path / "chosen")})
    env_reads.clear()
    seen: list[Settings] = []

    @with_settings
    def entry_point() -> None:
        seen.append(current_settings())

    with use_settings(chosen):
        entry_point()
        score_files("unused", str(_input(tmp_path)), str(tmp_path / "o.parquet"), model=Doubler())
        with resolved_settings():
            seen.append(current_settings())
    assert seen == [chosen, chosen]
    assert env_reads == []


def test_a_scope_opened_inside_an_entry_point_wins(tmp_path: Path) -> None:
    chosen = Settings.from_env(environ={"PYFUNC_OPS_HOME": str(tmp_path / "inner")})
    with resolved_settings():
        outer = current_settings()
        with use_settings(chosen):
            assert current_settings() is chosen
        assert current_settings() is outer


def test_one_value_per_entry_point(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with resolved_settings():
        first = current_settings()
        monkeypatch.setenv("PYFUNC_OPS_HOME", str(tmp_path / "changed"))
        with resolved_settings():  # nested: the outer one's value
            assert current_settings() is first
        assert current_settings() is first
        assert scoped_settings() is None  # read, not chosen by the caller
    assert current_settings().home == (tmp_path / "changed").absolute()


def test_the_environment_is_read_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYFUNC_OPS_READ_TIMEOUT", "soon")

    @with_settings
    def untouched() -> str:
        return "done"

    assert untouched() == "done"
    with (
        pytest.raises(InvalidParameterError, match="PYFUNC_OPS_READ_TIMEOUT"),
        resolved_settings(),
    ):
        current_settings()


def test_set_tracking_uri_still_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pyfunc_ops import tracking

    monkeypatch.setenv("PYFUNC_OPS_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    tracking.set_tracking_uri(f"sqlite:///{tmp_path / 'chosen.db'}")
    try:
        with resolved_settings():
            assert tracking.get_tracking_uri().endswith("chosen.db")
            assert config.tracking_uri().endswith("env.db")
    finally:
        tracking.set_tracking_uri(None)


def test_with_settings_keeps_the_signature() -> None:
    import inspect

    from pyfunc_ops.pyfunc import load_model

    assert "model_uri" in inspect.signature(load_model).parameters
    assert load_model.__name__ == "load_model"


def test_a_flavor_save_and_load_read_the_environment_once_each(
    tmp_path: Path, env_reads: list[int]
) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from pyfunc_ops import sklearn as pk

    estimator = LinearRegression().fit(np.array([[0.0], [1.0], [2.0]]), [0.0, 2.0, 4.0])
    pk.save_model(estimator, str(tmp_path / "m"))
    saved = len(env_reads)
    assert saved <= 1
    loaded = pk.load_model(str(tmp_path / "m"))
    assert len(env_reads) - saved <= 1
    assert loaded.predict(np.array([[3.0]])).round(6).tolist() == [6.0]


def test_a_registry_lookup_reads_the_environment_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_reads: list[int]
) -> None:
    from pyfunc_ops.tracking.client import TrackingClient, resolve_model_uri

    monkeypatch.setenv("PYFUNC_OPS_HOME", str(tmp_path / "home"))
    client = TrackingClient()
    client.create_registered_model("scoped")
    client.create_model_version("scoped", str(tmp_path / "somewhere"))
    env_reads.clear()
    assert resolve_model_uri("models:/scoped/1") == str(tmp_path / "somewhere")
    assert len(env_reads) == 1


def test_a_cli_command_reads_the_environment_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env_reads: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pyfunc_ops.cli import main

    monkeypatch.setenv("PYFUNC_OPS_HOME", str(tmp_path / "home"))
    assert main(["cache", "list"]) == 0
    assert len(env_reads) == 1
