"""An MLflow models-from-code file registering a plain function (``import mlflow`` style)."""

import mlflow


def add_one(model_input):
    return (model_input["x"] + 1).tolist()


mlflow.models.set_model(add_one)
