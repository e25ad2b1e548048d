#!/usr/bin/env bash
# Builds the concurrency tests under ThreadSanitizer (build-tsan/) and runs them.
#   scripts/tsan.sh                 # default selection
#   KEYMGR_TSAN_REGEX='Pool' scripts/tsan.sh
# Exit status is ctest's: any data race TSan reports fails the test (halt_on_error=1).
# The PostgreSQL tests use KEYMGR_TEST_PG_URL (scripts/test.sh sets it); when it is unset this
# script starts its own throwaway cluster (scripts/pg.sh) for the run and requires it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${KEYMGR_TSAN_DIR:-$ROOT/build-tsan}
JOBS=${KEYMGR_TSAN_JOBS:-2}
REGEX=${KEYMGR_TSAN_REGEX:-'Concurren|GroupCommit|Threads|ThreadWakes|Pool|Parallel|Deadline|PublicListener|HsmFaultApi|AuthTest|WitnessClient|Leadership|ChangePropagation|CrossProcess|HttpServer|TlsTest|MonitorTest|RateLimiter|JwsVerifier'}
# The test binaries that hold the concurrency tests (building only these keeps the run short).
TARGETS=${KEYMGR_TSAN_TARGETS:-"db_store_conformance_test db_ledger_chain_test hsm_pkcs11_test hsm_deadline_test keymgr_key_service_test keymgr_rotation_schedule_test api_e2e_test api_public_listener_test api_hsm_fault_test api_auth_test api_http_server_test api_tls_test keymgr_witness_client_test keymgr_instances_test api_monitor_test keymgr_rate_limiter_test hsm_public_key_test"}

echo "==> [tsan] configure"
cmake -S "$ROOT" -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYMGR_TSAN=ON >/dev/null
echo "==> [tsan] build: $TARGETS"
# shellcheck disable=SC2086
cmake --build "$DIR" -j"$JOBS" --target $TARGETS
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
if [ -z "${KEYMGR_TEST_PG_URL:-}" ]; then
  PGDIR=$(mktemp -d /tmp/km-pg-XXXXXX)
  trap '"$ROOT/scripts/pg.sh" stop "$PGDIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  KEYMGR_TEST_PG_URL=$("$ROOT/scripts/pg.sh" start "$PGDIR") || {
    echo "tsan.sh: PostgreSQL did not start (see above)" >&2
    exit 1
  }
  export KEYMGR_TEST_PG_URL
  export KEYMGR_TEST_REQUIRE_PG=1
fi
echo "==> [tsan] ctest -R '$REGEX'"
cd "$DIR"
set +e
ctest --output-on-failure -j1 --timeout 900 -R "$REGEX" 2>&1 | tee "$DIR/tsan-ctest.log"
rc=${PIPESTATUS[0]}
set -e
races=$(grep -c "WARNING: ThreadSanitizer" "$DIR/tsan-ctest.log" || true)
echo "==> [tsan] ctest exit $rc; ThreadSanitizer warnings: $races (full log: $DIR/tsan-ctest.log)"
exit "$rc"
