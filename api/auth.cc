#include "api/auth.h"

#include "common/crypto.h"

namespace keymgr::api {

bool Principal::may_sign_for(std::string_view keyset) const {
  if (role != Role::kIssuer) return false;
  for (const auto& k : keysets) {
    if (k == keyset) return true;
  }
  return false;
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

Authenticator::Authenticator(ApiTokenService& tokens, std::chrono::milliseconds ttl, size_t max_entries)
    : tokens_(tokens), ttl_(ttl), max_entries_(max_entries) {}

Result<Principal> Authenticator::authenticate(std::string_view header) {
  auto parsed = parse_bearer(header);
  if (!parsed) return Unauthenticated("missing or invalid API token", "unauthenticated");
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard l(mu_);
    auto it = cache_.find(parsed->id);
    if (it != cache_.end() && now - it->second.fetched < ttl_) return check(it->second.record, parsed->secret);
  }
  auto rec = tokens_.find(parsed->id);
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

Status Authenticator::revoke(const std::string& id, const std::string& actor) {
  Status st = tokens_.revoke(id, actor);
  forget(id);
  return st;
}

void Authenticator::forget(const std::string& id) {
  std::lock_guard l(mu_);
  cache_.erase(id);
}

}  // namespace keymgr::api
