// End to end over real HTTP: an in-process keymgr (real SoftHSM2 token, real SQLite file, the
// cpp-httplib server on 127.0.0.1) and real clients: httplib, PyJWT and the npm jose package.
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "api/auth.h"
#include "cli/app.h"
#include "common/crypto.h"
#include "hsm/pkcs11_hsm.h"
#include "tests/support/sanitizers.h"
#include "tests/api/app_env.h"
#include "tests/support/softhsm_token.h"

namespace keymgr::testing {
namespace {
using nlohmann::json;

std::string source_dir() {
  const char* s = std::getenv("KEYMGR_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

// Sends `request` as written (no client adding or fixing headers) on a fresh connection to
// 127.0.0.1:port and returns everything the server sends until it closes (or 10 s pass). The
// connection is not half-closed, so a server waiting for a body it was not promised would time out.
std::string raw_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string out;
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    if (fd >= 0) ::close(fd);
    return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(token_.ok()) << token_.error();
    dir_ = make_temp_dir("km-api");
    cli::Config cfg = test_config(dir_);
    cfg.server.threads = 8;
    cfg.server.max_body_bytes = 16 * 1024;
    ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg, app_));
    base_ = "http://127.0.0.1:" + std::to_string(app_->port());
    admin_ = make_token("admin", api::Role::kAdmin, {});
    ops_ = make_token("ops", api::Role::kOps, {});
    auditor_ = make_token("auditor", api::Role::kAuditor, {});
  }
  void TearDown() override {
    app_.reset();
    remove_tree(dir_);
  }

  std::string make_token(const std::string& name, api::Role role, const std::vector<std::string>& keysets) {
    return api_token(*app_, name, role, keysets);
  }

  httplib::Result call(const std::string& method, const std::string& path, const std::string& tok,
                       const std::string& body = "", const std::string& ctype = "application/json") {
    httplib::Client c(base_);
    c.set_read_timeout(30);
    httplib::Headers h;
    if (!tok.empty()) h.emplace("Authorization", "Bearer " + tok);
    if (method == "GET") return c.Get(path, h);
    if (method == "PATCH") return c.Patch(path, h, body, ctype.c_str());
    if (method == "DELETE") return c.Delete(path, h);
    if (method == "PUT") return c.Put(path, h, body, ctype.c_str());
    return c.Post(path, h, body, ctype.c_str());
  }

  json create_keyset(const std::string& name, const std::string& alg = "ES256") {
    json body = {{"name", name}, {"issuer", base_ + "/" + name}, {"alg", alg}};
    auto r = call("POST", "/v1/keysets", ops_, body.dump());
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body);
  }

  json sign(const std::string& keyset, const std::string& tok, json claims = {{"sub", "alice"}}, int expect = 200) {
    auto r = call("POST", "/v1/keysets/" + keyset + "/sign", tok, json{{"claims", claims}, {"ttl", 300}}.dump());
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, expect) << r->body;
    return json::parse(r->body);
  }

  int run(const std::vector<std::string>& argv, std::string* out) { return run_process(argv, out); }

  SoftHsmToken token_;
  std::string dir_;
  std::unique_ptr<cli::App> app_;
  std::string base_, admin_, ops_, auditor_;
};

TEST_F(ApiTest, PublicEndpointsHealthReadinessMetrics) {
  auto h = call("GET", "/healthz", "");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  create_keyset("web");
  auto r = call("GET", "/readyz", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["status"], "ready");
  auto m = call("GET", "/metrics", "");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("keymgr_key_age_seconds{keyset=\"web\"}"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("keymgr_ledger_entries"), std::string::npos);
}

TEST_F(ApiTest, JwksDiscoveryEtagAnd304) {
  json ks = create_keyset("web");
  auto d = call("GET", "/web/.well-known/openid-configuration", "");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->status, 200) << d->body;
  json disc = json::parse(d->body);
  EXPECT_EQ(disc["issuer"], base_ + "/web");
  EXPECT_EQ(disc["jwks_uri"], base_ + "/web/.well-known/jwks.json");
  auto j = call("GET", "/web/.well-known/jwks.json", "");
  ASSERT_TRUE(j);
  ASSERT_EQ(j->status, 200);
  EXPECT_EQ(j->get_header_value("Content-Type"), "application/jwk-set+json");
  EXPECT_EQ(j->get_header_value("Cache-Control"), "public, max-age=300");
  const std::string etag = j->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  json jwks = json::parse(j->body);
  ASSERT_EQ(jwks["keys"].size(), 1u);
  const json& k = jwks["keys"][0];
  EXPECT_EQ(k["kid"], ks["active_kid"]);
  EXPECT_EQ(k["use"], "sig");
  EXPECT_EQ(k["alg"], "ES256");
  EXPECT_EQ(k["iss"], base_ + "/web");
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi"}) EXPECT_FALSE(k.contains(priv));
  // The same document under the keyset name, and 304 on If-None-Match.
  httplib::Client c(base_);
  auto again = c.Get("/v1/keysets/web/jwks.json", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  auto miss = call("GET", "/nobody/.well-known/jwks.json", "");
  EXPECT_EQ(miss->status, 404);
  EXPECT_EQ(json::parse(miss->body)["error"], "issuer_not_found");
}

