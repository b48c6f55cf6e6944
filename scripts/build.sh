#!/usr/bin/env bash
# Configures (once) and builds haplane into build/. Warnings are errors.
#   scripts/build.sh              everything (programs and tests)
#   scripts/build.sh TARGET...    only those ninja targets
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build --werror >/dev/null
fi
ninja -C build -j"$(nproc)" "$@" >/dev/null || ninja -C build -j1 "$@"
