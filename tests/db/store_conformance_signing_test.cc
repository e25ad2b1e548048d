// The store conformance suite, part 5: the sign-time rule (Store::append_signature,
// db/signing_admission.h). A signature is recorded only if its key may sign as committed, in the
// same transaction; that is what keeps a suspended or compromised key from signing on an instance
// whose cache has not caught up yet.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <tuple>
#include <thread>
#include <vector>

#include "tests/db/store_conformance.h"
#include "tests/db/test_records.h"

namespace keymgr::db::testing {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kNow = 1700000500;  // Unix seconds; the key signs in [1700000000, 1700001000)

KeyRecord active_key(int64_t keyset_id, const std::string& kid) {
  KeyRecord k;
  k.hsm_id = "h-" + kid;
  k.kid = kid;
  k.keyset_id = keyset_id;
  k.alg = "ES256";
  k.state = "active";
  k.public_jwk = "{}";
  k.created_at = 1699990000;
  k.activate_at = 1700000000;
  k.deactivate_at = 1700001000;
  k.retire_at = 1700002000;
  k.destroy_at = 1700003000;
  k.state_changed_at = 1700000000;
  k.note = "";
  return k;
}

LedgerEntry signature(const std::string& keyset, const std::string& kid, const std::string& jti,
                      int64_t ts_ms = kNow * 1000) {
  LedgerEntry e = sign_entry(kid, jti, ts_ms);
  e.keyset = keyset;
  return e;
}

void expect_refused(const Result<int64_t>& r, const std::string& why_contains) {
  ASSERT_FALSE(r.ok()) << "admitted; expected a refusal mentioning '" << why_contains << "'";
  EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition) << r.status().to_string();
  EXPECT_EQ(r.status().reason(), "key_not_signing") << r.status().to_string();
  EXPECT_NE(r.status().message().find(why_contains), std::string::npos) << r.status().message();
}

TEST_P(StoreConformance, ASignatureIsRecordedOnlyWhileItsKeyMaySignAsCommitted) {
  auto s = open();
  ASSERT_TRUE(s);
  const int64_t web = add_keyset(*s, "web", "https://web");
  const int64_t api = add_keyset(*s, "api", "https://api");
  KeyRecord k = active_key(web, "kid-web");
  ChangeSet add;
  add.key_inserts = {k, active_key(api, "kid-api")};
  ASSERT_TRUE(s->apply(add).ok());
  const int64_t size0 = *s->ledger_size();

  // Admitted: an active key of that keyset, inside its window (both edges).
  EXPECT_TRUE(s->append_signature(signature("web", "kid-web", "ok-1")).ok());
  EXPECT_TRUE(s->append_signature(signature("web", "kid-web", "ok-2", 1700000000 * 1000LL)).ok());
  EXPECT_TRUE(s->append_signature(signature("web", "kid-web", "ok-3", 1700001000 * 1000LL - 1)).ok());

  // Refused, and nothing written: unknown key, the wrong keyset, outside the window.
  expect_refused(s->append_signature(signature("web", "kid-nobody", "no-1")), "no such key");
  expect_refused(s->append_signature(signature("web", "kid-api", "no-2")), "belongs to keyset 'api'");
  expect_refused(s->append_signature(signature("web", "kid-web", "no-3", 1700000000 * 1000LL - 1)), "not begun");
  expect_refused(s->append_signature(signature("web", "kid-web", "no-4", 1700001000 * 1000LL)), "has ended");

  // Suspended through another instance (another Store on the database): refused at once, whatever
  // the signer's own view.
  auto other = open();
  ASSERT_TRUE(other);
  KeyRecord suspended = k;
  suspended.state = "suspended";
  ChangeSet sus;
  sus.key_updates = {suspended};
  ASSERT_TRUE(other->apply(sus).ok());
  expect_refused(s->append_signature(signature("web", "kid-web", "no-5")), "it is suspended");
  // Resumed: admitted again.
  ChangeSet res;
  res.key_updates = {k};
  ASSERT_TRUE(other->apply(res).ok());
  EXPECT_TRUE(s->append_signature(signature("web", "kid-web", "ok-4")).ok());

  // A disabled keyset signs nothing.
  KeysetRecord off = *other->get_keyset("web");
  off.disabled = true;
  ChangeSet dis;
  dis.keyset_upserts = {off};
  ASSERT_TRUE(other->apply(dis).ok());
  expect_refused(s->append_signature(signature("web", "kid-web", "no-6")), "disabled");

  // append_ledger() is not checked (lifecycle entries, refusals, imports).
  EXPECT_TRUE(s->append_ledger(sign_entry("kid-nobody", "plain", kNow * 1000, 2000000000, "refused")).ok());

  settle(*s);
  EXPECT_EQ(*s->ledger_size(), size0 + 5);
  for (const char* jti : {"no-1", "no-2", "no-3", "no-4", "no-5", "no-6"}) {
    LedgerQuery q;
    q.jti = jti;
    auto page = s->query_ledger(q);
    ASSERT_TRUE(page.ok());
    EXPECT_TRUE(page->entries.empty()) << jti << " was written";
  }
  expect_chain_ok(*s, size0 + 5);
}

