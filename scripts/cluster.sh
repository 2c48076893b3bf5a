#!/usr/bin/env bash
# A local multi-process VirtualMLE cluster on loopback: memory, agent, N workers.
#
#   scripts/cluster.sh up [--workers N] [--data_root DIR]   start (ports picked free)
#   scripts/cluster.sh status                              health of every process
#   scripts/cluster.sh down                                SIGTERM all, wait, clean up
#
# State (logs, ready files, pids, the RocksDB directory) lives in $VMLE_STATE_DIR
# (default .vmle/cluster). Binaries come from $VMLE_BUILD_DIR (default build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${VMLE_BUILD_DIR:-$root/build}"
state="${VMLE_STATE_DIR:-$root/.vmle/cluster}"

port_of() {  # port_of FILE KEY
  sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
}

wait_ready() {  # wait_ready NAME
  for _ in $(seq 1 300); do
    [ -s "$state/$1.ready" ] && return 0
    if ! kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; then
      echo "cluster: $1 exited during startup; its log:" >&2
      tail -20 "$state/$1.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "cluster: $1 not ready after 30 s (see $state/$1.log)" >&2
  return 1
}

start() {  # start NAME BINARY ARGS...
  local name="$1" bin="$2"; shift 2
  [ -x "$bin" ] || { echo "cluster: $bin is missing; run scripts/build.sh" >&2; exit 1; }
  rm -f "$state/$name.ready"
  "$bin" --listen=127.0.0.1:0 --metrics=127.0.0.1:0 --ready_file="$state/$name.ready" "$@" \
    >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
  wait_ready "$name"
  echo "cluster: $name grpc=127.0.0.1:$(port_of "$state/$name.ready" grpc_port)" \
       "metrics=127.0.0.1:$(port_of "$state/$name.ready" metrics_port)"
}

up() {
  local workers=1 data_root="$root/../shared/data"
  while [ $# -gt 0 ]; do
    case "$1" in
      --workers) workers="$2"; shift 2 ;;
      --data_root) data_root="$2"; shift 2 ;;
      *) echo "cluster: unknown option '$1'" >&2; exit 2 ;;
    esac
  done
  if ls "$state"/*.pid >/dev/null 2>&1; then
    echo "cluster: already up in $state (scripts/cluster.sh down first)" >&2
    exit 1
  fi
  mkdir -p "$state"
  trap 'down' ERR
  start memory "$build/services/memory/vmle-memory" --db="$state/db"
  local memory_port agent_port
  memory_port=$(port_of "$state/memory.ready" grpc_port)
  start agent "$build/services/agent/vmle-agent" --memory="127.0.0.1:$memory_port"
  agent_port=$(port_of "$state/agent.ready" grpc_port)
  for i in $(seq 1 "$workers"); do
    start "worker-$i" "$build/services/trainer/worker/vmle-worker" \
      --agent="127.0.0.1:$agent_port" --data_root="$data_root"
  done
  trap - ERR
}

targets() {
  for f in "$state"/*.ready; do
    [ -f "$f" ] && echo "127.0.0.1:$(port_of "$f" grpc_port)"
  done
}

status() {
  local t
  t=$(targets)
  [ -n "$t" ] || { echo "cluster: not running"; return 1; }
  # shellcheck disable=SC2086
  "$build/services/cli/vmle" health $t
}

down() {
  local pid
  for f in "$state"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$state"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  rm -f "$state"/*.ready
  echo "cluster: down"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  up) up "$@" ;;
  status) status ;;
  down) down ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
