"""MLflow compatibility without MLflow: loader aliases, the unpickling map and its limits.

These run without the MLflow venv: pickles are written by hand (a GLOBAL opcode is all
it takes to reference a class), and an "installed" MLflow flavor is a stub package on a
subprocess's PYTHONPATH.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pyfunc_ops.pyfunc.model as our_model_module
import pyfunc_ops.sklearn as our_sklearn
from pyfunc_ops.errors import LoaderError, ModelFormatError
from pyfunc_ops.pyfunc import load_model
from pyfunc_ops.pyfunc.compat import TypeHints, import_loader, load_pickle
from pyfunc_ops.pyfunc.type_hints import FuncInfo, TypeHintError, validate_model_input


def _global(module: str, name: str) -> io.BytesIO:
    """A protocol-0 pickle whose whole content is a reference to ``module.name``."""
    return io.BytesIO(f"c{module}\n{name}\n.".encode())


def _no_mlflow_module_loaded() -> bool:
    return not any(n == "mlflow" or n.startswith("mlflow.") for n in sys.modules)


def _write_mlmodel(model_dir: Path, text: str) -> Path:
    model_dir.mkdir(parents=True)
    (model_dir / "MLmodel").write_text(textwrap.dedent(text))
    return model_dir


@pytest.mark.parametrize(
    ("module", "name", "ours"),
    [
        ("mlflow.pyfunc.model", "PythonModel", our_model_module.PythonModel),
        ("mlflow.pyfunc", "PythonModel", our_model_module.PythonModel),
        ("mlflow.pyfunc.model", "PythonModelContext", our_model_module.PythonModelContext),
        ("mlflow.pyfunc", "PythonModelContext", our_model_module.PythonModelContext),
        ("mlflow.models.signature", "_TypeHints", TypeHints),
        # MLflow 3's type-hint wrapper of predict (pyfunc_ops.pyfunc.type_hints).
        ("mlflow.pyfunc.utils.data_validation", "_validate_model_input", validate_model_input),
        ("mlflow.pyfunc.utils.data_validation", "FuncInfo", FuncInfo),
        ("mlflow.exceptions", "MlflowException", TypeHintError),
    ],
)
def test_mlflow_base_classes_unpickle_as_ours(module: str, name: str, ours: type) -> None:
    assert load_pickle(_global(module, name)) is ours
    assert _no_mlflow_module_loaded()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("mlflow.tracking", "MlflowClient"),
        ("mlflow", "log_metric"),
        ("mlflow.pyfunc.model", "_PythonModelPyfuncWrapper"),  # beside a mapped name
        ("mlflow.pyfunc.utils.data_validation", "_check_func_signature"),  # beside mapped ones
    ],
)
def test_any_other_mlflow_global_fails_clearly(module: str, name: str) -> None:
    pattern = rf"refers to {re.escape(f'{module}.{name}')}, an MLflow object .*pip install mlflow"
    with pytest.raises(LoaderError, match=pattern):
        load_pickle(_global(module, name))
    assert _no_mlflow_module_loaded()


def test_code_module_importing_mlflow_base_class_gets_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlflow_user_code.py").write_text(
        "import mlflow.pyfunc\n"
        "from mlflow.pyfunc.model import PythonModelContext\n"
        "class Model(mlflow.pyfunc.PythonModel):\n"
        "    context_type = PythonModelContext\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = load_pickle(_global("mlflow_user_code", "Model"))
    assert cls.__mro__[1] is our_model_module.PythonModel
    assert cls.context_type is our_model_module.PythonModelContext
    # The stand-ins lived only while unpickling.
    assert _no_mlflow_module_loaded()
    assert importlib.util.find_spec("mlflow") is None


def test_code_module_using_other_mlflow_names_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlflow_heavy_code.py").write_text(
        "from mlflow.models import infer_signature\nclass Model:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        LoaderError, match=r"needs mlflow_heavy_code\.Model.*infer_signature.*install mlflow"
    ):
        load_pickle(_global("mlflow_heavy_code", "Model"))
    assert _no_mlflow_module_loaded()


def test_missing_user_module_points_at_code_path() -> None:
    with pytest.raises(
        LoaderError, match=r"needs no_such_module_4f2a\.Model.*code_path=\[\.\.\.\]"
    ):
        load_pickle(_global("no_such_module_4f2a", "Model"))


def test_loader_aliases_serve_mlflow_names_with_ours() -> None:
    assert import_loader("mlflow.sklearn") is our_sklearn
    assert import_loader("mlflow.pyfunc.model") is our_model_module
    assert _no_mlflow_module_loaded()


def test_unimplemented_mlflow_flavor_names_what_to_install(tmp_path: Path) -> None:
    model_dir = _write_mlmodel(
        tmp_path / "prophet",
        """\
        flavors:
          python_function:
            loader_module: mlflow.prophet
            data: model.pr
        """,
    )
    with pytest.raises(
        LoaderError,
        match=r"'mlflow\.prophet'.*does not implement the MLflow flavor 'prophet' \(it "
        r"implements \['catboost', 'keras',.*Load it where MLflow and that flavor's library",
    ):
        load_model(model_dir)


def test_loader_module_without_load_pyfunc_is_refused() -> None:
    with pytest.raises(LoaderError, match=r"'json' has no _load_pyfunc"):
        import_loader("json")


def test_unimplemented_mlflow_flavor_uses_the_real_module_when_installed(tmp_path: Path) -> None:
    # A stand-in "installed MLflow" whose prophet flavor is a stub; run in a subprocess so
    # this interpreter never sees an importable mlflow.
    site = tmp_path / "site"
    (site / "mlflow").mkdir(parents=True)
    (site / "mlflow" / "__init__.py").write_text("")
    (site / "mlflow" / "prophet.py").write_text(
        "class _Booster:\n"
        "    def predict(self, model_input):\n"
        "        return model_input['a'] * 10\n"
        "def _load_pyfunc(path):\n"
        "    return _Booster()\n"
    )
    model_dir = _write_mlmodel(
        tmp_path / "prophet",
        """\
        flavors:
          python_function:
            loader_module: mlflow.prophet
        """,
    )
    script = (
        "import sys, pandas as pd\n"
        "from pyfunc_ops.pyfunc import load_model\n"
        "from pyfunc_ops.pyfunc.compat import import_loader\n"
        "m = load_model(sys.argv[1])\n"
        "print(type(m.get_raw_model()).__module__)\n"
        "print(m.predict(pd.DataFrame({'a': [1, 2]})).tolist())\n"
        "print(import_loader('mlflow.sklearn').__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(model_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # The real (stub) module served mlflow.prophet; mlflow.sklearn is still ours.
    assert proc.stdout.split("\n")[:3] == ["mlflow.prophet", "[10, 20]", "pyfunc_ops.sklearn"]


def test_models_from_code_need_their_code_file(tmp_path: Path) -> None:
    # Models from code load (tests/pyfunc/test_models_from_code.py); without the file the
    # MLmodel names, the error says which file is missing.
    model_dir = _write_mlmodel(
        tmp_path / "from_code",
        """\
        flavors:
          python_function:
            loader_module: mlflow.pyfunc.model
            model_code_path: model.py
        """,
    )
    with pytest.raises(ModelFormatError, match=r"'model_code_path' is 'model\.py'.*not a file"):
        load_model(model_dir)


def test_cloudpickle_import_of_other_mlflow_module_fails_clearly() -> None:
    # cloudpickle re-imports the modules a pickled function uses through subimport().
    import pickle

    from cloudpickle.cloudpickle import subimport

    class _Reduce:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return subimport, ("mlflow.tracking",)

    data = io.BytesIO(pickle.dumps(_Reduce()))
    with pytest.raises(LoaderError, match=r"imports the MLflow module 'mlflow\.tracking'"):
        load_pickle(data)
    assert _no_mlflow_module_loaded()
