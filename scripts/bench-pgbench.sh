#!/usr/bin/env bash
# Runs pgbench against `om demo` (3 datanodes, 2 coordinators; through one
# coordinator) and against PostgreSQL 15 on the same machine, in one run, and
# prints a Markdown table for docs/benchmarks.md.
#
#   scripts/bench-pgbench.sh [seconds per run (default 30)] [clients (default 4)] [rounds (default 3)]
#
# Each round runs each workload on PostgreSQL, then on Meridian, so that
# both see the same load from other tenants; the table lists every round
# and the median of the rounds' ratios.
#
# Needs Debian's postgresql-15 (pgbench, initdb, pg_ctl); run as root (the
# PostgreSQL server runs as the postgres user) or as a user that may run initdb.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-30}
C=${2:-4}
ROUNDS=${3:-3}
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
bench() { # port user db [pgbench args]
  local port=$1 user=$2 db=$3; shift 3
  pgbench "$@" -c "$C" -j 2 -T "$T" -h 127.0.0.1 -p "$port" -U "$user" "$db" 2>&1 | tps
}
pgbench -i -s 1 -q -h 127.0.0.1 -p $PGPORT -U $PGUSER postgres >/dev/null 2>&1
pgbench -i -s 1 -q -h 127.0.0.1 -p $MPORT -U meridian meridian >/dev/null 2>&1
rows=()
for r in $(seq "$ROUNDS"); do
  for w in S B; do
    args=(); name="pgbench default (TPC-B)"
    if [ $w = S ]; then args=(-S); name="pgbench -S (select only)"; fi
    p=$(bench $PGPORT $PGUSER postgres "${args[@]}")
    m=$(bench $MPORT meridian meridian "${args[@]}")
    rows+=("$w|$name|$r|$p|$m")
  done
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%Y-%m-%d)"
echo "pgbench -s 1, $C clients, -j 2, ${T}s per run, through one coordinator; $ROUNDS rounds, PostgreSQL then Meridian in each"
echo
echo "| workload | round | PostgreSQL 15 TPS | Meridian (om demo) TPS | Meridian / PostgreSQL |"
echo "|---|---|---|---|---|"
for w in S B; do
  ratios=()
  wname=
  for row in "${rows[@]}"; do
    IFS='|' read -r rw name r p m <<<"$row"
    [ "$rw" = $w ] || continue
    wname=$name
    awk -v n="$name" -v r="$r" -v a="$p" -v b="$m" 'BEGIN{printf "| %s | %s | %.0f | %.0f | %.0f%% |\n", n, r, a, b, 100*b/a}'
    ratios+=("$(awk -v a="$p" -v b="$m" 'BEGIN{printf "%.4f", b/a}')")
  done
  med=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}')
  awk -v n="$wname" -v m="$med" 'BEGIN{printf "| %s | median | | | %.0f%% |\n", n, 100*m}'
done
