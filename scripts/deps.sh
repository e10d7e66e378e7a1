#!/usr/bin/env bash
# Install what mvae needs from Debian's packages (only the missing ones), then configure and
# build into the given build directory. Sourced by quickstart.sh and test.sh.
#   deps.sh BUILD_DIR [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config libopenblas-dev libyaml-dev libcmocka-dev zlib1g-dev
      libpng-dev dataset-fashion-mnist libfreetype-dev libharfbuzz-dev fonts-noto-color-emoji unicode-data
      libespeak-ng-dev espeak-ng-data fonts-knda fonts-noto-core fonts-farsiweb fonts-freefarsi fonts-sil-lateef fonts-sil-scheherazade fonts-sil-harmattan fonts-hosny-amiri fonts-hosny-thabit fonts-lemonada fonts-kacst-one fonts-paktype fonts-ukij-uyghur fonts-freefont-ttf fonts-dejavu-core)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "mvae: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD=${1:-build}
shift || true
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@" > "$BUILD.configure.log" 2>&1 || {
  cat "$BUILD.configure.log"; exit 1; }
rm -f "$BUILD.configure.log"
cmake --build "$BUILD" -j "$(nproc)"
