#include "api/public_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <unordered_map>

#include "api/error_mapping.h"
#include "api/public_docs.h"

namespace keymgr::api {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxHead = 8192;
constexpr size_t kReadChunk = 16384;
constexpr size_t kMaxPendingOut = 1 << 20;  // stop answering pipelined requests until flushed
constexpr size_t kMaxPendingIn = 64 * 1024;  // stop reading until the pipeline drains

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return status < 500 ? "Client Error" : "Server Error";
  }
}

struct Answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string etag;
  int64_t max_age = -1;
  bool allow_header = false;
};

Answer error_answer(const Status& st) {
  Answer a;
  a.status = http_status(st);
  a.body = error_body(st);
  return a;
}

// "Date: Wed, 25 Nov 2026 10:30:00 GMT\r\n", formatted once per second per thread (RFC 9110
// §6.6.1: an origin server with a clock sends Date; caches age max-age from it).
const std::string& date_header() {
  thread_local std::time_t last = 0;
  thread_local std::string header;
  const std::time_t now = std::time(nullptr);
  if (now != last) {
    last = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    const size_t n = std::strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    header.assign(buf, n);
  }
  return header;
}

std::string render(const Answer& a, bool head_only, int minor_version, bool keep_alive) {
  std::string out;
  out.reserve(200 + a.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(a.status);
  out += ' ';
  out += reason_phrase(a.status);
  out += "\r\n";
  out += date_header();
  if (a.status != 304) {
    out += "Content-Type: ";
    out += a.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(a.body.size());
    out += "\r\n";
  }
  if (!a.etag.empty()) {
    out += "ETag: ";
    out += a.etag;
    out += "\r\n";
  }
  if (a.max_age >= 0) {
    out += "Cache-Control: public, max-age=";
    out += std::to_string(a.max_age);
    out += "\r\n";
  }
  if (a.allow_header) out += "Allow: GET, HEAD\r\n";
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (minor_version == 0) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (!head_only && a.status != 304) out += a.body;
  return out;
}

}  // namespace

// ---- parser ----

ParseStatus parse_request_head(std::string_view buf, RequestHead& out, size_t max_head) {
  out = RequestHead{};
  size_t start = 0;
  // A server SHOULD ignore at least one empty line before the request line (RFC 9112 §2.2).
  while (start + 1 < buf.size() && buf[start] == '\r' && buf[start + 1] == '\n' && start < 8) start += 2;
  const std::string_view window = buf.substr(0, std::min(buf.size(), max_head));
  const size_t end = window.find("\r\n\r\n", start);
  if (end == std::string_view::npos) {
    return buf.size() >= max_head ? ParseStatus::kTooLarge : ParseStatus::kIncomplete;
  }
  out.length = end + 4;
  std::string_view head = buf.substr(start, end + 2 - start);  // every line ends in CRLF
  // Request line: method SP request-target SP HTTP-version CRLF
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  head.remove_prefix(eol + 2);
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return ParseStatus::kBad;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return ParseStatus::kBad;
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  for (char c : out.method) {
    if (!is_tchar(c)) return ParseStatus::kBad;
  }
  for (char c : out.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return ParseStatus::kBad;
  }
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9') {
    return ParseStatus::kBad;
  }
  out.minor_version = version[7] - '0';
  out.keep_alive = out.minor_version >= 1;
  bool connection_close = false, connection_keep_alive = false;
  // Header fields: name ":" OWS value OWS CRLF; no obs-fold, no bare CR or LF.
  while (!head.empty()) {
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (line.empty()) return ParseStatus::kBad;  // cannot happen before the final CRLFCRLF
    if (line.front() == ' ' || line.front() == '\t') return ParseStatus::kBad;  // obs-fold
    if (line.find('\r') != std::string_view::npos || line.find('\n') != std::string_view::npos) {
      return ParseStatus::kBad;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseStatus::kBad;
    const std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!is_tchar(c)) return ParseStatus::kBad;
    }
    const std::string_view value = trim(line.substr(colon + 1));
    for (char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return ParseStatus::kBad;
    }
    if (iequals(name, "content-length")) {
      if (value != "0") out.has_body = true;
    } else if (iequals(name, "transfer-encoding")) {
      out.has_body = true;
    } else if (iequals(name, "if-none-match")) {
      out.if_none_match = value;
    } else if (iequals(name, "connection")) {
      std::string_view v = value;
      while (!v.empty()) {
        const size_t comma = v.find(',');
        const std::string_view tok = trim(v.substr(0, comma));
        if (iequals(tok, "close")) connection_close = true;
        if (iequals(tok, "keep-alive")) connection_keep_alive = true;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    }
  }
  if (connection_close) out.keep_alive = false;
  if (out.minor_version == 0 && connection_keep_alive && !connection_close) out.keep_alive = true;
  return ParseStatus::kOk;
}

