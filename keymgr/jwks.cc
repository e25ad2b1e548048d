#include "keymgr/jwks.h"

#include <algorithm>

#include "common/crypto.h"
#include "common/encoding.h"

namespace keymgr {

void build_jwks(Keyset& ks) {
  using nlohmann::json;
  json keys = json::array();
  // Signing key first, then the next one, then those kept for verification.
  auto rank = [](KeyState s) {
    switch (s) {
      case KeyState::kActive: return 0;
      case KeyState::kPreActivation: return 1;
      case KeyState::kSuspended: return 2;
      default: return 3;
    }
  };
  std::vector<const Key*> pub;
  for (const auto& k : ks.keys) {
    if (is_published(k.state) && !k.jwk.is_null()) pub.push_back(&k);
  }
  std::stable_sort(pub.begin(), pub.end(), [&](const Key* a, const Key* b) { return rank(a->state) < rank(b->state); });
  for (const Key* k : pub) {
    json j = k->jwk;
    j["iss"] = ks.issuer;
    j["key_state"] = std::string(key_state_name(k->state));
    j["activate_at"] = to_unix_seconds(k->activate_at);
    j["deactivate_at"] = to_unix_seconds(k->deactivate_at);
    j["retire_at"] = to_unix_seconds(k->retire_at);
    keys.push_back(std::move(j));
  }
  json doc = {{"keys", std::move(keys)}};
  ks.jwks = doc.dump();
  Bytes h = sha256(ks.jwks);
  h.resize(16);
  ks.etag = "\"" + hex_encode(h) + "\"";
}

}  // namespace keymgr
