// The HTTP face of keymgr: public JWKS/discovery/health/metrics, token signing and verification,
// operations and audit, behind bearer API tokens with roles. The main listener's transport is
// api/http_server.h (event loop + bounded worker pool); the optional public listener is
// api/public_listener.h.
//
// Routes (api/routes_*.cc) translate HTTP to one call of a keymgr service and back; api/ never
// touches the store or the HSM. Every error goes through api/error_mapping.h. JWKS and discovery
// are served from the keysets' in-memory snapshots with ETag / 304.
//
// Owns the HTTP server(s), the public listener and the token Authenticator; the Services must
// outlive it. bind() then serve() from one thread (serve() blocks); stop() from any thread.
#pragma once

#include <memory>
#include <string>

#include "api/auth.h"
#include "api/http_server.h"
#include "api/public_listener.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "keymgr/api_tokens.h"
#include "keymgr/audit_service.h"
#include "keymgr/key_service.h"
#include "keymgr/ledger_log.h"
#include "keymgr/readiness.h"
#include "keymgr/token_service.h"

namespace keymgr::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: pick a free port (see port())
  int threads = 32;     // workers running requests that may block (HSM, ledger, database)
  int io_threads = 2;   // event-loop threads: connections, parsing, TLS, public documents
  // Requests waiting for a worker beyond which new ones are answered 503 `overloaded` with
  // Retry-After at once, and the longest a request may wait before it is answered so unrun.
  int queue_max = 1024;
  int queue_timeout_ms = 5000;
  int max_connections = 10000;
  int idle_timeout_s = 30;  // keep-alive connections idle this long are closed
  size_t max_body_bytes = 64 * 1024;
  // TLS (optional): certificate + key in PEM; with client_ca set, clients must present a
  // certificate signed by it (mutual TLS) in addition to their bearer token.
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  // The public listener (public_listener.h) for JWKS, discovery and /healthz: off when
  // public_port < 0; 0 picks a free port (tests). public_host "" = the same as host.
  std::string public_host;
  int public_port = -1;
  int public_threads = 2;
};

// What the routes call: keymgr's services, never the store or the HSM directly. All must outlive
// the Server. A Server built with null services still lists its routes (routes(); tests), but
// only a complete set may serve.
struct Services {
  KeyService* keys = nullptr;
  TokenService* tokens = nullptr;
  AuditService* audit = nullptr;
  LedgerLog* log = nullptr;  // the transparency log: checkpoints, proofs, audit keys
  ApiTokenService* api_tokens = nullptr;  // also authenticates every non-public request
  ReadinessService* readiness = nullptr;
  Metrics* metrics = nullptr;
  Monitor* monitor = nullptr;  // alerts; null: the alert routes answer 503
};

// A registered route, in OpenAPI path form ("/v1/keysets/{name}/sign").
struct RouteInfo {
  std::string method;
  std::string path;
};

namespace detail {
struct Route;
}

class Server {
 public:
  Server(ServerOptions opts, Services services);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the socket (so tests can read port() before serving).
  Status bind();
  int port() const { return port_; }
  // The public listener's port, or -1 when it is off.
  int public_port() const { return public_ ? public_->port() : -1; }
  const PublicListener* public_listener() const { return public_.get(); }
  // The main listener's counters (connections, overload refusals, queue depth).
  HttpServerStats http_stats() const { return http_->stats(); }
  // Serves until stop(). REQUIRES: bind() succeeded.
  void serve();
  void stop();
  // Every route this server answers (docs/openapi.json is checked against it by a test).
  const std::vector<RouteInfo>& routes() const { return routes_; }
  // The token authenticator (null without Services::api_tokens): its cache is told about
  // revocations made through other instances (keymgr/change_watcher.h).
  Authenticator* authenticator() const { return auth_.get(); }

 private:
  void install_routes();

  ServerOptions opts_;
  Services s_;
  std::unique_ptr<Authenticator> auth_;
  std::vector<detail::Route> table_;  // filled before http_ serves; read-only afterwards
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<PublicListener> public_;
  int port_ = 0;
  std::vector<RouteInfo> routes_;
};

}  // namespace keymgr::api
