// The lifecycle invariants of keymgr, checked from outside the KeyService (snapshots, JWKS
// document, HSM contents). Used after every step of the simulations and concurrency tests.
#pragma once

#include <string>

#include "hsm/hsm.h"
#include "keymgr/key_service.h"

namespace keymgr::testing {

// Adds a gtest failure for every broken invariant; returns the number of failures found.
// With `hsm` given, also checks that exactly the non-destroyed keys have HSM objects.
int check_invariants(const KeyService& keys, TimePoint now, hsm::Hsm* hsm, const std::string& where);

}  // namespace keymgr::testing
