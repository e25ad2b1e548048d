#!/usr/bin/env bash
# keymgr benchmark suite: every figure next to its baseline measured in the same run (ratio).
#
#   bench/run.sh                    # full run (~15 min with 10,000 keysets; + ~6 min with BENCH_LEDGER_10M=1)
#   BENCH_SMOKE=1 bench/run.sh      # everything with tiny counts/durations (< ~2 min; usable in CI)
#
# What it does:
#   0. installs wrk, nginx-light, softhsm2, libsqlite3-dev, libssl-dev, libp11-kit-dev with
#      apt-get only if dpkg says they are missing; builds keymgr Release into build-bench/
#      (+ ledger_bench), bench/tick_bench.cc (g++ against build-bench's static libraries) and the
#      baselines /work/shared/perf-baseline/{p11bench.c,sqlitebench.c};
#   1. signing: raw SoftHSM2 C_Sign, token key, 2 threads (p11bench, own token) for P-256/RSA-2048/
#      Ed25519; then keymgr end to end: wrk -t2 -c64 POST /v1/keysets/{ES256,RS256,EdDSA}/sign
#      (bench/sign.lua; every token is in the durable ledger before it is returned);
#   2. JWKS: wrk -t2 -c64 and -c512 against {issuer path}/.well-known/jwks.json on keymgr's public
#      listener (server.public_port) and on its main listener (cpp-httplib), and against nginx
#      (config as in perf-baseline/bench_http.sh, own prefix, port BENCH_NGINX_PORT) serving the
#      same bytes as a static file;
#   2b. signlog: ES256 signing with the transparency-log integrator idle (ledger.integrate_max_delay
#      = "1h": it first wakes after 15 min) vs running (the default "1s": integrates every 250 ms,
#      signs a checkpoint every 10 s), alternated idle/on BENCH_SIGNLOG_PAIRS times, same server data;
#   3. ledger: bench/ledger_bench.cc (append 1 and 64 threads, fill + queries + size) at 1M records
#      (10M too with BENCH_LEDGER_10M=1), vs raw SQLite (perf-baseline/sqlitebench.c, WAL/FULL);
#      then the Merkle tree over the filled ledger (issue 12): integrate_tree in batches of 65,536
#      vs the same leaves hashed in memory and the same hashes as bare SQLite rows; inclusion and
#      consistency proof latency vs a point read of one ledger row; storage the tree adds;
#   4. scale: creates BENCH_KEYSETS keysets through the API (1% with sign_period=10d), then
#      start-up time (exec → /healthz 200, 3 runs), RSS idle and under sign load (/proc VmRSS),
#      and Scheduler::tick() with nothing due and with 1% due (tick_bench on a copy of the data).
#   Writes bench/results/latest.json and latest.md (table printed at the end); raw outputs go to
#   bench/results/raw-<date>/ (not committed).
#
# Environment:
#   BENCH_SMOKE=1          tiny mode (2 s wrk runs, 20k ledger rows, 50 keysets)
#   BENCH_KEYSETS=N        keysets for the scale section (default 10000; smoke 50)
#   BENCH_DURATION=10s     wrk duration per run (smoke 2s)
#   BENCH_LEDGER_10M=1     also run ledger_bench at 10,000,000 records (takes minutes, ~3 GB in /tmp)
#   BENCH_LEDGER_RECORDS=N records of the base ledger run (default 1000000; smoke 20000)
#   BENCH_PORT / BENCH_NGINX_PORT / BENCH_PUBLIC_PORT   default 18480 / 18481 / 18482
#   BENCH_WORK=DIR         scratch dir (default mktemp under /tmp: the root disk, as in PERF.md)
#   BENCH_KEEP=1           keep the scratch dir
#   BENCH_SKIP_BUILD=1     reuse build-bench as is (its commit is in build-bench/.bench-commit)
#   BENCH_SECTIONS="sign signlog jwks ledger scale"   run only some sections
#   BENCH_SIGNLOG_PAIRS=2  idle/on pairs of the signlog section (smoke 1)
#   BENCH_RAW_DIR=DIR      add to an existing raw directory (e.g. rerun "scale" with fewer keysets);
#                          the report is rebuilt from everything in it
#   BENCH_STARTUP_TIMEOUT=600  seconds to wait for /healthz (a timeout is recorded, not fatal)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
BASE=${BENCH_BASELINE_DIR:-/work/shared/perf-baseline}
SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  DUR=${BENCH_DURATION:-2s}; P11DUR=0.5; SQLSECS=0.3; APPSECS=1; PROOFS=2000; PAIRS=${BENCH_SIGNLOG_PAIRS:-1}
  KEYSETS=${BENCH_KEYSETS:-50}; LEDGER_RECORDS=${BENCH_LEDGER_RECORDS:-20000}; MODE=smoke
