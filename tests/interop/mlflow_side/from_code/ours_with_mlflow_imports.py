"""A models-from-code file pyfunc_ops saves (in its venv, without MLflow) that uses
MLflow's names; MLflow loads the saved model with its real set_model."""

from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class Records(PythonModel):
    def predict(self, model_input: list[dict[str, str]]) -> list[str]:
        return [f"{r['a']}:{r['b']}" for r in model_input]


set_model(Records())
