"""Jobs built on the library: batch scoring of files, Spark scoring, packaging.

Each job has one frozen request type whose field defaults are the job's only defaults
(:class:`~pyfunc_ops.jobs.scoring.ScoreFilesRequest`,
:class:`~pyfunc_ops.jobs.spark.ScoreSparkRequest`,
:class:`~pyfunc_ops.jobs.packaging.PackageRequest`) and a ``run_*`` function taking it; the
keyword functions (``score_files``, ``score_spark``, ``package_model``), the Airflow
operators and the ``pyfunc-ops`` command all build that request. This layer sits above
``pyfunc``/``envs`` and below ``airflow`` and the CLI; importing it loads no heavy library.
"""
