#!/usr/bin/env bash
# Builds (once) and prints the path of a separate virtual environment holding the reference
# implementation, MLflow, for the interoperability tests and the benchmarks. pyfunc_ops itself
# never imports mlflow; the tests talk to this environment through subprocesses only.
set -euo pipefail
venv="${PYFUNC_OPS_MLFLOW_VENV:-$HOME/.cache/pyfunc_ops/mlflow-venv}"
root="$(cd "$(dirname "$0")/.." && pwd)"
marker="$venv/.pyfunc_ops-ready-v1"
if [ ! -f "$marker" ]; then
  command -v uv >/dev/null || python3 -m pip install -q uv >&2
  rm -rf "$venv"
  uv venv -q --python 3.11 "$venv" >&2
  uv pip install -q --python "$venv/bin/python" "mlflow>=3,<4" "pandas<3" scikit-learn skops \
    "pyspark>=4.0,<4.4" s3fs boto3 >&2
  touch "$marker"
fi
# pyfunc_ops beside mlflow (for the "other way round" tests), refreshed every time: cheap.
uv pip install -q --python "$venv/bin/python" --no-deps -e "$root" >&2
echo "$venv"
