#!/usr/bin/python3
"""Three keymgr instances (A, B, C) on one PostgreSQL schema and ONE SoftHSM2 token
(docs/deployment.md: leader lease, fencing, change propagation), lease_ttl = 2s, change_poll_ms = 5000
(so that every propagation within 1 s below is the work of the change notices, LISTEN/NOTIFY; the
poll is only the backstop):

1. within 5 s exactly one instance reports keymgr_leader 1 (the others 0); /readyz is 200 on all
   three (followers included: the load balancer's health check);
2. a keyset created through a follower signs on the other two, and all three serve the same JWKS,
   within 1 s (measured; expected one notice + one reload, tens of ms);
3. 8 threads x 40 signs round-robin over the three: every answer 200; a sample of the tokens
   verifies through a different instance (signature and provenance);
4. rotate through B: the new key is in A's and C's JWKS within 1 s; an API token revoked through C
   is refused by A and B within 1 s;
5. compromise the active key through C while A, B (and C) keep signing: no instance returns a
   token with the compromised kid for a request sent after the compromise returned (the store's
   sign-time rule), no instance goes back to that kid once it served the successor, the key leaves
   every JWKS, every instance verifies an old token of that key as compromised, and in the ledger
   no signature with that key follows its key_compromised entry;
6. SIGSTOP the leader: another leads within lease_ttl*4/3 + 1.5 s while the other two keep signing
   (every answer 200); SIGCONT: within 3 s the old leader reports keymgr_leader 0 and exactly one
   leads (keymgr_stale_leader_refusals_total is printed);
7. SIGKILL the leader: another leads within lease_ttl*4/3 + 1.5 s, the other two keep signing;
   the killed one restarts on its port as a follower; signing works on all three;
7d. PostgreSQL (a private cluster of this test) stopped for 2 s and restarted while all three sign:
   only 200s and fail-closed 503s (ledger_unavailable / database_unavailable), no token in a
   refusal, every instance signs again by itself, one leader again; step 8 then finds every
   received token in the ledger exactly once;
7c. KM_CLUSTER_KILLS (10) times: SIGKILL the leader while it handles a rotate (0-40 ms after the
   call), restart it: another leads, and within 30 s there is no unfinished generation ("generating"
   row) and the token's private keys are exactly the key rows' (no orphan HSM object, no row
   without its object: pkcs11-tool outside keymgr); the rotation either finished or was undone
   (a 200 answer means finished); at most one active key; the others keep signing;
8. once integrated (no entry with seq 0): every token a client received is in the ledger exactly
   once (by jti, with its kid), no signature follows its key's key_compromised entry, seqs are
   dense 1..N, at most one active key per keyset (on every
   instance), GET /v1/audit/verify is ok and `keymgr audit verify` exits 0.

With HSM mode "p11kit" the three instances reach the one token through `p11-kit server` and
p11-kit-client.so (a network HSM stand-in; keysets are ES256, which the remoting offers — EdDSA and
RSA-PSS it does not, and the audit key falls back to ES256), and one more step runs before 8:
7b. (p11kit mode) the HSM goes away (p11-kit server killed): every instance answers signs 503 and /readyz 503;
   it comes back: every instance signs again by itself (re-initialising the module) within 15 s.

usage: cluster_test.py KEYMGR_BINARY SOURCE_DIR [softhsm|p11kit]
Skips (exit 77) without KEYMGR_TEST_PG_URL; fails instead with KEYMGR_TEST_REQUIRE_PG=1.
KM_E2E_KEEP=1 keeps the instances' directories and the token directory.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import pgtest  # noqa: E402
from harness import Keymgr, P11KitServer, make_token_dir  # noqa: E402

binary, source_dir = sys.argv[1], sys.argv[2]
HSM_MODE = sys.argv[3] if len(sys.argv) > 3 else "softhsm"
HSM_SERVER = [None]  # the P11KitServer in p11kit mode
HSM_DIR = [None]
KILLS = int(os.environ.get("KM_CLUSTER_KILLS", "10"))
LEASE_TTL_S = 2.0
CHANGE_POLL_MS = 5000
# Under a sanitizer (scripts/test.sh's asan pass: a Debug build several times slower) the bounds
# that include CPU work get more room; the lease arithmetic itself does not change.
SLOW = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
TAKEOVER_BOUND_S = LEASE_TTL_S * 4 / 3 + (3.5 if SLOW else 1.5)
PROPAGATION_BOUND_S = 3.0 if SLOW else 1.0
CONFIG = {"cluster": f'lease_ttl = "{int(LEASE_TTL_S)}s"\nchange_poll_ms = {CHANGE_POLL_MS}\n',
          "ledger": 'checkpoint_interval = "1s"\nintegrate_max_delay = "1s"\n'}
KEYSET = "cl"

failures = []
measured = []   # (what, value): every number this run measured
step_failed = {}  # step -> number of failed expectations
step_names = {}
current = ["setup"]
started = time.monotonic()


def step(n, title):
    current[0] = n
    step_names[n] = title
    step_failed.setdefault(n, 0)
    print(f"\n=== step {n}: {title} ({time.monotonic() - started:.1f} s)", flush=True)


def expect(cond, what):
    if not cond:
        failures.append(f"[step {current[0]}] {what}")
        step_failed[current[0]] = step_failed.get(current[0], 0) + 1
        print(f"FAIL [step {current[0]}]:", what, flush=True)
    return cond


def measure(what, value, fmt="{:.3f} s"):
    text = fmt.format(value) if isinstance(value, (int, float)) else str(value)
    measured.append((f"step {current[0]}: {what}", text))
    print(f"measured: {what}: {text}", flush=True)


def info(what):
    print("  " + what, flush=True)


# ------------------------------------------------------------------------------ HTTP and metrics
def get_text(km, path, timeout=10):
    try:
        with urllib.request.urlopen(km.base + path, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def metrics(km, timeout=1.0):
    """{"name{labels}": value} of GET /metrics, or None when the instance does not answer."""
    try:
        status, text = get_text(km, "/metrics", timeout=timeout)
    except (OSError, ValueError):
        return None
    if status != 200:
        return None
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\S+)\s+(\S+)$", line)
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


def metric(m, name):
    """Sum of the series named `name` (any labels); None when absent or m is None."""
    if m is None:
        return None
    vals = [v for k, v in m.items() if k == name or k.startswith(name + "{")]
    return sum(vals) if vals else None


def leader_value(km, timeout=1.0):
    v = metric(metrics(km, timeout), "keymgr_leader")
    return None if v is None else int(v)


def leaders(insts, skip=()):
    """{name: keymgr_leader (0/1/None)} of every instance not in skip."""
    return {n: leader_value(km) for n, km in insts.items() if n not in skip}


def cluster_counters(km):
    m = metrics(km, timeout=3)
    names = ("keymgr_leader", "keymgr_stale_leader_refusals_total", "keymgr_leadership_changes_total",
             "keymgr_keyset_reloads_total")
    return {n.replace("keymgr_", ""): metric(m, n) for n in names}


def sign(km, issuer, keyset, sub, timeout=10):
    return km.request("POST", f"/v1/keysets/{keyset}/sign", issuer, {"claims": {"sub": sub}, "ttl": 3600},
                      timeout=timeout)


def err_of(body):
    return body.get("error") if isinstance(body, dict) else None


def jwks_kids(km, keyset, timeout=5):
    status, body = km.request("GET", f"/v1/keysets/{keyset}/jwks.json", timeout=timeout)
    if status != 200 or not isinstance(body, dict):
        return status, None
    return status, sorted(body.get("keys", []), key=lambda k: k.get("kid", ""))


def verify(km, auditor, keyset, token):
    status, body = km.request("POST", f"/v1/keysets/{keyset}/verify", auditor, {"token": token})
    checks = {c["check"]: (c["ok"], c["detail"]) for c in body.get("checks", [])} if isinstance(body, dict) else {}
    return status, body, checks


def log_lines(km, pattern=r"\b(warn|warning|error|critical)\b|leadership|stale|refus", n=40):
    lines = [ln for ln in km.log().splitlines() if re.search(pattern, ln, re.I)]
    return "\n      ".join(lines[-n:])


PG_URL = [None]
PG_DIR = [None]


def pg_sh(cmd, d):
    return pgtest.pg_sh(source_dir, cmd, d)


def pg_waits():
    """Evidence when leadership stalls: sessions of this database waiting on a lock or idle inside a
    transaction, with who blocks them (pg_stat_activity)."""
    try:
        return pgtest.psql(PG_URL[0], """
            SELECT a.pid, a.state, coalesce(a.wait_event_type || ':' || a.wait_event, '-'),
                   round(extract(epoch FROM now() - a.xact_start)::numeric, 2) AS xact_s,
                   pg_blocking_pids(a.pid), left(regexp_replace(a.query, '[[:space:]]+', ' ', 'g'), 140)
            FROM pg_stat_activity a
            WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
              AND (a.wait_event_type = 'Lock' OR a.state LIKE 'idle in transaction%'
                   OR a.pid IN (SELECT unnest(pg_blocking_pids(b.pid)) FROM pg_stat_activity b))
            ORDER BY a.xact_start""").strip().replace("\n", "\n      ") or "(none)"
    except Exception as e:  # noqa: BLE001
        return f"(pg_stat_activity not readable: {e})"


def leadership_series(km):
    """The keymgr_leadership_changes_total series by label, e.g. {'to="leader"': 2.0}."""
    m = metrics(km, timeout=3) or {}
    return {k[len("keymgr_leadership_changes_total"):].strip("{}") or "-": v for k, v in m.items()
            if k.startswith("keymgr_leadership_changes_total")}


class LeaderMonitor:
    """Samples keymgr_leader of some instances every 100 ms on its own thread: after a takeover,
    how often did the live instances report no leader or more than one (a flapping lease)?"""

    def __init__(self, insts, names):
        self.insts, self.names = insts, names
        self.samples = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        self.pg = None
        while not self.stop_ev.is_set():
            t = time.monotonic()
            v = {n: leader_value(self.insts[n]) for n in self.names}
            self.samples.append((t, v))
            if self.pg is None and list(v.values()).count(1) == 0:
                self.pg = pg_waits()  # the first sample without a leader: who waits on what
            self.stop_ev.wait(0.1)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.thread.join()
        none = [(round(t, 2), v) for t, v in self.samples if list(v.values()).count(1) == 0]
        many = [(round(t, 2), v) for t, v in self.samples if list(v.values()).count(1) > 1]
        return len(self.samples), none, many


class Received:
    """Every token a client was answered 200 with: (instance, jti, kid, token, keyset)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = []

    def add(self, inst, body, keyset):
        with self.lock:
            self.tokens.append({"inst": inst, "jti": body["jti"], "kid": body["kid"], "token": body["token"],
                                "keyset": keyset})


