#!/usr/bin/env bash
# Installs the npm `jose` package for the interop tests into tests/interop/node_modules
# (idempotent; the package-lock.json pins the version).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT/tests/interop"
if [ -f node_modules/jose/package.json ]; then exit 0; fi
if ! command -v npm >/dev/null; then echo "install-interop: npm missing" >&2; exit 1; fi
npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
