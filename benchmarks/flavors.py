"""Benchmark: the framework flavors (issue 23), pyfunc_ops against the framework alone and MLflow.

Four small but real models, each on 8 float columns ``x0..x7``:

* ``xgboost``  - ``XGBRegressor(n_estimators=50, max_depth=6)`` fitted on 20,000 rows,
  saved as ``model.ubj`` (the default format);
* ``lightgbm`` - a ``Booster`` of 50 trees (``num_leaves=63, max_depth=6``) fitted on the
  same rows, saved as its text file ``model.lgb``;
* ``onnx``     - an MLP 8 -> 64 -> 64 -> 1 (Gemm/Relu, float32) built with ``onnx.helper``,
  ``model.onnx`` with its weights as external data (MLflow's default);
* ``pytorch``  - an MLP 8 -> 64 -> 64 -> 1 trained briefly, exported as ``data/model.pt2``
  (the default format; an ndarray example and a tensor signature).

Each model is saved once by each side: by pyfunc_ops with its flavor module
(``pyfunc_ops.<flavor>.save_model``) and by MLflow 3.x with ``mlflow.<flavor>.save_model``
(its venv, ``scripts/mlflow_venv.sh``), with the same signature; the framework floor reads
the model file of our folder. The tabular flavors take a float64 DataFrame, PyTorch a
float32 ndarray (what its tensor signature takes); every variant gets the same values.

Measured, for each flavor:

1. cold: a new process that imports what it needs, loads the model and predicts one row;
   the wall time of the whole process. ``ours``: ``pyfunc_ops.pyfunc.load_model(folder)
   .predict``; ``mlflow``: ``mlflow.pyfunc.load_model`` likewise; ``floor``: the framework
   alone (``XGBRegressor().load_model``, ``lightgbm.Booster(model_file=...)``,
   ``onnxruntime.InferenceSession``, ``torch.export.load(...).module()``) and its predict.
   Variants are interleaved round by round (round 0, a warm-up, is not counted);
2. batch: ``predict`` on 1,000,000 rows in a warm process, against the framework's own
   predict on the same input in the same process (interleaved; one warm-up call each);
   MLflow's ``PyFuncModel.predict`` in its venv, for information.

PyTorch is not in the main ``.venv``: its ``ours`` and ``floor`` processes run in the torch
venv (``$HOME/.cache/pyfunc_ops/torch-venv``, built as ``scripts/test.sh`` builds it when
absent; ``PYFUNC_OPS_BENCH_TORCH_PYTHON`` names another interpreter), MLflow's in the
MLflow venv, which holds every framework.

    .venv/bin/python benchmarks/flavors.py [--quick] [--flavor xgboost ...]

``run(quick)`` returns the rows ``benchmarks/run.py`` renders (``--only flavors``); per
flavor, cold <= 1.10x the framework alone and <= 0.70x MLflow, batch <= 1.05x the
framework, and batch against MLflow for information.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUR_PYTHON, ROOT, child_env, median, mlflow_python, run_child, write_json

FLAVORS = ("xgboost", "lightgbm", "onnx", "pytorch")
FEATURES = [f"x{i}" for i in range(8)]
TRAIN_ROWS = 20_000
FULL = {"rows": 1_000_000, "cold_rounds": 5, "runs": 5}
QUICK = {"rows": 50_000, "cold_rounds": 1, "runs": 2}
# Issue 23, acceptance point 8.
COLD_VS_FRAMEWORK = 1.10
COLD_VS_MLFLOW = 0.70
BATCH_VS_FRAMEWORK = 1.05

DESCRIPTION = {
    "xgboost": "xgboost XGBRegressor (50 trees, depth 6, ubj)",
    "lightgbm": "LightGBM Booster (50 trees, 63 leaves, text)",
    "onnx": "ONNX MLP 8-64-64-1 (onnxruntime)",
    "pytorch": "PyTorch MLP 8-64-64-1 (pt2)",
}
FRAMEWORK_LABEL = {
    "xgboost": "xgboost alone",
    "lightgbm": "lightgbm alone",
    "onnx": "onnxruntime alone",
    "pytorch": "torch alone",
}

# --- per flavor: how the framework alone loads and predicts, and the input ----------------
# ``imports`` are what the floor needs (ours and MLflow's processes import only numpy and,
# for a DataFrame input, pandas: whatever else they need is their own cost); ``load`` binds
# ``raw`` from the model file ``a["file"]``; ``raw_predict(x)`` is the framework's predict.
TABULAR_INPUT = "pd.DataFrame(X, columns=[f'x{i}' for i in range(8)])"
RAW: dict[str, dict[str, str]] = {
    "xgboost": {
        "imports": "import pandas as pd, xgboost",
        "load": "raw = xgboost.XGBRegressor()\nraw.load_model(a['file'])",
        "predict": "def raw_predict(x):\n    return raw.predict(x)",
    },
    "lightgbm": {
        "imports": "import pandas as pd, lightgbm",
        "load": "raw = lightgbm.Booster(model_file=a['file'])",
        "predict": "def raw_predict(x):\n    return raw.predict(x)",
    },
    "onnx": {
        "imports": "import pandas as pd, onnxruntime",
        "load": "raw = onnxruntime.InferenceSession(a['file'], providers=['CPUExecutionProvider'])",
        "predict": (
            "def raw_predict(x):\n    return raw.run(None, {'x': x.to_numpy(dtype=np.float32)})[0]"
        ),
    },
    "pytorch": {
        "imports": "import torch",
        "load": "raw = torch.export.load(a['file']).module()",
        "predict": (
            "def raw_predict(x):\n"
            "    with torch.no_grad():\n"
            "        return raw(torch.from_numpy(x)).numpy()"
        ),
    },
}
INPUT_IMPORTS = {"pytorch": ""}  # tabular flavors: "import pandas as pd"
INPUT = {"pytorch": "X.astype(np.float32)"}  # tabular flavors: TABULAR_INPUT


def _input_imports(flavor: str) -> str:
    return INPUT_IMPORTS.get(flavor, "import pandas as pd")


def _input(flavor: str) -> str:
    return INPUT.get(flavor, TABULAR_INPUT)


def _pyfunc_import(lib: str) -> str:
    return (
        "from pyfunc_ops.pyfunc import load_model"
        if lib == "ours"
        else "from mlflow.pyfunc import load_model"
    )


def cold_code(flavor: str, variant: str) -> str:
    """The cold process of ``variant`` (``floor``, ``ours`` or ``mlflow``): imports, load,
    one row, its prediction as ``RESULT``."""
    head = "import json, sys\nimport numpy as np\n"
    row = "X = np.full((1, 8), 0.5)\nrow = " + _input(flavor) + "\n"
    if variant == "floor":
        spec = RAW[flavor]
        body = (
            f"{spec['imports']}\na = json.loads(sys.argv[1])\n{spec['load']}\n{spec['predict']}\n"
        )
        body += row + "p = raw_predict(row)\n"
    else:
        body = f"{_pyfunc_import(variant)}\n{_input_imports(flavor)}\na = json.loads(sys.argv[1])\n"
        body += "model = load_model(a['path'])\n" + row + "p = model.predict(row)\n"
    return head + body + 'print("RESULT " + json.dumps({"p": float(np.asarray(p).ravel()[0])}))\n'


def batch_code(flavor: str, lib: str) -> str:
    """A warm process timing ``lib``'s ``PyFuncModel.predict`` and the framework's own
    predict on the same ``a["rows"]`` rows, interleaved."""
    spec = RAW[flavor]
    return f"""
