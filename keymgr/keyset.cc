#include "keymgr/keyset.h"

#include <algorithm>

#include "keymgr/jwks.h"

namespace keymgr {
namespace {
using nlohmann::json;
int64_t secs(TimePoint t) { return to_unix_seconds(t); }
TimePoint tp(int64_t s) { return from_unix_seconds(s); }
}  // namespace

const Key* Keyset::find(std::string_view kid) const {
  for (const auto& k : keys) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

const Key* Keyset::active_key() const {
  for (const auto& k : keys) {
    if (k.state == KeyState::kActive) return &k;
  }
  return nullptr;
}

const Key* Keyset::successor() const {
  const Key* best = nullptr;
  for (const auto& k : keys) {
    if (k.state == KeyState::kPreActivation && (best == nullptr || k.activate_at < best->activate_at)) best = &k;
  }
  return best;
}

const Key* Keyset::first_key() const { return keys.empty() ? nullptr : &keys.back(); }

std::string issuer_path(std::string_view issuer) {
  const size_t scheme = issuer.find("://");
  const size_t slash = scheme == std::string_view::npos ? std::string_view::npos : issuer.find('/', scheme + 3);
  std::string p = slash == std::string_view::npos ? "" : std::string(issuer.substr(slash));
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

Result<Key> key_from_record(const db::KeyRecord& r) {
  Key k;
  k.kid = r.kid;
  k.hsm_id = r.hsm_id;
  auto alg = parse_algorithm(r.alg);
  if (!alg) return DataLoss("key " + r.hsm_id + " has unknown algorithm '" + r.alg + "'", "corrupt_metadata");
  k.alg = *alg;
  auto st = parse_key_state(r.state);
  if (!st) return DataLoss("key " + r.hsm_id + " has unknown state '" + r.state + "'", "corrupt_metadata");
  k.state = *st;
  k.jwk_text = r.public_jwk;
  if (!r.public_jwk.empty() && k.state != KeyState::kDestroyed) {
    k.jwk = json::parse(r.public_jwk, nullptr, false);
    if (k.jwk.is_discarded()) return DataLoss("key " + r.kid + " has an unreadable JWK", "corrupt_metadata");
  }
  k.created_at = tp(r.created_at);
  k.activate_at = tp(r.activate_at);
  k.deactivate_at = tp(r.deactivate_at);
  k.retire_at = tp(r.retire_at);
  k.destroy_at = tp(r.destroy_at);
  k.state_changed_at = tp(r.state_changed_at);
  if (r.compromised_since) k.compromised_since = tp(*r.compromised_since);
  k.note = r.note;
  k.emergency = r.emergency;
  return k;
}

db::KeyRecord key_to_record(const Key& k, int64_t keyset_id) {
  db::KeyRecord r;
  r.kid = k.kid;
  r.hsm_id = k.hsm_id;
  r.keyset_id = keyset_id;
  r.alg = std::string(algorithm_name(k.alg));
  r.state = std::string(key_state_name(k.state));
  r.public_jwk = k.jwk_text;
  r.created_at = secs(k.created_at);
  r.activate_at = secs(k.activate_at);
  r.deactivate_at = secs(k.deactivate_at);
  r.retire_at = secs(k.retire_at);
  r.destroy_at = secs(k.destroy_at);
  r.state_changed_at = secs(k.state_changed_at);
  if (k.compromised_since) r.compromised_since = secs(*k.compromised_since);
  r.note = k.note;
  r.emergency = k.emergency;
  return r;
}

Result<std::shared_ptr<Keyset>> keyset_from_records(const db::KeysetRecord& rec, const std::vector<db::KeyRecord>& rows) {
  auto ks = std::make_shared<Keyset>();
  ks->id = rec.id;
  ks->name = rec.name;
  ks->issuer = rec.issuer;
  auto alg = parse_algorithm(rec.alg);
  if (!alg) return DataLoss("keyset " + rec.name + " has unknown algorithm", "corrupt_metadata");
  ks->alg = *alg;
  json pj = json::parse(rec.policy_json, nullptr, false);
  if (pj.is_discarded()) return DataLoss("keyset " + rec.name + " has an unreadable policy", "corrupt_metadata");
  ASSIGN_OR_RETURN(ks->policy, policy_from_json(pj));
  ks->disabled = rec.disabled;
  ks->created_at = tp(rec.created_at);
  ks->updated_at = tp(rec.updated_at);
  ks->version = rec.version;
  for (const auto& r : rows) {
    if (r.state == kGeneratingState) continue;  // intent rows are not keys yet
    ASSIGN_OR_RETURN(Key k, key_from_record(r));
    ks->keys.push_back(std::move(k));
  }
  std::sort(ks->keys.begin(), ks->keys.end(), [](const Key& a, const Key& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.kid > b.kid;
  });
  build_jwks(*ks);
  return ks;
}

db::KeysetRecord keyset_to_record(const Keyset& ks) {
  db::KeysetRecord rec;
  rec.id = ks.id;
  rec.name = ks.name;
  rec.issuer = ks.issuer;
  rec.alg = std::string(algorithm_name(ks.alg));
  rec.policy_json = policy_to_json(ks.policy).dump();
  rec.disabled = ks.disabled;
  rec.created_at = secs(ks.created_at);
  rec.updated_at = secs(ks.updated_at);
  return rec;
}

}  // namespace keymgr
