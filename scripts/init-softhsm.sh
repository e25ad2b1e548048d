#!/usr/bin/env bash
# Creates (once) a SoftHSM2 token directory under DIR with its own softhsm2.conf, and a token
# LABEL whose user PIN is random and kept in DIR/hsm.pin (mode 0600).
#   scripts/init-softhsm.sh DIR LABEL
# softhsm2-util takes the PINs as arguments; this happens once, on a developer machine, for a
# token that exists only under DIR.
set -euo pipefail
DIR=$1
LABEL=${2:-keymgr}
umask 077
mkdir -p "$DIR/tokens"
# The token directory holds the keys' (PIN-wrapped) objects: owner only, also when it existed
# before with a wider mode (mkdir -p leaves an existing directory as it is).
chmod 700 "$DIR/tokens"
if [ ! -f "$DIR/softhsm2.conf" ]; then
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$DIR" > "$DIR/softhsm2.conf"
fi
export SOFTHSM2_CONF="$DIR/softhsm2.conf"
if softhsm2-util --show-slots 2>/dev/null | grep -q "Label:.*\b$LABEL\b"; then
  exit 0
fi
[ -s "$DIR/hsm.pin" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DIR/hsm.pin"
[ -s "$DIR/hsm.so-pin" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DIR/hsm.so-pin"
softhsm2-util --init-token --free --label "$LABEL" --pin "$(cat "$DIR/hsm.pin")" --so-pin "$(cat "$DIR/hsm.so-pin")" >/dev/null
echo "init-softhsm: token '$LABEL' initialised in $DIR/tokens"
