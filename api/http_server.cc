#include "api/http_server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "api/error_mapping.h"
#include "api/public_listener.h"
#include "common/metrics.h"

namespace keymgr::api {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// A fixed set of threads taking tasks from one FIFO queue, bounded: try_submit refuses when full.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~WorkerPool() { stop(); }

  bool try_submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || queue_.size() >= max_queue_) return false;
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }
  size_t queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  // Running tasks finish; queued ones are dropped (destroyed unrun). Idempotent.
  void stop() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

httplib::Response error_response(const Status& st) {
  httplib::Response res;
  res.status = http_status(st);
  res.set_content(error_body(st), "application/json");
  return res;
}

// The Request the handlers see, from a parsed message (its body is moved out). kInvalidArgument/
// "bad_request" for a target that is not origin-form or holds a malformed escape or a NUL.
Status to_request(http::request<http::string_body>& msg, httplib::Request& req) {
  req.method = std::string(msg.method_string());
  const std::string_view target(msg.target().data(), msg.target().size());
  req.target = std::string(target);
  req.version = msg.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  for (const auto& f : msg) req.headers.emplace(std::string(f.name_string()), std::string(f.value()));
  req.body = std::move(msg.body());
  auto path = decode_target_path(target);
  if (!path) return InvalidArgument("malformed request target", "bad_request");
  req.path = std::move(*path);
  if (const size_t q = target.find('?'); q != std::string_view::npos) {
    std::string query(target.substr(q + 1));
    if (const size_t h = query.find('#'); h != std::string::npos) query.resize(h);
    httplib::detail::parse_query_text(query, req.params);
  }
  return Status::Ok();
}

Status header_too_large(size_t max_head) {
  return ResourceExhausted("request head larger than " + std::to_string(max_head / 1024) + " KiB", "header_too_large");
}
Status payload_too_large() { return ResourceExhausted("request body too large", "payload_too_large"); }
Status malformed() { return InvalidArgument("malformed request", "bad_request"); }

}  // namespace

Status parse_http_request(std::string_view bytes, size_t max_head, size_t max_body, httplib::Request& out,
                          size_t& consumed) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(std::min<size_t>(max_head, UINT32_MAX)));
  parser.body_limit(max_body);
  parser.eager(true);
  consumed = 0;
  while (!parser.is_done()) {
    beast::error_code ec;
    const size_t n = parser.put(net::buffer(bytes.data() + consumed, bytes.size() - consumed), ec);
    consumed += n;
    if (ec == http::error::need_more) {
      if (consumed >= bytes.size() || n == 0) return Unavailable("incomplete request", "incomplete");
      continue;
    }
    if (ec == http::error::header_limit) return header_too_large(max_head);
    if (ec == http::error::body_limit) return payload_too_large();
    if (ec) return malformed();
    if (parser.is_header_done()) {
      if (const auto len = parser.content_length(); len && *len > max_body) return payload_too_large();
    }
    if (n == 0 && !parser.is_done()) return Unavailable("incomplete request", "incomplete");
  }
  auto msg = parser.release();
  return to_request(msg, out);
}

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions opts, Handler handler, InlinePredicate is_inline, Metrics* metrics)
      : opts_(std::move(opts)),
        handler_(std::move(handler)),
        is_inline_(std::move(is_inline)),
        metrics_(metrics),
        loops_(make_loops(opts_.io_threads)),
        acceptor_(loops_.front()->ioc),
        pool_(std::max(1, opts_.workers), static_cast<size_t>(std::max(1, opts_.queue_max))) {}

  ~Impl() { stop(); }

  Status bind();
  void serve();
  void stop();
  HttpServerStats stats() const {
    HttpServerStats s;
    s.connections = connections_.load();
    s.requests = requests_.load();
    s.overloaded = overloaded_.load();
    s.expired = expired_.load();
    s.refused = refused_.load();
    s.open_connections = open_.load();
    s.queued = static_cast<int64_t>(pool_.queued());
    return s;
  }
  int port() const { return port_; }

  template <class Stream>
  class Session;

 private:
  void do_accept();

  // Declaration order matters for destruction: the pool (already stopped) and the acceptor go
  // first, then the io_contexts, whose pending handlers own the sessions, which use what is above.
  const HttpServerOptions opts_;
  const Handler handler_;
  const InlinePredicate is_inline_;
  Metrics* const metrics_;
  std::optional<ssl::context> tls_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
  std::atomic<uint64_t> connections_{0}, requests_{0}, overloaded_{0}, expired_{0}, refused_{0};
  std::atomic<int64_t> open_{0};
  std::atomic<int64_t> in_flight_{0};  // requests handed to a worker whose answer is not yet written
  // One io_context per event-loop thread (like the public listener's epoll per thread): a
  // connection lives on one loop, so its handlers need no strand and no loop wakes another.
  struct Loop {
    net::io_context ioc{1};
    // Keeps run() going while no operation is pending (a worker may still post an answer).
    net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  };
  static std::vector<std::unique_ptr<Loop>> make_loops(int n) {
    std::vector<std::unique_ptr<Loop>> v;
    for (int i = 0; i < std::max(1, n); ++i) v.push_back(std::make_unique<Loop>());
    return v;
  }
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<size_t> next_loop_{0};
  tcp::acceptor acceptor_;  // on loops_[0]
  WorkerPool pool_;

  template <class Stream>
  friend class Session;
};

