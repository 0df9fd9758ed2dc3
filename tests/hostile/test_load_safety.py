"""Hostile and malformed models at load time (issue 12, points 1, 2, 8 and 9).

Each case builds a model folder the way a careless or hostile writer would, loads it, and
asserts the error type, a piece of its message, and that nothing was written outside the
test's own folder (the ``guard`` fixture: the test runs with its folder as the current
directory, Spark archives go there too, and the folders around it must not change).
Files a hostile model points at live in ``outside/``, next to the model folder.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from pyfunc_ops import config
from pyfunc_ops import sklearn as pk
from pyfunc_ops.errors import (
    InvalidParameterError,
    ModelFormatError,
    PyfuncOpsError,
    SerializationError,
    UntrustedModelError,
)
from pyfunc_ops.models import env as env_files
from pyfunc_ops.pyfunc import load_model, save_model

X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
Y = np.array([0, 0, 1, 1])
SECRET = "TOP-SECRET-CONTENT-4711"


@pytest.fixture
def guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test's folder as the current directory; the folders around it must not change."""
    from pyfunc_ops.pyfunc import spark as spark_module

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (tmp_path / "archives").mkdir()
    monkeypatch.setattr(spark_module, "_ARCHIVE_DIR", tmp_path / "archives")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET}\n")
    around = {p: sorted(os.listdir(p)) for p in (tmp_path.parent,)}
    yield tmp_path
    for folder, before in around.items():
        assert sorted(os.listdir(folder)) == before, f"something was written into {folder}"


def write_model(
    root: Path, mlmodel: dict[str, Any], files: dict[str, bytes | str] | None = None
) -> Path:
    """A model folder holding ``MLmodel`` and ``files`` (relative path -> content)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def sklearn_mlmodel(**pyfunc: Any) -> dict[str, Any]:
    sk = {"pickled_model": "model.pkl", "serialization_format": "cloudpickle"}
    sk.update(pyfunc.pop("sklearn", {}))
    return {
        "flavors": {
            "python_function": {"loader_module": "pyfunc_ops.sklearn", **pyfunc},
            "sklearn": sk,
        }
    }


def fitted_pickle() -> bytes:
    return pickle.dumps(LogisticRegression().fit(X, Y))


class CreatesFile:
    """Unpickling this object creates a file: what a hostile pickle would do."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.target, "w"))


def upload(folder: Path, url: str) -> str:
    from pyfunc_ops.storage.transfer import upload_tree

    upload_tree(folder, url)
    return url


def memory_url(name: str) -> str:
    import uuid

    return f"memory://hostile-{uuid.uuid4().hex[:10]}/{name}"


# --------------------------------------------------------------- 1. confinement at load


_NAMED_PATH_CASES = [
    (
        "python_function.data",
        sklearn_mlmodel(data="../outside/secret.txt"),
        r"key 'python_function.data' has the value '\.\./outside/secret\.txt', which "
        r"leaves the model folder",
    ),
    (
        "python_function.data (absolute)",
        sklearn_mlmodel(data="/etc/passwd"),
        r"'python_function.data' has the value '/etc/passwd', which is an absolute path",
    ),
    (
        "python_function.code",
        sklearn_mlmodel(code="../outside"),
        r"'python_function.code' has the value '\.\./outside'.*leaves the model folder",
    ),
    (
        "python_function.python_model",
        {
            "flavors": {
                "python_function": {
                    "loader_module": "pyfunc_ops.pyfunc.model",
                    "python_model": "../../outside/evil.pkl",
                }
            }
        },
        r"'python_function.python_model' has the value '\.\./\.\./outside/evil\.pkl'",
    ),
    (
        "artifacts.<name>.path",
        {
            "flavors": {
                "python_function": {
                    "loader_module": "pyfunc_ops.pyfunc.model",
                    "artifacts": {"vocab": {"path": "/etc/passwd", "uri": "x"}},
                }
            }
        },
        r"'python_function.artifacts.vocab.path' has the value '/etc/passwd'",
    ),
    (
        "sklearn.pickled_model",
        sklearn_mlmodel(sklearn={"pickled_model": "../outside/model.pkl"}),
        r"'sklearn.pickled_model' has the value '\.\./outside/model\.pkl'",
    ),
    (
        "saved_input_example_info.artifact_path",
        {**sklearn_mlmodel(), "saved_input_example_info": {"artifact_path": "../x.json"}},
        r"'saved_input_example_info.artifact_path' has the value '\.\./x\.json'",
    ),
    (
        "model_config file",
        sklearn_mlmodel(model_config="../outside/config.yaml"),
        r"'python_function.model_config' has the value '\.\./outside/config\.yaml'",
    ),
    (
        "env.virtualenv",
        sklearn_mlmodel(env={"virtualenv": "/etc/python_env.yaml"}),
        r"'python_function.env.virtualenv' has the value '/etc/python_env\.yaml'",
    ),
    (
        "non-string path",
        sklearn_mlmodel(sklearn={"pickled_model": ["model.pkl"]}),
        r"'sklearn.pickled_model' has the value \['model\.pkl'\], which is a list",
    ),
]


