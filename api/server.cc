#include "api/server.h"

#include <httplib.h>

#include "api/auth.h"
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
  if (!opts_.tls_cert.empty()) {
    http_ = std::make_unique<httplib::SSLServer>(opts_.tls_cert.c_str(), opts_.tls_key.c_str(),
                                                 opts_.client_ca.empty() ? nullptr : opts_.client_ca.c_str());
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  // Without TCP_NODELAY, Nagle's algorithm and the client's delayed ACK hold back every small
  // keep-alive response by ~40 ms.
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

// The route groups live in routes_*.cc; this only puts them in order. httplib tries the routes of
// one method in registration order: the public documents' `(.*)/.well-known/...` patterns go first
// so that an issuer path is answered before anything else.
void Server::install_routes() {
  auto patterns = std::make_shared<detail::RoutePatterns>();
  detail::Routes h{*http_, routes_, *patterns};
  const detail::Wrap wrap(auth_.get(), s_.metrics);
  detail::add_public_routes(h, wrap, s_);
  detail::add_token_routes(h, wrap, s_);
  detail::add_keyset_routes(h, wrap, s_);
  detail::add_audit_routes(h, wrap, s_);
  detail::add_api_token_routes(h, wrap, s_, auth_.get());
  detail::install_fallback(*http_, patterns);
}

}  // namespace keymgr::api
