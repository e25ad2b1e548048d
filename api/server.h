// The HTTP face of keymgr (cpp-httplib): public JWKS/discovery/health/metrics, token signing and
// verification, operations and audit, behind bearer API tokens with roles.
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
#include "api/public_listener.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "keymgr/api_tokens.h"
#include "keymgr/audit_service.h"
#include "keymgr/key_service.h"
#include "keymgr/ledger_log.h"
#include "keymgr/readiness.h"
#include "keymgr/token_service.h"

namespace httplib {
class Server;
}

namespace keymgr::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: pick a free port (see port())
  int threads = 32;  // HTTP worker threads; a keep-alive connection holds one while it is open
  size_t max_body_bytes = 64 * 1024;
  // Requests per keep-alive connection before it is closed: cpp-httplib lends a thread to a
  // connection for its whole life, so connections beyond `threads` wait; closing after 100 lets
  // them in (without it, wrk -c64 against 32 threads saw timeouts).
  int keep_alive_max_count = 100;
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
};

// A registered route, in OpenAPI path form ("/v1/keysets/{name}/sign").
struct RouteInfo {
  std::string method;
  std::string path;
};

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
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<PublicListener> public_;
  int port_ = 0;
  std::vector<RouteInfo> routes_;
};

}  // namespace keymgr::api
