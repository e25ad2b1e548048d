#!/usr/bin/python3
"""The ledger as a transparency log, through the `keymgr` command against the real server:
`audit prove` a token, `audit verify-proof` it offline (server stopped) and refuse tampered
proofs, wrong keys and other tokens; `audit keys`/`rotate-key`; `audit monitor` from --init
through growth to a consistently rewritten log (LOG REWRITTEN); `audit verify` on the local
database; and the checkpoint note and proofs checked by the Go reference (golang.org/x/mod/sumdb
note and tlog, tests/interop/proof_check.go).

usage: log_cli_test.py KEYMGR_BINARY SOURCE_DIR
"""
import base64
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harness import Keymgr, rewrite_history

binary, source_dir = sys.argv[1], sys.argv[2]
km = Keymgr(binary, source_dir, extra={"ledger": 'checkpoint_interval = "1s"\nintegrate_max_delay = "1s"\n'})
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def get_text(path):
    with urllib.request.urlopen(km.base + path, timeout=10) as r:
        return r.read().decode()


def checkpoint_size(note):
    return int(note.split("\n")[1])


def ledger_size(auditor):
    status, body = km.request("GET", "/v1/audit/ledger?limit=1", auditor)
    assert status == 200, body
    return body["entries"][0]["seq"]


def wait_checkpoint(auditor, timeout=30):
    """Waits until a signed checkpoint covers every ledger entry made so far; returns its note."""
    want = ledger_size(auditor)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            note = get_text("/v1/audit/checkpoint")
            if checkpoint_size(note) >= want:
                return note
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no checkpoint covers {want} entries after {timeout}s: {km.log()[-2000:]}")


def sign(issuer, sub):
    status, body = km.request("POST", "/v1/keysets/default/sign", issuer, {"claims": {"sub": sub}})
    assert status == 200, body
    return body["token"]


def write(name, data):
    path = os.path.join(km.dir, name)
    with open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    return path


def read(path):
    with open(path) as f:
        return f.read()


def json_out(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


def other_vkey(name):
    """A well-formed Ed25519 verifier key of the same name that never signed anything."""
    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    key = base64.b64encode(b"\x01" + pub).decode()
    return f"{name}+{key_id.hex()}+{key}"


def build_go_checker():
    src = os.path.join(source_dir, "tests/interop/proof_check.go")
    out = os.path.join(km.dir, "proof_check")
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="",
               GOCACHE=os.path.join(km.dir, "go-cache"))
    r = subprocess.run(["go", "build", "-o", out, src], env=env, capture_output=True, text=True, cwd=km.dir)
    if r.returncode != 0:
        raise RuntimeError("go build of tests/interop/proof_check.go failed: " + r.stderr)
    return out


def go_check(tool, *args):
    r = subprocess.run([tool, *args], capture_output=True, text=True)
    return r.returncode, r.stdout.strip()




