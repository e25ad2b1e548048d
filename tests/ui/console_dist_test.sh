#!/usr/bin/env bash
# Fails when console/dist (committed, embedded into keymgr) is not what console/src builds to:
# rebuild with scripts/build-console.sh and commit console/dist with the source change.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$ROOT/scripts/build-console.sh" "$TMP/dist"
if ! diff -r "$TMP/dist" "$ROOT/console/dist"; then
  echo "console/dist differs from a fresh build of console/src: run scripts/build-console.sh and commit console/dist" >&2
  exit 1
fi
echo "console/dist is up to date"
