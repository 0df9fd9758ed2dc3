"""Run as a script in a fresh interpreter by tests/tracking/test_registry_e2e.py.

Usage: ``python load_models.py URI [URI ...]``. Everything else (registry, artifact root,
cache folder, S3 endpoint and keys) comes from the environment, as it would in a scoring
job. Loads each URI, predicts on a fixed frame and prints one JSON document on stdout:
the predictions and local folder per URI, plus this process's cache hits and misses and
the cache's own log lines.
"""

from __future__ import annotations

import json
import logging
import sys


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def main(uris: list[str]) -> None:
    import pandas as pd

    from pyfunc_ops import pyfunc
    from pyfunc_ops.storage import cache

    collect = _Collect()
    cache_log = logging.getLogger("pyfunc_ops.storage.cache")
    cache_log.addHandler(collect)
    cache_log.setLevel(logging.INFO)

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
    loaded = {}
    for uri in uris:
        model = pyfunc.load_model(uri)
        loaded[uri] = {
            "predictions": [float(v) for v in model.predict(frame)],
            "path": str(model.model_path),
        }
    document = {
        "models": loaded,
        "hits": cache.stats.hits,
        "misses": cache.stats.misses,
        "cache_log": collect.lines,
    }
    sys.stdout.write(json.dumps(document) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