received = Received()


class Signers:
    """Threads that sign continuously on given instances until stop(); every attempt recorded as
    (instance, t_send, t_recv, status, error, kid, body) with time.monotonic() times."""

    def __init__(self, insts, names_threads, issuer, keyset, prefix):
        self.insts, self.issuer, self.keyset, self.prefix = insts, issuer, keyset, prefix
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.results = []
        self.threads = [threading.Thread(target=self.run, args=(n, i)) for n, k in names_threads for i in range(k)]

    def run(self, name, idx):
        km = self.insts[name]
        i = 0
        while not self.stop_ev.is_set():
            i += 1
            ts = time.monotonic()
            try:
                status, body = sign(km, self.issuer, self.keyset, f"{self.prefix}-{name}{idx}-{i}")
            except Exception as e:  # noqa: BLE001 (a transport error is a finding)
                status, body = None, repr(e)
            tr = time.monotonic()
            kid = body.get("kid") if status == 200 and isinstance(body, dict) else None
            if status == 200 and isinstance(body, dict) and "token" in body:
                received.add(name, body, self.keyset)
            with self.lock:
                self.results.append((name, ts, tr, status, err_of(body), kid, body))
            if status != 200:
                time.sleep(0.02)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()
        return self.results

    def summary(self, results=None):
        out = {}
        for name, _, _, status, err, _, _ in (results if results is not None else self.results):
            key = f"{name}:{status}" + (f"/{err}" if err else "")
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))


# --------------------------------------------------------------------------------- ledger helpers
def ledger_entries(km, auditor):
    out, cursor = [], None
    for _ in range(10000):
        q = "limit=1000" + (f"&cursor={cursor}" if cursor is not None else "")
        status, body = km.request("GET", "/v1/audit/ledger?" + q, auditor, timeout=30)
        if status != 200:
            raise RuntimeError(f"GET /v1/audit/ledger?{q}: {status} {body}")
        out += body["entries"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise RuntimeError("ledger pagination does not end")


def checkpoint_size(km):
    try:
        status, text = get_text(km, "/v1/audit/checkpoint", timeout=5)
    except OSError:
        return None
    if status == 404:
        return 0
    if status != 200:
        return None
    return int(text.split("\n")[1])


def lifecycle_of(km, auditor, keyset):
    """The keyset's lifecycle ledger entries, oldest first, as short tuples (evidence for a report)."""
    status, body = km.request("GET", f"/v1/audit/ledger?keyset={keyset}&kind=lifecycle&limit=100", auditor)
    if status != 200:
        return f"GET /v1/audit/ledger: {status} {body}"
    return [(e["seq"], e["ts_ms"], e["event"], e["kid"], e["actor"], e["outcome"], e["reason"][:60])
            for e in reversed(body["entries"])]


def check_one_active(insts, auditor, keyset, what):
    """At most one key of `keyset` is active on every instance; on a violation prints the keys and
    the keyset's lifecycle ledger entries. Returns {instance: [(kid, state)]}."""
    out = {}
    for name, km in insts.items():
        status, ks = km.request("GET", f"/v1/keysets/{keyset}", auditor)
        if not expect(status == 200, f"{what}: GET /v1/keysets/{keyset} on {name}: {status} {ks}"):
            continue
        out[name] = [(x["kid"], x["state"]) for x in ks["keys"]]
        active = [k for k, st in out[name] if st == "active"]
        if not expect(len(active) <= 1, f"{what}: {name}: keyset {keyset} has {len(active)} active keys: {active}; "
                                        f"keys {out[name]}"):
            info(f"{keyset} lifecycle entries (seq, ts_ms, event, kid, actor, outcome, reason):\n      " +
                 "\n      ".join(map(str, lifecycle_of(km, auditor, keyset))))
    return out


def wait_for(pred, timeout, interval=0.02):
    """Polls pred() until it returns a truthy value; returns (value, seconds) or (None, timeout)."""
    t0 = time.monotonic()
    while True:
        v = pred()
        if v:
            return v, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return None, time.monotonic() - t0
        time.sleep(interval)


def hsm_objects():
    """CKA_IDs (hex) of every private key object on the shared token, read with pkcs11-tool outside
    keymgr (through the p11-kit client in p11kit mode)."""
    hsm_dir = HSM_DIR[0]
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(hsm_dir, "softhsm2.conf"))
    module = "/usr/lib/softhsm/libsofthsm2.so"
    if HSM_SERVER[0] is not None:
        module = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
        env["P11_KIT_SERVER_ADDRESS"] = HSM_SERVER[0].address
    with open(os.path.join(hsm_dir, "hsm.pin")) as f:
        pin = f.read().strip()
    r = subprocess.run(["pkcs11-tool", "--module", module, "--token-label", "keymgr", "--login", "--pin", pin,
                        "--list-objects", "--type", "privkey"], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"pkcs11-tool --list-objects: {r.returncode} {r.stderr[-500:]}")
    return {m.group(1).lower() for m in re.finditer(r"^\s*ID:\s*([0-9a-fA-F]+)", r.stdout, re.M)}