@pytest.mark.parametrize(
    ("key", "mlmodel", "message"), _NAMED_PATH_CASES, ids=[c[0] for c in _NAMED_PATH_CASES]
)
def test_named_paths_stay_inside_the_model_folder(
    guard: Path, key: str, mlmodel: dict[str, Any], message: str
) -> None:
    model = write_model(guard / "models" / "m", mlmodel, {"model.pkl": fitted_pickle()})
    with pytest.raises(ModelFormatError, match=message) as info:
        load_model(model)
    assert str(model) in str(info.value)  # the folder is named
    assert SECRET not in str(info.value)


def test_mlflow_legacy_flat_layout_is_confined_too(guard: Path) -> None:
    """MLflow 1.x wrote the python_function keys at the top level: same keys, same rule."""
    model = guard / "models" / "flat"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("loader_module: mlflow.sklearn\ndata: ../../outside/x.pkl\n")
    with pytest.raises(ModelFormatError, match=r"'python_function.data'.*leaves the model"):
        load_model(model)


def test_symlink_leaving_the_folder_is_refused(guard: Path) -> None:
    model = write_model(guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle()})
    (model / "data").mkdir()
    (model / "data" / "leak.txt").symlink_to(guard / "outside" / "secret.txt")
    with pytest.raises(ModelFormatError, match=r"symlink 'data/leak\.txt' points to .*outside"):
        load_model(model)


def test_symlink_cycle_ends_with_an_error(guard: Path) -> None:
    model = write_model(guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle()})
    (model / "a").symlink_to(model / "b")
    (model / "b").symlink_to(model / "a")
    with pytest.raises(ModelFormatError, match=r"link cycle"):
        load_model(model)


def test_sklearn_load_model_confines_pickled_model(guard: Path) -> None:
    (guard / "outside" / "model.pkl").write_bytes(fitted_pickle())
    model = write_model(
        guard / "m", sklearn_mlmodel(sklearn={"pickled_model": "../outside/model.pkl"})
    )
    with pytest.raises(ModelFormatError, match=r"'sklearn.pickled_model'.*leaves the model"):
        pk.load_model(model)


@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        ("-r ../outside/secret.txt\n", r"'requirements.txt -r include' has the value"),
        ("--requirement=../outside/secret.txt\n", r"'requirements.txt --requirement include'"),
        ("-c /etc/passwd\n", r"'requirements.txt -c include' has the value '/etc/passwd'"),
        ("-r../outside/secret.txt\n", r"'requirements.txt -r include'.*leaves the model"),
    ],
)
def test_requirement_includes_stay_inside_the_folder(
    guard: Path, requirements: str, message: str
) -> None:
    model = write_model(
        guard / "m",
        sklearn_mlmodel(),
        {"model.pkl": fitted_pickle(), "requirements.txt": requirements},
    )
    with pytest.raises(ModelFormatError, match=message) as info:
        load_model(model)
    assert SECRET not in str(info.value)


