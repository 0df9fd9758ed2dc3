"""A workflow-2 loader module of ours: ``_load_pyfunc(path, model_config)`` reads the data
file and returns a wrapper whose ``predict`` takes ``params``."""

import json

import pandas as pd


class _Model:
    def __init__(self, coef, model_config):
        self.coef = coef
        self.scale = float((model_config or {}).get("scale", 1.0))

    def predict(self, model_input, params=None):
        offset = float((params or {}).get("offset", 0.0))
        raw = model_input["a"] * self.coef["a"] - model_input["b"] * self.coef["b"]
        return pd.DataFrame({"y": raw * self.scale + offset, "scale": self.scale, "offset": offset})


def _load_pyfunc(path, model_config=None):
    with open(path) as fh:
        return _Model(json.load(fh), model_config)
