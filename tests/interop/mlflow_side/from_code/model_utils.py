"""A code_paths module of the MLflow-written models-from-code model (isolation test)."""

SUFFIX = "-mlflow-utils"


def decorate(text):
    return text.upper() + SUFFIX
