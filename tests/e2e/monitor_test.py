#!/usr/bin/python3
"""Key-usage monitoring (issue 15) against the real server, a real SoftHSM2 token and a webhook
receiver of the test's own:

  1. Normal traffic (50 signs and verifies, a bulk check of them, JWKS fetches) raises no alert.
  2. A token forged outside keymgr with the keyset's own key, used through the token with its PIN
     by `pkcs11-tool` (a stolen HSM credential): PyJWT accepts it against the published JWKS, and
     keymgr's /verify says not valid (signature good, provenance failing), raises a critical
     `leak_suspected` alert whose evidence names the token's SHA-256, writes that evidence to the
     ledger, and delivers the alert to the webhook with a valid HMAC signature.
  3. The bulk check with a `verifier` token: genuine, forged, tampered, unknown_key, malformed.
  4. Alerts in two more keysets while the receiver fails (500, then down); SIGKILL; receiver back
     (204); restart: every alert is delivered exactly once with 2xx and a valid signature, and the
     set of alert ids received equals the set /v1/alerts lists.

usage: monitor_test.py KEYMGR_BINARY SOURCE_DIR
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import jwt

from harness import SOFTHSM, Keymgr, free_port

binary, source_dir = sys.argv[1], sys.argv[2]
failures = []
SINK = "e2e-pager"
HOOK_PATH = "/hooks/keymgr"


def expect(cond, what):
    if not cond:
        failures.append(what)
    return cond


def note(msg):
    print(f"monitor_test: {msg}", flush=True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sha256_hex(token):
    return hashlib.sha256(token.encode()).hexdigest()


def wait_for(pred, timeout, interval=0.1):
    """pred() until it returns something truthy or the time runs out; (value, seconds waited)."""
    t0 = time.time()
    while True:
        v = pred()
        if v or time.time() - t0 > timeout:
            return v, time.time() - t0
        time.sleep(interval)


class Receiver:
    """A webhook sink on 127.0.0.1: records every request (headers, body, whether the HMAC
    signature is valid, the status it answered) and answers `status`. stop() takes it away (the
    port then refuses connections); start() brings it back on the same port."""

    def __init__(self, port, secret):
        self.port = port
        self.secret = secret
        self.status = 204
        self.requests = []
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    def start(self):
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sig = self.headers.get("X-Keymgr-Signature", "")
                want = "sha256=" + hmac.new(recv.secret, body, hashlib.sha256).hexdigest()
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                with recv.lock:
                    status = recv.status
                    recv.requests.append({
                        "path": self.path,
                        "alert_id": self.headers.get("X-Keymgr-Alert-Id"),
                        "attempt": self.headers.get("X-Keymgr-Delivery-Attempt"),
                        "content_type": self.headers.get("Content-Type", ""),
                        "sig_ok": hmac.compare_digest(sig, want),
                        "body": parsed,
                        "status": status,
                        "at": time.time(),
                    })
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
        self.server = None

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def delivered(self, alert_id):
        """Requests for alert_id that the receiver answered with 2xx."""
        return [r for r in self.snapshot() if r["alert_id"] == alert_id and 200 <= r["status"] < 300]


class Forger:
    """Signs tokens with a keyset's real key, outside keymgr: pkcs11-tool on the same SoftHSM2
    token with the user PIN. The key is found the way an attacker holding the token and the PIN
    would: the public key object whose EC point is the published JWK of the active kid."""

    def __init__(self, km, admin):
        self.km = km
        self.admin = admin
        self.pin = open(os.path.join(km.hsm_dir, "hsm.pin")).read().strip()
        self.work = tempfile.mkdtemp(prefix="km-e2e-forge-")

    def p11(self, *args, login=False):
        cmd = ["pkcs11-tool", "--module", SOFTHSM, "--token-label", "keymgr"]
        if login:
            cmd += ["--login", "--pin", self.pin]
        r = subprocess.run(cmd + list(args), env=self.km.env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"pkcs11-tool {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r.stdout

    def key_for(self, keyset):
        """(kid, issuer, CKA_ID hex, CKA_LABEL, the JWK) of the keyset's active key."""
        status, ks = self.km.request("GET", f"/v1/keysets/{keyset}", self.admin)
        if status != 200 or not ks.get("active_kid"):
            raise RuntimeError(f"GET /v1/keysets/{keyset}: {status} {ks}")
        kid = ks["active_kid"]
        status, jwks = self.km.request("GET", f"/v1/keysets/{keyset}/jwks.json")
        jwk = next((k for k in jwks.get("keys", []) if k.get("kid") == kid), None) if status == 200 else None
        if jwk is None or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise RuntimeError(f"active kid {kid} of {keyset} is not a published P-256 key: {status} {jwks}")
        point = (b"\x04" + b64url_decode(jwk["x"]) + b64url_decode(jwk["y"])).hex()
        # Public objects are listed without logging in; each block gives EC_POINT (the DER
        # OCTET STRING around the uncompressed point), label and ID.
        found = []
        for block in re.split(r"\n(?=\S)", self.p11("--list-objects", "--type", "pubkey")):
            ec = re.search(r"EC_POINT:\s+([0-9a-f]+)", block)
            cka_id = re.search(r"\n\s+ID:\s+([0-9a-f]+)", block)
            label = re.search(r"label:\s+(\S+)", block)
            if ec and cka_id and ec.group(1).endswith(point):
                found.append((cka_id.group(1), label.group(1) if label else ""))
        if len(found) != 1:
            raise RuntimeError(f"{len(found)} public key objects in the token match kid {kid} of {keyset}: {found}")
        return kid, ks["issuer"], found[0][0], found[0][1], jwk

    def forge(self, keyset, sub="mallory"):
        kid, issuer, cka_id, label, jwk = self.key_for(keyset)
        now = int(time.time())
        header = {"alg": "ES256", "kid": kid, "typ": "JWT"}
        payload = {"sub": sub, "iss": issuer, "iat": now, "nbf": now, "exp": now + 600,
                   "jti": b64url(secrets.token_bytes(16))}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
        # SoftHSM2 has no CKM_ECDSA_SHA256: hash here, CKM_ECDSA on the digest gives raw r||s.
        src, out = os.path.join(self.work, "digest"), os.path.join(self.work, "sig")
        with open(src, "wb") as f:
            f.write(hashlib.sha256(signing_input.encode()).digest())
        self.p11("--sign", "--mechanism", "ECDSA", "--id", cka_id, "-i", src, "-o", out, login=True)
        with open(out, "rb") as f:
            sig = f.read()
        if len(sig) != 64:
            raise RuntimeError(f"pkcs11-tool ECDSA gave {len(sig)} bytes, want raw r||s (64)")
        return {"token": signing_input + "." + b64url(sig), "kid": kid, "issuer": issuer, "label": label,
                "jwk": jwk}

    def cleanup(self):
        shutil.rmtree(self.work, ignore_errors=True)


