#!/usr/bin/env bash
# Install what mvae needs from Debian's packages (only the missing ones), then configure and
# build into the given build directory. Run by quickstart.sh and test.sh.
#   deps.sh BUILD_DIR [extra cmake args...]
#   source scripts/deps.sh --functions-only     (scripts/fuzz.sh: the package list and installer)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The Debian packages mvae builds against and its data sets (scripts/fuzz.sh adds clang); Open MPI
# (openmpi-bin, libopenmpi-dev) for data-parallel training: the build works without it.
MVAE_PKGS=(build-essential cmake pkg-config libopenblas-dev libyaml-dev libcmocka-dev zlib1g-dev openmpi-bin libopenmpi-dev
      libpng-dev python3-numpy python3-pytest dataset-fashion-mnist libfreetype-dev libharfbuzz-dev fonts-noto-color-emoji unicode-data
      libespeak-ng-dev espeak-ng-data fonts-knda fonts-noto-core fonts-farsiweb fonts-freefarsi fonts-sil-lateef fonts-sil-scheherazade fonts-sil-harmattan fonts-hosny-amiri fonts-hosny-thabit fonts-lemonada fonts-kacst-one fonts-paktype fonts-ukij-uyghur fonts-freefont-ttf fonts-dejavu-core)

# For tests only: headless Chromium renders the HTML report (test_report_browser; skipped without it).
MVAE_TEST_PKGS=(chromium)

# Optional groups, installed when named in MVAE_DEPS_OPTIONAL (e.g. MVAE_DEPS_OPTIONAL="neon blis"):
# neon: the AArch64 cross compiler and qemu-user for scripts/neon.sh (the CTest neon_qemu skips
# without them); blis: BLIS, which bench/bench_gemm measures beside OpenBLAS (dlopen'd when present);
# peer: PyTorch for the peer /work/shared/bench/peer_mvae.py that bench/compare.sh and quality.sh run;
# libs: SLEEF and libxsmm, which bench/bench_libs measures against mvae's exp/log and GEMM.
MVAE_PKGS_NEON=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
MVAE_PKGS_BLIS=(libblis-dev)
MVAE_PKGS_PEER=(python3-torch)
MVAE_PKGS_LIBS=(libsleef-dev libxsmm-dev)

# Install those of the given packages that are missing (apt-get, through sudo when not root).
mvae_install_missing() {
  local missing=() p SUDO=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "mvae: installing Debian packages: ${missing[*]}"
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
# `source scripts/deps.sh --functions-only`: the list and the function, nothing installed or built
[ "${1:-}" = "--functions-only" ] && return 0

mvae_install_missing "${MVAE_PKGS[@]}"
mvae_install_missing "${MVAE_TEST_PKGS[@]}" || echo "mvae: could not install ${MVAE_TEST_PKGS[*]}: the browser test will be skipped"
for group in ${MVAE_DEPS_OPTIONAL:-}; do
  case "$group" in
    neon) mvae_install_missing "${MVAE_PKGS_NEON[@]}" ;;
    blis) mvae_install_missing "${MVAE_PKGS_BLIS[@]}" ;;
    peer) mvae_install_missing "${MVAE_PKGS_PEER[@]}" ;;
    libs) mvae_install_missing "${MVAE_PKGS_LIBS[@]}" ;;
    *) echo "deps.sh: unknown optional group '$group' in MVAE_DEPS_OPTIONAL (neon, blis, peer, libs)" >&2; exit 2 ;;
  esac
done

BUILD=${1:-build}
shift || true
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@" > "$BUILD.configure.log" 2>&1 || {
  cat "$BUILD.configure.log"; exit 1; }
rm -f "$BUILD.configure.log"
cmake --build "$BUILD" -j "$(nproc)"