def key_rows(url):
    """(hsm_id, state, keyset) of every key row, straight from the database."""
    out = pgtest.psql(url, "SELECT k.hsm_id, k.state, s.name FROM keys k JOIN keysets s ON s.id = k.keyset_id "
                           "UNION ALL SELECT hsm_id, 'audit', '' FROM audit_keys")
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def kill_mid_rotation(insts, url, issuer, ops, auditor):
    step("7c", f"SIGKILL the instance rotating (the leader) mid-rotation, {KILLS} times")
    outcomes = {}
    settle_times = []
    mid = {"n": 0}  # kills that left an unfinished generation or an HSM object without a row
    sg = None
    for it in range(1, KILLS + 1):
        lv = leaders(insts)
        L = next((n for n, v in lv.items() if v == 1), None)
        if not expect(L is not None, f"kill {it}: no leader: {lv}"):
            return
        rest = [n for n in insts if n != L]
        sg = Signers(insts, [(n, 1) for n in rest], issuer, KEYSET, f"k{it}").start()
        before = {r[0] for r in key_rows(url)}
        answer = {}

        def rotate(km=insts[L]):
            try:
                answer["r"] = km.request("POST", f"/v1/keysets/{KEYSET}/rotate", ops, timeout=10)
            except Exception as e:  # noqa: BLE001 (the instance dies under it)
                answer["r"] = (None, repr(e))
        th = threading.Thread(target=rotate)
        th.start()
        # Kill somewhere before, in or after the key generation (SoftHSM2: ~5-30 ms; the whole
        # rotate call ~20-100 ms on this machine): spread over the kills.
        time.sleep(0.005 + 0.1 * (it - 1) / max(1, KILLS - 1) * random.uniform(0.5, 1.0))
        insts[L].kill()
        t_kill = time.monotonic()
        th.join()
        # What the kill left behind, before anyone repairs it.
        left_rows = key_rows(url)
        left_gen = [r for r in left_rows if r[1] == "generating"]
        left_orphans = hsm_objects() - {r[0].lower() for r in left_rows if r[1] != "destroyed"}
        if left_gen or left_orphans:
            mid["n"] += 1
        got_leader, _ = wait_for(lambda: 1 in leaders(insts, skip=(L,)).values(), TAKEOVER_BOUND_S + 5, 0.05)
        expect(got_leader, f"kill {it}: nobody leads {TAKEOVER_BOUND_S + 5:.1f} s after SIGKILL of {L}")
        try:
            insts[L].start(timeout=60)
        except Exception as e:  # noqa: BLE001
            expect(False, f"kill {it}: restart of {L} failed: {e}")
            sg.stop()
            return

        def settled():
            rows = key_rows(url)
            generating = [r for r in rows if r[1] == "generating"]
            live_ids = {r[0].lower() for r in rows if r[1] != "destroyed"}
            objs = hsm_objects()
            return (not generating and objs == live_ids), (generating, objs - live_ids, live_ids - objs)

        ok, waited = wait_for(lambda: settled()[0], 30, 0.25)
        why = settled()[1]
        if expect(ok, f"kill {it} ({L}): 30 s later still unfinished generations {why[0]}, HSM objects without a "
                      f"row {why[1]}, rows without an HSM object {why[2]}"):
            settle_times.append(time.monotonic() - t_kill)
        new_rows = [r for r in key_rows(url) if r[0] not in before]
        outcome = "finished" if new_rows else "undone"
        if answer.get("r", (None,))[0] == 200:
            expect(new_rows, f"kill {it}: the rotate answered 200 but no new key row exists")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        check_one_active(insts, auditor, KEYSET, f"after kill {it}")
        res = sg.stop()
        bad = [(n, s, e) for n, _, _, s, e, _, _ in res if s not in (200,) and not (s == 503 and e == "key_state_changed")]
        expect(not bad, f"kill {it}: signs on {rest} failed: {bad[:5]}")
        info(f"kill {it}: leader {L}, rotate answer {str(answer.get('r'))[:100]}, left behind: "
             f"{len(left_gen)} generating rows, {len(left_orphans)} HSM objects without a row; rotation {outcome}, "
             f"signs {sg.summary()}")
    measure(f"kills mid-rotation: rotations finished / undone", f"{outcomes.get('finished', 0)} / "
            f"{outcomes.get('undone', 0)}", "{}")
    measure("kills that left an unfinished generation behind (repaired by the new leader)", mid["n"], "{}")
    if settle_times:
        measure("SIGKILL -> no unfinished generation and HSM objects == key rows (max over kills)", max(settle_times))


def pg_restart_under_load(insts, issuer):
    step("7d", "PostgreSQL stopped for 2 s and restarted while all three sign")
    sg = Signers(insts, [(n, 2) for n in insts], issuer, KEYSET, "pgr").start()
    time.sleep(1.0)
    t_down = time.monotonic()
    pg_sh("pause", PG_DIR[0])
    time.sleep(2.0)
    pg_sh("resume", PG_DIR[0])
    t_up = time.monotonic()
    firsts = {}

    def all_back():
        with sg.lock:
            for n, ts, _, st, *_ in sg.results:
                if st == 200 and ts > t_up and n not in firsts:
                    firsts[n] = ts - t_up
        return len(firsts) == len(insts)
    back, _ = wait_for(all_back, 20, 0.1)
    time.sleep(0.5)
    res = sg.stop()
    expect(back, f"not every instance signed again within 20 s of PostgreSQL's return: first 200 after it {firsts}; "
                 f"{sg.summary()}")
    for n, t in sorted(firsts.items()):
        measure(f"PostgreSQL back -> first 200 sign on {n}", t)
    # While it was down: refusals only, and only the fail-closed ones (no token without its record).
    bad = [(n, round(ts - t_down, 2), st, e, str(b)[:160]) for n, ts, _, st, e, _, b in res
           if st != 200 and not (st == 503 and e in ("ledger_unavailable", "database_unavailable", "key_state_changed"))]
    expect(not bad, f"answers other than 200 / 503 ledger_unavailable|database_unavailable during the restart: "
                    f"{bad[:5]}")
    leaked = [(n, st) for n, _, _, st, _, _, b in res if st != 200 and isinstance(b, dict) and "token" in b]
    expect(not leaked, f"refused answers carrying a token: {leaked[:5]}")
    info(f"signs across the restart (instance:status/error -> count): {sg.summary()}")
    got, dt = wait_for(lambda: list(leaders(insts).values()).count(1) == 1, 15, 0.1)
    if expect(got, f"15 s after PostgreSQL's return: keymgr_leader {leaders(insts)}"):
        measure("PostgreSQL back -> exactly one leader", time.monotonic() - t_up)


