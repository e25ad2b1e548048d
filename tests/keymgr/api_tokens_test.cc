// keymgr/api_tokens.h: the rules for API tokens and the ledger entries their changes leave, and
// keymgr/readiness.h: what makes an instance not ready. FakeHsm over a real SQLite file.
#include "keymgr/api_tokens.h"

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "keymgr/readiness.h"
#include "tests/keymgr/env.h"

namespace keymgr::testing {
namespace {
using nlohmann::json;

std::vector<db::LedgerEntry> lifecycle_events(db::Store& store, const std::string& event) {
  db::LedgerQuery q;
  q.kind = "lifecycle";
  auto page = store.query_ledger(q);
  EXPECT_TRUE(page.ok()) << page.status().to_string();
  std::vector<db::LedgerEntry> out;
  if (page.ok()) {
    for (const auto& e : page->entries) {
      if (e.event == event) out.push_back(e);
    }
  }
  return out;
}

TEST(ApiTokenService, CreateStoresOnlyTheHashAndRecordsWhoCreatedIt) {
  Env env(Backend::kFake);
  env.create("web");
  ApiTokenService svc(*env.store, env.clock);
  auto t = svc.create("ci", Role::kIssuer, {"web"}, "cli:alice@host");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->token.rfind("km_" + t->record.id + "_", 0), 0u) << t->token;
  auto rec = svc.find(t->record.id);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->role, "issuer");
  EXPECT_EQ(rec->keysets, std::vector<std::string>{"web"});
  EXPECT_EQ(rec->secret_hash.size(), 32u);
  EXPECT_EQ(t->token.find(hex_encode(rec->secret_hash)), std::string::npos);
  auto created = lifecycle_events(*env.store, "api_token_created");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].actor, "cli:alice@host");
  const json d = json::parse(created[0].detail);
  EXPECT_EQ(d["token_id"], t->record.id);
  EXPECT_EQ(d["role"], "issuer");
  EXPECT_EQ(d["keysets"], json::array({"web"}));
  EXPECT_EQ(created[0].ts_ms, to_unix_millis(env.clock.now()));
}

TEST(ApiTokenService, RefusesBadNamesAndBindings) {
  Env env(Backend::kFake);
  env.create("web");
  ApiTokenService svc(*env.store, env.clock);
  EXPECT_EQ(svc.create("", Role::kAdmin, {}, "t").status().reason(), "bad_token_name");
  EXPECT_EQ(svc.create(std::string(65, 'n'), Role::kAdmin, {}, "t").status().reason(), "bad_token_name");
  EXPECT_EQ(svc.create("i", Role::kIssuer, {}, "t").status().reason(), "issuer_unbound");
  EXPECT_EQ(svc.create("o", Role::kOps, {"web"}, "t").status().reason(), "bad_binding");
  EXPECT_EQ(svc.create("i", Role::kIssuer, {"web", "nope"}, "t").status().reason(), "keyset_not_found");
  auto list = svc.list();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty()) << "a refused token was stored";
  EXPECT_TRUE(lifecycle_events(*env.store, "api_token_created").empty());
}

TEST(ApiTokenService, RevokeMarksTheRecordAndRecordsIt) {
  Env env(Backend::kFake);
  ApiTokenService svc(*env.store, env.clock);
  auto t = svc.create("ops", Role::kOps, {}, "admin#1");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(svc.revoke(t->record.id, "admin#1").ok());
  auto rec = svc.find(t->record.id);
  ASSERT_TRUE(rec.ok());
  ASSERT_TRUE(rec->revoked_at.has_value());
  EXPECT_EQ(*rec->revoked_at, to_unix_seconds(env.clock.now()));
  auto revoked = lifecycle_events(*env.store, "api_token_revoked");
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_EQ(json::parse(revoked[0].detail)["token_id"], t->record.id);
  EXPECT_EQ(svc.revoke("ffffffffffffffff", "admin#1").code(), ErrorCode::kNotFound);
  EXPECT_EQ(svc.find("ffffffffffffffff").status().code(), ErrorCode::kNotFound);
}

TEST(ApiTokenService, RoleNamesRoundTrip) {
  for (Role r : {Role::kAdmin, Role::kOps, Role::kIssuer, Role::kAuditor}) EXPECT_EQ(parse_role(role_name(r)), r);
  EXPECT_EQ(role_name(Role::kAuditor), "auditor");
  EXPECT_FALSE(parse_role("root").has_value());
}

TEST(ReadinessService, NotReadyWhileTheHsmIsDownThenReadyAgain) {
  Env env(Backend::kFake);
  env.create("web");
  ReadinessService readiness(*env.hsm, *env.store, *env.keys);
  Readiness r = readiness.check();
  EXPECT_TRUE(r.ready()) << r.hsm.to_string() << " " << r.database.to_string();
  EXPECT_TRUE(r.failing_keysets.empty());
  env.fake->set_unavailable(true);
  r = readiness.check();
  EXPECT_FALSE(r.ready());
  EXPECT_EQ(r.hsm.code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(r.database.ok());
  env.fake->set_unavailable(false);
  EXPECT_TRUE(readiness.check().ready());
}

}  // namespace
}  // namespace keymgr::testing
