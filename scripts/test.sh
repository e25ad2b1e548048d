#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: a -Werror build, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, the concurrency tests under ThreadSanitizer, and
# every libFuzzer target for a bounded time from its committed corpus. One throwaway PostgreSQL
# cluster (scripts/pg.sh) serves the whole run: the PostgreSQL tests are required, never skipped.
#   scripts/test.sh                                  # all passes: plain asan tsan fuzz
#   KEYMGR_TEST_PASSES="plain asan" scripts/test.sh  # a subset
#   KEYMGR_FUZZ_SECONDS=60 scripts/test.sh           # longer fuzzing (default 10 s per target)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PASSES=${KEYMGR_TEST_PASSES:-"plain asan tsan fuzz"}
JOBS=${KEYMGR_TEST_JOBS:-$(nproc)}

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/install-interop.sh"
"$ROOT/scripts/install-browser.sh"

# The PostgreSQL cluster of this run, stopped and removed on any exit.
PGDIR=$(mktemp -d /tmp/km-pg-XXXXXX)
trap '"$ROOT/scripts/pg.sh" stop "$PGDIR"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
KEYMGR_TEST_PG_URL=$("$ROOT/scripts/pg.sh" start "$PGDIR") || {
  echo "test.sh: PostgreSQL did not start (see above): the PostgreSQL tests cannot run" >&2
  exit 1
}
export KEYMGR_TEST_PG_URL
export KEYMGR_TEST_REQUIRE_PG=1
echo "==> PostgreSQL test cluster: $KEYMGR_TEST_PG_URL"

# run_pass NAME CTEST_EXCLUDE CMAKE_ARGS...: CTEST_EXCLUDE ("" for none) is a ctest -E regex.
run_pass() {
  local name=$1 exclude=$2; shift 2
  local dir="$ROOT/build-test-$name"
  echo "==> [$name] configure + build"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DKEYMGR_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  echo "==> [$name] ctest${exclude:+ (not: $exclude)}"
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 600 ${exclude:+-E "$exclude"})
}

for p in $PASSES; do
  case $p in
    plain) run_pass plain "" -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
    asan)
      export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
      export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
      export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/support/lsan.supp}
      # The two three-instance cluster scenarios (minutes each under ASan) run in the plain pass
      # only: the same PostgreSQL store, leadership and signing code runs under ASan in
      # e2e_postgres, the conformance suites and the instance tests.
      run_pass asan '^e2e_cluster' -DCMAKE_BUILD_TYPE=Debug -DKEYMGR_SANITIZE=ON ;;
    tsan) "$ROOT/scripts/tsan.sh" ;;
    fuzz) "$ROOT/scripts/fuzz.sh" "${KEYMGR_FUZZ_SECONDS:-10}" ;;
    *) echo "unknown pass $p" >&2; exit 2 ;;
  esac
done
echo "==> all test passes green: $PASSES"