TEST_F(ApiTest, TokensOfEveryAlgorithmVerifyWithPyJwtAndJose) {
  const std::string py = source_dir() + "/tests/interop/pyjwt_check.py";
  const std::string js = source_dir() + "/tests/interop/jose_check.mjs";
  const bool have_jose = std::ifstream(source_dir() + "/tests/interop/node_modules/jose/package.json").good();
  ASSERT_TRUE(have_jose) << "run scripts/install-interop.sh (npm jose) first";
  for (const std::string alg : {"ES256", "ES384", "RS256", "PS256", "EdDSA"}) {
    if (alg == "EdDSA" && kAsan) continue;  // see tests/support/sanitizers.h
    std::string name = "k-" + alg;
    for (auto& ch : name) ch = static_cast<char>(std::tolower(ch));
    create_keyset(name, alg);
    const std::string issuer_tok = make_token("iss-" + name, api::Role::kIssuer, {name});
    json t = sign(name, issuer_tok, {{"sub", "alice"}, {"aud", "svc"}});
    const std::string tok = t["token"];
    const std::string jwks_url = base_ + "/" + name + "/.well-known/jwks.json";
    std::string out;
    EXPECT_EQ(run({"/usr/bin/python3", py, jwks_url, base_ + "/" + name, tok}, &out), 0) << alg << ": " << out;
    EXPECT_NE(out.find("\"sub\": \"alice\""), std::string::npos) << out;
    out.clear();
    EXPECT_EQ(run({"node", js, jwks_url, base_ + "/" + name, tok}, &out), 0) << alg << ": " << out;
    EXPECT_NE(out.find("\"alg\":\"" + alg + "\""), std::string::npos) << out;
    // A tampered token fails in both.
    std::string bad = tok;
    bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
    out.clear();
    EXPECT_NE(run({"/usr/bin/python3", py, jwks_url, base_ + "/" + name, bad}, &out), 0) << alg;
    out.clear();
    EXPECT_NE(run({"node", js, jwks_url, base_ + "/" + name, bad}, &out), 0) << alg;
    // The wrong issuer fails too.
    out.clear();
    EXPECT_NE(run({"node", js, jwks_url, base_ + "/other", tok}, &out), 0) << alg;
  }
}

TEST_F(ApiTest, SignVerifyAndIssuerBinding) {
  create_keyset("a");
  create_keyset("b");
  const std::string iss_a = make_token("app-a", api::Role::kIssuer, {"a"});
  json t = sign("a", iss_a);
  EXPECT_EQ(t["alg"], "ES256");
  EXPECT_GT(t["ledger_seq"].get<int64_t>(), 0);
  // Binding: an issuer of A cannot sign for B; the refusal is in the ledger.
  json refused = sign("b", iss_a, {{"sub", "x"}}, 403);
  EXPECT_EQ(refused["error"], "issuer_not_bound");
  // Verify as another role.
  auto v = call("POST", "/v1/keysets/a/verify", auditor_, json{{"token", t["token"]}}.dump());
  ASSERT_TRUE(v);
  ASSERT_EQ(v->status, 200) << v->body;
  json vr = json::parse(v->body);
  EXPECT_TRUE(vr["valid"]) << vr.dump();
  EXPECT_EQ(vr["claims"]["sub"], "alice");
  // The same token checked against keyset B: kid of another keyset.
  v = call("POST", "/v1/keysets/b/verify", auditor_, json{{"token", t["token"]}}.dump());
  vr = json::parse(v->body);
  EXPECT_FALSE(vr["valid"]);
  EXPECT_NE(vr["reasons"].dump().find("another keyset"), std::string::npos) << vr.dump();
  auto q = call("GET", "/v1/audit/ledger?outcome=refused&keyset=b", auditor_);
  ASSERT_TRUE(q);
  json page = json::parse(q->body);
  ASSERT_EQ(page["entries"].size(), 1u) << q->body;
  EXPECT_EQ(page["entries"][0]["reason"], "issuer_not_bound");
  EXPECT_NE(page["entries"][0]["actor"].get<std::string>().find("app-a"), std::string::npos);
}

