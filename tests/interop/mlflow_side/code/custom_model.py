"""A custom model class defined in a ``code_paths`` module (pickled by reference), the way
MLflow users write it: it imports MLflow's base class."""

import json

import pandas as pd
from mlflow.pyfunc import PythonModel


class WeightedSum(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["weights"]) as fh:
            self.weights = json.load(fh)
        self.scale = float(context.model_config.get("scale", 1.0))

    def predict(self, context, model_input, params=None):
        total = sum(model_input[col] * w for col, w in self.weights.items())
        return pd.DataFrame({"score": total * self.scale, "scale": self.scale})
