"""Models from code: ``save_model(python_model="model.py")``, ``set_model``, the MLflow
import shim, and type-hinted ``predict`` models validated as MLflow 3 validates them."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pyfunc_ops.errors import (
    InvalidParameterError,
    LoaderError,
    ModelFormatError,
    SchemaEnforcementError,
    UntrustedModelError,
)
from pyfunc_ops.models import PYFUNC_FLAVOR, Model
from pyfunc_ops.pyfunc import PythonModel, load_model, save_model, set_model
from pyfunc_ops.pyfunc.load import load_decided
from pyfunc_ops.pyfunc.trust import TrustDecision, code_reason

OURS = """
import pandas as pd
from pyfunc_ops.pyfunc import PythonModel, set_model

class Doubler(PythonModel):
    def load_context(self, context):
        self.factor = context.model_config.get("factor", 2)

    def predict(self, context, model_input):
        return model_input["x"] * self.factor

set_model(Doubler())
"""

MLFLOW_STYLE = """
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

class Upper(PythonModel):
    def predict(self, context, model_input: list[str]) -> list[str]:
        return [s.upper() for s in model_input]

set_model(Upper())
"""

MLFLOW_ATTRIBUTE_STYLE = """
import mlflow

def predict(model_input):
    return model_input["x"] + 1

mlflow.models.set_model(predict)
"""


def _write(tmp_path: Path, source: str, name: str = "model.py") -> Path:
    file = tmp_path / "src" / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(source))
    return file


def _no_mlflow_loaded() -> bool:
    return not any(n == "mlflow" or n.startswith("mlflow.") for n in sys.modules)


def test_saves_the_model_code_path_layout_and_loads(tmp_path: Path) -> None:
    file = _write(tmp_path, OURS)
    path = tmp_path / "model"
    save_model(path, python_model=str(file), model_config={"factor": 3})
    conf = Model.load(path).get_flavor(PYFUNC_FLAVOR)
    assert conf["model_code_path"] == "model.py"
    assert conf["loader_module"] == "mlflow.pyfunc.model"
    assert conf["config"] == {"factor": 3}
    assert "python_model" not in conf
    assert (path / "model.py").read_text() == file.read_text()
    assert not (path / "python_model.pkl").exists()
    file.unlink()  # the model runs its own copy
    model = load_model(path)
    assert model.predict(pd.DataFrame({"x": [1, 2]})).tolist() == [3, 6]
    assert load_model(path, model_config={"factor": 10}).predict(
        pd.DataFrame({"x": [1]})
    ).tolist() == [10]


def test_mlflow_imports_are_served_while_the_file_runs(tmp_path: Path) -> None:
    assert importlib.util.find_spec("mlflow") is None
    path = tmp_path / "model"
    save_model(path, python_model=_write(tmp_path, MLFLOW_STYLE))
    assert _no_mlflow_loaded()
    model = load_model(path)
    assert _no_mlflow_loaded()  # the stand-ins lived only while the file ran
    assert isinstance(model.unwrap_python_model(), PythonModel)
    # list[str] hint: the DataFrame's first string column reaches the model, as in MLflow.
    frame = pd.DataFrame({"n": [1, 2], "s": ["a", "b"]})
    assert model.predict(frame) == ["A", "B"]


def test_import_mlflow_then_attribute_access_and_a_plain_function(tmp_path: Path) -> None:
    path = tmp_path / "model"
    save_model(path, python_model=_write(tmp_path, MLFLOW_ATTRIBUTE_STYLE))
    model = load_model(path)
    assert model.predict(pd.DataFrame({"x": [1, 2]})).tolist() == [2, 3]
    assert _no_mlflow_loaded()


def test_other_mlflow_names_fail_clearly(tmp_path: Path) -> None:
    file = _write(tmp_path, "import mlflow\nmlflow.log_metric('a', 1)\n")
    with pytest.raises(LoaderError, match=r"mlflow\.log_metric is part of MLflow.*stands in"):
        save_model(tmp_path / "model", python_model=file)
    assert _no_mlflow_loaded()


def test_a_file_that_registers_nothing_is_refused(tmp_path: Path) -> None:
    file = _write(tmp_path, "x = 1\n")
    with pytest.raises(LoaderError, match=r"registered no model.*set_model\(model\)"):
        save_model(tmp_path / "model", python_model=file)
    assert not (tmp_path / "model").exists()


def test_a_file_that_fails_is_refused_naming_it(tmp_path: Path) -> None:
    file = _write(tmp_path, "raise RuntimeError('boom')\n")
    with pytest.raises(LoaderError, match=r"model\.py' failed \(RuntimeError: boom\)"):
        save_model(tmp_path / "model", python_model=file)


@pytest.mark.parametrize("value", ["missing.py", "notes.txt"])
def test_python_model_path_must_be_an_existing_py_file(tmp_path: Path, value: str) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidParameterError, match=r"is not an existing \.py file"):
        save_model(tmp_path / "model", python_model=str(tmp_path / value))


def test_set_model_refuses_what_is_not_a_model() -> None:
    with pytest.raises(InvalidParameterError, match="expected a PythonModel instance or a"):
        set_model("path/to/model")


def _rewrite_code_path(path: Path, value: str) -> None:
    mlmodel = path / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["flavors"]["python_function"]["model_code_path"] = value
    mlmodel.write_text(yaml.safe_dump(data))
    (path / "MANIFEST.json").unlink(missing_ok=True)


def test_an_absolute_recorded_path_reads_the_file_at_the_model_root(tmp_path: Path) -> None:
    # MLflow records where the file was when saved; the file loaded is <model>/<name>.
    path = tmp_path / "model"
    save_model(path, python_model=_write(tmp_path, OURS))
    _rewrite_code_path(path, "/home/someone/project/model.py")
    assert load_model(path).predict(pd.DataFrame({"x": [2]})).tolist() == [4]


def test_a_recorded_path_cannot_leave_the_model(tmp_path: Path) -> None:
    path = tmp_path / "model"
    save_model(path, python_model=_write(tmp_path, OURS))
    _rewrite_code_path(path, "..")
    with pytest.raises(ModelFormatError, match="model_code_path"):
        load_model(path)


def test_a_missing_code_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "model"
    save_model(path, python_model=_write(tmp_path, OURS))
    (path / "model.py").unlink()
    (path / "MANIFEST.json").unlink(missing_ok=True)
    with pytest.raises(ModelFormatError, match=r"model_code_path' is 'model\.py'.*not a file"):
        load_model(path)


def test_untrusted_model_code_is_not_run(tmp_path: Path) -> None:
    path = tmp_path / "model"
    marker = tmp_path / "ran"
    source = OURS + f"\nopen({str(marker)!r}, 'a').write('x')\n"
    save_model(path, python_model=_write(tmp_path, source))
    marker.unlink()
    flavors = Model.load(path).flavors
    assert "model code file 'model.py'" in str(code_reason(flavors))
    untrusted = TrustDecision(False, "s3://bucket/model", "a remote URL")
    with pytest.raises(UntrustedModelError, match=r"model code file 'model\.py'.*run"):
        load_decided(path, untrusted)
    assert not marker.exists()


def test_artifacts_travel_with_a_code_model(tmp_path: Path) -> None:
    art = tmp_path / "offset.txt"
    art.write_text("5")
    source = """
    from pathlib import Path
    from pyfunc_ops.pyfunc import PythonModel, set_model

    class WithArtifact(PythonModel):
        def load_context(self, context):
            self.offset = int(Path(context.artifacts["offset"]).read_text())

        def predict(self, model_input):
            return model_input["x"] + self.offset

    set_model(WithArtifact())
    """
    path = tmp_path / "model"
    save_model(path, python_model=_write(tmp_path, source), artifacts={"offset": str(art)})
    assert load_model(path).predict(pd.DataFrame({"x": [1]})).tolist() == [6]


# -- type-hinted predict ------------------------------------------------------------------
TYPED = """
from typing import Any, Optional
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

