"""pyfunc_ops: the pyfunc model format, light and Airflow-native.

Layers, lowest first; a module imports only its own layer and those below, and no two
modules import each other (``tests/package/test_layers.py`` enforces both; see
``docs/architecture.md``)::

    pyfunc_ops (this file) -> errors -> config -> core -> models -> storage -> tracking
    -> envs -> pyfunc -> the flavor modules (sklearn, xgboost, ...) -> jobs -> airflow | cli
"""

__version__ = "0.1.0"
