#!/usr/bin/python3
"""Edits, deletes and swaps ledger records directly in the SQLite file; `keymgr audit verify`
must name the first bad record each time (exit code 4), and pass on the untouched copy.

usage: tamper_test.py KEYMGR_BINARY SOURCE_DIR
"""
import json
import shutil
import sqlite3
import sys

from harness import Keymgr

binary, source_dir = sys.argv[1], sys.argv[2]
km = Keymgr(binary, source_dir)
failures = []
try:
    km.start()
    km.stop()
    issuer = km.token("issuer", "issuer", "default")
    km.start()
    for i in range(30):
        status, body = km.request("POST", "/v1/keysets/default/sign", issuer, {"claims": {"sub": f"u{i}"}})
        assert status == 200, body
    km.stop()
    db = f"{km.dir}/keymgr.db"
    pristine = f"{km.dir}/pristine.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copy(db, pristine)

    r = km.cli("audit", "verify", check=False)
    if r.returncode != 0 or not json.loads(r.stdout)["ok"]:
        failures.append("untouched ledger does not verify: " + r.stdout + r.stderr)

    def tamper(name, sql, expect_seq):
        shutil.copy(pristine, db)
        for suffix in ("-wal", "-shm"):
            try:
                import os
                os.remove(db + suffix)
            except FileNotFoundError:
                pass
        con = sqlite3.connect(db)
        con.executescript(sql)
        con.commit()
        con.close()
        r = km.cli("audit", "verify", check=False)
        out = json.loads(r.stdout) if r.stdout.strip() else {}
        if r.returncode != 4 or out.get("ok", True):
            failures.append(f"{name}: audit verify did not fail (rc {r.returncode}): {r.stdout} {r.stderr}")
        elif out.get("first_bad_seq") != expect_seq:
            failures.append(f"{name}: first_bad_seq {out.get('first_bad_seq')} != {expect_seq} ({out})")
        else:
            print(f"tamper_test: {name}: reported seq {expect_seq} ({out.get('problem')})")

    tamper("edit", "UPDATE ledger SET sub='mallory' WHERE seq=12;", 12)
    tamper("delete", "DELETE FROM ledger WHERE seq=15;", 16)
    tamper("swap", """
        CREATE TEMP TABLE t AS SELECT * FROM ledger WHERE seq IN (20, 21);
        UPDATE ledger SET sub=(SELECT sub FROM t WHERE seq=21), jti=(SELECT jti FROM t WHERE seq=21),
                          token_sha256=(SELECT token_sha256 FROM t WHERE seq=21) WHERE seq=20;
        UPDATE ledger SET sub=(SELECT sub FROM t WHERE seq=20), jti=(SELECT jti FROM t WHERE seq=20),
                          token_sha256=(SELECT token_sha256 FROM t WHERE seq=20) WHERE seq=21;""", 20)
finally:
    km.cleanup()

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