TEST_F(ApiTest, VerifyRejectsHostileTokens) {
  json ks = create_keyset("a");
  const std::string iss = make_token("app", api::Role::kIssuer, {"a"});
  const std::string good = sign("a", iss)["token"];
  const std::string payload = good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  const std::string kid = ks["active_kid"];
  auto check = [&](const std::string& tok, const std::string& what) {
    auto r = call("POST", "/v1/keysets/a/verify", ops_, json{{"token", tok}}.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json v = json::parse(r->body);
    EXPECT_FALSE(v["valid"]) << what << ": " << v.dump();
  };
  auto hdr = [](json h) { return base64url_encode(h.dump()); };
  check(hdr({{"alg", "none"}, {"kid", kid}}) + "." + payload + ".", "alg none");
  check(hdr({{"alg", "HS256"}, {"kid", kid}}) + "." + payload + "." + base64url_encode(std::string(32, 'x')), "HS256");
  check(hdr({{"alg", "ES256"}, {"kid", kid}, {"jwk", {{"kty", "EC"}}}}) + "." + payload + "." +
            good.substr(good.rfind('.') + 1),
        "embedded jwk");
  check(hdr({{"alg", "ES256"}, {"kid", kid}, {"jku", "https://evil"}}) + "." + payload + "." + good.substr(good.rfind('.') + 1), "jku");
  check(hdr({{"alg", "ES256"}, {"kid", kid}, {"crit", {"exp"}}}) + "." + payload + "." + good.substr(good.rfind('.') + 1), "crit");
  check(good.substr(0, good.rfind('.') + 1) + base64url_encode(Bytes(64, 0)), "r = s = 0");
  check(good.substr(0, good.rfind('.') + 1) + base64url_encode(Bytes(72, 0x30)), "DER-length signature");
  check("not.a.token", "garbage");
  check(good + ".extra", "four parts");
  auto huge = call("POST", "/v1/keysets/a/verify", ops_, json{{"token", std::string(20000, 'a')}}.dump());
  ASSERT_TRUE(huge);
  EXPECT_TRUE(huge->status == 413 || (huge->status == 200 && !json::parse(huge->body)["valid"])) << huge->status;
}

TEST_F(ApiTest, MalformedRequestsGetClearErrors) {
  create_keyset("a");
  const std::string iss = make_token("app", api::Role::kIssuer, {"a"});
  auto expect_err = [&](const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body;
    EXPECT_EQ(j["error"], code) << r->body;
    EXPECT_FALSE(j["message"].get<std::string>().empty());
  };
  expect_err(call("POST", "/v1/keysets/a/sign", iss, "{not json"), 400, "bad_json");
  expect_err(call("POST", "/v1/keysets/a/sign", iss, "{}", "text/plain"), 415, "unsupported_media_type");
  expect_err(call("POST", "/v1/keysets/a/sign", iss, json{{"claims", {{"iss", "https://evil"}}}}.dump()), 400, "iss_mismatch");
  expect_err(call("POST", "/v1/keysets/a/sign", iss, json{{"claims", {{"exp", 5}}}}.dump()), 400, "reserved_claim");
  expect_err(call("POST", "/v1/keysets/a/sign", iss, json{{"claims", {}}, {"extra", 1}}.dump()), 400, "bad_request");
  expect_err(call("POST", "/v1/keysets/a/sign", iss, json{{"claims", {}}, {"ttl", "long"}}.dump()), 400, "bad_ttl");
  std::string deep(100, '[');
  deep += std::string(100, ']');
  expect_err(call("POST", "/v1/keysets/a/sign", iss, "{\"claims\":" + deep + "}"), 400, "json_too_deep");
  expect_err(call("POST", "/v1/keysets/a/sign", iss, json{{"claims", {{"x", std::string(20000, 'a')}}}}.dump()), 413,
             "payload_too_large");
  expect_err(call("POST", "/v1/keysets/nope/sign", iss, "{}"), 404, "keyset_not_found");
  expect_err(call("GET", "/v1/nothing", admin_), 404, "route_not_found");
  expect_err(call("DELETE", "/v1/nothing", admin_), 404, "route_not_found");
  // A known route with a method it does not take: 405 and Allow, before authentication.
  for (const std::string& tok : {admin_, std::string()}) {
    auto r = call("DELETE", "/v1/keysets/a", tok);
    expect_err(r, 405, "method_not_allowed");
    EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD, PATCH");
  }
  {
    auto r = call("GET", "/v1/keysets/a/rotate", ops_);
    expect_err(r, 405, "method_not_allowed");
    EXPECT_EQ(r->get_header_value("Allow"), "POST");
    r = call("PUT", "/a/.well-known/jwks.json", "", "{}");
    expect_err(r, 405, "method_not_allowed");
    EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  }
  expect_err(call("POST", "/v1/keysets", ops_, json{{"name", "a"}, {"issuer", base_ + "/zzz"}}.dump()), 409, "keyset_exists");
  expect_err(call("POST", "/v1/keysets", ops_, json{{"name", "c"}, {"issuer", base_ + "/c"}, {"alg", "HS256"}}.dump()), 400,
             "bad_algorithm");
  expect_err(call("POST", "/v1/keysets", ops_,
                  json{{"name", "c"}, {"issuer", base_ + "/c"}, {"policy", {{"verify_grace", "1h"}}}}.dump()),
             400, "bad_policy");
  expect_err(call("POST", "/v1/keysets/a/keys/nokid/compromise", ops_, json{{"reason", "x"}}.dump()), 404, "key_not_found");
  expect_err(call("POST", "/v1/keysets/a/emergency-rotate", ops_, "{}"), 400, "bad_request");
  expect_err(call("POST", "/v1/keysets/a/emergency-rotate", ops_, "", ""), 400, "bad_request");  // reason required
  expect_err(call("GET", "/v1/audit/ledger?limit=0", auditor_), 400, "bad_query");
  expect_err(call("GET", "/v1/audit/ledger?bogus=1", auditor_), 400, "bad_query");
}

// keyset_rules.h through POST /v1/keysets: an issuer whose path is one of keymgr's own routes is
// refused (400 bad_issuer), nothing is created, and a keyset without "alg" gets the default.
TEST_F(ApiTest, KeysetCreationAppliesTheKeysetRules) {
  for (const char* path : {"/v1", "/v1/keysets/x", "/healthz", "/readyz", "/metrics", "/ui", "/ui/keysets"}) {
    auto r = call("POST", "/v1/keysets", ops_, json{{"name", "clash"}, {"issuer", base_ + path}}.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << path << " " << r->body;
    json j = json::parse(r->body);
    EXPECT_EQ(j["error"], "bad_issuer") << path;
    EXPECT_NE(j["message"].get<std::string>().find("collides with keymgr's own routes"), std::string::npos) << r->body;
  }
  auto bad_name = call("POST", "/v1/keysets", ops_, json{{"name", "Clash"}, {"issuer", base_ + "/clash"}}.dump());
  ASSERT_TRUE(bad_name);
  EXPECT_EQ(bad_name->status, 400);
  EXPECT_EQ(json::parse(bad_name->body)["error"], "bad_keyset_name");
  auto none = call("GET", "/v1/keysets", ops_);
  ASSERT_TRUE(none);
  EXPECT_TRUE(json::parse(none->body)["keysets"].empty()) << none->body;
  // The route still serves /readyz, not a keyset's document, and the default algorithm is ES256.
  auto ok = call("POST", "/v1/keysets", ops_, json{{"name", "clash"}, {"issuer", base_ + "/tenants/v1"}}.dump());
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 201) << ok->body;
  EXPECT_EQ(json::parse(ok->body)["alg"], "ES256");
}

// keyset_rules.h at start-up: a bootstrap issuer on one of keymgr's own routes stops the App from
// opening, with the rule's message, and leaves no keyset behind.
TEST(BootstrapKeyset, IssuerOnKeymgrsOwnRoutesIsRefusedAtStartUp) {
  SoftHsmToken token;
  ASSERT_TRUE(token.ok()) << token.error();
  const std::string dir = make_temp_dir("km-boot");
  for (const char* issuer : {"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/healthz",
                                   "https://id.example/ui/x"}) {
    cli::Config cfg = test_config(dir);
    cfg.bootstrap_keyset = "default";
    cfg.bootstrap_issuer = issuer;
    auto app = open_test_app(token, cfg);
    ASSERT_FALSE(app.ok()) << issuer;
    EXPECT_EQ(app.status().reason(), "bad_issuer") << app.status().to_string();
    EXPECT_NE(app.status().to_string().find("creating bootstrap keyset"), std::string::npos) << app.status().to_string();
    EXPECT_NE(app.status().to_string().find("collides with keymgr's own routes"), std::string::npos)
        << app.status().to_string();
  }
  // The same configuration with an ordinary issuer path starts, and has its keyset.
  cli::Config cfg = test_config(dir);
  cfg.bootstrap_keyset = "default";
  cfg.bootstrap_issuer = "http://127.0.0.1:8080/default";
  auto app = open_test_app(token, cfg);
  ASSERT_TRUE(app.ok()) << app.status().to_string();
  ASSERT_EQ((*app)->keys().keysets().size(), 1u);
  EXPECT_EQ((*app)->keys().keysets()[0]->issuer, "http://127.0.0.1:8080/default");
  app->reset();
  remove_tree(dir);
}

// Actions whose fields are all optional take no body at all: none (curl -X POST sends neither
// Content-Length nor Content-Type), an empty one, or {}. One with a required field says which.
TEST_F(ApiTest, ActionsWithOnlyOptionalFieldsTakeAnEmptyBody) {
  const std::string auth = "Authorization: Bearer " + ops_ + "\r\n";
  auto post = [&](const std::string& path, const std::string& headers) {
    const auto started = std::chrono::steady_clock::now();
    std::string out = raw_exchange(app_->port(), "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth +
                                                     headers + "Connection: close\r\n\r\n");
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "waited for a body: " << path;
    return out;
  };
  int n = 0;
  for (const std::string headers : {"", "Content-Length: 0\r\n", "Content-Length: 0\r\nContent-Type: application/json\r\n"}) {
    const std::string ks = "a" + std::to_string(n++);  // each variant on a keyset of its own
    const std::string kid = create_keyset(ks)["active_kid"];
    for (const std::string& path : {"/v1/keysets/" + ks + "/rotate", "/v1/keysets/" + ks + "/keys/" + kid + "/suspend",
                                   "/v1/keysets/" + ks + "/keys/" + kid + "/resume"}) {
      const std::string out = post(path, headers);
      EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << path << " with [" << headers << "]: " << out;
    }
  }
  const std::string out = post("/v1/keysets/a0/emergency-rotate", "");
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
  EXPECT_NE(out.find("'reason' is required"), std::string::npos) << out;
  // Signing: claims and ttl are optional too.
  const std::string iss = make_token("app", api::Role::kIssuer, {"a1"});
  const std::string signed_out = raw_exchange(
      app_->port(), "POST /v1/keysets/a1/sign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + iss +
                        "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(signed_out.rfind("HTTP/1.1 200", 0), 0u) << signed_out;
}

TEST_F(ApiTest, EveryRouteByEveryRole) {
  create_keyset("a");
  create_keyset("b");
  const std::string iss_a = make_token("iss-a", api::Role::kIssuer, {"a"});
  const std::string iss_b = make_token("iss-b", api::Role::kIssuer, {"b"});
  auto revoked = app_->api_tokens().create("gone", api::Role::kAdmin, {}, "test");
  ASSERT_TRUE(revoked.ok());
  ASSERT_TRUE(app_->api_tokens().revoke(revoked->record.id, "test").ok());
  const std::string verifier = make_token("rp", api::Role::kVerifier, {});
  const std::map<std::string, std::string> roles = {{"anonymous", ""},  {"admin", admin_},  {"ops", ops_},
                                                    {"issuer_a", iss_a}, {"issuer_b", iss_b}, {"auditor", auditor_},
                                                    {"verifier", verifier}, {"revoked", revoked->token},
                                                    {"garbage", "km_00_xx"}};
  struct Route {
    std::string method, path, body;
    std::set<std::string> allowed;  // roles that must not get 401/403
  };
  const std::set<std::string> all = {"anonymous", "admin",    "ops",     "issuer_a", "issuer_b",
                                     "auditor",   "verifier", "revoked", "garbage"};
  const std::set<std::string> authed = {"admin", "ops", "issuer_a", "issuer_b", "auditor", "verifier"};
  const std::vector<Route> routes = {
      {"GET", "/healthz", "", all},
      {"GET", "/readyz", "", all},
      {"GET", "/metrics", "", all},
      {"GET", "/a/.well-known/jwks.json", "", all},
      {"GET", "/a/.well-known/openid-configuration", "", all},
      {"GET", "/v1/keysets/a/jwks.json", "", all},
      {"GET", "/v1/keysets/a/openid-configuration", "", all},
      {"GET", "/v1/audit/checkpoints", "", all},
      {"GET", "/v1/audit/checkpoint", "", all},
      {"GET", "/v1/audit/keys", "", all},
      {"POST", "/v1/audit/keys/rotate", "", {"admin"}},
      {"GET", "/v1/audit/proof?seq=1", "", {"admin", "auditor"}},
      {"POST", "/v1/audit/proof", R"({"token":"a.b.c"})", all},
      {"GET", "/v1/audit/proof/consistency?from=0", "", all},
      {"GET", "/v1/keysets", "", authed},
      {"GET", "/v1/keysets/a", "", authed},
      {"GET", "/v1/keysets/a/usage", "", authed},
      {"POST", "/v1/keysets", R"({"name":"zz","issuer":"https://zz.example/zz"})", {"admin", "ops"}},
      {"PATCH", "/v1/keysets/a", R"({"policy":{"max_token_ttl":600}})", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/rotate", "{}", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/emergency-rotate", R"({"reason":"t"})", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/keys/x/suspend", "{}", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/keys/x/resume", "{}", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/keys/x/compromise", R"({"reason":"t"})", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/keys/x/destroy", "{}", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/keys/x/extend", R"({"reason":"t","until":1})", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/sign", R"({"claims":{}})", {"issuer_a"}},
      {"POST", "/v1/keysets/a/verify", R"({"token":"a.b.c"})", authed},
      {"GET", "/v1/audit/ledger", "", {"admin", "auditor"}},
      {"GET", "/v1/audit/export", "", {"admin", "auditor"}},
      {"GET", "/v1/audit/verify", "", {"admin", "auditor"}},
      {"GET", "/v1/audit/affected?kid=x", "", {"admin", "auditor", "ops"}},
      {"GET", "/v1/tokens", "", {"admin"}},
      {"POST", "/v1/tokens", R"({"name":"n","role":"auditor"})", {"admin"}},
      {"DELETE", "/v1/tokens/0000", "", {"admin"}},
      {"GET", "/v1/alerts", "", {"admin", "ops", "auditor"}},
      {"GET", "/v1/alerts/leak_suspected-000000000000000000000000", "", {"admin", "ops", "auditor"}},
      {"POST", "/v1/alerts/leak_suspected-000000000000000000000000/ack", R"({"reason":"t"})", {"admin", "ops"}},
      {"POST", "/v1/keysets/a/check", R"({"tokens":[]})", {"admin", "ops", "auditor", "verifier"}},
      {"GET", "/v1/whoami", "", authed},
      {"GET", "/ui", "", all},
      {"GET", "/ui/", "", all},
      {"GET", "/ui/app.js", "", all},
  };
  // One row per served route (api::Server::routes(); the OpenAPI test ties those to the docs).
  api::Server probe(cli::Config{}.server, api::Services{});
  EXPECT_EQ(routes.size(), probe.routes().size()) << "a route is missing from this table";
  int cells = 0;
  for (const auto& r : routes) {
    for (const auto& [role, tok] : roles) {
      auto res = call(r.method, r.path, tok, r.body);
      ASSERT_TRUE(res) << r.method << " " << r.path;
      const bool allowed = r.allowed.count(role) > 0;
      if (allowed) {
        EXPECT_NE(res->status, 401) << role << " " << r.method << " " << r.path << " " << res->body;
        EXPECT_NE(res->status, 403) << role << " " << r.method << " " << r.path << " " << res->body;
      } else if (role == "anonymous" || role == "revoked" || role == "garbage") {
        EXPECT_EQ(res->status, 401) << role << " " << r.method << " " << r.path << " " << res->body;
      } else {
        EXPECT_EQ(res->status, 403) << role << " " << r.method << " " << r.path << " " << res->body;
      }
      ++cells;
    }
  }
  RecordProperty("route_role_cells", cells);
  // An issuer bound to B does not even see keyset A.
  EXPECT_EQ(call("GET", "/v1/keysets/a", iss_b)->status, 404);
}

TEST_F(ApiTest, OperatorFlowRotationCompromiseAndAudit) {
  json ks = create_keyset("web");
  const std::string iss = make_token("app", api::Role::kIssuer, {"web"});
  const std::string first = ks["active_kid"];
  json t1 = sign("web", iss);
  auto j1 = call("GET", "/web/.well-known/jwks.json", "");
  const std::string etag1 = j1->get_header_value("ETag");
  // Rotate: pre-publishes a successor (JWKS changes: two keys).
  auto r = call("POST", "/v1/keysets/web/rotate", ops_, R"({"reason":"quarterly"})");
  ASSERT_EQ(r->status, 200) << r->body;
  auto j2 = call("GET", "/web/.well-known/jwks.json", "");
  EXPECT_NE(j2->get_header_value("ETag"), etag1);
  EXPECT_EQ(json::parse(j2->body)["keys"].size(), 2u);
  // Compromise the active key: gone from the JWKS at once, a new key signs.
  r = call("POST", "/v1/keysets/web/keys/" + first + "/compromise", ops_, R"({"reason":"leaked in a crash dump"})");
  ASSERT_EQ(r->status, 200) << r->body;
  json after = json::parse(r->body);
  EXPECT_NE(after["active_kid"], first);
  auto j3 = call("GET", "/web/.well-known/jwks.json", "");
  EXPECT_EQ(j3->body.find(first), std::string::npos);
  json t2 = sign("web", iss);
  EXPECT_NE(t2["kid"], first);
  auto v = call("POST", "/v1/keysets/web/verify", auditor_, json{{"token", t1["token"]}}.dump());
  EXPECT_FALSE(json::parse(v->body)["valid"]);
  // Audit: affected tokens, query with pagination, export, chain verification.
  auto aff = call("GET", "/v1/audit/affected?kid=" + first, auditor_);
  ASSERT_EQ(aff->status, 200) << aff->body;
  EXPECT_EQ(json::parse(aff->body)["count"], 1);
  std::set<int64_t> seen;
  std::string cursor;
  for (int pages = 0; pages < 50; ++pages) {
    auto q = call("GET", "/v1/audit/ledger?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), auditor_);
    ASSERT_EQ(q->status, 200) << q->body;
    json p = json::parse(q->body);
    for (const auto& e : p["entries"]) EXPECT_TRUE(seen.insert(e["seq"].get<int64_t>()).second);
    if (p["next_cursor"].is_null()) break;
    cursor = std::to_string(p["next_cursor"].get<int64_t>());
  }
  auto nd = call("GET", "/v1/audit/export?format=ndjson", auditor_);
  ASSERT_EQ(nd->status, 200);
  EXPECT_EQ(static_cast<size_t>(std::count(nd->body.begin(), nd->body.end(), '\n')), seen.size());
  auto csv = call("GET", "/v1/audit/export?format=csv&kind=sign", auditor_);
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->body.rfind("seq,ts_ms,kind", 0), 0u);
  auto ver = call("GET", "/v1/audit/verify", auditor_);
  ASSERT_EQ(ver->status, 200) << ver->body;
  EXPECT_TRUE(json::parse(ver->body)["ok"]) << ver->body;
}

TEST_F(ApiTest, TreeCheckpointsAndProofsVerifyWithAnIndependentImplementation) {
  create_keyset("web");
  const std::string iss = make_token("iss-web", api::Role::kIssuer, {"web"});
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) tokens.push_back(sign("web", iss, {{"sub", "u" + std::to_string(i)}})["token"].get<std::string>());

  // Not covered by a signed checkpoint yet: a clear 409, not a proof against nothing.
  auto early = call("POST", "/v1/audit/proof", "", json{{"token", tokens[2]}}.dump());
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->status == 404 || early->status == 409) << early->body;

  ASSERT_TRUE(app_->log().integrate().ok());
  auto cp = app_->log().checkpoint();
  ASSERT_TRUE(cp.ok()) << cp.status().to_string();
  ASSERT_TRUE(cp->has_value());

  auto note = call("GET", "/v1/audit/checkpoint", "");
  ASSERT_EQ(note->status, 200) << note->body;
  EXPECT_EQ(note->get_header_value("Cache-Control"), "public, max-age=5");
  auto keys = call("GET", "/v1/audit/keys?format=text", "");
  ASSERT_EQ(keys->status, 200) << keys->body;
  auto proof = call("POST", "/v1/audit/proof", "", json{{"token", tokens[2]}}.dump());
  ASSERT_EQ(proof->status, 200) << proof->body;
  const json p = json::parse(proof->body);
  auto unknown = call("POST", "/v1/audit/proof", "", json{{"token", tokens[2] + "x"}}.dump());
  EXPECT_EQ(unknown->status, 404) << unknown->body;
  EXPECT_EQ(json::parse(unknown->body)["error"], "entry_not_found") << unknown->body;

  // An independent check in Python (hashlib + cryptography): the note's key id per C2SP
  // signed-note, its Ed25519 signature over the checkpoint text, the RFC 9162 root from the audit
  // path, and the token's SHA-256 inside the leaf data.
  const std::string d = dir_;
  std::ofstream(d + "/note") << note->body;
  std::ofstream(d + "/vkey") << keys->body;
  std::ofstream(d + "/proof.json") << proof->body;
  std::ofstream(d + "/token") << tokens[2];
  const std::string py = R"PY(
import base64, hashlib, json, struct, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key
d = sys.argv[1]
note = open(d + '/note', encoding='utf-8').read()
vkey = open(d + '/vkey').read().split('\n')[0]
name, kid_hex, kb = vkey.split('+', 2)
key = base64.b64decode(kb)
if key[0] == 1:    # Ed25519: key id over name, type and raw key
    assert hashlib.sha256(name.encode() + b'\n' + key).digest()[:4].hex() == kid_hex
    check = lambda sig, msg: Ed25519PublicKey.from_public_bytes(key[1:]).verify(sig, msg)
elif key[0] == 2:  # ECDSA P-256 (transparency-dev/witness): key id over the DER SPKI, DER signature
    assert hashlib.sha256(key[1:]).digest()[:4].hex() == kid_hex
    check = lambda sig, msg: load_der_public_key(key[1:]).verify(sig, msg, ec.ECDSA(hashes.SHA256()))
else:
    sys.exit('unexpected key type %d' % key[0])
text, sigs = note.rsplit('\n\n', 1)
text += '\n'
ok = False
for line in sigs.strip('\n').split('\n'):
    assert line.startswith('\u2014 ')
    n, b = line[2:].split(' ')
    raw = base64.b64decode(b)
    if n == name and raw[:4].hex() == kid_hex:
        check(raw[4:], text.encode())
        ok = True
assert ok, 'no signature by the published key'
origin, size, root = text.split('\n')[:3]
p = json.load(open(d + '/proof.json'))
assert int(size) == p['tree_size']
leaf_data = base64.b64decode(p['leaf_data'])
h = hashlib.sha256(b'\x00' + leaf_data).digest()
idx, n = p['index'], p['tree_size']
fn, sn = idx, n - 1
for s in [base64.b64decode(x) for x in p['path']]:
    if fn % 2 == 1 or fn == sn:
        h = hashlib.sha256(b'\x01' + s + h).digest()
        while fn % 2 == 0 and fn != 0:
            fn >>= 1; sn >>= 1
    else:
        h = hashlib.sha256(b'\x01' + h + s).digest()
    fn >>= 1; sn >>= 1
assert sn == 0 and h == base64.b64decode(root), 'audit path does not lead to the signed root'
tok = hashlib.sha256(open(d + '/token').read().encode()).hexdigest().encode()
assert tok in leaf_data, 'token hash not in the leaf'
print('VERIFIED', idx, n)
)PY";
  std::ofstream(d + "/check.py") << py;
  std::string out;
  EXPECT_EQ(run({"/usr/bin/python3", d + "/check.py", d}, &out), 0) << out;
  EXPECT_NE(out.find("VERIFIED"), std::string::npos) << out;
  EXPECT_EQ(p["entry"]["token_sha256"], hex_encode(sha256(tokens[2])));  // the proven entry is this token's

  // The verify endpoint's provenance names the entry's place in the log and its coverage.
  auto v2 = call("POST", "/v1/keysets/web/verify", auditor_, json{{"token", tokens[2]}}.dump());
  ASSERT_EQ(v2->status, 200) << v2->body;
  const json vj = json::parse(v2->body);
  EXPECT_EQ(vj["log"]["leaf_index"], p["index"]) << v2->body;
  EXPECT_EQ(vj["log"]["checkpointed"], true) << v2->body;
  EXPECT_EQ(vj["log"]["checkpoint_size"], p["tree_size"]) << v2->body;
  const std::string late = sign("web", iss, {{"sub", "late"}})["token"].get<std::string>();
  auto v3 = call("POST", "/v1/keysets/web/verify", auditor_, json{{"token", late}}.dump());
  EXPECT_EQ(json::parse(v3->body)["log"]["checkpointed"], false) << v3->body;

  // The text form is a C2SP tlog-proof file; consistency from 2 to the checkpoint is public.
  auto text = call("POST", "/v1/audit/proof?format=text", "", json{{"token", tokens[2]}}.dump());
  ASSERT_EQ(text->status, 200);
  EXPECT_EQ(text->body.rfind("c2sp.org/tlog-proof@v1\n", 0), 0u) << text->body;
  auto cons = call("GET", "/v1/audit/proof/consistency?from=2", "");
  ASSERT_EQ(cons->status, 200) << cons->body;
  EXPECT_EQ(json::parse(cons->body)["to"], p["tree_size"]);
  auto bad = call("GET", "/v1/audit/proof/consistency?from=999999", "");
  EXPECT_EQ(bad->status, 400) << bad->body;

  // The full audit sees every checkpoint signature.
  auto ver = call("GET", "/v1/audit/verify", auditor_);
  ASSERT_EQ(ver->status, 200) << ver->body;
  const json v = json::parse(ver->body);
  EXPECT_TRUE(v["ok"]) << ver->body;
  EXPECT_GE(v["checkpoints"], 1);
  EXPECT_EQ(v["checkpoints_checked"], v["checkpoints"]);
  EXPECT_GE(v["tree_size"], p["tree_size"]);
  EXPECT_LE(v["tree_size"], v["entries"]);
}