def pyjwt_verdict(token, jwk, issuer):
    """What an ordinary relying party (PyJWT with the published JWK) makes of the token."""
    try:
        key = jwt.PyJWK(jwk, algorithm="ES256")
        claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer=issuer,
                            options={"require": ["exp", "iat", "iss"], "verify_aud": False})
        return "accepted", claims
    except jwt.InvalidTokenError as e:
        return f"rejected: {type(e).__name__}: {e}", None


def with_claim(token, name, value):
    """The token with one claim changed and its signature kept: a tampered token."""
    h, p, s = token.split(".")
    claims = json.loads(b64url_decode(p))
    claims[name] = value
    return h + "." + b64url(json.dumps(claims).encode()) + "." + s


def checks_of(body):
    return {c["check"]: c for c in body.get("checks", [])}


def alerts(km, token, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    status, body = km.request("GET", "/v1/alerts" + (f"?{q}" if q else ""), token)
    if status != 200:
        raise RuntimeError(f"GET /v1/alerts?{q}: {status} {body}")
    return body["alerts"]


def alert_ledger(km, auditor):
    status, body = km.request("GET", "/v1/audit/ledger?kind=alert&limit=1000", auditor)
    if status != 200:
        raise RuntimeError(f"GET /v1/audit/ledger?kind=alert: {status} {body}")
    return body["entries"]


def metric(km, name):
    with urllib.request.urlopen(km.base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)}(?:\{{\}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


hook_dir = tempfile.mkdtemp(prefix="km-e2e-hook-")
secret = "whsec-" + secrets.token_hex(24)
secret_file = os.path.join(hook_dir, "webhook.secret")
with open(secret_file, "w") as f:
    f.write(secret + "\n")
os.chmod(secret_file, 0o600)
receiver = Receiver(free_port(), secret.encode())
# retry_initial_ms 100 doubling to 2 s: failed attempts come back quickly, so that at the SIGKILL
# no delivery is likely to be claimed (a claim held then runs out only after 60 s).
km = Keymgr(binary, source_dir, extra={"tail": f"""
[monitor]
retry_initial_ms = 100
retry_max = "2s"
[[monitor.webhooks]]
name = "{SINK}"
url = "http://127.0.0.1:{receiver.port}{HOOK_PATH}"
secret_file = "{secret_file}"
timeout = "1s"
"""})
forger = Forger(km, None)
t_start = time.time()
try:
    receiver.start()
    km.start()  # creates the bootstrap keyset
    km.stop()
    admin = km.token("admin", "admin")
    ops = km.token("ops", "ops")
    auditor = km.token("auditor", "auditor")
    issuer = km.token("issuer", "issuer", "default")
    verifier = km.token("relying-party", "verifier")
    forger.admin = admin
    km.start()

    # ---- 1. Normal traffic raises nothing ----
    genuine = []
    for i in range(50):
        status, body = km.request("POST", "/v1/keysets/default/sign", issuer, {"claims": {"sub": f"user{i}"}, "ttl": 600})
        if not expect(status == 200, f"1: sign #{i}: {status} {body}"):
            break
        genuine.append(body["token"])
    bad = []
    for tok in genuine:
        status, body = km.request("POST", "/v1/keysets/default/verify", verifier, {"token": tok})
        if status != 200 or not body.get("valid"):
            bad.append((status, body.get("reasons") if isinstance(body, dict) else body))
    expect(not bad, f"1: {len(bad)} of {len(genuine)} genuine tokens not valid at /verify, e.g. {bad[:1]}")
    for path in ["/v1/keysets/default/jwks.json", "/default/.well-known/jwks.json"]:
        for _ in range(5):
            status, body = km.request("GET", path)
            expect(status == 200 and body.get("keys"), f"1: GET {path}: {status} {body}")
    status, body = km.request("POST", "/v1/keysets/default/check", verifier, {"tokens": genuine})
    expect(status == 200 and body.get("summary", {}).get("genuine") == len(genuine),
           f"1: bulk check of {len(genuine)} genuine tokens: {status} {body.get('summary') if isinstance(body, dict) else body}")
    status, jwks = km.request("GET", "/v1/keysets/default/jwks.json")
    kid0 = jwt.get_unverified_header(genuine[0])["kid"]
    jwk0 = next(k for k in jwks["keys"] if k["kid"] == kid0)
    verdict, _ = pyjwt_verdict(genuine[0], jwk0, km.base + "/default")
    expect(verdict == "accepted", f"1: PyJWT on a genuine token: {verdict}")
    time.sleep(1.5)  # a dispatcher poll, in case something was raised and not listed yet
    listed = alerts(km, auditor, state="all")
    expect(listed == [], f"1: normal traffic raised alerts (false positives): {json.dumps(listed)[:600]}")
    expect(alert_ledger(km, auditor) == [], "1: normal traffic wrote alert entries to the ledger")
    expect(receiver.snapshot() == [], f"1: the webhook received something from normal traffic: {receiver.snapshot()[:1]}")
    note(f"1: {len(genuine)} genuine tokens signed and verified, no alert ({time.time() - t_start:.1f} s)")

    # ---- 2. A token forged outside keymgr with the real key ----
    f1 = forger.forge("default")
    forged, forged_sha = f1["token"], sha256_hex(f1["token"])
    expect(f1["label"].startswith("keymgr:default:"), f"2: the key found by its public point has label {f1['label']}")
    # A relying party with only the JWKS cannot tell: the signature is genuinely good.
    verdict, claims = pyjwt_verdict(forged, f1["jwk"], f1["issuer"])
    expect(verdict == "accepted" and claims and claims.get("sub") == "mallory",
           f"2: PyJWT does not accept the forged token, so the forgery itself is broken: {verdict}")
    verdict_t, _ = pyjwt_verdict(with_claim(forged, "sub", "admin"), f1["jwk"], f1["issuer"])
    expect(verdict_t.startswith("rejected"), f"2: PyJWT accepted a tampered token (it is not checking): {verdict_t}")

    status, body = km.request("POST", "/v1/keysets/default/verify", verifier, {"token": forged})
    checks = checks_of(body) if status == 200 else {}
    expect(status == 200 and body.get("valid") is False,
           f"2: /verify of the forged token: want 200 valid=false, got {status} {body}")
    expect(checks.get("signature", {}).get("ok") is True,
           f"2: /verify: signature check should pass for a token signed with the real key: {checks.get('signature')}")
    expect(checks.get("provenance", {}).get("ok") is False,
           f"2: /verify: provenance check should fail for a token keymgr did not issue: {checks.get('provenance')}")
    expect(body.get("kid") == f1["kid"], f"2: /verify kid {body.get('kid')}, want {f1['kid']}")
    others = [c for n, c in checks.items() if n not in ("provenance",) and not c["ok"]]
    expect(not others, f"2: /verify: only provenance should fail, also failing: {others}")

    leaks = alerts(km, auditor, kind="leak_suspected")
    a1 = leaks[0] if len(leaks) == 1 else {}
    expect(len(leaks) == 1, f"2: want one leak_suspected alert, got {len(leaks)}: {json.dumps(leaks)[:600]}")
    ev = a1.get("evidence", {})
    expect(a1.get("severity") == "critical" and a1.get("keyset") == "default" and a1.get("kid") == f1["kid"]
           and a1.get("acknowledged") is False and a1.get("occurrences") == 1,
           f"2: alert fields: {json.dumps(a1)[:600]}")
    expect(ev.get("token_sha256") == forged_sha,
           f"2: alert evidence token_sha256 {ev.get('token_sha256')}, want sha256(forged token) {forged_sha}")
    expect(ev.get("why") == "not_in_ledger" and ev.get("source") == "verify" and ev.get("key_state") == "active"
           and str(ev.get("presented_by", "")).startswith("relying-party"),
           f"2: alert evidence: {ev}")
    expect(alerts(km, auditor, kind="leak_suspected", severity="critical", state="open", keyset="default") == leaks,
           "2: filters kind/severity/state/keyset do not select the alert")
    id1 = a1.get("id", "")
    expect(f"ALERT {id1} [critical]" in km.log(), f"2: no 'ALERT {id1} [critical]' line in the server log")

    got, waited = wait_for(lambda: receiver.delivered(id1), 15)
    if expect(got, f"2: the webhook did not receive alert {id1} within 15 s; received: {receiver.snapshot()}"):
        r = got[0]
        expect(r["sig_ok"], f"2: webhook X-Keymgr-Signature does not verify (HMAC-SHA256 of the body): {r}")
        expect(r["path"] == HOOK_PATH and r["attempt"] == "1" and r["content_type"].startswith("application/json"),
               f"2: webhook request path/attempt/content type: {r['path']} {r['attempt']} {r['content_type']}")
        b = r["body"] or {}
        expect(b.get("id") == id1 and b.get("kind") == "leak_suspected" and b.get("severity") == "critical"
               and b.get("sink") == SINK and b.get("evidence", {}).get("token_sha256") == forged_sha,
               f"2: webhook body: {b}")
        note(f"2: forged token caught, alert {id1} delivered in {waited:.2f} s")
    # The receiver answers before keymgr records the outcome: wait for the record.
    def delivery_of(alert_id):
        st, d = km.request("GET", f"/v1/alerts/{alert_id}", auditor)
        ds = d.get("deliveries", []) if st == 200 else []
        return (st, d, ds) if ds and all(x["delivered"] for x in ds) else None

    got, _ = wait_for(lambda: delivery_of(id1), 10)
    status, detail, ds = got or (*km.request("GET", f"/v1/alerts/{id1}", auditor), [])
    expect(len(ds) == 1 and ds[0]["sink"] == SINK and ds[0]["delivered"] and ds[0]["attempts"] == 1
           and ds[0]["delivered_at_ms"], f"2: GET /v1/alerts/{id1}: {status} {detail}")
    entries = [e for e in alert_ledger(km, auditor) if e.get("token_sha256") == forged_sha]
    expect(len(entries) == 1 and entries[0]["event"] == "leak_suspected" and entries[0]["reason"] == id1
           and entries[0]["outcome"] == "critical" and entries[0]["kid"] == f1["kid"],
           f"2: ledger kind=alert entry for the forged token: {entries}")
    # Presented again: the same incident, counted, not delivered again.
    km.request("POST", "/v1/keysets/default/verify", verifier, {"token": forged})
    status, again = km.request("GET", f"/v1/alerts/{id1}", auditor)
    expect(status == 200 and again.get("occurrences") == 2, f"2: a repeat should count on the alert: {again}")
    time.sleep(1.2)
    expect(len([r for r in receiver.snapshot() if r["alert_id"] == id1]) == 1,
           f"2: the repeat was delivered again: {[r for r in receiver.snapshot() if r['alert_id'] == id1]}")

    # ---- 3. Bulk check by a relying party ----
    f2 = forger.forge("default", sub="mallory2")
    tampered = with_claim(genuine[1], "sub", "admin")
    h, p, s = genuine[1].split(".")
    hdr_u = json.loads(b64url_decode(h))
    hdr_u["kid"] = "no-such-kid"
    unknown = b64url(json.dumps(hdr_u).encode()) + "." + p + "." + s
    batch = [genuine[2], f2["token"], tampered, unknown, "not.a-token", 42]
    want = ["genuine", "forged", "tampered", "unknown_key", "malformed", "malformed"]
    status, body = km.request("POST", "/v1/keysets/default/check", verifier, {"tokens": batch})
    got_v = [r.get("verdict") for r in sorted(body.get("results", []), key=lambda r: r["index"])] if status == 200 else []
    expect(got_v == want, f"3: bulk check verdicts {got_v}, want {want} ({status} {json.dumps(body)[:800]})")
    if status == 200:
        res = {r["index"]: r for r in body["results"]}
        expect(res[0].get("kid") == kid0 and res[1].get("kid") == f2["kid"],
               f"3: check kids: {res[0].get('kid')} {res[1].get('kid')}")
        want_summary = {"genuine": 1, "forged": 1, "tampered": 1, "unknown_key": 1, "malformed": 2, "error": 0}
        expect(body.get("summary") == want_summary, f"3: summary {body.get('summary')}, want {want_summary}")
    entries = [e for e in alert_ledger(km, auditor) if e.get("token_sha256") == sha256_hex(f2["token"])]
    expect(len(entries) == 1 and entries[0]["event"] == "leak_suspected"
           and (entries[0].get("detail") or {}).get("source") == "check",
           f"3: the forged token from the bulk check has no leak_suspected ledger entry with source 'check': {entries}")
    leaks = alerts(km, auditor, kind="leak_suspected", keyset="default")
    total = sum(a["occurrences"] for a in leaks if a["kid"] == f1["kid"])
    expect(total == 3, f"3: leak_suspected occurrences for {f1['kid']}: {total}, want 3 (2 verifies + 1 check)")
    status, body = km.request("GET", "/v1/alerts", verifier)
    expect(status == 403, f"3: a verifier token may list alerts: {status}")
    status, body = km.request("POST", "/v1/keysets/default/sign", verifier, {"claims": {}})
    expect(status == 403, f"3: a verifier token may sign: {status}")
    status, body = km.request("POST", "/v1/keysets/default/check", issuer, {"tokens": [genuine[0]]})
    expect(status == 403, f"3: an issuer token may use the bulk check: {status}")
    note(f"3: bulk check verdicts {got_v}")

    # ---- 4. Undelivered alerts survive SIGKILL ----
    new_ids = []
    for name in ("alpha", "beta"):
        status, body = km.request("POST", "/v1/keysets", admin, {"name": name, "issuer": f"{km.base}/{name}"})
        if not expect(status == 201, f"4: create keyset {name}: {status} {body}"):
            raise RuntimeError("cannot go on without the keysets")
    receiver.status = 500
    for name in ("alpha", "beta"):
        f = forger.forge(name)
        status, body = km.request("POST", f"/v1/keysets/{name}/verify", auditor, {"token": f["token"]})
        expect(status == 200 and body.get("valid") is False and checks_of(body).get("signature", {}).get("ok"),
               f"4: /verify of the token forged in {name}: {status} {body}")
        found = alerts(km, auditor, kind="leak_suspected", keyset=name)
        if expect(len(found) == 1 and found[0]["evidence"].get("token_sha256") == sha256_hex(f["token"]),
                  f"4: leak_suspected alert for {name}: {found}"):
            new_ids.append(found[0]["id"])

    def failed_everywhere():
        # Each new alert's delivery was tried, answered 500 and recorded as failed.
        for i in new_ids:
            st, d = km.request("GET", f"/v1/alerts/{i}", auditor)
            ds = d.get("deliveries", []) if st == 200 else []
            if not (len(ds) == 1 and not ds[0]["delivered"] and ds[0]["attempts"] >= 2 and "500" in ds[0]["last_error"]):
                return False
        return True

    ok, waited = wait_for(failed_everywhere, 15)
    expect(ok, f"4: deliveries not retried after HTTP 500 within 15 s: "
               f"{[km.request('GET', f'/v1/alerts/{i}', auditor)[1].get('deliveries') for i in new_ids]}")
    refused = [r for r in receiver.snapshot() if r["alert_id"] in new_ids]
    expect(all(r["sig_ok"] for r in refused), "4: a refused attempt carried a bad signature")
    receiver.stop()  # now the port refuses: attempts fail at once and are recorded with backoff
    time.sleep(0.5)
    km.kill()
    undelivered = [i for i in new_ids if not receiver.delivered(i)]
    expect(len(undelivered) == 2, f"4: alerts were delivered before the kill: {set(new_ids) - set(undelivered)}")
    receiver.status = 204
    receiver.start()
    t_restart = time.time()
    km.start()

    all_alerts = alerts(km, auditor, state="all")
    listed_ids = {a["id"] for a in all_alerts}
    expect(set(new_ids) <= listed_ids and id1 in listed_ids, f"4: alerts after restart: {sorted(listed_ids)}")

    def all_delivered():
        for i in listed_ids:
            st, d = km.request("GET", f"/v1/alerts/{i}", auditor)
            if st != 200 or not all(x["delivered"] for x in d.get("deliveries", [])) or not receiver.delivered(i):
                return False
        return True

    ok, waited = wait_for(all_delivered, 75, 0.2)
    delivery_s = time.time() - t_restart
    expect(ok, f"4: not every alert delivered within 75 s of the restart: receiver has "
               f"{sorted({r['alert_id'] for r in receiver.snapshot() if 200 <= r['status'] < 300})}, listed {sorted(listed_ids)}")
    if delivery_s > 15:
        note(f"4: delivery after the restart took {delivery_s:.1f} s: a claim held at the SIGKILL had to run out")
    received_ids = {r["alert_id"] for r in receiver.snapshot()}
    expect(received_ids == listed_ids, f"4: alert ids received {sorted(received_ids)} != ids listed {sorted(listed_ids)}")
    bad_sig = [r for r in receiver.snapshot() if not r["sig_ok"]]
    expect(not bad_sig, f"4: {len(bad_sig)} webhook requests with a bad HMAC signature, e.g. {bad_sig[:1]}")
    for i in listed_ids:
        ok2 = receiver.delivered(i)
        expect(len(ok2) == 1, f"4: alert {i} answered 2xx {len(ok2)} times, want exactly once")
        st, d = km.request("GET", f"/v1/alerts/{i}", auditor)
        ds = d.get("deliveries", []) if st == 200 else []
        expect(len(ds) == 1 and ds[0]["sink"] == SINK and ds[0]["delivered"] and ds[0]["delivered_at_ms"],
               f"4: GET /v1/alerts/{i} after delivery: {st} {d}")
        if ok2 and ds:
            expect(str(ds[0]["attempts"]) == ok2[0]["attempt"] and (ok2[0]["body"] or {}).get("id") == i,
                   f"4: alert {i}: delivered attempt header {ok2[0]['attempt']} / body id "
                   f"{(ok2[0]['body'] or {}).get('id')}, record says attempts {ds[0]['attempts']}")
        if i in new_ids and ok2:
            expect(int(ok2[0]["attempt"]) > 1, f"4: alert {i} delivered at attempt {ok2[0]['attempt']}, after failures")
    pending, _ = wait_for(lambda: metric(km, "keymgr_alert_deliveries_pending") == 0, 5)
    expect(pending, f"4: keymgr_alert_deliveries_pending is {metric(km, 'keymgr_alert_deliveries_pending')}, want 0")
    # Acknowledging closes an alert; evidence stays.
    status, body = km.request("POST", f"/v1/alerts/{id1}/ack", ops, {"reason": "e2e: forged by the test"})
    expect(status == 200 and body.get("acknowledged") is True, f"4: ack: {status} {body}")
    open_ids = {a["id"] for a in alerts(km, auditor, state="open")}
    acked_ids = {a["id"] for a in alerts(km, auditor, state="acknowledged")}
    expect(id1 not in open_ids and set(new_ids) <= open_ids and acked_ids == {id1},
           f"4: after acknowledging {id1}: open {sorted(open_ids)}, acknowledged {sorted(acked_ids)}")
    status, body = km.request("POST", f"/v1/alerts/{id1}/ack", ops, {"reason": "again"})
    expect(status == 409, f"4: a second ack: {status} {body}, want 409")
    acks = [e for e in alert_ledger(km, auditor) if e.get("event") == "alert_acknowledged"]
    expect(len(acks) == 1 and acks[0]["reason"] == id1 and str(acks[0]["actor"]).startswith("ops")
           and (acks[0].get("detail") or {}).get("reason") == "e2e: forged by the test",
           f"4: ledger entry of the acknowledgement: {acks}")
    r = km.cli("audit", "verify", check=False)
    expect(r.returncode == 0, "4: audit verify after the kill: " + r.stdout + r.stderr)
    note(f"4: {len(new_ids)} alerts undelivered at SIGKILL, all {len(listed_ids)} delivered {delivery_s:.1f} s "
         f"after the restart; {len(receiver.snapshot())} webhook requests in all")
except Exception as e:  # noqa: BLE001 - report, then fail
    failures.append(f"exception: {type(e).__name__}: {e}")
    print(km.log()[-3000:])
finally:
    km.cleanup()
    receiver.stop()
    forger.cleanup()
    shutil.rmtree(hook_dir, ignore_errors=True)

note(f"ran in {time.time() - t_start:.1f} s")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("monitor_test: all checks passed")
