#include "keymgr/api_tokens.h"

#include <nlohmann/json.hpp>

#include "common/crypto.h"

namespace keymgr {
namespace {

db::LedgerEntry token_event(const Clock& clock, const char* event, const std::string& actor, nlohmann::json detail) {
  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(clock.now());
  e.kind = "lifecycle";
  e.event = event;
  e.actor = actor;
  e.outcome = "ok";
  e.detail = detail.dump();
  return e;
}

}  // namespace

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kAdmin: return "admin";
    case Role::kOps: return "ops";
    case Role::kIssuer: return "issuer";
    case Role::kAuditor: return "auditor";
    case Role::kVerifier: return "verifier";
  }
  return "";
}

std::optional<Role> parse_role(std::string_view s) {
  for (Role r : {Role::kAdmin, Role::kOps, Role::kIssuer, Role::kAuditor, Role::kVerifier}) {
    if (role_name(r) == s) return r;
  }
  return std::nullopt;
}

ApiTokenService::ApiTokenService(db::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

Result<NewApiToken> ApiTokenService::create(const std::string& name, Role role, const std::vector<std::string>& keysets,
                                            const std::string& actor) {
  if (name.empty() || name.size() > 64) return InvalidArgument("token name must be 1-64 characters", "bad_token_name");
  if (role == Role::kIssuer && keysets.empty()) {
    return InvalidArgument("an issuer token must be bound to at least one keyset", "issuer_unbound");
  }
  if (role != Role::kIssuer && !keysets.empty()) {
    return InvalidArgument("only issuer tokens are bound to keysets", "bad_binding");
  }
  for (const auto& k : keysets) {
    auto ks = store_.get_keyset(k);
    if (!ks.ok()) return NotFound("no keyset named '" + k + "'", "keyset_not_found");
  }
  ASSIGN_OR_RETURN(Bytes id_raw, random_bytes(8));
  ASSIGN_OR_RETURN(Bytes secret_raw, random_bytes(32));
  NewApiToken out;
  out.record.id = hex_encode(id_raw);
  out.record.name = name;
  out.record.role = std::string(role_name(role));
  out.record.keysets = keysets;
  const std::string secret = base64url_encode(secret_raw);
  out.record.secret_hash = sha256(secret);
  out.record.created_at = to_unix_seconds(clock_.now());
  out.token = "km_" + out.record.id + "_" + secret;
  RETURN_IF_ERROR(store_.create_api_token(
      out.record, token_event(clock_, "api_token_created", actor,
                              {{"token_id", out.record.id}, {"name", name}, {"role", out.record.role},
                               {"keysets", keysets}})));
  return out;
}

Result<std::vector<db::ApiTokenRecord>> ApiTokenService::list() { return store_.list_api_tokens(); }

Status ApiTokenService::revoke(const std::string& id, const std::string& actor) {
  db::LedgerEntry e = token_event(clock_, "api_token_revoked", actor, {{"token_id", id}});
  return store_.revoke_api_token(id, to_unix_seconds(clock_.now()), e);
}

Result<db::ApiTokenRecord> ApiTokenService::find(std::string_view id) { return store_.get_api_token(id); }

}  // namespace keymgr
