#!/usr/bin/env bash
# Build the libFuzzer harnesses (fuzz/) with clang + ASan + UBSan into build-fuzz/ and run each
# for a while, one after the other, under nice. Prints executions and crashes per harness and
# exits non-zero when any harness crashed (or leaked, hung, ran out of memory, did not run).
#   scripts/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS ...]
#     SECONDS_PER_HARNESS  default 3600 (the documented long run: docs/reliability.md, "Fuzzing")
#     HARNESS              experiment cfg_set json checkpoint idx mo png cli (default: all)
#   MVAE_FUZZ_JOBS=N       build parallelism (default: nproc)
#   MVAE_FUZZ_RUNS=N       also stop a harness after N executions (e.g. 10000000)
# Artifacts (a crashing input, with the command that reproduces it) land in build-fuzz/crashes/;
# the corpus each harness grows is kept in build-fuzz/corpus/<harness>/ for the next run; the
# summary table also goes to build-fuzz/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=${1:-3600}
shift || true
ALL=(experiment cfg_set json checkpoint idx mo png cli)
if [ $# -gt 0 ]; then HARNESSES=("$@"); else HARNESSES=("${ALL[@]}"); fi
case "$SECONDS_PER" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS ...]" >&2; exit 2 ;; esac

# clang with the fuzzer runtime, and what mvae itself builds against (scripts/deps.sh's list)
source scripts/deps.sh --functions-only
mvae_install_missing clang libclang-rt-dev "${MVAE_PKGS[@]}"

BUILD=build-fuzz
CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMVAE_FUZZ=ON -DMVAE_BUILD_TESTS=OFF \
  > "$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; exit 1; }
rm -f "$BUILD.configure.log"
cmake --build "$BUILD" --target fuzz_all -j "${MVAE_FUZZ_JOBS:-$(nproc)}" > "$BUILD.build.log" 2>&1 ||
  { tail -50 "$BUILD.build.log"; exit 1; }
rm -f "$BUILD.build.log"

# The harnesses write their inputs to files: keep those in memory (/dev/shm) when it is there —
# on a disk-backed /tmp the file harnesses run ~100x slower.
if [ -z "${MVAE_FUZZ_TMP:-}" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then MVAE_FUZZ_TMP=/dev/shm; else MVAE_FUZZ_TMP=${TMPDIR:-/tmp}; fi
fi
SCRATCH=$(mktemp -d "$MVAE_FUZZ_TMP/mvae-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$BUILD/crashes" "$BUILD/logs"

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
SUMMARY="$BUILD/fuzz-summary.txt"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  cpu: ${CPU:-unknown} ($(uname -m))  $(clang --version | head -1)"
  echo "command: ${MVAE_FUZZ_RUNS:+MVAE_FUZZ_RUNS=$MVAE_FUZZ_RUNS }scripts/fuzz.sh $SECONDS_PER ${HARNESSES[*]}"
  printf '%-11s %12s %8s %10s %8s  %s\n' harness executions seconds exec/s crashes result
} > "$SUMMARY"
cat "$SUMMARY"

failed=0
for h in "${HARNESSES[@]}"; do
  exe="$BUILD/fuzz/fuzz_$h"
  [ -x "$exe" ] || { echo "fuzz: no harness '$h' (have: ${ALL[*]})" >&2; failed=1; continue; }
  corpus="$BUILD/corpus/$h"
  mkdir -p "$corpus" "$SCRATCH/$h"
  args=("-max_total_time=$SECONDS_PER" -timeout=30 -rss_limit_mb=2048 -close_fd_mask=3
        -print_final_stats=1 -error_exitcode=77 -timeout_exitcode=77 "-artifact_prefix=$BUILD/crashes/$h-")
  [ -f "fuzz/dict/$h.dict" ] && args+=("-dict=fuzz/dict/$h.dict")
  [ -n "${MVAE_FUZZ_RUNS:-}" ] && args+=("-runs=$MVAE_FUZZ_RUNS")
  log="$BUILD/logs/$h.log"
  start=$(date +%s)
  rc=0
  # the library's plugin search and caches stay inside the build tree and the scratch directory
  env -u MVAE_PLUGIN_PATH TMPDIR="$SCRATCH/$h" MVAE_CACHE_DIR="$SCRATCH/$h/cache" \
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    nice -n 19 "$exe" "${args[@]}" "$corpus" "fuzz/corpus/$h" > "$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  crashes=0
  result=ok
  if [ "$rc" -ne 0 ] || [ "$execs" -eq 0 ]; then
    crashes=1
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result="FAILED (exit $rc): ${artifact:-no artifact}; log $log; reproduce: $exe ${artifact:-INPUT}"
  fi
  rate=$(( secs > 0 ? execs / secs : execs ))
  printf '%-11s %12s %8s %10s %8s  %s\n' "$h" "$execs" "$secs" "$rate" "$crashes" "$result" | tee -a "$SUMMARY"
  if [ "$crashes" -ne 0 ]; then grep -m1 -A25 -E '^==[0-9]+==ERROR|runtime error|^==[0-9]+== ERROR' "$log" || tail -30 "$log"; fi
done
exit "$failed"
