// Keys and keysets as the rest of keymgr sees them: immutable snapshots built from the store's rows
// (a Keyset is never changed after it is published; a change publishes a new one), the actor of a
// change, and the mapping between rows and these values.
//
// Thread-safety: a published Keyset is immutable and may be read from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "common/types.h"
#include "db/records.h"
#include "keymgr/key_state.h"
#include "keymgr/policy.h"

namespace keymgr {

// Label prefix of every HSM object keymgr creates for keysets (reconcile touches only these).
inline constexpr std::string_view kKeyLabelPrefix = "keymgr:";

struct Key {
  std::string kid;
  std::string hsm_id;
  Algorithm alg = Algorithm::kES256;
  KeyState state = KeyState::kPreActivation;
  std::string jwk_text;  // public JWK as stored
  nlohmann::json jwk;    // parsed jwk_text (left null for destroyed keys: never used again)
  // Whole seconds. created_at is also when the key entered the JWKS (its publication).
  TimePoint created_at, activate_at, deactivate_at, retire_at, destroy_at, state_changed_at;
  std::optional<TimePoint> compromised_since;
  std::string note;
  bool emergency = false;

  // The rule checked at the moment of signing.
  bool can_sign_at(TimePoint now) const {
    return state == KeyState::kActive && activate_at <= now && now < deactivate_at;
  }
};

struct Keyset {
  int64_t id = 0;
  std::string name;
  std::string issuer;
  Algorithm alg = Algorithm::kES256;
  Policy policy;
  bool disabled = false;
  TimePoint created_at, updated_at;
  std::vector<Key> keys;  // every key ever, newest first
  std::string jwks;       // the published JWKS document (serialised once per change)
  std::string etag;       // quoted strong ETag of `jwks`
  int64_t version = 0;    // the store's version of the keyset when this snapshot was read

  const Key* find(std::string_view kid) const;
  const Key* active_key() const;  // state active (window not checked)
  const Key* successor() const;   // the pre-activation key that activates first
  const Key* first_key() const;   // the keyset's oldest key (signed at creation), or null
};
using KeysetPtr = std::shared_ptr<const Keyset>;

struct Actor {
  std::string name;  // API token name, "scheduler", "reconcile", "cli:user@host"
  std::string addr;  // remote address or ""
};

// The path of an issuer URL: "https://host:port/a/b/" → "/a/b". Each keyset's JWKS and discovery
// document are served under its issuer path, so no two keysets may share one.
std::string issuer_path(std::string_view issuer);

// Conversions between rows and domain values.
Result<Key> key_from_record(const db::KeyRecord& r);
db::KeyRecord key_to_record(const Key& k, int64_t keyset_id);
// A keyset snapshot from its row and its key rows (intent rows of unfinished generations are
// skipped); the JWKS is built.
Result<std::shared_ptr<Keyset>> keyset_from_records(const db::KeysetRecord& rec, const std::vector<db::KeyRecord>& rows);
db::KeysetRecord keyset_to_record(const Keyset& ks);

// The state of a key row whose generation has not finished (an intent; not a key yet).
inline constexpr std::string_view kGeneratingState = "generating";

}  // namespace keymgr
