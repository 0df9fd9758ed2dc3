"""pyfunc_ops: the pyfunc model format, light and Airflow-native."""

__version__ = "0.1.0"
