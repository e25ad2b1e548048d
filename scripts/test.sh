#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a -Werror build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh           # both passes
#   KEYMGR_TEST_PASSES=plain scripts/test.sh   # only the plain pass (asan: only the sanitizer pass)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PASSES=${KEYMGR_TEST_PASSES:-"plain asan"}
JOBS=${KEYMGR_TEST_JOBS:-$(nproc)}

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/install-interop.sh"

run_pass() {
  local name=$1; shift
  local dir="$ROOT/build-test-$name"
  echo "==> [$name] configure + build"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DKEYMGR_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  echo "==> [$name] ctest"
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 600)
}

for p in $PASSES; do
  case $p in
    plain) run_pass plain -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    asan)
      export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
      export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
      export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/support/lsan.supp}
      run_pass asan -DCMAKE_BUILD_TYPE=Debug -DKEYMGR_SANITIZE=ON ;;
    *) echo "unknown pass $p" >&2; exit 2 ;;
  esac
done
echo "==> all test passes green: $PASSES"