// One connection: read a request, answer it (inline or through the pool), write, repeat while
// keep-alive. Every socket operation runs on the connection's loop (one thread); a worker hands its
// answer back with a post to that loop.
template <class Stream>
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Impl& server, Stream stream, std::string remote_addr, int remote_port)
      : server_(server), stream_(std::move(stream)), remote_addr_(std::move(remote_addr)), remote_port_(remote_port) {
    ++server_.open_;
  }
  ~Session() { --server_.open_; }

  void start() {
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(server_.opts_.io_timeout_s));
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->close();
                                self->read_head();
                              });
    } else {
      read_head();
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using Parser = http::request_parser<http::string_body>;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void read_head() {
    if (server_.stopping_) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.opts_.max_head_bytes));
    parser_->body_limit(server_.opts_.max_body_bytes);
    lowest().expires_after(std::chrono::seconds(server_.opts_.idle_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_head(ec); });
  }

  void on_head(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    auto& msg = parser_->get();
    if (const auto len = parser_->content_length(); len && *len > server_.opts_.max_body_bytes) {
      return fail(payload_too_large());
    }
    if (parser_->is_done()) return on_request();
    lowest().expires_after(std::chrono::seconds(server_.opts_.io_timeout_s));
    if (beast::iequals(msg[http::field::expect], "100-continue")) {
      // The client waits for this before it sends the body (curl does so for bodies > 1 KiB).
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(stream_, net::buffer(kContinue),
                              [self = this->shared_from_this()](beast::error_code e, size_t) {
                                if (e) return self->close();
                                self->read_body();
                              });
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->on_read_error(ec);
                       self->on_request();
                     });
  }

  void on_read_error(beast::error_code ec) {
    // The peer went away or idled out, or we are stopping: nothing to answer.
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset || ec == ssl::error::stream_truncated ||
        ec == http::error::partial_message) {
      return close();
    }
    if (ec == http::error::header_limit) return fail(header_too_large(server_.opts_.max_head_bytes));
    if (ec == http::error::body_limit) return fail(payload_too_large());
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) return fail(malformed());
    close();
  }

  // Answers a transport-level error and closes the connection.
  void fail(const Status& st) {
    keep_alive_ = false;
    head_only_ = false;
    httplib::Response res = error_response(st);
    write(std::move(res));
  }

  void on_request() {
    ++server_.requests_;
    http::request<http::string_body> msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    http10_ = msg.version() == 10;
    head_only_ = msg.method() == http::verb::head;
    auto req = std::make_shared<httplib::Request>();
    req->remote_addr = remote_addr_;
    req->remote_port = remote_port_;
    if (Status st = to_request(msg, *req); !st.ok()) return fail(st);
    if (server_.is_inline_ && server_.is_inline_(*req)) {
      httplib::Response res;
      server_.handler_(*req, res);
      return respond(std::move(res));
    }
    const auto queued_at = SteadyClock::now();
    ++server_.in_flight_;
    const bool accepted = server_.pool_.try_submit([self = this->shared_from_this(), req, queued_at] {
      auto res = std::make_shared<httplib::Response>();
      const auto waited = SteadyClock::now() - queued_at;
      if (waited > std::chrono::milliseconds(self->server_.opts_.queue_timeout_ms)) {
        ++self->server_.expired_;
        if (self->server_.metrics_) self->server_.metrics_->inc("keymgr_http_overload_total", "reason=\"queue_timeout\"");
        *res = self->overloaded("the request waited too long for a worker");
      } else {
        self->server_.handler_(*req, *res);
      }
      if (res->content_provider_ && res->is_chunked_content_provider_) {
        self->stream_from_worker(*res);
        --self->server_.in_flight_;
        return;
      }
      net::post(self->stream_.get_executor(), [self, res] {
        self->answer_in_flight_ = true;  // counted until written, so stop() lets it out
        self->respond(std::move(*res));
      });
    });
    if (!accepted) {
      --server_.in_flight_;
      ++server_.overloaded_;
      if (server_.metrics_) server_.metrics_->inc("keymgr_http_overload_total", "reason=\"queue_full\"");
      respond(overloaded("too many requests are waiting for a worker"));
    }
  }

  httplib::Response overloaded(const std::string& why) {
    httplib::Response res = error_response(Unavailable("server overloaded: " + why + "; retry shortly", "overloaded"));
    res.set_header("Retry-After", "1");
    return res;
  }

  void respond(httplib::Response res) { write(std::move(res)); }

  void write(httplib::Response res) {
    auto out = std::make_shared<http::response<http::string_body>>();
    out->version(11);
    out->result(static_cast<unsigned>(res.status > 0 ? res.status : 500));
    for (const auto& [k, v] : res.headers) out->insert(k, v);
    const size_t body_size = res.body.size();
    if (head_only_) {
      if (res.status != 304 && res.status != 204) out->set(http::field::content_length, std::to_string(body_size));
    } else {
      out->body() = std::move(res.body);
      out->prepare_payload();
    }
    out->keep_alive(keep_alive_);
    if (keep_alive_ && http10_) out->set(http::field::connection, "keep-alive");
    lowest().expires_after(std::chrono::seconds(server_.opts_.io_timeout_s));
    http::async_write(stream_, *out, [self = this->shared_from_this(), out](beast::error_code ec, size_t) {
      if (self->answer_in_flight_) {
        self->answer_in_flight_ = false;
        --self->server_.in_flight_;
      }
      if (ec) return self->close();
      self->after_write();
    });
  }

  void after_write() {
    if (!keep_alive_ || server_.stopping_) return shutdown();
    read_head();
  }

  // A streamed answer (chunked transfer coding), produced by the content provider on this worker
  // thread; each piece is written by the connection's loop while the worker waits for it.
  void stream_from_worker(httplib::Response& res) {
    // HTTP/1.0 has no chunked coding: the body ends when the connection closes.
    const bool chunked = !http10_;
    if (!chunked) keep_alive_ = false;
    std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " +
                       std::string(http::obsolete_reason(static_cast<http::status>(res.status))) + "\r\n";
    for (const auto& [k, v] : res.headers) head += k + ": " + v + "\r\n";
    if (chunked) head += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive_) head += "Connection: close\r\n";
    head += "\r\n";
    bool ok = write_from_worker(std::move(head));
    if (ok && !head_only_) {
      httplib::DataSink sink;
      sink.write = [&](const char* d, size_t n) {
        if (!ok) return false;
        if (n == 0) return true;
        std::string chunk;
        if (chunked) {
          char size_line[32];
          const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
          chunk.assign(size_line, static_cast<size_t>(len));
        }
        chunk.append(d, n);
        if (chunked) chunk += "\r\n";
        ok = write_from_worker(std::move(chunk));
        return ok;
      };
      sink.is_writable = [&] { return ok; };
      bool done = false;
      sink.done = [&] { done = true; };
      for (size_t offset = 0; ok && !done;) {
        if (!res.content_provider_(offset, 0, sink)) {
          ok = false;
          break;
        }
      }
      if (ok && chunked) ok = write_from_worker("0\r\n\r\n");
    }
    res.content_provider_success_ = ok;
    net::post(stream_.get_executor(), [self = this->shared_from_this(), ok] {
      if (!ok) return self->close();
      self->after_write();
    });
  }

  bool write_from_worker(std::string data) {
    auto done = std::make_shared<std::promise<bool>>();
    auto fut = done->get_future();
    auto buf = std::make_shared<std::string>(std::move(data));
    net::post(stream_.get_executor(), [self = this->shared_from_this(), buf, done] {
      self->lowest().expires_after(std::chrono::seconds(self->server_.opts_.io_timeout_s));
      net::async_write(self->stream_, net::buffer(*buf),
                       [buf, done](beast::error_code ec, size_t) { done->set_value(!ec); });
    });
    // The write's own timeout fires first; this only guards against a loop that stopped.
    if (fut.wait_for(std::chrono::seconds(server_.opts_.io_timeout_s + 5)) != std::future_status::ready) return false;
    return fut.get();
  }

  void shutdown() {
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      beast::error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      close();
    }
  }

  void close() {
    beast::error_code ec;
    lowest().socket().close(ec);
  }

  Impl& server_;
  Stream stream_;
  std::string remote_addr_;
  int remote_port_;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  bool keep_alive_ = true;
  bool answer_in_flight_ = false;  // a worker's answer being written (counted in server_.in_flight_)
  bool http10_ = false;
  bool head_only_ = false;
};

