#include "cli/unreachable.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keymgr::cli {
namespace {

struct HostPort {
  std::string host, port;
};

// "http://h:1/x" -> {h, 1}; "https://[::1]" -> {::1, 443}. Empty host when it cannot be parsed.
HostPort parse_url(const std::string& url) {
  std::string rest = url;
  std::string port = "80";
  if (const size_t p = rest.find("://"); p != std::string::npos) {
    if (rest.compare(0, p, "https") == 0) port = "443";
    rest = rest.substr(p + 3);
  }
  rest = rest.substr(0, rest.find_first_of("/?#"));
  std::string host = rest;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) return {};
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  return {host, port};
}

std::string lower_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

// Connects once (2 s per address) and says why it failed: "connection refused", "no route to
// host", "cannot resolve host 'x': ...". "" if it connected after all.
std::string connect_failure(const HostPort& hp) {
  if (hp.host.empty()) return "the URL has no host";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = ::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &res); rc != 0) {
    return "cannot resolve host '" + hp.host + "': " + lower_first(::gai_strerror(rc));
  }
  std::string cause = "connection failed";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, 2000) == 1) {
          socklen_t len = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = ETIMEDOUT;
        }
      }
    }
    ::close(fd);
    if (err == 0) {
      cause = "";
      break;
    }
    cause = lower_first(std::strerror(err));
  }
  ::freeaddrinfo(res);
  return cause;
}

}  // namespace

std::string unreachable_message(const std::string& url, httplib::Error err) {
  const std::string where = "cannot reach " + url + ": ";
  const std::string what_to_do =
      " — is keymgr running there? Start it with `keymgr serve` (or scripts/run.sh), or point --url or "
      "$KEYMGR_URL at it";
  switch (err) {
    case httplib::Error::Connection: {
      const std::string cause = connect_failure(parse_url(url));
      if (cause.empty()) return where + "the connection failed, but a second attempt connected: try again";
      if (cause.rfind("cannot resolve", 0) == 0) return where + cause + " — check the host in --url or $KEYMGR_URL";
      return where + cause + what_to_do;
    }
    case httplib::Error::ConnectionTimeout:
      return where + "no answer to the connection within 5 s — is the host up, and does a firewall drop the port? "
                     "(check --url or $KEYMGR_URL)";
    case httplib::Error::Read:
      return "no answer from " + url + ": the server closed the connection or did not answer within 60 s — check "
             "its log; an http:// URL for a TLS server (or https:// for a plain one) also looks like this";
    case httplib::Error::Write:
      return "cannot send the request to " + url + ": the connection was closed — check the server's log";
    case httplib::Error::SSLConnection:
      return where + "the TLS handshake failed — does the server use TLS (https://) or plain http://?";
    case httplib::Error::SSLServerVerification:
      return where + "the server's TLS certificate could not be verified";
    case httplib::Error::SSLLoadingCerts:
      return where + "the system's CA certificates could not be loaded";
    default:
      return where + httplib::to_string(err);
  }
}

}  // namespace keymgr::cli
