#include "api/public_docs.h"

#include "common/crypto.h"

#include <nlohmann/json.hpp>

#include "keymgr/keyset_rules.h"

namespace keymgr::api {
namespace {

constexpr std::string_view kWellKnownJwks = "/.well-known/jwks.json";
constexpr std::string_view kWellKnownDiscovery = "/.well-known/openid-configuration";
constexpr std::string_view kKeysetsPrefix = "/v1/keysets/";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The {name} segment of /v1/keysets/{name}/...: keyset-name characters (keyset_rules.h). The
// length is not checked here: a longer name has the document's form and is answered
// "keyset_not_found", as the route pattern matches it too.
bool valid_keyset_name(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    if (!is_keyset_name_char(c)) return false;
  }
  return true;
}

// If-None-Match uses the weak comparison (RFC 9110 §13.1.2): "*", or any listed tag equal to ours
// once a W/ prefix is dropped.
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const size_t comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == "*" || (!tag.empty() && tag == etag)) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

PublicDoc jwks_doc(const Keyset& ks, std::string_view if_none_match) {
  PublicDoc d;
  d.etag = ks.etag;
  d.max_age = ks.policy.jwks_max_age.count();
  if (etag_matches(if_none_match, ks.etag)) {
    d.status = 304;
    return d;
  }
  d.body = ks.jwks;
  d.content_type = "application/jwk-set+json";
  return d;
}

PublicDoc discovery_doc(const Keyset& ks) {
  PublicDoc d;
  d.body = discovery_json(ks);
  d.content_type = "application/json";
  return d;
}

}  // namespace

std::string discovery_json(const Keyset& ks) {
  nlohmann::json j = {{"issuer", ks.issuer},
                      {"jwks_uri", ks.issuer + "/.well-known/jwks.json"},
                      {"id_token_signing_alg_values_supported", nlohmann::json::array({std::string(jws_alg(ks.alg))})},
                      {"response_types_supported", nlohmann::json::array({"id_token"})},
                      {"subject_types_supported", nlohmann::json::array({"public"})}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool is_public_document_path(std::string_view path) {
  if (path.substr(0, kKeysetsPrefix.size()) == kKeysetsPrefix) {
    const std::string_view rest = path.substr(kKeysetsPrefix.size());
    const size_t slash = rest.find('/');
    if (slash != std::string_view::npos && valid_keyset_name(rest.substr(0, slash)) &&
        (rest.substr(slash + 1) == "jwks.json" || rest.substr(slash + 1) == "openid-configuration")) {
      return true;
    }
  }
  return path == kCheckpointPath || ends_with(path, kWellKnownJwks) || ends_with(path, kWellKnownDiscovery);
}

Result<PublicDoc> public_document(const KeyService& keys, std::string_view path, std::string_view if_none_match,
                                  LedgerLog* log) {
  if (path == kCheckpointPath && log != nullptr) {
    // Cacheable for seconds: a new checkpoint (or a new cosignature) at most every few seconds.
    ASSIGN_OR_RETURN(db::TreeCheckpoint cp, log->latest_checkpoint());
    PublicDoc d;
    d.etag = "\"" + hex_encode(sha256(cp.note)).substr(0, 32) + "\"";
    d.max_age = 5;
    if (!if_none_match.empty() && if_none_match == d.etag) {
      d.status = 304;
      return d;
    }
    d.body = std::move(cp.note);
    d.content_type = "text/plain; charset=utf-8";
    return d;
  }
  // /v1/keysets/{name}/jwks.json and /v1/keysets/{name}/openid-configuration
  if (path.substr(0, kKeysetsPrefix.size()) == kKeysetsPrefix) {
    std::string_view rest = path.substr(kKeysetsPrefix.size());
    const size_t slash = rest.find('/');
    if (slash != std::string_view::npos) {
      const std::string_view name = rest.substr(0, slash);
      const std::string_view doc = rest.substr(slash + 1);
      if (valid_keyset_name(name) && (doc == "jwks.json" || doc == "openid-configuration")) {
        KeysetPtr ks = keys.find_keyset(name);
        if (!ks) return NotFound("no keyset named '" + std::string(name) + "'", "keyset_not_found");
        return doc == "jwks.json" ? jwks_doc(*ks, if_none_match) : discovery_doc(*ks);
      }
    }
  }
  // {issuer path}/.well-known/...
  const bool jwks = ends_with(path, kWellKnownJwks);
  if (jwks || ends_with(path, kWellKnownDiscovery)) {
    const std::string_view issuer_path =
        path.substr(0, path.size() - (jwks ? kWellKnownJwks.size() : kWellKnownDiscovery.size()));
    KeysetPtr ks = keys.find_keyset_by_issuer_path(issuer_path);
    if (!ks) return NotFound("no issuer is served at this path", "issuer_not_found");
    return jwks ? jwks_doc(*ks, if_none_match) : discovery_doc(*ks);
  }
  return NotFound("no such route", "route_not_found");
}

}  // namespace keymgr::api
