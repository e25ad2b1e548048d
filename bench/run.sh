#!/usr/bin/env bash
# keymgr benchmark suite: every figure next to its baseline measured in the same run (ratio).
#
#   bench/run.sh                    # full run (~18 min with 10,000 keysets, ~4 of them the cluster section; + ~6 min with BENCH_LEDGER_10M=1)
#   BENCH_SMOKE=1 bench/run.sh      # everything with tiny counts/durations (< ~3 min; usable in CI)
#
# What it does:
#   0. installs wrk, nginx-light, softhsm2, libsqlite3-dev, libssl-dev, libp11-kit-dev with
#      apt-get only if dpkg says they are missing; builds keymgr Release into build-bench/
#      (+ ledger_bench), bench/tick_bench.cc (g++ against build-bench's static libraries) and the
#      baselines /work/shared/perf-baseline/{p11bench.c,sqlitebench.c};
#   1. signing: raw SoftHSM2 C_Sign, token key, 2 threads (p11bench, own token) for P-256/RSA-2048/
#      Ed25519; then keymgr end to end: wrk -t2 -c64 and -c512 POST /v1/keysets/{ES256,RS256,EdDSA}/sign
#      (bench/sign.lua; every token is in the durable ledger before it is returned); then
#      wrk -t2 -c64 POST /v1/keysets/es256/verify of one token (bench/verify.lua; every check);
#   1b. peer (issue 14): oidc-provider (bench/peer/oidc-provider: version pinned by its package-lock.json,
#      `npm ci` only if node_modules is missing; needs Node >= 20.19) as a node:cluster of 2 workers on
#      127.0.0.1:BENCH_PEER_PORT, one in-memory ES256 key shared by both, client-credentials grant,
#      JWT access tokens (resource indicator https://api.example.com, ES256, typ at+jwt), default in-memory
#      adapter (JWT access tokens are not stored); one token checked (header decoded), a warm-up for Node's JIT
#      (BENCH_PEER_WARMUP, 15 s; smoke 2 s),
#      then wrk -t2 -c64 and -c512 POST /token (bench/peer/oidc-provider/token.lua: Basic auth; a response
#      that is not 200 with an ES256 at+jwt access_token counts as an error); the server's whole process
#      group is stopped afterwards. Versions (oidc-provider, node) go to meta.txt; with the sign section in
#      the same raw dir the report compares keymgr's ES256 tokens/s with it (goal ≥ 2x). Needs no keymgr
#      build: BENCH_SECTIONS=peer runs without build-bench;
#   2. JWKS: wrk -t2 -c64 and -c512 against {issuer path}/.well-known/jwks.json on keymgr's public
#      listener (server.public_port) and on its main listener (event loop), and against nginx
#      (config as in perf-baseline/bench_http.sh, own prefix, port BENCH_NGINX_PORT) serving the
#      same bytes as a static file;
#   2b. signlog: ES256 signing with the transparency-log integrator idle (ledger.integrate_max_delay
#      = "1h": it first wakes after 15 min) vs running (the default "1s": integrates every 250 ms,
#      signs a checkpoint every 10 s), alternated idle/on BENCH_SIGNLOG_PAIRS times, same server data;
#   2c. signmon (issue 15): ES256 signing with the monitoring detectors and limits off vs on (limits
#      far above the load), alternated off/on BENCH_SIGNLOG_PAIRS times; server CPU per token (goal ≤ 1.05x);
#   3. ledger: bench/ledger_bench.cc (append 1 and 64 threads, fill + queries + size) at 1M records
#      (10M too with BENCH_LEDGER_10M=1), vs raw SQLite (perf-baseline/sqlitebench.c, WAL/FULL);
#      then the Merkle tree over the filled ledger (issue 12): integrate_tree in batches of 65,536
#      vs the same leaves hashed in memory and the same hashes as bare SQLite rows; inclusion and
#      consistency proof latency vs a point read of one ledger row; storage the tree adds;
#   4. scale: creates BENCH_KEYSETS keysets through the API (1% with sign_period=10d), then
#      start-up time (exec → /healthz 200, 3 runs), RSS idle and under sign load (/proc VmRSS),
#      and Scheduler::tick() with nothing due and with 1% due (tick_bench on a copy of the data).
#   5. cluster (issue 13; needs postgresql-15): a throwaway PostgreSQL cluster (scripts/pg.sh,
#      restarted with fsync on as production runs it; synchronous_commit on) and ES256 signing
#      (wrk, bench/sign.lua, BENCH_CLUSTER_CONNS connections in all, one wrk per instance at once,
#      tokens/s summed) through 3, 2 and 1 keymgr instances on that one database, sharing one
#      SoftHSM2 token directory, vs one keymgr on SQLite (measured before and after them, mean);
#      CPU per process group and per instance during each run (bench_helper.py cpu), also of the
#      three instances idle once the keyset has propagated; then durable ledger appends
#      into PostgreSQL through the store (ledger_bench --url, 1 and 64 threads) vs pgbench
#      inserting one ~300-byte row per transaction (1 and 64 clients) on the same cluster, 10 s each
#      (smoke 3 s).
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
#   BENCH_SECTIONS="sign peer signlog signmon jwks ledger scale cluster"   run only some sections
#   BENCH_PEER_PORT=18483     peer section: oidc-provider's port
#   BENCH_PEER_WORKERS=2      peer section: oidc-provider cluster workers
#   BENCH_PEER_WARMUP=15s     peer section: wrk -c64 warm-up before the measured runs (smoke 2s)
#   BENCH_CLUSTER_PORT=18490  cluster section: SQLite instance on it, PostgreSQL instances on +1..+3
#   BENCH_CLUSTER_CONNS=64    cluster section: wrk connections in all, split between the instances
#   BENCH_PG_FSYNC=on         cluster section: fsync of the PostgreSQL cluster ("off" = scripts/pg.sh's test setting)
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
  DUR=${BENCH_DURATION:-2s}; P11DUR=0.5; SQLSECS=0.3; APPSECS=1; PROOFS=2000; PAIRS=${BENCH_SIGNLOG_PAIRS:-1}; CLSECS=3
  KEYSETS=${BENCH_KEYSETS:-50}; LEDGER_RECORDS=${BENCH_LEDGER_RECORDS:-20000}; MODE=smoke