// The exactness the rule exists for: signers on one Store, a compromise applied through another.
// Every signature whose append_signature() call began after apply() returned is refused; each
// signature that was admitted is in the ledger once.
TEST_P(StoreConformance, NoSignatureIsAdmittedAfterACompromiseHasBeenApplied) {
  auto signer = open();
  auto ops = open();
  ASSERT_TRUE(signer && ops);
  const int64_t web = add_keyset(*ops, "web", "https://web");
  KeyRecord k = active_key(web, "kid-web");
  ChangeSet add;
  add.key_inserts = {k};
  ASSERT_TRUE(ops->apply(add).ok());

  std::atomic<bool> compromised{false}, stop{false};
  std::atomic<int> admitted{0}, admitted_after{0}, refused{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        const bool after = compromised.load();  // read before the call begins
        auto r = signer->append_signature(signature("web", "kid-web", "t" + std::to_string(t) + "-" + std::to_string(i)));
        if (r.ok()) {
          ++admitted;
          if (after) ++admitted_after;
        } else if (r.status().reason() == "key_not_signing") {
          ++refused;
        } else {
          ++errors;
        }
      }
    });
  }
  while (admitted.load() < 200) std::this_thread::sleep_for(1ms);
  KeyRecord c = k;
  c.state = "compromised";
  c.compromised_since = kNow - 60;
  ChangeSet comp;
  comp.key_updates = {c};
  comp.ledger = {lifecycle_entry("key_compromised", "kid-web", kNow * 1000)};
  ASSERT_TRUE(ops->apply(comp).ok());
  compromised.store(true);
  while (refused.load() < 200) std::this_thread::sleep_for(1ms);
  stop.store(true);
  for (auto& th : threads) th.join();

  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted_after.load(), 0) << "a signature was recorded after the compromise had been applied";
  LedgerQuery q;
  q.kid = "kid-web";
  q.outcome = "ok";
  q.kind = "sign";
  settle(*signer);
  int64_t in_ledger = 0, last_signature_seq = 0;
  ASSERT_TRUE(signer
                  ->export_ledger(q,
                                  [&](const LedgerEntry& e) {
                                    ++in_ledger;
                                    last_signature_seq = std::max(last_signature_seq, e.seq);
                                    return true;
                                  })
                  .ok());
  EXPECT_EQ(in_ledger, admitted.load());
  // In the ledger's own order too: no signature with the key follows its compromise (a signature
  // read as admissible before the compromise committed must not be written after it).
  LedgerQuery cq;
  cq.kind = "lifecycle";
  cq.kid = "kid-web";
  auto cp = signer->query_ledger(cq);
  ASSERT_TRUE(cp.ok());
  ASSERT_EQ(cp->entries.size(), 1u);
  ASSERT_EQ(cp->entries[0].event, "key_compromised");
  EXPECT_LT(last_signature_seq, cp->entries[0].seq);
  expect_chain_ok(*signer, *signer->ledger_size());
}

