"""A workflow-1 model class of ours, shipped with the model through ``code_path`` (so the
MLflow venv, which has pyfunc_ops but not this test tree, can import it)."""

import json
from pathlib import Path

import pandas as pd

from pyfunc_ops.pyfunc import PythonModel


class Affine(PythonModel):
    def load_context(self, context):
        self.coef = json.loads(Path(context.artifacts["coef"]).read_text())
        self.scale = float(context.model_config.get("scale", 1.0))

    def predict(self, context, model_input, params=None):
        offset = float((params or {}).get("offset", 0.0))
        raw = model_input["a"] * self.coef["a"] + model_input["b"] * self.coef["b"]
        return pd.DataFrame({"y": raw * self.scale + offset, "scale": self.scale, "offset": offset})