class Records(PythonModel):
    def predict(self, model_input: list[dict[str, Any]], params=None) -> list[str]:
        return [f"{r['a']}-{r['b']}" for r in model_input]

class Strict(PythonModel):
    def predict(self, model_input: list[int]) -> list[int]:
        return [v * 2 for v in model_input]

class Frame(PythonModel):
    def predict(self, context, model_input: "pd.DataFrame"):
        return model_input

import pandas as pd
set_model({kind}())
"""


def _typed(tmp_path: Path, kind: str) -> object:
    path = tmp_path / f"model_{kind}"
    save_model(path, python_model=_write(tmp_path, TYPED.replace("{kind}", kind), f"{kind}.py"))
    return load_model(path)


def test_list_of_dict_hint_gets_the_records(tmp_path: Path) -> None:
    model = _typed(tmp_path, "Records")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert model.predict(frame) == ["1-x", "2-y"]  # type: ignore[attr-defined]


def test_values_that_do_not_match_the_hint_are_refused(tmp_path: Path) -> None:
    model = _typed(tmp_path, "Strict")
    assert model.predict(pd.DataFrame({"v": [1, 2]})) == [2, 4]  # type: ignore[attr-defined]
    with pytest.raises(SchemaEnforcementError, match=r"list\[int\].*invalid elements"):
        model.predict(pd.DataFrame({"v": ["a", "b"]}))  # type: ignore[attr-defined]


def test_a_dataframe_hint_is_passed_through(tmp_path: Path) -> None:
    model = _typed(tmp_path, "Frame")
    frame = pd.DataFrame({"v": [1]})
    pd.testing.assert_frame_equal(model.predict(frame), frame)  # type: ignore[attr-defined]


def test_an_unsupported_hint_is_refused_at_load(tmp_path: Path) -> None:
    source = """
    from mlflow.models import set_model
    from mlflow.pyfunc import PythonModel

    class Request:  # stands for a pydantic model: validated by MLflow's machinery only
        pass

    class M(PythonModel):
        def predict(self, model_input: list[Request]):
            return model_input

    set_model(M())
    """
    path = tmp_path / "model"
    save_model(path, python_model=_write(tmp_path, source))
    with pytest.raises(LoaderError, match=r"input type hint .*Request.*not a plain Python"):
        load_model(path)


def test_the_code_file_imports_its_code_path_modules(tmp_path: Path) -> None:
    helper = _write(tmp_path, "WORD = 'from-code-path'\n", "fc_helper.py")
    source = """
    import fc_helper
    from pyfunc_ops.pyfunc import set_model

    set_model(lambda model_input: [fc_helper.WORD] * len(model_input))
    """
    path = tmp_path / "model"
    # Not importable from here: the file runs (at save and load) with the model's code/.
    save_model(path, python_model=_write(tmp_path, source), code_path=[str(helper)])
    assert load_model(path).predict(pd.DataFrame({"x": [1]})) == ["from-code-path"]
    assert "fc_helper" not in sys.modules
