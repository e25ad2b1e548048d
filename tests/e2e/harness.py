"""Runs the real keymgr binary against a fresh SoftHSM2 token and SQLite file, for end-to-end
tests that need a separate process (SIGKILL, restarts, CLI)."""
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
P11KIT_CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"


# The documented chain hash (docs/ledger.md, "Verifying a copy of the database").
def _s(b):
    return struct.pack(">I", len(b)) + b


def _i64(v):
    return struct.pack(">q", v)


def chain_hash(prev, row):
    (seq, ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp,
     token_sha256, outcome, reason, detail) = row
    enc = (_s(b"keymgr-ledger-v1") + _i64(seq) + _i64(ts_ms)
           + b"".join(_s(x) for x in (kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud))
           + _i64(iat) + _i64(exp) + b"".join(_s(x) for x in (token_sha256, outcome, reason, detail)))
    return hashlib.sha256(prev + enc).digest()


LEDGER_COLS = ("seq, ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp, "
               "token_sha256, outcome, reason, detail")


def rewrite_history(db_path, sub_from, sub_to):
    """The attack of someone holding the database (and the HSM): edit the entry whose sub is
    `sub_from`, recompute the hash chain from there, and throw the tree and its checkpoints away so a
    restarted server re-integrates and re-signs the forged history. The server must be stopped."""
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.text_factory = bytes
    target = con.execute("SELECT seq FROM ledger WHERE sub = ?", (sub_from,)).fetchone()[0]
    prev = con.execute("SELECT hash FROM ledger WHERE seq = ?", (target - 1,)).fetchone()[0]
    con.execute("UPDATE ledger SET sub = ? WHERE seq = ?", (sub_to, target))
    for row in con.execute(f"SELECT {LEDGER_COLS} FROM ledger WHERE seq >= ? ORDER BY seq", (target,)).fetchall():
        h = chain_hash(prev, row)
        con.execute("UPDATE ledger SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, row[0]))
        prev = h
    con.executescript("""
        DELETE FROM tree_cosignatures;
        DELETE FROM tree_checkpoints;
        DELETE FROM tree_hashes;
        UPDATE tree_head SET size = 0, root = x'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
                             integrated_at_ms = 0;""")
    con.commit()
    con.close()
    return target


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_token_dir(source_dir, label="keymgr"):
    """A new directory holding one SoftHSM2 token (softhsm2.conf, tokens/, hsm.pin), for several
    Keymgr instances to share (Keymgr(..., hsm_dir=...)). The caller removes it (shutil.rmtree)."""
    d = tempfile.mkdtemp(prefix="km-e2e-hsm-")
    subprocess.run([os.path.join(source_dir, "scripts/init-softhsm.sh"), d, label],
                   check=True, stdout=subprocess.DEVNULL)
    return d


class P11KitServer:
    """A network HSM stand-in: `p11-kit server` exporting the SoftHSM2 token of a make_token_dir()
    directory over a unix socket (../shared/HSM-NOTES.md). Keymgr(..., hsm=server) then loads
    p11-kit-client.so with P11_KIT_SERVER_ADDRESS. stop()/start() take the HSM away and back."""

    def __init__(self, hsm_dir, label="keymgr"):
        self.hsm_dir = hsm_dir
        self.label = label
        self.socket = os.path.join(hsm_dir, "p11kit.sock")
        self.address = f"unix:path={self.socket}"
        self.proc = None

    def start(self, timeout=10):
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        env = dict(os.environ, SOFTHSM2_CONF=os.path.join(self.hsm_dir, "softhsm2.conf"))
        log = open(os.path.join(self.hsm_dir, "p11kit.log"), "a")
        # Its own process group: p11-kit server forks one child (one SoftHSM2) per client
        # connection, and those children would go on serving their clients after the server died.
        self.proc = subprocess.Popen(["p11-kit", "server", "-f", "-n", self.socket, "--provider", SOFTHSM,
                                      f"pkcs11:token={self.label}"], env=env, stdout=log, stderr=log,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"p11-kit server exited with {self.proc.returncode}")
            if os.path.exists(self.socket):
                return self
            time.sleep(0.02)
        raise RuntimeError("p11-kit server did not create its socket")

    def stop(self):
        """Takes the HSM away: the server and every per-connection child it forked, at once."""
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None


class Keymgr:
    def __init__(self, binary, source_dir, extra=None, database_url=None, hsm_dir=None, hsm=None):
        """extra: {"server": "key = value\n...", ...} lines added to those sections of the config
        (server, database, ledger); extra["tail"]: raw TOML appended at the end (for tables and
        arrays of tables such as [[ledger.witnesses]], which must follow every plain key).
        database_url: a postgresql:// URL; the server and the CLI get it as KEYMGR_DATABASE_URL
        and the config names no SQLite file.
        hsm_dir: a token directory from make_token_dir(), shared with other instances (this one then
        creates no token of its own and leaves the directory alone); extra["cluster"]: lines of a
        [cluster] section (instance_id, lease_ttl, change_poll_ms).
        hsm: a P11KitServer (exporting hsm_dir's token): the instance reaches the token through
        p11-kit-client.so instead of loading SoftHSM2 itself."""
        extra = extra or {}
        self.database_url = database_url
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="km-e2e-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.hsm_dir = hsm_dir or self.dir
        if not hsm_dir:
            subprocess.run([os.path.join(source_dir, "scripts/init-softhsm.sh"), self.dir, "keymgr"],
                           check=True, stdout=subprocess.DEVNULL)
        cluster = f"[cluster]\n{extra['cluster']}\n" if "cluster" in extra else ""
        self.config = os.path.join(self.dir, "keymgr.toml")
        with open(self.config, "w") as f:
            f.write(f"""
[server]
listen = "127.0.0.1"
port = {self.port}
threads = 16
{extra.get("server", "")}
[hsm]
module = "{P11KIT_CLIENT if hsm else SOFTHSM}"
token_label = "keymgr"
pin_file = "{self.hsm_dir}/hsm.pin"
[database]
{'' if database_url else f'path = "{self.dir}/keymgr.db"'}
{extra.get("database", "")}
[scheduler]
interval = "1s"
[ledger]
{'' if "checkpoint_interval" in extra.get("ledger", "") else 'checkpoint_interval = "2s"'}
{'audit_key_alg = "ES256"' if "ASAN_OPTIONS" in os.environ and "audit_key_alg" not in extra.get("ledger", "") else ""}
{extra.get("ledger", "")}
{cluster}[log]
level = "info"
[bootstrap]
keyset = "default"
issuer = "{self.base}/default"
{extra.get("tail", "")}
""")
        self.env = dict(os.environ, SOFTHSM2_CONF=os.path.join(self.hsm_dir, "softhsm2.conf"), KEYMGR_CONFIG=self.config)
        self.env.pop("KEYMGR_HSM_PIN", None)
        self.env.pop("KEYMGR_DATABASE_URL", None)
        if database_url:
            self.env["KEYMGR_DATABASE_URL"] = database_url
        if hsm:
            self.env["P11_KIT_SERVER_ADDRESS"] = hsm.address
        self.proc = None
        self.log_path = os.path.join(self.dir, "server.log")

    def cli(self, *args, token=None, check=True, input=None):
        env = dict(self.env)
        if token:
            env["KEYMGR_API_TOKEN"] = token
        r = subprocess.run([self.binary, *args], env=env, capture_output=True, text=True, timeout=60, input=input)
        if check and r.returncode != 0:
            raise RuntimeError(f"keymgr {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def token(self, name, role, *keysets):
        args = ["token", "create", "--name", name, "--role", role]
        for k in keysets:
            args += ["--keyset", k]
        return self.cli(*args).stdout.strip()

    def start(self, timeout=30):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=log, stderr=log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keymgr exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        raise RuntimeError("keymgr did not start: " + self.log())

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def request(self, method, path, token=None, body=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def cleanup(self):
        self.stop()
        if os.environ.get("KM_E2E_KEEP"):
            print("kept", self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)
