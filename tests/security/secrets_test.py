#!/usr/bin/python3
"""Secrets never leave keymgr: runs the real binary (SoftHSM2 + SQLite file, debug logging) through a
realistic session -- wrong-PIN start attempts, API token creation (CLI and API), signing,
verification, failed logins with wrong/revoked/truncated tokens, rotation, audit queries -- and greps
every log line, every error body (and every response body that is not the one-time token display)
and /metrics for: the HSM PIN and SO PIN, the wrong PINs tried, every API token (whole, and its
secret part). Also: no private key member in any JWKS/JWK the server returns, no secret on the
server's command line or environment, core dumps disabled (/proc/PID/limits) and the process not
dumpable (checked by running it as an unprivileged user: /proc/PID files then belong to root).

usage: secrets_test.py KEYMGR_BINARY SOURCE_DIR
"""
import json
import os
import pwd
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(sys.argv[2], "tests", "e2e"))
from harness import Keymgr  # noqa: E402

binary, source_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
failures = []
checks = 0


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)


# A permissive umask, as a login shell has: the files that hold secrets must be owner-only anyway.
os.umask(0o022)
km = Keymgr(binary, source_dir)
km.env["KEYMGR_LOG_LEVEL"] = "debug"
texts = []          # (where, text) that must hold no secret
secrets = {}        # label -> secret string


def secret_part(tok):
    # km_<id>_<secret>
    return tok.split("_", 2)[2] if tok.count("_") >= 2 else tok


def add_token(label, tok):
    secrets[label] = tok
    secrets[label + " (secret part)"] = secret_part(tok)


def req(method, path, token=None, body=None, raw_auth=None, keep=True):
    """One HTTP request; returns (status, body text). The body is kept for the grep unless keep=False."""
    import urllib.error
    import urllib.request
    r = urllib.request.Request(km.base + path, method=method,
                               data=None if body is None else json.dumps(body).encode())
    if raw_auth is not None:
        r.add_header("Authorization", raw_auth)
    elif token:
        r.add_header("Authorization", "Bearer " + token)
    if body is not None:
        r.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            status, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    if keep:
        texts.append((f"{method} {path} -> {status}", text))
    return status, text


