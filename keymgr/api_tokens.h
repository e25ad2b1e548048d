// API-token management: bearer tokens "km_<id>_<secret>" with a role, created, listed and revoked
// with a lifecycle ledger entry for each change. Only SHA-256(secret) is stored; the secret is
// returned once, at creation. Used by the HTTP API (/v1/tokens, and per-request authentication in
// api/auth.h) and by the CLI (`keymgr token ...`), so both apply the same rules and write the same
// ledger entries.
//
// Owns nothing but references: `store` and `clock` must outlive the service.
// Thread-safety: all methods may be called concurrently (the store serialises writes).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "db/store.h"

namespace keymgr {

// What a token may do: admin (everything, tokens included), ops (keysets and keys), issuer (sign
// for the keysets it is bound to), auditor (the ledger).
// kVerifier: relying parties that verify tokens and bulk-check tokens seen in the wild.
enum class Role { kAdmin, kOps, kIssuer, kAuditor, kVerifier };
std::string_view role_name(Role r);
std::optional<Role> parse_role(std::string_view s);

struct NewApiToken {
  std::string token;  // shown once to the operator; never stored
  db::ApiTokenRecord record;
};

class ApiTokenService {
 public:
  ApiTokenService(db::Store& store, const Clock& clock);
  ApiTokenService(const ApiTokenService&) = delete;
  ApiTokenService& operator=(const ApiTokenService&) = delete;

  // A new token named `name` (1-64 characters). An issuer token is bound to at least one existing
  // keyset; other roles to none. Recorded as "api_token_created" by `actor`.
  Result<NewApiToken> create(const std::string& name, Role role, const std::vector<std::string>& keysets,
                             const std::string& actor);
  // Every token, revoked ones included (never a secret: records hold only its hash).
  Result<std::vector<db::ApiTokenRecord>> list();
  // Marks token `id` revoked, recorded as "api_token_revoked". kNotFound for an unknown id.
  Status revoke(const std::string& id, const std::string& actor);
  // The record of token `id`, for authentication (api/auth.h compares the secret). kNotFound for
  // an unknown id; kUnavailable when the store cannot be read.
  Result<db::ApiTokenRecord> find(std::string_view id);

 private:
  db::Store& store_;
  const Clock& clock_;
};

}  // namespace keymgr
