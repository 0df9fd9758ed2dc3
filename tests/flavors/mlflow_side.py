"""Run in the MLflow venv (never imported by our tests): MLflow's side of the conformance.

``write ROOT IDS``: every case of the comma-separated IDS (those the calling venv can run)
saved by ``mlflow.<flavor>.save_model`` to
``ROOT/<id>`` with ``mlflow.pyfunc.load_model(...).predict`` pickled to
``ROOT/<id>.expected.pkl``. ``read MODELS OUT``: every model of ours in ``MODELS`` loaded by
stock MLflow, with pyfunc_ops made unimportable first (so nothing of ours can help):
``OUT/<id>.pyfunc.pkl`` (``mlflow.pyfunc``) and ``OUT/<id>.native.pkl`` (``mlflow.<flavor>``).
A case that fails writes its traceback to ``<id>.error.txt`` instead, so one broken case
fails its own test only.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flavor_cases import all_cases


def _dump(path: Path, value: object) -> None:
    path.write_bytes(pickle.dumps(value))


def write(root: Path, wanted: set[str]) -> None:
    import mlflow.pyfunc

    root.mkdir(parents=True, exist_ok=True)
    for case in all_cases():
        if case.id not in wanted or not case.available():
            continue
        try:
            flavor = importlib.import_module(f"mlflow.{case.flavor}")
            options = {**case.save_kwargs, **case.mlflow_kwargs}
            # Explicit requirements skip MLflow's requirement inference, which reloads the
            # model in a subprocess (about a minute for Spark); the files are unaffected.
            options.setdefault("pip_requirements", [])
            flavor.save_model(case.build(), str(root / case.id), **options)
            loaded = mlflow.pyfunc.load_model(str(root / case.id))
            _dump(root / f"{case.id}.expected.pkl", loaded.predict(case.model_input()))
        except Exception:
            (root / f"{case.id}.error.txt").write_text(traceback.format_exc())


def read(models: Path, out: Path) -> None:
    sys.modules["pyfunc_ops"] = None  # type: ignore[assignment]  # stock MLflow only
    import mlflow.pyfunc

    out.mkdir(parents=True, exist_ok=True)
    for case in all_cases():
        folder = models / case.id
        if not folder.is_dir():
            continue
        try:
            data = case.model_input()
            _dump(
                out / f"{case.id}.pyfunc.pkl", mlflow.pyfunc.load_model(str(folder)).predict(data)
            )
            flavor = importlib.import_module(f"mlflow.{case.flavor}")
            native = flavor.load_model(str(folder))
            _dump(out / f"{case.id}.native.pkl", case.native_predict(native, data))
        except Exception:
            (out / f"{case.id}.error.txt").write_text(traceback.format_exc())


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]), set(sys.argv[3].split(",")))
    else:
        read(Path(sys.argv[2]), Path(sys.argv[3]))