else
  DUR=${BENCH_DURATION:-10s}; P11DUR=3; SQLSECS=2; APPSECS=4; PROOFS=20000; PAIRS=${BENCH_SIGNLOG_PAIRS:-2}; CLSECS=10
  KEYSETS=${BENCH_KEYSETS:-10000}; LEDGER_RECORDS=${BENCH_LEDGER_RECORDS:-1000000}; MODE=full
fi
PORT=${BENCH_PORT:-18480}
NPORT=${BENCH_NGINX_PORT:-18481}
PPORT=${BENCH_PUBLIC_PORT:-18482}  # keymgr's public listener (server.public_port)
WORK=${BENCH_WORK:-$(mktemp -d /tmp/km-bench.XXXXXX)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=${BENCH_RAW_DIR:-$ROOT/bench/results/raw-$STAMP}
SECTIONS=" ${BENCH_SECTIONS:-sign peer signlog signmon jwks ledger scale cluster} "
want() { [[ "$SECTIONS" == *" $1 "* ]]; }
need_km() { local s; for s in sign signlog signmon jwks ledger scale cluster; do want "$s" && return 0; done; return 1; }  # peer does not
mkdir -p "$RAW" "$WORK"
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true
log() { printf '[bench %s load %s] %s\n' "$(date +%H:%M:%S)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" >&2; }

SPID=""; NGPID_FILE="$WORK/nginx/nginx.pid"; SAMPLER=""; CL_PIDS=(); PGDIR=""; PEER_PGID=""
cleanup() {
  [ -n "$PEER_PGID" ] && kill -TERM -- "-$PEER_PGID" 2>/dev/null || true
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
  for p in "${CL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$PGDIR" ]; then
    if [ "${BENCH_KEEP:-0}" != 1 ]; then "$ROOT/scripts/pg.sh" stop "$PGDIR" || true
    else "$ROOT/scripts/pg.sh" pause "$PGDIR" || true; log "kept PostgreSQL cluster $PGDIR (scripts/pg.sh resume)"; fi
  fi
  [ -f "$NGPID_FILE" ] && kill -QUIT "$(cat "$NGPID_FILE")" 2>/dev/null || true
  if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ 0. dependencies and build
need=()
for p in wrk nginx-light softhsm2 libsqlite3-dev libssl-dev libp11-kit-dev curl python3 g++ cmake ninja-build; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if want cluster; then
  dpkg -s postgresql-15 >/dev/null 2>&1 || need+=(postgresql-15)  # server, psql, pgbench
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get install -y "${need[@]}" >/dev/null
fi
if need_km && [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building Release into $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKEYMGR_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 >/dev/null
  cmake --build "$BUILD" -j2 --target ledger_bench >/dev/null
  { git -C "$ROOT" rev-parse --short HEAD; git -C "$ROOT" status --porcelain -- . ':!bench' | grep -q . && echo "+local-changes"; } \
    2>/dev/null | paste -sd' ' > "$BUILD/.bench-commit" || true
fi
if need_km && [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && [ "$(cut -d' ' -f1 "$BUILD/.bench-commit" 2>/dev/null)" != "$(git -C "$ROOT" rev-parse --short HEAD)" ]; then
  log "WARNING: build-bench is not built from HEAD; tick_bench (HEAD headers + old libs) may misbehave"
fi
KM=$BUILD/cli/keymgr
BIN=$WORK/bin; mkdir -p "$BIN"
if need_km; then
# Same flags/defines as the CMake Release build (spdlog/fmt as shared libs): a mismatch aborts at exit.
g++ -O3 -DNDEBUG -std=c++20 -DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB \
  -I"$ROOT" -I/usr/include/p11-kit-1 -o "$BIN/tick_bench" "$ROOT/bench/tick_bench.cc" \
  "$BUILD/keymgr/libkm_keymgr.a" "$BUILD/keymgr/libkm_tlog.a" "$BUILD/hsm/libkm_hsm.a" "$BUILD/db/libkm_db.a" \
  "$BUILD/db/libkm_merkle.a" "$BUILD/common/libkm_common.a" \
  -lsqlite3 -lpq -lssl -lcrypto -lspdlog -lfmt -ldl -lpthread
gcc -O2 -I/usr/include/p11-kit-1 -o "$BIN/p11bench" "$BASE/p11bench.c" -ldl -lpthread
gcc -O2 -Wno-deprecated-declarations -o "$BIN/sqlitebench" "$BASE/sqlitebench.c" -lsqlite3 -lcrypto
fi

H="python3 $ROOT/bench/bench_helper.py"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "nproc=$(nproc)"
  echo "mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  if need_km; then echo "commit=$(cat "$BUILD/.bench-commit" 2>/dev/null || echo "unknown (built before run.sh stamped builds)")"
  else echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) (no keymgr build used)"; fi
  echo "mode=$MODE"
  echo "sections=$(echo $SECTIONS)"
  echo "keysets=$KEYSETS"
  echo "duration=$DUR"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"  # shared machine: other builds skew every figure
  echo "softhsm=$(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null)"
  echo "sqlite=$(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null)"
  echo "httplib=$(dpkg-query -W -f='${Version}' libcpp-httplib-dev 2>/dev/null)"
  echo "nginx=$(dpkg-query -W -f='${Version}' nginx-light 2>/dev/null)"
  echo "postgresql=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null)"
} > "$RAW/meta.$STAMP.txt"
[ -f "$RAW/meta.txt" ] || cp "$RAW/meta.$STAMP.txt" "$RAW/meta.txt"

# ------------------------------------------------------------------ keymgr instance
DATA=$WORK/data
if need_km; then
"$ROOT/scripts/init-softhsm.sh" "$DATA" keymgr >/dev/null
fi
mkdir -p "$DATA"
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

start_server() {  # sets SPID and STARTUP_MS; $1 = 1 to record the start-up time (and the first signature's)
  local sign=()
  [ "${1:-0}" = 1 ] && [ -s "$DATA/issuer.token" ] && sign=(--sign es256 "$DATA/issuer.token")
  $H startup "$PORT" "$DATA/server.log" "${sign[@]}" -- "$KM" serve > "$WORK/startup.out" || { tail -20 "$DATA/server.log" >&2; exit 1; }
  grep -q timeout_s "$WORK/startup.out" && log "keymgr did not answer /healthz within ${BENCH_STARTUP_TIMEOUT:-600} s"
  [ "${1:-0}" = 1 ] && cat "$WORK/startup.out" >> "$RAW/scale.txt"
  SPID=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$WORK/startup.out")
  STARTUP_MS=$(sed -n 's/^STARTUP ms=\([0-9.]*\).*/\1/p' "$WORK/startup.out")
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

if need_km; then
"$KM" token create --name bench-admin --role admin --out "$DATA/admin.token" 2>/dev/null
start_server; log "keymgr up in ${STARTUP_MS} ms (pid $SPID)"
ADMIN=$(cat "$DATA/admin.token")
api POST /v1/keysets "$ADMIN" "{\"name\":\"rs256\",\"issuer\":\"http://127.0.0.1:$PORT/rs256\",\"alg\":\"RS256\"}" >/dev/null
api POST /v1/keysets "$ADMIN" "{\"name\":\"eddsa\",\"issuer\":\"http://127.0.0.1:$PORT/eddsa\",\"alg\":\"EdDSA\"}" >/dev/null
# Through the API, not `keymgr token create`: a local CLI write to the ledger while the server runs
# makes the server's next ledger append fail (UNIQUE constraint failed: ledger.seq → 503), see docs/perf.md.
ISSUER=$(api POST /v1/tokens "$ADMIN" '{"name":"bench-issuer","role":"issuer","keysets":["es256","rs256","eddsa"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
(umask 077; echo "$ISSUER" > "$DATA/issuer.token")
api POST /v1/keysets/es256/sign "$ISSUER" '{"claims":{"sub":"u"},"ttl":300}' >/dev/null
sleep 1
want sign || want jwks && echo "RSS what=idle_small kb=$(rss_kb "$SPID")" >> "$RAW/scale.txt"
fi

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
  for c in 64 512; do  # issue 14: tail latency with many keep-alive clients (wrk_sign_<alg>.txt is 64)
    out="$RAW/wrk_sign_$alg.txt"; [ "$c" = 64 ] || out="$RAW/wrk_sign_${alg}_c$c.txt"
    log "sign $alg: wrk -t2 -c$c -d$DUR"
    cpu0=$(awk '{print $14 + $15}' "/proc/$SPID/stat")
    wrk -t2 -c"$c" -d"$DUR" --latency -s "$ROOT/bench/sign.lua" "http://127.0.0.1:$PORT/v1/keysets/$ks/sign" -- "$ISSUER" \
      > "$out" 2>&1 || true
    # The server's CPU during the run (all its threads): CPU per token is what bounds tokens/s on 2 cores.
    echo "CPU ticks=$(( $(awk '{print $14 + $15}' "/proc/$SPID/stat") - cpu0 )) hz=$(getconf CLK_TCK)" >> "$out"
    grep -E 'Requests/sec|Non-2xx|Socket' "$out" >&2 || true
    sleep 1
  done
done
# Verification of one ES256 token (signature, scope, key state, provenance in the ledger), 64 clients.
JWT=$(api POST /v1/keysets/es256/sign "$ISSUER" '{"claims":{"sub":"u"},"ttl":3600}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
log "verify ES256: wrk -t2 -c64 -d$DUR"
wrk -t2 -c64 -d"$DUR" --latency -s "$ROOT/bench/verify.lua" "http://127.0.0.1:$PORT/v1/keysets/es256/verify" -- "$ISSUER" "$JWT" \
  > "$RAW/wrk_verify_ES256.txt" 2>&1 || true
grep -E 'Requests/sec|Non-2xx|Socket' "$RAW/wrk_verify_ES256.txt" >&2 || true

fi
# ------------------------------------------------------------------ 1b. peer: oidc-provider (issue 14)
# Right after the sign section (the same sitting; keymgr's server stays up, idle, for the JWKS section).
if want peer; then
PEER=$ROOT/bench/peer/oidc-provider
PEERPORT=${BENCH_PEER_PORT:-18483}
PEERW=${BENCH_PEER_WORKERS:-2}
PEERWARM=${BENCH_PEER_WARMUP:-$([ "$SMOKE" = 1 ] && echo 2s || echo 15s)}
peer_stop() {  # SIGTERM to the whole process group (primary + workers), SIGKILL after 10 s
  [ -n "$PEER_PGID" ] || return 0
  kill -TERM -- "-$PEER_PGID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 -- "-$PEER_PGID" 2>/dev/null || break; sleep 0.1; done
  kill -0 -- "-$PEER_PGID" 2>/dev/null && { log "peer: process group $PEER_PGID still there after 10 s: SIGKILL"; kill -KILL -- "-$PEER_PGID" 2>/dev/null || true; }
  wait "$PEER_PID" 2>/dev/null || true
  PEER_PGID=""
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "peer: node/npm not found (oidc-provider 9 needs Node >= 20.19); section skipped"
elif [ ! -d "$PEER/node_modules/oidc-provider" ] && ! (cd "$PEER" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >&2); then
  log "peer: npm ci failed in $PEER; section skipped"
else
  {
    echo "peer_oidc_provider=$(node -p 'require(process.argv[1]).version' "$PEER/node_modules/oidc-provider/package.json")"
    echo "peer_node=$(node --version)"
    echo "peer_workers=$PEERW"
    echo "peer_warmup=$PEERWARM"
  } >> "$RAW/meta.txt"
  log "peer: oidc-provider $(sed -n 's/^peer_oidc_provider=//p' "$RAW/meta.txt" | tail -1) on node $(node --version), $PEERW workers, port $PEERPORT"
  # setsid: its own process group (primary + workers), stopped as a whole.
  PEER_PORT=$PEERPORT PEER_WORKERS=$PEERW setsid node "$PEER/server.js" > "$RAW/peer_server.log" 2>&1 &
  PEER_PID=$!; PEER_PGID=$PEER_PID
  for _ in $(seq 1 600); do
    grep -q '^PEER ready' "$RAW/peer_server.log" 2>/dev/null && break
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^PEER ready' "$RAW/peer_server.log"; then
    log "peer: oidc-provider did not start (see $RAW/peer_server.log)"; tail -5 "$RAW/peer_server.log" >&2 || true
    peer_stop
  else
    PEER_PGID=$(ps -o pgid= -p "$(sed -n 's/^PEER ready.* pid=\([0-9]*\).*/\1/p' "$RAW/peer_server.log")" | tr -d ' ' || true)
    PEER_PGID=${PEER_PGID:-$PEER_PID}
    # One token by hand: HTTP 200, an access_token that is a JWT with alg ES256 and typ at+jwt.
    $H peertoken "$PEERPORT" > "$RAW/peer_token.txt" 2>&1 || true
    head -1 "$RAW/peer_token.txt" >&2
    curl -sS "http://127.0.0.1:$PEERPORT/jwks" >> "$RAW/peer_token.txt" 2>&1 || true
    # Node's JIT: from a cold start tokens/s climbs for ~10 s under load (on this machine ~600/s in the
    # first 2 s, ~1,500-2,300 in the next seconds, steady ~3,000 after ~8-10 s); a short warm-up understates the peer.
    log "peer: warm-up, wrk -t2 -c64 -d$PEERWARM"
    wrk -t2 -c64 -d"$PEERWARM" -s "$PEER/token.lua" "http://127.0.0.1:$PEERPORT/token" > "$RAW/peer_warmup.txt" 2>&1 || true
    sleep 1
    for c in 64 512; do
      log "peer: oidc-provider POST /token, wrk -t2 -c$c -d$DUR"
      wrk -t2 -c"$c" -d"$DUR" --latency -s "$PEER/token.lua" "http://127.0.0.1:$PEERPORT/token" \
        > "$RAW/wrk_peer_c$c.txt" 2>&1 || true
      grep -E 'Requests/sec|Non-2xx|Socket|    99%|PEER_CHECK' "$RAW/wrk_peer_c$c.txt" >&2 || true
      sleep 1
    done
    pg=$PEER_PGID; peer_stop
    grep '^PEER worker' "$RAW/peer_server.log" >&2 || true
    if pgrep -g "$pg" >/dev/null 2>&1; then log "peer: WARNING: processes of group $pg still running: $(pgrep -g "$pg" | paste -sd' ')"; fi
  fi
fi
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
# ------------------------------------------------------------------ 2c. signing, monitoring off vs on (issue 15)
# off: every detector that runs on the signing path switched off ([monitor] dormant_after,
# rate_factor, learning_period = 0) and no rate limit. on: the detectors at their defaults, the
# keyset's sign_rate/max_signatures and a per-token limit set far above the load (so the limiter
# and the usage check run on every signature but refuse none). The key usage count itself is
# always on (one upsert per group commit): it is in both modes, and in every other section.
if want signmon; then
cp "$DATA/keymgr.toml" "$WORK/keymgr-default.toml"
for r in $(seq 1 "$PAIRS"); do
  for mode in off on; do
    cp "$WORK/keymgr-default.toml" "$DATA/keymgr.toml"
    if [ "$mode" = off ]; then
      printf '[monitor]\ndormant_after = "0s"\nrate_factor = 0\nlearning_period = "0s"\n' >> "$DATA/keymgr.toml"
    else
      printf '[limits]\ntoken_sign_rate = 1000000\ntoken_sign_burst = 1000000\n' >> "$DATA/keymgr.toml"
    fi
    stop_server; start_server
    if [ "$mode" = off ]; then pol='{"sign_rate":0,"sign_burst":0,"max_signatures":0}'
    else pol='{"sign_rate":1000000,"sign_burst":1000000,"max_signatures":1000000000}'; fi
    api PATCH /v1/keysets/es256 "$ADMIN" "{\"policy\":$pol}" >/dev/null
    # A first signature through the new process (first-seen values, the dormant check's ledger read).
    api POST /v1/keysets/es256/sign "$ISSUER" '{"claims":{"sub":"u"},"ttl":300}' >/dev/null
    log "sign ES256, monitoring $mode (pair $r): wrk -t2 -c64 -d$DUR"
    cpu0=$(awk '{print $14 + $15}' "/proc/$SPID/stat")
    wrk -t2 -c64 -d"$DUR" --latency -s "$ROOT/bench/sign.lua" "http://127.0.0.1:$PORT/v1/keysets/es256/sign" -- "$ISSUER" \
      > "$RAW/wrk_signmon_${mode}_r$r.txt" 2>&1 || true
    echo "CPU mode=$mode pair=$r ticks=$(( $(awk '{print $14 + $15}' "/proc/$SPID/stat") - cpu0 )) hz=$(getconf CLK_TCK)" \
      >> "$RAW/wrk_signmon_${mode}_r$r.txt"
    grep -E 'Requests/sec|Non-2xx|Socket' "$RAW/wrk_signmon_${mode}_r$r.txt" >&2 || true
  done
done
api PATCH /v1/keysets/es256 "$ADMIN" '{"policy":{"sign_rate":0,"sign_burst":0,"max_signatures":0}}' >/dev/null
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
# ------------------------------------------------------------------ 5. cluster (issue 13)
if want cluster; then
stop_server  # the other sections' server: its CPU stays out of these figures
CL=$WORK/cluster; mkdir -p "$CL"
CPORT=${BENCH_CLUSTER_PORT:-18490}
CONNS=${BENCH_CLUSTER_CONNS:-64}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
# Not under $WORK (0700): the postgres OS user must reach the socket directory.
PGDIR=$(mktemp -d /tmp/km-bench-pg.XXXXXX)
PGURL=$("$ROOT/scripts/pg.sh" start "$PGDIR")
pg_as() { if [ "$(id -u)" = 0 ]; then (cd "$PGDIR" && runuser -u postgres -- "$@"); else (cd "$PGDIR" && "$@"); fi; }
if [ "${BENCH_PG_FSYNC:-on}" = on ]; then
  # pg.sh runs test clusters with fsync off; durable figures need it on (pg.sh's other settings kept).
  pg_as "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/pg.log" -w -t 60 -m fast restart \
    -o "-k '$PGDIR' -c listen_addresses='' -c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB" \
    >/dev/null
fi
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGDIR" -U postgres)
{
  echo "pg_server=$("${PSQL[@]}" -d postgres -tAc 'SHOW server_version')"
  echo "pg_fsync=$("${PSQL[@]}" -d postgres -tAc 'SHOW fsync')"
  echo "pg_synchronous_commit=$("${PSQL[@]}" -d postgres -tAc 'SHOW synchronous_commit')"
  echo "pg_wal_sync_method=$("${PSQL[@]}" -d postgres -tAc 'SHOW wal_sync_method')"
} >> "$RAW/meta.txt"

# An instance: DIR/keymgr.toml (production defaults except port and paths, no bootstrap keyset:
# es256 is created once through the API), a token directory (its softhsm2.conf and hsm.pin) and a
# database (a PostgreSQL URL with [cluster] instance_id, or DIR/keymgr.db).
cl_config() {  # dir port token_dir [instance_id]
  mkdir -p "$1"
  cat > "$1/keymgr.toml" <<TOML
# bench/run.sh cluster section
[server]
listen = "127.0.0.1"
port = $2
[hsm]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "keymgr"
pin_file = "$3/hsm.pin"
$(if [ -n "${4:-}" ]; then printf '[cluster]\ninstance_id = "%s"' "$4"; else printf '[database]\npath = "%s/keymgr.db"' "$1"; fi)
TOML
}
cl_env() {  # dir token_dir url|"": sets CL_ENV, the command prefix that runs keymgr as that instance
  CL_ENV=(env -u KEYMGR_DATABASE_URL KEYMGR_CONFIG="$1/keymgr.toml" SOFTHSM2_CONF="$2/softhsm2.conf")
  [ -n "$3" ] && CL_ENV+=(KEYMGR_DATABASE_URL="$3")
  return 0
}
cl_start() {  # what dir port (CL_ENV set): starts `keymgr serve`, waits for /healthz; sets CL_PID
  $H startup "$3" "$2/server.log" -- "${CL_ENV[@]}" "$KM" serve > "$2/startup.out" || { tail -20 "$2/server.log" >&2; exit 1; }
  CL_PID=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$2/startup.out"); CL_PIDS+=("$CL_PID")
  if grep -q timeout_s "$2/startup.out"; then log "$1 did not answer /healthz"; tail -20 "$2/server.log" >&2; exit 1; fi
  sed "s/^STARTUP /STARTUP what=$1 /" "$2/startup.out" >> "$RAW/cluster_startup.txt"
  log "$1 up in $(sed -n 's/.*ms=\([0-9.]*\).*/\1/p' "$2/startup.out") ms (pid $CL_PID, port $3)"
}
cl_stop() {  # pid: SIGTERM, SIGKILL after 30 s
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null || true
  local keep=() p; for p in "${CL_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; CL_PIDS=("${keep[@]}")
}
cl_api() {  # port method path token [body]
  curl -sS -f -X "$2" -H "Authorization: Bearer $4" -H 'Content-Type: application/json' \
    ${5:+--data "$5"} "http://127.0.0.1:$1$3"
}
cl_wait_sign() {  # port token: until POST /v1/keysets/es256/sign answers 200 (30 s)
  for _ in $(seq 1 300); do
    cl_api "$1" POST /v1/keysets/es256/sign "$2" '{"claims":{"sub":"u"},"ttl":300}' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "the instance on port $1 does not sign es256 after 30 s"; exit 1
}
cpu_sample() {  # duration label out: CPU per process group during the next `duration` (bench_helper.py cpu); sets CPU_PID
  # keymgr = the running instances, postgres = this cluster (the machine may run other keymgr / PostgreSQL, e.g. CI's)
  rm -f "$CL/cpu.ready"
  $H cpu "$1" "$2" "$CL/cpu.ready" --keymgr "$(IFS=,; echo "${CL_PIDS[*]}")" \
    --postmaster "$(head -1 "$PGDIR/data/postmaster.pid" 2>/dev/null)" > "$3" 2>&1 &
  CPU_PID=$!
  for _ in $(seq 1 200); do [ -e "$CL/cpu.ready" ] && break; sleep 0.05; done  # python's start-up: ~1 s here
}
cl_measure() {  # cfg run token port...: one wrk per instance at once, CONNS split between them; CPU sampled meanwhile
  local cfg=$1 r=$2 tok=$3; shift 3
  local n=$# i=0 c pids=() t=2
  [ "$n" -gt 1 ] && t=1  # 2 wrk threads in all (3 with three instances)
  log "cluster $cfg (run $r): $n x wrk -t$t, $CONNS connections in all, -d$DUR"
  cpu_sample "$DUR" "$cfg" "$RAW/cpu_cluster_${cfg}_r$r.txt"
  pids+=("$CPU_PID")
  for p in "$@"; do
    c=$(( CONNS / n + (i < CONNS % n ? 1 : 0) )); i=$((i + 1))
    wrk -t$t -c$c -d"$DUR" --latency -s "$ROOT/bench/sign.lua" "http://127.0.0.1:$p/v1/keysets/es256/sign" -- "$tok" \
      > "$RAW/wrk_cluster_${cfg}_r${r}_i$i.txt" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  grep -hE 'Requests/sec|Non-2xx|Socket' "$RAW"/wrk_cluster_${cfg}_r${r}_i*.txt >&2 || true
  grep -h 'group=' "$RAW/cpu_cluster_${cfg}_r$r.txt" | grep -v 'cores=0.000' >&2 || true
  sleep 1
}
cl_idle() {  # label: CPU of the running instances with no load (3 s): an idle instance should use ~none
  cpu_sample 4s "$1" "$RAW/cpu_cluster_$1_r1.txt"; wait "$CPU_PID" || true
  grep -h 'group=keymgr' "$RAW/cpu_cluster_$1_r1.txt" >&2 || true
}

# One keymgr on SQLite (the baseline): its own token and data.
SQ=$CL/sqlite; SQPORT=$CPORT
"$ROOT/scripts/init-softhsm.sh" "$SQ" keymgr >/dev/null
cl_config "$SQ" "$SQPORT" "$SQ"
cl_env "$SQ" "$SQ" ""
"${CL_ENV[@]}" "$KM" token create --name bench-admin --role admin --out "$SQ/admin.token" 2>>"$CL/cli.log"
cl_start sqlite_1 "$SQ" "$SQPORT"; SQPID=$CL_PID
SQADMIN=$(cat "$SQ/admin.token")
cl_api "$SQPORT" POST /v1/keysets "$SQADMIN" "{\"name\":\"es256\",\"issuer\":\"http://127.0.0.1:$SQPORT/es256\",\"alg\":\"ES256\"}" >/dev/null
# Through the API: a CLI write to a SQLite ledger while its server runs breaks the server's next append (see above).
SQISSUER=$(cl_api "$SQPORT" POST /v1/tokens "$SQADMIN" '{"name":"bench-issuer","role":"issuer","keysets":["es256"]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
cl_wait_sign "$SQPORT" "$SQISSUER"
cl_measure sqlite1 1 "$SQISSUER" "$SQPORT"
cl_stop "$SQPID"

# Three keymgr on the PostgreSQL database, one SoftHSM2 token directory, each its port and instance_id.
PGH=$CL/pg-hsm
"$ROOT/scripts/init-softhsm.sh" "$PGH" keymgr >/dev/null
PGPORTS=(); PGPIDS=()
for i in 1 2 3; do PGPORTS+=($((CPORT + i))); cl_config "$CL/pg$i" "$((CPORT + i))" "$PGH" "bench-$i"; done
cl_env "$CL/pg1" "$PGH" "$PGURL"
"${CL_ENV[@]}" "$KM" token create --name bench-admin --role admin --out "$CL/admin.token" 2>>"$CL/cli.log"
# One after the other: an instance that enumerates SoftHSM2's file token while another process
# writes it can miss the token (tests/e2e/cluster_test.py); the first one leads.
for i in 1 2 3; do
  cl_env "$CL/pg$i" "$PGH" "$PGURL"
  cl_start "pg_$i" "$CL/pg$i" "${PGPORTS[$((i - 1))]}"; PGPIDS+=("$CL_PID")
done
PGADMIN=$(cat "$CL/admin.token")
cl_api "${PGPORTS[0]}" POST /v1/keysets "$PGADMIN" \
  "{\"name\":\"es256\",\"issuer\":\"http://127.0.0.1:${PGPORTS[0]}/es256\",\"alg\":\"ES256\"}" >/dev/null
# The CLI against the shared database while the instances run (PostgreSQL: every write is a transaction of its own).
cl_env "$CL/pg1" "$PGH" "$PGURL"
"${CL_ENV[@]}" "$KM" token create --name bench-issuer --role issuer --keyset es256 --out "$CL/issuer.token" 2>>"$CL/cli.log"
PGISSUER=$(cat "$CL/issuer.token")
t0=$(date +%s%N)
for i in 1 2 3; do
  cl_wait_sign "${PGPORTS[$((i - 1))]}" "$PGISSUER"
  log "pg_$i signs es256 (created through pg_1, then the issuer token by the CLI; $(( ($(date +%s%N) - t0) / 1000000 )) ms after the token)"
done
sleep 1
cl_idle idle3
cl_measure pg3 1 "$PGISSUER" "${PGPORTS[@]}"
for i in 1 2 3; do
  curl -sS "http://127.0.0.1:${PGPORTS[$((i - 1))]}/metrics" 2>/dev/null | grep -E '^keymgr_leader ' |
    sed "s/^/METRIC instance=pg_$i /" >> "$RAW/cluster_startup.txt" || true
done
cl_stop "${PGPIDS[2]}"
cl_measure pg2 1 "$PGISSUER" "${PGPORTS[0]}" "${PGPORTS[1]}"
cl_stop "${PGPIDS[1]}"
cl_measure pg1 1 "$PGISSUER" "${PGPORTS[0]}"
cl_stop "${PGPIDS[0]}"

# The SQLite baseline again (the machine is shared: a drift shows as a gap between its two runs).
cl_env "$SQ" "$SQ" ""
cl_start sqlite_1_r2 "$SQ" "$SQPORT"; SQPID=$CL_PID
cl_wait_sign "$SQPORT" "$SQISSUER"
cl_measure sqlite1 2 "$SQISSUER" "$SQPORT"
cl_stop "$SQPID"

# Durable appends into PostgreSQL: through the store (group commit) vs pgbench, each in a database of
# its own, each pair run back to back (the disk's fsync latency drifts with the neighbours' writes).
# Raw: one row per transaction into a plain table with the intake's columns (ledger_pending, ~300
# bytes a row like ledger_bench's entries; primary key only: the intake also has 3 partial indexes).
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench_ledger" -c "CREATE DATABASE bench_raw"
"${PSQL[@]}" -d bench_raw -c "CREATE TABLE ledger_raw(id BIGSERIAL PRIMARY KEY, ts_ms BIGINT NOT NULL, kind TEXT NOT NULL,
  event TEXT NOT NULL, keyset TEXT NOT NULL, kid TEXT NOT NULL, alg TEXT NOT NULL, actor TEXT NOT NULL,
  actor_addr TEXT NOT NULL, jti TEXT NOT NULL, sub TEXT NOT NULL, aud TEXT NOT NULL, iat BIGINT NOT NULL,
  exp BIGINT NOT NULL, token_sha256 TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL)"
cat > "$CL/insert.sql" <<'SQL'
\set n random(1, 1000000000)
INSERT INTO ledger_raw(ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp,
  token_sha256, outcome, reason, detail)
VALUES (1795000000000 + :n, 'sign', 'sign', 'keyset-' || (:n % 10), md5(:n::text) || 'AbCdEfGhIjK', 'ES256',
  'svc-' || (:n % 20), '10.0.' || (:n % 256) || '.' || (:n % 253), substr(md5((:n + 1)::text), 1, 22),
  'user-' || (100000 + :n % 10000), 'https://api' || (:n % 5) || '.example.com', 1795000000 + :n % 1000,
  1795000900 + :n % 1000, md5((:n + 2)::text) || md5((:n + 3)::text), 'ok', '', '{}');
SQL
# CLSECS, not APPSECS: pgbench's 64 backends take ~2 s to connect here, and their first transactions load caches.
for t in 1 64; do
  log "durable appends into PostgreSQL through the store: ledger_bench --url --threads $t (${CLSECS}s)"
  [ "$t" = 64 ] && cpu_sample "${CLSECS}s" append64 "$RAW/cpu_cluster_append64_r1.txt"
  "$BUILD/db/ledger_bench" --url "${PGURL/\/keymgr_test\?/\/bench_ledger?}" --threads "$t" --append-secs "$CLSECS" \
    >> "$RAW/cluster_ledger_pg.txt" 2>> "$RAW/cluster_ledger_pg.err" || log "ledger_bench --url failed"
  wait
  grep "^RESULT append backend=postgresql threads=$t " "$RAW/cluster_ledger_pg.txt" >&2 || true
  log "raw PostgreSQL: pgbench -c$t, one-row INSERT per transaction (${CLSECS}s)"
  [ "$t" = 64 ] && cpu_sample "${CLSECS}s" pgbench64 "$RAW/cpu_cluster_pgbench64_r1.txt"
  "$PGBIN/pgbench" -n -M prepared -f "$CL/insert.sql" -c "$t" -j "$(( t > 1 ? 2 : 1 ))" -T "$CLSECS" \
    -h "$PGDIR" -U postgres bench_raw > "$RAW/pgbench_c$t.txt" 2>&1 || log "pgbench -c$t failed"
  wait
  grep -E '^tps|^latency average|failed' "$RAW/pgbench_c$t.txt" >&2 || true
done
echo "pg_raw_row_bytes=$("${PSQL[@]}" -d bench_raw -tAc 'SELECT round(avg(pg_column_size(r.*))) FROM ledger_raw r')" >> "$RAW/meta.txt"
echo "pg_intake_row_bytes=$("${PSQL[@]}" -d bench_ledger -tAc 'SELECT round(avg(pg_column_size(r.*))) FROM ledger_pending r')" >> "$RAW/meta.txt"
if [ "${BENCH_KEEP:-0}" != 1 ]; then "$ROOT/scripts/pg.sh" stop "$PGDIR"; PGDIR=""; fi

fi
# ------------------------------------------------------------------ report
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/meta.txt"
$H report "$RAW" "$ROOT/bench/results/latest.json" "$ROOT/bench/results/latest.md"
log "raw outputs in $RAW"
