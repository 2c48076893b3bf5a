#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan into OUT_DIR
# (default build-fuzz). Only the fuzzers and what they link are compiled.
# Usage: tests/fuzz/build_fuzzers.sh [OUT_DIR]   (VMLE_JOBS: parallel jobs, default: cores)
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$src/build-fuzz}"
sanitizers="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
if [ ! -f "$out/build.ninja" ]; then
  cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DVMLE_FUZZ=ON -DVMLE_WERROR=OFF \
    -DCMAKE_C_FLAGS="$sanitizers" -DCMAKE_CXX_FLAGS="$sanitizers" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
nice -n 19 cmake --build "$out" --target vmle_fuzzers -j "${VMLE_JOBS:-$(nproc)}"