else
  DUR=${BENCH_DURATION:-10s}; P11DUR=3; SQLSECS=2; APPSECS=4; PROOFS=20000; PAIRS=${BENCH_SIGNLOG_PAIRS:-2}
  KEYSETS=${BENCH_KEYSETS:-10000}; LEDGER_RECORDS=${BENCH_LEDGER_RECORDS:-1000000}; MODE=full
fi
PORT=${BENCH_PORT:-18480}
NPORT=${BENCH_NGINX_PORT:-18481}
PPORT=${BENCH_PUBLIC_PORT:-18482}  # keymgr's public listener (server.public_port)
WORK=${BENCH_WORK:-$(mktemp -d /tmp/km-bench.XXXXXX)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=${BENCH_RAW_DIR:-$ROOT/bench/results/raw-$STAMP}
SECTIONS=" ${BENCH_SECTIONS:-sign signlog jwks ledger scale} "
want() { [[ "$SECTIONS" == *" $1 "* ]]; }
mkdir -p "$RAW" "$WORK"
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true
log() { printf '[bench %s load %s] %s\n' "$(date +%H:%M:%S)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >&2; }

SPID=""; NGPID_FILE="$WORK/nginx/nginx.pid"; SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
  [ -f "$NGPID_FILE" ] && kill -QUIT "$(cat "$NGPID_FILE")" 2>/dev/null || true
  if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ 0. dependencies and build
need=()
for p in wrk nginx-light softhsm2 libsqlite3-dev libssl-dev libp11-kit-dev curl python3 g++ cmake ninja-build; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get install -y "${need[@]}" >/dev/null
fi
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building Release into $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKEYMGR_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 >/dev/null
  cmake --build "$BUILD" -j2 --target ledger_bench >/dev/null
  { git -C "$ROOT" rev-parse --short HEAD; git -C "$ROOT" status --porcelain -- . ':!bench' | grep -q . && echo "+local-changes"; } \
    2>/dev/null | paste -sd' ' > "$BUILD/.bench-commit" || true
fi
if [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && [ "$(cut -d' ' -f1 "$BUILD/.bench-commit" 2>/dev/null)" != "$(git -C "$ROOT" rev-parse --short HEAD)" ]; then
  log "WARNING: build-bench is not built from HEAD; tick_bench (HEAD headers + old libs) may misbehave"
fi
KM=$BUILD/cli/keymgr
BIN=$WORK/bin; mkdir -p "$BIN"
# Same flags/defines as the CMake Release build (spdlog/fmt as shared libs): a mismatch aborts at exit.
g++ -O3 -DNDEBUG -std=c++20 -DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB \
  -I"$ROOT" -I/usr/include/p11-kit-1 -o "$BIN/tick_bench" "$ROOT/bench/tick_bench.cc" \
  "$BUILD/keymgr/libkm_keymgr.a" "$BUILD/keymgr/libkm_tlog.a" "$BUILD/hsm/libkm_hsm.a" "$BUILD/db/libkm_db.a" \
  "$BUILD/db/libkm_merkle.a" "$BUILD/common/libkm_common.a" \
  -lsqlite3 -lssl -lcrypto -lspdlog -lfmt -ldl -lpthread
gcc -O2 -I/usr/include/p11-kit-1 -o "$BIN/p11bench" "$BASE/p11bench.c" -ldl -lpthread
gcc -O2 -Wno-deprecated-declarations -o "$BIN/sqlitebench" "$BASE/sqlitebench.c" -lsqlite3 -lcrypto

H="python3 $ROOT/bench/bench_helper.py"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "nproc=$(nproc)"
  echo "mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "commit=$(cat "$BUILD/.bench-commit" 2>/dev/null || echo "unknown (built before run.sh stamped builds)")"
  echo "mode=$MODE"
  echo "sections=$(echo $SECTIONS)"
  echo "keysets=$KEYSETS"
  echo "duration=$DUR"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"  # shared machine: other builds skew every figure
  echo "softhsm=$(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null)"
  echo "sqlite=$(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null)"
  echo "httplib=$(dpkg-query -W -f='${Version}' libcpp-httplib-dev 2>/dev/null)"
  echo "nginx=$(dpkg-query -W -f='${Version}' nginx-light 2>/dev/null)"
} > "$RAW/meta.$STAMP.txt"
[ -f "$RAW/meta.txt" ] || cp "$RAW/meta.$STAMP.txt" "$RAW/meta.txt"

# ------------------------------------------------------------------ keymgr instance
DATA=$WORK/data
"$ROOT/scripts/init-softhsm.sh" "$DATA" keymgr >/dev/null
cat > "$DATA/keymgr.toml" <<TOML
# bench/run.sh: production defaults except the port and paths.
[server]
listen = "127.0.0.1"
port = $PORT
public_port = $PPORT
[hsm]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "keymgr"
pin_file = "$DATA/hsm.pin"
[database]
path = "$DATA/keymgr.db"
[bootstrap]
keyset = "es256"
issuer = "http://127.0.0.1:$PORT/es256"
alg = "ES256"
TOML
export SOFTHSM2_CONF=$DATA/softhsm2.conf KEYMGR_CONFIG=$DATA/keymgr.toml
unset KEYMGR_HSM_PIN KEYMGR_PORT KEYMGR_LISTEN KEYMGR_DB 2>/dev/null || true

start_server() {  # sets SPID and STARTUP_MS; $1 = 1 to record the start-up time
  $H startup "$PORT" "$DATA/server.log" -- "$KM" serve > "$WORK/startup.out" || { tail -20 "$DATA/server.log" >&2; exit 1; }
  grep -q timeout_s "$WORK/startup.out" && log "keymgr did not answer /healthz within ${BENCH_STARTUP_TIMEOUT:-600} s"
  [ "${1:-0}" = 1 ] && cat "$WORK/startup.out" >> "$RAW/scale.txt"
  SPID=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$WORK/startup.out")
  STARTUP_MS=$(sed -n 's/.*ms=\([0-9.]*\).*/\1/p' "$WORK/startup.out")
}
stop_server() {
  [ -n "$SPID" ] || return 0
  kill -TERM "$SPID" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$SPID" 2>/dev/null && kill -KILL "$SPID" 2>/dev/null || true
  SPID=""
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start_sampler() {  # $1 = output file: max VmRSS seen
  ( max=0; while kill -0 "$SPID" 2>/dev/null; do
      v=$(rss_kb "$SPID" 2>/dev/null || echo 0); [ "${v:-0}" -gt "$max" ] && max=$v && echo "$max" > "$1"
      sleep 0.2; done ) &
  SAMPLER=$!
}
stop_sampler() {  # the sampler ends by itself when the server it watches stops
  [ -n "$SAMPLER" ] || return 0
  kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
}
api() {  # method path token [body]
  curl -sS -f -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
    ${4:+--data "$4"} "http://127.0.0.1:$PORT$2"
}

"$KM" token create --name bench-admin --role admin --out "$DATA/admin.token" 2>/dev/null
start_server; log "keymgr up in ${STARTUP_MS} ms (pid $SPID)"
ADMIN=$(cat "$DATA/admin.token")
api POST /v1/keysets "$ADMIN" "{\"name\":\"rs256\",\"issuer\":\"http://127.0.0.1:$PORT/rs256\",\"alg\":\"RS256\"}" >/dev/null
api POST /v1/keysets "$ADMIN" "{\"name\":\"eddsa\",\"issuer\":\"http://127.0.0.1:$PORT/eddsa\",\"alg\":\"EdDSA\"}" >/dev/null
# Through the API, not `keymgr token create`: a local CLI write to the ledger while the server runs
# makes the server's next ledger append fail (UNIQUE constraint failed: ledger.seq → 503), see docs/perf.md.
ISSUER=$(api POST /v1/tokens "$ADMIN" '{"name":"bench-issuer","role":"issuer","keysets":["es256","rs256","eddsa"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
api POST /v1/keysets/es256/sign "$ISSUER" '{"claims":{"sub":"u"},"ttl":300}' >/dev/null
sleep 1
want sign || want jwks && echo "RSS what=idle_small kb=$(rss_kb "$SPID")" >> "$RAW/scale.txt"

# ------------------------------------------------------------------ 1. signing
if want sign; then
log "raw SoftHSM2 C_Sign, 2 threads, token keys (p11bench ${P11DUR}s per alg)"
P11=$WORK/p11; mkdir -p "$P11/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$P11" > "$P11/softhsm2.conf"
SOFTHSM2_CONF=$P11/softhsm2.conf timeout 300 "$BIN/p11bench" -d "$P11DUR" -t 2 -f /token/init+sign/2 \
  > "$RAW/p11bench.txt" 2>&1 || log "p11bench failed (see $RAW/p11bench.txt)"
grep '^RESULT' "$RAW/p11bench.txt" >&2 || true

start_sampler "$WORK/rss_load_small"
for alg in ES256 RS256 EdDSA; do
  ks=$(tr 'A-Z' 'a-z' <<<"$alg")
  log "sign $alg: wrk -t2 -c64 -d$DUR"
  wrk -t2 -c64 -d"$DUR" --latency -s "$ROOT/bench/sign.lua" "http://127.0.0.1:$PORT/v1/keysets/$ks/sign" -- "$ISSUER" \
    > "$RAW/wrk_sign_$alg.txt" 2>&1 || true
  grep -E 'Requests/sec|Non-2xx|Socket' "$RAW/wrk_sign_$alg.txt" >&2 || true
  sleep 1
done

fi
# ------------------------------------------------------------------ 2. JWKS
if want jwks; then
NG=$WORK/nginx; mkdir -p "$NG/www" "$NG/logs"
curl -sS -f "http://127.0.0.1:$PORT/es256/.well-known/jwks.json" -o "$NG/www/jwks.json"
echo "jwks_bytes=$(stat -c %s "$NG/www/jwks.json")" >> "$RAW/meta.txt"
chmod -R a+rX "$NG"
cat > "$NG/nginx.conf" <<NGX
worker_processes auto;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  open_file_cache max=16 inactive=60s;
  types { application/json json; }
  client_body_temp_path $NG/tmp_body; proxy_temp_path $NG/tmp_proxy;
  server {
    listen 127.0.0.1:$NPORT backlog=4096;
    root $NG/www;
    location = /es256/.well-known/jwks.json { alias $NG/www/jwks.json; add_header Cache-Control "public, max-age=300"; }
  }
}
NGX
NGUSER=(); [ "$(id -u)" = 0 ] && NGUSER=(-g 'user root;')  # workers must read files under the 0700 scratch dir
nginx -t -q -c "$NG/nginx.conf" -p "$NG" "${NGUSER[@]}"
nginx -c "$NG/nginx.conf" -p "$NG" "${NGUSER[@]}"
sleep 0.5
for c in 64 512; do
  for srv in nginx public keymgr; do
    p=$(case $srv in nginx) echo "$NPORT" ;; public) echo "$PPORT" ;; *) echo "$PORT" ;; esac)
    log "JWKS $srv -c$c"
    wrk -t2 -c"$c" -d"$DUR" --latency "http://127.0.0.1:$p/es256/.well-known/jwks.json" \
      > "$RAW/wrk_jwks_${srv}_c$c.txt" 2>&1 || true
    grep -E 'Requests/sec|Non-2xx|Socket|    99%' "$RAW/wrk_jwks_${srv}_c$c.txt" >&2 || true
    sleep 1
  done