import json, sys, time
import numpy as np
{spec["imports"]}
{_pyfunc_import(lib)}
a = json.loads(sys.argv[1])
{spec["load"]}
{spec["predict"]}
model = load_model(a["path"])
X = np.random.default_rng(1).standard_normal((a["rows"], 8))
batch = {_input(flavor)}
del X

def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start

check = float(np.max(np.abs(np.asarray(model.predict(batch[:1000])).ravel()
                            - np.asarray(raw_predict(batch[:1000])).ravel())))
res = {{"model": [], "raw": [], "check": check}}
timed(lambda: raw_predict(batch)); timed(lambda: model.predict(batch))  # warm-up
for _ in range(a["runs"]):  # interleaved, so that load drifts hit both alike
    res["raw"].append(timed(lambda: raw_predict(batch)))
    res["model"].append(timed(lambda: model.predict(batch)))
print("RESULT " + json.dumps(res))
"""


# --- preparation ---------------------------------------------------------------------------
# The PyTorch module, defined alike in the torch venv (ours) and in the MLflow venv.
TORCH_MODULE = """
import torch
class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 1),
        )
    def forward(self, x):
        return self.net(x)
"""

# Runs in the torch venv: trains the MLP briefly, saves it with pyfunc_ops.pytorch (pt2)
# and its state dict for the MLflow side.
TORCH_SAVE = (
    TORCH_MODULE
    + """
