#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test with CTest.
# Usage: scripts/test.sh [ctest arguments, e.g. -R service_binaries]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build_dir="${VMLE_BUILD_DIR:-build}"
# Each test process uses the threads it asks for; keep BLAS from oversubscribing.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
ctest --test-dir "$build_dir" --output-on-failure -j "${VMLE_TEST_JOBS:-2}" "$@"