std::optional<std::string> decode_target_path(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  const size_t q = target.find_first_of("?#");
  if (q != std::string_view::npos) target = target.substr(0, q);
  std::string out;
  out.reserve(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] != '%') {
      out += target[i];
      continue;
    }
    if (i + 2 >= target.size()) return std::nullopt;
    const int hi = hexval(target[i + 1]), lo = hexval(target[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string respond(const KeyService& keys, const RequestHead& head, bool& keep_alive, LedgerLog* log) {
  keep_alive = head.keep_alive;
  Answer a;
  const bool head_only = head.method == "HEAD";
  // A body is never read, so after one the connection cannot be reused.
  if (head.has_body) keep_alive = false;
  const auto path = decode_target_path(head.target);
  if (!path) {
    keep_alive = false;
    a = error_answer(InvalidArgument("malformed request target", "bad_request"));
  } else if (head.method != "GET" && !head_only) {
    // A served route with another method is a 405 (with Allow), anything else a 404, as on the
    // main listener.
    if (*path == "/healthz" || is_public_document_path(*path)) {
      a = error_answer(method_not_allowed(head.method, "GET, HEAD"));
      a.allow_header = true;
    } else {
      a = error_answer(NotFound("no such route", "route_not_found"));
    }
  } else if (head.has_body) {
    a = error_answer(InvalidArgument("GET and HEAD take no request body here", "bad_request"));
  } else if (*path == "/healthz") {
    a.body = R"({"status":"ok"})";
  } else {
    auto doc = public_document(keys, *path, head.if_none_match, log);
    if (!doc.ok()) {
      a = error_answer(doc.status());
    } else {
      a.status = doc->status;
      a.body = std::move(doc->body);
      if (!doc->content_type.empty()) a.content_type = std::move(doc->content_type);
      a.etag = std::move(doc->etag);
      a.max_age = doc->max_age;
    }
  }
  return render(a, head_only, head.minor_version, keep_alive);
}

// ---- listener ----

struct PublicListener::Loop {
  int listen_fd = -1;
  int epfd = -1;
  int wake_fd = -1;
  struct Conn {
    std::string in;
    std::string out;
    size_t out_off = 0;
    SteadyClock::time_point last_active;
    SteadyClock::time_point head_started;  // when `in` became non-empty
    bool close_after = false;              // close once `out` is flushed
    bool eof = false;                      // the peer finished sending
    bool want_out = false;                 // registered for EPOLLOUT (not EPOLLIN)
  };
  std::unordered_map<int, Conn> conns;
  ~Loop() {
    for (auto& [fd, c] : conns) ::close(fd);
    for (int fd : {listen_fd, epfd, wake_fd}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

PublicListener::PublicListener(PublicListenerOptions opts, const KeyService& keys, LedgerLog* log)
    : opts_(std::move(opts)), keys_(keys), log_(log) {}

PublicListener::~PublicListener() { stop(); }

Status PublicListener::bind() {
  const int n = std::clamp(opts_.threads, 1, 64);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(opts_.port));
  if (inet_pton(AF_INET, opts_.host.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgument("public listener: '" + opts_.host + "' is not an IPv4 address", "bad_config");
  }
  for (int i = 0; i < n; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    if (loop->listen_fd < 0 || setsockopt(loop->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(loop->listen_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        ::bind(loop->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(loop->listen_fd, 4096) != 0) {
      return Unavailable("public listener: cannot listen on " + opts_.host + ":" + std::to_string(ntohs(addr.sin_port)) +
                             ": " + std::strerror(errno),
                         "bind_failed");
    }
    if (i == 0) {  // the others join the same (maybe ephemeral) port
      socklen_t len = sizeof addr;
      getsockname(loop->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
      port_ = ntohs(addr.sin_port);
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wake_fd < 0) {
      return Unavailable(std::string("public listener: epoll/eventfd: ") + std::strerror(errno), "bind_failed");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = loop->listen_fd;
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->listen_fd, &ev);
    ev.data.fd = loop->wake_fd;
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev);
    loops_.push_back(std::move(loop));
  }
  return Status::Ok();
}

void PublicListener::start() {
  for (auto& l : loops_) {
    Loop* loop = l.get();
    threads_.emplace_back([this, loop] { run(*loop); });
  }
}

void PublicListener::stop() {
  stopping_ = true;
  for (auto& l : loops_) {
    const uint64_t one = 1;
    if (l->wake_fd >= 0) (void)!::write(l->wake_fd, &one, sizeof one);
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

PublicListenerStats PublicListener::stats() const {
  return {connections_.load(), requests_.load(), errors_.load(), refused_.load()};
}

void PublicListener::run(Loop& loop) {
  std::vector<epoll_event> events(256);
  auto last_sweep = SteadyClock::now();
  auto close_conn = [&](int fd) {
    epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    loop.conns.erase(fd);
    --open_connections_;
  };
  auto set_interest = [&](int fd, Loop::Conn& c, bool want_out) {
    if (c.want_out == want_out) return;
    c.want_out = want_out;
    epoll_event ev{};
    ev.events = want_out ? EPOLLOUT : (EPOLLIN | EPOLLRDHUP);  // no RDHUP while waiting to write: it would spin
    ev.data.fd = fd;
    epoll_ctl(loop.epfd, EPOLL_CTL_MOD, fd, &ev);
  };
  // Answers the complete requests in c.in, up to the output cap. Returns true when it consumed
  // anything (then more may be answerable once the output drains).
  auto process = [&](Loop::Conn& c) -> bool {
    size_t pos = 0;
    while (!c.close_after && c.out.size() - c.out_off < kMaxPendingOut) {
      RequestHead head;
      const ParseStatus st = parse_request_head(std::string_view(c.in).substr(pos), head, kMaxHead);
      if (st == ParseStatus::kIncomplete) break;
      ++requests_;
      if (st != ParseStatus::kOk) {
        const Status err = st == ParseStatus::kTooLarge
                               ? ResourceExhausted("request head larger than 8 KiB", "header_too_large")
                               : InvalidArgument("malformed request", "bad_request");
        Answer a = error_answer(err);
        c.out += render(a, false, 1, false);
        ++errors_;
        c.close_after = true;
        pos = c.in.size();
        break;
      }
      bool keep = true;
      std::string resp = respond(keys_, head, keep, log_);
      if (resp.size() > 9 && resp[9] != '2' && resp[9] != '3') ++errors_;
      c.out += resp;
      pos += head.length;
      if (!keep) c.close_after = true;
    }
    c.in.erase(0, pos);
    if (!c.in.empty() && pos > 0) c.head_started = SteadyClock::now();
    return pos > 0;
  };
  // Writes what it can. Returns false when the connection is done (closed or must close).
  auto flush = [&](int fd, Loop::Conn& c) -> bool {
    while (c.out_off < c.out.size()) {
      const ssize_t w = ::send(fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (w > 0) {
        c.out_off += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_interest(fd, c, true);
        return true;
      }
      if (w < 0 && errno == EINTR) continue;
      return false;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.close_after || (c.eof && c.in.empty())) return false;
    set_interest(fd, c, false);
    return true;
  };

  while (!stopping_) {
    const int n = epoll_wait(loop.epfd, events.data(), static_cast<int>(events.size()), 1000);
    const auto now = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      const uint32_t ev = events[i].events;
      if (fd == loop.wake_fd) continue;
      if (fd == loop.listen_fd) {
        for (;;) {
          const int cfd = ::accept4(loop.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
              // Out of descriptors: the pending connection stays queued and the (level-triggered)
              // event fires again at once; pause briefly instead of spinning.
              std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            break;
          }
          ++connections_;
          if (open_connections_.load() >= opts_.max_connections) {
            ++refused_;
            ::close(cfd);
            continue;
          }
          ++open_connections_;
          const int one = 1;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          Loop::Conn& c = loop.conns[cfd];
          c.last_active = now;
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = cfd;
          epoll_ctl(loop.epfd, EPOLL_CTL_ADD, cfd, &cev);
        }
        continue;
      }
      auto it = loop.conns.find(fd);
      if (it == loop.conns.end()) continue;
      Loop::Conn& c = it->second;
      c.last_active = now;
      if (ev & EPOLLERR) {
        close_conn(fd);
        continue;
      }
      bool alive = true;
      if (!c.want_out && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
        char buf[kReadChunk];
        while (c.in.size() < kMaxPendingIn) {
          const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
          if (r > 0) {
            if (c.in.empty()) c.head_started = now;
            c.in.append(buf, static_cast<size_t>(r));
            continue;
          }
          if (r == 0) c.eof = true;
          else if (errno == EINTR) continue;
          else if (errno != EAGAIN && errno != EWOULDBLOCK) alive = false;
          break;
        }
      }
      if (!alive) {
        close_conn(fd);
        continue;
      }
      // Answer, write, and while the output drains at once keep answering what is pipelined.
      for (int round = 0; round < 64; ++round) {
        const bool progressed = process(c);
        if (!flush(fd, c)) {
          alive = false;
          break;
        }
        if (!progressed || c.want_out || c.in.empty() || c.close_after) break;
      }
      // After EOF nothing more arrives: an unfinished head can never complete.
      if (!alive || (c.eof && c.out.empty())) close_conn(fd);
    }
    if (now - last_sweep >= std::chrono::seconds(1)) {
      last_sweep = now;
      std::vector<int> expired;
      for (const auto& [fd, c] : loop.conns) {
        const bool head_late = !c.in.empty() && now - c.head_started > std::chrono::seconds(opts_.head_timeout_s);
        const bool idle = now - c.last_active > std::chrono::seconds(opts_.idle_timeout_s);
        if (head_late || idle) expired.push_back(fd);
      }
      for (int fd : expired) close_conn(fd);
    }
  }
}

}  // namespace keymgr::api
