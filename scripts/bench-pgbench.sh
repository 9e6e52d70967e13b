#!/usr/bin/env bash
# Runs pgbench against `om demo` (3 datanodes, 2 coordinators; through one
# coordinator) and against PostgreSQL 15 on the same machine, in one run, and
# prints a Markdown table for docs/benchmarks.md.
#
#   scripts/bench-pgbench.sh [seconds per run (default 30)] [clients (default 4)]
#
# Needs Debian's postgresql-15 (pgbench, initdb, pg_ctl); run as root (the
# PostgreSQL server runs as the postgres user) or as a user that may run initdb.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-30}
C=${2:-4}
PGBIN=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/meridian-bench.XXXXXX)
chmod 755 "$work"
PGPORT=5496
MPORT=25432
cleanup() {
  [ -n "${demo_pid:-}" ] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null || true
  if [ -d "$work/pg" ]; then
    if [ "$(id -u)" = 0 ]; then su postgres -c "$PGBIN/pg_ctl -D $work/pg -m fast stop" >/dev/null 2>&1 || true
    else "$PGBIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/om" ./om

# PostgreSQL 15, default settings (fsync on).
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  su postgres -c "$PGBIN/initdb -D $work/pg -A trust >/dev/null && $PGBIN/pg_ctl -D $work/pg -o '-p $PGPORT -k $work -c listen_addresses=127.0.0.1' -l $work/pg.log start >/dev/null"
  PGUSER=postgres
else
  "$PGBIN/initdb" -D "$work/pg" -A trust >/dev/null
  "$PGBIN/pg_ctl" -D "$work/pg" -o "-p $PGPORT -k $work -c listen_addresses=127.0.0.1" -l "$work/pg.log" start >/dev/null
  PGUSER=$(id -un)
fi

# Meridian.
"$work/om" demo --dir "$work/demo" --base-port 25400 --pg-port $MPORT > "$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 120); do grep -q "^ready" "$work/demo.log" && break; sleep 0.5; done
grep -q "^ready" "$work/demo.log" || { cat "$work/demo.log"; exit 1; }

tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1; }
run() { # name host port user db
  pgbench -i -s 1 -q -h 127.0.0.1 -p "$2" -U "$3" "$4" >/dev/null 2>&1
  s=$(pgbench -S -c "$C" -j 2 -T "$T" -h 127.0.0.1 -p "$2" -U "$3" "$4" 2>&1 | tps)
  b=$(pgbench -c "$C" -j 2 -T "$T" -h 127.0.0.1 -p "$2" -U "$3" "$4" 2>&1 | tps)
  echo "$1 $s $b"
}
pgres=$(run postgres $PGPORT $PGUSER postgres)
mres=$(run meridian $MPORT meridian meridian)
read -r _ ps pb <<<"$pgres"
read -r _ ms mb <<<"$mres"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%Y-%m-%d)"
echo "pgbench -s 1, $C clients, -j 2, ${T}s per run, through one coordinator"
echo
echo "| workload | PostgreSQL 15 TPS | Meridian (om demo) TPS | Meridian / PostgreSQL |"
echo "|---|---|---|---|"
awk -v a="$ps" -v b="$ms" 'BEGIN{printf "| pgbench -S (select only) | %.0f | %.0f | %.0f%% |\n", a, b, 100*b/a}'
awk -v a="$pb" -v b="$mb" 'BEGIN{printf "| pgbench default (TPC-B) | %.0f | %.0f | %.0f%% |\n", a, b, 100*b/a}'
