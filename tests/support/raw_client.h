// A raw TCP client for HTTP tests that need byte-level control (pipelining, malformed requests,
// half-sent heads): writes bytes, reads until the server closes, a marker is seen, or a timeout.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace keymgr::testing {

class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  bool connected() const { return connected_; }
  void send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // Reads until EOF (returns true) or until `count` occurrences of `marker`, or the timeout.
  bool read(std::string& out, std::chrono::milliseconds timeout = std::chrono::seconds(5), const std::string& marker = "",
            int count = 0) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    char buf[65536];
    while (std::chrono::steady_clock::now() < end) {
      if (!marker.empty() && occurrences(out, marker) >= count) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) return true;
      out.append(buf, static_cast<size_t>(r));
    }
    return false;
  }
  static int occurrences(const std::string& s, const std::string& m) {
    int n = 0;
    for (size_t p = s.find(m); p != std::string::npos; p = s.find(m, p + 1)) ++n;
    return n;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace keymgr::testing
