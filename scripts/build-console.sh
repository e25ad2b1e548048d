#!/usr/bin/env bash
# Builds the web console (console/src) into console/dist, which is committed: keymgr embeds it at
# build time (console/embed.cmake), so building or running keymgr needs no node.
#   scripts/build-console.sh            # npm ci (pinned by console/package-lock.json) + esbuild
#   scripts/build-console.sh OUT_DIR    # build into OUT_DIR instead (the drift test compares it)
# The output is deterministic (pinned esbuild, no source maps, no timestamps).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/console/dist}
cd "$ROOT/console"
if [ ! -x node_modules/.bin/esbuild ] || ! cmp -s package-lock.json node_modules/.package-lock.json.src 2>/dev/null; then
  command -v npm >/dev/null || { echo "build-console: npm missing (apt-get install npm)" >&2; exit 1; }
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.src
fi
mkdir -p "$OUT"
node_modules/.bin/esbuild src/app.js src/app.css --bundle --minify --format=esm --target=es2020 \
  --charset=utf8 --legal-comments=none --log-level=warning --outdir="$OUT"
cp src/index.html "$OUT/index.html"
js=$(wc -c < "$OUT/app.js"); css=$(wc -c < "$OUT/app.css")
gz=$(cat "$OUT/app.js" "$OUT/app.css" "$OUT/index.html" | gzip -9n | wc -c)
echo "build-console: $OUT: app.js $js B, app.css $css B, all three files $gz B gzipped"
