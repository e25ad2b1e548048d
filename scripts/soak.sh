#!/usr/bin/env bash
# Sustained mixed load (signing, JWKS, verify, audit queries, rotations) against the real binary,
# with a bounded-RSS check after warm-up. Not part of ctest by default (a 30 s variant is:
# security_soak_short).
#   scripts/soak.sh [minutes]          # default 5
#   KEYMGR_SOAK_BUILD=build-release scripts/soak.sh 10
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=${1:-5}
BUILD=${KEYMGR_SOAK_BUILD:-$ROOT/build-sec}
if [ ! -x "$BUILD/cli/keymgr" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j2 --target keymgr
fi
exec /usr/bin/python3 "$ROOT/tests/security/soak.py" "$BUILD/cli/keymgr" "$ROOT" --seconds "$((MINUTES * 60))"
