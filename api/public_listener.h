// The public listener: a small epoll HTTP/1.1 server for what every verifier fetches, often on
// each unknown `kid` — JWKS and OpenID discovery documents (public_docs.h) — plus /healthz for
// load balancers. It exists because cpp-httplib's thread-per-connection model serves a fraction of
// what the machine can (docs/perf.md); this one runs a few event-loop threads (SO_REUSEPORT, one
// epoll each), answers pipelined keep-alive requests with one write, and holds no locks on the
// request path beyond KeyService's snapshot lookup.
//
// It answers GET and HEAD only, never reads a body (a request that announces one is refused and
// the connection is closed), never needs credentials, and serves nothing else: JSON 404 for other
// paths, 405 with `Allow: GET, HEAD` for another method on a served path, 400 for a GET with a
// body, with the same error bodies as the main server. Plain HTTP: put TLS in front of it (the usual CDN or
// load balancer in front of a jwks_uri), or fetch from the main listener, which can do TLS.
//
// Limits: request head 8 KiB (431), idle keep-alive 30 s, a head must arrive within 10 s,
// `max_connections` per listener (beyond it new connections are closed at once).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "keymgr/key_service.h"
#include "keymgr/ledger_log.h"

namespace keymgr::api {

// ---- the request-head parser (pure; fuzzed) ----
struct RequestHead {
  std::string_view method;  // "GET", "HEAD", ... (views into the parsed buffer)
  std::string_view target;  // origin-form, as sent ("/a/.well-known/jwks.json?x=1")
  int minor_version = 1;    // HTTP/1.<minor>
  std::string_view if_none_match;
  bool keep_alive = true;   // HTTP/1.1 default, "Connection: close" / HTTP/1.0 rules applied
  bool has_body = false;    // Content-Length other than 0, or any Transfer-Encoding
  size_t length = 0;        // bytes of the head, including the final CRLFCRLF
};
enum class ParseStatus { kIncomplete, kOk, kBad, kTooLarge };
// Parses one request head at the start of `buf`. kIncomplete: need more bytes (and buf is still
// under max_head). kTooLarge: no complete head within max_head bytes.
ParseStatus parse_request_head(std::string_view buf, RequestHead& out, size_t max_head = 8192);

// Decodes the path of an origin-form target: strips "?query", decodes %XX. nullopt if the target
// is not origin-form or an escape is malformed or decodes to NUL.
std::optional<std::string> decode_target_path(std::string_view target);

// The full response (status line, headers, body) to one request head. Exposed for tests and
// fuzzing; `keep_alive` says whether the connection stays open afterwards.
std::string respond(const KeyService& keys, const RequestHead& head, bool& keep_alive, LedgerLog* log = nullptr);

// ---- the listener ----
struct PublicListenerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port (see port())
  int threads = 2;
  int max_connections = 10000;
  int idle_timeout_s = 30;
  int head_timeout_s = 10;
};

struct PublicListenerStats {
  uint64_t connections = 0;  // accepted since start
  uint64_t requests = 0;
  uint64_t errors = 0;       // 4xx/5xx answers
  uint64_t refused = 0;      // connections closed at once over max_connections
};

class PublicListener {
 public:
  // `log` (may be null): also serves the ledger's newest signed checkpoint (public_docs.h).
  PublicListener(PublicListenerOptions opts, const KeyService& keys, LedgerLog* log = nullptr);
  ~PublicListener();  // stops and joins
  PublicListener(const PublicListener&) = delete;
  PublicListener& operator=(const PublicListener&) = delete;

  // Binds one SO_REUSEPORT socket per thread. kUnavailable/"bind_failed" with the reason.
  Status bind();
  int port() const { return port_; }
  // Starts the event-loop threads. REQUIRES: bind() succeeded.
  void start();
  void stop();
  PublicListenerStats stats() const;

 private:
  struct Loop;
  void run(Loop& loop);

  const PublicListenerOptions opts_;
  const KeyService& keys_;
  LedgerLog* log_;
  int port_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};
  std::atomic<uint64_t> connections_{0}, requests_{0}, errors_{0}, refused_{0};
};

}  // namespace keymgr::api