def test_python_env_include_leaving_the_folder_is_refused_by_the_env_builder(
    guard: Path,
) -> None:
    """What envs reads for a virtualenv: the include is refused before it is opened, so
    pip never sees (nor echoes) the file's content."""
    from pyfunc_ops.envs.spec import read_env_spec

    python_env = {"python": "3.11", "dependencies": ["-r ../outside/secret.txt"]}
    model = write_model(
        guard / "m", sklearn_mlmodel(), {"python_env.yaml": yaml.safe_dump(python_env)}
    )
    with pytest.raises(ModelFormatError, match=r"'python_env.yaml -r include'") as info:
        read_env_spec(model)
    assert SECRET not in str(info.value)


def test_included_file_with_a_non_requirement_line_is_refused(guard: Path) -> None:
    model = write_model(
        guard / "m",
        sklearn_mlmodel(),
        {
            "model.pkl": fitted_pickle(),
            "requirements.txt": "-r extra/more.txt\n",
            "extra/more.txt": "numpy==1.26\nthis is not a requirement!\n",
        },
    )
    with pytest.raises(ModelFormatError, match=r"extra/more\.txt line 2: 'this is not a requ"):
        load_model(model)


# ------------------------------------------------------------------ 2. the trust policy


def test_local_path_is_trusted(guard: Path) -> None:
    model = write_model(guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle()})
    assert load_model(model).predict(pd.DataFrame(X)).tolist() == Y.tolist()


def test_memory_pickle_that_creates_a_file_needs_the_opt_in(guard: Path) -> None:
    target = guard / "pwned"
    model = write_model(
        guard / "m", sklearn_mlmodel(), {"model.pkl": pickle.dumps(CreatesFile(target))}
    )
    url = upload(model, memory_url("pickle"))
    with pytest.raises(UntrustedModelError, match=r"is a cloudpickle file.*trust_remote_code"):
        load_model(url)
    assert not target.exists()
    with pytest.raises(PyfuncOpsError):  # it loaded: the "estimator" is an open file object
        load_model(url, trust_remote_code=True)
    assert target.exists()  # the opt-in ran the model's code, as asked


def test_trust_remote_code_false_wins_over_the_settings(guard: Path) -> None:
    target = guard / "pwned"
    model = write_model(
        guard / "m", sklearn_mlmodel(), {"model.pkl": pickle.dumps(CreatesFile(target))}
    )
    url = upload(model, memory_url("pickle"))
    trusting = config.current_settings().with_changes(trust_remote_code=True)
    with (
        config.use_settings(trusting),
        pytest.raises(UntrustedModelError, match=r"trust_remote_code=False"),
    ):
        load_model(url, trust_remote_code=False)
    assert not target.exists()


def test_environment_variable_opts_in(guard: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = write_model(guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle()})
    url = upload(model, memory_url("env"))
    with pytest.raises(UntrustedModelError, match=r"PYFUNC_OPS_TRUST_REMOTE_CODE=1"):
        load_model(url)
    monkeypatch.setenv("PYFUNC_OPS_TRUST_REMOTE_CODE", "1")
    assert load_model(url).predict(pd.DataFrame(X)).tolist() == Y.tolist()


