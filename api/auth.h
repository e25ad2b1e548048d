// The HTTP adapter of API tokens: resolving the bearer token of each request to a Principal.
// Tokens themselves (creation, listing, revocation, their roles and ledger entries) belong to
// keymgr/api_tokens.h; this file only parses "Authorization: Bearer km_<id>_<secret>", looks the
// record up through ApiTokenService, and compares SHA-256(secret) in constant time.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "keymgr/api_tokens.h"

namespace keymgr::api {

// Roles are the token service's; these names keep api::Role spelling valid for HTTP code.
using ::keymgr::NewApiToken;
using ::keymgr::parse_role;
using ::keymgr::Role;
using ::keymgr::role_name;

// The caller of a request, as its token says.
struct Principal {
  std::string token_id;
  std::string name;
  Role role = Role::kAuditor;
  std::vector<std::string> keysets;  // for issuers
  bool may_sign_for(std::string_view keyset) const;
};

// Resolves an Authorization header value ("Bearer km_..."): kUnauthenticated on any mismatch,
// without telling which part was wrong; kUnavailable when the store cannot be read.
//
// Keeps a short-lived cache of token records, so that a busy issuer does not cost a database read
// per request. The presented secret is still hashed and compared in constant time on every
// request; only the record lookup is cached, and only for tokens that exist and whose secret
// matched. Revocation through this Authenticator (revoke()) takes effect at once; a revocation
// made by another process (the CLI) takes effect within `ttl` (0: every request reads the store).
//
// `tokens` must outlive the Authenticator. Thread-safe.
class Authenticator {
 public:
  explicit Authenticator(ApiTokenService& tokens, std::chrono::milliseconds ttl = std::chrono::milliseconds(1000),
                         size_t max_entries = 10000);
  Result<Principal> authenticate(std::string_view authorization_header);
  // ApiTokenService::revoke(), then forget(id).
  Status revoke(const std::string& id, const std::string& actor);
  void forget(const std::string& id);

 private:
  struct Entry {
    db::ApiTokenRecord record;
    std::chrono::steady_clock::time_point fetched;
  };
  ApiTokenService& tokens_;
  const std::chrono::milliseconds ttl_;
  const size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // by token id; guarded by mu_
};

}  // namespace keymgr::api
