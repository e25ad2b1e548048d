#!/bin/bash
# Signing throughput of keymgr's HSM layer vs raw PKCS#11 (p11bench.c) on SoftHSM2, same run.
# Builds Release into $BUILD (default build-hsm-release), fresh token directories per tool.
# Env: DUR (seconds per cell, default 1.5), RUNS (default 1), P11BENCH (path to p11bench.c),
#      SRC (CMake source dir, default the repo root).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-$ROOT}
BUILD=${BUILD:-$ROOT/build-hsm-release}
DUR=${DUR:-1.5}
RUNS=${RUNS:-1}
P11BENCH=${P11BENCH:-/work/shared/perf-baseline/p11bench.c}
WORK=$(mktemp -d /tmp/km-hsm-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKEYMGR_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target hsm_sign_bench >/dev/null
HAVE_RAW=0
if [ -f "$P11BENCH" ] && gcc -O2 -Wall -I/usr/include/p11-kit-1 -o "$WORK/p11bench" "$P11BENCH" -ldl -lpthread; then
  HAVE_RAW=1
fi

new_conf() {  # $1 = dir
  mkdir -p "$1/tokens"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$1" > "$1/softhsm2.conf"
  echo "$1/softhsm2.conf"
}

for run in $(seq 1 "$RUNS"); do
  C=$(new_conf "$WORK/km$run")
  SOFTHSM2_CONF=$C softhsm2-util --init-token --free --label kmbench --pin 123456 --so-pin 12345678 >/dev/null
  SOFTHSM2_CONF=$C KM_BENCH_PIN=123456 "$BUILD/hsm/hsm_sign_bench" kmbench "$DUR"
  if [ "$HAVE_RAW" = 1 ]; then
    C=$(new_conf "$WORK/raw$run")
    SOFTHSM2_CONF=$C timeout 300 "$WORK/p11bench" -d "$DUR" -t 2 -f /token/init+sign/ | grep -E '^RESULT' | sed 's/^RESULT /RESULT layer=raw-p11bench /'
  fi
done
