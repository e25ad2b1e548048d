// Bearer API tokens: "km_<id>_<secret>". Only SHA-256(secret) is stored; the presented secret is
// compared in constant time. Roles: admin, ops, issuer (bound to named keysets), auditor.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "db/store.h"

namespace keymgr::api {

enum class Role { kAdmin, kOps, kIssuer, kAuditor };
std::string_view role_name(Role r);
std::optional<Role> parse_role(std::string_view s);

struct Principal {
  std::string token_id;
  std::string name;
  Role role = Role::kAuditor;
  std::vector<std::string> keysets;  // for issuers
  bool may_sign_for(std::string_view keyset) const;
};

struct NewApiToken {
  std::string token;  // shown once to the operator; never stored
  db::ApiTokenRecord record;
};

// Creates a token (persisted as a hash, with a ledger event).
Result<NewApiToken> create_api_token(db::Store& store, const Clock& clock, const std::string& name, Role role,
                                     const std::vector<std::string>& keysets, const std::string& actor);
Status revoke_api_token(db::Store& store, const Clock& clock, const std::string& id, const std::string& actor);

// Resolves an Authorization header value ("Bearer km_..."). kUnauthenticated on any mismatch,
// without telling which part was wrong.
Result<Principal> authenticate(db::Store& store, std::string_view authorization_header);

// authenticate() with a short-lived cache of token records, so that a busy issuer does not cost a
// database read per request. The presented secret is still hashed and compared in constant time
// on every request; only the record lookup is cached, and only for tokens that exist.
// Revocation through this Authenticator (revoke()) takes effect at once; a revocation made by
// another process (the CLI) takes effect within `ttl`.
// Thread-safe.
class Authenticator {
 public:
  explicit Authenticator(db::Store& store, std::chrono::milliseconds ttl = std::chrono::milliseconds(1000),
                         size_t max_entries = 10000);
  Result<Principal> authenticate(std::string_view authorization_header);
  Status revoke(const Clock& clock, const std::string& id, const std::string& actor);
  void forget(const std::string& id);

 private:
  struct Entry {
    db::ApiTokenRecord record;
    std::chrono::steady_clock::time_point fetched;
  };
  db::Store& store_;
  const std::chrono::milliseconds ttl_;
  const size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // by token id; guarded by mu_
};

}  // namespace keymgr::api