def test_cloudpickle_python_model_from_memory_is_refused(guard: Path) -> None:
    from pyfunc_ops.pyfunc import PythonModel

    class Doubler(PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input * 2

    save_model(guard / "m", python_model=Doubler())
    url = upload(guard / "m", memory_url("pymodel"))
    with pytest.raises(UntrustedModelError, match=r"python_model is a cloudpickle file"):
        load_model(url)
    frame = pd.DataFrame({"x": [1, 2]})
    assert load_model(url, trust_remote_code=True).predict(frame)["x"].tolist() == [2, 4]


def test_code_folder_of_an_untrusted_model_is_refused(guard: Path) -> None:
    loader = f"def _load_pyfunc(path):\n    open({str(guard / 'pwned')!r}, 'w').close()\n"
    model = write_model(
        guard / "m",
        {"flavors": {"python_function": {"loader_module": "evil_loader", "code": "code"}}},
        {"code/evil_loader.py": loader},
    )
    url = upload(model, memory_url("code"))
    with pytest.raises(UntrustedModelError, match=r"code folder 'code'.*would be imported"):
        load_model(url)
    assert not (guard / "pwned").exists()
    assert not any("code" in Path(p).parts[-1:] for p in sys.path if str(guard) in p)


def test_skops_model_from_an_untrusted_url_loads(guard: Path) -> None:
    pk.save_model(LogisticRegression().fit(X, Y), guard / "m")
    url = upload(guard / "m", memory_url("skops"))
    assert load_model(url).predict(pd.DataFrame(X)).tolist() == Y.tolist()
    assert isinstance(pk.load_model(url), LogisticRegression)


def test_s3_models_are_untrusted(guard: Path, s3_bucket: str) -> None:
    pk.save_model(LogisticRegression().fit(X, Y), guard / "skops")
    pk.save_model(LogisticRegression().fit(X, Y), guard / "pickle", serialization_format="pickle")
    skops_url = upload(guard / "skops", f"{s3_bucket}/skops")
    pickle_url = upload(guard / "pickle", f"{s3_bucket}/pickle")
    assert load_model(skops_url).predict(pd.DataFrame(X)).tolist() == Y.tolist()
    with pytest.raises(UntrustedModelError, match=r"s3://.*estimator is a pickle file"):
        load_model(pickle_url)
    with pytest.raises(UntrustedModelError, match=r"a remote URL not reached through the registry"):
        pk.load_model(pickle_url)
    assert isinstance(pk.load_model(pickle_url, trust_remote_code=True), LogisticRegression)


def test_skops_trusted_types_in_the_mlmodel_count_only_from_a_trusted_source(
    guard: Path,
) -> None:
    tree = DecisionTreeClassifier().fit(X, Y)
    types = ["sklearn.tree._tree.Tree"]
    pk.save_model(tree, guard / "m", skops_trusted_types=types)
    # A local path is trusted (it may run a pickle anyway): the recorded types count.
    assert load_model(guard / "m").predict(pd.DataFrame(X)).tolist() == [0, 0, 1, 1]
    assert isinstance(pk.load_model(guard / "m"), DecisionTreeClassifier)
    # From an untrusted URL only the caller's list counts.
    for uri in (upload(guard / "m", memory_url("tree")),):
        with pytest.raises(SerializationError, match=r"not recorded as trusted by the caller"):
            load_model(uri)
        with pytest.raises(SerializationError, match=r"untrusted model file cannot widen"):
            pk.load_model(uri)
        assert load_model(uri, skops_trusted_types=types).predict(pd.DataFrame(X)).tolist() == [
            0,
            0,
            1,
            1,
        ]


def test_sklearn_flavor_never_falls_back_to_pickle_for_an_untrusted_model(guard: Path) -> None:
    """The MLmodel names no format (the format's old default is pickle): still refused."""
    target = guard / "pwned"
    mlmodel = sklearn_mlmodel()
    del mlmodel["flavors"]["sklearn"]["serialization_format"]
    model = write_model(guard / "m", mlmodel, {"model.pkl": pickle.dumps(CreatesFile(target))})
    url = upload(model, memory_url("nofmt"))
    with pytest.raises(UntrustedModelError, match=r"estimator is a pickle file"):
        load_model(url)
    assert not target.exists()


def test_loader_called_directly_obeys_the_load_decision(guard: Path) -> None:
    """The loaders refuse on their own too: a local folder loaded with an untrusted decision
    (what a Spark or environment worker gets) never unpickles."""
    from pyfunc_ops.pyfunc.load import load_local
    from pyfunc_ops.pyfunc.trust import from_flag

    target = guard / "pwned"
    model = write_model(
        guard / "m", sklearn_mlmodel(), {"model.pkl": pickle.dumps(CreatesFile(target))}
    )
    with pytest.raises(UntrustedModelError, match=r"caller: untrusted"):
        load_local(model, trust=from_flag("untrusted", str(model)))
    assert not target.exists()


def test_environment_worker_obeys_the_parents_decision(guard: Path) -> None:
    from pyfunc_ops.pyfunc.worker_main import loader_for

    target = guard / "pwned"
    model = write_model(
        guard / "m", sklearn_mlmodel(), {"model.pkl": pickle.dumps(CreatesFile(target))}
    )
    for argv in (["worker", str(model), "untrusted"], ["worker", str(model)]):
        with pytest.raises(UntrustedModelError, match=r"is a cloudpickle file"):
            loader_for(argv)(model)
    assert not target.exists()
    with pytest.raises(InvalidParameterError, match=r"worker trust flag must be"):
        loader_for(["worker", str(model), "maybe"])


def test_spark_worker_obeys_the_driver(guard: Path) -> None:
    """The UDF carries the driver's decision; the worker loads the (local) folder with it
    instead of deciding again (which would call a local folder trusted)."""
    from pyfunc_ops.pyfunc import spark as spark_module
    from pyfunc_ops.pyfunc.spark_result import parse_result_type
    from pyfunc_ops.pyfunc.trust import from_flag

    target = guard / "pwned"
    model = write_model(
        guard / "m", sklearn_mlmodel(), {"model.pkl": pickle.dumps(CreatesFile(target))}
    )
    source = spark_module._ModelSource(
        key=("folder", str(model), "fp", "local", "untrusted"),
        folder=str(model),
        archive=None,
        env_manager="local",
        input_names=None,
        required=0,
        result=parse_result_type("double"),
        trust=from_flag("untrusted", "s3://bucket/m"),
    )
    with pytest.raises(UntrustedModelError, match=r"s3://bucket/m"):
        spark_module._model(source)
    assert not target.exists()


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_trust_remote_code_must_be_a_bool(guard: Path, value: Any) -> None:
    from pyfunc_ops.jobs.scoring import ScoreFilesRequest

    with pytest.raises(
        InvalidParameterError, match=r"trust_remote_code must be True, False or None"
    ):
        load_model(guard, trust_remote_code=value)
    with pytest.raises(InvalidParameterError, match=r"score_files: trust_remote_code must be"):
        ScoreFilesRequest("m", "i", "o", trust_remote_code=value)


def test_cli_flag_opts_in(guard: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pyfunc_ops.cli import main

    model = write_model(guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle()})
    url = upload(model, memory_url("cli"))
    pd.DataFrame(X, columns=["a", "b"]).to_parquet(guard / "in.parquet")
    argv = ["predict", "-m", url, "-i", str(guard / "in.parquet"), "-o", str(guard / "o.parquet")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--trust-remote-code" in err and "Traceback" not in err
    assert not (guard / "o.parquet").exists()
    assert main([*argv, "--trust-remote-code"]) == 0
    assert pd.read_parquet(guard / "o.parquet")["prediction"].tolist() == Y.tolist()


# ---------------------------------------------------------- 8. malformed inputs at load


def test_missing_python_model_file(guard: Path) -> None:
    model = write_model(
        guard / "m", {"flavors": {"python_function": {"loader_module": "pyfunc_ops.pyfunc.model"}}}
    )
    with pytest.raises(ModelFormatError, match=r"'python_model' names 'python_model\.pkl', but"):
        load_model(model)


def test_missing_estimator_file(guard: Path) -> None:
    model = write_model(guard / "m", sklearn_mlmodel())
    with pytest.raises(ModelFormatError, match=r"sklearn\.pickled_model names 'model\.pkl', but"):
        load_model(model)
    with pytest.raises(ModelFormatError, match=r"is not a file"):
        pk.load_model(model)


def test_unknown_pyfunc_predict_fn(guard: Path) -> None:
    model = write_model(
        guard / "m", sklearn_mlmodel(predict_fn="predict_magic"), {"model.pkl": fitted_pickle()}
    )
    with pytest.raises(ModelFormatError, match=r"'predict_fn' is 'predict_magic', but the Log"):
        load_model(model)


def test_predict_fn_that_is_not_a_name(guard: Path) -> None:
    model = write_model(
        guard / "m", sklearn_mlmodel(predict_fn=["predict"]), {"model.pkl": fitted_pickle()}
    )
    with pytest.raises(ModelFormatError, match=r"'predict_fn' must be the name of an estimator"):
        load_model(model)


def test_non_mapping_python_function_flavor(guard: Path) -> None:
    model = write_model(guard / "m", {"flavors": {"python_function": "pyfunc_ops.sklearn"}})
    with pytest.raises(ModelFormatError, match=r"'flavors' must map each flavor name to a mapping"):
        load_model(model)


def test_unknown_serialization_format(guard: Path) -> None:
    model = write_model(
        guard / "m",
        sklearn_mlmodel(sklearn={"serialization_format": "joblib"}),
        {"model.pkl": fitted_pickle()},
    )
    with pytest.raises(SerializationError, match=r"unknown serialization_format 'joblib'"):
        load_model(model)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("python: [3.11\n", r"python_env\.yaml: .*is not valid YAML"),
        ("- 3.11\n", r"expected a mapping with 'python' and 'dependencies', found list"),
        ("python: 3.11\ndependencies: -r requirements.txt\n", r"'dependencies' must be a list"),
        ("python: {major: 3}\n", r"'python' must be a version"),
        ("python: '3.11'\ndependencies: [1, 2]\n", r"'dependencies' must be a list of requir"),
    ],
)
def test_invalid_python_env_yaml(guard: Path, content: str, message: str) -> None:
    model = write_model(
        guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle(), "python_env.yaml": content}
    )
    with pytest.raises(ModelFormatError, match=message):
        load_model(model)