// Every recorded signature counts in its key's usage, in the same transaction; refused ones do not.
TEST_P(StoreConformance, KeyUsageCountsRecordedSignaturesOnly) {
  auto s = open();
  ASSERT_TRUE(s);
  const int64_t web = add_keyset(*s, "web", "https://web");
  ChangeSet add;
  add.key_inserts = {active_key(web, "kid-a"), active_key(web, "kid-b")};
  ASSERT_TRUE(s->apply(add).ok());
  auto none = s->key_usage({"kid-a", "kid-b", "kid-nobody"});
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty()) << "a key that never signed has no usage";

  ASSERT_TRUE(s->append_signature(signature("web", "kid-a", "a1", kNow * 1000)).ok());
  ASSERT_TRUE(s->append_signature(signature("web", "kid-a", "a2", kNow * 1000 + 250)).ok());
  ASSERT_TRUE(s->append_signature(signature("web", "kid-b", "b1", kNow * 1000 + 100)).ok());
  // Refused (outside the window) and plain ledger entries: not counted.
  ASSERT_FALSE(s->append_signature(signature("web", "kid-b", "b2", 1700001000 * 1000LL)).ok());
  ASSERT_TRUE(s->append_ledger(lifecycle_entry("key_generated", "kid-b", kNow * 1000 + 900)).ok());

  // A second store on the same database (another instance, or after a restart) reads the same.
  auto other = open();
  ASSERT_TRUE(other);
  auto u = other->key_usage({"kid-a", "kid-b"});
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  ASSERT_EQ(u->size(), 2u);
  std::map<std::string, KeyUsage> by;
  for (const auto& x : *u) by[x.kid] = x;
  EXPECT_EQ(by["kid-a"].signatures, 2);
  EXPECT_EQ(by["kid-a"].last_signed_ms, kNow * 1000 + 250);
  EXPECT_EQ(by["kid-b"].signatures, 1);
  EXPECT_EQ(by["kid-b"].last_signed_ms, kNow * 1000 + 100);

  // Per hour: kNow is 1700000500 s, in the hour starting at 1699999200 s (the keys sign until
  // 1700001000 s, in that hour too).
  ASSERT_TRUE(s->append_signature(signature("web", "kid-a", "a3", 1700000900 * 1000LL)).ok());
  auto hours = other->key_usage_hours({"kid-a", "kid-b"}, 0, 2'000'000'000'000);
  ASSERT_TRUE(hours.ok()) << hours.status().to_string();
  std::vector<std::tuple<std::string, int64_t, int64_t>> got;
  for (const auto& h : *hours) got.emplace_back(h.kid, h.hour_ms, h.signatures);
  std::sort(got.begin(), got.end());
  const std::vector<std::tuple<std::string, int64_t, int64_t>> want = {{"kid-a", 1699999200000, 3},
                                                                        {"kid-b", 1699999200000, 1}};
  EXPECT_EQ(got, want);
  // [from, to) on hour starts.
  EXPECT_EQ(s->key_usage_hours({"kid-a"}, 1699999200000, 1699999200001)->size(), 1u);
  EXPECT_TRUE(s->key_usage_hours({"kid-a"}, 1699999200001, 1800000000000)->empty());
  EXPECT_TRUE(s->key_usage_hours({"kid-a"}, 0, 1699999200000)->empty());
}

// policy.max_signatures as the store enforces it: entry.usage_limit. Under concurrent signers on
// two stores (two instances), exactly `limit` signatures are recorded, every other one is refused
// with key_usage_exhausted, and the usage agrees with the ledger.
TEST_P(StoreConformance, AUsageLimitIsExactAcrossInstancesUnderConcurrency) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  const int64_t web = add_keyset(*a, "web", "https://web");
  ChangeSet add;
  add.key_inserts = {active_key(web, "kid-web"), active_key(web, "kid-free")};
  ASSERT_TRUE(a->apply(add).ok());
  constexpr int64_t kLimit = 150;
  std::atomic<int> admitted{0}, exhausted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Store& s = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < 40; ++i) {
        LedgerEntry e = signature("web", "kid-web", "t" + std::to_string(t) + "-" + std::to_string(i));
        e.usage_limit = kLimit;
        auto r = s.append_signature(std::move(e));
        // A signature of another key in the same group commits: never limited by kid-web's.
        LedgerEntry f = signature("web", "kid-free", "f" + std::to_string(t) + "-" + std::to_string(i));
        if (!s.append_signature(std::move(f)).ok()) ++errors;
        if (r.ok()) {
          ++admitted;
        } else if (r.status().reason() == "key_usage_exhausted") {
          EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition);
          ++exhausted;
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
  EXPECT_EQ(exhausted.load(), 8 * 40 - kLimit);
  settle(*a);
  LedgerQuery q;
  q.kid = "kid-web";
  q.outcome = "ok";
  q.kind = "sign";
  int64_t in_ledger = 0;
  ASSERT_TRUE(a->export_ledger(q, [&](const LedgerEntry&) { return ++in_ledger > 0; }).ok());
  EXPECT_EQ(in_ledger, kLimit);
  auto u = b->key_usage({"kid-web", "kid-free"});
  ASSERT_TRUE(u.ok());
  ASSERT_EQ(u->size(), 2u);
  for (const auto& x : *u) EXPECT_EQ(x.signatures, x.kid == "kid-web" ? kLimit : 8 * 40) << x.kid;
  // A higher limit (a policy change) admits again; a lower one refuses at once.
  LedgerEntry more = signature("web", "kid-web", "more");
  more.usage_limit = kLimit + 1;
  EXPECT_TRUE(a->append_signature(std::move(more)).ok());
  LedgerEntry less = signature("web", "kid-web", "less");
  less.usage_limit = 10;
  EXPECT_EQ(b->append_signature(std::move(less)).status().reason(), "key_usage_exhausted");
  expect_chain_ok(*a, *a->ledger_size());
}

}  // namespace
}  // namespace keymgr::db::testing
