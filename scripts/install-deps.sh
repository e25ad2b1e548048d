#!/usr/bin/env bash
# Installs keymgr's build, run and test dependencies from Debian 12 packages.
# Idempotent: packages already present are skipped; nothing is installed when all are there.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build
  libssl-dev openssl libsqlite3-dev sqlite3
  libcpp-httplib-dev libboost1.81-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libp11-kit-dev p11-kit softhsm2 opensc
  postgresql-15 libpq-dev
  libgtest-dev libgmock-dev clang libclang-rt-14-dev
  python3 python3-jwt python3-cryptography python3-requests
  curl ca-certificates
  golang-go golang-golang-x-mod-dev
)
# Node.js (for the npm `jose` interop tests): use the machine's own if present (a nodesource
# nodejs conflicts with Debian's npm package), else Debian's.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi
