"""Workflow 1: a PythonModel subclass, pickled with cloudpickle, with artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pyfunc_ops.errors import InvalidParameterError, PyfuncOpsError, SerializationError
from pyfunc_ops.models import PYFUNC_FLAVOR, Model
from pyfunc_ops.pyfunc import PythonModel, PythonModelContext, load_model, save_model


class ContextModel(PythonModel):
    """Reads its artifacts in load_context and uses the context again in predict."""

    def __init__(self) -> None:
        self.loads = 0
        self.contents: dict[str, str] = {}

    def load_context(self, context: PythonModelContext) -> None:
        self.loads += 1
        for name, path in context.artifacts.items():
            p = Path(path)
            self.contents[name] = (
                p.read_text() if p.is_file() else ",".join(sorted(x.name for x in p.iterdir()))
            )

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": model_input["x"] * 2,
                "paths": [json.dumps(context.artifacts)] * len(model_input),
            }
        )


class PlainModel(PythonModel):
    """The ``predict(model_input)`` style, with params."""

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        factor = (params or {}).get("factor", 1)
        return model_input["x"] * factor


def test_predict_with_context_and_load_context_called_once(tmp_path: Path) -> None:
    art = tmp_path / "vocab.txt"
    art.write_text("hello")
    path = tmp_path / "model"
    save_model(path, python_model=ContextModel(), artifacts={"vocab": str(art)})
    art.unlink()  # the model must use its own copy

    model = load_model(path)
    python_model = model.unwrap_python_model()
    assert isinstance(python_model, ContextModel)
    assert python_model.loads == 1
    assert python_model.contents == {"vocab": "hello"}

    out = model.predict(pd.DataFrame({"x": [1, 2]}))
    out = model.predict(pd.DataFrame({"x": [1, 2]}))
    assert out["x"].tolist() == [2, 4]
    artifacts = json.loads(out["paths"][0])
    assert artifacts == {"vocab": str(path.absolute() / "artifacts" / "vocab.txt")}
    assert os.path.isabs(artifacts["vocab"])
    assert python_model.loads == 1  # not again per predict


def test_predict_without_context_and_with_params(tmp_path: Path) -> None:
    path = tmp_path / "model"
    # Params reach predict when the signature declares them (MLflow's rule).
    from pyfunc_ops.models.signature import infer_signature

    signature = infer_signature(pd.DataFrame({"x": [1, 2]}), params={"factor": 1})
    save_model(path, python_model=PlainModel(), signature=signature)
    model = load_model(path)
    assert model.predict(pd.DataFrame({"x": [1, 2]})).tolist() == [1, 2]
    assert model.predict(pd.DataFrame({"x": [1, 2]}), params={"factor": 3}).tolist() == [3, 6]


def test_saved_layout(tmp_path: Path) -> None:
    import cloudpickle

    path = tmp_path / "model"
    save_model(path, python_model=PlainModel())
    conf = Model.load(path).get_flavor(PYFUNC_FLAVOR)
    assert conf["loader_module"] == "mlflow.pyfunc.model"
    assert conf["python_model"] == "python_model.pkl"
    assert conf["cloudpickle_version"] == cloudpickle.__version__
    assert "artifacts" not in conf
    assert (path / "python_model.pkl").is_file()
    assert not (path / "artifacts").exists()


def test_base_predict_is_not_implemented(tmp_path: Path) -> None:
    class NoPredict(PythonModel):
        pass

    path = tmp_path / "model"
    save_model(path, python_model=NoPredict())
    with pytest.raises(NotImplementedError, match=r"NoPredict\.predict is not implemented"):
        load_model(path).predict(pd.DataFrame({"x": [1]}))


def test_unwrap_python_model_of_a_workflow_2_model(tmp_path: Path) -> None:
    module = tmp_path / f"m_{uuid.uuid4().hex[:8]}.py"
    module.write_text(
        "class M:\n    def predict(self, x):\n        return x\n"
        "def _load_pyfunc(path):\n    return M()\n"
    )
    path = tmp_path / "model"
    save_model(path, loader_module=module.stem, code_path=[module])
    with pytest.raises(InvalidParameterError, match=r"not saved from a PythonModel"):
        load_model(path).unwrap_python_model()


# -- artifacts ---------------------------------------------------------------------------------
def test_artifacts_from_a_folder_a_file_uri_and_an_fsspec_url(tmp_path: Path) -> None:
    import fsspec

    folder = tmp_path / "tokenizer"
    folder.mkdir()
    (folder / "a.json").write_text("{}")
    (folder / "b.json").write_text("[]")
    by_uri = tmp_path / "labels.csv"
    by_uri.write_text("cat,dog")
    mem = fsspec.filesystem("memory")
    key = f"/artifacts-{uuid.uuid4().hex[:8]}/weights.bin"
    mem.pipe(key, b"remote")
    try:
        path = tmp_path / "model"
        save_model(
            path,
            python_model=ContextModel(),
            artifacts={
                "tok": str(folder),
                "labels": by_uri.as_uri(),
                "weights": f"memory://{key}",
            },
        )
    finally:
        mem.rm(key)
    conf = Model.load(path).get_flavor(PYFUNC_FLAVOR)
    assert conf["artifacts"] == {
        "tok": {"path": "artifacts/tokenizer", "uri": str(folder)},
        "labels": {"path": "artifacts/labels.csv", "uri": by_uri.as_uri()},
        "weights": {"path": "artifacts/weights.bin", "uri": f"memory://{key}"},
    }
    model = load_model(path)
    assert model.unwrap_python_model().contents == {
        "tok": "a.json,b.json",
        "labels": "cat,dog",
        "weights": "remote",
    }
    artifacts = json.loads(model.predict(pd.DataFrame({"x": [1]}))["paths"][0])
    assert artifacts == {
        "tok": str(path.absolute() / "artifacts" / "tokenizer"),
        "labels": str(path.absolute() / "artifacts" / "labels.csv"),
        "weights": str(path.absolute() / "artifacts" / "weights.bin"),
    }


def test_artifacts_with_the_same_base_name_do_not_collide(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "data.txt").write_text("first")
    (tmp_path / "b" / "data.txt").write_text("second")
    path = tmp_path / "model"
    save_model(
        path,
        python_model=ContextModel(),
        artifacts={
            "one": str(tmp_path / "a" / "data.txt"),
            "two": str(tmp_path / "b" / "data.txt"),
        },
    )
    assert load_model(path).unwrap_python_model().contents == {"one": "first", "two": "second"}


def test_artifacts_survive_moving_the_model(tmp_path: Path) -> None:
    art = tmp_path / "vocab.txt"
    art.write_text("moved")
    path = tmp_path / "model"
    save_model(path, python_model=ContextModel(), artifacts={"vocab": str(art)})
    moved = tmp_path / "elsewhere" / "model"
    moved.parent.mkdir()
    path.rename(moved)
    model = load_model(moved)
    assert model.unwrap_python_model().contents == {"vocab": "moved"}
    paths = json.loads(model.predict(pd.DataFrame({"x": [1]}))["paths"][0])
    assert paths["vocab"].startswith(str(moved.absolute()))


def test_artifacts_must_be_a_dict(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"artifacts must be a dict of \{name: uri\}"):
        save_model(tmp_path / "model", python_model=PlainModel(), artifacts=["x"])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_missing_artifact_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(
        FileNotFoundError, match=r"Artifact '.*no-such-file\.txt' not found"
    ) as info:
        save_model(
            out / "model",
            python_model=PlainModel(),
            artifacts={"x": str(tmp_path / "no-such-file.txt")},
        )
    assert isinstance(info.value, PyfuncOpsError)
    assert list(out.iterdir()) == []


class Unpicklable(PythonModel):
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def predict(self, model_input: Any) -> Any:
        return model_input


def test_unpicklable_python_model_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SerializationError, match=r"python_model Unpicklable cannot be pickled"):
        save_model(out / "model", python_model=Unpicklable())
    assert list(out.iterdir()) == []


# -- a class defined in __main__ ---------------------------------------------------------------
SAVE_SCRIPT = """\
import sys
from pyfunc_ops.pyfunc import PythonModel, save_model

