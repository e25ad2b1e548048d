#include "api/auth.h"

#include <nlohmann/json.hpp>

#include "common/crypto.h"

namespace keymgr::api {

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kAdmin: return "admin";
    case Role::kOps: return "ops";
    case Role::kIssuer: return "issuer";
    case Role::kAuditor: return "auditor";
  }
  return "";
}

std::optional<Role> parse_role(std::string_view s) {
  for (Role r : {Role::kAdmin, Role::kOps, Role::kIssuer, Role::kAuditor}) {
    if (role_name(r) == s) return r;
  }
  return std::nullopt;
}

bool Principal::may_sign_for(std::string_view keyset) const {
  if (role != Role::kIssuer) return false;
  for (const auto& k : keysets) {
    if (k == keyset) return true;
  }
  return false;
}

Result<NewApiToken> create_api_token(db::Store& store, const Clock& clock, const std::string& name, Role role,
                                     const std::vector<std::string>& keysets, const std::string& actor) {
  if (name.empty() || name.size() > 64) return InvalidArgument("token name must be 1-64 characters", "bad_token_name");
  if (role == Role::kIssuer && keysets.empty()) {
    return InvalidArgument("an issuer token must be bound to at least one keyset", "issuer_unbound");
  }
  if (role != Role::kIssuer && !keysets.empty()) {
    return InvalidArgument("only issuer tokens are bound to keysets", "bad_binding");
  }
  for (const auto& k : keysets) {
    auto ks = store.get_keyset(k);
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
  out.record.created_at = to_unix_seconds(clock.now());
  out.token = "km_" + out.record.id + "_" + secret;
  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(clock.now());
  e.kind = "lifecycle";
  e.event = "api_token_created";
  e.actor = actor;
  e.outcome = "ok";
  e.detail = nlohmann::json{{"token_id", out.record.id}, {"name", name}, {"role", out.record.role},
                            {"keysets", keysets}}.dump();
  RETURN_IF_ERROR(store.create_api_token(out.record, e));
  return out;
}

Status revoke_api_token(db::Store& store, const Clock& clock, const std::string& id, const std::string& actor) {
  db::LedgerEntry e;
  e.ts_ms = to_unix_millis(clock.now());
  e.kind = "lifecycle";
  e.event = "api_token_revoked";
  e.actor = actor;
  e.outcome = "ok";
  e.detail = nlohmann::json{{"token_id", id}}.dump();
  return store.revoke_api_token(id, to_unix_seconds(clock.now()), e);
}

namespace {

struct ParsedBearer {
  std::string id;
  std::string_view secret;
};

std::optional<ParsedBearer> parse_bearer(std::string_view header) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() < kBearer.size() || header.substr(0, kBearer.size()) != kBearer) return std::nullopt;
  std::string_view tok = header.substr(kBearer.size());
  if (tok.size() > 128 || tok.substr(0, 3) != "km_") return std::nullopt;
  tok.remove_prefix(3);
  const size_t us = tok.find('_');
  if (us == std::string_view::npos) return std::nullopt;
  return ParsedBearer{std::string(tok.substr(0, us)), tok.substr(us + 1)};
}

Result<Principal> check(const db::ApiTokenRecord& rec, std::string_view secret) {
  const Status bad = Unauthenticated("missing or invalid API token", "unauthenticated");
  const Bytes h = sha256(secret);
  const bool match = constant_time_equal(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()),
                                         std::string_view(reinterpret_cast<const char*>(rec.secret_hash.data()),
                                                          rec.secret_hash.size()));
  if (!match || rec.revoked_at.has_value()) return bad;
  auto role = parse_role(rec.role);
  if (!role) return bad;
  Principal p;
  p.token_id = rec.id;
  p.name = rec.name;
  p.role = *role;
  p.keysets = rec.keysets;
  return p;
}

}  // namespace

Result<Principal> authenticate(db::Store& store, std::string_view header) {
  auto parsed = parse_bearer(header);
  if (!parsed) return Unauthenticated("missing or invalid API token", "unauthenticated");
  auto rec = store.get_api_token(parsed->id);
  if (!rec.ok()) {
    if (rec.status().code() == ErrorCode::kUnavailable) return rec.status();
    return Unauthenticated("missing or invalid API token", "unauthenticated");
  }
  return check(*rec, parsed->secret);
}

Authenticator::Authenticator(db::Store& store, std::chrono::milliseconds ttl, size_t max_entries)
    : store_(store), ttl_(ttl), max_entries_(max_entries) {}

Result<Principal> Authenticator::authenticate(std::string_view header) {
  auto parsed = parse_bearer(header);
  if (!parsed) return Unauthenticated("missing or invalid API token", "unauthenticated");
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard l(mu_);
    auto it = cache_.find(parsed->id);
    if (it != cache_.end() && now - it->second.fetched < ttl_) return check(it->second.record, parsed->secret);
  }
  auto rec = store_.get_api_token(parsed->id);
  if (!rec.ok()) {
    if (rec.status().code() == ErrorCode::kUnavailable) return rec.status();
    return Unauthenticated("missing or invalid API token", "unauthenticated");  // misses are not cached
  }
  Result<Principal> p = check(*rec, parsed->secret);
  if (p.ok()) {  // only a correct secret may put a record in the cache
    std::lock_guard l(mu_);
    if (cache_.size() >= max_entries_) cache_.clear();
    cache_.insert_or_assign(parsed->id, Entry{std::move(*rec), now});
  }
  return p;
}

Status Authenticator::revoke(const Clock& clock, const std::string& id, const std::string& actor) {
  Status st = revoke_api_token(store_, clock, id, actor);
  forget(id);
  return st;
}

void Authenticator::forget(const std::string& id) {
  std::lock_guard l(mu_);
  cache_.erase(id);
}

}  // namespace keymgr::api
