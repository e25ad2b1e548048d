#include "api/server.h"

#include <httplib.h>

#include <spdlog/spdlog.h>

#include <charconv>
#include <regex>
#include <set>

#include "api/auth.h"
#include "api/public_docs.h"
#include "api/error_mapping.h"
#include "common/json_util.h"
#include "hsm/public_key.h"

namespace keymgr::api {
namespace {
using nlohmann::json;

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

Reply json_reply(const json& j, int status = 200) {
  Reply r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// Who may call a route.
enum class Access { kPublic, kAuthenticated, kOps, kAudit, kSign, kAdmin };

bool allowed(Access a, Role r) {
  switch (a) {
    case Access::kPublic:
    case Access::kAuthenticated: return true;
    case Access::kOps: return r == Role::kAdmin || r == Role::kOps;
    case Access::kAudit: return r == Role::kAdmin || r == Role::kAuditor;
    case Access::kSign: return r == Role::kIssuer;
    case Access::kAdmin: return r == Role::kAdmin;
  }
  return false;
}

json key_to_json(const Key& k) {
  json j = {{"kid", k.kid},
            {"alg", std::string(jws_alg(k.alg))},
            {"key_type", std::string(algorithm_name(k.alg))},
            {"state", std::string(key_state_name(k.state))},
            {"created_at", to_unix_seconds(k.created_at)},
            {"activate_at", to_unix_seconds(k.activate_at)},
            {"deactivate_at", to_unix_seconds(k.deactivate_at)},
            {"retire_at", to_unix_seconds(k.retire_at)},
            {"destroy_at", to_unix_seconds(k.destroy_at)},
            {"state_changed_at", to_unix_seconds(k.state_changed_at)},
            {"emergency", k.emergency},
            {"note", k.note}};
  if (k.compromised_since) j["compromised_since"] = to_unix_seconds(*k.compromised_since);
  return j;
}

json keyset_to_json(const Keyset& ks, const KeysetHealth& h, bool with_keys) {
  json j = {{"name", ks.name},
            {"issuer", ks.issuer},
            {"alg", std::string(algorithm_name(ks.alg))},
            {"policy", policy_to_json(ks.policy)},
            {"disabled", ks.disabled},
            {"created_at", to_unix_seconds(ks.created_at)},
            {"updated_at", to_unix_seconds(ks.updated_at)},
            {"jwks_uri", ks.issuer + "/.well-known/jwks.json"},
            {"health", {{"signing", h.signing}, {"overdue", h.overdue}, {"problem", h.problem},
                        {"consecutive_failures", h.consecutive_failures}, {"last_error", h.last_error}}}};
  const Key* a = ks.active_key();
  j["active_kid"] = a ? json(a->kid) : json(nullptr);
  if (with_keys) {
    json keys = json::array();
    for (const auto& k : ks.keys) keys.push_back(key_to_json(k));
    j["keys"] = std::move(keys);
  }
  return j;
}

Result<int64_t> parse_int(const std::string& s, const char* what) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgument(std::string(what) + " must be an integer", "bad_query");
  }
  return v;
}

Status require_json(const httplib::Request& req) {
  const std::string ct = req.get_header_value("Content-Type");
  if (ct.rfind("application/json", 0) != 0) {
    return InvalidArgument("Content-Type must be application/json", "unsupported_media_type");
  }
  return Status::Ok();
}

Result<json> body_object(const httplib::Request& req) {
  RETURN_IF_ERROR(require_json(req));
  ASSIGN_OR_RETURN(json j, parse_json(req.body, {64 * 1024, 16}));
  if (!j.is_object()) return InvalidArgument("request body must be a JSON object", "bad_request");
  return j;
}

// For routes whose fields are all optional: no body at all (whatever the Content-Type, or none)
// is the empty object.
Result<json> optional_body_object(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  return body_object(req);
}

Result<std::string> opt_string(const json& body, const char* name, bool required = false) {
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

Result<db::LedgerQuery> ledger_query(const httplib::Request& req) {
  db::LedgerQuery q;
  static const std::set<std::string> kKnown = {"keyset", "kid", "sub", "jti", "actor", "outcome", "kind",
                                               "token_sha256", "from", "to", "cursor", "limit", "format"};
  for (const auto& [k, v] : req.params) {
    if (!kKnown.count(k)) return InvalidArgument("unknown query parameter '" + k + "'", "bad_query");
    if (v.size() > 512) return InvalidArgument("query parameter '" + k + "' too long", "bad_query");
  }
  auto str = [&](const char* n, std::optional<std::string>& out) {
    if (req.has_param(n)) out = req.get_param_value(n);
  };
  str("keyset", q.keyset);
  str("kid", q.kid);
  str("sub", q.sub);
  str("jti", q.jti);
  str("actor", q.actor);
  str("outcome", q.outcome);
  str("kind", q.kind);
  str("token_sha256", q.token_sha256);
  if (req.has_param("from")) { ASSIGN_OR_RETURN(q.from_ms, parse_int(req.get_param_value("from"), "from")); }
  if (req.has_param("to")) { ASSIGN_OR_RETURN(q.to_ms, parse_int(req.get_param_value("to"), "to")); }
  if (req.has_param("cursor")) { ASSIGN_OR_RETURN(q.before_seq, parse_int(req.get_param_value("cursor"), "cursor")); }
  if (req.has_param("limit")) {
    ASSIGN_OR_RETURN(int64_t l, parse_int(req.get_param_value("limit"), "limit"));
    if (l < 1 || l > 1000) return InvalidArgument("limit must be 1..1000", "bad_query");
    q.limit = static_cast<int>(l);
  }
  return q;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_row(const db::LedgerEntry& e) {
  std::string out;
  for (const std::string& f :
       {std::to_string(e.seq), std::to_string(e.ts_ms), e.kind, e.event, e.keyset, e.kid, e.alg, e.actor,
        e.actor_addr, e.jti, e.sub, e.aud, std::to_string(e.iat), std::to_string(e.exp), e.token_sha256, e.outcome,
        e.reason, hex_encode(e.hash)}) {
    if (!out.empty()) out += ',';
    out += csv_field(f);
  }
  return out + "\n";
}
constexpr const char* kCsvHeader =
    "seq,ts_ms,kind,event,keyset,kid,alg,actor,actor_addr,jti,sub,aud,iat,exp,token_sha256,outcome,reason,hash\n";

// "(/v1/keysets/([a-z0-9_-]+)/jwks\\.json)" → "/v1/keysets/{name}/jwks.json"
std::string openapi_path(std::string p) {
  const std::pair<std::string, std::string> subst[] = {
      {"(.*)/", "/{issuer_path}/"}, {"([a-z0-9_-]+)", "{name}"}, {"([A-Za-z0-9_-]+)", "{kid}"}, {"([0-9a-f]+)", "{id}"},
      {"\\", ""}};
  for (const auto& [from, to] : subst) {
    for (size_t pos; (pos = p.find(from)) != std::string::npos;) p.replace(pos, from.size(), to);
  }
  return p;
}

// Each registered pattern with its method, as httplib matches them (regex_match on the path).
using RoutePatterns = std::vector<std::pair<std::string, std::regex>>;

// The value of an Allow header for `path`: the methods of every route whose pattern matches it
// (GET routes also answer HEAD), sorted; "" when no route has this path.
std::string allowed_methods(const RoutePatterns& patterns, const std::string& path) {
  std::set<std::string> methods;
  for (const auto& [method, re] : patterns) {
    if (!std::regex_match(path, re)) continue;
    methods.insert(method);
    if (method == "GET") methods.insert("HEAD");
  }
  std::string out;
  for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
  return out;
}

// Registers routes on the server and records them for routes() and for allowed_methods().
struct Routes {
  httplib::Server& s;
  std::vector<RouteInfo>& catalog;
  RoutePatterns& patterns;
  void add(const std::string& m, const std::string& p) {
    catalog.push_back({m, openapi_path(p)});
    patterns.emplace_back(m, std::regex(p));
  }
  void Get(const std::string& p, httplib::Server::Handler h) { add("GET", p), s.Get(p, std::move(h)); }
  void Post(const std::string& p, httplib::Server::Handler h) { add("POST", p), s.Post(p, std::move(h)); }
  void Patch(const std::string& p, httplib::Server::Handler h) { add("PATCH", p), s.Patch(p, std::move(h)); }
  void Delete(const std::string& p, httplib::Server::Handler h) { add("DELETE", p), s.Delete(p, std::move(h)); }
  void set_error_handler(httplib::Server::Handler h) { s.set_error_handler(std::move(h)); }
};

}  // namespace

Server::Server(ServerOptions opts, Services services)
    : opts_(std::move(opts)),
      s_(services),
      auth_(s_.api_tokens != nullptr ? std::make_unique<Authenticator>(*s_.api_tokens) : nullptr) {
  if (opts_.public_port >= 0 && s_.keys != nullptr) {
    PublicListenerOptions po;
    po.host = opts_.public_host.empty() ? opts_.host : opts_.public_host;
    po.port = opts_.public_port;
    po.threads = opts_.public_threads;
    public_ = std::make_unique<PublicListener>(po, *s_.keys);
  }
  if (!opts_.tls_cert.empty()) {
    http_ = std::make_unique<httplib::SSLServer>(opts_.tls_cert.c_str(), opts_.tls_key.c_str(),
                                                 opts_.client_ca.empty() ? nullptr : opts_.client_ca.c_str());
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  // Without TCP_NODELAY, Nagle + delayed ACK stall every keep-alive response ~40 ms (PERF.md §4).
  http_->set_tcp_nodelay(true);
  http_->set_keep_alive_max_count(static_cast<size_t>(opts_.keep_alive_max_count));
  http_->set_keep_alive_timeout(5);  // an idle keep-alive connection holds a worker thread
  http_->set_read_timeout(10, 0);
  http_->set_write_timeout(10, 0);
  http_->set_payload_max_length(opts_.max_body_bytes);
  // RFC 9112 §6.3: a request with neither Content-Length nor Transfer-Encoding has no body.
  // cpp-httplib 0.11 instead reads a POST/PUT/PATCH/DELETE body until the client closes, so
  // `curl -X POST` on keep-alive waited out the read timeout and got 400. The pre-routing handler
  // runs before the body is read; the Request it gets is httplib's own mutable object.
  http_->set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  const int threads = std::max(2, opts_.threads);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  install_routes();
}

Server::~Server() { stop(); }

Status Server::bind() {
  if (!http_->is_valid()) return InvalidArgument("TLS certificate, key or client CA could not be loaded", "bad_config");
  if (opts_.port == 0) {
    port_ = http_->bind_to_any_port(opts_.host.c_str());
    if (port_ <= 0) return Unavailable("cannot bind to " + opts_.host, "bind_failed");
  } else {
    if (!http_->bind_to_port(opts_.host.c_str(), opts_.port)) {
      return Unavailable("cannot bind to " + opts_.host + ":" + std::to_string(opts_.port), "bind_failed");
    }
    port_ = opts_.port;
  }
  if (public_) RETURN_IF_ERROR(public_->bind());
  return Status::Ok();
}

void Server::serve() {
  if (public_) public_->start();
  http_->listen_after_bind();
}

void Server::stop() {
  if (public_) public_->stop();
  if (http_) http_->stop();
}

void Server::install_routes() {
  Services s = s_;
  auto patterns = std::make_shared<RoutePatterns>();
  Routes h{*http_, routes_, *patterns};

  // Wraps a handler: authentication, role check, error mapping, never an exception to httplib.
  using Fn = std::function<Result<Reply>(const httplib::Request&, const Principal*)>;
  Authenticator* auth = auth_.get();
  auto wrap = [s, auth](Access access, Fn fn) {
    return [s, auth, access, fn](const httplib::Request& req, httplib::Response& res) {
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
        if (reply.status >= 500) spdlog::warn("{} {} -> {} {}", req.method, req.path, reply.status, err.to_string());
        // Refused credentials and roles are worth an auditor's eye; the header itself never is.
        if (reply.status == 401 || reply.status == 403) {
          spdlog::warn("{} {} from {} -> {} {}", req.method, req.path, req.remote_addr, reply.status, err.reason());
        }
      }
      res.status = reply.status;
      for (auto& [k, v] : reply.headers) res.set_header(k, v);
      if (reply.status != 304) res.set_content(reply.body, reply.content_type.c_str());
      if (s.metrics) {
        s.metrics->inc("keymgr_http_requests_total", "code=\"" + std::to_string(reply.status) + "\"");
      }
    };
  };

  // ---------------------------------------------------------------- public
  h.Get("/healthz", wrap(Access::kPublic, [](const httplib::Request&, const Principal*) -> Result<Reply> {
          return json_reply({{"status", "ok"}});
        }));

  h.Get("/readyz", wrap(Access::kPublic, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          const Readiness r = s.readiness->check();
          json checks = json::object();
          checks["hsm"] = r.hsm.ok() ? "ok" : r.hsm.to_string();
          checks["database"] = r.database.ok() ? "ok" : r.database.to_string();
          json ks = json::array();
          for (const auto& hlt : r.failing_keysets) {
            ks.push_back({{"keyset", hlt.keyset}, {"overdue", hlt.overdue}, {"problem", hlt.problem},
                          {"last_error", hlt.last_error}});
          }
          checks["keysets"] = ks.empty() ? json("ok") : ks;
          return json_reply({{"status", r.ready() ? "ready" : "degraded"}, {"checks", checks}}, r.ready() ? 200 : 503);
        }));

  h.Get("/metrics", wrap(Access::kPublic, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          Reply r;
          r.body = s.metrics->render();
          r.content_type = "text/plain; version=0.0.4";
          return r;
        }));

