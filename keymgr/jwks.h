// The JWKS document of a keyset as verifiers see it: its published keys (pre-activation, active,
// suspended, deactivated), signing key first, each with its issuer and lifecycle times.
#pragma once

#include "keymgr/keyset.h"

namespace keymgr {

// Serialises ks.jwks and its strong ETag from ks.keys. REQUIRES: ks not yet published.
void build_jwks(Keyset& ks);

}  // namespace keymgr
