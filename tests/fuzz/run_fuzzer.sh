#!/usr/bin/env bash
# Runs one fuzzer for SECONDS on its seed (and regression) inputs; new inputs go to
# a working corpus next to the fuzzer, never into the source tree. A crash fails
# with the input saved beside the working corpus (reproduce: FUZZER CRASH_FILE).
# Usage: tests/fuzz/run_fuzzer.sh FUZZER SECONDS INPUT_DIR... [-libfuzzer_flag=value...]
set -euo pipefail
fuzzer="$1" seconds="$2"
shift 2
dirs=() flags=()
for arg in "$@"; do
  case "$arg" in
    -*) flags+=("$arg") ;;
    *) dirs+=("$arg") ;;
  esac
done
work="$(dirname "$fuzzer")/$(basename "$fuzzer").corpus"
mkdir -p "$work"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$work/../$(basename "$fuzzer")-" ${flags[@]+"${flags[@]}"} \
  "$work" "${dirs[@]}"
