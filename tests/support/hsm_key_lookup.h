// Test-only: one HSM key by id, found through list_keys.
//
// hsm::Hsm has no such call because keymgr never needs one: each key's public half lives in the
// store, and start-up repair lists the token once. Tests use this to see what the token holds.
// Errors: kInvalidArgument/"invalid_key_id", kNotFound/"key_not_found", or list_keys' error.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/encoding.h"
#include "common/status.h"
#include "hsm/hsm.h"

namespace keymgr::testing {

inline Result<hsm::KeyInfo> find_hsm_key(hsm::Hsm& hsm, std::string_view id_hex) {
  auto id = hex_decode(id_hex);
  if (!id || id->empty()) return InvalidArgument("key id must be non-empty hex", "invalid_key_id");
  const std::string want = hex_encode(*id);  // list_keys reports normalised (lower-case) ids
  ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> keys, hsm.list_keys(""));
  for (auto& k : keys) {
    if (k.id == want) return std::move(k);
  }
  return NotFound("no private key with id " + want + " in the token", "key_not_found");
}

}  // namespace keymgr::testing