def test_binary_python_env_yaml(guard: Path) -> None:
    model = write_model(
        guard / "m",
        sklearn_mlmodel(),
        {"model.pkl": fitted_pickle(), "python_env.yaml": b"\xff\xfe"},
    )
    with pytest.raises(ModelFormatError, match=r"python_env\.yaml is not UTF-8 text"):
        load_model(model)


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        (1, r"requirement 1 is a int, not a string"),
        (None, r"requirement None is a NoneType"),
        ("numpy\n--index-url https://evil", r"contains a line break"),
        ("-r /etc/passwd", r"is a pip option, not a requirement"),
        ("numpy===", r"is not a valid requirement"),
    ],
)
def test_bad_requirement_strings_are_refused_at_save(
    guard: Path, requirement: Any, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        pk.save_model(LogisticRegression().fit(X, Y), guard / "m", pip_requirements=[requirement])
    assert not (guard / "m").exists()


def test_bad_extra_requirement_in_a_conda_env_is_refused_at_save(guard: Path) -> None:
    conda = {"dependencies": ["python=3.11", {"pip": ["numpy", {"evil": 1}]}]}
    with pytest.raises(InvalidParameterError, match=r"conda_env pip section: requirement"):
        pk.save_model(LogisticRegression().fit(X, Y), guard / "m", conda_env=conda)
    assert not (guard / "m").exists()


def test_bad_requirement_in_a_models_conda_yaml(guard: Path) -> None:
    conda = {"dependencies": ["python=3.11", {"pip": ["numpy", ["nested"]]}]}
    model = write_model(
        guard / "m",
        sklearn_mlmodel(),
        {"model.pkl": fitted_pickle(), "conda.yaml": yaml.safe_dump(conda)},
    )
    with pytest.raises(ModelFormatError, match=r"conda\.yaml line 2: requirement \['nested'\]"):
        load_model(model)


def test_requirements_file_line_that_is_not_a_requirement(guard: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"requirements\.txt line 1: 'numpy \(\(' is not"):
        env_files.expand_requirements(guard, ["numpy (("], "requirements.txt")


# ----------------------------------------------------------------- 9. Spark shipping


class _FakeContext:
    applicationId = "app-hostile"

    def __init__(self) -> None:
        self.added: list[str] = []

    def addFile(self, path: str) -> None:
        self.added.append(path)


def test_archive_temporary_names_are_unique_per_thread() -> None:
    from pyfunc_ops.pyfunc.spark import _partial_name

    names: list[str] = []
    threads = [
        threading.Thread(target=lambda: names.append(_partial_name("m.zip"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 8
    assert all(f".{os.getpid()}." in n for n in names)


def test_zipping_refuses_a_symlink_leaving_the_folder(guard: Path) -> None:
    from pyfunc_ops.pyfunc.spark import _ship

    model = write_model(guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle()})
    (model / "leak").symlink_to(guard / "outside")
    sc = _FakeContext()
    with pytest.raises(ModelFormatError, match=r"symlink 'leak' points to .*outside the folder"):
        _ship(sc, model, "fp-symlink")
    assert sc.added == []


def test_zipping_a_link_cycle_ends_with_an_error(guard: Path) -> None:
    from pyfunc_ops.pyfunc.spark import _ship

    model = write_model(guard / "m", sklearn_mlmodel(), {"model.pkl": fitted_pickle()})
    (model / "sub").mkdir()
    (model / "sub" / "loop").symlink_to(model / "sub")
    with pytest.raises(ModelFormatError, match=r"link cycle"):
        _ship(_FakeContext(), model, "fp-cycle")


def _point_sparkfiles_at(monkeypatch: pytest.MonkeyPatch, archive: Path) -> None:
    import pyspark

    monkeypatch.setattr(pyspark.SparkFiles, "get", staticmethod(lambda name: str(archive)))


def test_unpacking_refuses_entries_outside_the_target(
    guard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.pyfunc.spark import _unpack

    archive = guard / "files" / "pyfunc-model-evil.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("MLmodel", "loader_module: x\n")
        zf.writestr("../../escaped.txt", "hostile")
    _point_sparkfiles_at(monkeypatch, archive)
    with pytest.raises(ModelFormatError, match=r"entry '\.\./\.\./escaped\.txt' contains a '\.\.'"):
        _unpack(archive.name)
    assert not (guard / "escaped.txt").exists()
    assert not list((archive.parent / "pyfunc_ops_models").glob("pyfunc-model-evil/*"))


def test_stale_unpacked_target_without_mlmodel_is_replaced(
    guard: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyfunc_ops.pyfunc.spark import _unpack

    archive = guard / "files" / "pyfunc-model-fp.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("MLmodel", "loader_module: x\n")
        zf.writestr("model.pkl", "data")
    stale = archive.parent / "pyfunc_ops_models" / "pyfunc-model-fp"
    stale.mkdir(parents=True)
    (stale / "half-written.bin").write_text("interrupted")
    _point_sparkfiles_at(monkeypatch, archive)
    assert Path(_unpack(archive.name)) == stale
    assert sorted(p.name for p in stale.iterdir()) == ["MLmodel", "model.pkl"]


def test_mlflow_written_json_example_outside_folder(guard: Path) -> None:
    """MLflow 2 writes serving_input_path next to the example: confined as well."""
    mlmodel = {
        **sklearn_mlmodel(),
        "saved_input_example_info": {
            "artifact_path": "input_example.json",
            "serving_input_path": "/tmp/x.json",
        },
    }
    model = write_model(
        guard / "m", mlmodel, {"model.pkl": fitted_pickle(), "input_example.json": json.dumps({})}
    )
    with pytest.raises(ModelFormatError, match=r"'saved_input_example_info.serving_input_path'"):
        load_model(model)
