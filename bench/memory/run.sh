#!/usr/bin/env bash
# Load test of vmle-memory on loopback: starts vmle-memory on a free port with a fresh
# database in a temporary directory, runs vmle-bench-memory against it, prints its
# table (throughput and p50/p99 latency of writes and reads), and stops the server.
#
#   bench/memory/run.sh                          # 8 clients, phases of up to 10 s
#   bench/memory/run.sh --clients 32 --seconds 30
#   VMLE_SYNC_WRITES=false bench/memory/run.sh   # the server without WAL fsync
#
# Arguments go to vmle-bench-memory (--clients, --seconds, --max_ops, --epochs).
# VMLE_BUILD_DIR picks the build (default: build/); VMLE_BENCH_DIR where the database
# goes (default: a temporary directory, removed afterwards).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${VMLE_BUILD_DIR:-$root/build}"
server="$build/services/memory/vmle-memory"
generator="$build/bench/memory/vmle-bench-memory"
for binary in "$server" "$generator"; do
  if [[ ! -x "$binary" ]]; then
    echo "run.sh: $binary is missing; build first: cmake --build $build --target vmle-memory vmle-bench-memory" >&2
    exit 1
  fi
done

work="$(mktemp -d "${VMLE_BENCH_DIR:-${TMPDIR:-/tmp}}/vmle-bench-memory.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$server" --listen=127.0.0.1:0 --metrics=off --db="$work/db" \
  --ready_file="$work/ready.json" --log_level=warn >"$work/memory.log" 2>&1 &
server_pid=$!

port=""
for _ in $(seq 1 300); do
  if [[ -s "$work/ready.json" ]]; then
    port="$(sed -n 's/.*"grpc_port":\([0-9]*\).*/\1/p' "$work/ready.json")"
    [[ -n "$port" ]] && break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: vmle-memory exited at startup:" >&2
    cat "$work/memory.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$port" ]]; then
  echo "run.sh: vmle-memory did not become ready in 30 s" >&2
  cat "$work/memory.log" >&2
  exit 1
fi

echo "vmle-memory pid $server_pid on 127.0.0.1:$port, sync_writes=${VMLE_SYNC_WRITES:-true}, db $work/db"
status=0
"$generator" --target="127.0.0.1:$port" "$@" || status=$?

kill -TERM "$server_pid"
wait "$server_pid" || status=$?
server_pid=""
exit "$status"
