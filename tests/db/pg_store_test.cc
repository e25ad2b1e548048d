// PostgreSQL-only mechanics that the conformance suite cannot ask of SQLite: change notices
// (db/store.h ChangeFeed, LISTEN/NOTIFY). Real server at KEYMGR_TEST_PG_URL (skips without it, fails
// with KEYMGR_TEST_REQUIRE_PG=1); one fresh schema per test.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "db/pg_store.h"
#include "tests/db/test_records.h"
#include "tests/support/pg_test_db.h"

namespace keymgr::db::testing {
namespace {

using namespace std::chrono_literals;

class PgChangeFeed : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!keymgr::testing::pg_base_url()) {
      if (keymgr::testing::pg_required()) FAIL() << keymgr::testing::pg_unavailable_reason();
      GTEST_SKIP() << keymgr::testing::pg_unavailable_reason();
    }
    ASSERT_TRUE(schema_.ok()) << schema_.error();
  }
  std::unique_ptr<Store> open() {
    auto s = open_postgres_store(schema_.url());
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static ChangeFeed* feed(Store& s) {
    auto* f = dynamic_cast<ChangeFeed*>(&s);
    EXPECT_NE(f, nullptr) << "the PostgreSQL store offers a ChangeFeed";
    return f;
  }
  // Every notice until `deadline` or until `want` has arrived.
  static std::vector<std::string> collect(ChangeFeed& f, std::chrono::milliseconds deadline,
                                          const std::string& want = "") {
    std::vector<std::string> all;
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      auto n = f.wait_for_changes(100ms);
      EXPECT_TRUE(n.ok()) << n.status().to_string();
      if (!n.ok()) break;
      all.insert(all.end(), n->begin(), n->end());
      if (!want.empty() && std::find(all.begin(), all.end(), want) != all.end()) break;
    }
    return all;
  }
  static bool has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  }

  keymgr::testing::PgTestSchema schema_;
};

TEST_F(PgChangeFeed, ACommittedKeysetChangeReachesAnotherStoreAndNothingElseDoes) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ChangeFeed* fb = feed(*b);
  ASSERT_NE(fb, nullptr);
  ASSERT_TRUE(fb->wait_for_changes(0ms).ok());  // listening from here on
  const int64_t id = add_keyset(*a, "web", "https://web");
  auto got = collect(*fb, 5s, "keysets");
  EXPECT_TRUE(has(got, "keysets")) << "no notice for a new keyset";

  // An intent row changes nothing readers see: no notice. Neither does a refused change (rolled
  // back) nor a ledger append.
  KeyRecord intent;
  intent.hsm_id = "h-intent";
  intent.keyset_id = id;
  intent.alg = "ES256";
  intent.state = "generating";
  ChangeSet ci;
  ci.key_inserts = {intent};
  ASSERT_TRUE(a->apply(ci).ok());
  ChangeSet stale;
  stale.expected_versions = {{id, 0}};
  KeysetRecord k = *a->get_keyset("web");
  k.disabled = true;
  stale.keyset_upserts = {k};
  EXPECT_EQ(a->apply(stale).status().reason(), "keyset_changed");
  ASSERT_TRUE(a->append_ledger(sign_entry("kid", "j1", 1000)).ok());
  got = collect(*fb, 500ms);
  EXPECT_TRUE(got.empty()) << "unexpected notice: " << got.front();

  // Another schema on the same database (another deployment) does not wake this one.
  keymgr::testing::PgTestSchema elsewhere;
  ASSERT_TRUE(elsewhere.ok()) << elsewhere.error();
  auto other = open_postgres_store(elsewhere.url());
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  add_keyset(**other, "web", "https://web");
  got = collect(*fb, 500ms);
  EXPECT_TRUE(got.empty()) << "a notice from another schema: " << got.front();
  other->reset();
}

TEST_F(PgChangeFeed, ARevokedApiTokenIsAnnouncedWithItsId) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ChangeFeed* fb = feed(*b);
  ASSERT_NE(fb, nullptr);
  ApiTokenRecord t;
  t.id = "tok1";
  t.name = "ci";
  t.role = "ops";
  t.secret_hash = Bytes(32, 7);
  t.created_at = 1700000000;
  ASSERT_TRUE(a->create_api_token(t, lifecycle_entry("api_token_created", "", 1000)).ok());
  ASSERT_TRUE(fb->wait_for_changes(0ms).ok());
  ASSERT_TRUE(a->revoke_api_token("tok1", 1700000100, lifecycle_entry("api_token_revoked", "", 2000)).ok());
  auto got = collect(*fb, 5s, "api_token:tok1");
  EXPECT_TRUE(has(got, "api_token:tok1"));
}

TEST_F(PgChangeFeed, AListenerWhoseConnectionIsCutSaysSoAndListensAgainOnTheNextCall) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ChangeFeed* fb = feed(*b);
  ASSERT_NE(fb, nullptr);
  ASSERT_TRUE(fb->wait_for_changes(0ms).ok());
  // The server ends the listening session (as a restart or a proxy timeout would).
  // Only this test's listener: other tests on the server listen on their own schemas' channels.
  ASSERT_EQ(schema_.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN \"keymgr." +
                         schema_.name() + "\"'"),
            "");
  bool reported = false;
  for (int i = 0; i < 50 && !reported; ++i) {
    auto r = fb->wait_for_changes(100ms);
    if (!r.ok()) {
      reported = true;
      EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status().to_string();
      EXPECT_EQ(r.status().reason(), "database_unavailable");
    }
  }
  EXPECT_TRUE(reported) << "a cut listener went unnoticed";
  ASSERT_TRUE(fb->wait_for_changes(0ms).ok());  // reconnected and listening again
  add_keyset(*a, "web", "https://web");
  EXPECT_TRUE(has(collect(*fb, 5s, "keysets"), "keysets"));
}

}  // namespace
}  // namespace keymgr::db::testing
