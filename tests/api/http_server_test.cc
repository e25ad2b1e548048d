// The main listener's transport (api/http_server.h) on real sockets on 127.0.0.1, with a test
// handler whose requests can be held in the worker pool: idle keep-alive connections hold no
// worker, overload is an immediate 503 with Retry-After (queue full, or waited too long), inline
// requests are answered while every worker is busy, and the protocol edges (pipelining,
// 100-continue, chunked bodies, HEAD, HTTP/1.0, limits, streamed answers, stop with a request
// running) behave. The same server behind the real routes is exercised by every API test.
#include "api/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "tests/support/raw_client.h"

namespace keymgr::testing {
namespace {
using nlohmann::json;
using namespace std::chrono_literals;

// Holds requests to /block until opened; counts how many are held.
class Gate {
 public:
  void enter() {
    std::unique_lock lock(mu_);
    ++held_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --held_;
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_held(int n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return held_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int held_ = 0;
  bool open_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(api::HttpServerOptions o) {
    server_ = std::make_unique<api::HttpServer>(
        o,
        [this](httplib::Request& req, httplib::Response& res) {
          if (req.path == "/block") gate_.enter();
          if (req.path == "/stream") {
            res.status = 200;
            res.set_chunked_content_provider("application/x-ndjson", [](size_t, httplib::DataSink& sink) {
              for (int i = 0; i < 3; ++i) {
                const std::string line = "{\"n\":" + std::to_string(i) + "}\n";
                if (!sink.write(line.data(), line.size())) return false;
              }
              sink.done();
              return true;
            });
            return;
          }
          json params = json::object();
          for (const auto& [k, v] : req.params) params[k] = v;
          res.status = 200;
          res.set_content(json{{"method", req.method},
                               {"path", req.path},
                               {"params", params},
                               {"body", req.body},
                               {"remote", req.remote_addr}}
                              .dump(),
                          "application/json");
        },
        [](const httplib::Request& req) { return req.path == "/healthz"; }, &metrics_);
    ASSERT_TRUE(server_->bind().ok());
    port_ = server_->port();
    thread_ = std::thread([this] { server_->serve(); });
  }
  void TearDown() override {
    gate_.open();
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    return c;
  }

  Gate gate_;
  Metrics metrics_;
  std::unique_ptr<api::HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(HttpServerTest, IdleKeepAliveConnectionsHoldNoWorker) {
  api::HttpServerOptions o;
  o.workers = 2;
  start(o);
  // 200 keep-alive connections, each answered once and left open: 100x the workers.
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(idle.back()->connected());
    idle.back()->send("GET /x?i=" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  for (auto& c : idle) {
    std::string out;
    c->read(out, 5s, "\"remote\"", 1);
    ASSERT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  }
  // A new connection, and a second request on an old one, are still answered.
  auto r = client().Get("/new");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  std::string out;
  idle[7]->send("GET /again HTTP/1.1\r\nHost: t\r\n\r\n");
  idle[7]->read(out, 5s, "\"remote\"", 1);
  EXPECT_NE(out.find("\"path\":\"/again\""), std::string::npos) << out;
  EXPECT_GE(server_->stats().open_connections, 200);
}

TEST_F(HttpServerTest, AFullQueueIsAnImmediate503WithRetryAfterAndInlineRequestsStillAnswer) {
  api::HttpServerOptions o;
  o.workers = 1;
  o.queue_max = 2;
  start(o);
  std::vector<std::thread> held;
  std::vector<int> statuses(3, 0);
  for (int i = 0; i < 3; ++i) {
    held.emplace_back([&, i] {
      auto r = client().Get("/block");
      statuses[static_cast<size_t>(i)] = r ? r->status : -1;
    });
    if (i == 0) {
      ASSERT_TRUE(gate_.wait_held(1));  // the worker is busy
    }
  }
  // Two wait in the queue; the next is refused at once, with a reason and when to come back.
  for (int i = 0; i < 100 && server_->stats().queued < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->stats().queued, 2);
  auto r = client().Get("/more");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(json::parse(r->body)["error"], "overloaded") << r->body;
  EXPECT_EQ(server_->stats().overloaded, 1u);
  EXPECT_NE(metrics_.render().find("keymgr_http_overload_total{reason=\"queue_full\"} 1"), std::string::npos)
      << metrics_.render();
  // Health is answered on the event loop while every worker is busy.
  auto h = client().Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  gate_.open();
  for (auto& t : held) t.join();
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200}));
}

TEST_F(HttpServerTest, ARequestThatWaitedTooLongIsAnswered503WithoutRunning) {
  api::HttpServerOptions o;
  o.workers = 1;
  o.queue_timeout_ms = 100;
  start(o);
  std::thread first([&] { (void)client().Get("/block"); });
  ASSERT_TRUE(gate_.wait_held(1));
  int status = 0;
  std::string retry_after, body;
  std::thread second_thread([&] {
    auto r = client().Post("/late", "{}", "application/json");
    if (!r) return;
    status = r->status;
    retry_after = r->get_header_value("Retry-After");
    body = r->body;
  });
  for (int i = 0; i < 100 && server_->stats().queued < 1; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(200ms);
  gate_.open();
  second_thread.join();
  first.join();
  EXPECT_EQ(status, 503);
  EXPECT_EQ(retry_after, "1");
  EXPECT_EQ(json::parse(body)["error"], "overloaded") << body;
  EXPECT_EQ(server_->stats().expired, 1u);
  EXPECT_NE(metrics_.render().find("keymgr_http_overload_total{reason=\"queue_timeout\"} 1"), std::string::npos)
      << metrics_.render();
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  start({});
  RawClient c(port_);
  c.send("GET /1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /2?a=b%20c&d=e+f HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
         "GET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string out;
  EXPECT_TRUE(c.read(out));  // closed after the third
  ASSERT_EQ(RawClient::occurrences(out, "HTTP/1.1 200"), 3) << out;
  const size_t p1 = out.find("\"path\":\"/1\""), p2 = out.find("\"path\":\"/2\""), p3 = out.find("\"path\":\"/3\"");
  ASSERT_NE(p3, std::string::npos);
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, p3);
  EXPECT_NE(out.find("\"body\":\"hello\""), std::string::npos);
  EXPECT_NE(out.find("\"a\":\"b c\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"d\":\"e f\""), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
}

TEST_F(HttpServerTest, ProtocolEdges) {
  start({});
  {  // 100-continue: the server asks for the body, then answers.
    RawClient c(port_);
    c.send("POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    std::string out;
    c.read(out, 5s, "100 Continue", 1);
    ASSERT_NE(out.find("HTTP/1.1 100 Continue"), std::string::npos) << out;
    c.send("abc");
    c.read(out, 5s, "\"remote\"", 1);
    EXPECT_NE(out.find("\"body\":\"abc\""), std::string::npos) << out;
  }
  {  // a chunked request body
    RawClient c(port_);
    c.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    std::string out;
    c.read(out, 5s, "\"remote\"", 1);
    EXPECT_NE(out.find("\"body\":\"abcde\""), std::string::npos) << out;
  }
  {  // HEAD: the GET answer's length, no body
    RawClient c(port_);
    c.send("HEAD /h HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    std::string out;
    EXPECT_TRUE(c.read(out));
    EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos);
    EXPECT_NE(out.find("Content-Length: "), std::string::npos);
    EXPECT_EQ(out.find("\"path\""), std::string::npos) << out;
  }
  {  // HTTP/1.0: closes unless keep-alive is asked for, and then says so
    RawClient c(port_);
    c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    std::string out;
    c.read(out, 5s, "\"remote\"", 1);
    EXPECT_NE(out.find("Connection: keep-alive"), std::string::npos) << out;
    c.send("GET /b HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(c.read(out));
    EXPECT_NE(out.find("\"path\":\"/b\""), std::string::npos);
  }
  {  // a streamed (chunked) answer, then the connection is reused
    RawClient c(port_);
    c.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string out;
    c.read(out, 5s, "0\r\n\r\n", 1);
    EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos) << out;
    EXPECT_NE(out.find("8\r\n{\"n\":0}\n\r\n8\r\n{\"n\":1}\n\r\n8\r\n{\"n\":2}\n\r\n0\r\n\r\n"), std::string::npos) << out;
    out.clear();
    c.send("GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    c.read(out, 5s, "\"remote\"", 1);
    EXPECT_NE(out.find("\"path\":\"/after\""), std::string::npos) << out;
  }
}

TEST_F(HttpServerTest, RefusalsCarryJsonErrorsAndClose) {
  api::HttpServerOptions o;
  o.max_body_bytes = 1024;
  o.max_head_bytes = 2048;
  start(o);
  auto refused = [&](const std::string& request, const std::string& status, const std::string& code) {
    RawClient c(port_);
    c.send(request);
    std::string out;
    EXPECT_TRUE(c.read(out)) << "connection left open after: " << out;
    EXPECT_EQ(out.rfind("HTTP/1.1 " + status, 0), 0u) << out;
    const size_t body = out.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << out;
    EXPECT_EQ(json::parse(out.substr(body + 4))["error"], code) << out;
  };
  refused("GET /x HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n", "431", "header_too_large");
  refused("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", "413", "payload_too_large");
  refused("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(2048, 'x') + "\r\n0\r\n\r\n",
          "413", "payload_too_large");
  refused("GET /x HTTP/1.1\r\nBad Header\r\n\r\n", "400", "bad_request");
  refused("GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", "400", "bad_request");
  refused("GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n", "400", "bad_request");
  refused("GARBAGE\r\n\r\n", "400", "bad_request");
  // The server is unharmed.
  auto r = client().Get("/ok");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  api::HttpServerOptions o;
  o.max_connections = 3;
  start(o);
  RawClient a(port_), b(port_), c(port_);
  for (RawClient* x : {&a, &b, &c}) {
    x->send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string out;
    x->read(out, 5s, "\"remote\"", 1);
    ASSERT_NE(out.find("200"), std::string::npos);
  }
  RawClient d(port_);
  d.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string out;
  EXPECT_TRUE(d.read(out, 5s));
  EXPECT_EQ(out, "");
  EXPECT_EQ(server_->stats().refused, 1u);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionsAreClosed) {
  api::HttpServerOptions o;
  o.idle_timeout_s = 1;
  start(o);
  RawClient a(port_);
  a.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string out;
  EXPECT_TRUE(a.read(out, 10s));  // answered, then closed by the server after a second of silence
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos);
  for (int i = 0; i < 100 && server_->stats().open_connections > 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server_->stats().open_connections, 0);
}

TEST_F(HttpServerTest, StopWithARequestRunningLetsItFinishAndReturns) {
  start({});
  int status = 0;
  std::thread t([&] {
    auto r = client().Get("/block");
    status = r ? r->status : -1;
  });
  ASSERT_TRUE(gate_.wait_held(1));
  std::thread opener([&] {
    std::this_thread::sleep_for(100ms);
    gate_.open();
  });
  server_->stop();  // waits for the running request, writes its answer, then stops the loop
  thread_.join();
  t.join();
  opener.join();
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace keymgr::testing
