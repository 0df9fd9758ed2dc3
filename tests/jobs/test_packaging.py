"""package_model's request and its errors: one model form, kwargs that fit the class,
estimator files that are missing, truncated or need a module this worker lacks."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

from pyfunc_ops.errors import (
    InputNotFoundError,
    InvalidParameterError,
    LoaderError,
    SerializationError,
)
from pyfunc_ops.jobs.packaging import (
    PackageRequest,
    import_python_model,
    load_estimator_file,
    package_model,
)


def test_request_needs_exactly_one_model_form() -> None:
    with pytest.raises(InvalidParameterError, match=r"give exactly one of .*got none"):
        PackageRequest()
    with pytest.raises(InvalidParameterError, match=r"got \['python_model', 'loader_module'\]"):
        PackageRequest(python_model="a:B", loader_module="c")
    with pytest.raises(InvalidParameterError, match="data_path only applies with loader_module"):
        PackageRequest(estimator_path="m.skops", data_path="d")
    assert PackageRequest(estimator_path="m.skops").model_forms() == ["estimator_path"]


def test_extra_keywords_become_save_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyfunc_ops.jobs.packaging as packaging

    seen: list[PackageRequest] = []
    monkeypatch.setattr(packaging, "run_package", seen.append)
    package_model(
        estimator_path="m.skops", pip_requirements=["x"], save_kwargs={"code_paths": ["c"]}
    )
    assert seen[0].save_kwargs == {"code_paths": ["c"], "pip_requirements": ["x"]}
    assert seen[0].artifact_path == "model" and seen[0].serialization_format == "skops"


def test_python_model_kwargs_that_do_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fit_models.py").write_text(
        textwrap.dedent(
            """
            from pyfunc_ops.pyfunc import PythonModel

            class Scaled(PythonModel):
                def __init__(self, factor=1.0):
                    self.factor = factor
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_python_model("fit_models:Scaled", {"factor": 2}).factor == 2
    with pytest.raises(InvalidParameterError, match=r"cannot create Scaled .*\['scale'\]"):
        import_python_model("fit_models:Scaled", {"scale": 2})


def test_missing_estimator_file_is_a_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=r"estimator file .*gone\.pkl' does not exist"):
        load_estimator_file(str(tmp_path / "gone.pkl"))
    with pytest.raises(FileNotFoundError):
        load_estimator_file(str(tmp_path / "gone.joblib"))


def test_truncated_pickle_is_a_serialization_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": list(range(100))})[:20])
    with pytest.raises(SerializationError, match=r"cut\.pkl' is not a readable pkl file"):
        load_estimator_file(str(path))


def test_pickle_needing_a_missing_module_is_a_loader_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    (tmp_path / "gone_module_xyz.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_module_xyz

    path = tmp_path / "thing.pickle"
    path.write_bytes(pickle.dumps(gone_module_xyz.Thing()))
    (tmp_path / "gone_module_xyz.py").unlink()
    monkeypatch.delitem(sys.modules, "gone_module_xyz")
    with pytest.raises(LoaderError, match=r"thing\.pickle' needs a module this worker cannot"):
        load_estimator_file(str(path))
