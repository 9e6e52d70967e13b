#!/usr/bin/env bash
# Concurrent TPC-H Q18s against a datanode query memory (--query-mem): starts
# `om demo` with each datanode as a process on a data directory that already
# holds TPC-H data (loaded by `om tpch load`, e.g. into an `om demo --dir`),
# warms the cache with one pass of the 22 queries, resets each datanode's
# peak resident memory, runs N copies of Q18 at once through one coordinator,
# and prints the wall time, the rows each returned, each datanode's peak
# resident memory (VmHWM) and query memory peak. Linux; run it as a user
# that may write /proc/PID/clear_refs of the datanodes (their owner).
#
#   scripts/bench-query-mem.sh DATA_DIR QUERY_MEM_MB [N (default 4)] [CACHE_MB (default 1024)]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1 qmem=$2 n=${3:-4} cache=${4:-1024}
work=$(mktemp -d /tmp/meridian-qmem.XXXXXX)
cleanup() {
  [ -n "${demo_pid:-}" ] && kill -INT "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/om" ./om
mkdir -p "$work/bin"
for b in gtm cm datanode coordinator; do go build -o "$work/bin/$b" "./$b"; done
"$work/om" demo --dir "$dir" --base-port 25400 --pg-port 25432 --cache-mb "$cache" --query-mem-mb "$qmem" \
  --bin-dir "$work/bin" > "$work/demo.log" 2>&1 &
demo_pid=$!
for _ in $(seq 120); do grep -q "Ctrl-C" "$work/demo.log" && break; sleep 0.5; done
url=postgres://meridian@127.0.0.1:25432/meridian
"$work/om" tpch run --url "$url" > /dev/null
"$work/om" tpch sql 18 > "$work/q18.sql"
pids=$(pgrep -f "$work/bin/datanode")
for p in $pids; do echo 5 > "/proc/$p/clear_refs"; done
t0=$(date +%s.%N)
for i in $(seq "$n"); do
  psql -X -At -h 127.0.0.1 -p 25432 -U meridian meridian -f "$work/q18.sql" > "$work/out.$i" 2>&1 &
done
wait $(jobs -p | grep -v "^$demo_pid$") 2>/dev/null || true
t1=$(date +%s.%N)
echo "--query-mem ${qmem} MiB, $n x Q18: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
for i in $(seq "$n"); do echo "  query $i: $(grep -c . "$work/out.$i") rows, $(grep -c ERROR "$work/out.$i" || true) errors"; done
for p in $pids; do echo "  datanode pid $p: peak RSS $(awk '/VmHWM/{print int($2/1024)}' "/proc/$p/status") MB"; done
for port in 25602 25603 25604; do
  echo "  datanode http $port: query memory peak $(curl -s "http://127.0.0.1:$port/metrics" | awk '/^meridian_dn_query_memory_peak_bytes/{printf "%d", $2/1048576}') MB"
done