Status HttpServer::Impl::bind() {
  if (!opts_.tls_cert.empty()) {
    tls_.emplace(ssl::context::tls_server);
    beast::error_code ec;
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                      ec);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    if (!ec) tls_->use_certificate_chain_file(opts_.tls_cert, ec);
    if (!ec) tls_->use_private_key_file(opts_.tls_key, ssl::context::pem, ec);
    if (!ec && !opts_.client_ca.empty()) {
      tls_->load_verify_file(opts_.client_ca, ec);
      if (!ec) tls_->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
    }
    if (ec) {
      tls_.reset();
      return InvalidArgument("TLS certificate, key or client CA could not be loaded: " + ec.message(), "bad_config");
    }
  }
  beast::error_code ec;
  const auto addr = net::ip::make_address(opts_.host, ec);
  if (ec) return InvalidArgument("'" + opts_.host + "' is not an IP address", "bad_config");
  const tcp::endpoint ep(addr, static_cast<unsigned short>(opts_.port));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(4096, ec);
  if (ec) {
    return Unavailable("cannot bind to " + opts_.host + ":" + std::to_string(opts_.port) + ": " + ec.message(),
                       "bind_failed");
  }
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void HttpServer::Impl::do_accept() {
  Loop& loop = *loops_[next_loop_++ % loops_.size()];
  acceptor_.async_accept(loop.ioc.get_executor(), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space || ec == net::error::no_memory) {
        // Out of descriptors: pause instead of spinning on the pending connection.
        auto timer = std::make_shared<net::steady_timer>(acceptor_.get_executor(), std::chrono::milliseconds(10));
        timer->async_wait([this, timer](beast::error_code) { do_accept(); });
        return;
      }
      return do_accept();
    }
    ++connections_;
    if (open_.load() >= opts_.max_connections || stopping_) {
      ++refused_;
      beast::error_code ignored;
      socket.close(ignored);
      return do_accept();
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const auto remote = socket.remote_endpoint(ignored);
    std::string addr = ignored ? std::string() : remote.address().to_string();
    const int port = ignored ? -1 : remote.port();
    // The socket belongs to its loop; the session starts there.
    const auto ex = socket.get_executor();
    if (tls_) {
      auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          *this, beast::ssl_stream<beast::tcp_stream>(std::move(socket), *tls_), std::move(addr), port);
      net::post(ex, [session] { session->start(); });
    } else {
      auto session = std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)),
                                                                  std::move(addr), port);
      net::post(ex, [session] { session->start(); });
    }
    do_accept();
  });
}

void HttpServer::Impl::serve() {
  if (stopping_) return;
  net::post(acceptor_.get_executor(), [this] { do_accept(); });
  std::vector<std::thread> others;
  for (size_t i = 1; i < loops_.size(); ++i) {
    others.emplace_back([this, i] { loops_[i]->ioc.run(); });
  }
  loops_.front()->ioc.run();
  for (auto& t : others) t.join();
}

void HttpServer::Impl::stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  // Running requests finish and their answers are written while the loop still runs.
  pool_.stop();
  for (int i = 0; i < 100 && in_flight_.load() > 0 && !loops_.front()->ioc.stopped(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& l : loops_) {
    l->work.reset();
    l->ioc.stop();
  }
}

HttpServer::HttpServer(HttpServerOptions opts, Handler handler, InlinePredicate is_inline, Metrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(opts), std::move(handler), std::move(is_inline), metrics)) {}
HttpServer::~HttpServer() = default;
Status HttpServer::bind() { return impl_->bind(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::serve() { impl_->serve(); }
void HttpServer::stop() { impl_->stop(); }
HttpServerStats HttpServer::stats() const { return impl_->stats(); }

}  // namespace keymgr::api
