"""ONNX: tiny graphs built with ``onnx.helper`` (no converter needed).

A linear model (MatMul + Add) with one float input fed the frame's whole matrix; a hidden
layer large enough (1 KB tensors) to go to an external data file under MLflow's default
``save_as_external_data=True``, and the same kept inline; a graph with one input per frame
column and two outputs; session options. Every model records MLflow's default providers
(CUDA, then CPU): this machine has no GPU, so each load also shows the CPU fallback.

pyfunc predict (MLflow's wrapper) returns a DataFrame with one flattened column per graph
output; ``native_predict`` runs the proto on onnxruntime and builds that frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from flavor_cases import Case

_WEIGHTS = np.array([[1.5], [-2.0], [0.5], [1.0]], dtype=np.float32)


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any], tensors: list[Any]) -> Any:
    from onnx import helper

    graph = helper.make_graph(nodes, "pyfunc_ops_case", inputs, outputs, tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # what onnxruntime releases of the last two years all read
    return model


def _linear() -> Any:
    from onnx import TensorProto, helper, numpy_helper

    return _model(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(_WEIGHTS, "W"), numpy_helper.from_array(np.float32([0.25]), "b")],
    )


def _hidden() -> Any:
    """4 -> 64 (relu) -> 1: the 4x64 and 64x1 weights are 1 KB and 256 B, so the first goes
    to an external data file when saved with save_as_external_data=True."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w1 = rng.normal(size=(4, 64)).astype(np.float32)
    w2 = rng.normal(size=(64, 1)).astype(np.float32) / 8
    return _model(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "W2"], ["score"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )


def _per_column() -> Any:
    """One 1-D double input per frame column (f0..f3); outputs y = 1.5 f0 - 2 f1 and
    z = f2 * f3 (float64: no cast on the way in)."""
    from onnx import TensorProto, helper, numpy_helper

    def column(name: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.DOUBLE, [None])

    return _model(
        [
            helper.make_node("Mul", ["f0", "a"], ["f0a"]),
            helper.make_node("Mul", ["f1", "c"], ["f1c"]),
            helper.make_node("Add", ["f0a", "f1c"], ["y"]),
            helper.make_node("Mul", ["f2", "f3"], ["z"]),
        ],
        [column(f"f{i}") for i in range(4)],
        [column("y"), column("z")],
        [
            numpy_helper.from_array(np.float64(1.5), "a"),
            numpy_helper.from_array(np.float64(-2.0), "c"),
        ],
    )


def onnx_predict(proto: Any, data: pd.DataFrame) -> pd.DataFrame:
    """What MLflow's ONNX pyfunc returns for a frame, computed with onnxruntime alone."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    inputs = session.get_inputs()
    if len(inputs) == 1:
        feed = {inputs[0].name: data.to_numpy()}
    else:
        feed = {i.name: data[i.name].to_numpy() for i in inputs}
    for i in inputs:
        if i.type == "tensor(float)":
            feed[i.name] = feed[i.name].astype(np.float32)
    names = [o.name for o in session.get_outputs()]
    out = session.run(names, feed)
    return pd.DataFrame({n: np.asarray(v).reshape(-1) for n, v in zip(names, out, strict=True)})


CASES = [
    Case(
        "onnx-linear",
        "onnx",
        _linear,
        native_predict=onnx_predict,
        requires=("onnx", "onnxruntime"),
    ),
    Case(
        "onnx-external-data",
        "onnx",
        _hidden,
        {"save_as_external_data": True},
        native_predict=onnx_predict,
        requires=("onnx", "onnxruntime"),
    ),
    Case(
        "onnx-inline",
        "onnx",
        _hidden,
        {"save_as_external_data": False},
        native_predict=onnx_predict,
        requires=("onnx", "onnxruntime"),
    ),
    Case(
        "onnx-per-column-two-outputs",
        "onnx",
        _per_column,
        native_predict=onnx_predict,
        requires=("onnx", "onnxruntime"),
        # Without a signature (MLflow's onnx infers none) spark_udf names the columns 0..3,
        # which a per-column graph cannot take; two outputs are no one Spark column either.
        udf_result_type=None,  # type: ignore[arg-type]
    ),
    Case(
        "onnx-session-options-cpu",
        "onnx",
        _linear,
        {
            "onnx_execution_providers": ["CPUExecutionProvider"],
            "onnx_session_options": {
                "intra_op_num_threads": 1,
                "execution_mode": "sequential",
                "graph_optimization_level": 99,
            },
        },
        native_predict=onnx_predict,
        requires=("onnx", "onnxruntime"),
    ),
]
