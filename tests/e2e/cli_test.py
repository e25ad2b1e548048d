#!/usr/bin/python3
"""The `keymgr` command as an operator uses it against a running server: keysets, keys, sign,
verify, audit query/export, tokens, --help everywhere, and clear errors with exit codes.

usage: cli_test.py KEYMGR_BINARY SOURCE_DIR
"""
import json
import os
import pwd
import socket
import sys

from harness import Keymgr

binary, source_dir = sys.argv[1], sys.argv[2]
km = Keymgr(binary, source_dir)
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


try:
    km.start()
    km.stop()
    admin = km.token("admin", "admin")
    auditor = km.token("auditor", "auditor")
    km.start()
    url = ["--url", km.base]

    # --help on every command and subcommand.
    for cmd in [[], ["serve"], ["token"], ["token", "create"], ["keyset"], ["keyset", "create"], ["key"],
                ["key", "compromise"], ["sign"], ["verify"], ["audit"], ["audit", "query"], ["audit", "export"]]:
        r = km.cli(*cmd, "--help", check=False)
        expect(r.returncode == 0 and "Usage" in r.stdout, f"--help for {cmd}: rc {r.returncode}")

    r = km.cli("keyset", "create", "web", "--issuer", km.base + "/web", "--alg", "EdDSA",
               "--policy", '{"sign_period":"7d","max_token_ttl":"15m"}', *url, token=admin)
    ks = json.loads(r.stdout)
    expect(ks["alg"] == "EdDSA" and ks["policy"]["sign_period"] == 7 * 86400, f"keyset create: {ks}")
    # keyset_rules.h through the CLI: an issuer on keymgr's own routes is refused (exit 2, the
    # rule on stderr) and nothing is created; without --alg the keyset gets the default, ES256.
    for path in ["/v1", "/healthz", "/ui/console"]:
        r = km.cli("keyset", "create", "clash", "--issuer", km.base + path, *url, token=admin, check=False)
        expect(r.returncode == 2 and "bad_issuer" in r.stderr and "collides with keymgr's own routes" in r.stderr,
               f"keyset create with issuer path {path}: rc {r.returncode} {r.stderr}")
    r = km.cli("keyset", "list", *url, token=admin)
    names = [k["name"] for k in json.loads(r.stdout)["keysets"]]
    expect("web" in names and "clash" not in names, f"refused keyset created: {names}")
    r = km.cli("keyset", "create", "plain", "--issuer", km.base + "/plain", *url, token=admin)
    expect(json.loads(r.stdout)["alg"] == "ES256", "keyset create default alg: " + r.stdout[:200])
    r = km.cli("keyset", "list", *url, "--table", token=admin)
    expect("web" in r.stdout and "SIGNING" in r.stdout, "keyset list --table: " + r.stdout)
    issuer = km.token("web-app", "issuer", "web")
    r = km.cli("sign", "web", "--claims", '{"sub":"alice"}', "--ttl", "60", *url, token=issuer)
    signed = json.loads(r.stdout)
    expect(signed["exp"] - signed["iat"] == 60, f"sign ttl: {signed}")
    r = km.cli("verify", "web", signed["token"], *url, token=auditor)
    expect(json.loads(r.stdout)["valid"], "verify: " + r.stdout)
    r = km.cli("verify", "web", signed["token"], *url, "--table", token=auditor)
    expect(r.returncode == 0 and "valid  yes" in r.stdout and "signature" in r.stdout and "{" not in r.stdout,
           "verify --table: " + r.stdout)
    # An invalid token: the answer is printed, and the exit code says so (5), with the reasons on stderr.
    tampered = signed["token"][:-4] + ("AAAA" if not signed["token"].endswith("AAAA") else "BBBB")
    r = km.cli("verify", "web", tampered, *url, token=auditor, check=False)
    expect(r.returncode == 5 and json.loads(r.stdout or "{}").get("valid") is False and "not valid" in r.stderr
           and "signature" in r.stderr, f"verify invalid: {r.returncode} {r.stdout[:200]} {r.stderr}")
    r = km.cli("verify", "web", tampered, *url, "--table", token=auditor, check=False)
    expect(r.returncode == 5 and "valid  NO" in r.stdout and "{" not in r.stdout,
           f"verify invalid --table: {r.returncode} {r.stdout}")
    r = km.cli("--help", check=False)
    expect("Exit codes" in r.stdout and "5 token not valid" in r.stdout, "--help lists exit codes: " + r.stdout[-400:])
    r = km.cli("key", "rotate", "web", "--reason", "test", *url, "--table", token=admin)
    expect("pre-activation" in r.stdout, "key rotate --table: " + r.stdout)
    kid = ks["active_kid"]
    r = km.cli("key", "compromise", "web", kid, "--reason", "drill", *url, token=admin)
    after = json.loads(r.stdout)
    expect(after["active_kid"] != kid, f"compromise: {after['active_kid']}")
    r = km.cli("audit", "query", "--keyset", "web", "--kind", "lifecycle", *url, token=auditor)
    events = [e["event"] for e in json.loads(r.stdout)["entries"]]
    expect("key_compromised" in events and "keyset_created" in events, f"audit query: {events}")
    r = km.cli("audit", "export", "--format", "csv", "--keyset", "web", *url, token=auditor)
    expect(r.stdout.startswith("seq,ts_ms,kind") and r.stdout.count("\n") >= 5, "export csv: " + r.stdout[:200])
    r = km.cli("token", "list")
    expect("web-app" in r.stdout and "issuer" in r.stdout and "km_" not in r.stdout, "token list: " + r.stdout)

    # Local commands record the OS user (from the password database, not $USER) and the host.
    me = f"cli:{pwd.getpwuid(os.geteuid()).pw_name}@{socket.gethostname()}"
    saved_env = km.env
    km.env = {k: v for k, v in saved_env.items() if k not in ("USER", "LOGNAME")}
    km.token("no-user-env", "auditor")
    km.env = dict(saved_env, USER="mallory")
    km.token("spoofed-user-env", "auditor")
    km.env = saved_env
    r = km.cli("audit", "query", "--kind", "lifecycle", "--limit", "1000", *url, token=auditor)
    actors = {e["detail"].get("name"): e["actor"] for e in json.loads(r.stdout)["entries"]
              if e["event"] == "api_token_created" and isinstance(e.get("detail"), dict)}
    for name in ("no-user-env", "spoofed-user-env", "web-app"):
        expect(actors.get(name) == me, f"token {name} created by {actors.get(name)!r}, expected {me!r}")

    # Errors: clear message on stderr, distinct exit codes, no secret echoed.
    r = km.cli("sign", "web", "--claims", "{}", *url, token=auditor, check=False)
    expect(r.returncode == 2 and "403 forbidden" in r.stderr, f"sign as auditor: {r.returncode} {r.stderr}")
    r = km.cli("keyset", "show", "nope", *url, token=admin, check=False)
    expect(r.returncode == 2 and "keyset_not_found" in r.stderr, f"show missing: {r.returncode} {r.stderr}")
    r = km.cli("keyset", "list", *url, token="km_bogus_token", check=False)
    expect(r.returncode == 2 and "401 unauthenticated" in r.stderr and "km_bogus_token" not in r.stderr,
           f"bad token: {r.stderr}")
    # Unreachable: the URL, the cause and what to do.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
    r = km.cli("keyset", "list", "--url", closed, token=admin, check=False)
    expect(r.returncode == 3 and f"cannot reach {closed}: connection refused" in r.stderr
           and "keymgr serve" in r.stderr and "--url" in r.stderr, f"unreachable: {r.returncode} {r.stderr}")
    r = km.cli("audit", "export", "--url", closed, token=auditor, check=False)
    expect(r.returncode == 3 and f"cannot reach {closed}: connection refused" in r.stderr,
           f"export unreachable: {r.returncode} {r.stderr}")
    r = km.cli("keyset", "list", "--url", "http://no-such-host.invalid:8080", token=admin, check=False)
    expect(r.returncode == 3 and "cannot resolve host 'no-such-host.invalid'" in r.stderr,
           f"unknown host: {r.returncode} {r.stderr}")
    r = km.cli("keyset", "list", *url, check=False)  # no token at all
    expect(r.returncode == 2 and "KEYMGR_API_TOKEN" in r.stderr, f"no token: {r.stderr}")
    print(f"cli_test: {len(failures)} failures")
finally:
    km.cleanup()

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
