#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, -DKEYMGR_FUZZ=ON: ASan+UBSan+coverage) and
# runs each for a bounded time from the committed seed corpus (tests/fuzz/corpus/<target>/).
#   scripts/fuzz.sh              # 20 s per target
#   scripts/fuzz.sh 300          # longer
#   KEYMGR_FUZZ_TARGETS="verify jwk" scripts/fuzz.sh 60
# New coverage is kept in build-fuzz/corpus/<target>/ (not committed; copy good finds by hand).
# A crash or a broken property exits nonzero; the input is saved as
# build-fuzz/artifacts/<target>/crash-*: fix the bug, then add the input to
# tests/fuzz/regressions/<target>/ (replayed by fuzz_regression_test in every CI pass).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-20}
DIR=${KEYMGR_FUZZ_DIR:-$ROOT/build-fuzz}
JOBS=${KEYMGR_FUZZ_JOBS:-2}
TARGETS=${KEYMGR_FUZZ_TARGETS:-"json claims verify base64url jwk policy config auth http mainhttp alerts note checkpoint tlogproof ledgerenc dburl"}

echo "==> [fuzz] configure + build (clang, $DIR)"
cmake -S "$ROOT" -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKEYMGR_FUZZ=ON >/dev/null || exit 2
targets=()
for t in $TARGETS; do targets+=("fuzz_$t"); done
cmake --build "$DIR" -j"$JOBS" --target "${targets[@]}" || exit 2

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/support/lsan.supp}
failed=()
summary=()
for t in $TARGETS; do
  work="$DIR/corpus/$t"
  art="$DIR/artifacts/$t"
  mkdir -p "$work" "$art"
  log="$DIR/fuzz-$t.log"
  echo "==> [fuzz] $t for ${SECS}s"
  "$DIR/tests/fuzz/fuzz_$t" -max_total_time="$SECS" -max_len=20000 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "$work" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  summary+=("$(printf '%-10s %10s execs  %-10s exit %s' "$t" "${execs:-?}" "${cov:-}" "$rc")")
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "!! $t failed (exit $rc); crashing input(s):"
    ls -1 "$art"/ 2>/dev/null | sed "s|^|   $art/|"
    grep -m5 -E 'ERROR: |runtime error|fuzz property violated' "$log" | sed 's/^/   /'
  fi
done
echo "==> [fuzz] summary (${SECS}s per target)"
printf '   %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "==> [fuzz] FAILED: ${failed[*]} (logs: $DIR/fuzz-<target>.log)"
  exit 1
fi
echo "==> [fuzz] no crashes"
