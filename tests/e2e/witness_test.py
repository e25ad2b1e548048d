#!/usr/bin/python3
"""Witnesses, end to end: keymgr sends its checkpoints to a witness that follows C2SP tlog-witness
(tests/interop/test_witness.py, written from the specs), stores the cosignatures and serves the
cosigned checkpoint; the cosignature verifies independently (Python cryptography) and through
`keymgr audit verify-proof/monitor --witness-key`. Then the attack the witness is there for: with
keymgr's database and HSM, history is rewritten consistently and re-signed with the same key. The
witness refuses the fork (it remembers what it cosigned, across its own restart), keymgr logs and
counts the conflict, the served checkpoint carries no cosignature, /readyz reports the missing
quorum, and a relying party that requires the witness refuses a proof from the forked log, while
one that trusts the log key alone accepts it.

usage: witness_test.py KEYMGR_BINARY SOURCE_DIR
"""
import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harness import Keymgr, free_port, rewrite_history

binary, source_dir = sys.argv[1], sys.argv[2]
WITNESS = os.path.join(source_dir, "tests/interop/test_witness.py")
W_NAME = "witness.test/w1"
EM_DASH = "\u2014"

# The witness's key, made here so that keymgr's config can name it before the witness runs.
w_priv = ed25519.Ed25519PrivateKey.generate()
w_pub = w_priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
w_id = hashlib.sha256(W_NAME.encode() + b"\n\x04" + w_pub).digest()[:4]
w_vkey = W_NAME + "+" + w_id.hex() + "+" + base64.b64encode(b"\x04" + w_pub).decode()
w_port = free_port()

km = Keymgr(binary, source_dir, extra={
    "ledger": 'checkpoint_interval = "1s"\nintegrate_max_delay = "1s"\nwitness_quorum = 1\n',
    "tail": f'[[ledger.witnesses]]\nname = "{W_NAME}"\nurl = "http://127.0.0.1:{w_port}"\nkey = "{w_vkey}"\n'
            'timeout = "1s"\n',
})
failures = []
witness = None
w_dir = os.path.join(km.dir, "witness")
os.makedirs(w_dir)
w_keyfile = os.path.join(w_dir, "key")
with open(w_keyfile, "w") as f:
    f.write(w_priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption()).hex() + "\n")
w_state = os.path.join(w_dir, "state.json")


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def start_witness(log_vkey):
    global witness
    witness = subprocess.Popen([sys.executable, WITNESS, "--log-key", log_vkey, "--state", w_state, "--key-file",
                                w_keyfile, "--name", W_NAME, "--port", str(w_port)],
                               stdout=subprocess.PIPE, stderr=open(os.path.join(w_dir, "log"), "a"), text=True)
    port_line, vkey_line = witness.stdout.readline().strip(), witness.stdout.readline().strip()
    expect(port_line == f"port {w_port}", f"witness port line: {port_line!r}")
    expect(vkey_line == f"vkey {w_vkey}", f"the witness prints the verifier key we computed: {vkey_line!r} vs {w_vkey}")


def stop_witness():
    if witness and witness.poll() is None:
        witness.terminate()
        witness.wait(timeout=10)


def witness_memory():
    with open(w_state) as f:
        return json.load(f)


def get_text(path):
    with urllib.request.urlopen(km.base + path, timeout=10) as r:
        return r.read().decode()


def metric(name):
    total = 0.0
    for line in get_text("/metrics").split("\n"):
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def sign(issuer, sub):
    status, body = km.request("POST", "/v1/keysets/default/sign", issuer, {"claims": {"sub": sub}})
    assert status == 200, body
    return body["token"]


def ledger_size(auditor):
    status, body = km.request("GET", "/v1/audit/ledger?limit=1", auditor)
    assert status == 200, body
    return body["entries"][0]["seq"]


def witness_lines(note):
    return [l for l in note.split("\n") if l.startswith(f"{EM_DASH} {W_NAME} ")]


def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}: {km.log()[-3000:]}")


def covering_checkpoint(auditor, cosigned):
    want = ledger_size(auditor)

    def ready():
        try:
            note = get_text("/v1/audit/checkpoint")
        except OSError:  # 404 no_checkpoint until the first one
            return None
        if int(note.split("\n")[1]) >= want and (not cosigned or witness_lines(note)):
            return note
        return None
    return wait_for(ready, f"a checkpoint of {want} entries{' cosigned by the witness' if cosigned else ''}")


def verify_cosignature(note):
    """The witness's cosignature on `note`, checked from the spec alone. Returns its timestamp."""
    text = note[:note.rfind("\n\n") + 1].encode()
    lines = witness_lines(note)
    assert len(lines) == 1, lines
    raw = base64.b64decode(lines[0].split(" ")[2])
    assert raw[:4] == w_id and len(raw) == 4 + 8 + 64, raw.hex()
    ts = struct.unpack(">Q", raw[4:12])[0]
    ed25519.Ed25519PublicKey.from_public_bytes(w_pub).verify(raw[12:], b"cosignature/v1\ntime %d\n" % ts + text)
    return ts


