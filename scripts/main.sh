#!/usr/bin/env bash
# The main job. Until the tuning loop lands (`vmle tune`), it installs, builds, starts
# a local cluster (memory, agent, two workers), prints every process's health and
# /metrics endpoint, and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
export VMLE_STATE_DIR="${VMLE_STATE_DIR:-$(pwd)/.vmle/main}"
scripts/cluster.sh down >/dev/null 2>&1 || true
trap 'scripts/cluster.sh down' EXIT
scripts/cluster.sh up --workers 2
scripts/cluster.sh status
