#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL + PostGIS cluster on loopback,
# with DATABASE_URL pointing at it; the cluster is removed afterwards.
# Installs PostgreSQL and PostGIS from Debian's packages when run as root.
# Usage: scripts/with-postgis.sh COMMAND [ARGS...]
set -euo pipefail

PORT=${POSTGIS_TEST_PORT:-54329}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL/PostGIS missing. Install as root: apt-get install $*" >&2
    exit 1
  fi
  echo "Installing $* ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

[ -n "$(pg_bindir)" ] || apt_install postgresql
PGBIN=$(pg_bindir)
PGVERSION=$(basename "$(dirname "$PGBIN")")
[ -f "/usr/share/postgresql/$PGVERSION/extension/postgis.control" ] \
  || apt_install "postgresql-$PGVERSION-postgis-3"

DATA=$(mktemp -d /tmp/yangtze-postgis.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown postgres: "$DATA"
cleanup() {
  as_postgres "$PGBIN/pg_ctl" -D "$DATA/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

as_postgres "$PGBIN/initdb" -D "$DATA/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
# Durability is not needed for a throwaway test cluster; speed is.
as_postgres "$PGBIN/pg_ctl" -D "$DATA/data" -l "$DATA/server.log" -w \
  -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
as_postgres "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres yangtze

export DATABASE_URL="postgis://postgres@127.0.0.1:$PORT/yangtze"
echo "PostGIS $PGVERSION cluster on 127.0.0.1:$PORT"
"$@"
