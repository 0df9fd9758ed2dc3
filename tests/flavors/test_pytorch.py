"""The PyTorch flavor beyond the conformance suite: what the MLmodel records for pt2 and
pickle, save refusals, the pickle module a model names, damaged files, the pt2 archive
check for untrusted sources, the pyfunc wrapper's input rules, a missing torch.

Tests needing torch are marked ``torch`` (scripts/test.sh runs them in its torch venv); the
missing-framework tests run everywhere.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from flavor_cases import frame
from flavor_cases.case_pytorch import _array, _forward, _module

from pyfunc_ops import pyfunc
from pyfunc_ops import pytorch as pyfunc_torch
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SerializationError,
    UntrustedModelError,
)
from pyfunc_ops.pytorch import pt2_check

needs_torch = [
    pytest.mark.torch,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch"),
]


def _mlmodel(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "MLmodel").read_text())


def _save_pt2(path: Path, **kwargs: Any) -> Any:
    module = _module()
    pyfunc_torch.save_model(module, path, input_example=_array(), **kwargs)
    return module


def _hand_written(path: Path, files: dict[str, bytes]) -> Path:
    """A pytorch model folder as MLflow writes it, without torch (for the missing case)."""
    (path / "data").mkdir(parents=True)
    for name, content in files.items():
        (path / "data" / name).write_bytes(content)
    (path / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "flavors": {
                    "python_function": {
                        "loader_module": "mlflow.pytorch",
                        "data": "data",
                        "pickle_module_name": "mlflow.pytorch.pickle_module",
                        "config": {"device": None},
                        "python_version": "3.11.7",
                    },
                    "pytorch": {"model_data": "data", "pytorch_version": "2.5.0", "code": None},
                }
            }
        )
    )
    return path


# --------------------------------------------------------------------------- everywhere


def test_a_missing_torch_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _hand_written(tmp_path / "m", {"model.pt2": b"PK"})
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(LoaderError, match="pip install torch") as info:
        pyfunc_torch.load_model(path)
    assert "mlflow" not in str(info.value)
    with pytest.raises(LoaderError, match="pip install torch"):
        pyfunc.load_model(path)


def test_code_reason_reads_the_recorded_format() -> None:
    assert "unpickling runs code" in str(
        pyfunc_torch.code_reason({"pytorch": {"serialization_format": "pickle"}})
    )
    assert pyfunc_torch.code_reason({"pytorch": {"serialization_format": "pt2"}}) is None
    # MLflow records no format: the loader decides from the files (model.pth is a pickle).
    assert pyfunc_torch.code_reason({"pytorch": {"model_data": "data"}}) is None


def test_the_pt2_check_reads_no_pickle_it_has_not_vetted(tmp_path: Path) -> None:
    evil = pickle.dumps(eval)  # a global outside the tensor builders
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        inner.writestr("archive/data.pkl", evil)
    with zipfile.ZipFile(tmp_path / "a.pt2", "w") as archive:
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/data/sample_inputs/model.pt", buffer.getvalue())
    reason = pyfunc_torch.pt2_code_reason(tmp_path / "a.pt2")
    assert reason is not None and "builtins.eval" in reason


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"graph": {"nodes": [{"target": "torch.serialization.os.system"}]}}, "not a torch op"),
        ({"graph": {"nodes": [{"target": "torch.ops.__class__.mro"}]}}, "not a torch op"),
        ({"sizes": [{"as_expr": {"expr_str": "__import__('os').system('id')"}}]}, "shape"),
        ({"range_constraints": {"lambdify('x', 'x')": {}}}, "shape"),
    ],
)
def test_the_pt2_check_refuses_graph_text_that_would_run_code(
    tmp_path: Path, document: dict[str, Any], expected: str
) -> None:
    import json

    with zipfile.ZipFile(tmp_path / "a.pt2", "w") as archive:
        archive.writestr("model/models/model.json", json.dumps(document))
    assert expected in str(pyfunc_torch.pt2_code_reason(tmp_path / "a.pt2"))


def test_the_pt2_check_refuses_compiled_code_and_non_zip_files(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.pt2", "w") as archive:
        archive.writestr("model/data/aotinductor/model/model.so", b"\x7fELF")
    assert "AOTInductor" in str(pyfunc_torch.pt2_code_reason(tmp_path / "a.pt2"))
    (tmp_path / "b.pt2").write_bytes(b"not a zip")
    with pytest.raises(SerializationError, match=r"b\.pt2: not a pt2 archive"):
        pyfunc_torch.pt2_code_reason(tmp_path / "b.pt2")


def test_symbols_and_torch_expressions_pass_the_check() -> None:
    ok = "Symbol('s31', positive=True, integer=True)"
    assert not pt2_check._bad_expression(ok)
    assert not pt2_check._bad_expression("FloorDiv(s0 + 2*s1, 4) - Mod(s0, 2)")
    assert pt2_check._bad_expression("Symbol.__subclasses__()")
    assert pt2_check._bad_expression("s0[0]")


# --------------------------------------------------------------------------- with torch


def _torch_test(fn: Any) -> Any:
    for mark in reversed(needs_torch):
        fn = mark(fn)
    return fn


@_torch_test
def test_pt2_has_mlflows_layout_and_requirements(tmp_path: Path) -> None:
    import torch

    _save_pt2(tmp_path / "m", metadata={"team": "vision"})
    data = _mlmodel(tmp_path / "m")
    assert data["flavors"]["pytorch"] == {
        "model_data": "data",
        "pytorch_version": torch.__version__,
        "code": None,
        "serialization_format": "pt2",
    }
    conf = data["flavors"]["python_function"]
    assert conf["loader_module"] == "mlflow.pytorch"
    assert conf["data"] == "data"
    assert conf["pickle_module_name"] == "mlflow.pytorch.pickle_module"
    assert conf["config"] == {"device": None}
    assert data["metadata"] == {"team": "vision"}
    assert data["saved_input_example_info"]["type"] == "ndarray"
    assert "tensor" in data["signature"]["inputs"] and "[-1, 4]" in data["signature"]["inputs"]
    assert "[-1, 1]" in data["signature"]["outputs"]
    assert sorted(p.name for p in (tmp_path / "m" / "data").iterdir()) == ["model.pt2"]
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"torch=={torch.__version__.split('+')[0]}" in reqs
    assert not any(r.startswith("pyfunc") for r in reqs)


@_torch_test
def test_pickle_has_mlflows_layout(tmp_path: Path) -> None:
    pyfunc_torch.save_model(_module(), tmp_path / "m", serialization_format="pickle")
    files = sorted(p.name for p in (tmp_path / "m" / "data").iterdir())
    assert files == ["model.pth", "pickle_module_info.txt"]
    info = (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text()
    assert info == "mlflow.pytorch.pickle_module"
    assert _mlmodel(tmp_path / "m")["flavors"]["pytorch"]["serialization_format"] == "pickle"


@_torch_test
def test_save_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    import torch

    with pytest.raises(InvalidParameterError, match=r"takes a torch\.nn\.Module"):
        pyfunc_torch.save_model(object(), tmp_path / "a")
    with pytest.raises(InvalidParameterError, match="needs input_example"):
        pyfunc_torch.save_model(_module(), tmp_path / "b")
    with pytest.raises(InvalidParameterError, match="'onnx' is not supported"):
        pyfunc_torch.save_model(_module(), tmp_path / "c", serialization_format="onnx")
    with pytest.raises(InvalidParameterError, match="contradict"):
        pyfunc_torch.save_model(
            _module(), tmp_path / "d", export_model=True, serialization_format="pickle"
        )
    # A tensor example gives MLflow no signature to infer: one must be passed.
    with pytest.raises(InvalidParameterError, match="needs a signature"):
        pyfunc_torch.save_model(_module(), tmp_path / "e", input_example=torch.ones(3, 4))
    with pytest.raises(InvalidParameterError, match="TorchScript"):
        pyfunc_torch.save_model(torch.jit.script(_module()), tmp_path / "f", input_example=_array())
    assert not any((tmp_path / n).exists() for n in "abcdef")


@_torch_test
def test_a_tensor_example_gives_no_pyfunc_flavor_as_in_mlflow(tmp_path: Path) -> None:
    import torch

    from pyfunc_ops.models.signature import infer_signature

    signature = infer_signature(_array())
    module = _module()
    pyfunc_torch.save_model(
        module, tmp_path / "m", input_example=torch.from_numpy(_array()), signature=signature
    )
    data = _mlmodel(tmp_path / "m")
    assert "python_function" not in data["flavors"]
    assert "saved_input_example_info" not in data
    loaded = pyfunc_torch.load_model(tmp_path / "m")
    np.testing.assert_array_equal(_forward(loaded, _array()), _forward(module, _array()))


@_torch_test
def test_export_model_is_mlflows_older_spelling_of_pt2(tmp_path: Path) -> None:
    pyfunc_torch.save_model(_module(), tmp_path / "m", input_example=_array(), export_model=True)
    assert (tmp_path / "m" / "data" / "model.pt2").is_file()


@_torch_test
def test_a_pickle_module_outside_the_known_ones_is_refused(tmp_path: Path) -> None:
    pyfunc_torch.save_model(_module(), tmp_path / "m", serialization_format="pickle")
    (tmp_path / "m" / "data" / "pickle_module_info.txt").write_text("os")
    with pytest.raises(ModelFormatError, match="pickle module 'os'"):
        pyfunc_torch.load_model(tmp_path / "m")


@_torch_test
def test_a_plain_pickle_module_loads(tmp_path: Path) -> None:
    import cloudpickle

    module = _module()
    pyfunc_torch.save_model(
        module, tmp_path / "m", serialization_format="pickle", pickle_module=cloudpickle
    )
    assert (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text() == "cloudpickle"
    loaded = pyfunc_torch.load_model(tmp_path / "m")
    np.testing.assert_array_equal(_forward(loaded, _array()), _forward(module, _array()))


@_torch_test
@pytest.mark.parametrize("name", ["model.pt2", "model.pth"])
def test_a_damaged_model_file_names_the_file(tmp_path: Path, name: str) -> None:
    if name == "model.pt2":
        _save_pt2(tmp_path / "m")
    else:
        pyfunc_torch.save_model(_module(), tmp_path / "m", serialization_format="pickle")
    (tmp_path / "m" / "data" / name).write_bytes(b"PK\x03\x04 damaged")
    with pytest.raises(SerializationError, match=name.replace(".", r"\.")):
        pyfunc_torch.load_model(tmp_path / "m")
    with pytest.raises(SerializationError, match=name.replace(".", r"\.")):
        pyfunc.load_model(tmp_path / "m")


@_torch_test
def test_a_folder_without_model_files_is_named(tmp_path: Path) -> None:
    _save_pt2(tmp_path / "m")
    (tmp_path / "m" / "data" / "model.pt2").unlink()
    with pytest.raises(ModelFormatError, match=r"neither model\.pt2 nor model\.pth"):
        pyfunc_torch.load_model(tmp_path / "m")


@_torch_test
def test_a_model_data_path_outside_the_model_is_refused(tmp_path: Path) -> None:
    _save_pt2(tmp_path / "m")
    data = _mlmodel(tmp_path / "m")
    data["flavors"]["pytorch"]["model_data"] = "../elsewhere"
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(data))
    with pytest.raises(Exception, match="outside"):
        pyfunc_torch.load_model(tmp_path / "m")


@_torch_test
def test_an_untrusted_pt2_archive_with_extra_pickles_is_refused(
    tmp_path: Path, s3_bucket: str
) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    _save_pt2(tmp_path / "m")
    with zipfile.ZipFile(tmp_path / "m" / "data" / "model.pt2", "a") as archive:
        archive.writestr("model/data/constants/custom_obj_0", pickle.dumps(print))
    upload_tree(tmp_path / "m", f"{s3_bucket}/m")
    with pytest.raises(UntrustedModelError, match="not a plain export"):
        pyfunc.load_model(f"{s3_bucket}/m")
    with pytest.raises(UntrustedModelError, match="custom_obj_0"):
        pyfunc_torch.load_model(f"{s3_bucket}/m")
    # The local folder is trusted: torch reads it (the extra record is never used).
    assert pyfunc_torch.load_model(tmp_path / "m") is not None


@_torch_test
def test_an_mlflow_written_pickle_from_an_untrusted_place_needs_trust(
    tmp_path: Path, s3_bucket: str
) -> None:
    """MLflow records no format: the loader finds model.pth and asks for trust there."""
    from pyfunc_ops.storage.transfer import upload_tree

    pyfunc_torch.save_model(_module(), tmp_path / "m", serialization_format="pickle")
    data = _mlmodel(tmp_path / "m")
    del data["flavors"]["pytorch"]["serialization_format"]
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(data))
    (tmp_path / "m" / "pyfunc_ops_manifest.json").unlink()  # as MLflow writes it: none
    upload_tree(tmp_path / "m", f"{s3_bucket}/m")
    with pytest.raises(UntrustedModelError, match="unpickling runs code"):
        pyfunc.load_model(f"{s3_bucket}/m")
    scored = pyfunc.load_model(f"{s3_bucket}/m", trust_remote_code=True).predict(frame())
    assert scored.dtypes.tolist() == [np.dtype("float32")]


@_torch_test
def test_the_wrapper_takes_frames_and_arrays_only(tmp_path: Path) -> None:
    pyfunc_torch.save_model(_module(), tmp_path / "m", serialization_format="pickle")
    model = pyfunc.load_model(tmp_path / "m")
    indexed = frame().set_axis(range(100, 124))
    out = model.predict(indexed)
    assert isinstance(out, pd.DataFrame) and list(out.index) == list(range(100, 124))
    assert isinstance(model.predict(_array()), np.ndarray)
    with pytest.raises(InvalidParameterError, match="DataFrame or a numpy ndarray"):
        model.predict([[1.0, 2.0, 3.0, 4.0]])
    raw = model.get_raw_model()
    with pytest.raises(InvalidParameterError, match="at load time"):
        raw.predict(frame(), params={"device": "cpu"})


@_torch_test
def test_a_model_returning_no_tensor_is_refused_at_predict(tmp_path: Path) -> None:
    import torch

    class Pair(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return x, x

    wrapper = pyfunc_torch._PyTorchWrapper(Pair(), "cpu")
    with pytest.raises(InvalidParameterError, match="single tensor"):
        wrapper.predict(_array())


@_torch_test
def test_read_native_reads_pt2_and_whole_module_files(tmp_path: Path) -> None:
    import torch

    module = _module()
    torch.save(module, tmp_path / "m.pth")
    program = torch.export.export(module, (torch.from_numpy(_array()),))
    torch.export.save(program, tmp_path / "m.pt2")
    expected = _forward(module, _array())
    for name in ("m.pth", "m.pt2"):
        native = pyfunc_torch.read_native(tmp_path / name)
        np.testing.assert_array_equal(_forward(native, _array()), expected)
    torch.save(module.state_dict(), tmp_path / "sd.pth")
    with pytest.raises(SerializationError, match=r"not a torch\.nn\.Module"):
        pyfunc_torch.read_native(tmp_path / "sd.pth")


@_torch_test
def test_log_model_registers_and_loads_back(tmp_path: Path) -> None:
    module = _module()
    info = pyfunc_torch.log_model(
        module, "model", registered_model_name="torch-model", input_example=_array()
    )
    assert info.registered_model_version == 1
    for uri in (info.model_uri, "models:/torch-model/1"):
        np.testing.assert_array_equal(
            pyfunc.load_model(uri).predict(_array()), _forward(module, _array())
        )
