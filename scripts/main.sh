#!/usr/bin/env bash
# The main job: installs, builds, then tunes SASRec on LastFM with `vmle tune` — the
# memory service, the agent and two trainer-workers in one process — and prints the
# live progress and the report. Without ../shared/data/LastFM.txt it tunes on the
# built-in synthetic dataset. Extra arguments go to `vmle tune` (e.g. --trials 16).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
data="../shared/data/LastFM.txt"
args=(--trials 8 --parallel 2 --threads 1 --state_dir "${VMLE_STATE_DIR:-.vmle/main}")
if [ -f "$data" ]; then
  args+=(--data "$data")
else
  echo "main: $data not found; tuning on the built-in synthetic dataset"
fi
exec build/services/cli/vmle tune "${args[@]}" "$@"