def hsm_away_and_back(insts, issuer):
    step("7b", "the network HSM goes away and comes back")
    server = HSM_SERVER[0]
    server.stop()
    t_down = time.monotonic()
    answers = {}
    for n, km in insts.items():
        got, _ = wait_for(lambda km=km: sign(km, issuer, KEYSET, "hsm-down")[0] == 503, 10, 0.05)
        status, b = sign(km, issuer, KEYSET, f"hsm-down-{n}")
        answers[n] = (status, err_of(b))
        expect(got and status == 503, f"{n} signs while the HSM is away: {status} {b}")
        rz, _ = get_text(km, "/readyz")
        expect(rz == 503, f"{n} /readyz while the HSM is away: {rz}")
    info(f"signs while the HSM was away: {answers}")
    measure("HSM away -> every instance answers 503", time.monotonic() - t_down)
    server.start()
    t_up = time.monotonic()
    for n, km in insts.items():
        got, _ = wait_for(lambda km=km: sign(km, issuer, KEYSET, "hsm-back")[0] == 200, 15, 0.05)
        if expect(got, f"{n} does not sign 15 s after the HSM came back"):
            measure(f"HSM back -> {n} signs again", time.monotonic() - t_up)
    for n, km in insts.items():
        status, b = sign(km, issuer, KEYSET, f"hsm-back-{n}")
        expect(status == 200, f"{n} after the HSM came back: {status} {b}")


