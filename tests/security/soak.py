#!/usr/bin/python3
"""Sustained mixed load against the real keymgr binary (SoftHSM2 + SQLite file): signing clients,
JWKS readers (with ETag revalidation), verifiers, audit queries and an operator rotating keys, for
a fixed time. Fails if any request that should have succeeded did not (a sign refused with 503
key_state_changed during a rotation is retried, as the API asks), if a freshly signed token does
not verify, if the hash chain does not verify at the end, or if the server's RSS grows after the
warm-up (bounded memory).

usage: soak.py KEYMGR_BINARY SOURCE_DIR [--seconds N] [--signers K] [--rotate-every S]
"""
import argparse
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("binary")
ap.add_argument("source_dir")
ap.add_argument("--seconds", type=float, default=300)
ap.add_argument("--signers", type=int, default=4)
ap.add_argument("--rotate-every", type=float, default=5.0)
# The SQLite page caches legitimately fill up to database.cache_mib as the ledger grows; the soak
# runs with a small budget so that they are full within the warm-up and any later growth is a leak.
ap.add_argument("--cache-mib", type=int, default=8, help="database.cache_mib of the server under test")
ap.add_argument("--rss-growth-mb", type=float, default=16.0, help="allowed RSS growth after warm-up")
args = ap.parse_args()
sys.path.insert(0, os.path.join(args.source_dir, "tests", "e2e"))
from harness import Keymgr, free_port  # noqa: E402

public_port = free_port()
km = Keymgr(args.binary, args.source_dir,
            extra={"server": f"public_port = {public_port}", "database": f"cache_mib = {args.cache_mib}"})
km.env["KEYMGR_LOG_LEVEL"] = "warn"
lock = threading.Lock()
counts = {}
failures = []
rss = []  # (t, kB)


def count(name, n=1):
    with lock:
        counts[name] = counts.get(name, 0) + n


def fail(msg):
    with lock:
        if len(failures) < 50:
            failures.append(msg)
    count("failures")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get_raw(path, headers=None, base=None):
    r = urllib.request.Request((base or km.base) + path)
    for k, v in (headers or {}).items():
        r.add_header(k, v)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


