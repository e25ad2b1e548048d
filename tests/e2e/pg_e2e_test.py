#!/usr/bin/python3
"""The real keymgr binary on PostgreSQL (db/pg_store.h: off-path sequencing), over real HTTP.

Part A, in a fresh schema of the shared server (KEYMGR_TEST_PG_URL): 8 threads sign 200 tokens
(every answer 200, "ledger_seq" null or an int); tokens verify at once (provenance from the intake);
the integrator then sequences every entry: the ledger API shows each token's jti with a seq > 0,
seqs of all entries are dense 1..N without duplicates, a signed checkpoint covers them, psql sees
ledger_pending empty and N rows in ledger, `keymgr audit verify` and GET /v1/audit/verify pass. A
SIGTERM restart on the same URL keeps the JWKS, old tokens still verify, and seqs continue densely.

Part B, on a private cluster (scripts/pg.sh start/pause/resume/stop): PostgreSQL stopped under a
running keymgr: signing is 503 ledger_unavailable or database_unavailable with no token, /readyz
is 503; PostgreSQL back: signing recovers within 15 s without restarting keymgr, every token
answered 200 is in the ledger exactly once, and no refused attempt left a token or a ledger entry.

usage: pg_e2e_test.py KEYMGR_BINARY SOURCE_DIR
Skips (exit 77) without KEYMGR_TEST_PG_URL; fails instead with KEYMGR_TEST_REQUIRE_PG=1.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import pgtest  # noqa: E402
from harness import Keymgr  # noqa: E402

binary, source_dir = sys.argv[1], sys.argv[2]
LEDGER_CONFIG = {"ledger": 'checkpoint_interval = "1s"\nintegrate_max_delay = "1s"\n'}
failures = []
notes = []  # findings worth reporting even when they pass
started = time.time()


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def note(what):
    notes.append(what)
    print("note:", what, flush=True)


def log_tail(km, n=3000):
    return km.log()[-n:]


def get_text(km, path, timeout=10):
    """(status, text) of a GET without a token."""
    try:
        with urllib.request.urlopen(km.base + path, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def checkpoint_size(km):
    """The size of the newest signed checkpoint, 0 before the first, None when unreachable."""
    try:
        status, text = get_text(km, "/v1/audit/checkpoint", timeout=5)
    except OSError:
        return None
    if status == 404:
        return 0
    if status != 200:
        return None
    return int(text.split("\n")[1])


def ledger_entries(km, auditor, **filters):
    """Every ledger entry (pending ones with seq 0 first, then newest first), through the cursor."""
    out = []
    cursor = None
    for _ in range(10000):
        q = "&".join([f"{k}={v}" for k, v in filters.items()] + ["limit=1000"] +
                     ([f"cursor={cursor}"] if cursor is not None else []))
        status, body = km.request("GET", "/v1/audit/ledger?" + q, auditor)
        if status != 200:
            raise RuntimeError(f"GET /v1/audit/ledger?{q}: {status} {body}")
        out += body["entries"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise RuntimeError("ledger pagination does not end")


def wait_integrated(km, auditor, jtis, timeout=60):
    """Polls until no ledger entry waits for a seq, every jti in `jtis` has a seq > 0 and a signed
    checkpoint covers every entry. Returns the entries; on timeout records a failure."""
    deadline = time.time() + timeout
    entries, cp, why = [], None, "not polled"
    while time.time() < deadline:
        entries = ledger_entries(km, auditor)
        pending = [e for e in entries if e["seq"] == 0]
        seq_of = {e["jti"]: e["seq"] for e in entries if e["kind"] == "sign" and e["seq"] > 0}
        missing = [j for j in jtis if j not in seq_of]
        top = max((e["seq"] for e in entries), default=0)
        cp = checkpoint_size(km)
        if pending:
            why = f"{len(pending)} entries still pending (seq 0)"
        elif missing:
            why = f"{len(missing)} of {len(jtis)} tokens have no sequenced entry, e.g. jti {missing[0]}"
        elif cp is None or cp < top:
            why = f"newest checkpoint covers {cp} of {top} entries"
        else:
            return entries
        time.sleep(0.25)
    expect(False, f"not integrated within {timeout} s: {why}; server log tail:\n{log_tail(km)}")
    return entries


def check_dense(entries, what):
    """Seqs of all entries (lifecycle and sign) are exactly 1..N, each once. Returns N."""
    seqs = sorted(e["seq"] for e in entries)
    n = len(seqs)
    dups = sorted({s for s in seqs if seqs.count(s) > 1}) if len(set(seqs)) != n else []
    expect(not dups, f"{what}: duplicate seqs {dups[:10]}")
    expect(seqs == list(range(1, n + 1)),
           f"{what}: seqs are not dense 1..{n}: first {seqs[:5]}, last {seqs[-5:]}, "
           f"gaps {sorted(set(range(1, (seqs[-1] if seqs else 0) + 1)) - set(seqs))[:10]}")
    kinds = {e["kind"] for e in entries}
    expect({"sign", "lifecycle"} <= kinds, f"{what}: expected sign and lifecycle entries, got kinds {kinds}")
    return n


def check_sign_entries(entries, keyset, received_jtis, what, ambiguous_sub_prefix=None):
    """Every received token's jti is in the ledger exactly once (outcome ok), and every ok sign
    entry of the keyset belongs to a received token: a refused attempt left no entry. Only attempts
    whose sub starts with `ambiguous_sub_prefix` (signs in flight while PostgreSQL was shut down:
    the COMMIT may have landed while the answer was lost, and keymgr then fails closed) may have
    left one; those are reported as notes."""
    signs = [e for e in entries if e["kind"] == "sign" and e["keyset"] == keyset and e["outcome"] == "ok"]
    count = {}
    for e in signs:
        count[e["jti"]] = count.get(e["jti"], 0) + 1
    missing = [j for j in received_jtis if count.get(j, 0) == 0]
    twice = [j for j in received_jtis if count.get(j, 0) > 1]
    expect(not missing, f"{what}: {len(missing)} of {len(received_jtis)} tokens answered 200 are not in the "
                        f"ledger, e.g. jti {missing[:3]}")
    expect(not twice, f"{what}: {len(twice)} tokens are in the ledger more than once, e.g. jti {twice[:3]}")
    received = set(received_jtis)
    extra = [e for e in signs if e["jti"] not in received]
    allowed = [e for e in extra if ambiguous_sub_prefix and e["sub"].startswith(ambiguous_sub_prefix)]
    wrong = [e for e in extra if e not in allowed]
    expect(not wrong, f"{what}: {len(wrong)} ok sign entries of keyset {keyset} belong to no token answered 200 "
                      f"(a refused attempt recorded as issued), e.g. {[(e['seq'], e['sub']) for e in wrong[:3]]}")
    if allowed:
        note(f"{what}: {len(allowed)} signs in flight at the shutdown are in the ledger without their answer "
             f"(fail closed after COMMIT): {[(e['seq'], e['sub']) for e in allowed[:3]]}")


def psql_counts(url):
    """(rows in ledger, max seq, distinct seqs, rows in ledger_pending) in one snapshot."""
    out = pgtest.psql(url, "SELECT (SELECT count(*) FROM ledger), (SELECT coalesce(max(seq), 0) FROM ledger), "
                           "(SELECT count(DISTINCT seq) FROM ledger), (SELECT count(*) FROM ledger_pending)")
    return tuple(int(x) for x in out.strip().split("|"))


def check_psql(url, n, what):
    """After integration: ledger_pending is empty and ledger holds exactly seqs 1..n."""
    rows, top, distinct, pending = psql_counts(url)
    expect(pending == 0, f"{what}: psql: ledger_pending holds {pending} rows after integration")
    expect(rows == n and top == n and distinct == n,
           f"{what}: psql: ledger has {rows} rows, {distinct} distinct seqs, max seq {top}; the API listed {n}")


def audit_verify_cli(km, n_at_least, what):
    r = km.cli("audit", "verify", check=False)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = {}
    expect(r.returncode == 0 and rep.get("ok") is True, f"{what}: keymgr audit verify: rc {r.returncode} "
                                                        f"{r.stdout[-1000:]} {r.stderr[-1000:]}")
    expect(rep.get("entries", 0) >= n_at_least and rep.get("tree_size") == rep.get("entries")
           and rep.get("checkpoints_checked") == rep.get("checkpoints") and rep.get("checkpoints", 0) >= 1,
           f"{what}: keymgr audit verify report: {rep}")


def audit_verify_api(km, auditor, what):
    status, body = km.request("GET", "/v1/audit/verify", auditor, timeout=60)
    expect(status == 200 and isinstance(body, dict) and body.get("ok") is True,
           f"{what}: GET /v1/audit/verify: {status} {body}")


def verify_token(km, auditor, keyset, token):
    status, body = km.request("POST", f"/v1/keysets/{keyset}/verify", auditor, {"token": token})
    if status != 200 or not isinstance(body, dict):
        return status, body, {}
    return status, body, {c["check"]: (c["ok"], c["detail"]) for c in body.get("checks", [])}


def sign(km, issuer, keyset, sub, timeout=20):
    return km.request("POST", f"/v1/keysets/{keyset}/sign", issuer, {"claims": {"sub": sub}, "ttl": 3600},
                      timeout=timeout)


def check_sign_answer(status, body, what):
    """A 200 sign answer: a token, and ledger_seq null (sequenced later) or a positive int."""
    ok = (status == 200 and isinstance(body, dict) and isinstance(body.get("token"), str)
          and "ledger_seq" in body and (body["ledger_seq"] is None or
                                        (isinstance(body["ledger_seq"], int) and body["ledger_seq"] > 0)))
    return expect(ok, f"{what}: sign answered {status} {str(body)[:300]}")


def jwks(km, keyset):
    status, body = km.request("GET", f"/v1/keysets/{keyset}/jwks.json")
    expect(status == 200, f"JWKS of {keyset}: {status} {body}")
    return sorted(body.get("keys", []), key=lambda k: k.get("kid", "")) if isinstance(body, dict) else []


def sign_many(km, issuer, keyset, threads, per_thread, prefix):
    """Signs threads x per_thread tokens concurrently; returns [(status, body)]."""
    results = []
    lock = threading.Lock()

    def worker(t):
        for i in range(per_thread):
            try:
                r = sign(km, issuer, keyset, f"{prefix}-{t}-{i}")
            except Exception as e:  # noqa: BLE001 (a transport error is a finding, not a crash)
                r = (None, repr(e))
            with lock:
                results.append(r)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


# ------------------------------------------------------------------------------------------ Part A
def part_a():
    url, drop = pgtest.fresh_schema_url()  # exits 77 (or 1 when required) without a server
    km = Keymgr(binary, source_dir, extra=LEDGER_CONFIG, database_url=url)
    t0 = time.time()
    try:
        km.start()
        admin = km.token("admin", "admin")
        auditor = km.token("auditor", "auditor")
        status, body = km.request("POST", "/v1/keysets", admin, {"name": "pgks", "issuer": km.base + "/pgks"})
        if not expect(status == 201, f"A: create keyset: {status} {body}"):
            return
        issuer = km.token("pg-issuer", "issuer", "pgks")
        status, body = km.request("GET", "/readyz")
        expect(status == 200, f"A: /readyz after start: {status} {body}")

        # 1. 200 tokens from 8 threads.
        ts = time.time()
        results = sign_many(km, issuer, "pgks", 8, 25, "a")
        sign_s = time.time() - ts
        good = [b for s, b in results if check_sign_answer(s, b, "A: concurrent sign")]
        seq_kinds = {"null" if b["ledger_seq"] is None else "int" for b in good}
        note(f"A: 200 signs from 8 threads in {sign_s:.2f} s; ledger_seq in answers: {sorted(seq_kinds)}")
        jtis = [b["jti"] for b in good]
        expect(len(set(jtis)) == len(jtis) == 200, f"A: {len(set(jtis))} distinct jtis of {len(jtis)} tokens, want 200")

        # 2. Verify at once: provenance holds whether or not the integrator has sequenced the
        #    entry yet (the last tokens of the burst, then sign-and-verify pairs until one is
        #    verified while still pending: the integrator runs every 250 ms).
        details = []
        for b in good[-5:]:
            status, body, checks = verify_token(km, auditor, "pgks", b["token"])
            expect(status == 200 and body.get("valid") is True and checks.get("provenance", (False,))[0]
                   and checks.get("signature", (False,))[0],
                   f"A: fresh token does not verify: {status} {str(body)[:400]}")
            details.append(checks.get("provenance", (None, "(no provenance check)"))[1])
        for i in range(20):
            if any("not yet sequenced" in d for d in details):
                break
            status, b = sign(km, issuer, "pgks", f"a-pair-{i}")
            if not check_sign_answer(status, b, "A: sign (pair)"):
                break
            good.append(b)
            status, body, checks = verify_token(km, auditor, "pgks", b["token"])
            expect(status == 200 and body.get("valid") is True and checks.get("provenance", (False,))[0],
                   f"A: token verified right after signing: {status} {str(body)[:400]}")
            details.append(checks.get("provenance", (None, "(no provenance check)"))[1])
        note(f"A: provenance details of tokens verified right after signing: {details[:3]} ... {details[-2:]}")
        seen_pending = any("not yet sequenced" in d for d in details)
        if seq_kinds == {"null"}:
            expect(seen_pending, "A: no token was ever verified before the integrator sequenced it (20 tries); "
                                 "provenance of an unsequenced entry went untested")
        jtis = [b["jti"] for b in good]

        # 3. Sequencing and the transparency log catch up.
        ti = time.time()
        entries = wait_integrated(km, auditor, jtis)
        note(f"A: integrated and checkpointed {time.time() - ti:.2f} s after the last sign")
        n = check_dense(entries, "A")
        check_sign_entries(entries, "pgks", jtis, "A")
        # A sequenced token's verify answer names its seq, the one the ledger lists.
        seq_of = {e["jti"]: e["seq"] for e in entries if e["kind"] == "sign"}
        for b in good[:5]:
            status, body, checks = verify_token(km, auditor, "pgks", b["token"])
            expect(status == 200 and body.get("valid") is True and body.get("ledger_seq") == seq_of.get(b["jti"]),
                   f"A: sequenced token: verify ledger_seq {body.get('ledger_seq') if isinstance(body, dict) else body} "
                   f"vs ledger seq {seq_of.get(b['jti'])}")
        check_psql(url, n, "A")

        # 4. The full audit, by the CLI on the database and by the server.
        audit_verify_cli(km, n, "A")
        audit_verify_api(km, auditor, "A")
        status, body = km.request("POST", "/v1/audit/verify", auditor)
        note(f"A: POST /v1/audit/verify answers {status} "
             f"{body.get('error') if isinstance(body, dict) else body} (the route is GET)")

        # 5. SIGTERM restart on the same URL, just after a burst: entries still pending at the
        #    shutdown are sequenced by the next process, after the ones already in the chain.
        keys_before = jwks(km, "pgks")
        results = sign_many(km, issuer, "pgks", 4, 5, "a-last")
        last = [b for s, b in results if check_sign_answer(s, b, "A: sign just before SIGTERM")]
        km.stop()
        rc = km.proc.returncode
        expect(rc == 0, f"A: keymgr exited with {rc} on SIGTERM; log tail:\n{log_tail(km)}")
        rows, top, distinct, pending = psql_counts(url)
        note(f"A: at the SIGTERM exit: ledger {rows} rows (max seq {top}), ledger_pending {pending} rows")
        expect(rows == top == distinct, f"A: after SIGTERM: ledger {rows} rows, {distinct} distinct seqs, max {top}")
        jtis += [b["jti"] for b in last]
        km.start()
        keys_after = jwks(km, "pgks")
        expect(keys_before and keys_before == keys_after,
               f"A: JWKS changed across the restart: {[k.get('kid') for k in keys_before]} -> "
               f"{[k.get('kid') for k in keys_after]}")
        for b in good[::20]:
            status, body, checks = verify_token(km, auditor, "pgks", b["token"])
            expect(status == 200 and body.get("valid") is True and checks.get("provenance", (False,))[0]
                   and body.get("ledger_seq") == seq_of.get(b["jti"]),
                   f"A: after restart, old token: {status} {str(body)[:400]}")
        results = sign_many(km, issuer, "pgks", 4, 10, "a2")
        good2 = [b for s, b in results if check_sign_answer(s, b, "A: sign after restart")]
        jtis2 = [b["jti"] for b in good2]
        entries2 = wait_integrated(km, auditor, jtis2)
        n2 = check_dense(entries2, "A after restart")
        expect(n2 >= n + len(last) + len(jtis2),
               f"A: after restart the ledger has {n2} entries, want at least {n} + {len(last)} + {len(jtis2)}")
        seq2 = {e["jti"]: e["seq"] for e in entries2 if e["kind"] == "sign"}
        old_max = max(seq2.get(j, 0) for j in jtis)
        new_seqs = sorted(seq2.get(j, 0) for j in jtis2)
        expect(new_seqs and new_seqs[0] > old_max, f"A: tokens signed after the restart got seqs {new_seqs[:5]}..., "
                                                   f"not after the tokens signed before it (up to {old_max})")
        check_sign_entries(entries2, "pgks", jtis + jtis2, "A after restart")
        check_psql(url, n2, "A after restart")
        audit_verify_cli(km, n2, "A after restart")
        audit_verify_api(km, auditor, "A after restart")
        note(f"A: {n} entries before the restart, {n2} after; part A took {time.time() - t0:.1f} s")
    except Exception as e:  # noqa: BLE001
        expect(False, f"A: {type(e).__name__}: {e}; log tail:\n{log_tail(km)}")
    finally:
        km.cleanup()
        drop()


# ------------------------------------------------------------------------------------------ Part B
def have_server_binaries():
    return bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")) or shutil.which("pg_config") is not None


def pg_sh(cmd, d):
    return pgtest.pg_sh(source_dir, cmd, d)


def outage_under_load(km, issuer, pgdir, threads=4):
    """Signers run while PostgreSQL is paused for 2 s and resumed; returns the jtis answered 200."""
    lock = threading.Lock()
    stop = threading.Event()
    got = []  # (time, jti)
    codes = {}

    def worker(t):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                status, body = sign(km, issuer, "outage", f"conc-{t}-{i}")
            except Exception as e:  # noqa: BLE001
                status, body = None, repr(e)
            err = body.get("error") if isinstance(body, dict) and status != 200 else None
            with lock:
                codes[(status, err)] = codes.get((status, err), 0) + 1
                if status == 200 and isinstance(body, dict) and "jti" in body:
                    got.append((time.time(), body["jti"]))
            if status != 200:
                expect(not (isinstance(body, dict) and "token" in body),
                       f"B (load): a refused sign carries a token: {status} {str(body)[:300]}")
                expect(status == 503 and err in ("ledger_unavailable", "database_unavailable"),
                       f"B (load): sign refused with {status} {str(body)[:300]}")
                time.sleep(0.02)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    try:
        time.sleep(1)
        pg_sh("pause", pgdir)
        time.sleep(2)
        pg_sh("resume", pgdir)
        resumed = time.time()
        while time.time() - resumed < 15:
            with lock:
                if any(at > resumed for at, _ in got):
                    break
            time.sleep(0.1)
        with lock:
            after = [at - resumed for at, _ in got if at > resumed]
        time.sleep(1)
    finally:
        stop.set()
        for t in ts:
            t.join()
    expect(after, f"B (load): no sign succeeded within 15 s of PostgreSQL's return: {codes}; "
                  f"log tail:\n{log_tail(km)}")
    note(f"B (load): {threads} signers across a 2 s outage: {codes}; first 200 "
         f"{min(after):.2f} s after PostgreSQL returned" if after else f"B (load): {codes}")
    return [j for _, j in got]


def part_b():
    if not have_server_binaries():
        msg = "B: no PostgreSQL server binaries for a private cluster (scripts/install-deps.sh)"
        if pgtest.required():
            expect(False, msg)
        else:
            note("SKIPPED " + msg)
        return
    pgdir = tempfile.mkdtemp(prefix="kmpgB-", dir="/tmp")  # short: a unix socket path
    km = None
    t0 = time.time()
    try:
        url = pg_sh("start", pgdir)
        km = Keymgr(binary, source_dir, extra=LEDGER_CONFIG, database_url=url)
        km.start()
        admin = km.token("admin", "admin")
        auditor = km.token("auditor", "auditor")
        status, body = km.request("POST", "/v1/keysets", admin, {"name": "outage", "issuer": km.base + "/outage"})
        if not expect(status == 201, f"B: create keyset: {status} {body}"):
            return
        issuer = km.token("outage-issuer", "issuer", "outage")
        received = []  # jtis of every token answered 200
        for i in range(20):
            status, body = sign(km, issuer, "outage", f"before-{i}")
            if check_sign_answer(status, body, "B: sign before the outage"):
                received.append(body["jti"])
        wait_integrated(km, auditor, received)
        status, body = km.request("GET", "/readyz")
        expect(status == 200, f"B: /readyz before the outage: {status} {body}")

        # PostgreSQL goes away (fast shutdown: sessions terminated, socket removed). The API
        # authenticator caches a token's record for 1 s from its lookup: a fresh issuer token used
        # just before the outage lets the first attempt (if within that second) past
        # authentication to the HSM and the ledger write; later ones are refused by the lookup.
        issuer = km.token("outage-issuer-2", "issuer", "outage")
        status, body = sign(km, issuer, "outage", "warm")
        if check_sign_answer(status, body, "B: sign just before the outage"):
            received.append(body["jti"])
        tp = time.time()
        pg_sh("pause", pgdir)
        note(f"B: pg.sh pause (pg_ctl -m fast stop) took {time.time() - tp:.2f} s")
        codes = []
        messages = []
        for i in range(5):
            ts = time.time()
            try:
                status, body = sign(km, issuer, "outage", f"down-{i}")
            except Exception as e:  # noqa: BLE001
                status, body = None, repr(e)
            took = time.time() - ts
            err = body.get("error") if isinstance(body, dict) else None
            codes.append((round(ts - tp, 2), status, err))
            if isinstance(body, dict) and body.get("message") and not any(body["message"] in m for m in messages):
                messages.append(f"{err}: {body['message']}")
            expect(status == 503 and err in ("ledger_unavailable", "database_unavailable"),
                   f"B: sign with PostgreSQL down: {status} {str(body)[:300]} ({took:.2f} s)")
            expect(not (isinstance(body, dict) and "token" in body),
                   f"B: a sign refused while PostgreSQL is down carries a token: {str(body)[:300]}")
            expect(took < 15, f"B: sign with PostgreSQL down took {took:.1f} s (fail fast expected)")
        note(f"B: signs while PostgreSQL is down (s since pause began, status, error): {codes}; messages: {messages}")
        status, body = km.request("GET", "/readyz", timeout=30)
        note(f"B: /readyz while PostgreSQL is down: {status} {body}")
        expect(status == 503 and isinstance(body, dict) and body.get("status") != "ready"
               and body.get("checks", {}).get("database") != "ok",
               f"B: /readyz while PostgreSQL is down: {status} {body}")
        status, body = get_text(km, "/healthz")
        note(f"B: /healthz while PostgreSQL is down: {status}")
        expect(km.proc.poll() is None, f"B: keymgr exited ({km.proc.returncode}) while PostgreSQL was down; "
                                       f"log tail:\n{log_tail(km)}")

        # PostgreSQL comes back: signing recovers without a keymgr restart.
        pg_sh("resume", pgdir)
        tr = time.time()
        recovered = None
        attempts = []
        while time.time() - tr < 15:
            try:
                status, body = sign(km, issuer, "outage", f"recover-{len(attempts)}")
            except Exception as e:  # noqa: BLE001
                status, body = None, repr(e)
            err = body.get("error") if isinstance(body, dict) else None
            attempts.append((round(time.time() - tr, 2), status, err))
            if status == 200:
                if check_sign_answer(status, body, "B: sign after PostgreSQL returned"):
                    received.append(body["jti"])
                recovered = time.time() - tr
                break
            expect(not (isinstance(body, dict) and "token" in body),
                   f"B: a refused sign during recovery carries a token: {str(body)[:300]}")
            time.sleep(0.25)
        note(f"B: attempts after PostgreSQL returned (s since resume, status, error): {attempts[:8]}"
             f"{' ... %d in all' % len(attempts) if len(attempts) > 8 else ''}")
        if not expect(recovered is not None, f"B: signing did not recover within 15 s of PostgreSQL's return; "
                                             f"last attempts {attempts[-3:]}; log tail:\n{log_tail(km)}"):
            return
        note(f"B: signing recovered {recovered:.2f} s after PostgreSQL returned")
        for i in range(20):
            status, body = sign(km, issuer, "outage", f"after-{i}")
            if check_sign_answer(status, body, "B: sign after recovery"):
                received.append(body["jti"])
        deadline = time.time() + 30
        while True:
            status, body = km.request("GET", "/readyz", timeout=30)
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.5)
        expect(status == 200, f"B: /readyz not ready 30 s after PostgreSQL returned: {status} {body}")

        # A second outage under load: 4 signers run through the fast shutdown and the restart.
        # A 200 must mean durable; no refusal carries a token; signing resumes by itself.
        received += outage_under_load(km, issuer, pgdir)
        entries = wait_integrated(km, auditor, received)
        check_dense(entries, "B")
        check_sign_entries(entries, "outage", received, "B", ambiguous_sub_prefix="conc-")
        check_psql(url, len(entries), "B")
        audit_verify_api(km, auditor, "B")
        note(f"B: {len(received)} tokens answered 200; part B took {time.time() - t0:.1f} s")
    except Exception as e:  # noqa: BLE001
        expect(False, f"B: {type(e).__name__}: {e}" + (f"; log tail:\n{log_tail(km)}" if km else ""))
    finally:
        if km is not None:
            if failures:
                print("B: server log tail:\n" + log_tail(km, 4000))
            km.cleanup()
        try:
            pg_sh("stop", pgdir)
        except Exception as e:  # noqa: BLE001
            print(f"B: could not stop the private cluster in {pgdir}: {e}")


pgtest.require_base_url()  # skip (77) or fail (required) before starting anything
part_a()
part_b()
print(f"pg_e2e_test: {len(failures)} failures in {time.time() - started:.1f} s")
for n_ in notes:
    print("  " + n_)
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
