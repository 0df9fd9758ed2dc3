#!/usr/bin/env bash
# The test command: sets up everything the suite needs on a fresh machine, then runs the
# linters, the type checker and the tests. Re-running it is quick: each step is idempotent.
#   - a virtual environment (.venv) with pyfunc_ops and its dev extras, installed with uv
#   - a PostgreSQL server on 127.0.0.1 for the shared-deployment registry tests
#   - Debian's chromium, for the registry view's headless browser test
#   - a separate virtual environment holding MLflow, for the interoperability tests
#   - a small pandas-3 virtual environment (uv, cached) that runs the unit tests needing no
#     Spark, Airflow, MLflow or PostgreSQL a second time: the main .venv stays on pandas 2.x
#     because PySpark 4.x supports pandas 2.x (see pyproject.toml). It runs after a full run
#     (no arguments) or when PYFUNC_OPS_TEST_PANDAS3=1; PYFUNC_OPS_TEST_PANDAS3=0 skips it.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/models -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

log() { printf '[test.sh] %s\n' "$*" >&2; }

if ! command -v uv >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install -q uv
  export PATH="$(python3 -c 'import sysconfig;print(sysconfig.get_path("scripts"))'):$PATH"
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  uv venv -q --python 3.11 .venv 2>/dev/null || uv venv -q .venv
fi
log "installing pyfunc_ops[dev] into .venv"
uv pip install -q --python .venv/bin/python -e ".[dev]"

# The registry view's browser test drives Debian's chromium (headless, DevTools protocol).
if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (Debian package) for the browser test"
  apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
fi

log "starting PostgreSQL (if needed)"
eval "$(bash scripts/postgres.sh)"

log "preparing the MLflow reference environment"
export PYFUNC_OPS_MLFLOW_VENV="${PYFUNC_OPS_MLFLOW_VENV:-$HOME/.cache/pyfunc_ops/mlflow-venv}"
bash scripts/mlflow_venv.sh >/dev/null

# Restored model environments are cached between runs (they take a while to build).
export PYFUNC_OPS_TEST_ENV_DIR="${PYFUNC_OPS_TEST_ENV_DIR:-$HOME/.cache/pyfunc_ops/test-envs}"
# Tests only ever talk to S3 on 127.0.0.1 (moto); never to an instance-metadata address.
export AWS_EC2_METADATA_DISABLED=true
export PYSPARK_PYTHON="$root/.venv/bin/python"
export PYSPARK_DRIVER_PYTHON="$root/.venv/bin/python"

log "ruff"
.venv/bin/ruff check pyfunc_ops tests dags benchmarks
.venv/bin/ruff format --check pyfunc_ops tests dags benchmarks
log "mypy"
.venv/bin/mypy pyfunc_ops

log "pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  log "pytest collected no tests"
  exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

pandas3="${PYFUNC_OPS_TEST_PANDAS3:-}"
if [ -z "$pandas3" ]; then
  if [ "$#" -eq 0 ]; then pandas3=1; else pandas3=0; fi
fi
if [ "$pandas3" = "1" ]; then
  p3="${PYFUNC_OPS_PANDAS3_VENV:-$HOME/.cache/pyfunc_ops/pandas3-venv}"
  if [ ! -f "$p3/.pyfunc_ops-ready-v1" ]; then
    log "creating the pandas-3 venv ($p3)"
    rm -rf "$p3"
    uv venv -q --python 3.11 "$p3"
    uv pip install -q --python "$p3/bin/python" -e ".[s3,postgres]" "pandas>=3,<4" \
      pytest pytest-timeout "moto[server]>=5"
    touch "$p3/.pyfunc_ops-ready-v1"
  fi
  # pyfunc_ops itself is refreshed every time (cheap); its dependencies stay cached.
  uv pip install -q --python "$p3/bin/python" --no-deps -e .
  log "pytest on pandas $("$p3/bin/python" -c 'import pandas; print(pandas.__version__)')"
  PYSPARK_PYTHON="$p3/bin/python" PYSPARK_DRIVER_PYTHON="$p3/bin/python" \
    "$p3/bin/python" -m pytest -q -p no:cacheprovider tests/models tests/pyfunc tests/core \
    -m "not spark and not mlflow and not airflow and not postgres" \
    --deselect tests/pyfunc/test_one_pass.py::test_the_spark_driver
fi

# The torch venv: the PyTorch and Keras 3 flavor cases (tests marked `torch`) need torch,
# which the main .venv leaves out (its CUDA wheels are ~7 GB; uv installs them from its cache
# in about a minute, once). Built once (marker file), pyfunc_ops refreshed every run. Keras
# runs on the torch backend (no TensorFlow). It runs when the pandas-3 run does (a full run),
# or when PYFUNC_OPS_TEST_TORCH=1; PYFUNC_OPS_TEST_TORCH=0 skips it.
torchrun="${PYFUNC_OPS_TEST_TORCH:-$pandas3}"
if [ "$torchrun" = "1" ]; then
  tv="${PYFUNC_OPS_TORCH_VENV:-$HOME/.cache/pyfunc_ops/torch-venv}"
  if [ ! -f "$tv/.pyfunc_ops-ready-v1" ]; then
    log "creating the torch venv ($tv)"
    rm -rf "$tv"
    uv venv -q --python 3.11 "$tv"
    uv pip install -q --python "$tv/bin/python" -e ".[spark,s3]" torch keras "pandas<3" \
      pytest pytest-timeout "moto[server]>=5"
    touch "$tv/.pyfunc_ops-ready-v1"
  fi
  uv pip install -q --python "$tv/bin/python" --no-deps -e .
  log "pytest -m torch on torch $("$tv/bin/python" -c 'import torch; print(torch.__version__)')"
  set +e
  KERAS_BACKEND=torch PYSPARK_PYTHON="$tv/bin/python" PYSPARK_DRIVER_PYTHON="$tv/bin/python" \
    "$tv/bin/python" -m pytest -q -p no:cacheprovider tests/flavors -m torch
  status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    log "pytest -m torch collected no tests"
    exit 1
  fi
  [ "$status" -eq 0 ] || exit "$status"
fi