try:
    km.start()
    admin = km.token("admin", "admin")
    ops = km.token("ops", "ops")
    auditor = km.token("auditor", "auditor")
    # Short periods so rotated keys retire and are destroyed during the run (steady state, not an
    # ever-growing JWKS). All bounds of validate_policy hold.
    policy = {"max_token_ttl": 60, "verifier_cache": 60, "jwks_max_age": 30, "clock_skew": 10,
              "verify_grace": 140, "prepublish": 80, "sign_period": 600, "destroy_after": 10, "rotation_lead": 30}
    s, body = km.request("POST", "/v1/keysets", ops, {"name": "soak", "issuer": km.base + "/soak", "alg": "ES256",
                                                       "policy": policy})
    if s not in (200, 201):
        raise RuntimeError(f"create keyset: {s} {body}")
    issuer = km.token("issuer", "issuer", "soak", "default")
    pid = km.proc.pid
    stop = threading.Event()
    recent = []  # tokens to verify

    def signer():
        while not stop.is_set():
            ks = random.choice(["soak", "soak", "default"])
            for attempt in range(4):
                s, b = km.request("POST", f"/v1/keysets/{ks}/sign", issuer,
                                  {"claims": {"sub": "u%d" % random.randint(0, 9999), "aud": "api"}, "ttl": 60},
                                  timeout=15)
                if s == 200:
                    count("sign ok")
                    with lock:
                        recent.append((ks, b["token"]))
                        del recent[:-200]
                    break
                if s == 503 and isinstance(b, dict) and b.get("error") in ("key_state_changed",) and attempt < 3:
                    count("sign retried (key_state_changed)")
                    continue
                fail(f"sign {ks}: {s} {b}")
                break

    def verifier():
        while not stop.is_set():
            with lock:
                item = random.choice(recent) if recent else None
            if item is None:
                time.sleep(0.01)
                continue
            ks, tok = item
            s, b = km.request("POST", f"/v1/keysets/{ks}/verify", auditor, {"token": tok}, timeout=15)
            if s != 200:
                fail(f"verify: {s} {b}")
            elif not b.get("valid"):
                # A token verified within its lifetime must be valid (exp 60 s, the sample is recent).
                failed = [c for c in b.get("checks", []) if not c.get("ok")]
                if any(c.get("name") != "exp" for c in failed):
                    fail(f"fresh token invalid: {failed}")
            else:
                count("verify valid")

    def jwks_reader():
        etag = None
        while not stop.is_set():
            path = random.choice(["/soak/.well-known/jwks.json", "/v1/keysets/soak/jwks.json",
                                  "/default/.well-known/openid-configuration"])
            # Both listeners: the main one and the public one must serve the same documents.
            base = random.choice([km.base, f"http://127.0.0.1:{public_port}"])
            s, h, b = get_raw(path, {"If-None-Match": etag} if etag and "jwks" in path else {}, base=base)
            if s == 200:
                count("jwks/discovery 200")
                if "jwks" in path:
                    etag = h.get("ETag")
                    keys = json.loads(b)["keys"]
                    if not keys or any("d" in k for k in keys):
                        fail(f"bad JWKS: {b[:200]}")
            elif s == 304:
                count("jwks 304")
            else:
                fail(f"GET {path}: {s} {b[:200]}")
            time.sleep(0.005)

    def auditor_client():
        while not stop.is_set():
            q = random.choice(["/v1/audit/ledger?keyset=soak&limit=20", "/v1/audit/ledger?kind=sign&limit=50",
                               "/v1/audit/checkpoints", "/v1/keysets/soak", "/metrics", "/readyz"])
            needs_token = q.startswith("/v1/audit/ledger") or q == "/v1/keysets/soak"
            s, _, b = get_raw(q, {"Authorization": "Bearer " + auditor} if needs_token else {})
            if s != 200:
                fail(f"GET {q}: {s} {b[:200]}")
            else:
                count("audit/info 200")
            time.sleep(0.05)

    def operator():
        while not stop.wait(args.rotate_every):
            s, b = km.request("POST", "/v1/keysets/soak/emergency-rotate", ops, {"reason": "soak"}, timeout=30)
            if s == 200:
                count("rotations")
            else:
                fail(f"emergency-rotate: {s} {b}")

    def sampler():
        t0 = time.time()
        while not stop.wait(1.0):
            rss.append((time.time() - t0, rss_kb(pid)))

    threads = [threading.Thread(target=signer) for _ in range(args.signers)]
    threads += [threading.Thread(target=f) for f in (verifier, jwks_reader, auditor_client, operator, sampler)]
    t0 = time.time()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    if km.proc.poll() is not None:
        failures.append(f"server exited with {km.proc.returncode}")
    s, b = km.request("GET", "/v1/audit/verify", auditor, timeout=120)
    if s != 200 or not (isinstance(b, dict) and b.get("ok", b.get("valid", True))):
        failures.append(f"audit verify: {s} {str(b)[:300]}")
    # Normal traffic (signing, verifying genuine tokens, rotations, audits) raises no alert.
    s, b = km.request("GET", "/v1/alerts?state=all", ops, timeout=30)
    if s != 200 or not isinstance(b, dict) or b.get("alerts"):
        failures.append(f"monitoring raised alerts on normal traffic: {s} {str(b)[:500]}")
    # Bounded memory: after the warm-up third, RSS may not grow by more than the allowance.
    warm = [kb for t, kb in rss if t >= elapsed / 3]
    if len(warm) >= 3:
        base, peak, last = warm[0], max(warm), warm[-1]
        thirds = [max([kb for t, kb in rss if i * elapsed / 3 <= t < (i + 1) * elapsed / 3] or [0]) / 1024
                  for i in range(3)]
        print(f"RSS after warm-up {base / 1024:.1f} MB, peak {peak / 1024:.1f} MB, end {last / 1024:.1f} MB; "
              f"peak per third {thirds[0]:.1f} / {thirds[1]:.1f} / {thirds[2]:.1f} MB "
              f"(cache_mib {args.cache_mib}; samples every 1 s)")
        if peak - base > args.rss_growth_mb * 1024:
            failures.append(f"RSS grew by {(peak - base) / 1024:.1f} MB after warm-up "
                            f"(allowed {args.rss_growth_mb} MB): {[kb // 1024 for _, kb in rss]}")
    total = sum(v for k, v in counts.items() if k != "failures")
    print(f"soak: {elapsed:.0f} s, {total} requests ({total / elapsed:.0f}/s): " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
finally:
    km.cleanup()

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
