#!/usr/bin/env bash
# The main job: run the example pipeline end to end on the embedded defaults.
#
#   scripts/main_job.sh
#
# 1. makes sure .venv exists with pyfunc-ops[all] (installs uv first if missing; quick
#    when everything is already there),
# 2. gives Airflow a private home under out/airflow (SQLite metadata database),
# 3. runs the DAG retrain_and_package (train, package, register, evaluate, promote) and
#    then batch_score (wait for the champion, score with PyfuncPredictOperator and with
#    SparkUDFScoreOperator) with `airflow dags test`,
# 4. prints where the model, the registry and the predictions are.
#
# Needs python3 (3.10+) and, for the Spark step, Java 17. Everything is written under
# PYFUNC_OPS_DEMO_DIR (default: out/ in the repository, git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$(mkdir -p "${PYFUNC_OPS_DEMO_DIR:-$ROOT/out}" && cd "${PYFUNC_OPS_DEMO_DIR:-$ROOT/out}" && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

step() { printf '\n==> %s\n' "$*"; }

# -- 1. the virtual environment ---------------------------------------------------------
if [ -x "$PY" ] && "$PY" -c "import pyfunc_ops.airflow.operators, pyspark" 2>/dev/null; then
    step "using $VENV"
else
    if command -v uv >/dev/null 2>&1; then
        UV=(uv)
    else
        step "installing uv (into $OUT/.bootstrap)"
        if [ ! -x "$OUT/.bootstrap/bin/uv" ]; then
            python3 -m venv "$OUT/.bootstrap"
            "$OUT/.bootstrap/bin/python" -m pip install --quiet --disable-pip-version-check uv
        fi
        UV=("$OUT/.bootstrap/bin/uv")
    fi
    if [ ! -x "$PY" ]; then
        step "creating $VENV"
        "${UV[@]}" venv --python python3 "$VENV"
    fi
    step "installing pyfunc-ops[all] into $VENV"
    "${UV[@]}" pip install --python "$PY" -e ".[all]"
fi
if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
    echo "warning: no java found; the Spark scoring task needs Java 17" >&2
fi

# -- 2. configuration: everything under $OUT --------------------------------------------
export PYFUNC_OPS_DEMO_DIR="$OUT"
export PYFUNC_OPS_HOME="$OUT/pyfunc_ops_home"  # registry: tracking.db, models: artifacts/
export AIRFLOW_HOME="$OUT/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PY}"
export PATH="$VENV/bin:$PATH"

step "migrating the Airflow metadata database ($AIRFLOW_HOME)"
airflow db migrate >"$OUT/airflow-db-migrate.log" 2>&1 || {
    tail -n 30 "$OUT/airflow-db-migrate.log" >&2
    exit 1
}

# -- 3. the two DAGs --------------------------------------------------------------------
run_dag() {
    local log="$OUT/logs/$1.log"
    mkdir -p "$OUT/logs"
    step "airflow dags test $* (log: $log)"
    if ! airflow dags test "$@" >"$log" 2>&1 || grep -q "DagRun Finished:.* state=failed" "$log"; then
        grep -E "ERROR|Error|error" "$log" | tail -n 20 >&2 || true
        echo "DAG $1 failed; see $log" >&2
        exit 1
    fi
}
run_dag retrain_and_package "$(date -u +%Y-%m-%d)"
run_dag batch_score

# -- 4. where everything is -------------------------------------------------------------
"$PY" - "$OUT/summary.json" <<'PYEOF'
import json
import sys

s = json.load(open(sys.argv[1]))
m = s["model"]
print()
print(f"model     {m['name']} version {m['version']} ({s['model_uri']}) at {s['model_location']}")
print(f"registry  {s['registry']}  (artifacts under {s['artifact_root']})")
print(f"predictions (pyfunc)  {s['pyfunc']['output_uri']}")
print(f"predictions (spark)   {s['spark']['output_uri']}")
print()
print(f"version:   {m['name']} latest registered version {s['latest_version']}")
print(f"alias:     {m['alias']} -> version {m['version']} (scored)")
print(
    f"rows:      pyfunc {s['pyfunc']['rows_in']} in / {s['pyfunc']['rows_out']} out, "
    f"spark {s['spark']['rows_in']} in / {s['spark']['rows_out']} out"
)
PYEOF
