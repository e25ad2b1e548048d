// The public, unauthenticated documents verifiers fetch: a keyset's JWKS and OpenID discovery
// document, under its issuer URL's path and under /v1/keysets/{name}/. One implementation, used by
// the main HTTP server and by the public listener (public_listener.h), so both answer with the
// same bytes, ETag and caching headers.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "keymgr/key_service.h"
#include "keymgr/ledger_log.h"

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
//   /v1/audit/checkpoint   the ledger's newest signed checkpoint with its witness cosignatures
//                          (text/plain signed note; served when `log` is given)
// Errors: kNotFound with "route_not_found" (none of these forms), "issuer_not_found",
// "keyset_not_found", "no_checkpoint".
Result<PublicDoc> public_document(const KeyService& keys, std::string_view path, std::string_view if_none_match,
                                  LedgerLog* log = nullptr);

// Whether `path` has one of the four forms above, whether or not a keyset is served there: the
// routes of these documents (a wrong method on them is a 405, on anything else a 404).
bool is_public_document_path(std::string_view path);

inline constexpr std::string_view kCheckpointPath = "/v1/audit/checkpoint";

// The discovery document of a keyset (RFC 8414 / OpenID Connect Discovery subset).
std::string discovery_json(const Keyset& ks);

}  // namespace keymgr::api
