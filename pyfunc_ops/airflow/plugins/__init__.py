"""The provider's Airflow plugin: the read-only model registry view
(:mod:`pyfunc_ops.airflow.plugins.registry`), registered through ``get_provider_info``."""
