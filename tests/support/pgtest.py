"""PostgreSQL for the Python e2e tests, as tests/support/pg_test_db.h for the C++ ones: a fresh
schema in the database at KEYMGR_TEST_PG_URL (scripts/pg.sh start DIR prints one), and a URL whose
every connection works inside that schema only.

Without KEYMGR_TEST_PG_URL a test skips: it exits 77, so its add_test needs
`SKIP_RETURN_CODE 77`; with KEYMGR_TEST_REQUIRE_PG=1 (scripts/test.sh) it fails instead.

    url, drop = pgtest.fresh_schema_url()
    try: ...  # e.g. keymgr with database url = url
    finally: drop()
"""
import glob
import itertools
import os
import secrets
import shutil
import subprocess
import sys

SKIP_EXIT = 77
_counter = itertools.count()


def base_url():
    """KEYMGR_TEST_PG_URL, or None."""
    return os.environ.get("KEYMGR_TEST_PG_URL") or None


def required():
    return os.environ.get("KEYMGR_TEST_REQUIRE_PG") == "1"


def require_base_url():
    """KEYMGR_TEST_PG_URL; without it the test exits: 77 (skipped) or, when required, 1."""
    url = base_url()
    if url:
        return url
    hint = " (start a server with `scripts/pg.sh start DIR` and export the URL it prints)"
    if required():
        print("FAIL: KEYMGR_TEST_REQUIRE_PG=1 but KEYMGR_TEST_PG_URL is not set" + hint, file=sys.stderr)
        sys.exit(1)
    print("SKIP: KEYMGR_TEST_PG_URL is not set" + hint, file=sys.stderr)
    sys.exit(SKIP_EXIT)


def _psql_binary():
    found = shutil.which("psql")
    if found:
        return found
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise RuntimeError("psql not found (install postgresql-15: scripts/install-deps.sh)")
    return versions[-1]


def psql(url, sql):
    """Runs `sql` (one or more statements) on `url`; returns stdout (unaligned, tuples only)."""
    r = subprocess.run([_psql_binary(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))
    return r.stdout


def fresh_schema_url():
    """(url, drop): a new schema t_<pid>_<n>_<hex>, the base URL with search_path set to it, and a
    function that drops it (CASCADE; safe to call twice)."""
    base = require_base_url()
    name = "t_%d_%d_%s" % (os.getpid(), next(_counter), secrets.token_hex(8))
    psql(base, "CREATE SCHEMA " + name)
    # In a URI query '=' inside a value must be percent-encoded (libpq refuses a second '=').
    url = base + ("&" if "?" in base else "?") + "options=-csearch_path%3D" + name

    def drop():
        psql(base, "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS %s CASCADE" % name)

    return url, drop


def pg_sh(source_dir, cmd, d):
    """Runs `scripts/pg.sh CMD DIR` (start / stop / pause / resume a private cluster); returns its
    stdout (for start: the cluster's URL). Raises RuntimeError with pg.sh's stderr on failure."""
    script = os.path.join(source_dir, "scripts/pg.sh")
    r = subprocess.run([script, cmd, d], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"scripts/pg.sh {cmd} {d} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout.strip()
