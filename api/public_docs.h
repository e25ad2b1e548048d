// The public, unauthenticated documents verifiers fetch: a keyset's JWKS and OpenID discovery
// document, under its issuer URL's path and under /v1/keysets/{name}/. One implementation, used by
// the main HTTP server and by the public listener (public_listener.h), so both answer with the
// same bytes, ETag and caching headers.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "keymgr/key_service.h"

namespace keymgr::api {

struct PublicDoc {
  int status = 200;          // 200, or 304 when If-None-Match matched the ETag
  std::string body;          // empty for 304
  std::string content_type;  // for 200
  std::string etag;          // "" when the document has none (discovery)
  int64_t max_age = -1;      // Cache-Control: public, max-age=N when >= 0
};

// `path` is the decoded request path without the query string:
//   {issuer path}/.well-known/jwks.json             {issuer path}/.well-known/openid-configuration
//   /v1/keysets/{name}/jwks.json                    /v1/keysets/{name}/openid-configuration
// Errors: kNotFound with "route_not_found" (none of these forms), "issuer_not_found",
// "keyset_not_found".
Result<PublicDoc> public_document(const KeyService& keys, std::string_view path, std::string_view if_none_match);

// Whether `path` has one of the four forms above, whether or not a keyset is served there: the
// routes of these documents (a wrong method on them is a 405, on anything else a 404).
bool is_public_document_path(std::string_view path);

// The discovery document of a keyset (RFC 8414 / OpenID Connect Discovery subset).
std::string discovery_json(const Keyset& ks);

}  // namespace keymgr::api
