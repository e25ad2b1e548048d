#include "keymgr/keyset_rules.h"

#include <string>

#include "keymgr/keyset.h"

namespace keymgr {

bool is_keyset_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; }

Status check_keyset_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxKeysetNameLength;
  for (char c : name) ok = ok && is_keyset_name_char(c);
  if (!ok) return InvalidArgument("keyset name must be 1-64 characters of a-z, 0-9, '-' and '_'", "bad_keyset_name");
  return Status::Ok();
}

bool is_reserved_issuer_path(std::string_view path) {
  // /v1 as a plain prefix ("/v1beta" too), as the route handler has always refused it.
  if (path.substr(0, 3) == "/v1") return true;
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") return true;
  return path == "/ui" || path.substr(0, 4) == "/ui/";
}

Status check_issuer(std::string_view issuer) {
  if (issuer.substr(0, 8) != "https://" && issuer.substr(0, 7) != "http://") {
    return InvalidArgument("issuer must be an http(s) URL", "bad_issuer");
  }
  if (issuer.size() > kMaxIssuerLength || issuer.find_first_of(" \t\r\n?#\"") != std::string_view::npos) {
    return InvalidArgument("issuer must be a URL without spaces, query or fragment", "bad_issuer");
  }
  if (const std::string path = issuer_path(issuer); is_reserved_issuer_path(path)) {
    return InvalidArgument("issuer path '" + path + "' collides with keymgr's own routes", "bad_issuer");
  }
  return Status::Ok();
}

Status check_new_keyset(std::string_view name, std::string_view issuer) {
  RETURN_IF_ERROR(check_keyset_name(name));
  return check_issuer(issuer);
}

}  // namespace keymgr
