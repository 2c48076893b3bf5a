#!/usr/bin/env bash
# Installs dependencies (quick when present), configures and builds VirtualMLE.
# Usage: scripts/build.sh [extra cmake -D options]
# Environment: VMLE_BUILD_DIR (default build), VMLE_JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/scripts/install-deps.sh" ${VMLE_DEPS_ARGS:-}
build_dir="${VMLE_BUILD_DIR:-build}"
jobs="${VMLE_JOBS:-$(nproc)}"
if [ ! -f "$build_dir/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
cmake --build "$build_dir" -j "$jobs"
