"""The one home of the rules every layer shares.

Model URI grammar, "is this a remote location", path joins, the names of registered
models, versions, stages and aliases, version strings and redaction live here, below the
format (``models/``) and everything else, so that each rule has a single definition that
every caller uses. Modules here import only the standard library, ``errors`` and
``config``.
"""
