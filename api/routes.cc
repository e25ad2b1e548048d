#include "api/routes.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>

#include "api/error_mapping.h"
#include "common/json_util.h"

namespace keymgr::api::detail {
namespace {

bool allowed(Access a, Role r) {
  switch (a) {
    case Access::kPublic:
    case Access::kAuthenticated: return true;
    case Access::kOps: return r == Role::kAdmin || r == Role::kOps;
    case Access::kAudit: return r == Role::kAdmin || r == Role::kAuditor;
    case Access::kSign: return r == Role::kIssuer;
    case Access::kAdmin: return r == Role::kAdmin;
    case Access::kMonitor: return r == Role::kAdmin || r == Role::kOps || r == Role::kAuditor;
    case Access::kCheck: return r == Role::kAdmin || r == Role::kOps || r == Role::kAuditor || r == Role::kVerifier;
  }
  return false;
}

Status require_json(const httplib::Request& req) {
  const std::string ct = req.get_header_value("Content-Type");
  if (ct.rfind("application/json", 0) != 0) {
    return InvalidArgument("Content-Type must be application/json", "unsupported_media_type");
  }
  return Status::Ok();
}

// "(/v1/keysets/([a-z0-9_-]+)/jwks\\.json)" → "/v1/keysets/{name}/jwks.json"
std::string openapi_path(std::string p) {
  const std::pair<std::string, std::string> subst[] = {
      {"(.*)/", "/{issuer_path}/"}, {"([a-z0-9_-]+)", "{name}"}, {"([A-Za-z0-9_-]+)", "{kid}"}, {"([A-Za-z0-9_.-]+)", "{asset}"}, {"([0-9a-f]+)", "{id}"}, {"([a-z_]+-[0-9a-f]+)", "{alert_id}"},
      {"\\", ""}};
  for (const auto& [from, to] : subst) {
    for (size_t pos; (pos = p.find(from)) != std::string::npos;) p.replace(pos, from.size(), to);
  }
  return p;
}

// The value of an Allow header for `path`: the methods of every route whose pattern matches it
// (GET routes also answer HEAD), sorted; "" when no route has this path.
std::string allowed_methods(const std::vector<Route>& table, const std::string& path) {
  std::set<std::string> methods;
  for (const auto& r : table) {
    if (!std::regex_match(path, r.pattern)) continue;
    methods.insert(r.method);
    if (r.method == "GET") methods.insert("HEAD");
  }
  std::string out;
  for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
  return out;
}

// `code="200"`, built once per status rather than per request.
const std::string& code_label(int status) {
  static const std::vector<std::string> labels = [] {
    std::vector<std::string> v;
    for (int c = 0; c < 600; ++c) v.push_back("code=\"" + std::to_string(c) + "\"");
    return v;
  }();
  return labels[static_cast<size_t>(std::clamp(status, 0, 599))];
}

}  // namespace

Reply json_reply(const json& j, int status) {
  Reply r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Result<int64_t> parse_int(const std::string& s, const char* what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgument(std::string(what) + " must be an integer", "bad_query");
  }
  return v;
}

Result<json> body_object(const httplib::Request& req) {
  RETURN_IF_ERROR(require_json(req));
  ASSIGN_OR_RETURN(json j, parse_json(req.body, {64 * 1024, 16}));
  if (!j.is_object()) return InvalidArgument("request body must be a JSON object", "bad_request");
  return j;
}

Result<json> optional_body_object(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  return body_object(req);
}

Result<std::string> opt_string(const json& body, const char* name, bool required) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) return InvalidArgument(std::string("'") + name + "' is required", "bad_request");
    return std::string();
  }
  if (!it->is_string()) return InvalidArgument(std::string("'") + name + "' must be a string", "bad_request");
  return it->get<std::string>();
}

Actor actor_of(const Principal* p, const httplib::Request& req) {
  return Actor{p ? p->name + "#" + p->token_id : "anonymous", req.remote_addr};
}

httplib::Server::Handler Wrap::operator()(Access access, Handler fn) const {
  return [auth = auth_, metrics = metrics_, access, fn](const httplib::Request& req, httplib::Response& res) {
    Reply reply;
    Status err;
    try {
      std::optional<Principal> principal;
      if (access != Access::kPublic) {
        auto p = auth != nullptr ? auth->authenticate(req.get_header_value("Authorization"))
                                 : Result<Principal>(Unavailable("no credential store", "unavailable"));
        if (!p.ok()) {
          err = p.status();
        } else if (!allowed(access, p->role)) {
          err = PermissionDenied("role '" + std::string(role_name(p->role)) + "' may not call this", "forbidden");
        } else {
          principal = *p;
        }
      }
      if (err.ok()) {
        auto r = fn(req, principal ? &*principal : nullptr);
        if (r.ok()) reply = std::move(*r);
        else err = r.status();
      }
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unexpected exception: {}", req.method, req.path, e.what());
      err = Internal("internal error", "internal");
    }
    if (!err.ok()) {
      reply = Reply{http_status(err), error_body(err)};
      if (err.code() == ErrorCode::kUnauthenticated) reply.headers.push_back({"WWW-Authenticate", "Bearer"});
      // Buckets refill at 1 or more signatures per second: one second always frees one.
      if (reply.status == 429) reply.headers.push_back({"Retry-After", "1"});
      if (reply.status >= 500) spdlog::warn("{} {} -> {} {}", req.method, req.path, reply.status, err.to_string());
      // Refused credentials and roles are worth an auditor's eye; the header itself never is.
      if (reply.status == 401 || reply.status == 403) {
        spdlog::warn("{} {} from {} -> {} {}", req.method, req.path, req.remote_addr, reply.status, err.reason());
      }
    }
    res.status = reply.status;
    for (auto& [k, v] : reply.headers) res.set_header(k, v);
    if (reply.status != 304) res.set_content(reply.body, reply.content_type.c_str());
    if (metrics) metrics->inc("keymgr_http_requests_total", code_label(reply.status));
  };
}

void Routes::add(const std::string& m, const std::string& p, httplib::Server::Handler h) {
  catalog.push_back({m, openapi_path(p)});
  table.push_back({m, std::regex(p), std::move(h)});
}

void dispatch(const std::vector<Route>& table, httplib::Request& req, httplib::Response& res) {
  static const std::string kGet = "GET";
  const std::string& method = req.method == "HEAD" ? kGet : req.method;
  for (const auto& r : table) {
    if (r.method == method && std::regex_match(req.path, req.matches, r.pattern)) {
      r.handler(req, res);
      return;
    }
  }
  req.matches = {};
  if (const std::string allow = allowed_methods(table, req.path); !allow.empty()) {
    const Status st = method_not_allowed(req.method, allow);
    res.status = http_status(st);
    res.set_header("Allow", allow);
    res.set_content(error_body(st), "application/json");
    return;
  }
  const Status st = NotFound("no such route", "route_not_found");
  res.status = http_status(st);
  res.set_content(error_body(st), "application/json");
}

}  // namespace keymgr::api::detail
