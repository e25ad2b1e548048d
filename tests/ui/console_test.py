#!/usr/bin/python3
"""The web console (console/, issue 16) in a real browser: the real keymgr binary on a fresh
SoftHSM2 token and SQLite file (tests/e2e/harness.py), driven by console_test.mjs in headless
Chromium (puppeteer-core + the system /usr/bin/chromium) with axe-core on every screen.

usage: console_test.py KEYMGR_BINARY SOURCE_DIR OUT_DIR
Screenshots land in OUT_DIR. Exit 77 (skipped) only when Chromium cannot start."""
import os
import shutil
import subprocess
import sys
import time

binary, source_dir, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(source_dir, "tests/e2e"))
from harness import Keymgr  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
if not os.path.isdir(os.path.join(here, "node_modules", "puppeteer-core")):
    print("console_test: tests/ui/node_modules missing: run scripts/install-browser.sh", file=sys.stderr)
    sys.exit(1)
if not shutil.which("node"):
    print("console_test: node missing: run scripts/install-browser.sh", file=sys.stderr)
    sys.exit(1)

shutil.rmtree(out_dir, ignore_errors=True)
os.makedirs(out_dir)
km = Keymgr(binary, source_dir)
rc = 1
try:
    km.start()
    km.stop()
    admin = km.token("console-admin", "admin")
    auditor = km.token("console-auditor", "auditor")
    ops = km.token("console-ops", "ops")
    km.start()
    env = dict(os.environ, KM_BASE=km.base, KM_ADMIN=admin, KM_AUDITOR=auditor, KM_OPS=ops, KM_OUT=out_dir)
    t0 = time.time()
    rc = subprocess.run(["node", os.path.join(here, "console_test.mjs")], env=env, timeout=540).returncode
    print(f"console_test: browser run took {time.time() - t0:.1f} s, exit {rc}; screenshots in {out_dir}")
finally:
    if rc not in (0, 77):
        print(km.log()[-6000:], file=sys.stderr)
    km.cleanup()
sys.exit(rc)