try:
    pin = open(os.path.join(km.dir, "hsm.pin")).read().strip()
    so_pin = open(os.path.join(km.dir, "hsm.so-pin")).read().strip()
    secrets["HSM PIN"] = pin
    secrets["HSM SO PIN"] = so_pin
    check(len(pin) >= 12, "test PIN is long enough to grep for")

    # 1. Start attempts with a wrong PIN (from a file, and from $KEYMGR_HSM_PIN): must fail, and say
    #    nothing about either PIN.
    wrong_file = os.path.join(km.dir, "wrong.pin")
    wrong1, wrong2 = "WrongPin-" + pin[::-1], "EnvWrongPin-" + pin[:6] + "xyzzy"
    secrets["wrong PIN (file)"], secrets["wrong PIN (env)"] = wrong1, wrong2
    with open(wrong_file, "w") as f:
        f.write(wrong1 + "\n")
    for env_extra in ({"KEYMGR_HSM_PIN_FILE": wrong_file}, {"KEYMGR_HSM_PIN": wrong2, "KEYMGR_LOG_JSON": "1"}):
        env = dict(km.env, **env_extra)
        if "KEYMGR_HSM_PIN" in env_extra:
            # pin_file in the config wins over the environment: use a config without it.
            cfg2 = km.config + ".envpin"
            with open(km.config) as f, open(cfg2, "w") as g:
                g.write("".join(line for line in f if not line.startswith("pin_file")))
            env["KEYMGR_CONFIG"] = cfg2
        r = subprocess.run([binary, "serve"], env=env, capture_output=True, text=True, timeout=60)
        check(r.returncode != 0, f"serve with a wrong PIN ({list(env_extra)}) must not start: exit {r.returncode}")
        texts.append((f"serve wrong PIN {list(env_extra)} stdout+stderr", r.stdout + r.stderr))
        check("pin" in (r.stdout + r.stderr).lower() or "login" in (r.stdout + r.stderr).lower(),
              "the wrong-PIN failure says what failed (PIN/login): " + (r.stdout + r.stderr)[-300:])

    # 2. The real server, debug logs.
    km.start()
    pid = km.proc.pid
    admin = km.token("admin", "admin")
    add_token("admin token", admin)
    issuer = km.token("issuer", "issuer", "default")
    add_token("issuer token", issuer)
    auditor = km.token("auditor", "auditor")
    add_token("auditor token", auditor)
    # Token created over the API: its body is the one place the token may appear (not kept).
    status, text = req("POST", "/v1/tokens", admin, {"name": "ops", "role": "ops"}, keep=False)
    check(status in (200, 201), f"POST /v1/tokens: {status} {text}")
    ops = json.loads(text)["token"]
    add_token("ops token (API)", ops)
    status, text = req("POST", "/v1/tokens", admin, {"name": "doomed", "role": "issuer", "keysets": ["default"]},
                       keep=False)
    doomed = json.loads(text)["token"]
    doomed_id = json.loads(text).get("id") or doomed.split("_")[1]
    add_token("revoked token", doomed)
    req("DELETE", f"/v1/tokens/{doomed_id}", admin)

    # 3. A realistic session.
    tokens = []
    for i in range(5):
        s, t = req("POST", "/v1/keysets/default/sign", issuer, {"claims": {"sub": f"user{i}", "aud": "api"}, "ttl": 300})
        check(s == 200, f"sign: {s} {t}")
        if s == 200:
            tokens.append(json.loads(t)["token"])
    for t in tokens[:2]:
        s, body = req("POST", "/v1/keysets/default/verify", auditor, {"token": t})
        check(s == 200 and json.loads(body)["valid"], f"verify: {s} {body}")
    req("GET", "/v1/keysets", admin)
    req("GET", "/v1/keysets/default", ops)
    s, _ = req("POST", "/v1/keysets", ops, {"name": "web", "issuer": km.base + "/web", "alg": "ES256"})
    check(s in (200, 201), f"create keyset web: {s}")
    req("POST", "/v1/keysets/default/rotate", ops, {"reason": "secrets test"})
    req("GET", "/v1/audit/ledger?limit=50", auditor)
    req("GET", "/v1/audit/verify", auditor)
    req("GET", "/v1/audit/checkpoints")
    req("GET", "/v1/tokens", admin)
    s, jwks = req("GET", "/default/.well-known/jwks.json")
    s2, jwks2 = req("GET", "/v1/keysets/web/jwks.json")
    req("GET", "/default/.well-known/openid-configuration")
    # Failed logins: wrong secret for a real id, revoked, truncated, other schemes, token in the wrong
    # place, a PIN as a token (an operator pasting the wrong secret).
    tid = admin.split("_")[1]
    bad_auth = [
        "Bearer km_" + tid + "_" + "A" * len(secret_part(admin)),
        "Bearer " + admin[:-1],
        "Bearer " + admin + "x",
        "Bearer " + doomed,
        "Basic " + admin,
        "bearer " + admin,
        "Bearer  " + admin,
        "Bearer " + pin,
        "Bearer km_" + pin + "_" + pin,
        admin,
    ]
    for i, h in enumerate(bad_auth):
        secrets[f"failed-login header #{i}"] = h
        s, _ = req("GET", "/v1/keysets", raw_auth=h)
        check(s == 401, f"bad Authorization #{i} must be 401, got {s}")
        s, _ = req("POST", "/v1/keysets/default/sign", raw_auth=h, body={"claims": {"sub": "x"}})
        check(s == 401, f"bad Authorization #{i} on sign must be 401, got {s}")
    s, _ = req("GET", "/v1/keysets?token=" + admin)
    check(s == 401, f"a token in the query string does not authenticate: {s}")
    # Errors that echo input: wrong role, bad bodies, unknown routes.
    req("POST", "/v1/keysets/default/sign", auditor, {"claims": {"sub": "x"}})
    req("POST", "/v1/keysets/web/sign", issuer, {"claims": {"sub": "x"}})
    req("POST", "/v1/keysets/default/sign", issuer, {"claims": {"sub": "x", "iat": 1}})
    req("POST", "/v1/keysets/default/verify", auditor, {"token": admin})
    req("POST", "/v1/keysets/default/verify", auditor, {"token": "x." + pin + ".y"})
    req("GET", "/v1/audit/ledger?actor=" + admin, auditor)
    req("GET", "/nope/" + admin)
    req("DELETE", "/v1/tokens/" + tid, issuer)
    # CLI with a wrong token: its error output must not echo the token either.
    bogus = "km_" + tid + "_" + "B" * 40
    secrets["bogus CLI token"] = bogus
    r = km.cli("keyset", "list", token=bogus, check=False)
    check(r.returncode != 0, "CLI with a bogus token fails")
    texts.append(("CLI keyset list (bogus token)", r.stdout + r.stderr))
    s, metrics = req("GET", "/metrics")
    check(s == 200 and "keymgr_" in metrics, "metrics served")

    # 4. Process hardening, while it runs.
    with open(f"/proc/{pid}/limits") as f:
        core = [line for line in f if line.startswith("Max core file size")]
    check(bool(core) and core[0].split()[4] == "0" and core[0].split()[5] == "0",
          f"core dumps disabled (soft and hard 0): {core}")
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().decode(errors="replace")
    with open(f"/proc/{pid}/environ", "rb") as f:
        environ = f.read().decode(errors="replace")
    texts.append(("server /proc/PID/cmdline", cmdline))
    texts.append(("server /proc/PID/environ", environ))

    # 4b. File modes (umask 022 above): the database and its -wal/-shm hold token hashes, subjects
    #     and callers; the PIN file; the SoftHSM2 token directory made by scripts/init-softhsm.sh
    #     (the script scripts/run.sh uses for ./data), also when that directory existed before.
    def mode(path):
        return os.stat(path).st_mode & 0o7777
    for name in ("keymgr.db", "keymgr.db-wal", "keymgr.db-shm", "hsm.pin"):
        path = os.path.join(km.dir, name)
        check(os.path.exists(path) and mode(path) == 0o600,
              f"{name} must be 0600: {oct(mode(path)) if os.path.exists(path) else 'missing'}")
    tokens_dir = os.path.join(km.dir, "tokens")
    for d in [tokens_dir] + [os.path.join(tokens_dir, e) for e in os.listdir(tokens_dir)]:
        if os.path.isdir(d):
            check(mode(d) == 0o700, f"token directory {d} must be 0700: {oct(mode(d))}")
    pre = os.path.join(km.dir, "pre-existing")
    os.makedirs(os.path.join(pre, "tokens"))
    os.chmod(os.path.join(pre, "tokens"), 0o755)
    subprocess.run([os.path.join(source_dir, "scripts/init-softhsm.sh"), pre, "other"], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, SOFTHSM2_CONF=os.path.join(pre, "softhsm2.conf")))
    check(mode(os.path.join(pre, "tokens")) == 0o700,
          f"init-softhsm.sh leaves an existing token directory {oct(mode(os.path.join(pre, 'tokens')))}")

    # 5. Private key material: never in a JWK the server returns; the HSM objects are sensitive and
    #    not extractable.
    for name, doc in (("default jwks", jwks), ("web jwks", jwks2)):
        for k in json.loads(doc)["keys"]:
            for member in ("d", "p", "q", "dp", "dq", "qi", "oth", "k"):
                check(member not in k, f"{name}: private member '{member}' in {k.get('kid')}")
    km.stop()
    if shutil.which("pkcs11-tool"):
        r = subprocess.run(["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label", "keymgr",
                            "--login", "--pin", pin, "--list-objects", "--type", "privkey"],
                           env=km.env, capture_output=True, text=True, timeout=60)
        objs = r.stdout.count("Private Key Object")
        check(objs >= 2, f"private keys are in the HSM ({objs}): {r.stdout[-500:]} {r.stderr[-300:]}")
        # pkcs11-tool prints "Access: sensitive, always sensitive, never extractable, local".
        blocks = r.stdout.split("Private Key Object")[1:]
        for b in blocks:
            check("never extractable" in b and "sensitive" in b, "private key not sensitive/never extractable: " + b[:300])

    # 6. Not dumpable: run it as an unprivileged user. /proc/PID entries of a non-dumpable process
    #    are owned by root, not by the process's uid.
    if os.geteuid() == 0 and shutil.which("setpriv"):
        nobody = pwd.getpwnam("nobody")
        subprocess.run(["chown", "-R", f"{nobody.pw_uid}:{nobody.pw_gid}", km.dir], check=True)
        os.chmod(km.dir, 0o755)
        log = open(os.path.join(km.dir, "nobody.log"), "w")
        p = subprocess.Popen(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                              binary, "serve"], env=km.env, stdout=log, stderr=log, cwd=km.dir)
        try:
            deadline, up = time.time() + 30, False
            while time.time() < deadline and p.poll() is None:
                try:
                    st = km.request("GET", "/healthz", timeout=1)[0]
                    if st == 200:
                        up = True
                        break
                except Exception:
                    pass
                time.sleep(0.1)
            if up:
                with open(f"/proc/{p.pid}/status") as f:
                    uid_line = [line for line in f if line.startswith("Uid:")][0]
                owner = os.stat(f"/proc/{p.pid}/status").st_uid
                check(int(uid_line.split()[1]) == nobody.pw_uid, f"server runs as nobody: {uid_line}")
                check(owner == 0, f"/proc/PID of the server owned by uid {owner}: the process is dumpable")
            else:
                print("note: could not start the server as nobody (binary not reachable?); dumpable check skipped:",
                      open(os.path.join(km.dir, "nobody.log")).read()[-300:])
        finally:
            p.terminate()
            p.wait(timeout=20)
        texts.append(("server log (as nobody)", open(os.path.join(km.dir, "nobody.log")).read()))
    else:
        print("note: not root or no setpriv: dumpable check skipped")

    # 7. Grep everything.
    log = km.log()
    print(f"server log: {len(log.splitlines())} lines")
    check(len(log.splitlines()) >= 5, "the server logged the session")
    texts.append(("server log", log))
    for where, text in texts:
        for label, secret in secrets.items():
            if not secret:
                continue
            # The failed-login header "Bearer <pin>" etc. contain other secrets: check each alone.
            check(secret not in text, f"{label} appears in {where}")
    for marker in ("PRIVATE KEY", "\"d\":"):
        for where, text in texts:
            check(marker not in text, f"'{marker}' in {where}")
finally:
    km.cleanup()

print(f"secrets_test: {checks} checks, {len(secrets)} secrets x {len(texts)} texts grepped, "
      f"{len(failures)} failures")
sys.exit(1 if failures else 0)
