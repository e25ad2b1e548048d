#!/usr/bin/python3
"""The `keymgr` command as an operator uses it against a running server: keysets, keys, sign,
verify, audit query/export, tokens, --help everywhere, and clear errors with exit codes.

usage: cli_test.py KEYMGR_BINARY SOURCE_DIR
"""
import json
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
    r = km.cli("keyset", "list", *url, "--table", token=admin)
    expect("web" in r.stdout and "SIGNING" in r.stdout, "keyset list --table: " + r.stdout)
    issuer = km.token("web-app", "issuer", "web")
    r = km.cli("sign", "web", "--claims", '{"sub":"alice"}', "--ttl", "60", *url, token=issuer)
    signed = json.loads(r.stdout)
    expect(signed["exp"] - signed["iat"] == 60, f"sign ttl: {signed}")
    r = km.cli("verify", "web", signed["token"], *url, token=auditor)
    expect(json.loads(r.stdout)["valid"], "verify: " + r.stdout)
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

    # Errors: clear message on stderr, distinct exit codes, no secret echoed.
    r = km.cli("sign", "web", "--claims", "{}", *url, token=auditor, check=False)
    expect(r.returncode == 2 and "403 forbidden" in r.stderr, f"sign as auditor: {r.returncode} {r.stderr}")
    r = km.cli("keyset", "show", "nope", *url, token=admin, check=False)
    expect(r.returncode == 2 and "keyset_not_found" in r.stderr, f"show missing: {r.returncode} {r.stderr}")
    r = km.cli("keyset", "list", *url, token="km_bogus_token", check=False)
    expect(r.returncode == 2 and "401 unauthenticated" in r.stderr and "km_bogus_token" not in r.stderr,
           f"bad token: {r.stderr}")
    r = km.cli("keyset", "list", "--url", "http://127.0.0.1:1", token=admin, check=False)
    expect(r.returncode == 3 and "cannot reach" in r.stderr, f"unreachable: {r.returncode} {r.stderr}")
    r = km.cli("keyset", "list", *url, check=False)  # no token at all
    expect(r.returncode == 2 and "KEYMGR_API_TOKEN" in r.stderr, f"no token: {r.stderr}")
    print(f"cli_test: {len(failures)} failures")
finally:
    km.cleanup()

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
