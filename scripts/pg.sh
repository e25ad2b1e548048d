#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: unix socket only (no TCP listener), trust auth,
# fsync off (a test cluster: losing it in a crash costs nothing), synchronous_commit on as in
# production.
#   scripts/pg.sh start DIR   # prints the libpq URL of database keymgr_test, nothing else on stdout
#   scripts/pg.sh stop DIR    # immediate shutdown, then rm -rf DIR
#   scripts/pg.sh pause DIR   # fast shutdown (pg_ctl -m fast), DIR kept: a database outage in a test
#   scripts/pg.sh resume DIR  # starts a paused cluster again; prints the URL, as `start`
# The cluster is DIR/data, its log DIR/pg.log, its socket DIR/.s.PGSQL.5432 (the port only names
# the socket: clusters in different directories do not collide). As root the server runs as the
# `postgres` OS user (PostgreSQL refuses to run as root) and DIR is chowned to it; otherwise as
# the current user. DIR is made 0755 so tests running as any user reach the socket.
# `start` on a DIR whose server is running just prints the URL.
set -euo pipefail

usage() { echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
DIR=$2
die() { echo "pg.sh: $*" >&2; exit 1; }

# The server binaries: the highest /usr/lib/postgresql/N/bin, else pg_config --bindir.
bindir="" best=-1
for d in /usr/lib/postgresql/*/bin; do
  v=${d#/usr/lib/postgresql/}; v=${v%/bin}
  if [[ $v =~ ^[0-9]+$ ]] && [ -x "$d/pg_ctl" ] && [ "$v" -gt "$best" ]; then bindir=$d best=$v; fi
done
if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then
  bindir=$(pg_config --bindir)
fi
have_bin() { [ -n "$bindir" ] && [ -x "$bindir/pg_ctl" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/psql" ]; }

# Don't let the caller's libpq settings steer our own psql calls.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGOPTIONS PGSERVICE PGPASSWORD PGSSLMODE || true

# $1 percent-encoded as a URI query value (unreserved characters and '/' kept), byte by byte.
urlencode() {
  local LC_ALL=C s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~/-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# Runs a command as the cluster's OS user (from a directory that user can read).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$DIR" && runuser -u postgres -- "$@")
  else
    (cd "$DIR" && "$@")
  fi
}

case $cmd in
  start|resume)
    if [ "$cmd" = resume ] && [ ! -f "$DIR/data/PG_VERSION" ]; then
      die "$DIR holds no cluster to resume (scripts/pg.sh start makes one)"
    fi
    have_bin || die "no PostgreSQL server binaries (install postgresql-15: scripts/install-deps.sh)"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    # Unix socket paths are limited to 107 bytes.
    [ ${#DIR} -le 90 ] || die "socket directory path too long (${#DIR} > 90 bytes): $DIR"
    touch "$DIR/.keymgr-pg"  # marks DIR as ours for `stop` (which removes it)
    if [ "$(id -u)" -eq 0 ]; then
      getent passwd postgres >/dev/null || die "no 'postgres' OS user to run the server as (install postgresql-15)"
      chown postgres: "$DIR"
      # Every directory above DIR must be traversable by postgres (and by non-root tests).
      runuser -u postgres -- test -x "$DIR" || die "$DIR is not reachable by the postgres user (a parent directory is not world-traversable)"
    fi
    chmod 0755 "$DIR"
    url="postgresql://postgres@/keymgr_test?host=$(urlencode "$DIR")"

    if ! as_owner "$bindir/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1; then
      if [ ! -f "$DIR/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$DIR/data" --no-sync --auth=trust -U postgres -E UTF8 \
          --locale=C >"$DIR/initdb.log" 2>&1 || {
          tail -n 30 "$DIR/initdb.log" >&2 || true
          die "initdb failed (log: $DIR/initdb.log)"
        }
      fi
      as_owner "$bindir/pg_ctl" -w -t 60 -D "$DIR/data" -l "$DIR/pg.log" \
        -o "-k '$DIR' -c listen_addresses='' -c fsync=off -c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB" \
        start >/dev/null 2>&1 || {
        echo "pg.sh: server log ($DIR/pg.log), last lines:" >&2
        tail -n 30 "$DIR/pg.log" >&2 || true
        die "PostgreSQL did not start in $DIR"
      }
    fi
    psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -U postgres)
    exists=$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'keymgr_test'") ||
      die "cannot connect to the server in $DIR (log: $DIR/pg.log)"
    if [ "$exists" != 1 ]; then
      "${psql[@]}" -d postgres -c "CREATE DATABASE keymgr_test" >&2 || die "cannot create database keymgr_test"
    fi
    echo "$url"
    ;;
  stop)
    [ -d "$DIR" ] || exit 0
    DIR=$(cd "$DIR" && pwd -P)
    [ "$DIR" != / ] || die "refusing to remove /"
    # Only remove a directory `start` made ours (or an empty one: a start that failed early).
    if [ ! -e "$DIR/.keymgr-pg" ] && [ -n "$(ls -A "$DIR")" ]; then
      die "$DIR is not a pg.sh cluster directory (no .keymgr-pg): not removing it"
    fi
    if [ -f "$DIR/data/postmaster.pid" ] && have_bin; then
      as_owner "$bindir/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 ||
        echo "pg.sh: pg_ctl stop failed in $DIR (server not running?)" >&2
    fi
    rm -rf "$DIR"
    ;;
  pause)
    [ -f "$DIR/.keymgr-pg" ] && [ -f "$DIR/data/PG_VERSION" ] || die "$DIR is not a pg.sh cluster directory"
    have_bin || die "no PostgreSQL server binaries"
    DIR=$(cd "$DIR" && pwd -P)
    # Fast shutdown: clients are disconnected, the server stops cleanly, the data stays.
    as_owner "$bindir/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null ||
      die "pg_ctl stop failed in $DIR (log: $DIR/pg.log)"
    ;;
  *) usage ;;
esac
