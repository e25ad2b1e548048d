// Internal to api/ (included only by api/*.cc): what the route files share, so each route group
// (routes_*.cc) is a thin translation of HTTP to one service call and none carries a copy of the
// plumbing. Routes registers a route for httplib, for Server::routes() and for the 405/Allow
// answer; Wrap turns a handler into an httplib handler with authentication, the role check, error
// mapping (api/error_mapping.h) and the request counter. Handlers run on httplib's worker threads
// and must not throw (Wrap turns an exception into a 500 anyway).
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/auth.h"
#include "api/server.h"
#include "common/status.h"

namespace keymgr::api::detail {

using nlohmann::json;

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

Reply json_reply(const json& j, int status = 200);

// Who may call a route (the route x role table of README and tests/api).
// kMonitor: reading alerts and the tokens a compromise affects (admin, ops, auditor); kCheck: bulk token checks (admin, ops, auditor,
// verifier).
enum class Access { kPublic, kAuthenticated, kOps, kAudit, kSign, kAdmin, kMonitor, kCheck };

// ---- request parsing; errors are 400s with a reason ("bad_query", "bad_request", ...)
Result<int64_t> parse_int(const std::string& s, const char* what);
// The body as a JSON object; Content-Type must be application/json (415 otherwise).
Result<json> body_object(const httplib::Request& req);
// For routes whose fields are all optional: no body at all (whatever the Content-Type, or none)
// is the empty object.
Result<json> optional_body_object(const httplib::Request& req);
Result<std::string> opt_string(const json& body, const char* name, bool required = false);
// The ledger's actor for a request: "<token name>#<token id>" and the remote address.
Actor actor_of(const Principal* p, const httplib::Request& req);

using Handler = std::function<Result<Reply>(const httplib::Request&, const Principal*)>;

// Wraps a handler: authentication (unless kPublic), role check, error mapping, never an exception
// to httplib. `auth` null: every non-public route answers 503. Copyable; `auth` and `metrics`
// must outlive every handler it made.
class Wrap {
 public:
  Wrap(Authenticator* auth, Metrics* metrics) : auth_(auth), metrics_(metrics) {}
  httplib::Server::Handler operator()(Access access, Handler fn) const;

 private:
  Authenticator* auth_;
  Metrics* metrics_;
};

// One registered route: method, the pattern its path must match in full (std::regex_match; the
// groups land in Request::matches), and its handler.
struct Route {
  std::string method;
  std::regex pattern;
  httplib::Server::Handler handler;
};

// Registers routes in the table and the catalog (Server::routes()). Routes of one method are
// tried in registration order.
struct Routes {
  std::vector<Route>& table;
  std::vector<RouteInfo>& catalog;
  void add(const std::string& m, const std::string& p, httplib::Server::Handler h);
  void Get(const std::string& p, httplib::Server::Handler h) { add("GET", p, std::move(h)); }
  void Post(const std::string& p, httplib::Server::Handler h) { add("POST", p, std::move(h)); }
  void Patch(const std::string& p, httplib::Server::Handler h) { add("PATCH", p, std::move(h)); }
  void Delete(const std::string& p, httplib::Server::Handler h) { add("DELETE", p, std::move(h)); }
};

// Runs the first route whose method and pattern match (HEAD runs the GET route; the transport
// drops the body). Anything no route takes: a JSON 405 with Allow for a known path with another
// method, else a JSON 404.
void dispatch(const std::vector<Route>& table, httplib::Request& req, httplib::Response& res);

// ---- the route groups, in the order Server installs them
// routes_public.cc: /healthz, /readyz, /metrics, JWKS and discovery documents.
void add_public_routes(Routes& h, const Wrap& wrap, const Services& s);
// routes_tokens.cc: sign and verify.
void add_token_routes(Routes& h, const Wrap& wrap, const Services& s);
// routes_keysets.cc: keysets and key operations.
void add_keyset_routes(Routes& h, const Wrap& wrap, const Services& s);
// routes_audit.cc: checkpoints (public), ledger query and export, chain verification, affected tokens.
void add_audit_routes(Routes& h, const Wrap& wrap, const Services& s);
// routes_alerts.cc: alerts (list, read, acknowledge) and the bulk token check.
void add_alert_routes(Routes& h, const Wrap& wrap, const Services& s);
// routes_api_tokens.cc: API tokens (admin); revocation through `auth` so it takes effect at once;
// /v1/whoami (any token: its own name, role and keysets).
void add_api_token_routes(Routes& h, const Wrap& wrap, const Services& s, Authenticator* auth);
// routes_ui.cc: the web console's static files under /ui/ (public, with kUiContentSecurityPolicy).
void add_ui_routes(Routes& h, const Wrap& wrap);
inline constexpr std::string_view kUiContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

}  // namespace keymgr::api::detail