TEST_F(ApiTest, OpenApiDocumentDescribesExactlyTheServedRoutes) {
  std::ifstream in(source_dir() + "/docs/openapi.json");
  ASSERT_TRUE(in.good());
  json doc = json::parse(in);
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  std::set<std::string> documented, served;
  for (auto& [path, ops] : doc["paths"].items()) {
    for (auto& [method, op] : ops.items()) {
      std::string m = method;
      for (auto& c : m) c = static_cast<char>(std::toupper(c));
      documented.insert(m + " " + path);
      EXPECT_TRUE(op.contains("responses")) << path;
    }
  }
  // The server's own record of what it registered (api::Server::routes()).
  cli::Config cfg;
  api::Server probe(cfg.server, api::Services{});
  for (const auto& r : probe.routes()) served.insert(r.method + " " + r.path);
  for (const auto& r : served) EXPECT_TRUE(documented.count(r)) << "served but not in docs/openapi.json: " << r;
  for (const auto& d : documented) EXPECT_TRUE(served.count(d)) << "documented but not served: " << d;
  EXPECT_GE(served.size(), 25u);
  // Each documented route answers on the live server (never the catch-all route_not_found).
  create_keyset("web");
  for (const auto& d : documented) {
    const std::string method = d.substr(0, d.find(' '));
    std::string path = d.substr(d.find(' ') + 1);
    for (auto [from, to] : {std::pair<std::string, std::string>{"{issuer_path}", "web"}, {"{name}", "web"}, {"{kid}", "x"}, {"{id}", "00"},
                          {"{alert_id}", "leak_suspected-000000000000000000000000"}, {"{asset}", "app.js"}}) {
      for (size_t pos; (pos = path.find(from)) != std::string::npos;) path.replace(pos, from.size(), to);
    }
    auto r = call(method, path, admin_, "{}");
    ASSERT_TRUE(r) << d;
    json j = json::parse(r->body, nullptr, false);
    const bool catch_all = r->status == 404 && !j.is_discarded() && j.is_object() && j.value("error", "") == "route_not_found";
    EXPECT_FALSE(catch_all) << d << " is documented but not routed";
  }
  // A method a documented path does not list is a 405 whose Allow header is the documented
  // methods (GET with HEAD), as the document's 405 responses say.
  std::map<std::string, std::set<std::string>> by_path;
  for (const auto& d : documented) {
    const std::string method = d.substr(0, d.find(' '));
    by_path[d.substr(d.find(' ') + 1)].insert(method);
    if (method == "GET") by_path[d.substr(d.find(' ') + 1)].insert("HEAD");
  }
  for (const auto& [doc_path, methods] : by_path) {
    std::string allow;
    for (const auto& m : methods) allow += (allow.empty() ? "" : ", ") + m;
    std::string path = doc_path;
    for (auto [from, to] : {std::pair<std::string, std::string>{"{issuer_path}", "web"}, {"{name}", "web"}, {"{kid}", "x"}, {"{id}", "00"},
                          {"{alert_id}", "leak_suspected-000000000000000000000000"}, {"{asset}", "app.js"}}) {
      for (size_t pos; (pos = path.find(from)) != std::string::npos;) path.replace(pos, from.size(), to);
    }
    auto r = call("PUT", path, admin_, "{}");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 405) << "PUT " << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Allow"), allow) << path;
    EXPECT_EQ(json::parse(r->body, nullptr, false).value("error", ""), "method_not_allowed") << r->body;
    for (const auto& [m, op] : doc["paths"][doc_path].items()) {
      EXPECT_TRUE(op["responses"].contains("405")) << m << " " << doc_path << " does not document its 405";
    }
  }
}

