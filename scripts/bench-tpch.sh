#!/usr/bin/env bash
# TPC-H on `om demo` (3 datanodes, 2 coordinators; queries through one
# coordinator) next to PostgreSQL 15 on the same machine, in one run, and
# prints a Markdown table for docs/benchmarks.md.
#
#   scripts/bench-tpch.sh [scale factor (default 1)] [timed runs per query (default 1)]
#
# `om tpch bench` does the work: it starts a throwaway PostgreSQL 15
# (Debian's postgresql-15, default settings, locale C.UTF-8), loads the same
# generated data into both through COPY (Meridian first, then PostgreSQL;
# then CREATE INDEX and ANALYZE), and runs the 22 queries query by query:
# one untimed warm-up run on each server, then the timed runs; the fastest
# timed run is reported. Each query has a 30-minute statement_timeout.
# Run as root (PostgreSQL then runs as the user postgres) or as a user that
# may run initdb.
set -euo pipefail
cd "$(dirname "$0")/.."
SF=${1:-1}
REPEAT=${2:-1}
work=$(mktemp -d /tmp/meridian-tpch.XXXXXX)
cleanup() {
  [ -n "${demo_pid:-}" ] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/om" ./om
mkdir -p "$work/bin"
for b in gtm cm datanode coordinator; do go build -o "$work/bin/$b" "./$b"; done

# Free ports (base port 0), so that other clusters on the machine do not
# matter. Each node is a process of its own, so that each datanode's peak
# memory can be read. Each datanode's block cache holds its third of SF 1
# (MERIDIAN_CACHE_MB, default 1024), as PostgreSQL's data fits in the OS
# page cache: with a small cache every random read of an index join copies
# and decompresses a block from the page cache (Q5 and Q21 ran 3-4x slower
# with 64 MB).
# The datanodes' Go heap (query operators; the block cache is apart) is
# bounded by GOMEMLIMIT (MERIDIAN_GOMEMLIMIT, default 320MiB; see
# docs/operations.md).
GOMEMLIMIT=${MERIDIAN_GOMEMLIMIT:-320MiB} \
  "$work/om" demo --dir "$work/demo" --base-port 0 --pg-port 0 --bin-dir "$work/bin" --cache-mb "${MERIDIAN_CACHE_MB:-1024}" > "$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 120); do grep -q "^ready" "$work/demo.log" && break; sleep 0.5; done
grep -q "^ready" "$work/demo.log" || { cat "$work/demo.log"; exit 1; }
MPORT=$(sed -n 's/^ *psql -h 127.0.0.1 -p \([0-9]*\) .*/\1/p' "$work/demo.log" | head -1)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%Y-%m-%d)"
status=0
# Each datanode's peak resident memory per query, and its growth during the
# query, are columns of the table.
dn_pids=$(pgrep -d, -f "$work/bin/datanode")
"$work/om" tpch bench --url "postgres://meridian@127.0.0.1:$MPORT/meridian?sslmode=disable" \
  --sf "$SF" --warmup 1 --repeat "$REPEAT" --timeout 30m --peak-rss-pids "$dn_pids" || status=$?
# The table's last columns hold each datanode's peak resident memory per
# query (reset before each query, so the load's peak is not in it) and the
# total row the highest of them.
exit $status