done
kill -QUIT "$(cat "$NG/nginx.pid")" 2>/dev/null || true
fi
stop_sampler
[ -f "$WORK/rss_load_small" ] && echo "RSS what=load_small kb=$(cat "$WORK/rss_load_small")" >> "$RAW/scale.txt"
# ------------------------------------------------------------------ 2b. signing, log integrator idle vs on (after JWKS: restarts the server)
if want signlog; then
cp "$DATA/keymgr.toml" "$WORK/keymgr-default.toml"
for r in $(seq 1 "$PAIRS"); do
  for mode in idle on; do
    cp "$WORK/keymgr-default.toml" "$DATA/keymgr.toml"
    # idle: the integrator's first tick is integrate_max_delay / 4 = 15 min away, so neither
    # integration nor checkpoint signing runs during the measurement. on: the defaults.
    [ "$mode" = idle ] && printf '[ledger]\nintegrate_max_delay = "1h"\n' >> "$DATA/keymgr.toml"
    stop_server; start_server
    sleep 2  # "on": catch up with what the previous idle run left unintegrated before measuring
    log "sign ES256, log integrator $mode (pair $r): wrk -t2 -c64 -d$DUR"
    cpu0=$(awk '{print $14 + $15}' "/proc/$SPID/stat")  # server utime + stime, clock ticks
    wrk -t2 -c64 -d"$DUR" --latency -s "$ROOT/bench/sign.lua" "http://127.0.0.1:$PORT/v1/keysets/es256/sign" -- "$ISSUER" \
      > "$RAW/wrk_signlog_${mode}_r$r.txt" 2>&1 || true
    sleep 1.5  # let the integrator (if on) take in the run's tail, then record what it did
    # Server CPU per token: what the integrator costs, much less sensitive to neighbours than req/s.
    echo "CPU mode=$mode pair=$r ticks=$(( $(awk '{print $14 + $15}' "/proc/$SPID/stat") - cpu0 )) hz=$(getconf CLK_TCK)" \
      >> "$RAW/wrk_signlog_${mode}_r$r.txt"
    curl -sS "http://127.0.0.1:$PORT/metrics" 2>/dev/null | grep -E '^keymgr_ledger_(integration_pending|checkpoint_size|entries|checkpoints_total)' \
      | sed "s/^/METRIC mode=$mode pair=$r /" >> "$RAW/wrk_signlog_${mode}_r$r.txt" || true
    grep -E 'Requests/sec|Non-2xx|Socket' "$RAW/wrk_signlog_${mode}_r$r.txt" >&2 || true
  done
