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
  prometheus   # for promtool only (tests/monitoring: the alerting rules); its server must not run
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
  # Debian's prometheus package starts a server on :9090 and enables it at boot; only promtool is
  # wanted. While it is installed, a policy-rc.d (if the machine has none) denies starting it;
  # afterwards the service is disabled and stopped in case something else started it. An
  # installation that was already there is left alone.
  new_prometheus=0
  for p in "${missing[@]}"; do [ "$p" = prometheus ] && new_prometheus=1; done
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ $new_prometheus = 1 ] && [ ! -e $policy ]; then
    made_policy=1
    trap "$SUDO rm -f $policy" EXIT
    printf '%s\n' '#!/bin/sh' '# scripts/install-deps.sh (keymgr): no Prometheus server while promtool is installed' \
      'case "$1" in prometheus|prometheus.service) exit 101 ;; esac' 'exit 0' | $SUDO tee $policy >/dev/null
    $SUDO chmod 755 $policy
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ $new_prometheus = 1 ]; then
    if [ $made_policy = 1 ]; then
      $SUDO rm -f $policy
      trap - EXIT
    fi
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    else
      $SUDO systemctl disable prometheus.service >/dev/null 2>&1 || true  # offline: the boot link only
      if [ -x /etc/init.d/prometheus ]; then
        $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
      fi
    fi
  fi
else
  echo "install-deps: all Debian packages present"
fi
