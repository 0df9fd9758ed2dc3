"""Per-model code isolation: two models whose ``code/`` folders hold same-named modules
(``model_utils.py``, ``helpers.py``, a loader module) load and predict side by side."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pandas as pd

from pyfunc_ops.pyfunc import load_model, save_model
from pyfunc_ops.pyfunc.isolation import CodeScope, active_scope

# model_utils defines the PythonModel class the pickle refers to *by reference*
# (model_utils.Model), and its predict imports helpers lazily, at predict time.
MODEL_UTILS = """
from pyfunc_ops.pyfunc import PythonModel

FACTOR = {factor}

class Model(PythonModel):
    def predict(self, model_input):
        import helpers
        return helpers.finish(model_input.iloc[:, 0] * FACTOR)
"""
HELPERS = """
def finish(values):
    return values + {offset}
"""
LOADER = """
import model_utils

class _Impl:
    def predict(self, df):
        return df.iloc[:, 0] * model_utils.FACTOR

def _load_pyfunc(path):
    return _Impl()
"""


def _sources(root: Path, factor: int, offset: int) -> Path:
    root.mkdir(parents=True)
    (root / "model_utils.py").write_text(textwrap.dedent(MODEL_UTILS.format(factor=factor)))
    (root / "helpers.py").write_text(textwrap.dedent(HELPERS.format(offset=offset)))
    (root / "iso_loader.py").write_text(textwrap.dedent(LOADER))
    return root


def _forget(*names: str) -> None:
    for name in names:
        sys.modules.pop(name, None)


def save_pickled(tmp_path: Path, label: str, factor: int, offset: int) -> Path:
    """A workflow-1 model whose pickle names ``model_utils.Model`` (saved, then the
    saving process forgets the module, as a fresh process would)."""
    src = _sources(tmp_path / f"src_{label}", factor, offset)
    sys.path.insert(0, str(src))
    try:
        import model_utils

        path = tmp_path / f"model_{label}"
        save_model(
            path,
            python_model=model_utils.Model(),
            code_path=[str(src / "model_utils.py"), str(src / "helpers.py")],
        )
    finally:
        sys.path.remove(str(src))
        _forget("model_utils", "helpers")
    return path


def save_workflow2(tmp_path: Path, label: str, factor: int) -> Path:
    src = _sources(tmp_path / f"src2_{label}", factor, 0)
    path = tmp_path / f"model2_{label}"
    save_model(
        path,
        loader_module="iso_loader",
        code_path=[str(src / "iso_loader.py"), str(src / "model_utils.py")],
    )
    return path


X = pd.DataFrame({"x": [1, 2]})


def test_two_pickled_models_with_same_named_modules(tmp_path: Path) -> None:
    a = load_model(save_pickled(tmp_path, "a", factor=2, offset=0))
    b = load_model(save_pickled(tmp_path, "b", factor=10, offset=1))
    for _ in range(2):  # interleaved: each predict sees its own modules
        assert a.predict(X).tolist() == [2, 4]
        assert b.predict(X).tolist() == [11, 21]
    # Each model's class came from its own model_utils, and no plain name is left behind.
    type_a, type_b = type(a.unwrap_python_model()), type(b.unwrap_python_model())
    assert type_a is not type_b
    assert type_a.__module__ == type_b.__module__ == "model_utils"
    assert "model_utils" not in sys.modules and "helpers" not in sys.modules
    private = [n for n in sys.modules if n.endswith(".model_utils")]
    assert len([n for n in private if n.startswith("_pyfunc_ops_code_")]) >= 2


def test_two_loader_modules_of_the_same_name(tmp_path: Path) -> None:
    a = load_model(save_workflow2(tmp_path, "a", factor=3))
    b = load_model(save_workflow2(tmp_path, "b", factor=5))
    assert a.predict(X).tolist() == [3, 6]
    assert b.predict(X).tolist() == [5, 10]
    assert a.predict(X).tolist() == [3, 6]
    assert "iso_loader" not in sys.modules


def test_the_same_model_loaded_twice_gets_fresh_modules(tmp_path: Path) -> None:
    path = save_pickled(tmp_path, "a", factor=2, offset=0)
    first, second = load_model(path), load_model(path)
    assert type(first.unwrap_python_model()) is not type(second.unwrap_python_model())
    assert first.predict(X).tolist() == second.predict(X).tolist() == [2, 4]


def test_code_modules_do_not_shadow_installed_ones_outside_the_model(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "json.py").write_text("SHADOW = True\n")  # same name as the standard library's
    (src / "iso_json_loader.py").write_text(
        textwrap.dedent(
            """
            import json

            class _Impl:
                def predict(self, df):
                    return [getattr(json, "SHADOW", False)] * len(df)

            def _load_pyfunc(path):
                return _Impl()
            """
        )
    )
    path = tmp_path / "model"
    code = [str(src / "json.py"), str(src / "iso_json_loader.py")]
    save_model(path, loader_module="iso_json_loader", code_path=code)
    model = load_model(path)
    import json

    assert not hasattr(json, "SHADOW")  # the process keeps the real json
    assert model.predict(X) == [False, False]  # json was imported before: the real one


def test_scope_is_active_only_inside_load_and_predict(tmp_path: Path) -> None:
    assert active_scope() is None
    scope = CodeScope([str(_sources(tmp_path / "s", 1, 0))], "test")
    with scope.active():
        assert active_scope() is scope
        import model_utils

        assert model_utils.FACTOR == 1
    assert active_scope() is None
    assert "model_utils" not in sys.modules
    assert sys.modules[f"{scope.prefix}.model_utils"] is model_utils
    with scope.active():  # imported again: the same module, not a new one
        import model_utils as again

    assert again is model_utils


CALLER_UTILS = "VALUE = 'caller'\n"
MODEL_SIDE_UTILS = "VALUE = 'model'\n"
READS_UTILS = """
import model_utils


class _Impl:
    def predict(self, df):
        import model_utils as lazily

        return [model_utils.VALUE, lazily.VALUE]


def _load_pyfunc(path):
    return _Impl()
"""


def test_a_module_the_caller_imported_first_never_replaces_the_models(tmp_path: Path) -> None:
    caller = tmp_path / "caller"
    caller.mkdir()
    (caller / "model_utils.py").write_text(CALLER_UTILS)
    src = tmp_path / "model_src"
    src.mkdir()
    (src / "model_utils.py").write_text(MODEL_SIDE_UTILS)
    (src / "reads_utils.py").write_text(READS_UTILS)
    save_model(
        tmp_path / "m",
        loader_module="reads_utils",
        code_path=[str(src / "model_utils.py"), str(src / "reads_utils.py")],
    )
    sys.path.insert(0, str(caller))
    try:
        import model_utils  # the caller's own, imported before the model loads

        assert model_utils.VALUE == "caller"
        model = load_model(tmp_path / "m")
        assert model.predict(X) == ["model", "model"]
        # ...and the model's never replaces the caller's, during or after.
        assert sys.modules["model_utils"] is model_utils
        import model_utils as again

        assert again.VALUE == "caller"
        assert model.predict(X) == ["model", "model"]
        assert sys.modules["model_utils"] is model_utils
    finally:
        sys.path.remove(str(caller))
        _forget("model_utils", "reads_utils")
