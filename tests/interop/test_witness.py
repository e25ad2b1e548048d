#!/usr/bin/python3
"""A transparency-log witness written from the specs, independently of keymgr's C++ code, to stand
in for a real witness in tests: C2SP tlog-witness (POST <prefix>/add-checkpoint), tlog-cosignature
(cosignature/v1, Ed25519), signed-note (log signatures: Ed25519 0x01 and ECDSA P-256 0x02) and
RFC 9162 §2.1.4.2 (consistency proof verification).

It keeps, per log origin, the size and root of the newest checkpoint it cosigned, in a JSON file
(replaced atomically before it answers, so a restart keeps its memory), and cosigns only a
checkpoint that is consistent with it. Requests it refuses for a reason that may be log misbehaviour
(409, 422) are kept in the same file under "refused", as evidence.

usage: test_witness.py --log-key VKEY [--log-key VKEY ...] --state FILE [--key-file FILE]
                       [--name NAME] [--port PORT]

On start it prints two lines to stdout and flushes: "port <port>" and "vkey <verifier key>" (the
witness's own key: name+hex8(key id)+base64(0x04 || Ed25519 public key)), for the log's config.
"""
import argparse
import base64
import binascii
import hashlib
import json
import os
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

EM_DASH = "\u2014"
MAX_BODY = 1 << 20
MAX_PROOF = 63
EMPTY_ROOT = hashlib.sha256(b"").digest()


class BadRequest(Exception):
    pass


# ---- signed notes (C2SP signed-note) ----

def b64decode_strict(s):
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == s else None


def key_id(name, type_byte, material):
    if type_byte == 0x02:
        return hashlib.sha256(material).digest()[:4]
    return hashlib.sha256(name.encode() + b"\n" + bytes([type_byte]) + material).digest()[:4]


