"""The one home of the rules every layer shares.

Model URI grammar, "is this a remote location", path joins, the names of registered
models, versions, stages and aliases, version strings and redaction live here, below the
format (``models/``) and everything else, so that each rule has a single definition that
every caller uses. Modules here import only the standard library, ``errors`` and
``config``.
"""

from pyfunc_ops.core.redact import install_log_redaction

# Every pyfunc_ops logger redacts its records from the first import on, wherever logging
# is configured (a script, Airflow, the CLI): a URL with a password logged by any layer
# reaches no handler in clear. Costs a regex module and a record-factory wrapper.
install_log_redaction("pyfunc_ops")
