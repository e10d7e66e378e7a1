#!/usr/bin/env bash
# Install what is missing, build, and run every test.
#   scripts/test.sh              Release build in build/, all tests
#   scripts/test.sh --sanitize   AddressSanitizer + UBSan build in build-asan/, all tests
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/deps.sh build-asan -DMVAE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  cd build-asan
  # dlopen'd plugins are never unloaded by ASan's leak checker's view; keep leak checks on
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$(nproc)"
else
  bash scripts/deps.sh build
  cd build
  ctest --output-on-failure -j "$(nproc)"
fi