import json, sys
import numpy as np
from pyfunc_ops.pytorch import save_model
a = json.loads(sys.argv[1])
torch.manual_seed(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((a["train_rows"], 8)).astype(np.float32)
y = (2 * x[:, 0] - x[:, 1] ** 2 + np.sin(x[:, 2])).astype(np.float32)[:, None]
model = MLP()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
xt, yt = torch.from_numpy(x), torch.from_numpy(y)
for _ in range(200):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(xt), yt)
    loss.backward()
    opt.step()
model.eval()
torch.save(model.state_dict(), a["state"])
save_model(model, a["model"], input_example=x[:5])
print("RESULT " + json.dumps({"loss": float(loss), "torch": torch.__version__}))
"""
)

# Runs in the MLflow venv: the same models saved with mlflow.<flavor>.save_model (each
# flavor whose key is in ``a["out"]``; PyTorch's module rebuilt from the state dict).
MLFLOW_SAVE = {
    "head": """
import json, sys
import numpy as np, pandas as pd
import mlflow
from mlflow.models import infer_signature
a = json.loads(sys.argv[1])
sample = pd.read_parquet(a["sample"])
out = a["out"]
""",
    "xgboost": """
import mlflow.xgboost, xgboost
est = xgboost.XGBRegressor()
est.load_model(a["xgboost"])
signature = infer_signature(sample, est.predict(sample))
mlflow.xgboost.save_model(est, out["xgboost"], signature=signature)
""",
    "lightgbm": """
import lightgbm, mlflow.lightgbm
booster = lightgbm.Booster(model_file=a["lightgbm"])
signature = infer_signature(sample, booster.predict(sample))
mlflow.lightgbm.save_model(booster, out["lightgbm"], signature=signature)
""",
    "onnx": """
import mlflow.onnx, onnx
mlflow.onnx.save_model(onnx.load(a["onnx"]), out["onnx"], signature=infer_signature(sample))
""",
    "pytorch": TORCH_MODULE
    + """
import mlflow.pytorch
module = MLP()
module.load_state_dict(torch.load(a["torch_state"], weights_only=True))
module.eval()
example = sample.to_numpy(dtype=np.float32)[:5]
mlflow.pytorch.save_model(module, out["pytorch"], input_example=example)
""",
    "tail": """