done
cp "$WORK/keymgr-default.toml" "$DATA/keymgr.toml"
stop_server; start_server
fi
# ------------------------------------------------------------------ 3. ledger (server idle)
if want ledger; then
log "raw SQLite writes (sqlitebench, ${SQLSECS}s per test)"
mkdir -p "$WORK/sqlite"
SQLB_ONLY=write timeout 300 "$BIN/sqlitebench" "$WORK/sqlite" "$SQLSECS" > "$RAW/sqlitebench.txt" 2>&1 || true
rm -rf "$WORK/sqlite"
log "ledger_bench at $LEDGER_RECORDS records"
mkdir -p "$WORK/ledger"
"$BUILD/db/ledger_bench" --dir "$WORK/ledger" --records "$LEDGER_RECORDS" --append-secs "$APPSECS" --proofs "$PROOFS" \
  > "$RAW/ledger_$LEDGER_RECORDS.txt" 2> "$RAW/ledger_$LEDGER_RECORDS.err" || log "ledger_bench failed"
grep '^RESULT' "$RAW/ledger_$LEDGER_RECORDS.txt" >&2 || true
if [ "${BENCH_LEDGER_10M:-0}" = 1 ]; then
  log "ledger_bench at 10,000,000 records (fill takes minutes)"
  "$BUILD/db/ledger_bench" --dir "$WORK/ledger" --records 10000000 --skip-append --proofs "$PROOFS" \
    > "$RAW/ledger_10000000.txt" 2> "$RAW/ledger_10000000.err" || log "ledger_bench 10M failed"
  grep '^RESULT' "$RAW/ledger_10000000.txt" >&2 || true
