"""An MLflow models-from-code file: MLflow's own imports, a type-hinted predict, a
code_paths module and model_config."""

import model_utils
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class Decorate(PythonModel):
    def load_context(self, context):
        self.end = context.model_config.get("end", "")

    def predict(self, context, model_input: list[str], params=None) -> list[str]:
        return [model_utils.decorate(s) + self.end for s in model_input]


set_model(Decorate())
