"""The Apache Airflow provider of pyfunc_ops: hooks, operators, sensors and triggers.

Importing this package imports nothing from Airflow; import the subpackages
(``pyfunc_ops.airflow.operators``, ``.sensors``, ``.hooks``, ``.triggers``) you need.
"""
