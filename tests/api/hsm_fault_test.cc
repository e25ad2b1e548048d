// HSM faults seen over HTTP: the real server (SoftHSM2 token, SQLite file, 127.0.0.1) with faults
// injected at the PKCS#11 boundary. A signature the HSM fails or does not deliver within the
// deadline is a 503 with a machine-readable reason, never a token, and never a ledger record of
// a token; rotation that cannot generate a key keeps the current key and says why; the service
// recovers by itself when the HSM answers again.
#include <gtest/gtest.h>
#include <httplib.h>

#include <future>
#include <thread>

#include "tests/api/app_env.h"
#include "tests/support/pkcs11_fault.h"

namespace keymgr::testing {
namespace {
using nlohmann::json;
using namespace std::chrono_literals;

class HsmFaultApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(token_.ok()) << token_.error();
    dir_ = make_temp_dir("km-hsmfault");
    cli::Config cfg = test_config(dir_);
    cfg.server.threads = 8;
    cfg.hsm_call_timeout_ms = 300;
    ASSERT_NO_FATAL_FAILURE(start_test_app(token_, cfg, app_, faults_.hook()));
    ASSERT_NE(app_->deadlines(), nullptr);
    base_ = "http://127.0.0.1:" + std::to_string(app_->port());
    ops_ = api_token(*app_, "ops", api::Role::kOps);
    auditor_ = api_token(*app_, "auditor", api::Role::kAuditor);
    auto r = call("POST", "/v1/keysets", ops_, json{{"name", "web"}, {"issuer", base_ + "/web"}, {"alg", "ES256"}}.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    issuer_ = api_token(*app_, "issuer", api::Role::kIssuer, {"web"});
  }
  void TearDown() override {
    faults_.release_hangs();
    app_.reset();
    remove_tree(dir_);
  }

  httplib::Result call(const std::string& method, const std::string& path, const std::string& tok,
                       const std::string& body = "") {
    httplib::Client c(base_);
    c.set_read_timeout(30);
    httplib::Headers h{{"Authorization", "Bearer " + tok}};
    if (method == "GET") return c.Get(path, h);
    return c.Post(path, h, body, "application/json");
  }
  httplib::Result sign() {
    return call("POST", "/v1/keysets/web/sign", issuer_, json{{"claims", {{"sub", "alice"}}}, {"ttl", 60}}.dump());
  }
  int64_t ok_signatures() {
    db::LedgerQuery q;
    q.kind = "sign";
    q.outcome = "ok";
    q.limit = 1000;
    auto page = app_->store().query_ledger(q);
    EXPECT_TRUE(page.ok());
    return page.ok() ? static_cast<int64_t>(page->entries.size()) : -1;
  }
  static std::string error_of(const httplib::Result& r) { return json::parse(r->body).value("error", ""); }

  SoftHsmToken token_;
  Pkcs11FaultInjector faults_;  // declared after token_, destroyed before it, after app_
  std::string dir_;
  std::unique_ptr<cli::App> app_;
  std::string base_, ops_, issuer_, auditor_;
};

TEST_F(HsmFaultApiTest, SignErrorsAre503WithAReasonAndNoToken) {
  auto good = sign();
  ASSERT_TRUE(good);
  ASSERT_EQ(good->status, 200) << good->body;
  const int64_t before = ok_signatures();
  ASSERT_EQ(before, 1);
  for (CK_RV rv : {CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID, CKR_GENERAL_ERROR}) {
    faults_.fail_next(P11Call::kSign, rv, rv == CKR_SESSION_HANDLE_INVALID ? 2 : 1);  // a lost session is retried once
    auto r = sign();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(error_of(r), "hsm_unavailable") << r->body;
    EXPECT_EQ(json::parse(r->body).count("token"), 0u);
  }
  faults_.fail_next(P11Call::kSignInit, CKR_DEVICE_ERROR);
  auto r = sign();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(ok_signatures(), before);  // nothing recorded as issued
  // Recovered by itself: the next request signs.
  auto again = sign();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  auto v = call("POST", "/v1/keysets/web/verify", auditor_, json{{"token", json::parse(again->body)["token"]}}.dump());
  ASSERT_TRUE(v);
  EXPECT_EQ(json::parse(v->body)["valid"], true) << v->body;
}

TEST_F(HsmFaultApiTest, HungModuleAnswers503HsmTimeoutWithinTheDeadlineAndRecovers) {
  ASSERT_EQ(sign()->status, 200);
  const int64_t before = ok_signatures();
  faults_.hang(P11Call::kSign);
  // Several clients at once: each gets its answer, none is held until the module returns.
  std::vector<std::future<std::pair<int, std::string>>> clients;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::async(std::launch::async, [this] {
      auto r = sign();
      return r ? std::make_pair(r->status, error_of(r)) : std::make_pair(-1, std::string("no response"));
    }));
  }
  for (auto& c : clients) {
    auto [status, error] = c.get();
    EXPECT_EQ(status, 503);
    EXPECT_EQ(error, "hsm_timeout");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_GE(faults_.hung(), 1);
  EXPECT_GE(app_->deadlines()->deadline_stats().timeouts, 1u);
  // Operators see it.
  auto m = call("GET", "/metrics", "");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("keymgr_hsm_calls_overdue"), std::string::npos);
  EXPECT_NE(m->body.find("keymgr_hsm_timeouts"), std::string::npos);
  EXPECT_NE(m->body.find("keymgr_hsm_reinitializations{cause=\"view\"} 0"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("keymgr_hsm_reinit_drain_timeouts 0"), std::string::npos);

  faults_.release_hangs();
  // The late signatures were dropped: nothing was recorded as issued while the module hung.
  EXPECT_EQ(ok_signatures(), before);
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    auto r = sign();
    status = r ? r->status : -1;
    if (status != 200) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(ok_signatures(), before + 1);
  auto ready = call("GET", "/readyz", "");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
}

TEST_F(HsmFaultApiTest, RotationThatCannotGenerateKeepsTheCurrentKeyAndSaysWhy) {
  auto ks = call("GET", "/v1/keysets/web", ops_);
  ASSERT_TRUE(ks);
  const json before = json::parse(ks->body);
  faults_.fail_next(P11Call::kGenerateKeyPair, CKR_DEVICE_ERROR);
  auto r = call("POST", "/v1/keysets/web/rotate", ops_, R"({"reason":"scheduled"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_NE(r->body.find("C_GenerateKeyPair"), std::string::npos) << r->body;
  // Still signing with the same key, and the keyset did not gain a half-made key.
  auto t = sign();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, 200) << t->body;
  auto after = json::parse(call("GET", "/v1/keysets/web", ops_)->body);
  EXPECT_EQ(after["keys"].size(), before["keys"].size()) << after.dump();
  // The HSM is back: the same rotation now works.
  auto ok = call("POST", "/v1/keysets/web/rotate", ops_, R"({"reason":"scheduled"})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(json::parse(ok->body)["keys"].size(), before["keys"].size() + 1);
}

}  // namespace
}  // namespace keymgr::testing
