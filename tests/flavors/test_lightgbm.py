"""The LightGBM flavor beyond the conformance suite: what the MLmodel records, reading the
file by what it is (not what the MLmodel claims), skops types and trust, model_class
refusals, damaged files, a missing framework."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from flavor_cases import frame, target
from flavor_cases.case_lightgbm import _booster, _classifier, _regressor

from pyfunc_ops import lightgbm as pyfunc_lgb
from pyfunc_ops import pyfunc
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SerializationError,
    UntrustedModelError,
)
from pyfunc_ops.models.manifest import write_manifest

lgb = pytest.importorskip("lightgbm")
pytest.importorskip("skops")

BUILTIN = sorted(pyfunc_lgb.SKOPS_LIGHTGBM_TYPES)


def _section(path: Path) -> dict[str, Any]:
    section: dict[str, Any] = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["lightgbm"]
    return section


def _edit_mlmodel(path: Path, **changes: Any) -> None:
    mlmodel = path / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["flavors"]["lightgbm"].update(changes)
    mlmodel.write_text(yaml.safe_dump(data))
    write_manifest(path)


def _upload(folder: Path, url: str) -> str:
    from pyfunc_ops.storage.transfer import upload_tree

    upload_tree(folder, url)
    return url


def _ranker() -> Any:
    x = frame(24)
    return lgb.LGBMRanker(n_estimators=3, num_leaves=4, min_child_samples=2, verbose=-1).fit(
        x, (target(24) > 0).astype(int), group=[12, 12]
    )


def test_a_booster_is_text_and_recorded_as_mlflow_records_it(tmp_path: Path) -> None:
    """MLflow records serialization_format skops (and its types) for a text Booster too."""
    pyfunc_lgb.save_model(_booster(), tmp_path / "m", metadata={"k": "v"})
    assert (tmp_path / "m" / "model.lgb").read_bytes().startswith(b"tree\n")
    assert _section(tmp_path / "m") == {
        "lgb_version": lgb.__version__,
        "data": "model.lgb",
        "model_class": "lightgbm.basic.Booster",
        "code": None,
        "serialization_format": "skops",
        "skops_trusted_types": BUILTIN,
    }
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["flavors"]["python_function"]["loader_module"] == "mlflow.lightgbm"
    assert data["flavors"]["python_function"]["data"] == "model.lgb"
    assert data["metadata"] == {"k": "v"}
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"lightgbm=={lgb.__version__}" in reqs
    assert not any(r.startswith(("skops", "scikit-learn", "pyfunc")) for r in reqs)


@pytest.mark.parametrize(
    ("fmt", "file", "extra"),
    [
        ("skops", "model.skops", ["scikit-learn", "skops"]),
        ("pickle", "model.pkl", []),
        ("cloudpickle", "model.pkl", ["scikit-learn"]),
    ],
)
def test_an_estimator_in_each_format(tmp_path: Path, fmt: str, file: str, extra: list[str]) -> None:
    native = _classifier()
    pyfunc_lgb.save_model(native, tmp_path / "m", serialization_format=fmt)
    section = _section(tmp_path / "m")
    assert section["data"] == file and section["serialization_format"] == fmt
    assert section["model_class"] == "lightgbm.sklearn.LGBMClassifier"
    assert section["skops_trusted_types"] == (BUILTIN if fmt == "skops" else None)
    reqs = [r.split("==")[0] for r in (tmp_path / "m" / "requirements.txt").read_text().split()]
    assert all(p in reqs for p in extra)
    got = pyfunc.load_model(tmp_path / "m").predict(frame())
    np.testing.assert_array_equal(got, native.predict(frame()))
    assert got.dtype == native.predict(frame()).dtype


def test_code_reason_reads_the_class_and_format() -> None:
    booster = {"model_class": "lightgbm.basic.Booster", "serialization_format": "pickle"}
    assert pyfunc_lgb.code_reason({"lightgbm": booster}) is None
    skops = {"model_class": "lightgbm.sklearn.LGBMRegressor", "serialization_format": "skops"}
    assert pyfunc_lgb.code_reason({"lightgbm": skops}) is None
    pickled = {**skops, "serialization_format": "pickle"}
    assert "unpickling runs code" in (pyfunc_lgb.code_reason({"lightgbm": pickled}) or "")
    # MLflow's default when no format is recorded (sklearn API, before skops) is cloudpickle.
    legacy = {"model_class": "lightgbm.sklearn.LGBMRegressor"}
    assert "cloudpickle" in (pyfunc_lgb.code_reason({"lightgbm": legacy}) or "")


def test_a_pickle_posing_as_a_booster_needs_trust(tmp_path: Path, s3_bucket: str) -> None:
    """The MLmodel says Booster (no code to run), the file is a pickle: the file decides."""
    pyfunc_lgb.save_model(_booster(), tmp_path / "m")
    (tmp_path / "m" / "model.lgb").write_bytes(pickle.dumps(_regressor()))
    write_manifest(tmp_path / "m")
    url = _upload(tmp_path / "m", f"{s3_bucket}/m")
    with pytest.raises(UntrustedModelError, match=r"model\.lgb\), and unpickling runs code"):
        pyfunc.load_model(url)
    with pytest.raises(UntrustedModelError, match="unpickling runs code"):
        pyfunc_lgb.load_model(url)
    # Trusted, it is read, and the recorded class must match what it holds.
    with pytest.raises(ModelFormatError, match=r"holds a lightgbm\.sklearn\.LGBMRegressor"):
        pyfunc_lgb.load_model(url, trust_remote_code=True)


def test_a_text_booster_from_an_untrusted_source_loads(tmp_path: Path, s3_bucket: str) -> None:
    native = _booster()
    pyfunc_lgb.save_model(native, tmp_path / "m", serialization_format="pickle")
    assert _section(tmp_path / "m")["serialization_format"] == "pickle"
    url = _upload(tmp_path / "m", f"{s3_bucket}/m")
    np.testing.assert_array_equal(pyfunc.load_model(url).predict(frame()), native.predict(frame()))


def test_skops_types_beyond_lightgbms_need_the_caller_from_an_untrusted_source(
    tmp_path: Path, s3_bucket: str
) -> None:
    ranker = _ranker()
    with pytest.raises(SerializationError, match="LGBMRanker"):
        pyfunc_lgb.save_model(ranker, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    extra = ["lightgbm.sklearn.LGBMRanker"]
    pyfunc_lgb.save_model(ranker, tmp_path / "m", skops_trusted_types=extra)
    assert _section(tmp_path / "m")["skops_trusted_types"] == sorted([*BUILTIN, *extra])
    expected = ranker.predict(frame())
    # A local source is trusted: the recorded list counts.
    np.testing.assert_array_equal(pyfunc.load_model(tmp_path / "m").predict(frame()), expected)
    url = _upload(tmp_path / "m", f"{s3_bucket}/m")
    with pytest.raises(SerializationError, match="an untrusted model file cannot widen"):
        pyfunc.load_model(url)
    with pytest.raises(SerializationError, match="LGBMRanker"):
        pyfunc_lgb.load_model(url)
    got = pyfunc.load_model(url, skops_trusted_types=extra).predict(frame())
    np.testing.assert_array_equal(got, expected)
    assert type(pyfunc_lgb.load_model(url, skops_trusted_types=extra)) is lgb.LGBMRanker


@pytest.mark.parametrize("trust", [None, True])
@pytest.mark.parametrize(
    ("model_class", "match"),
    [
        ("os.system", "not a class of lightgbm; refusing to import it"),
        ("sklearn.linear_model.Ridge", "not a class of lightgbm"),
        ("lightgbm.basic.Dataset", "neither lightgbm.Booster nor an estimator"),
    ],
)
def test_a_model_class_outside_lightgbm_is_refused(
    tmp_path: Path, model_class: str, match: str, trust: bool | None
) -> None:
    pyfunc_lgb.save_model(_regressor(), tmp_path / "m", serialization_format="pickle")
    _edit_mlmodel(tmp_path / "m", model_class=model_class)
    with pytest.raises(ModelFormatError, match=match):
        pyfunc_lgb.load_model(tmp_path / "m", trust_remote_code=trust)
    with pytest.raises(ModelFormatError, match=match):
        pyfunc.load_model(tmp_path / "m")


def test_a_text_booster_recorded_as_an_estimator_is_refused(tmp_path: Path) -> None:
    pyfunc_lgb.save_model(_booster(), tmp_path / "m")
    _edit_mlmodel(tmp_path / "m", model_class="lightgbm.sklearn.LGBMRegressor")
    with pytest.raises(ModelFormatError, match="a LightGBM Booster text file, but"):
        pyfunc_lgb.load_model(tmp_path / "m")


@pytest.mark.parametrize(
    ("content", "fmt", "error", "match"),
    [
        (b"tree\nversion=v4\nthis is no model", None, SerializationError, "cannot read"),
        (b"PK\x03\x04broken zip", "skops", SerializationError, "not a readable skops file"),
        (b"\x80\x05garbage", "pickle", SerializationError, "not a readable pickle"),
        (b"hello", "skops", SerializationError, "neither a LightGBM model text file"),
    ],
)
def test_a_damaged_file_names_the_file(
    tmp_path: Path, content: bytes, fmt: str | None, error: type, match: str
) -> None:
    native = _booster() if fmt is None else _regressor()
    pyfunc_lgb.save_model(native, tmp_path / "m", serialization_format=fmt)
    file = tmp_path / "m" / _section(tmp_path / "m")["data"]
    file.write_bytes(content)
    with pytest.raises(error, match=match) as info:
        pyfunc_lgb.load_model(tmp_path / "m")
    assert file.name in str(info.value)


def test_save_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"takes a lightgbm\.Booster"):
        pyfunc_lgb.save_model(object(), tmp_path / "a")
    with pytest.raises(InvalidParameterError, match="not fitted"):
        pyfunc_lgb.save_model(lgb.LGBMRegressor(), tmp_path / "b")
    with pytest.raises(InvalidParameterError, match="serialization_format 'joblib'"):
        pyfunc_lgb.save_model(_regressor(), tmp_path / "c", serialization_format="joblib")
    with pytest.raises(InvalidParameterError, match="skops_trusted_types must be a list"):
        pyfunc_lgb.save_model(_regressor(), tmp_path / "d", skops_trusted_types="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="metadata must be a dict"):
        pyfunc_lgb.save_model(_regressor(), tmp_path / "e", metadata=[1])  # type: ignore[arg-type]
    assert not any((tmp_path / n).exists() for n in "abcde")


def test_read_native_reads_a_text_booster_only(tmp_path: Path) -> None:
    native = _booster()
    native.save_model(str(tmp_path / "b.lgb"))
    got = pyfunc_lgb.read_native(tmp_path / "b.lgb")
    np.testing.assert_array_equal(got.predict(frame()), native.predict(frame()))
    (tmp_path / "x.lgb").write_bytes(pickle.dumps(1))
    with pytest.raises(SerializationError, match=r"x\.lgb: not a LightGBM model text file"):
        pyfunc_lgb.read_native(tmp_path / "x.lgb")
    with pytest.raises(SerializationError, match="no such LightGBM model file"):
        pyfunc_lgb.read_native(tmp_path / "missing.lgb")


def test_a_missing_lightgbm_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyfunc_lgb.save_model(_booster(), tmp_path / "m")
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(LoaderError, match="pip install lightgbm") as info:
        pyfunc_lgb.load_model(tmp_path / "m")
    assert "mlflow" not in str(info.value)
    with pytest.raises(LoaderError, match="pip install lightgbm"):
        pyfunc.load_model(tmp_path / "m")


def test_log_model_registers_and_loads_back(tmp_path: Path) -> None:
    native = _regressor()
    info = pyfunc_lgb.log_model(native, "model", registered_model_name="lgb-model")
    assert info.registered_model_version == 1
    assert info.flavors["lightgbm"]["serialization_format"] == "skops"
    for uri in (info.model_uri, "models:/lgb-model/1"):
        assert type(pyfunc_lgb.load_model(uri)) is lgb.LGBMRegressor
        got = pyfunc.load_model(uri).predict(frame())
        np.testing.assert_array_equal(got, native.predict(frame()))


def test_a_missing_skops_names_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyfunc_lgb.save_model(_regressor(), tmp_path / "m")
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(LoaderError, match="pip install scikit-learn skops"):
        pyfunc_lgb.load_model(tmp_path / "m")


def test_package_model_packages_a_booster_text_file(tmp_path: Path) -> None:
    from pyfunc_ops.jobs.packaging import package_model

    native = _booster()
    native.save_model(str(tmp_path / "model.lgb"))
    result = package_model(estimator_path=str(tmp_path / "model.lgb"))
    assert type(pyfunc_lgb.load_model(result.model_uri)) is lgb.Booster
    got = pyfunc.load_model(result.model_uri).predict(frame())
    np.testing.assert_array_equal(got, native.predict(frame()))
