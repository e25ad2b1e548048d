// The public listener (api/public_listener.h): the request-head parser table-driven, then the
// real listener inside a real keymgr (SoftHSM2 token, SQLite file) over raw sockets on 127.0.0.1:
// same bytes and ETag as the main listener, 304s, HEAD, pipelining, keep-alive and close rules,
// and every refusal (404, 405, 400 with a body, 431, a head that never completes).
#include "api/public_listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/api/app_env.h"
#include "tests/support/raw_client.h"

namespace keymgr::testing {
namespace {
using api::ParseStatus;
using api::RequestHead;
using nlohmann::json;
using namespace std::chrono_literals;

// ---- parser ----

TEST(RequestHeadParser, AcceptsWhatClientsSend) {
  RequestHead h;
  const std::string get = "GET /a/.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nIf-None-Match:  \"abc\" \r\n\r\n";
  ASSERT_EQ(api::parse_request_head(get, h), ParseStatus::kOk);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a/.well-known/jwks.json");
  EXPECT_EQ(h.if_none_match, "\"abc\"");
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.has_body);
  EXPECT_EQ(h.length, get.size());

  // Pipelined: only the first head is consumed.
  ASSERT_EQ(api::parse_request_head(get + "GET / HTTP/1.1\r\n\r\n", h), ParseStatus::kOk);
  EXPECT_EQ(h.length, get.size());
  // Empty lines before the request line are ignored (RFC 9112 §2.2).
  ASSERT_EQ(api::parse_request_head("\r\nHEAD /healthz HTTP/1.1\r\n\r\n", h), ParseStatus::kOk);
  EXPECT_EQ(h.method, "HEAD");