print("RESULT " + json.dumps({"mlflow": mlflow.__version__}))
""",
}


def torch_python() -> str:
    """The torch venv's interpreter, built as ``scripts/test.sh`` builds it when absent.

    ``PYFUNC_OPS_BENCH_TORCH_PYTHON`` names an existing one instead. The venv is shared
    (the test runs use it): pyfunc_ops is reinstalled into it only when it does not
    already import from this checkout.
    """
    given = os.environ.get("PYFUNC_OPS_BENCH_TORCH_PYTHON")
    if given:
        return given
    venv = Path(
        os.environ.get("PYFUNC_OPS_TORCH_VENV", Path.home() / ".cache/pyfunc_ops/torch-venv")
    )
    python = venv / "bin" / "python"
    if not (venv / ".pyfunc_ops-ready-v1").is_file():
        print(f"  building the torch venv ({venv}) ...", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run(["uv", "venv", "-q", "--python", "3.11", str(venv)], check=True)
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", str(python), "-e", ".[spark,s3]"]
            + ["torch", "keras", "pandas<3", "pytest", "pytest-timeout", "moto[server]>=5"],
            check=True,
            cwd=ROOT,
        )
        (venv / ".pyfunc_ops-ready-v1").touch()
    where = subprocess.run(
        [str(python), "-c", "import pyfunc_ops; print(pyfunc_ops.__file__)"],
        capture_output=True,
        text=True,
        env=child_env(),
    ).stdout.strip()
    if Path(where).resolve() != (ROOT / "pyfunc_ops" / "__init__.py").resolve():
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", str(python), "--no-deps", "-e", str(ROOT)],
            check=True,
        )
    return str(python)


def _onnx_mlp(rng: Any) -> Any:
    """An MLP 8 -> 64 -> 64 -> 1 as an ONNX graph (Gemm, Relu; float32 weights)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sizes = [(8, 64), (64, 64), (64, 1)]
    inits, nodes, current = [], [], "x"
    for i, (n_in, n_out) in enumerate(sizes):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "y" if i == len(sizes) - 1 else f"h{i}"
        gemm = out if out == "y" else f"g{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [gemm]))
        if out != "y":
            nodes.append(helper.make_node("Relu", [gemm], [out]))
        current = out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def prepare(
    work: Path, flavors: tuple[str, ...], torch_py: str | None, mlflow_py: str
) -> dict[str, Any]:
    """Fit and save each model by pyfunc_ops and by MLflow; the paths each variant reads."""
    import numpy as np
    import pandas as pd

    from pyfunc_ops.models.signature import infer_signature

    # Bytecode as an installed package has it (as run.py's prepare does), for every
    # interpreter that imports this checkout: no cold process compiles our modules.
    for python in sorted({OUR_PYTHON, *([torch_py] if torch_py else [])}):
        subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "pyfunc_ops")], check=True)

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.standard_normal((TRAIN_ROWS, 8)), columns=FEATURES)
    y = x["x0"] * 2 - x["x1"] ** 2 + np.sin(x["x2"]) + rng.normal(0, 0.1, len(x))
    sample = x.head(100)
    sample.to_parquet(work / "sample.parquet")
    ours = {f: work / f"ours-{f}" for f in flavors}
    files = {
        "xgboost": "model.ubj",
        "lightgbm": "model.lgb",
        "onnx": "model.onnx",
        "pytorch": "data/model.pt2",
    }
    args: dict[str, Any] = {
        "sample": str(work / "sample.parquet"),
        "out": {f: str(work / f"mlflow-{f}") for f in flavors},
        **{f: str(ours[f] / files[f]) for f in flavors},
    }
    if "xgboost" in flavors:
        import xgboost

        from pyfunc_ops import xgboost as our_xgboost

        est = xgboost.XGBRegressor(n_estimators=50, max_depth=6, random_state=0).fit(x, y)
        signature = infer_signature(sample, est.predict(sample))
        our_xgboost.save_model(est, ours["xgboost"], signature=signature)
    if "lightgbm" in flavors:
        import lightgbm

        from pyfunc_ops import lightgbm as our_lightgbm

        params = {"num_leaves": 63, "max_depth": 6, "verbose": -1, "seed": 0}
        booster = lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=50)
        signature = infer_signature(sample, booster.predict(sample))
        our_lightgbm.save_model(booster, ours["lightgbm"], signature=signature)
    if "onnx" in flavors:
        from pyfunc_ops import onnx as our_onnx

        our_onnx.save_model(_onnx_mlp(rng), ours["onnx"], signature=infer_signature(sample))
    if "pytorch" in flavors:
        assert torch_py is not None
        args["torch_state"] = str(work / "mlp-state.pt")
        torch_args = {
            "train_rows": TRAIN_ROWS,
            "state": args["torch_state"],
            "model": str(ours["pytorch"]),
        }
        run_child(torch_py, TORCH_SAVE, torch_args)
    code = "".join(MLFLOW_SAVE[part] for part in ("head", *flavors, "tail"))
    _, info = run_child(mlflow_py, code, args)
    return {
        "ours": {f: str(p) for f, p in ours.items()},
        "mlflow": args["out"],
        "files": {f: args[f] for f in flavors},
        "mlflow_version": info["mlflow"],
    }


