#!/usr/bin/env bash
# Starts (once) a throw-away PostgreSQL server for the tracking tests and prints ONE line on
# stdout:
#
#   export PYFUNC_OPS_TEST_POSTGRES_URL=postgresql+psycopg://...
#
# so a test script can run `eval "$(bash scripts/postgres.sh)"`. Everything else goes to
# stderr. Idempotent and quick on a second call:
#   - PYFUNC_OPS_TEST_POSTGRES_URL already set and answering "select 1": reprint it, done;
#   - our cluster already running: reprint its URL, done;
#   - otherwise install Debian's `postgresql` if initdb/pg_ctl are missing, initialise a
#     cluster under /tmp (as the `postgres` user when run as root: the server refuses to run
#     as root), start it on 127.0.0.1 on a free port, create a user and a database.
#
# Settings (all optional): PYFUNC_OPS_PG_DIR (default /tmp/pyfunc_ops_pg),
# PYFUNC_OPS_PG_PORT (first port to try, default 55432).
# The server is tuned for tests (fsync off): never point it at data you want to keep.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

pg_dir="${PYFUNC_OPS_PG_DIR:-/tmp/pyfunc_ops_pg}"
data="$pg_dir/data"
sock="$pg_dir/socket"
first_port="${PYFUNC_OPS_PG_PORT:-55432}"
db_user="pyfunc_ops"
db_password="pyfunc_ops"
db_name="pyfunc_ops_test"

url_for_port() {
  echo "postgresql+psycopg://$db_user:$db_password@127.0.0.1:$1/$db_name"
}

# libpq tools do not understand SQLAlchemy's "+driver" suffix.
libpq_url() { echo "${1/+psycopg2/}" | sed -e 's/+psycopg//'; }

find_bindir() {
  if command -v pg_config >/dev/null 2>&1; then
    local d
    d="$(pg_config --bindir 2>/dev/null || true)"
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  fi
  # Debian keeps the server binaries out of PATH, one folder per major version.
  local newest
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then echo "$newest"; return 0; fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

# 1. An explicitly configured server that answers: nothing to do.
if [ -n "${PYFUNC_OPS_TEST_POSTGRES_URL:-}" ] && command -v psql >/dev/null 2>&1; then
  if psql "$(libpq_url "$PYFUNC_OPS_TEST_POSTGRES_URL")" -tAc 'select 1' >/dev/null 2>&1; then
    log "PYFUNC_OPS_TEST_POSTGRES_URL is set and reachable; nothing to do"
    echo "export PYFUNC_OPS_TEST_POSTGRES_URL=$PYFUNC_OPS_TEST_POSTGRES_URL"
    exit 0
  fi
  log "PYFUNC_OPS_TEST_POSTGRES_URL is set but not reachable; starting a local server instead"
fi

# 2. The server binaries, installed from Debian when missing.
if ! bindir="$(find_bindir)"; then
  log "PostgreSQL is not installed; installing the Debian package 'postgresql'"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "need root or sudo to install postgresql"; exit 1; }
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q >&2
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends postgresql >&2
  bindir="$(find_bindir)" || { log "postgresql installed but initdb/pg_ctl not found"; exit 1; }
fi
log "using PostgreSQL binaries from $bindir"

# The server refuses to run as root: run it (and the admin commands) as `postgres`.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$pg_dir" --shell /bin/bash postgres
  as_pg() { runuser -u postgres -- "$@"; }
  pg_owner="postgres"
else
  as_pg() { "$@"; }
  pg_owner="$(id -un)"
fi

mkdir -p "$pg_dir" "$sock"
chown "$pg_owner" "$pg_dir" "$sock"
chmod 700 "$pg_dir"

running_port() {
  # Line 4 of postmaster.pid is the port of a running server started on this data folder.
  if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    sed -n 4p "$data/postmaster.pid"
    return 0
  fi
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

psql_admin() {
  as_pg "$bindir/psql" -h "$sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA "$@"
}

# 3. Initialise the cluster once.
if [ ! -f "$data/PG_VERSION" ]; then
  log "initialising a cluster in $data"
  rm -rf "$data"
  locale="C"
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale="C.UTF-8"; fi
  as_pg "$bindir/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale="$locale" >&2
fi

# 4. Start it unless it runs already.
if port="$(running_port)"; then
  log "server already running on port $port"
else
  port="$first_port"
  while port_in_use "$port"; do
    port=$((port + 1))
    if [ "$port" -gt $((first_port + 100)) ]; then log "no free port from $first_port"; exit 1; fi
  done
  log "starting the server on 127.0.0.1:$port (log: $pg_dir/server.log)"
  touch "$pg_dir/server.log" && chown "$pg_owner" "$pg_dir/server.log"
  as_pg "$bindir/pg_ctl" -D "$data" -l "$pg_dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $sock -c max_connections=300 \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2
fi

# 5. The user and the database (each created only if missing).
if [ "$(psql_admin -c "select 1 from pg_roles where rolname = '$db_user'")" != "1" ]; then
  log "creating role $db_user"
  psql_admin -c "create role $db_user login password '$db_password' createdb" >/dev/null
fi
if [ "$(psql_admin -c "select 1 from pg_database where datname = '$db_name'")" != "1" ]; then
  log "creating database $db_name"
  psql_admin -c "create database $db_name owner $db_user" >/dev/null
fi

echo "export PYFUNC_OPS_TEST_POSTGRES_URL=$(url_for_port "$port")"