  // One implementation for both listeners (public_docs.h); the patterns are for the route catalog.
  auto public_doc = [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
    ASSIGN_OR_RETURN(PublicDoc d, public_document(*s.keys, req.path, req.get_header_value("If-None-Match")));
    Reply r;
    r.status = d.status;
    if (!d.etag.empty()) r.headers.push_back({"ETag", d.etag});
    if (d.max_age >= 0) r.headers.push_back({"Cache-Control", "public, max-age=" + std::to_string(d.max_age)});
    r.body = std::move(d.body);
    if (!d.content_type.empty()) r.content_type = std::move(d.content_type);
    return r;
  };
  h.Get(R"((.*)/\.well-known/jwks\.json)", wrap(Access::kPublic, public_doc));
  h.Get(R"((.*)/\.well-known/openid-configuration)", wrap(Access::kPublic, public_doc));
  h.Get(R"(/v1/keysets/([a-z0-9_-]+)/jwks\.json)", wrap(Access::kPublic, public_doc));
  h.Get(R"(/v1/keysets/([a-z0-9_-]+)/openid-configuration)", wrap(Access::kPublic, public_doc));
  h.Get("/v1/audit/checkpoints", wrap(Access::kPublic, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(auto cps, s.audit->checkpoints(100));
          json arr = json::array();
          for (const auto& cp : cps) arr.push_back(checkpoint_to_json(cp));
          auto jwk = s.audit->public_jwk();
          return json_reply({{"checkpoints", arr}, {"audit_key", jwk.ok() ? *jwk : json(nullptr)}});
        }));

  // ---------------------------------------------------------------- issuers
  h.Post(R"(/v1/keysets/([a-z0-9_-]+)/sign)",
         wrap(Access::kSign, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           const std::string name = req.matches[1].str();
           if (!s.keys->find_keyset(name)) return NotFound("no keyset named '" + name + "'", "keyset_not_found");
           if (!p->may_sign_for(name)) {
             s.tokens->record_refusal(name, actor_of(p, req), "issuer_not_bound");
             return PermissionDenied("this issuer token is not bound to keyset '" + name + "'", "issuer_not_bound");
           }
           ASSIGN_OR_RETURN(json body, optional_body_object(req));
           for (auto it = body.begin(); it != body.end(); ++it) {
             if (it.key() != "claims" && it.key() != "ttl") {
               return InvalidArgument("unknown field '" + it.key() + "' (expected claims, ttl)", "bad_request");
             }
           }
           SignRequest sr;
           sr.keyset = name;
           sr.claims = body.contains("claims") ? body["claims"] : json::object();
           if (body.contains("ttl")) {
             if (!body["ttl"].is_number_integer()) return InvalidArgument("'ttl' must be an integer (seconds)", "bad_ttl");
             sr.ttl_seconds = body["ttl"].get<int64_t>();
           }
           sr.actor = actor_of(p, req);
           ASSIGN_OR_RETURN(SignedToken t, s.tokens->sign(sr));
           return json_reply({{"token", t.token}, {"kid", t.kid}, {"alg", t.alg}, {"jti", t.jti}, {"iat", t.iat},
                              {"exp", t.exp}, {"ledger_seq", t.ledger_seq}});
         }));

  h.Post(R"(/v1/keysets/([a-z0-9_-]+)/verify)",
         wrap(Access::kAuthenticated, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
           ASSIGN_OR_RETURN(json body, body_object(req));
           ASSIGN_OR_RETURN(std::string token, opt_string(body, "token", true));
           ASSIGN_OR_RETURN(VerifyResult v, s.tokens->verify(req.matches[1].str(), token));
           json checks = json::array();
           json reasons = json::array();
           for (const auto& c : v.checks) {
             checks.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
             if (!c.ok) reasons.push_back(c.name + (c.detail.empty() ? "" : ": " + c.detail));
           }
           json out = {{"valid", v.valid}, {"checks", checks}, {"reasons", reasons}, {"kid", v.kid}};
           if (v.valid) out["claims"] = v.claims;
           if (v.ledger_seq) out["ledger_seq"] = *v.ledger_seq;
           return json_reply(out);
         }));

  // ---------------------------------------------------------------- operations
  h.Get("/v1/keysets", wrap(Access::kAuthenticated, [s](const httplib::Request&, const Principal* p) -> Result<Reply> {
          json arr = json::array();
          for (const auto& ks : s.keys->keysets()) {
            if (p->role == Role::kIssuer && !p->may_sign_for(ks->name)) continue;
            arr.push_back(keyset_to_json(*ks, s.keys->health(ks->name), false));
          }
          return json_reply({{"keysets", arr}});
        }));
  h.Get(R"(/v1/keysets/([a-z0-9_-]+))",
        wrap(Access::kAuthenticated, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
          const std::string name = req.matches[1].str();
          KeysetPtr ks = s.keys->find_keyset(name);
          if (!ks || (p->role == Role::kIssuer && !p->may_sign_for(name))) {
            return NotFound("no keyset named '" + name + "'", "keyset_not_found");
          }
          return json_reply(keyset_to_json(*ks, s.keys->health(name), true));
        }));
  h.Post("/v1/keysets", wrap(Access::kOps, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           ASSIGN_OR_RETURN(json body, body_object(req));
           NewKeyset spec;
           ASSIGN_OR_RETURN(spec.name, opt_string(body, "name", true));
           ASSIGN_OR_RETURN(spec.issuer, opt_string(body, "issuer", true));
           ASSIGN_OR_RETURN(std::string alg, opt_string(body, "alg"));
           if (!alg.empty()) {  // else NewKeyset's kDefaultAlgorithm (keyset_rules.h)
             auto a = parse_algorithm(alg);
             if (!a) return InvalidArgument("unknown alg '" + alg + "'", "bad_algorithm");
             spec.alg = *a;
           }
           if (body.contains("policy")) { ASSIGN_OR_RETURN(spec.policy, policy_from_json(body["policy"])); }
           for (auto it = body.begin(); it != body.end(); ++it) {
             static const std::set<std::string> kKnown = {"name", "issuer", "alg", "policy"};
             if (!kKnown.count(it.key())) return InvalidArgument("unknown field '" + it.key() + "'", "bad_request");
           }
           ASSIGN_OR_RETURN(KeysetPtr ks, s.keys->create_keyset(spec, actor_of(p, req)));
           return json_reply(keyset_to_json(*ks, s.keys->health(ks->name), true), 201);
         }));
  h.Patch(R"(/v1/keysets/([a-z0-9_-]+))",
          wrap(Access::kOps, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
            const std::string name = req.matches[1].str();
            ASSIGN_OR_RETURN(json body, optional_body_object(req));
            KeysetPtr ks = s.keys->find_keyset(name);
            if (!ks) return NotFound("no keyset named '" + name + "'", "keyset_not_found");
            for (auto it = body.begin(); it != body.end(); ++it) {
              if (it.key() != "policy" && it.key() != "disabled" && it.key() != "reason") {
                return InvalidArgument("unknown field '" + it.key() + "' (expected policy, disabled, reason)", "bad_request");
              }
            }
            ASSIGN_OR_RETURN(std::string reason, opt_string(body, "reason"));
            if (body.contains("policy")) {
              ASSIGN_OR_RETURN(Policy np, policy_from_json(body["policy"], ks->policy));
              ASSIGN_OR_RETURN(ks, s.keys->update_policy(name, np, actor_of(p, req)));
            }
            if (body.contains("disabled")) {
              if (!body["disabled"].is_boolean()) return InvalidArgument("'disabled' must be a boolean", "bad_request");
              ASSIGN_OR_RETURN(ks, s.keys->set_disabled(name, body["disabled"].get<bool>(), actor_of(p, req), reason));
            }
            return json_reply(keyset_to_json(*ks, s.keys->health(name), true));
          }));

  auto keyset_op = [&](const std::string& path, std::function<Result<KeysetPtr>(const std::string&, const json&,
                                                                                 const Actor&)> op) {
    h.Post(path, wrap(Access::kOps, [s, op](const httplib::Request& req, const Principal* p) -> Result<Reply> {
             ASSIGN_OR_RETURN(json body, optional_body_object(req));
             ASSIGN_OR_RETURN(KeysetPtr ks, op(req.matches[1].str(), body, actor_of(p, req)));
             return json_reply(keyset_to_json(*ks, s.keys->health(ks->name), true));
           }));
  };
  KeyService* keys = s.keys;
  keyset_op(R"(/v1/keysets/([a-z0-9_-]+)/rotate)", [keys](const std::string& n, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->rotate(n, a, reason);
  });
  keyset_op(R"(/v1/keysets/([a-z0-9_-]+)/emergency-rotate)",
            [keys](const std::string& n, const json& b, const Actor& a) -> Result<KeysetPtr> {
              ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason", true));
              return keys->emergency_rotate(n, a, reason);
            });
  auto key_op = [&](const std::string& verb,
                    std::function<Result<KeysetPtr>(const std::string&, const std::string&, const json&, const Actor&)> op) {
    h.Post(R"(/v1/keysets/([a-z0-9_-]+)/keys/([A-Za-z0-9_-]+)/)" + verb,
           wrap(Access::kOps, [s, op](const httplib::Request& req, const Principal* p) -> Result<Reply> {
             ASSIGN_OR_RETURN(json body, optional_body_object(req));
             ASSIGN_OR_RETURN(KeysetPtr ks, op(req.matches[1].str(), req.matches[2].str(), body, actor_of(p, req)));
             return json_reply(keyset_to_json(*ks, s.keys->health(ks->name), true));
           }));
  };
  key_op("suspend", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->suspend(n, kid, a, reason);
  });
  key_op("resume", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->resume(n, kid, a, reason);
  });
  key_op("compromise", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason", true));
    std::optional<TimePoint> since;
    if (b.contains("suspected_since")) {
      if (!b["suspected_since"].is_number_integer()) {
        return InvalidArgument("'suspected_since' must be Unix seconds", "bad_time");
      }
      since = from_unix_seconds(b["suspected_since"].get<int64_t>());
    }
    return keys->compromise(n, kid, since, a, reason);
  });
  key_op("destroy", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->destroy(n, kid, a, reason);
  });
  key_op("extend", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason", true));
    if (!b.contains("until") || !b["until"].is_number_integer()) {
      return InvalidArgument("'until' (Unix seconds) is required", "bad_time");
    }
    return keys->extend(n, kid, from_unix_seconds(b["until"].get<int64_t>()), a, reason);
  });

  // ---------------------------------------------------------------- audit
  h.Get("/v1/audit/ledger", wrap(Access::kAudit, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(db::LedgerQuery q, ledger_query(req));
          ASSIGN_OR_RETURN(db::LedgerPage page, s.audit->query(q));
          json arr = json::array();
          for (const auto& e : page.entries) arr.push_back(ledger_entry_to_json(e));
          return json_reply({{"entries", arr}, {"next_cursor", page.next_cursor ? json(*page.next_cursor) : json(nullptr)}});
        }));
  h.Get("/v1/audit/export", [s, wrap](const httplib::Request& req, httplib::Response& res) {
    // Authentication and validation through the wrapper; streaming outside it.
    bool ok = false;
    db::LedgerQuery q;
    std::string format = req.has_param("format") ? req.get_param_value("format") : "ndjson";
    wrap(Access::kAudit, [&](const httplib::Request& r, const Principal*) -> Result<Reply> {
      if (format != "ndjson" && format != "csv") return InvalidArgument("format must be ndjson or csv", "bad_query");
      ASSIGN_OR_RETURN(q, ledger_query(r));
      ok = true;
      return Reply{};
    })(req, res);
    if (!ok) return;
    AuditService* audit = s.audit;
    res.status = 200;
    res.set_chunked_content_provider(
        format == "csv" ? "text/csv" : "application/x-ndjson",
        [audit, q, format](size_t, httplib::DataSink& sink) {
          if (format == "csv") sink.write(kCsvHeader, strlen(kCsvHeader));
          std::string buf;
          Status st = audit->export_entries(q, [&](const db::LedgerEntry& e) {
            buf += format == "csv" ? csv_row(e) : ledger_entry_to_json(e).dump() + "\n";
            if (buf.size() > 64 * 1024) {
              if (!sink.write(buf.data(), buf.size())) return false;
              buf.clear();
            }
            return true;
          });
          if (!buf.empty()) sink.write(buf.data(), buf.size());
          if (!st.ok()) spdlog::error("ledger export failed: {}", st.to_string());
          sink.done();
          return true;
        });
  });
  h.Get("/v1/audit/verify", wrap(Access::kAudit, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(AuditReport rep, s.audit->verify());
          json j = {{"ok", rep.ok()},
                    {"entries", rep.chain.entries},
                    {"head", hex_encode(rep.chain.head)},
                    {"checkpoints_checked", rep.checkpoints_checked}};
          if (rep.chain.first_bad_seq) j["first_bad_seq"] = *rep.chain.first_bad_seq;
          if (!rep.chain.problem.empty()) j["problem"] = rep.chain.problem;
          if (rep.bad_checkpoint_seq) j["bad_checkpoint_seq"] = *rep.bad_checkpoint_seq;
          return json_reply(j);
        }));
  h.Get("/v1/audit/affected", wrap(Access::kAudit, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          if (!req.has_param("kid")) return InvalidArgument("'kid' is required", "bad_query");
          int64_t since = 0;
          if (req.has_param("since")) { ASSIGN_OR_RETURN(since, parse_int(req.get_param_value("since"), "since")); }
          json arr = json::array();
          RETURN_IF_ERROR(s.audit->affected_tokens(req.get_param_value("kid"), since, [&](const db::LedgerEntry& e) {
            arr.push_back(ledger_entry_to_json(e));
            return arr.size() < 100000;
          }));
          return json_reply({{"kid", req.get_param_value("kid")}, {"count", arr.size()}, {"tokens", arr}});
        }));

  // ---------------------------------------------------------------- API tokens (admin)
  h.Get("/v1/tokens", wrap(Access::kAdmin, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(auto list, s.api_tokens->list());
          json arr = json::array();
          for (const auto& t : list) {
            arr.push_back({{"id", t.id}, {"name", t.name}, {"role", t.role}, {"keysets", t.keysets},
                           {"created_at", t.created_at},
                           {"revoked_at", t.revoked_at ? json(*t.revoked_at) : json(nullptr)}});
          }
          return json_reply({{"tokens", arr}});
        }));
  h.Post("/v1/tokens", wrap(Access::kAdmin, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           ASSIGN_OR_RETURN(json body, body_object(req));
           ASSIGN_OR_RETURN(std::string name, opt_string(body, "name", true));
           ASSIGN_OR_RETURN(std::string role_s, opt_string(body, "role", true));
           auto role = parse_role(role_s);
           if (!role) return InvalidArgument("role must be admin, ops, issuer or auditor", "bad_role");
           std::vector<std::string> keysets;
           if (body.contains("keysets")) {
             if (!body["keysets"].is_array()) return InvalidArgument("'keysets' must be an array", "bad_request");
             for (const auto& k : body["keysets"]) {
               if (!k.is_string()) return InvalidArgument("'keysets' must hold strings", "bad_request");
               keysets.push_back(k.get<std::string>());
             }
           }
           ASSIGN_OR_RETURN(NewApiToken t, s.api_tokens->create(name, *role, keysets, actor_of(p, req).name));
           return json_reply({{"id", t.record.id}, {"name", name}, {"role", role_s}, {"keysets", keysets},
                              {"token", t.token}}, 201);
         }));
  h.Delete(R"(/v1/tokens/([0-9a-f]+))", wrap(Access::kAdmin, [auth](const httplib::Request& req, const Principal* p) -> Result<Reply> {
             RETURN_IF_ERROR(auth->revoke(req.matches[1].str(), actor_of(p, req).name));
             return json_reply({{"id", req.matches[1].str()}, {"revoked", true}});
           }));

  // Anything else: a JSON 404, or a 405 with Allow for a known path with another method (httplib
  // itself answers both with 404).
  h.set_error_handler([patterns](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      if (const std::string allow = allowed_methods(*patterns, req.path); !allow.empty()) {
        const Status st = method_not_allowed(req.method, allow);
        res.status = http_status(st);
        res.set_header("Allow", allow);
        res.set_content(error_body(st), "application/json");
        return;
      }
    }
    Status st = res.status == 404   ? NotFound("no such route", "route_not_found")
                : res.status == 413 ? ResourceExhausted("request body too large", "payload_too_large")
                : res.status == 400 ? InvalidArgument("malformed request", "bad_request")
                                    : Status(ErrorCode::kInvalidArgument, "http_" + std::to_string(res.status), "request refused");
    res.set_content(error_body(st), "application/json");
  });
}

}  // namespace keymgr::api