class LogKey:
    def __init__(self, vkey):
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise ValueError(f"not a verifier key: {vkey}")
        self.name, id_hex, b64 = parts
        blob = b64decode_strict(b64)
        if not blob:
            raise ValueError(f"verifier key {vkey}: bad base64")
        self.type, material = blob[0], blob[1:]
        if self.type == 0x01:
            self.pub = ed25519.Ed25519PublicKey.from_public_bytes(material)
        elif self.type == 0x02:
            self.pub = serialization.load_der_public_key(material)
            if not isinstance(self.pub, ec.EllipticCurvePublicKey) or self.pub.curve.name != "secp256r1":
                raise ValueError(f"verifier key {vkey}: not P-256")
        else:
            raise ValueError(f"verifier key {vkey}: a log key must be type 0x01 or 0x02")
        self.id = key_id(self.name, self.type, material)
        if self.id.hex() != id_hex:
            raise ValueError(f"verifier key {vkey}: key id does not match")

    def verify(self, text, sig):
        try:
            if self.type == 0x01:
                self.pub.verify(sig, text)
            else:
                self.pub.verify(sig, text, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            return False


def parse_note(data):
    """Returns (text bytes, [(name, key id, signature)]), or raises BadRequest."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("note is not UTF-8")
    if any(ord(c) < 0x20 and c != "\n" for c in s):
        raise BadRequest("note holds a control character")
    split = s.rfind("\n\n")
    if split < 0:
        raise BadRequest("note has no signature block")
    text, block = s[:split + 1], s[split + 2:]
    if not block.endswith("\n"):
        raise BadRequest("signature block does not end with a newline")
    sigs = []
    for line in block[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise BadRequest("signature line does not start with an em dash")
        name, sp, b64 = line[2:].partition(" ")
        raw = b64decode_strict(b64) if sp else None
        if not name or "+" in name or not raw or len(raw) < 5:
            raise BadRequest("malformed signature line")
        sigs.append((name, raw[:4], raw[4:]))
    return text.encode(), sigs


def parse_checkpoint(text):
    lines = text.decode().split("\n")
    if len(lines) < 4 or lines[-1] != "" or not lines[0]:
        raise BadRequest("checkpoint needs origin, size and root lines")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not size_s.isdigit() or (len(size_s) > 1 and size_s[0] == "0") or int(size_s) >= 1 << 64:
        raise BadRequest("checkpoint size is not a decimal without leading zeros")
    root = b64decode_strict(root_s)
    if root is None or len(root) != 32:
        raise BadRequest("checkpoint root is not base64 of 32 bytes")
    return origin, int(size_s), root


# ---- RFC 9162 ----

def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(first, second, proof, first_hash, second_hash):
    """RFC 9162 §2.1.4.2, for 0 < first < second."""
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


# ---- the witness ----

class Witness:
    def __init__(self, name, priv, log_keys, state_path):
        self.name = name
        self.priv = priv
        pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.id = key_id(name, 0x04, pub)
        self.vkey = f"{name}+{self.id.hex()}+{base64.b64encode(bytes([0x04]) + pub).decode()}"
        self.log_keys = {}  # origin -> [LogKey]; keymgr's log key name is its origin
        for k in log_keys:
            self.log_keys.setdefault(k.name, []).append(k)
        self.state_path = state_path
        self.lock = threading.Lock()  # check-and-update of the state is atomic (tlog-witness)
        self.state = {"logs": {}, "refused": []}
        if os.path.exists(state_path):
            with open(state_path) as f:
                self.state = json.load(f)

    def save(self):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    def cosign(self, text):
        ts = int(time.time())
        sig = self.priv.sign(b"cosignature/v1\ntime %d\n" % ts + text)
        return f"{EM_DASH} {self.name} {base64.b64encode(self.id + struct.pack('>Q', ts) + sig).decode()}\n"

    def refuse(self, status, origin, old, size, root, why):
        self.state["refused"].append({"status": status, "origin": origin, "old": old, "size": size,
                                      "root": base64.b64encode(root).decode(), "why": why, "time": int(time.time())})
        self.state["refused"] = self.state["refused"][-100:]
        self.save()

    def add_checkpoint(self, body):
        """Returns (status, content type, body)."""
        # The request: "old N", proof lines, an empty line, the signed checkpoint.
        nl = body.find(b"\n")
        if nl < 0 or not body.startswith(b"old "):
            raise BadRequest("first line must be 'old <size>'")
        old_s = body[4:nl].decode(errors="replace")
        if not old_s.isdigit() or (len(old_s) > 1 and old_s[0] == "0"):
            raise BadRequest("old size is not a decimal without leading zeros")
        old = int(old_s)
        rest = body[nl + 1:]
        proof = []
        while True:
            nl = rest.find(b"\n")
            if nl < 0:
                raise BadRequest("no empty line before the checkpoint")
            line, rest = rest[:nl], rest[nl + 1:]
            if not line:
                break
            if len(proof) == MAX_PROOF:
                raise BadRequest("more than 63 proof lines")
            h = b64decode_strict(line.decode(errors="replace"))
            if h is None or len(h) != 32:
                raise BadRequest("proof line is not base64 of 32 bytes")
            proof.append(h)
        text, sigs = parse_note(rest)
        origin, size, root = parse_checkpoint(text)

        keys = self.log_keys.get(origin)
        if not keys:
            return 404, "text/plain", f"unknown log origin {origin}\n"
        verified = any(k.verify(text, sig) for (name, kid, sig) in sigs for k in keys if k.name == name and k.id == kid)
        if not verified:
            return 403, "text/plain", "no signature by a known key of this log\n"
        if old > size:
            raise BadRequest("old size is larger than the checkpoint's")

        with self.lock:
            log = self.state["logs"].get(origin)
            have_size = log["size"] if log else 0
            have_root = base64.b64decode(log["root"]) if log else None
            if old != have_size:
                self.refuse(409, origin, old, size, root, f"old size {old}, witness has {have_size}")
                return 409, "text/x.tlog.size", f"{have_size}\n"
            if old == size:
                if proof:
                    self.refuse(422, origin, old, size, root, "non-empty proof between equal sizes")
                    return 422, "text/plain", "proof must be empty for equal sizes\n"
                if (have_root is not None and root != have_root) or (size == 0 and root != EMPTY_ROOT):
                    self.refuse(409, origin, old, size, root, "same size, another root")
                    return 409, "text/x.tlog.size", f"{have_size}\n"
            elif old == 0:
                if proof:
                    self.refuse(422, origin, old, size, root, "non-empty proof from size 0")
                    return 422, "text/plain", "proof must be empty from old size 0\n"
            elif not verify_consistency(old, size, proof, have_root, root):
                self.refuse(422, origin, old, size, root, f"consistency proof {old} -> {size} does not verify")
                return 422, "text/plain", "consistency proof does not verify\n"
            line = self.cosign(text)
            self.state["logs"][origin] = {"size": size, "root": base64.b64encode(root).decode(),
                                          "checkpoint": rest.decode(), "cosigned_at": int(time.time())}
            self.save()  # persisted before the answer (tlog-witness)
        return 200, "text/plain; charset=utf-8", line


def make_handler(witness):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def reply(self, status, ctype, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(n, MAX_BODY + 1))
            if self.path != "/add-checkpoint":
                return self.reply(404, "text/plain", "not found\n")
            if n > MAX_BODY:
                self.close_connection = True
                return self.reply(413, "text/plain", "too large\n")
            try:
                status, ctype, out = witness.add_checkpoint(body)
            except BadRequest as e:
                status, ctype, out = 400, "text/plain", f"{e}\n"
            self.reply(status, ctype, out)

        def do_GET(self):
            self.reply(405, "text/plain", "POST /add-checkpoint\n")

        def log_message(self, fmt, *args):
            sys.stderr.write("test_witness: " + fmt % args + "\n")

    return Handler


def load_or_create_key(path):
    if path and os.path.exists(path):
        with open(path) as f:
            return ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(f.read().strip()))
    priv = ed25519.Ed25519PrivateKey.generate()
    if path:
        seed = priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                  serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(seed.hex() + "\n")
    return priv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log-key", action="append", required=True, help="a log's verifier key (0x01 or 0x02)")
    ap.add_argument("--state", required=True, help="JSON file with the witness's memory")
    ap.add_argument("--key-file", help="the witness's Ed25519 seed (hex); made if missing; default: a fresh key")
    ap.add_argument("--name", default="witness.test/w1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    witness = Witness(a.name, load_or_create_key(a.key_file), [LogKey(k) for k in a.log_key], a.state)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(witness))
    server.daemon_threads = True
    print(f"port {server.server_address[1]}", flush=True)
    print(f"vkey {witness.vkey}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
