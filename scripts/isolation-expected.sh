#!/usr/bin/env bash
# Makes the expected outputs of the isolation specs (e2e/testdata/isolation)
# with PostgreSQL 15's own isolationtester against a PostgreSQL 15 server
# started here, then checks that Meridian's Go runner (e2e/isolation) reports
# the same against that server.
#
#   scripts/isolation-expected.sh [spec name ...]   (default: every spec)
#
# Needs Debian's postgresql-15 and postgresql-server-dev-15 (pgxs's
# isolationtester); run as root (the server runs as the postgres user) or as a
# user that may run initdb.
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=/usr/lib/postgresql/15/bin
ISO=/usr/lib/postgresql/15/lib/pgxs/src/test/isolation/isolationtester
dir=e2e/testdata/isolation
work=$(mktemp -d /tmp/meridian-iso.XXXXXX)
chmod 755 "$work"
PGPORT=5498
stop() {
  if [ "$(id -u)" = 0 ]; then su postgres -c "$PGBIN/pg_ctl -D $work/pg -m fast stop" >/dev/null 2>&1 || true
  else "$PGBIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap stop EXIT
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  su postgres -c "$PGBIN/initdb -D $work/pg -A trust >/dev/null && $PGBIN/pg_ctl -D $work/pg -o '-p $PGPORT -k $work -c listen_addresses=127.0.0.1 -c max_prepared_transactions=10' -l $work/pg.log start >/dev/null"
  PGUSER=postgres
else
  "$PGBIN/initdb" -D "$work/pg" -A trust >/dev/null
  "$PGBIN/pg_ctl" -D "$work/pg" -o "-p $PGPORT -k $work -c listen_addresses=127.0.0.1 -c max_prepared_transactions=10" -l "$work/pg.log" start >/dev/null
  PGUSER=$(id -un)
fi
dsn="host=127.0.0.1 port=$PGPORT user=$PGUSER dbname=postgres"
names=("$@")
if [ ${#names[@]} = 0 ]; then
  for f in "$dir"/*.spec; do names+=("$(basename "$f" .spec)"); done
fi
for n in "${names[@]}"; do
  "$ISO" "$dsn" < "$dir/$n.spec" > "$dir/expected/$n.out"
  echo "wrote $dir/expected/$n.out"
done
MERIDIAN_ISOLATION_PG="$dsn" go test -count=1 -run TestPostgres ./e2e/isolation/
