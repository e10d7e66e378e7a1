#!/usr/bin/env bash
# ARM64 NEON GEMM kernels: cross-compile tests/neon/test_gemm_neon.c with the NEON and portable
# kernel files for AArch64 (Debian's gcc-aarch64-linux-gnu, static) and run it under qemu-aarch64
# (qemu-user). Correctness only: an emulator says nothing about speed.
#   scripts/neon.sh            build into build-neon/ (or $NEON_OUT) and run; exit 0 = every case passed
#   scripts/neon.sh --install  first install the cross compiler and qemu (deps.sh's "neon" group)
# Without the tools it says how to get them and exits 77 (the usual "skipped" status).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--install" ]; then
  source scripts/deps.sh --functions-only
  mvae_install_missing "${MVAE_PKGS_NEON[@]}"
fi
CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
for tool in "$CC" "$QEMU"; do
  if ! command -v "$tool" >/dev/null; then
    echo "neon.sh: $tool not found: run scripts/neon.sh --install (Debian packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user)" >&2
    exit 77
  fi
done
OUT=${NEON_OUT:-build-neon} # the CTest neon_qemu builds into its own build tree
mkdir -p "$OUT"
"$CC" -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-unused-parameter -march=armv8-a -static \
  -Icore/src -Icore/include tests/neon/test_gemm_neon.c core/src/gemm_neon.c core/src/gemm_generic.c \
  -lm -o "$OUT/test_gemm_neon"
file "$OUT/test_gemm_neon" | sed 's/,.*//'
"$QEMU" "$OUT/test_gemm_neon"