  struct Case {
    std::string text;
    bool keep_alive;
  };
  for (const Case& c : std::vector<Case>{
           {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
           {"GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n", false},
           {"GET / HTTP/1.0\r\n\r\n", false},
           {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
           {"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true},
       }) {
    ASSERT_EQ(api::parse_request_head(c.text, h), ParseStatus::kOk) << c.text;
    EXPECT_EQ(h.keep_alive, c.keep_alive) << c.text;
    EXPECT_FALSE(h.has_body) << c.text;
  }
  for (std::string_view with_body : {"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                                       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                                       "GET / HTTP/1.1\r\ncontent-length: 00\r\n\r\n"}) {
    ASSERT_EQ(api::parse_request_head(with_body, h), ParseStatus::kOk) << with_body;
    EXPECT_TRUE(h.has_body) << with_body;
  }
}

TEST(RequestHeadParser, RefusesWhatIsMalformedOrTooLarge) {
  RequestHead h;
  EXPECT_EQ(api::parse_request_head("", h), ParseStatus::kIncomplete);
  EXPECT_EQ(api::parse_request_head("GET / HTTP/1.1\r\nHost: x\r\n", h), ParseStatus::kIncomplete);
  for (std::string_view bad : {
           "GET /\r\n\r\n",                                   // no version
           "GET  / HTTP/1.1\r\n\r\n",                         // empty target
           " GET / HTTP/1.1\r\n\r\n",                         // leading space
           "GET / HTTP/2.0\r\n\r\n",                          // not HTTP/1.x
           "GET / HTTP/1.1x\r\n\r\n",
           "G(T / HTTP/1.1\r\n\r\n",                          // not a token
           "GET /a\x01 HTTP/1.1\r\n\r\n",                     // control character in the target
           "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",   // obs-fold
           "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
           "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",               // bare CR
           "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n",               // bare LF
           "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",
       }) {
    EXPECT_EQ(api::parse_request_head(bad, h), ParseStatus::kBad) << bad;
  }
  const std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n";
  EXPECT_EQ(api::parse_request_head(huge, h, 8192), ParseStatus::kTooLarge);
  EXPECT_EQ(api::parse_request_head(std::string(8192, 'a'), h, 8192), ParseStatus::kTooLarge);
}

TEST(RequestHeadParser, DecodesTargetPaths) {
  EXPECT_EQ(api::decode_target_path("/a/.well-known/jwks.json?x=1#f"), "/a/.well-known/jwks.json");
  EXPECT_EQ(api::decode_target_path("/t%2Fa/%2E"), "/t/a/.");
  EXPECT_EQ(api::decode_target_path("/%41%62"), "/Ab");
  for (const char* bad : {"", "a/b", "http://h/a", "*", "/%", "/%4", "/%zz", "/%00", "/a%0"}) {
    EXPECT_FALSE(api::decode_target_path(bad).has_value()) << bad;
  }
}

// ---- the listener in a real keymgr ----

class PublicListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(token_.ok()) << token_.error();
    dir_ = make_temp_dir("km-public");
    cli::Config cfg = test_config(dir_);
    cfg.server.public_port = 0;
    ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg, app_));
    ASSERT_GT(app_->public_port(), 0);
    base_ = "http://127.0.0.1:" + std::to_string(app_->port());
    pub_ = "http://127.0.0.1:" + std::to_string(app_->public_port());
    ops_ = api_token(*app_, "ops", api::Role::kOps);
    httplib::Client c(base_);
    auto r = c.Post("/v1/keysets", {{"Authorization", "Bearer " + ops_}},
                    json{{"name", "web"}, {"issuer", "https://login.example/tenants/web"}, {"alg", "ES256"}}.dump(),
                    "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
  }
  void TearDown() override {
    app_.reset();
    remove_tree(dir_);
  }

  SoftHsmToken token_;
  std::string dir_;
  std::unique_ptr<cli::App> app_;
  std::string base_, pub_, ops_;
};

TEST_F(PublicListenerTest, ServesTheSameDocumentsAsTheMainListener) {
  httplib::Client main(base_), pub(pub_);
  for (const char* path : {"/tenants/web/.well-known/jwks.json", "/tenants/web/.well-known/openid-configuration",
                           "/v1/keysets/web/jwks.json", "/v1/keysets/web/openid-configuration"}) {
    auto a = main.Get(path);
    auto b = pub.Get(path);
    ASSERT_TRUE(a && b) << path;
    EXPECT_EQ(b->status, 200) << path;
    EXPECT_EQ(a->body, b->body) << path;
    EXPECT_EQ(a->get_header_value("ETag"), b->get_header_value("ETag")) << path;
    EXPECT_EQ(a->get_header_value("Cache-Control"), b->get_header_value("Cache-Control")) << path;
    EXPECT_EQ(a->get_header_value("Content-Type"), b->get_header_value("Content-Type")) << path;
    EXPECT_NE(b->get_header_value("Date").find(" GMT"), std::string::npos) << path;  // RFC 9110 §6.6.1
  }
  auto jwks = json::parse(pub.Get("/tenants/web/.well-known/jwks.json")->body);
  EXPECT_GE(jwks["keys"].size(), 1u);
  // A rotation shows at once, with a new ETag.
  const std::string etag = pub.Get("/v1/keysets/web/jwks.json")->get_header_value("ETag");
  auto rot = main.Post("/v1/keysets/web/rotate", {{"Authorization", "Bearer " + ops_}}, "{}", "application/json");
  ASSERT_TRUE(rot);
  ASSERT_EQ(rot->status, 200) << rot->body;
  auto after = pub.Get("/v1/keysets/web/jwks.json");
  EXPECT_NE(after->get_header_value("ETag"), etag);
  EXPECT_EQ(after->body, main.Get("/v1/keysets/web/jwks.json")->body);
  EXPECT_EQ(json::parse(after->body)["keys"].size(), jwks["keys"].size() + 1);
  auto health = pub.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(PublicListenerTest, ServesTheLedgersSignedCheckpointLikeTheMainListener) {
  httplib::Client main(base_), pub(pub_);
  auto none = pub.Get("/v1/audit/checkpoint");
  ASSERT_TRUE(none);
  // Before the first checkpoint: a clear 404, the same on both listeners.
  EXPECT_EQ(none->status, 404) << none->body;
  EXPECT_EQ(json::parse(none->body, nullptr, false).value("error", ""), "no_checkpoint") << none->body;
  ASSERT_TRUE(app_->log().integrate().ok());
  auto cp = app_->log().checkpoint();
  ASSERT_TRUE(cp.ok()) << cp.status().to_string();
  auto a = main.Get("/v1/audit/checkpoint");
  auto b = pub.Get("/v1/audit/checkpoint");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(a->body, b->body);
  EXPECT_EQ(b->body.rfind(app_->log().options().origin + "\n", 0), 0u) << b->body;
  EXPECT_EQ(b->get_header_value("Cache-Control"), "public, max-age=5");
  EXPECT_EQ(a->get_header_value("ETag"), b->get_header_value("ETag"));
  EXPECT_EQ(b->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  auto again = pub.Get("/v1/audit/checkpoint", {{"If-None-Match", b->get_header_value("ETag")}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  auto post = pub.Post("/v1/audit/checkpoint", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(PublicListenerTest, ConditionalHeadPipelinedAndClose) {
  httplib::Client pub(pub_);
  const std::string etag = pub.Get("/v1/keysets/web/jwks.json")->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  for (const std::string& inm : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
    auto r = pub.Get("/v1/keysets/web/jwks.json", {{"If-None-Match", inm}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304) << inm;
    EXPECT_TRUE(r->body.empty());
    EXPECT_EQ(r->get_header_value("ETag"), etag);
  }
  EXPECT_EQ(pub.Get("/v1/keysets/web/jwks.json", {{"If-None-Match", "\"stale\""}})->status, 200);

  RawClient c(app_->public_port());
  ASSERT_TRUE(c.connected());
  // Three requests in one write (the last a HEAD), answered in order on the same connection.
  c.send("GET /v1/keysets/web/jwks.json HTTP/1.1\r\nHost: a\r\n\r\n"
         "GET /nope/.well-known/jwks.json HTTP/1.1\r\nHost: a\r\n\r\n"
         "HEAD /v1/keysets/web/jwks.json HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string out;
  EXPECT_FALSE(c.read(out, 5s, "HTTP/1.1 ", 3));  // not closed: keep-alive
  const size_t first = out.find("HTTP/1.1 200"), second = out.find("HTTP/1.1 404"), third = out.rfind("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_NE(out.find("\"error\":\"issuer_not_found\""), std::string::npos) << out;
  // HEAD: the headers of the GET, no body after them.
  EXPECT_EQ(out.substr(out.find("\r\n\r\n", third) + 4), "") << out;
  // Connection: close is honoured after the answer.
  c.send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  std::string tail;
  EXPECT_TRUE(c.read(tail));
  EXPECT_NE(tail.find("Connection: close"), std::string::npos) << tail;
  EXPECT_NE(tail.find("{\"status\":\"ok\"}"), std::string::npos) << tail;
}

TEST_F(PublicListenerTest, RefusalsAreClearAndNothingElseIsServed) {
  httplib::Client pub(pub_);
  // Only the public documents: the authenticated API is not reachable here, with or without a token.
  for (const char* path : {"/v1/keysets", "/v1/keysets/web", "/metrics", "/readyz", "/v1/audit/ledger"}) {
    auto r = pub.Get(path, {{"Authorization", "Bearer " + ops_}});
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(json::parse(r->body)["error"], "route_not_found") << path;
  }
  EXPECT_EQ(json::parse(pub.Get("/v1/keysets/nope/jwks.json")->body)["error"], "keyset_not_found");
  // Another method: 405 with Allow on a path served here (also when the request has a body, which
  // is never read, so the connection closes), 404 on any other path, as on the main listener.
  for (const char* path : {"/v1/keysets/web/jwks.json", "/web/.well-known/openid-configuration", "/healthz"}) {
    auto post = pub.Post(path, {{"Authorization", "Bearer " + ops_}}, "{}", "application/json");
    ASSERT_TRUE(post) << path;
    EXPECT_EQ(post->status, 405) << path;
    EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD") << path;
    EXPECT_EQ(json::parse(post->body)["error"], "method_not_allowed") << path;
  }
  auto post = pub.Post("/v1/keysets/web/sign", {{"Authorization", "Bearer " + ops_}}, "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);  // not served here
  EXPECT_EQ(json::parse(post->body)["error"], "route_not_found");
  {
    RawClient c(app_->public_port());
    c.send("GET /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    std::string out;
    EXPECT_TRUE(c.read(out));  // answered, then closed: the body is never read
    EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  }

  {
    RawClient c(app_->public_port());
    c.send("DELETE /v1/keysets/web/jwks.json HTTP/1.1\r\n\r\nDELETE /nothing HTTP/1.1\r\n\r\n");
    std::string out;
    c.read(out, 5s, "}", 2);
    EXPECT_NE(out.find("HTTP/1.1 405"), std::string::npos) << out;
    EXPECT_NE(out.find("Allow: GET, HEAD"), std::string::npos) << out;
    EXPECT_NE(out.find("HTTP/1.1 404"), std::string::npos) << out;  // an unknown path stays 404
  }
  {
    RawClient c(app_->public_port());
    c.send("GET / HTTP/1.1\r\nX: " + std::string(10000, 'a') + "\r\n\r\n");
    std::string out;
    EXPECT_TRUE(c.read(out));  // answered, then closed
    EXPECT_NE(out.find("HTTP/1.1 431"), std::string::npos) << out.substr(0, 200);
  }
  {
    RawClient c(app_->public_port());
    c.send("GET / HTTP/1.1\r\nHost: a\n\r\n\r\n");  // a bare LF inside a header line
    std::string out;
    EXPECT_TRUE(c.read(out));
    EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  }
  {
    RawClient c(app_->public_port());
    c.send("GET /v1/keysets/web/jwks.json HTTP/1.1\r\nHost: a\r\n");  // then the client stops sending
    c.shutdown_write();
    std::string out;
    EXPECT_TRUE(c.read(out));  // closed without an answer: the head can never complete
    EXPECT_EQ(out, "");
  }
}

// A head that never completes (slowloris) is dropped after head_timeout_s; an idle keep-alive
// connection after idle_timeout_s. Run on a listener of its own with short timeouts.
TEST_F(PublicListenerTest, SlowAndIdleConnectionsAreDropped) {
  api::PublicListenerOptions o;
  o.head_timeout_s = 1;
  o.idle_timeout_s = 2;
  o.threads = 1;
  o.max_connections = 3;
  api::PublicListener l(o, app_->keys());
  ASSERT_TRUE(l.bind().ok());
  l.start();
  RawClient slow(l.port());
  slow.send("GET /healthz HTTP/1.1\r\nHost:");
  RawClient idle(l.port());
  idle.send("GET /healthz HTTP/1.1\r\n\r\n");
  std::string out;
  EXPECT_FALSE(idle.read(out, 5s, "{\"status\":\"ok\"}", 1));
  RawClient third(l.port());
  ASSERT_TRUE(third.connected());
  RawClient over(l.port());  // the fourth: over max_connections, closed at once
  std::string none;
  EXPECT_TRUE(over.read(none, 5s));
  EXPECT_EQ(none, "");
  std::string s;
  EXPECT_TRUE(slow.read(s, 6s));  // dropped after ~1 s
  EXPECT_EQ(s, "");
  std::string rest;
  EXPECT_TRUE(idle.read(rest, 8s));  // dropped after ~2 s idle
  EXPECT_GE(l.stats().refused, 1u);
  l.stop();
}

}  // namespace
}  // namespace keymgr::testing