class AddN(PythonModel):
    def __init__(self, n):
        self.n = n

    def load_context(self, context):
        with open(context.artifacts["offset"]) as fh:
            self.offset = int(fh.read())

    def predict(self, context, model_input):
        return model_input["x"] + self.n + self.offset

assert AddN.__module__ == "__main__"
save_model(sys.argv[1], python_model=AddN(10), artifacts={"offset": sys.argv[2]})
"""

LOAD_SCRIPT = """\
import json, sys
import pandas as pd
from pyfunc_ops.pyfunc import load_model

model = load_model(sys.argv[1])
print(json.dumps(model.predict(pd.DataFrame({"x": [1, 2]})).tolist()))
"""


def run(script: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_class_defined_in_main_loads_in_another_process(tmp_path: Path) -> None:
    offset = tmp_path / "offset.txt"
    offset.write_text("100")
    path = tmp_path / "model"
    (tmp_path / "save").mkdir()
    (tmp_path / "load").mkdir()
    run(SAVE_SCRIPT, str(path), str(offset), cwd=tmp_path / "save")
    offset.unlink()
    assert json.loads(run(LOAD_SCRIPT, str(path), cwd=tmp_path / "load")) == [111, 112]


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".."])
def test_artifact_names_must_be_single_path_components(tmp_path, name):
    src = tmp_path / "weights.txt"
    src.write_text("1")
    dest = tmp_path / "model"
    with pytest.raises(InvalidParameterError, match="single path component"):
        save_model(dest, python_model=PlainModel(), artifacts={name: str(src)})
    assert not dest.exists()
    assert not (tmp_path / "escape").exists()