def readyz():
    try:
        with urllib.request.urlopen(km.base + "/readyz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def json_out(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}



try:
    km.start()
    km.stop()
    auditor = km.token("auditor", "auditor")
    issuer = km.token("issuer", "issuer", "default")
    km.start()  # the witness is not running yet: keymgr keeps signing, and retries
    log_vkey = wait_for(lambda: get_text("/v1/audit/keys?format=text").strip(), "the log's verifier key")
    expect("\n" not in log_vkey, f"one audit key: {log_vkey}")
    tokens = [sign(issuer, f"alice{n}") for n in range(3)]
    note = covering_checkpoint(auditor, cosigned=False)
    expect(not witness_lines(note), "no cosignature while the witness is down")
    expect(wait_for(lambda: metric("keymgr_witness_errors_total") >= 1, "a witness error counted") >= 1,
           "unreachable witness counted as an error")

    # ---- the witness cosigns; keymgr stores and serves the cosignature
    start_witness(log_vkey)
    tokens += [sign(issuer, f"bob{n}") for n in range(3)]
    note = covering_checkpoint(auditor, cosigned=True)
    ts = verify_cosignature(note)
    expect(abs(ts - time.time()) < 120, f"cosignature timestamp {ts} is now")
    mem = witness_memory()["logs"][log_vkey.split("+")[0]]
    print(f"witness_test: cosigned size {int(note.split(chr(10))[1])}; the witness remembers size {mem['size']}")
    expect(metric("keymgr_witness_cosignatures_total") >= 1, "cosignatures counted")
    more = [sign(issuer, f"carol{n}") for n in range(2)]
    grown = covering_checkpoint(auditor, cosigned=True)
    verify_cosignature(grown)
    expect(witness_memory()["logs"][log_vkey.split("+")[0]]["size"] >= int(grown.split("\n")[1]),
           "the witness followed the log's growth (consistency proofs from its size)")
    status, body = readyz()
    expect(status == 200 and body["checks"]["witnesses"] == "ok", f"/readyz with the quorum met: {status} {body}")

    # Relying parties that require the witness accept what keymgr serves.
    proof_file = os.path.join(km.dir, "before.tlog-proof")
    km.cli("audit", "prove", tokens[0], "-o", proof_file, "--url", km.base)
    r = km.cli("audit", "verify-proof", "--key", log_vkey, "--witness-key", w_vkey, proof_file, check=False)
    v = json_out(r)
    expect(r.returncode == 0 and v.get("ok") and len(v.get("cosigned_by", [])) == 1,
           f"verify-proof --witness-key: {r.returncode} {r.stdout} {r.stderr}")
    since = os.path.join(km.dir, "monitor.note")
    r = km.cli("audit", "monitor", "--init", "--since", since, "--key", log_vkey, "--witness-key", w_vkey, km.base,
               check=False)
    expect(r.returncode == 0 and json_out(r).get("cosigned_by"), f"monitor --init --witness-key: {r.stdout} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", log_vkey, "--witness-key", log_vkey, proof_file, check=False)
    expect(r.returncode == 2 and "0x04" in r.stderr, f"--witness-key with a log key: {r.returncode} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", log_vkey, "--witness-key", w_vkey, "--witness-quorum", "2", proof_file,
               check=False)
    expect(r.returncode == 2, f"--witness-quorum above the keys: {r.returncode} {r.stderr}")

    # ---- the attack: rewrite history consistently with keymgr's own database and HSM
    km.stop()
    stop_witness()
    remembered = witness_memory()["logs"][log_vkey.split("+")[0]]
    db = os.path.join(km.dir, "keymgr.db")
    rewrite_history(db, "alice0", "mallory")
    start_witness(log_vkey)  # restarted: it remembers the history it cosigned from its state file
    km.start()
    sign(issuer, "after-the-rewrite")
    forked = covering_checkpoint(auditor, cosigned=False)
    wait_for(lambda: metric("keymgr_witness_conflicts_total") >= 1, "keymgr to count the witness's refusal")
    time.sleep(2)  # more checkpoint rounds: the witness keeps refusing
    forked = get_text("/v1/audit/checkpoint")
    expect(not witness_lines(forked), f"the forked checkpoint carries no witness cosignature: {forked}")
    expect("CONFLICT" in km.log(), "keymgr logged the witness conflict")
    mem = witness_memory()
    now = mem["logs"][log_vkey.split("+")[0]]
    expect(now["size"] == remembered["size"] and now["root"] == remembered["root"],
           f"the witness did not move to the forked history: {now} vs {remembered}")
    expect(any(r["status"] in (409, 422) and r["size"] >= remembered["size"] for r in mem["refused"]),
           f"the witness kept the refused fork as evidence: {mem['refused'][-3:]}")
    print("witness_test: refused:", [(r["status"], r["old"], r["size"], r["why"]) for r in mem["refused"][-2:]])

    # A relying party with only the log key is fooled; one that requires the witness is not.
    after = os.path.join(km.dir, "after.tlog-proof")
    km.cli("audit", "prove", "--seq", "1", "-o", after, "--url", km.base, token=auditor)
    r = km.cli("audit", "verify-proof", "--key", log_vkey, after, check=False)
    expect(r.returncode == 0, f"with the log key alone the forked log's proof verifies: {r.returncode} {r.stderr}")
    r = km.cli("audit", "verify-proof", "--key", log_vkey, "--witness-key", w_vkey, after, check=False)
    expect(r.returncode == 4 and json_out(r).get("problem") == "witness_quorum",
           f"verify-proof --witness-key refuses the forked log: {r.returncode} {r.stdout} {r.stderr}")
    status, body = wait_for(lambda: (lambda s: s if s[0] == 503 else None)(readyz()), "/readyz to report the quorum",
                            timeout=30)
    expect("witness_quorum" in str(body["checks"]["witnesses"]), f"/readyz names the witnesses: {body}")
    print("witness_test: /readyz:", body["checks"]["witnesses"])
    print(f"witness_test: {len(failures)} failures")
finally:
    km.cleanup() if not failures else km.stop()
    stop_witness()
    if failures:
        print("kept", km.dir)

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
