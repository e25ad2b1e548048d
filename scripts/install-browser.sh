#!/usr/bin/env bash
# Installs what the console's browser test needs (idempotent): Debian's chromium, node/npm, and
# the pinned npm packages of tests/ui (puppeteer-core, axe-core) and console/ (esbuild, preact,
# htm; the committed console/dist is rebuilt and compared by the console_dist_up_to_date test).
# scripts/run.sh needs none of this: keymgr serves the committed bundle from its own binary.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v npm >/dev/null || need+=(npm)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-browser: apt-get install ${need[*]}"
  $SUDO apt-get update -qq || true  # a stale index still installs; the install below fails loudly if not
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
for dir in tests/ui console; do
  cd "$ROOT/$dir"
  if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.package-lock.json.src 2>/dev/null; then
    continue
  fi
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.src
done