try:
    km.start()
    km.stop()
    admin = km.token("admin", "admin")
    auditor = km.token("auditor", "auditor")
    issuer = km.token("issuer", "issuer", "default")
    km.start()
    url = ["--url", km.base]

    for cmd in [["audit", "prove"], ["audit", "verify-proof"], ["audit", "monitor"], ["audit", "keys"],
                ["audit", "rotate-key"], ["audit", "verify"]]:
        r = km.cli(*cmd, "--help", check=False)
        expect(r.returncode == 0 and "Usage" in r.stdout, f"--help for {cmd}: rc {r.returncode}")

    tokens = [sign(issuer, f"alice{n}") for n in range(5)]
    wait_checkpoint(auditor)

    vkeys_text = get_text("/v1/audit/keys?format=text")
    vkeys = [l for l in vkeys_text.split("\n") if l]
    expect(len(vkeys) == 1, f"one audit key: {vkeys}")
    vkey = vkeys[0]
    origin = vkey.split("+")[0]
    r = km.cli("audit", "keys", "--format", "text", *url)
    expect(r.stdout == vkeys_text, f"audit keys --format text: {r.stdout!r}")
    r = km.cli("audit", "keys", *url)
    expect([k.get("verifier_key") for k in json_out(r).get("keys", [])] == [vkey] and json_out(r).get("origin") == origin,
           "audit keys (JSON): " + r.stdout[:300])

    # ---- audit prove: by the token (argument and stdin; no API token at all), and by jti (auditor)
    r = km.cli("audit", "prove", tokens[0], *url)
    expect(r.stdout.startswith("c2sp.org/tlog-proof@v1\nextra "), "audit prove: " + r.stdout[:200] + r.stderr)
    proof0 = write("t0.tlog-proof", r.stdout)
    out1 = os.path.join(km.dir, "t1.tlog-proof")
    r = km.cli("audit", "prove", "-", "-o", out1, *url, input=tokens[1] + "\n")
    expect(r.returncode == 0 and stat.S_IMODE(os.stat(out1).st_mode) == 0o600 and
           read(out1).startswith("c2sp.org/tlog-proof@v1\n"), f"audit prove - -o: {r.stderr}")
    payload = json.loads(base64.urlsafe_b64decode(tokens[2].split(".")[1] + "=="))
    r = km.cli("audit", "prove", "--jti", payload["jti"], *url, token=auditor)
    proof2 = write("t2.tlog-proof", r.stdout)
    r = km.cli("audit", "prove", "--jti", payload["jti"], *url, check=False)
    expect(r.returncode == 2 and "KEYMGR_API_TOKEN" in r.stderr, f"prove --jti without a token: {r.returncode} {r.stderr}")
    r = km.cli("audit", "prove", "not.a.token", *url, check=False)
    expect(r.returncode == 2 and "entry_not_found" in r.stderr, f"prove unknown token: {r.returncode} {r.stderr}")
    r = km.cli("audit", "prove", *url, check=False)
    expect(r.returncode == 2, f"prove with nothing: {r.returncode}")

    # ---- the Go reference accepts the checkpoint note and the inclusion proof
    go_tool = build_go_checker()
    go_can_verify = base64.b64decode(vkey.split("+", 2)[2])[0] == 1
    if go_can_verify:
        rc, out = go_check(go_tool, "incl", vkey, proof0)
        expect(rc == 0 and out.startswith(f"ok {origin} "), f"Go x/mod: inclusion proof: {out}")
        print("log_cli_test: Go x/mod note.Open + tlog.CheckRecord:", out)
        rc, out = go_check(go_tool, "incl", other_vkey(origin), proof0)
        expect(rc == 1 and "note.Open" in out, f"Go x/mod with a wrong key: {out}")
    else:
        print("log_cli_test: the HSM made an ECDSA audit key; x/mod verifies only Ed25519 notes: Go check skipped")

    # ---- audit verify-proof: offline (the server is stopped)
    km.stop()
    db = os.path.join(km.dir, "keymgr.db")
    early_db = os.path.join(km.dir, "early.db")  # restored at the end: a rollback
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copy(db, early_db)
    r = km.cli("audit", "verify-proof", "--key", vkey, "--token", tokens[0], proof0, check=False)
    v = json_out(r)
    expect(r.returncode == 0 and v.get("ok") is True and v.get("token_matches") is True
           and v.get("entry", {}).get("sub") == "alice0" and v.get("signed_by") == [vkey]
           and v.get("origin") == origin and v.get("origin_source") == "proof" and v.get("tree_size", 0) >= 5
           and v.get("index") == v.get("entry", {}).get("seq", 0) - 1
           and v["entry"].get("token_sha256") == hashlib.sha256(tokens[0].encode()).hexdigest()
           and "taken from the proof" in r.stderr,
           f"verify-proof: {r.returncode} {r.stdout[:600]} {r.stderr}")
    keyfile = write("log.vkeys", "# the log's keys\n\n" + vkeys_text)
    r = km.cli("audit", "verify-proof", "--key", "@" + keyfile, "--origin", origin, "--token", "-", out1,
               input=tokens[1], check=False)
    v = json_out(r)
    expect(r.returncode == 0 and v.get("token_matches") is True and v.get("origin_source") == "--origin"
           and v["entry"]["sub"] == "alice1", f"verify-proof --key @file --token -: {r.returncode} {r.stdout[:300]} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", vkey, proof2, check=False)
    v = json_out(r)
    expect(r.returncode == 0 and v.get("token_matches") is None and v["entry"]["jti"] == payload["jti"],
           f"verify-proof of an auditor's proof: {r.returncode} {r.stdout[:300]}")

    # One byte of the entry changed (the sub inside the extra line): the leaf no longer leads to the root.
    lines = read(proof0).split("\n")
    extra = base64.b64decode(lines[1][len("extra "):])
    assert b"alice0" in extra
    lines[1] = "extra " + base64.b64encode(extra.replace(b"alice0", b"alice9")).decode()
    bad = write("bad-entry.tlog-proof", "\n".join(lines))
    r = km.cli("audit", "verify-proof", "--key", vkey, bad, check=False)
    expect(r.returncode == 4 and json_out(r).get("ok") is False and "merkle_proof_mismatch" in r.stdout,
           f"verify-proof with a changed entry: {r.returncode} {r.stdout} {r.stderr}")
    if go_can_verify:
        rc, out = go_check(go_tool, "incl", vkey, bad)
        expect(rc == 1 and "CheckRecord" in out, f"Go x/mod with a changed entry: {out}")
    r = km.cli("audit", "verify-proof", "--key", other_vkey(origin), proof0, check=False)
    expect(r.returncode == 4 and "note_unverified" in r.stdout, f"verify-proof with a wrong key: {r.returncode} {r.stdout} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", vkey, "--origin", "evil.example/ledger", proof0, check=False)
    expect(r.returncode == 4, f"verify-proof with another origin: {r.returncode} {r.stdout} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", vkey, "--token", tokens[3], proof0, check=False)
    v = json_out(r)
    expect(r.returncode == 4 and v.get("token_matches") is False and "another token" in r.stderr,
           f"verify-proof with another token: {r.returncode} {r.stdout} {r.stderr}")
    # Malformed input: exit 2.
    r = km.cli("audit", "verify-proof", "--key", vkey, write("junk", "not a proof\n"), check=False)
    expect(r.returncode == 2, f"verify-proof of junk: {r.returncode} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", "no+such+key", proof0, check=False)
    expect(r.returncode == 2 and "not a verifier key" in r.stderr, f"verify-proof bad key: {r.returncode} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", vkey, os.path.join(km.dir, "missing"), check=False)
    expect(r.returncode == 2, f"verify-proof missing file: {r.returncode} {r.stderr}")

    # ---- audit verify (local): the full audit, every checkpoint by its own key id
    r = km.cli("audit", "verify", check=False)
    v = json_out(r)
    expect(r.returncode == 0 and v.get("ok") is True and v.get("checkpoints", 0) >= 1
           and v["checkpoints_checked"] == v["checkpoints"] and v["tree_size"] == v["entries"],
           f"audit verify: {r.returncode} {r.stdout} {r.stderr}")
    # With the keys pinned out of band instead of those the database lists.
    r = km.cli("audit", "verify", "--key", vkey, check=False)
    expect(r.returncode == 0 and json_out(r).get("ok") is True, f"audit verify --key: {r.returncode} {r.stdout} {r.stderr}")
    r = km.cli("audit", "verify", "--key", other_vkey(origin), check=False)
    expect(r.returncode == 4 and json_out(r).get("log_problem") == "checkpoint_unverified",
           f"audit verify --key <another key>: {r.returncode} {r.stdout} {r.stderr}")

    # ---- audit monitor
    km.start()
    cp = os.path.join(km.dir, "checkpoint.note")
    r = km.cli("audit", "monitor", "--since", cp, km.base, check=False)
    expect(r.returncode != 0 and "--key" in r.stderr, f"monitor without --key: {r.returncode} {r.stderr}")
    r = km.cli("audit", "monitor", "--init", "--since", cp, "--key", vkey, km.base, check=False)
    expect(r.returncode == 0 and json_out(r).get("ok") and stat.S_IMODE(os.stat(cp).st_mode) == 0o600,
           f"monitor --init: {r.returncode} {r.stdout} {r.stderr}")
    first = read(cp)
    r = km.cli("audit", "monitor", "--init", "--since", cp, "--key", vkey, km.base, check=False)
    expect(r.returncode == 2 and read(cp) == first, f"monitor --init twice: {r.returncode} {r.stderr}")
    r = km.cli("audit", "monitor", "--init", "--since", cp + ".x", "--key", other_vkey(origin), km.base, check=False)
    expect(r.returncode == 4 and not os.path.exists(cp + ".x"), f"monitor --init, wrong key: {r.returncode} {r.stderr}")

    # The operator rotates the log key: old and new sign side by side, so the pinned key still works.
    r = km.cli("audit", "rotate-key", *url, token=admin, check=False)
    expect(r.returncode == 0 and json_out(r).get("verifier_key", "").startswith(origin + "+"),
           f"audit rotate-key: {r.returncode} {r.stdout} {r.stderr}")
    r = km.cli("audit", "rotate-key", *url, token=auditor, check=False)
    expect(r.returncode == 2 and "403" in r.stderr, f"rotate-key as auditor: {r.returncode} {r.stderr}")
    expect(len([l for l in get_text("/v1/audit/keys?format=text").split("\n") if l]) == 2, "two keys after rotation")
    more = [sign(issuer, f"bob{n}") for n in range(3)]
    grown = wait_checkpoint(auditor)
    r = km.cli("audit", "monitor", "--since", cp, "--key", vkey, km.base, check=False)
    v = json_out(r)
    expect(r.returncode == 0 and v.get("ok") and v.get("updated") and v["new_size"] > v["old_size"]
           and v["old_size"] == checkpoint_size(first) and read(cp) != first
           and checkpoint_size(read(cp)) >= checkpoint_size(grown),
           f"monitor after growth: {r.returncode} {r.stdout} {r.stderr}")
    r = km.cli("audit", "monitor", "--since", cp, "--key", "@" + keyfile, km.base, check=False)
    expect(r.returncode == 0 and json_out(r).get("ok"), f"monitor again: {r.returncode} {r.stdout} {r.stderr}")
    if go_can_verify:
        old_cp = write("first.note", first)
        cons = write("cons.txt", get_text(f"/v1/audit/proof/consistency?from={checkpoint_size(first)}&format=text"))
        rc, out = go_check(go_tool, "cons", vkey, old_cp, cons)
        expect(rc == 0 and out.startswith(f"ok {checkpoint_size(first)} "), f"Go x/mod: consistency proof: {out}")
        r = km.cli("audit", "prove", more[0], "-o", os.path.join(km.dir, "more.tlog-proof"), *url)
        rc, out = go_check(go_tool, "incl", vkey, os.path.join(km.dir, "more.tlog-proof"))
        expect(rc == 0, f"Go x/mod: inclusion proof signed after the rotation: {out}")

    # ---- the attack: rewrite history consistently, then let the server re-sign it
    saved = read(cp)
    km.stop()
    rewrite_history(db, "alice0", "mallory")
    km.start()
    sign(issuer, "after-the-rewrite")
    wait_checkpoint(auditor)
    r = km.cli("audit", "monitor", "--since", cp, "--key", vkey, km.base, check=False)
    expect(r.returncode == 4 and "LOG REWRITTEN" in r.stderr and json_out(r).get("ok") is False
           and read(cp) == saved, f"monitor after a rewrite: {r.returncode} {r.stdout} {r.stderr}")
    print("log_cli_test: monitor:", r.stderr.strip())
    km.stop()
    # The rewrite was consistent: the chain was recomputed with the documented hash, the tree rebuilt
    # from the rewritten entries and re-signed by the same HSM key, and the database keeps no older
    # signed state. So the local audit passes: it can only check that the database agrees with
    # itself. Only a checkpoint kept outside the server (the monitor's) shows the rewrite.
    r = km.cli("audit", "verify", check=False)
    v = json_out(r)
    expect(r.returncode == 0 and v.get("ok") is True and v.get("checkpoints", 0) >= 1
           and v["checkpoints_checked"] == v["checkpoints"],
           f"audit verify after a consistent rewrite: {r.returncode} {r.stdout} {r.stderr}")
    # The proof saved before the rewrite still verifies (it carries its own signed checkpoint): with
    # the rewritten log's checkpoint it is evidence of two signed, inconsistent histories.
    r = km.cli("audit", "verify-proof", "--key", vkey, "--token", tokens[0], proof0, check=False)
    expect(r.returncode == 0 and json_out(r).get("entry", {}).get("sub") == "alice0",
           f"an old proof after the rewrite: {r.returncode} {r.stdout[:300]}")

    # A rollback to an older copy of the database: its checkpoint is smaller than the one the
    # monitor saved.
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    shutil.copy(early_db, db)
    km.start()
    r = km.cli("audit", "monitor", "--since", cp, "--key", vkey, km.base, check=False)
    expect(r.returncode == 4 and "LOG REWRITTEN" in r.stderr and "rolled back" in r.stderr
           and json_out(r).get("problem") == "log_truncated" and read(cp) == saved,
           f"monitor after a rollback: {r.returncode} {r.stdout} {r.stderr}")
    km.stop()

    # A rewrite that is not consistent (one stored tree hash changed) is caught locally.
    con = sqlite3.connect(db)
    con.execute("UPDATE tree_hashes SET hash = zeroblob(32) WHERE idx = 3")
    con.commit()
    con.close()
    r = km.cli("audit", "verify", check=False)
    v = json_out(r)
    expect(r.returncode == 4 and v.get("ok") is False and v.get("log_problem") and "transparency log" in r.stderr,
           f"audit verify with a changed tree hash: {r.returncode} {r.stdout} {r.stderr}")
    print(f"log_cli_test: {len(failures)} failures")
finally:
    km.cleanup()

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