// The web console (console/dist, built into the binary): public files under /ui/, each answer with
// the console's security headers (a strict CSP, no framing, no referrer, no sniffing), and
// /v1/whoami, which the console reads to adapt its screens to the token's role.
TEST_F(ApiTest, ConsoleIsServedWithSecurityHeadersAndWhoamiNamesTheCaller) {
  auto expect_headers = [](const httplib::Result& r, const std::string& what) {
    ASSERT_TRUE(r) << what;
    const std::string csp = r->get_header_value("Content-Security-Policy");
    for (const char* d : {"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                          "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"}) {
      EXPECT_NE(csp.find(d), std::string::npos) << what << " CSP lacks " << d << ": " << csp;
    }
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << what << ": " << csp;
    EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY") << what;
    EXPECT_EQ(r->get_header_value("Referrer-Policy"), "no-referrer") << what;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff") << what;
  };
  auto index = call("GET", "/ui/", "");
  expect_headers(index, "/ui/");
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<script type=\"module\" src=\"app.js\"></script>"), std::string::npos) << index->body;
  EXPECT_EQ(index->body.find("<script>"), std::string::npos) << "no inline script";
  EXPECT_EQ(index->get_header_value("Cache-Control"), "no-cache");
  auto js = call("GET", "/ui/app.js", "");
  expect_headers(js, "/ui/app.js");
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  // Unchanged: a 304 without a body.
  httplib::Client c(base_);
  auto again = c.Get("/ui/app.js", {{"If-None-Match", js->get_header_value("ETag")}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  auto missing = call("GET", "/ui/nothing.js", "");
  expect_headers(missing, "/ui/nothing.js");
  EXPECT_EQ(missing->status, 404);
  auto bare = call("GET", "/ui", "");
  expect_headers(bare, "/ui");
  EXPECT_EQ(bare->status, 308);
  EXPECT_EQ(bare->get_header_value("Location"), "/ui/");

  auto anon = call("GET", "/v1/whoami", "");
  EXPECT_EQ(anon->status, 401);
  create_keyset("web");
  const std::string iss = make_token("who-app", api::Role::kIssuer, {"web"});
  auto me = call("GET", "/v1/whoami", iss);
  ASSERT_EQ(me->status, 200) << me->body;
  const json j = json::parse(me->body);
  EXPECT_EQ(j["name"], "who-app");
  EXPECT_EQ(j["role"], "issuer");
  EXPECT_EQ(j["keysets"], json::array({"web"}));
  EXPECT_EQ(iss.find(j["id"].get<std::string>()), 3u) << "the id is the token's own (km_<id>_...)";
  EXPECT_EQ(json::parse(call("GET", "/v1/whoami", auditor_)->body)["role"], "auditor");
}

TEST_F(ApiTest, LedgerThatCannotBeWrittenMeansNoTokenAnd503) {
  create_keyset("web");
  const std::string iss = make_token("app", api::Role::kIssuer, {"web"});
  auto count_sign_rows = [&] {
    db::LedgerQuery q;
    q.kind = "sign";
    q.limit = 1000;
    return app_->store().query_ledger(q)->entries.size();
  };
  sign("web", iss);
  const size_t before = count_sign_rows();
  // Another process holds the database exclusively (as a stuck backup or a full disk would make
  // every write fail): the signing request must fail closed.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/keymgr.db").c_str(), &other), SQLITE_OK);
  sqlite3_busy_timeout(other, 5000);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE;", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = call("POST", "/v1/keysets/web/sign", iss, json{{"claims", {{"sub", "bob"}}}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["error"], "ledger_unavailable") << r->body;
  EXPECT_FALSE(j.contains("token"));
  sqlite3_exec(other, "ROLLBACK;", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  // Nothing half-written, and the service recovers by itself.
  EXPECT_EQ(count_sign_rows(), before);
  json ok = sign("web", iss);
  EXPECT_TRUE(ok.contains("token"));
  auto ver = call("GET", "/v1/audit/verify", auditor_);
  EXPECT_TRUE(json::parse(ver->body)["ok"]) << ver->body;
}

}  // namespace
}  // namespace keymgr::testing
