#include "tests/keymgr/invariants.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/support/hsm_key_lookup.h"

namespace keymgr::testing {

int check_invariants(const KeyService& keys, TimePoint now, hsm::Hsm* hsm, const std::string& where) {
  int bad = 0;
  auto fail = [&](const std::string& ks, const std::string& what) {
    ADD_FAILURE() << where << " keyset " << ks << ": " << what;
    ++bad;
  };
  std::set<std::string> all_kids;
  for (const auto& ks : keys.keysets()) {
    int active = 0;
    bool suspended_in_window = false;
    std::set<std::string> should_publish;
    for (const auto& k : ks->keys) {
      if (!all_kids.insert(k.kid).second) fail(ks->name, "kid " + k.kid + " appears twice");
      if (k.alg != ks->alg) fail(ks->name, "key " + k.kid + " has another algorithm than its keyset");
      if (k.state == KeyState::kActive) ++active;
      if (k.state == KeyState::kSuspended && now < k.deactivate_at) suspended_in_window = true;
      if (is_published(k.state)) should_publish.insert(k.kid);
      if (!(k.activate_at <= k.deactivate_at && k.deactivate_at <= k.retire_at && k.retire_at <= k.destroy_at)) {
        fail(ks->name, "key " + k.kid + " has unordered times");
      }
      if (k.state == KeyState::kActive && now >= k.retire_at) fail(ks->name, "active key " + k.kid + " past retire_at");
      // A key that signs on schedule was published long enough before it started (checked while
      // it is active; the simulations look at every step). The keyset's first key and emergency
      // keys sign at once by design.
      if (k.state == KeyState::kActive && !k.emergency && &k != &ks->keys.back() &&
          k.activate_at - k.created_at < std::max(ks->policy.verifier_cache, ks->policy.jwks_max_age) +
                                             ks->policy.clock_skew) {
        fail(ks->name, "key " + k.kid + " signs although it was not pre-published long enough");
      }
      if (hsm != nullptr) {
        auto found = find_hsm_key(*hsm, k.hsm_id);
        if (k.state == KeyState::kDestroyed && found.ok()) fail(ks->name, "destroyed key " + k.kid + " still in the HSM");
        if (k.state != KeyState::kDestroyed && !found.ok()) {
          fail(ks->name, "key " + k.kid + " (" + std::string(key_state_name(k.state)) + ") missing in the HSM");
        }
      }
    }
    if (active > 1) fail(ks->name, "more than one active key");
    // The published set is exactly the keys in published states.
    auto doc = nlohmann::json::parse(ks->jwks);
    std::set<std::string> published;
    for (const auto& j : doc["keys"]) {
      published.insert(j["kid"].get<std::string>());
      if (j.contains("d") || j.contains("p") || j.contains("q")) fail(ks->name, "private member in JWKS");
      if (j["iss"] != ks->issuer) fail(ks->name, "JWK carries another issuer");
    }
    if (published != should_publish) fail(ks->name, "JWKS does not match the published states");
    const KeysetHealth h = keys.health(ks->name);
    if (!ks->disabled && !suspended_in_window && h.consecutive_failures == 0 && !h.overdue) {
      const Key* a = ks->active_key();
      if (a == nullptr || !a->can_sign_at(now)) fail(ks->name, "healthy keyset without a key that can sign now");
    }
  }
  return bad;
}

}  // namespace keymgr::testing