# ------------------------------------------------------------------------------------------ main
def main(insts, url):
    A, B, C = insts["A"], insts["B"], insts["C"]

    # ------------------------------------------------------------------ start
    errors = {}

    def start(n):
        try:
            insts[n].start(timeout=60)
        except Exception as e:  # noqa: BLE001
            errors[n] = str(e)

    # One after the other (A first: it leads, creates the bootstrap keyset and the audit key in the
    # token). Starting them together sometimes failed in SoftHSM2's file store: an instance that
    # enumerated the token while another process was writing it found "no initialized token with
    # label 'keymgr'" (a property of sharing one SoftHSM2 file token between processes, not of
    # keymgr; a network HSM behind p11-kit has one process owning the token).
    for n in insts:
        start(n)
    if not expect(not errors, f"instances did not start: {errors}"):
        return
    t_up = time.monotonic()
    info("instances: " + ", ".join(f"{n}={km.base} (pid {km.proc.pid})" for n, km in insts.items()))

    # ------------------------------------------------------------------ 1
    step(1, "exactly one leader within 5 s")
    last = {}

    def one_leader():
        last.clear()
        last.update(leaders(insts))
        vals = list(last.values())
        return vals.count(1) == 1 and vals.count(0) == 2

    ok, _ = wait_for(one_leader, 5, 0.05)
    elapsed = time.monotonic() - t_up
    expect(ok, f"no single leader within 5 s of start: keymgr_leader {last}")
    if not ok:
        return
    leader = next(n for n, v in last.items() if v == 1)
    measure("time from all /healthz 200 to exactly one keymgr_leader 1", elapsed)
    info(f"leader: {leader}; keymgr_leader: {last}")
    # The load balancer's health check: ready on the followers too (docs/deployment.md).
    for n, km in insts.items():
        got, _ = wait_for(lambda km=km: get_text(km, "/readyz")[0] == 200, 10, 0.1)
        expect(got, f"/readyz on {n} ({'leader' if n == leader else 'follower'}): {get_text(km, '/readyz')}")

    admin = A.token("admin", "admin")
    ops = A.token("ops", "ops")
    auditor = A.token("auditor", "auditor")

    # ------------------------------------------------------------------ 2
    step(2, "keyset created through a follower is served by the others")
    follower = next(n for n in insts if n != leader)
    others = [n for n in insts if n != follower]
    F = insts[follower]
    status, body = F.request("POST", "/v1/keysets", ops, {"name": KEYSET, "issuer": F.base + "/" + KEYSET})
    t_created = time.monotonic()
    if not expect(status == 201, f"create keyset {KEYSET} through follower {follower}: {status} {body}"):
        return
    status, tok = F.request("POST", "/v1/tokens", admin, {"name": "cl-issuer", "role": "issuer", "keysets": [KEYSET]})
    if not expect(status == 201, f"create issuer token through {follower}: {status} {tok}"):
        return
    issuer = tok["token"]
    sign_ok_at = {}
    jwks_same_at = [None]
    attempts = {n: [] for n in others}
    deadline = t_created + 10
    last_jwks = {}
    while time.monotonic() < deadline and (len(sign_ok_at) < len(others) or jwks_same_at[0] is None):
        for n in others:
            if n in sign_ok_at:
                continue
            status, body = sign(insts[n], issuer, KEYSET, f"prop-{n}")
            if status == 200:
                sign_ok_at[n] = time.monotonic() - t_created
                received.add(n, body, KEYSET)
            elif len(attempts[n]) < 5 or attempts[n][-1][1:] != (status, err_of(body)):
                attempts[n].append((round(time.monotonic() - t_created, 3), status, err_of(body)))
        if jwks_same_at[0] is None:
            last_jwks = {n: jwks_kids(km, KEYSET) for n, km in insts.items()}
            sets = [v for _, v in last_jwks.values()]
            if all(s is not None and s for s in sets) and all(s == sets[0] for s in sets):
                jwks_same_at[0] = time.monotonic() - t_created
        time.sleep(0.02)
    for n in others:
        expect(n in sign_ok_at, f"signing for {KEYSET} never succeeded on {n} within 10 s; "
                                f"attempts (s, status, error): {attempts[n]}")
        if n in sign_ok_at:
            measure(f"create through {follower} -> first 200 sign on {n}", sign_ok_at[n])
            expect(sign_ok_at[n] <= PROPAGATION_BOUND_S,
                   f"signing on {n} succeeded {sign_ok_at[n]:.3f} s after the create returned on {follower} "
                   f"(bound {PROPAGATION_BOUND_S} s); earlier attempts: {attempts[n]}")
    expect(jwks_same_at[0] is not None,
           f"JWKS of {KEYSET} not identical on all three within 10 s: "
           f"{ {n: (s, [k.get('kid') for k in (v or [])]) for n, (s, v) in last_jwks.items()} }")
    if jwks_same_at[0] is not None:
        measure(f"create through {follower} -> identical JWKS on A, B, C", jwks_same_at[0])
        expect(jwks_same_at[0] <= PROPAGATION_BOUND_S,
               f"JWKS identical only {jwks_same_at[0]:.3f} s after the create (bound {PROPAGATION_BOUND_S} s)")
    if sign_ok_at and jwks_same_at[0] is not None:
        measure("step 2 propagation, max over instances (expected <= 1 s)",
                max(list(sign_ok_at.values()) + [jwks_same_at[0]]))
    for n in others:
        info(f"sign attempts on {n} before the first 200 (s after create, status, error): {attempts[n]}")
    if len(sign_ok_at) < len(others):
        return
    # The new keyset has one active key everywhere (also once the leader's scheduler has seen it).
    time.sleep(max(0.0, t_created + 1.5 - time.monotonic()))
    keys = check_one_active(insts, auditor, KEYSET, "1.5 s after the create")
    info(f"{KEYSET} keys 1.5 s after the create: {keys}")

    # ------------------------------------------------------------------ 3
    step(3, "parallel signing on all three, cross-instance verification")
    names = list(insts)
    results = []
    lock = threading.Lock()

    def worker(t):
        for i in range(40):
            n = names[(t + i) % 3]
            try:
                status, body = sign(insts[n], issuer, KEYSET, f"par-{t}-{i}")
            except Exception as e:  # noqa: BLE001
                status, body = None, repr(e)
            if status == 200 and isinstance(body, dict) and "token" in body:
                received.add(n, body, KEYSET)
            with lock:
                results.append((n, status, body))

    t0 = time.monotonic()
    ws = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    took = time.monotonic() - t0
    bad = [(n, s, str(b)[:200]) for n, s, b in results if s != 200]
    expect(len(results) == 320 and not bad, f"{len(bad)} of {len(results)} parallel signs not 200: {bad[:5]}")
    measure("320 signs (8 threads x 40, round-robin A/B/C)", took, "{:.2f} s")
    measure("parallel signing throughput", 320 / took, "{:.0f} tokens/s")
    good = [(n, b) for n, s, b in results if s == 200]
    kids = {b["kid"] for _, b in good}
    info(f"kids used: {kids}")
    sample = good[::10]
    vbad = []
    for n, b in sample:
        other = names[(names.index(n) + 1) % 3]
        status, body, checks = verify(insts[other], auditor, KEYSET, b["token"])
        if not (status == 200 and body.get("valid") is True and checks.get("provenance", (False,))[0]
                and checks.get("signature", (False,))[0]):
            vbad.append((n, other, status, str(body)[:400]))
    expect(not vbad, f"{len(vbad)} of {len(sample)} tokens did not verify on a different instance: {vbad[:3]}")
    info(f"{len(sample)} tokens verified on a different instance than the one that signed them")

    # ------------------------------------------------------------------ 4
    step(4, "rotate through B; new key in A's and C's JWKS")
    _, before = jwks_kids(B, KEYSET)
    before_kids = {k["kid"] for k in before or []}
    status, body = B.request("POST", f"/v1/keysets/{KEYSET}/rotate", ops)
    t_rot = time.monotonic()
    if not expect(status == 200, f"rotate through B: {status} {body}"):
        return
    new_keys = [k for k in body.get("keys", []) if k["kid"] not in before_kids and k["state"] in
                ("pre-activation", "active")]
    info(f"rotate answer: active_kid {body.get('active_kid')}, keys "
         f"{[(k['kid'], k['state']) for k in body.get('keys', [])]}")
    if not expect(len(new_keys) == 1, f"rotate through B: expected exactly one new published key, got {new_keys}"):
        return
    new_kid = new_keys[0]["kid"]
    active = [k["kid"] for k in body.get("keys", []) if k["state"] == "active"]
    expect(len(active) <= 1, f"rotate answer on B: {len(active)} active keys {active}")
    for n in ("A", "C"):
        got, _ = wait_for(lambda n=n: new_kid in {k["kid"] for k in (jwks_kids(insts[n], KEYSET)[1] or [])}, 10)
        dt = time.monotonic() - t_rot
        if expect(got, f"new key {new_kid} not in {n}'s JWKS within 10 s of the rotate on B"):
            measure(f"rotate on B -> new key in {n}'s JWKS", dt)
            expect(dt <= PROPAGATION_BOUND_S, f"new key reached {n}'s JWKS after {dt:.3f} s (bound {PROPAGATION_BOUND_S} s)")

    # An API token revoked through one instance is refused by the others within 1 s (their
    # authenticator caches hear the notice; the cache's own 1 s expiry is the backstop).
    status, tok = A.request("POST", "/v1/tokens", admin, {"name": "cl-revoked", "role": "auditor"})
    if expect(status in (200, 201), f"create a token through A: {status} {tok}"):
        victim = tok["token"]
        for n in ("A", "B"):  # cached by A and B
            st2, _ = insts[n].request("GET", "/v1/keysets", victim)
            expect(st2 == 200, f"new token on {n}: {st2}")
        status, body = C.request("DELETE", f"/v1/tokens/{tok['id']}", admin)
        t_rev = time.monotonic()
        if expect(status == 200, f"revoke through C: {status} {body}"):
            for n in ("A", "B"):
                got, _ = wait_for(lambda n=n: insts[n].request("GET", "/v1/keysets", victim)[0] == 401, 5, 0.01)
                dt = time.monotonic() - t_rev
                if expect(got, f"revoked token still accepted by {n} 5 s after the revoke on C"):
                    measure(f"revoke on C -> token refused by {n}", dt)
                    expect(dt <= PROPAGATION_BOUND_S, f"revoked token accepted by {n} for {dt:.3f} s "
                                                      f"(bound {PROPAGATION_BOUND_S} s)")

    # ------------------------------------------------------------------ 5
    step(5, "compromise through C while A and B sign")
    status, ks = C.request("GET", f"/v1/keysets/{KEYSET}", ops)
    if not expect(status == 200 and ks.get("active_kid"), f"GET keyset on C: {status} {ks}"):
        return
    bad_kid = ks["active_kid"]
    old_tokens = [t for t in received.tokens if t["kid"] == bad_kid]
    info(f"compromising {bad_kid}; {len(old_tokens)} tokens received so far carry it")
    sg = Signers(insts, [("A", 2), ("B", 2), ("C", 1)], issuer, KEYSET, "comp").start()
    time.sleep(0.5)
    t_call = time.monotonic()
    status, body = C.request("POST", f"/v1/keysets/{KEYSET}/keys/{bad_kid}/compromise", ops,
                             {"reason": "cluster test: key leaked", "suspected_since": int(time.time()) - 600})
    t_ret = time.monotonic()
    ok_call = expect(status == 200, f"compromise through C: {status} {body}")
    measure("compromise call on C took", t_ret - t_call)
    if ok_call:
        st = {k["kid"]: k["state"] for k in body.get("keys", [])}
        info(f"compromise answer: active_kid {body.get('active_kid')}, states {st}")
        expect(st.get(bad_kid) == "compromised", f"compromise answer: {bad_kid} is {st.get(bad_kid)}")
    # JWKS: the key leaves every instance's JWKS.
    for n, km in insts.items():
        got, dt = wait_for(lambda km=km: (lambda s: s[1] is not None and bad_kid not in {k["kid"] for k in s[1]})(
            jwks_kids(km, KEYSET)), 5)
        dt = time.monotonic() - t_ret
        if expect(got, f"compromised key {bad_kid} still in {n}'s JWKS 5 s after the call returned"):
            measure(f"compromise returned -> {bad_kid} gone from {n}'s JWKS", dt)
    remaining = t_ret + 2.0 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    res = sg.stop()
    info(f"signers during the compromise (instance:status/error -> count): {sg.summary()}")
    odd = [(n, s, e, str(b)[:200]) for n, _, _, s, e, _, b in res
           if not (s == 200 or (s == 503 and e == "key_state_changed"))]
    expect(not odd, f"{len(odd)} signs during the compromise answered other than 200 / 503 key_state_changed: "
                    f"{odd[:5]}")
    # Exact on every instance (the sign-time rule in the store, db/signing_admission.h): no token with
    # the compromised kid for a request sent after the compromise returned, whatever the instance's
    # cache said. Tokens of requests sent before may still come back after it (their records were
    # committed before the compromise).
    late_sent = [(n, round(ts - t_ret, 3), round(tr - t_ret, 3)) for n, ts, tr, s, _, kid, _ in res
                 if kid == bad_kid and ts > t_ret]
    expect(not late_sent, f"tokens signed with compromised {bad_kid} for requests sent after the compromise "
                          f"returned (instance, s sent, s returned): {late_sent[:5]}")
    ab_late = [(n, tr - t_ret) for n, _, tr, s, _, kid, _ in res if n in ("A", "B") and kid == bad_kid and tr > t_ret]
    measure("latest token with the compromised kid returned by A/B after the compromise returned (sent before it)",
            max((d for _, d in ab_late), default=0.0))
    stale = sum(1 for n, _, _, s, e, _, _ in res if s == 503 and e == "key_state_changed")
    info(f"tokens with the compromised kid returned after the call returned (sent before): {len(ab_late)}; "
         f"503 key_state_changed answers (a stale cache refused by the store, then reloaded): {stale}")
    # No instance goes back to the compromised kid once it served the successor.
    for n in insts:
        mine = [r for r in res if r[0] == n and r[3] == 200]
        switched = min((tr for _, _, tr, _, _, kid, _ in mine if kid != bad_kid and tr > t_call), default=None)
        if switched is None:
            expect(False, f"{n} never signed with another key than {bad_kid} within 2 s of the compromise")
            continue
        back = [(round(ts - t_ret, 3), round(tr - t_ret, 3)) for _, ts, tr, _, _, kid, _ in mine
                if kid == bad_kid and ts > switched]
        expect(not back, f"{n} signed with compromised {bad_kid} for requests sent after it had already served the "
                         f"successor (s after the compromise returned: sent, returned): {back[:5]}")
        info(f"{n}: first successor token {switched - t_ret:+.3f} s after the compromise returned")
    # On C, the instance that made the change, it is exact.
    c_after = [(round(ts - t_ret, 3), round(tr - t_ret, 3)) for n, ts, tr, s, _, kid, _ in res
               if n == "C" and kid == bad_kid and ts > t_ret]
    expect(not c_after, f"C (where the compromise was made) signed with {bad_kid} for requests sent after the call "
                        f"returned (s: sent, returned): {c_after[:5]}")
    # And afterwards nobody signs with it.
    after = []
    for n, km in insts.items():
        for i in range(3):
            status, b = sign(km, issuer, KEYSET, f"after-comp-{n}-{i}")
            if status == 200:
                received.add(n, b, KEYSET)
            after.append((n, status, err_of(b), b.get("kid") if isinstance(b, dict) else None))
    expect(all(s == 200 and k != bad_kid for _, s, _, k in after),
           f"signs 2 s after the compromise: {after}")
    # Verification of tokens with that kid: compromised on every instance.
    late_tokens = [b for n, _, tr, s, _, kid, b in res if kid == bad_kid and tr > t_ret]
    probe = old_tokens[:1] + late_tokens[-1:]
    for t in probe:
        tokstr = t["token"]
        for n, km in insts.items():
            status, body, checks = verify(km, auditor, KEYSET, tokstr)
            expect(status == 200 and body.get("valid") is False
                   and checks.get("key_state") == (False, "key marked compromised")
                   and checks.get("provenance", (False,))[0] and checks.get("signature", (False,))[0],
                   f"verify on {n} of a token of compromised {bad_kid}: {status} {str(body)[:600]}")
    info(f"verified {len(probe)} tokens of {bad_kid} on A, B, C: key_state 'key marked compromised', "
         f"signature and provenance ok")

    # ------------------------------------------------------------------ 6
    step(6, "SIGSTOP the leader")
    lv = leaders(insts)
    if not expect(list(lv.values()).count(1) == 1, f"before SIGSTOP: keymgr_leader {lv}"):
        return
    L = next(n for n, v in lv.items() if v == 1)
    rest = [n for n in insts if n != L]
    before = cluster_counters(insts[L])
    info(f"leader {L} (pid {insts[L].proc.pid}); counters {before}")
    sg = Signers(insts, [(n, 2) for n in rest], issuer, KEYSET, "stop").start()
    time.sleep(0.3)
    t_stop = time.monotonic()
    insts[L].proc.send_signal(signal.SIGSTOP)
    new_leader = None
    lv = {}
    while time.monotonic() - t_stop < TAKEOVER_BOUND_S + 5:
        lv = leaders(insts, skip=(L,))
        if 1 in lv.values():
            new_leader = next(n for n, v in lv.items() if v == 1)
            break
        time.sleep(0.05)
    takeover = time.monotonic() - t_stop
    if new_leader is None or takeover > TAKEOVER_BOUND_S:
        info(f"database sessions {takeover:.1f} s after SIGSTOP (pid, state, wait, xact s, blocked by, query):\n"
             f"      {pg_waits()}")
        info(f"leadership log lines of {rest}: " + "; ".join(log_lines(insts[n], r"leadership", 6) for n in rest))
    if expect(new_leader is not None, f"no instance took over within {TAKEOVER_BOUND_S + 5:.1f} s of SIGSTOP of "
                                      f"{L}: {lv}"):
        measure(f"SIGSTOP {L} -> {new_leader} reports keymgr_leader 1", takeover)
        expect(takeover <= TAKEOVER_BOUND_S, f"takeover after SIGSTOP took {takeover:.3f} s (bound "
                                             f"{TAKEOVER_BOUND_S:.2f} s)")
    mon = LeaderMonitor(insts, rest).start()
    time.sleep(1.0)  # the new leader works (integrator) while the old one is still stopped
    t_cont = time.monotonic()
    insts[L].proc.send_signal(signal.SIGCONT)
    state = {}

    def settled():
        state.clear()
        state.update(leaders(insts))
        return state.get(L) == 0 and list(state.values()).count(1) == 1

    ok, dt = wait_for(settled, 3, 0.05)
    if expect(ok, f"3 s after SIGCONT of {L}: keymgr_leader {state} (want {L} 0 and exactly one 1)"):
        measure(f"SIGCONT {L} -> {L} reports 0 and exactly one leader", dt)
    time.sleep(0.5)
    res = sg.stop()
    n_s, none, many = mon.stop()
    info(f"keymgr_leader of {rest} sampled every 100 ms from the takeover: {n_s} samples, {len(none)} with no "
         f"leader, {len(many)} with two (s since SIGSTOP): "
         f"{[(round(t - t_stop, 2), v) for t, v in none[:5]]} {[(round(t - t_stop, 2), v) for t, v in many[:5]]}")
    if mon.pg:
        info(f"database sessions at the first sample without a leader:\n      {mon.pg}")
    if new_leader:
        info(f"new leader {new_leader}: keymgr_leadership_changes_total {leadership_series(insts[new_leader])}; "
             f"leadership log lines: {log_lines(insts[new_leader], r'leadership', 10)}")
    bad = [(n, round(ts - t_stop, 2), s, e, str(b)[:200]) for n, ts, _, s, e, _, b in res if s != 200]
    lat = max((tr - ts for _, ts, tr, *_ in res), default=0)
    info(f"signers on {rest} during the stop (instance:status -> count): {sg.summary()}")
    measure(f"slowest sign on {rest} while {L} was stopped", lat)
    expect(res and not bad, f"{len(bad)} of {len(res)} signs on {rest} failed while {L} was stopped: {bad[:5]}")
    after = cluster_counters(insts[L])
    measure(f"keymgr_stale_leader_refusals_total on {L} after SIGCONT",
            after["stale_leader_refusals_total"] if after["stale_leader_refusals_total"] is not None else
            "absent (never incremented = 0)", "{:.0f}")
    info(f"{L} counters after SIGCONT: {after}")
    info(f"{L} leadership log lines: {log_lines(insts[L], r'leadership|stale', 10)}")
    time.sleep(1.0)
    lv = leaders(insts)
    expect(list(lv.values()).count(1) == 1 and lv.get(L) == 0, f"1 s after settling: keymgr_leader {lv}")

    # ------------------------------------------------------------------ 7
    step(7, "SIGKILL the leader, restart it")
    lv = leaders(insts)
    if not expect(list(lv.values()).count(1) == 1, f"before SIGKILL: keymgr_leader {lv}"):
        return
    K = next(n for n, v in lv.items() if v == 1)
    rest = [n for n in insts if n != K]
    info(f"leader {K} (pid {insts[K].proc.pid})")
    sg = Signers(insts, [(n, 2) for n in rest], issuer, KEYSET, "kill").start()
    time.sleep(0.3)
    t_kill = time.monotonic()
    insts[K].kill()
    new_leader = None
    while time.monotonic() - t_kill < TAKEOVER_BOUND_S + 5:
        lv = leaders(insts, skip=(K,))
        if 1 in lv.values():
            new_leader = next(n for n, v in lv.items() if v == 1)
            break
        time.sleep(0.05)
    takeover = time.monotonic() - t_kill
    if new_leader is None or takeover > TAKEOVER_BOUND_S:
        info(f"database sessions {takeover:.1f} s after SIGKILL (pid, state, wait, xact s, blocked by, query):\n"
             f"      {pg_waits()}")
    if expect(new_leader is not None, f"no instance took over within {TAKEOVER_BOUND_S + 5:.1f} s of SIGKILL of "
                                      f"{K}: {lv}"):
        measure(f"SIGKILL {K} -> {new_leader} reports keymgr_leader 1", takeover)
        expect(takeover <= TAKEOVER_BOUND_S, f"takeover after SIGKILL took {takeover:.3f} s (bound "
                                             f"{TAKEOVER_BOUND_S:.2f} s)")
    mon = LeaderMonitor(insts, rest).start()
    time.sleep(0.5)
    t_rs = time.monotonic()
    try:
        insts[K].start(timeout=60)
        restarted = True
    except Exception as e:  # noqa: BLE001
        restarted = expect(False, f"restart of {K} on port {insts[K].port} failed: {e}")
    res = sg.stop()
    n_s, none, many = mon.stop()
    info(f"keymgr_leader of {rest} sampled every 100 ms from the takeover: {n_s} samples, {len(none)} with no "
         f"leader, {len(many)} with two (s since SIGKILL): "
         f"{[(round(t - t_kill, 2), v) for t, v in none[:5]]} {[(round(t - t_kill, 2), v) for t, v in many[:5]]}")
    if mon.pg:
        info(f"database sessions at the first sample without a leader:\n      {mon.pg}")
    if new_leader:
        info(f"new leader {new_leader}: keymgr_leadership_changes_total {leadership_series(insts[new_leader])}; "
             f"leadership log lines: {log_lines(insts[new_leader], r'leadership', 10)}")
    bad = [(n, round(ts - t_kill, 2), s, e, str(b)[:200]) for n, ts, _, s, e, _, b in res if s != 200]
    info(f"signers on {rest} across the kill (instance:status -> count): {sg.summary()}")
    expect(res and not bad, f"{len(bad)} of {len(res)} signs on {rest} failed across the SIGKILL of {K}: {bad[:5]}")
    if restarted:
        measure(f"restart of {K} (exec -> /healthz 200)", time.monotonic() - t_rs)
        samples = []
        for _ in range(10):  # 2 s: it stays a follower, one leader in all
            samples.append(leaders(insts))
            time.sleep(0.2)
        wrong = [s for s in samples if s.get(K) != 0 or list(s.values()).count(1) != 1]
        expect(not wrong, f"after the restart of {K}: keymgr_leader samples not (follower, one leader): {wrong[:3]}")
        info(f"after restart: keymgr_leader {samples[-1]}; {K} counters {cluster_counters(insts[K])}")
        signs = []
        for n, km in insts.items():
            for i in range(5):
                status, b = sign(km, issuer, KEYSET, f"post-restart-{n}-{i}")
                if status == 200:
                    received.add(n, b, KEYSET)
                signs.append((n, status, err_of(b)))
        expect(all(s == 200 for _, s, _ in signs), f"signing after the restart of {K}: {signs}")
        # The restarted instance knows the current keys (loaded at start).
        status, body, checks = verify(insts[K], auditor, KEYSET, received.tokens[-1]["token"])
        expect(status == 200 and body.get("valid") is True, f"verify on restarted {K}: {status} {str(body)[:400]}")

    kill_mid_rotation(insts, url, issuer, ops, auditor)
    pg_restart_under_load(insts, issuer)
    if HSM_SERVER[0] is not None:
        hsm_away_and_back(insts, issuer)

    # ------------------------------------------------------------------ 8
    step(8, "ledger: integrated, every received token once, dense seqs, one active key, audit")
    tokens = list(received.tokens)
    jtis = [t["jti"] for t in tokens]
    expect(len(set(jtis)) == len(jtis), f"{len(jtis) - len(set(jtis))} duplicate jtis among received tokens")
    lv = leaders(insts)
    reader = insts[next((n for n, v in lv.items() if v == 1), "A")]
    entries, why = [], "not polled"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        entries = ledger_entries(reader, auditor)
        pending = [e for e in entries if e["seq"] == 0]
        if not pending:
            break
        why = f"{len(pending)} of {len(entries)} entries still pending (seq 0)"
        time.sleep(0.25)
    else:
        expect(False, f"ledger not integrated within 60 s: {why}; keymgr_leader {leaders(insts)}")
    measure("ledger integrated (no seq 0) after the last sign", time.monotonic() - t0)
    reinit = {}
    for n, km in insts.items():
        m = metrics(km)
        reinit[n] = {c: metric(m, f'keymgr_hsm_reinitializations{{cause="{c}"}}') for c in ("view", "other")}
        expect(reinit[n]["view"] is not None, f"{n}: no keymgr_hsm_reinitializations in /metrics")
    measure("HSM re-initialisations per instance since its last start (view refreshes / other)",
            ", ".join(f"{n} {v['view']:.0f}/{v['other']:.0f}" for n, v in reinit.items()
                      if v["view"] is not None and v["other"] is not None), fmt="{}")
    signs = [e for e in entries if e["kind"] == "sign" and e["outcome"] == "ok"]
    by_jti = {}
    for e in signs:
        by_jti.setdefault(e["jti"], []).append(e)
    missing = [t for t in tokens if t["jti"] not in by_jti]
    twice = [t["jti"] for t in tokens if len(by_jti.get(t["jti"], [])) > 1]
    wrong_kid = [(t["jti"], t["kid"], by_jti[t["jti"]][0]["kid"]) for t in tokens
                 if len(by_jti.get(t["jti"], [])) == 1 and by_jti[t["jti"]][0]["kid"] != t["kid"]]
    expect(not missing, f"{len(missing)} of {len(tokens)} received tokens are not in the ledger, e.g. "
                        f"{[(t['inst'], t['jti']) for t in missing[:3]]}")
    expect(not twice, f"{len(twice)} received tokens are in the ledger more than once, e.g. {twice[:3]}")
    expect(not wrong_kid, f"{len(wrong_kid)} ledger entries name another kid than their token: {wrong_kid[:3]}")
    got = set(jtis)
    extra = [e for e in signs if e["keyset"] == KEYSET and e["jti"] not in got]
    if extra:
        info(f"note: {len(extra)} ok sign entries of {KEYSET} belong to no answer a client received "
             f"(e.g. {[(e['seq'], e['sub']) for e in extra[:3]]})")
    # In the ledger's own order: no signature with a key follows its key_compromised entry.
    comp_seq = {e["kid"]: e["seq"] for e in entries if e["kind"] == "lifecycle" and e["event"] == "key_compromised"}
    expect(comp_seq, "no key_compromised entry in the ledger")
    after_comp = [(e["seq"], e["kid"], comp_seq[e["kid"]]) for e in signs
                  if e["kid"] in comp_seq and e["seq"] > comp_seq[e["kid"]]]
    expect(not after_comp, f"{len(after_comp)} signatures follow their key's key_compromised entry in the ledger "
                           f"(seq, kid, compromise seq): {after_comp[:5]}")
    seqs = sorted(e["seq"] for e in entries)
    n = len(seqs)
    dups = sorted({s for s in seqs if seqs.count(s) > 1}) if len(set(seqs)) != n else []
    expect(not dups, f"duplicate seqs {dups[:10]}")
    expect(seqs == list(range(1, n + 1)),
           f"seqs are not dense 1..{n}: first {seqs[:5]}, last {seqs[-5:]}, "
           f"gaps {sorted(set(range(1, (seqs[-1] if seqs else 0) + 1)) - set(seqs))[:10]}")
    measure("received tokens / ledger entries", f"{len(tokens)} / {n}", "{}")
    info(f"outcomes of sign entries: "
         f"{ {o: sum(1 for e in entries if e['kind'] == 'sign' and e['outcome'] == o) for o in {e['outcome'] for e in entries}} }")
    rows = pgtest.psql(url, "SELECT (SELECT count(*) FROM ledger), (SELECT coalesce(max(seq),0) FROM ledger), "
                            "(SELECT count(*) FROM ledger_pending)").strip().split("|")
    expect(rows == [str(n), str(n), "0"], f"psql: ledger rows, max seq, ledger_pending = {rows}; the API listed {n}")
    # At most one active key per keyset, on every instance.
    names_seen = set()
    for name, km in insts.items():
        status, body = km.request("GET", "/v1/keysets", auditor)
        if expect(status == 200, f"GET /v1/keysets on {name}: {status} {body}"):
            names_seen |= {k["name"] for k in body["keysets"]}
    expect(names_seen == {"default", KEYSET}, f"keysets listed: {names_seen}")
    for ks_name in sorted(names_seen):
        keys = check_one_active(insts, auditor, ks_name, "at the end")
        info(f"{ks_name} keys at the end: {keys.get('A')}")
    # Checkpoints cover the ledger, then the full audit through the API (every instance) and the CLI.
    cp, dt = wait_for(lambda: (lambda c: c if c is not None and c >= n else None)(checkpoint_size(reader)), 30, 0.25)
    expect(cp, f"newest signed checkpoint covers {checkpoint_size(reader)} of {n} entries after 30 s")
    for name, km in insts.items():
        status, body = km.request("GET", "/v1/audit/verify", auditor, timeout=60)
        expect(status == 200 and isinstance(body, dict) and body.get("ok") is True,
               f"GET /v1/audit/verify on {name}: {status} {body}")
        if name == "A":
            info(f"GET /v1/audit/verify on A: {body}")
    r = A.cli("audit", "verify", check=False)
    expect(r.returncode == 0, f"keymgr audit verify: exit {r.returncode}: {r.stdout[-1000:]} {r.stderr[-1000:]}")
    info(f"keymgr audit verify: exit {r.returncode}: {r.stdout.strip()[:400]}")
    for name, km in insts.items():
        info(f"{name} counters: {cluster_counters(km)}")


