"""The ONNX flavor beyond the conformance suite: what the MLmodel records, providers and
the CPU fallback, session options, external data confinement, the pyfunc input and output
containers, damaged files, trust for session settings, a missing framework."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from flavor_cases import frame
from flavor_cases.case_onnx import _hidden, _linear, _per_column, onnx_predict

from pyfunc_ops import onnx as pyfunc_onnx
from pyfunc_ops import pyfunc
from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SerializationError,
    UntrustedModelError,
)
from pyfunc_ops.onnx import external_data
from pyfunc_ops.pyfunc.trust import code_reason

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _edit_mlmodel(path: Path, **changes: Any) -> None:
    mlmodel = path / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["flavors"]["onnx"].update(changes)
    mlmodel.write_text(yaml.safe_dump(data))


def _data_files(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if p.suffix == ".data"]


def test_the_mlmodel_has_mlflows_keys_and_requirements(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(
        _linear(), tmp_path / "m", metadata={"team": "risk"}, input_example=frame(3)
    )
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["flavors"]["python_function"]["loader_module"] == "mlflow.onnx"
    assert data["flavors"]["python_function"]["data"] == "model.onnx"
    assert data["flavors"]["onnx"] == {
        "onnx_version": onnx.__version__,
        "code": None,
        "data": "model.onnx",
        "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
        "onnx_session_options": None,
    }
    assert data["metadata"] == {"team": "risk"}
    assert "signature" not in data  # MLflow's onnx flavor infers none from the example
    assert data["saved_input_example_info"]
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"onnx=={onnx.__version__}" in reqs
    assert f"onnxruntime=={ort.__version__}" in reqs
    assert not any(r.startswith("pyfunc") for r in reqs)


def test_a_given_signature_is_checked_and_recorded_like_every_flavors(tmp_path: Path) -> None:
    from pyfunc_ops.models import ModelSignature, infer_signature

    given = infer_signature(frame(3)).to_dict()  # the dict form is accepted, as elsewhere
    model = pyfunc_onnx.save_model(
        _linear(), tmp_path / "m", signature=given, input_example=frame(3)
    )
    assert isinstance(model.signature, ModelSignature)
    assert model.signature.to_dict() == given
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["signature"]["inputs"] == given["inputs"]
    with pytest.raises(InvalidParameterError, match="signature must be a ModelSignature"):
        pyfunc_onnx.save_model(_linear(), tmp_path / "bad", signature="x1 float")
    assert not (tmp_path / "bad").exists()


def test_a_listed_provider_this_build_lacks_falls_back_to_cpu(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # no GPU here
    pyfunc_onnx.save_model(_linear(), tmp_path / "m")
    with caplog.at_level(logging.WARNING, logger="pyfunc_ops.onnx"):
        model = pyfunc.load_model(tmp_path / "m")
    assert "CUDAExecutionProvider" in caplog.text
    session = model.get_raw_model().get_raw_model()
    assert session.get_providers() == ["CPUExecutionProvider"]
    pd.testing.assert_frame_equal(model.predict(frame()), onnx_predict(_linear(), frame()))


def test_only_unknown_providers_still_serve_on_cpu(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(
        _linear(), tmp_path / "m", onnx_execution_providers=["NoSuchExecutionProvider"]
    )
    session = pyfunc.load_model(tmp_path / "m").get_raw_model().get_raw_model()
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_providers_with_options_round_trip(tmp_path: Path) -> None:
    providers = [("CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"})]
    model = pyfunc_onnx.save_model(_linear(), tmp_path / "m", onnx_execution_providers=providers)
    assert model.flavors["onnx"]["providers"] == [
        ["CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"}]
    ]
    pd.testing.assert_frame_equal(
        pyfunc.load_model(tmp_path / "m").predict(frame()), onnx_predict(_linear(), frame())
    )


def test_session_options_are_applied(tmp_path: Path) -> None:
    options = {
        "intra_op_num_threads": 1,
        "inter_op_num_threads": 2,  # with 1, onnxruntime runs a parallel plan sequentially
        "execution_mode": "parallel",
        "graph_optimization_level": 1,
    }
    pyfunc_onnx.save_model(_linear(), tmp_path / "m", onnx_session_options=options)
    session = pyfunc.load_model(tmp_path / "m").get_raw_model().get_raw_model()
    applied = session.get_session_options()
    assert (applied.intra_op_num_threads, applied.inter_op_num_threads) == (1, 2)
    assert applied.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert applied.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ([("intra_op_num_threads", 1)], "must be a dict"),
        ({"no_such_option": 1}, "not an onnxruntime SessionOptions attribute"),
        ({"execution_mode": "eager"}, "'sequential' or 'parallel'"),
        ({"graph_optimization_level": 3}, "0, 1, 2 or 99"),
        ({"intra_op_num_threads": -1}, "integer >= 0"),
        ({"extra_session_config": {"k": 1}}, "string values"),
    ],
)
def test_bad_session_options_are_refused_at_save(tmp_path: Path, options: Any, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        pyfunc_onnx.save_model(_linear(), tmp_path / "m", onnx_session_options=options)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("providers", "match"),
    [([], "non-empty list"), ([("CPUExecutionProvider", "x")], "neither a provider name")],
)
def test_bad_providers_are_refused_at_save(tmp_path: Path, providers: Any, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        pyfunc_onnx.save_model(_linear(), tmp_path / "m", onnx_execution_providers=providers)


def test_save_refuses_what_is_not_an_onnx_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"saves an onnx\.ModelProto"):
        pyfunc_onnx.save_model(object(), tmp_path / "a")
    with pytest.raises(SerializationError, match="not a serialized ONNX model"):
        pyfunc_onnx.save_model(b"\xff\xff garbage", tmp_path / "b")
    with pytest.raises(InvalidParameterError, match=r"unknown options \['compress'\]"):
        pyfunc_onnx.save_model(_linear(), tmp_path / "c", compress=True)


def test_serialized_bytes_are_accepted(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_linear().SerializeToString(), tmp_path / "m")
    assert pyfunc_onnx.load_model(tmp_path / "m").graph.node[0].op_type == "MatMul"


def test_external_data_stays_beside_the_model_and_the_callers_proto_keeps_its_weights(
    tmp_path: Path,
) -> None:
    proto = _hidden()
    before = proto.SerializeToString()
    pyfunc_onnx.save_model(proto, tmp_path / "m")
    assert proto.SerializeToString() == before  # onnx.save_model alone would empty it
    assert len(_data_files(tmp_path / "m")) == 1
    inline = onnx.load(str(tmp_path / "m" / "model.onnx"), load_external_data=False)
    assert inline.graph.initializer[0].data_location == onnx.TensorProto.EXTERNAL
    loaded = pyfunc_onnx.load_model(tmp_path / "m")
    pd.testing.assert_frame_equal(onnx_predict(loaded, frame()), onnx_predict(proto, frame()))


def test_save_as_external_data_false_keeps_one_file(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_hidden(), tmp_path / "m", save_as_external_data=False)
    assert _data_files(tmp_path / "m") == []


def test_a_named_external_data_location_is_used_and_confined(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_hidden(), tmp_path / "m", location="weights.data")
    assert (tmp_path / "m" / "weights.data").is_file()
    with pytest.raises(ModelFormatError, match="location"):
        pyfunc_onnx.save_model(_hidden(), tmp_path / "n", location="../escape.data")
    assert not (tmp_path / "escape.data").exists()


def _point_external_data_at(model_dir: Path, location: str) -> None:
    proto = onnx.load(str(model_dir / "model.onnx"), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (model_dir / "model.onnx").write_bytes(proto.SerializeToString())


@pytest.mark.parametrize("location", ["../outside.data", "/etc/hostname"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path: Path, location: str) -> None:
    pyfunc_onnx.save_model(_hidden(), tmp_path / "m")
    (tmp_path / "outside.data").write_bytes(_data_files(tmp_path / "m")[0].read_bytes())
    _point_external_data_at(tmp_path / "m", location)
    with pytest.raises(ModelFormatError, match="external data location"):
        pyfunc_onnx.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="external data location"):
        pyfunc.load_model(tmp_path / "m")


def test_a_symlinked_external_data_file_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_hidden(), tmp_path / "m")
    data = _data_files(tmp_path / "m")[0]
    (tmp_path / "outside.data").write_bytes(data.read_bytes())
    data.unlink()
    data.symlink_to(tmp_path / "outside.data")
    with pytest.raises(ModelFormatError, match=r"outside|leaves|symlink|link"):
        pyfunc_onnx.load_model(tmp_path / "m")


def test_a_missing_external_data_file_is_named(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_hidden(), tmp_path / "m")
    data = _data_files(tmp_path / "m")[0]
    data.unlink()
    with pytest.raises(ModelFormatError, match=rf"names '{data.name}', but .* does not exist"):
        pyfunc.load_model(tmp_path / "m")


def test_a_damaged_model_file_is_named(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_linear(), tmp_path / "m")
    (tmp_path / "m" / "model.onnx").write_bytes(b"\xff\xfe not protobuf")
    with pytest.raises(SerializationError, match=r"model\.onnx: not a readable ONNX model"):
        pyfunc_onnx.load_model(tmp_path / "m")
    with pytest.raises(SerializationError, match=r"model\.onnx: not a readable ONNX model"):
        pyfunc.load_model(tmp_path / "m")


def test_an_invalid_graph_is_named(tmp_path: Path) -> None:
    proto = _linear()
    proto.graph.node[0].input[1] = "no_such_tensor"
    pyfunc_onnx.save_model(proto, tmp_path / "m")
    with pytest.raises(SerializationError, match=r"model\.onnx: not a valid ONNX model"):
        pyfunc_onnx.load_model(tmp_path / "m")
    with pytest.raises(SerializationError, match=r"model\.onnx: onnxruntime cannot load it"):
        pyfunc.load_model(tmp_path / "m")


def test_predict_containers_match_mlflows_wrapper(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_linear(), tmp_path / "m")
    model = pyfunc.load_model(tmp_path / "m")
    x = frame().to_numpy(dtype=np.float32)
    from_frame = model.predict(frame())
    assert list(from_frame.columns) == ["y"] and from_frame["y"].dtype == np.float32
    from_array = model.predict(x)
    assert isinstance(from_array, dict) and from_array["y"].shape == (24, 1)
    from_dict = model.predict({"x": x})
    np.testing.assert_array_equal(from_dict["y"], from_array["y"])
    np.testing.assert_array_equal(from_frame["y"].to_numpy(), from_array["y"].reshape(-1))
    with pytest.raises(InvalidParameterError, match="predicts from a pandas DataFrame"):
        model.predict([[1.0, 2.0, 3.0, 4.0]])


def test_a_multi_input_graph_takes_one_column_per_input(tmp_path: Path) -> None:
    pyfunc_onnx.save_model(_per_column(), tmp_path / "m")
    model = pyfunc.load_model(tmp_path / "m")
    out = model.predict(frame())
    assert list(out.columns) == ["y", "z"] and out["y"].dtype == np.float64
    np.testing.assert_allclose(out["z"], frame()["f2"] * frame()["f3"])
    with pytest.raises(InvalidParameterError, match="single-input model only"):
        model.predict(frame().to_numpy())
    with pytest.raises(InvalidParameterError, match=r"the frame lacks \['f3'\]"):
        model.predict(frame().drop(columns="f3"))


def test_read_native_reads_an_onnx_file_with_its_external_data(tmp_path: Path) -> None:
    onnx.save_model(_hidden(), str(tmp_path / "net.onnx"), save_as_external_data=True)
    assert ".onnx" in pyfunc_onnx.NATIVE_SUFFIXES
    loaded = pyfunc_onnx.read_native(tmp_path / "net.onnx")
    pd.testing.assert_frame_equal(onnx_predict(loaded, frame()), onnx_predict(_hidden(), frame()))


def test_session_settings_that_reach_past_mlflows_options_need_trust(tmp_path: Path) -> None:
    plain = pyfunc_onnx.save_model(_linear(), tmp_path / "plain")
    assert code_reason(plain.flavors) is None
    extra = pyfunc_onnx.save_model(
        _linear(),
        tmp_path / "extra",
        onnx_session_options={"extra_session_config": {"session.intra_op.allow_spinning": "0"}},
    )
    assert "extra_session_config" in (code_reason(extra.flavors) or "")
    with_options = pyfunc_onnx.save_model(
        _linear(),
        tmp_path / "options",
        onnx_execution_providers=[
            ("CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"})
        ],
    )
    assert "provider options" in (code_reason(with_options.flavors) or "")


def test_an_untrusted_source_with_session_config_needs_trust(
    tmp_path: Path, s3_bucket: str
) -> None:
    from pyfunc_ops.storage.transfer import upload_tree

    pyfunc_onnx.save_model(
        _linear(),
        tmp_path / "m",
        onnx_session_options={"extra_session_config": {"session.intra_op.allow_spinning": "0"}},
    )
    url = f"{s3_bucket}/onnx-extra"
    upload_tree(tmp_path / "m", url)
    with pytest.raises(UntrustedModelError, match="extra_session_config"):
        pyfunc.load_model(url)
    assert pyfunc_onnx.load_model(url) is not None  # the graph alone is data
    expected = onnx_predict(_linear(), frame())
    pd.testing.assert_frame_equal(
        pyfunc.load_model(url, trust_remote_code=True).predict(frame()), expected
    )


def test_a_missing_framework_names_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyfunc_onnx.save_model(_linear(), tmp_path / "m")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(LoaderError, match="pip install onnx onnxruntime") as info:
        pyfunc.load_model(tmp_path / "m")
    assert "mlflow" not in str(info.value)


def test_log_model_registers_and_loads_back() -> None:
    info = pyfunc_onnx.log_model(_hidden(), "model", registered_model_name="onnx-model")
    assert info.registered_model_version == 1
    expected = onnx_predict(_hidden(), frame())
    for uri in (info.model_uri, "models:/onnx-model/1"):
        pd.testing.assert_frame_equal(pyfunc.load_model(uri).predict(frame()), expected)
        assert pyfunc_onnx.load_model(uri).graph.node[0].op_type == "MatMul"


def _with_subgraph() -> Any:
    """An If node whose branches hold 1 KB initializers: external data below the top graph."""
    from onnx import TensorProto, helper, numpy_helper

    def branch(name: str, scale: float) -> Any:
        weights = np.full((4, 64), scale, dtype=np.float32)
        return helper.make_graph(
            [helper.make_node("MatMul", ["x", f"W_{name}"], [f"out_{name}"])],
            name,
            [],
            [helper.make_tensor_value_info(f"out_{name}", TensorProto.FLOAT, [None, 64])],
            [numpy_helper.from_array(weights, f"W_{name}")],
        )

    node = helper.make_node(
        "If", ["cond"], ["y"], then_branch=branch("then", 1.0), else_branch=branch("else", -1.0)
    )
    graph = helper.make_graph(
        [node],
        "with_if",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 64])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def test_the_wire_walk_finds_what_onnx_finds_in_subgraphs(tmp_path: Path) -> None:
    """The pyfunc load reads external data locations from the protobuf bytes itself (no
    ``import onnx``); it must see every tensor onnx sees, subgraphs included."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    pyfunc_onnx.save_model(_with_subgraph(), tmp_path / "m", all_tensors_to_one_file=False)
    file = tmp_path / "m" / "model.onnx"
    proto = onnx.load(str(file), load_external_data=False)
    expected = sorted(
        (t.name, next(e.value for e in t.external_data if e.key == "location"))
        for t in _get_all_tensors(proto)
        if uses_external_data(t)
    )
    assert len(expected) == 2
    found = sorted(external_data.external_locations(memoryview(file.read_bytes())))
    assert found == expected
    _point_subgraph_data_at(file, "../escape.data")
    with pytest.raises(ModelFormatError, match="tensor 'W_then' external data location"):
        pyfunc.load_model(tmp_path / "m")


def _point_subgraph_data_at(file: Path, location: str) -> None:
    proto = onnx.load(str(file), load_external_data=False)
    branch = next(a.g for a in proto.graph.node[0].attribute if a.name == "then_branch")
    for entry in branch.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    file.write_bytes(proto.SerializeToString())


def test_the_pyfunc_load_does_not_import_onnx(tmp_path: Path) -> None:
    import subprocess

    pyfunc_onnx.save_model(_hidden(), tmp_path / "m")
    code = (
        "import sys\nfrom pyfunc_ops import pyfunc\nimport pandas as pd\n"
        f"m = pyfunc.load_model({str(tmp_path / 'm')!r})\n"
        "m.predict(pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], columns=list('abcd')))\n"
        "assert 'onnx' not in sys.modules, 'onnx was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
