// API-token authentication against a real SQLite store: the caching Authenticator the server uses,
// compared with an uncached one (ttl 0). The cache must never let a wrong secret, a revoked token or an
// unknown id through, and a revocation through the Authenticator takes effect at once.
#include "api/auth.h"

#include <gtest/gtest.h>

#include <thread>

#include "db/sqlite_store.h"
#include "tests/support/softhsm_token.h"

namespace keymgr::testing {
namespace {
using namespace std::chrono_literals;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("km-auth");
    auto s = db::open_sqlite_store(dir_ + "/keymgr.db");
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(*s);
    tokens_ = std::make_unique<ApiTokenService>(*store_, clock_);
  }
  void TearDown() override {
    tokens_.reset();
    store_.reset();
    remove_tree(dir_);
  }
  api::NewApiToken make(api::Role role, std::vector<std::string> keysets = {}) {
    auto t = tokens_->create("t" + std::to_string(++n_), role, keysets, "test");
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return *t;
  }
  static std::string bearer(const std::string& t) { return "Bearer " + t; }

  std::string dir_;
  SystemClock clock_;
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<ApiTokenService> tokens_;
  int n_ = 0;
};

TEST_F(AuthTest, UncachedAndCachedAgreeOnEveryCase) {
  api::Authenticator uncached(*tokens_, 0ms);
  api::Authenticator cached(*tokens_, 10s);
  const auto issuer = make(api::Role::kAuditor);
  std::string wrong_secret = issuer.token;
  wrong_secret.back() = wrong_secret.back() == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, bool>> cases = {
      {bearer(issuer.token), true},
      {bearer(wrong_secret), false},  // after the good one is cached: the secret is still checked
      {issuer.token, false},          // no "Bearer "
      {"Bearer km_" + issuer.record.id, false},
      {"Bearer km_ffffffffffffffff_" + std::string(43, 'A'), false},
      {"Bearer " + std::string(200, 'k'), false},
      {"", false},
  };
  for (int round = 0; round < 2; ++round) {  // the second round is served from the cache
    for (const auto& [header, ok] : cases) {
      auto a = uncached.authenticate(header);
      auto b = cached.authenticate(header);
      EXPECT_EQ(a.ok(), ok) << header;
      EXPECT_EQ(b.ok(), ok) << header << " (cached, round " << round << ")";
      if (!ok) {
        EXPECT_EQ(b.status().code(), ErrorCode::kUnauthenticated);
      }
    }
  }
  auto p = cached.authenticate(bearer(issuer.token));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->role, api::Role::kAuditor);
  EXPECT_EQ(p->token_id, issuer.record.id);
}

TEST_F(AuthTest, RevocationThroughTheAuthenticatorIsImmediate) {
  api::Authenticator cached(*tokens_, 1h);
  const auto t = make(api::Role::kAdmin);
  ASSERT_TRUE(cached.authenticate(bearer(t.token)).ok());  // now cached for an hour
  ASSERT_TRUE(cached.revoke(t.record.id, "test").ok());
  EXPECT_EQ(cached.authenticate(bearer(t.token)).status().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(cached.revoke("ffffffffffffffff", "test").code(), ErrorCode::kNotFound);
}

TEST_F(AuthTest, RevocationByAnotherWriterTakesEffectWithinTheTtl) {
  api::Authenticator cached(*tokens_, 100ms);
  const auto t = make(api::Role::kOps);
  ASSERT_TRUE(cached.authenticate(bearer(t.token)).ok());
  // As the CLI does from another process: its own ApiTokenService on the same database.
  ApiTokenService cli(*store_, clock_);
  ASSERT_TRUE(cli.revoke(t.record.id, "cli").ok());
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(cached.authenticate(bearer(t.token)).status().code(), ErrorCode::kUnauthenticated);
}

TEST_F(AuthTest, TheCacheIsBoundedAndConcurrentUseIsSafe) {
  api::Authenticator cached(*tokens_, 10s, /*max_entries=*/3);
  std::vector<api::NewApiToken> toks;
  for (int i = 0; i < 6; ++i) toks.push_back(make(api::Role::kAuditor));
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) ok += cached.authenticate(bearer(toks[(i + t) % toks.size()].token)).ok() ? 1 : 0;
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(ok.load(), 4 * 300);
}

}  // namespace
}  // namespace keymgr::testing