fi
rm -rf "$WORK/ledger"

fi
# ------------------------------------------------------------------ 4. scale
if want scale; then
log "creating $KEYSETS keysets through POST /v1/keysets (1% with sign_period=10d)"
$H create "$PORT" "$DATA/admin.token" "$KEYSETS" --prefix ks --due-every 100 --conc 4 >> "$RAW/scale.txt" \
  || log "some keysets were not created"
tail -1 "$RAW/scale.txt" >&2
for i in 1 2 3; do
  stop_server
  start_server 1; log "start-up with $KEYSETS keysets: ${STARTUP_MS:-timeout} ms"
  if [ -z "$STARTUP_MS" ] || [ "${STARTUP_MS%.*}" -gt 30000 ]; then break; fi  # one slow start is enough
done
sleep 3
echo "RSS what=idle_large kb=$(rss_kb "$SPID")" >> "$RAW/scale.txt"
start_sampler "$WORK/rss_load_large"
wrk -t2 -c64 -d"$DUR" --latency -s "$ROOT/bench/sign.lua" "http://127.0.0.1:$PORT/v1/keysets/es256/sign" -- "$ISSUER" \
  > "$RAW/wrk_sign_ES256_large.txt" 2>&1 || true
stop_sampler
echo "RSS what=load_large kb=$(cat "$WORK/rss_load_large" 2>/dev/null || echo 0)" >> "$RAW/scale.txt"
stop_server

log "Scheduler::tick() on a copy of the data ($KEYSETS + 3 keysets)"
TC=$WORK/tickcopy; mkdir -p "$TC"
cp -a "$DATA/tokens" "$TC/tokens"
cp -a "$DATA"/keymgr.db* "$DATA/hsm.pin" "$TC/"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$TC" \
  > "$TC/softhsm2.conf"
SOFTHSM2_CONF=$TC/softhsm2.conf "$BIN/tick_bench" "$TC/keymgr.db" "$TC/hsm.pin" keymgr --ticks 5 --advance-days 8.5 \
  > "$RAW/tick.txt" 2> "$RAW/tick.err" || log "tick_bench exited with $? ($(grep -c RESULT "$RAW/tick.txt") result lines; known: aborts at exit, see docs/perf.md)"
cat "$RAW/tick.txt" >&2

fi
# ------------------------------------------------------------------ report
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/meta.txt"
$H report "$RAW" "$ROOT/bench/results/latest.json" "$ROOT/bench/results/latest.md"
log "raw outputs in $RAW"