def measure(flavors: tuple[str, ...], rows: int, cold_rounds: int, runs: int) -> dict[str, Any]:
    """Cold processes (interleaved rounds, round 0 not counted) and the batch processes of
    every flavor; raw seconds per variant."""
    mlflow_py = mlflow_python()
    torch_py = torch_python() if "pytorch" in flavors else None
    work = Path(tempfile.mkdtemp(prefix="pyfunc-ops-bench-flavors-"))
    try:
        print("  saving the models (ours and MLflow's) ...", flush=True)
        paths = prepare(work, flavors, torch_py, mlflow_py)
        ours_py = {f: torch_py if f == "pytorch" else OUR_PYTHON for f in flavors}
        cold: dict[str, dict[str, list[float]]] = {
            f: {"floor": [], "ours": [], "mlflow": []} for f in flavors
        }
        cpu: dict[str, dict[str, list[float]]] = {
            f: {"floor": [], "ours": [], "mlflow": []} for f in flavors
        }
        for round_ in range(cold_rounds + 1):  # round 0 warms page cache and .pyc files
            for flavor in flavors:
                variants = {
                    "floor": (ours_py[flavor], {"file": paths["files"][flavor]}),
                    "ours": (ours_py[flavor], {"path": paths["ours"][flavor]}),
                    "mlflow": (mlflow_py, {"path": paths["mlflow"][flavor]}),
                }
                predicted = {}
                for variant, (python, args) in variants.items():
                    assert python is not None
                    elapsed, out = run_child(python, cold_code(flavor, variant), args)
                    predicted[variant] = out["p"]
                    if round_:
                        cold[flavor][variant].append(elapsed)
                        cpu[flavor][variant].append(out["_cpu"])
                spread = max(predicted.values()) - min(predicted.values())
                assert spread < 1e-4, f"{flavor}: the variants predicted differently: {predicted}"
            print(
                f"  cold round {round_}/{cold_rounds}: "
                + "; ".join(
                    f"{f} " + " ".join(f"{v} {t[-1]:.2f}s" for v, t in cold[f].items() if t)
                    for f in flavors
                ),
                flush=True,
            )
        batch: dict[str, dict[str, Any]] = {}
        for flavor in flavors:
            batch[flavor] = {}
            for lib, python, path in (
                ("ours", ours_py[flavor], paths["ours"][flavor]),
                ("mlflow", mlflow_py, paths["mlflow"][flavor]),
            ):
                assert python is not None
                args = {"path": path, "file": paths["files"][flavor], "rows": rows, "runs": runs}
                _, res = run_child(python, batch_code(flavor, lib), args, child_env())
                assert res["check"] < 1e-4, f"{flavor} ({lib}) differs from the framework: {res}"
                batch[flavor][lib] = res
                print(
                    f"  batch {flavor} ({lib}): {median(res['model']):.3f}s vs framework "
                    f"{median(res['raw']):.3f}s",
                    flush=True,
                )
        return {
            "cold": cold,
            "cpu": cpu,
            "batch": batch,
            "mlflow_version": paths["mlflow_version"],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def flavor_rows(flavor: str, medians: dict[str, float], rows: int) -> list[dict[str, Any]]:
    """The rows of one flavor from its medians (seconds): ``cold_floor``, ``cold_ours``,
    ``cold_mlflow``, ``batch_ours``, ``batch_floor`` (same process as ``batch_ours``) and
    ``batch_mlflow``."""
    what, alone = DESCRIPTION[flavor], FRAMEWORK_LABEL[flavor]
    size = f"{rows / 1e6:g}M rows"
    return [
        {
            "name": f"{what}: cold import+load+1 row vs framework",
            "ours_s": medians["cold_ours"],
            "floor_s": medians["cold_floor"],
            "reference_label": alone,
            "target": COLD_VS_FRAMEWORK,
        },
        {
            "name": f"{what}: cold import+load+1 row vs MLflow",
            "ours_s": medians["cold_ours"],
            "mlflow_s": medians["cold_mlflow"],
            "reference_label": "mlflow.pyfunc",
            "target": COLD_VS_MLFLOW,
        },
        {
            "name": f"{what}: batch predict {size} vs framework",
            "ours_s": medians["batch_ours"],
            "floor_s": medians["batch_floor"],
            "reference_label": f"{alone}, same process",
            "target": BATCH_VS_FRAMEWORK,
        },
        {
            "name": f"{what}: batch predict {size} vs MLflow",
            "ours_s": medians["batch_ours"],
            "mlflow_s": medians["batch_mlflow"],
            "reference_label": "mlflow.pyfunc",
            "target": None,
        },
    ]


def run(quick: bool, flavors: tuple[str, ...] = FLAVORS) -> list[dict[str, Any]]:
    """Every flavor's rows (module docstring); ``quick``: a smoke size (50,000 rows, one
    cold round after the warm-up, two batch runs)."""
    size = QUICK if quick else FULL
    raw = measure(flavors, size["rows"], size["cold_rounds"], size["runs"])
    write_json("flavors.json", {"quick": quick, **size, **raw})
    out = []
    for flavor in flavors:
        cold, batch = raw["cold"][flavor], raw["batch"][flavor]
        medians = {f"cold_{v}": median(t) for v, t in cold.items()}
        medians.update(
            batch_ours=median(batch["ours"]["model"]),
            batch_floor=median(batch["ours"]["raw"]),
            batch_mlflow=median(batch["mlflow"]["model"]),
        )
        out.extend(flavor_rows(flavor, medians, size["rows"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK['rows']:,} rows, one cold round"
    )
    parser.add_argument(
        "--flavor", action="append", choices=FLAVORS, help="only this flavor (repeatable)"
    )
    opts = parser.parse_args()
    chosen = tuple(f for f in FLAVORS if f in (opts.flavor or FLAVORS))
    for row in run(opts.quick, chosen):
        ref_key = next(k for k in row if k.endswith("_s") and k != "ours_s")
        ratio = row["ours_s"] / row[ref_key]
        target = "info" if row["target"] is None else f"target <= {row['target']}x"
        print(
            f"{row['name']}: ours {row['ours_s']:.3f}s, {row['reference_label']} "
            f"{row[ref_key]:.3f}s ({ratio:.2f}x; {target})"
        )


if __name__ == "__main__":
    main()
