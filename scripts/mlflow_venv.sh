#!/usr/bin/env bash
# Builds (once) and prints the path of a separate virtual environment holding the reference
# implementation, MLflow 3.18, and every framework our flavors cover, for the interoperability
# tests and the benchmarks. pyfunc_ops itself never imports mlflow; the tests talk to this
# environment through subprocesses only.
#
# Why the override: mlflow 3.18.0 depends on mlflow-tracing==3.18.0, which the package
# registry we install from does not carry. The mlflow wheel itself holds that code (the
# tracing package is a slimmed copy for tracing-only installs), so the dependency is
# excluded with a uv override that can never match. Anything restoring a model environment
# with MLflow's own uv manager needs the same override: see MLFLOW_UV_OVERRIDE below and
# tests/flavors (UV_OVERRIDE points uv at it).
set -euo pipefail
venv="${PYFUNC_OPS_MLFLOW_VENV:-$HOME/.cache/pyfunc_ops/mlflow-venv}"
root="$(cd "$(dirname "$0")/.." && pwd)"
marker="$venv/.pyfunc_ops-ready-v2"
override="$venv/uv-override.txt"
if [ ! -f "$marker" ]; then
  command -v uv >/dev/null || python3 -m pip install -q uv >&2
  rm -rf "$venv"
  uv venv -q --python 3.11 "$venv" >&2
  printf 'mlflow-tracing ; sys_platform == "never"\n' >"$override"
  # torch from the registry (CPU use only here); keras runs on its torch backend.
  uv pip install -q --python "$venv/bin/python" --override "$override" "mlflow==3.18.0" \
    "pandas<3" scikit-learn skops "pyspark>=4.0,<4.4" s3fs boto3 \
    xgboost lightgbm catboost statsmodels onnx onnxruntime torch keras >&2
  touch "$marker"
fi
# pyfunc_ops beside mlflow (for the "other way round" tests), refreshed every time: cheap.
uv pip install -q --python "$venv/bin/python" --no-deps -e "$root" >&2
echo "$venv"
