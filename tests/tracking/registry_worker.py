"""A separate process that registers model versions, for the concurrency tests.

Usage: python registry_worker.py <tracking_uri> <model name> <count> <create|register>

It opens the store first and prints ``ready``, then waits for a line on stdin, so the test
can release every worker at the same moment; it then registers ``count`` versions
(``create``: create_model_version on an existing model; ``register``: register_model,
which also creates the model if absent) and prints the version numbers as JSON.
"""

from __future__ import annotations

import json
import sys

from pyfunc_ops.tracking import TrackingClient


def main() -> None:
    uri, name, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    client = TrackingClient(uri)
    client.registry  # noqa: B018 - opens the engine and ensures the schema before the start
    print("ready", flush=True)
    sys.stdin.readline()
    versions = []
    for i in range(count):
        source = f"s3://bucket/{name}/{i}"
        if mode == "create":
            versions.append(client.create_model_version(name, source).version)
        else:
            versions.append(client.register_model(source, name).version)
    print(json.dumps(versions), flush=True)


if __name__ == "__main__":
    main()
