// The main listener's transport: an event-driven HTTP/1.1 server (Boost.Asio + Boost.Beast) that
// serves any number of keep-alive connections with a few I/O threads and hands the requests that
// may block (HSM, ledger, database) to a bounded worker pool.
//
// Why: cpp-httplib lends a thread to a connection for its whole life, so connections beyond its
// thread count waited for a worker, and the tail latency of signing was the time other
// connections held them (p99 890 ms at 64 clients, docs/perf.md). Here a connection costs a socket
// and a buffer; a worker is held only while a request runs, and requests are served in arrival
// order whatever connection they came on.
//
// - Parsing and framing are Beast's (header and body limits, chunked request bodies,
//   `Expect: 100-continue`); TLS is OpenSSL through Asio, with mutual TLS when a client CA is set.
// - Overload is explicit: when `queue_max` requests already wait for a worker, a new one is
//   answered at once with 503 `overloaded` and `Retry-After: 1`; a request that waited longer
//   than `queue_timeout_ms` is answered 503 without running. No client is left to time out.
// - The handler sees cpp-httplib's Request/Response structs (the data model the routes are
//   written against); no cpp-httplib server code runs. A Response with a chunked content
//   provider is streamed from the worker (ledger export).
// - Transport errors carry the API's JSON error bodies: 400 malformed, 413 body too large, 431
//   head too large, 503 overloaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace keymgr {
class Metrics;
}

namespace keymgr::api {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                 // 0: an ephemeral port (see port())
  int io_threads = 2;           // event-loop threads (connections, parsing, TLS, inline requests)
  int workers = 32;             // threads running requests that may block
  int queue_max = 1024;         // requests waiting for a worker; beyond it: 503 overloaded
  int queue_timeout_ms = 5000;  // a request that waited longer is answered 503 without running
  size_t max_body_bytes = 64 * 1024;
  size_t max_head_bytes = 16 * 1024;
  int idle_timeout_s = 30;  // a keep-alive connection with no request for this long is closed
  int io_timeout_s = 10;    // a started request, a TLS handshake or a response write must finish within
  int max_connections = 10000;  // beyond it new connections are closed at once
  // TLS: certificate chain + key (PEM); with client_ca, a client certificate signed by it is required.
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
};

struct HttpServerStats {
  uint64_t connections = 0;   // accepted since start
  uint64_t requests = 0;      // complete requests read
  uint64_t overloaded = 0;    // answered 503 because the queue was full
  uint64_t expired = 0;       // answered 503 because they waited longer than queue_timeout_ms
  uint64_t refused = 0;       // connections closed at once over max_connections
  int64_t open_connections = 0;
  int64_t queued = 0;         // waiting for a worker now
};

// The main listener's request parsing on a buffer, exactly as a connection does it (Beast's parser
// with these limits, then the conversion to the Request the handlers see: the decoded path, the
// query parameters, headers, body): for fuzzing and tests. `consumed` receives the bytes the
// request took. Errors: kUnavailable/"incomplete" (more bytes needed); the listener's refusals:
// "header_too_large" (431), "payload_too_large" (413), "bad_request" (400).
Status parse_http_request(std::string_view bytes, size_t max_head, size_t max_body, httplib::Request& out,
                          size_t& consumed);

class HttpServer {
 public:
  // The request handler: fills `res` (status, headers, body or a chunked content provider).
  // It must not throw. `is_inline(req)`: the request never blocks and is answered on the I/O
  // thread (public documents, health); every other request runs on a worker.
  using Handler = std::function<void(httplib::Request&, httplib::Response&)>;
  using InlinePredicate = std::function<bool(const httplib::Request&)>;

  HttpServer(HttpServerOptions opts, Handler handler, InlinePredicate is_inline, Metrics* metrics = nullptr);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads TLS material and binds. kInvalidArgument/"bad_config" for TLS files that do not load;
  // kUnavailable/"bind_failed" when the address cannot be bound.
  Status bind();
  int port() const;
  // Runs the event loop on this thread and io_threads - 1 others until stop(). REQUIRES: bind().
  void serve();
  // Stops accepting, lets running requests finish (their answers are written while the loop
  // still runs, for at most ~1 s), drops queued ones, and makes serve() return. Any thread; idempotent.
  void stop();
  HttpServerStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keymgr::api