def run():
    pgtest.require_base_url()  # skip (77) or fail (required) before starting anything
    # A private PostgreSQL cluster (scripts/pg.sh), so that step 7d may stop and restart it without
    # disturbing the other tests that share KEYMGR_TEST_PG_URL's server.
    pgdir = tempfile.mkdtemp(prefix="kmpgC-", dir="/tmp")  # short: a unix socket path
    url = pg_sh("start", pgdir)

    def drop():
        pg_sh("stop", pgdir)
        shutil.rmtree(pgdir, ignore_errors=True)
    PG_DIR[0] = pgdir
    PG_URL[0] = url
    hsm_dir = make_token_dir(source_dir)
    HSM_DIR[0] = hsm_dir
    insts = {}
    try:
        if HSM_MODE == "p11kit":
            HSM_SERVER[0] = P11KitServer(hsm_dir).start()
            info(f"HSM: one SoftHSM2 token exported by p11-kit server at {HSM_SERVER[0].socket}")
        for n in ("A", "B", "C"):
            insts[n] = Keymgr(binary, source_dir, extra=CONFIG, database_url=url, hsm_dir=hsm_dir, hsm=HSM_SERVER[0])
        main(insts, url)
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        expect(False, f"{type(e).__name__}: {e}")
    finally:
        for km in insts.values():
            if km.proc and km.proc.poll() is None:
                km.proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        for name, km in insts.items():
            km.stop()
            if failures:
                print(f"\n--- {name} ({km.base}) warnings/errors/leadership lines:\n      {log_lines(km)}")
                print(f"--- {name} log tail:\n{km.log()[-2500:]}")
        for km in insts.values():
            km.cleanup()
        if HSM_SERVER[0] is not None:
            HSM_SERVER[0].stop()
        try:
            drop()
        except Exception as e:  # noqa: BLE001
            print("could not drop the schema:", e)
        if os.environ.get("KM_E2E_KEEP"):
            print("kept", hsm_dir)
        else:
            shutil.rmtree(hsm_dir, ignore_errors=True)

    print(f"\ncluster_test: {len(failures)} failures in {time.monotonic() - started:.1f} s")
    for n in [1, 2, 3, 4, 5, 6, 7, "7c", "7d"] + (["7b"] if HSM_MODE == "p11kit" else []) + [8]:
        verdict = "not reached" if n not in step_names else "ok" if step_failed.get(n, 0) == 0 else "FAILED"
        print(f"  step {n} ({step_names.get(n, '')}): {verdict}")
    if step_failed.get("setup"):
        print("  setup: FAILED")
    print("measured:")
    for what, v in measured:
        print(f"  {what}: {v}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)


run()
