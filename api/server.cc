#include "api/server.h"

#include <httplib.h>

#include "api/auth.h"
#include "api/public_docs.h"
#include "api/routes.h"

namespace keymgr::api {

Server::Server(ServerOptions opts, Services services)
    : opts_(std::move(opts)),
      s_(services),
      auth_(s_.api_tokens != nullptr ? std::make_unique<Authenticator>(*s_.api_tokens) : nullptr) {
  if (opts_.public_port >= 0 && s_.keys != nullptr) {
    PublicListenerOptions po;
    po.host = opts_.public_host.empty() ? opts_.host : opts_.public_host;
    po.port = opts_.public_port;
    po.threads = opts_.public_threads;
    public_ = std::make_unique<PublicListener>(po, *s_.keys, s_.log);
  }
  install_routes();
  HttpServerOptions ho;
  ho.host = opts_.host;
  ho.port = opts_.port;
  ho.io_threads = opts_.io_threads;
  ho.workers = std::max(2, opts_.threads);
  ho.queue_max = opts_.queue_max;
  ho.queue_timeout_ms = opts_.queue_timeout_ms;
  ho.max_connections = opts_.max_connections;
  ho.idle_timeout_s = opts_.idle_timeout_s;
  ho.max_body_bytes = opts_.max_body_bytes;
  ho.tls_cert = opts_.tls_cert;
  ho.tls_key = opts_.tls_key;
  ho.client_ca = opts_.client_ca;
  // Health, the public documents (snapshot lookups) and the console's files (in the binary) never
  // block: they are answered on the event loop, so verifiers are not queued behind signing.
  auto is_inline = [](const httplib::Request& req) {
    if (req.method != "GET" && req.method != "HEAD") return false;
    return req.path == "/healthz" || is_public_document_path(req.path) || req.path == "/ui" ||
           req.path.rfind("/ui/", 0) == 0;
  };
  http_ = std::make_unique<HttpServer>(
      ho, [this](httplib::Request& req, httplib::Response& res) { detail::dispatch(table_, req, res); }, is_inline,
      s_.metrics);
  if (s_.metrics != nullptr) {
    s_.metrics->describe("keymgr_http_overload_total", "counter",
                         "Requests answered 503 overloaded by the main listener (reason: queue_full, queue_timeout)");
  }
}

Server::~Server() { stop(); }

Status Server::bind() {
  RETURN_IF_ERROR(http_->bind());
  port_ = http_->port();
  if (public_) RETURN_IF_ERROR(public_->bind());
  return Status::Ok();
}

void Server::serve() {
  if (public_) public_->start();
  http_->serve();
}

void Server::stop() {
  if (public_) public_->stop();
  if (http_) http_->stop();
}

// The route groups live in routes_*.cc; this only puts them in order. Routes of one method are
// tried in registration order: the public documents' `(.*)/.well-known/...` patterns go first so
// that an issuer path is answered before anything else.
void Server::install_routes() {
  detail::Routes h{table_, routes_};
  const detail::Wrap wrap(auth_.get(), s_.metrics);
  detail::add_public_routes(h, wrap, s_);
  detail::add_token_routes(h, wrap, s_);
  detail::add_keyset_routes(h, wrap, s_);
  detail::add_audit_routes(h, wrap, s_);
  detail::add_api_token_routes(h, wrap, s_, auth_.get());
  detail::add_alert_routes(h, wrap, s_);
  detail::add_ui_routes(h, wrap);
}

}  // namespace keymgr::api
