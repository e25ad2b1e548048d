// The store conformance suite, part 6: alerts and their delivery outbox (db/store.h raise_alert …
// alert_stats) — an alert is written with its evidence and its deliveries in one transaction, a
// repeat of the incident counts on the same alert, and deliveries are claimed by one dispatcher
// at a time and retried until they are done.
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "db/alert_cursor.h"
#include "tests/db/store_conformance.h"
#include "tests/db/test_records.h"

namespace keymgr::db::testing {
namespace {

AlertRecord alert(const std::string& id, int64_t ts_ms, const std::string& severity = "critical",
                  const std::string& keyset = "web") {
  AlertRecord a;
  a.id = id;
  a.ts_ms = ts_ms;
  a.kind = severity == "critical" ? "leak_suspected" : "unknown_kid_probe";
  a.severity = severity;
  a.keyset = keyset;
  a.kid = "kid-1";
  a.summary = "a token signed by kid-1 is not in the ledger";
  a.evidence = R"({"token_sha256":"ab"})";
  return a;
}

LedgerEntry evidence(int64_t ts_ms) {
  LedgerEntry e = lifecycle_entry("alert_raised", "kid-1", ts_ms);
  e.kind = "alert";
  return e;
}

TEST_P(StoreConformance, AnAlertIsStoredWithItsEvidenceAndDeliveriesAndARepeatCountsOnIt) {
  auto s = open();
  ASSERT_TRUE(s);
  auto r = s->raise_alert(alert("a1", 1000), evidence(1000), {"ops-hook", "siem"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(*r);
  auto again = s->raise_alert(alert("a1", 5000), evidence(5000), {"ops-hook", "siem"});
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_FALSE(*again);

  auto got = s->get_alert("a1");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->occurrences, 2);
  EXPECT_EQ(got->ts_ms, 1000);
  EXPECT_EQ(got->last_seen_ms, 5000);
  EXPECT_EQ(got->kind, "leak_suspected");
  EXPECT_EQ(got->evidence, R"({"token_sha256":"ab"})");
  EXPECT_FALSE(got->acked_at_ms.has_value());
  // Every detection is evidence in the ledger; deliveries only for the first.
  EXPECT_EQ(*s->ledger_size(), 2);
  LedgerQuery q;
  q.kind = "alert";
  EXPECT_EQ(s->query_ledger(q)->entries.size(), 2u);
  auto deliveries = s->list_alert_deliveries("a1");
  ASSERT_TRUE(deliveries.ok());
  ASSERT_EQ(deliveries->size(), 2u);
  EXPECT_EQ((*deliveries)[0].sink, "ops-hook");
  EXPECT_EQ((*deliveries)[1].sink, "siem");
  EXPECT_EQ(s->get_alert("nope").status().reason(), "alert_not_found");

  auto stats = s->alert_stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->open_critical, 1);
  EXPECT_EQ(stats->deliveries_pending, 2);
  EXPECT_EQ(stats->oldest_pending_ms, 1000);
}

TEST_P(StoreConformance, AlertsSurviveReopenAndAcknowledgementIsRecordedOnce) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->raise_alert(alert("a1", 1000), evidence(1000), {"hook"}).ok());
  }
  auto s = open();
  ASSERT_TRUE(s);
  LedgerEntry ack = lifecycle_entry("alert_acknowledged", "kid-1", 2000);
  ack.kind = "alert";
  ASSERT_TRUE(s->ack_alert("a1", "ops-alice", "rotated the key", 2000, ack).ok());
  auto got = s->get_alert("a1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->acked_at_ms, 2000);
  EXPECT_EQ(got->acked_by, "ops-alice");
  EXPECT_EQ(got->ack_reason, "rotated the key");
  const int64_t size = *s->ledger_size();
  EXPECT_EQ(s->ack_alert("a1", "bob", "again", 3000, ack).reason(), "already_acknowledged");
  EXPECT_EQ(s->ack_alert("zz", "bob", "x", 3000, ack).reason(), "alert_not_found");
  EXPECT_EQ(*s->ledger_size(), size) << "a refused acknowledgement writes nothing";
  EXPECT_EQ(s->alert_stats()->open_critical, 0);
}

TEST_P(StoreConformance, AlertListFiltersAndPagesNewestFirst) {
  auto s = open();
  ASSERT_TRUE(s);
  for (int i = 0; i < 25; ++i) {
    const std::string sev = i % 5 == 0 ? "critical" : "warning";
    // Two alerts per timestamp: the cursor must order by id within one ts.
    ASSERT_TRUE(s->raise_alert(alert("id" + std::to_string(100 + i), 1000 + i / 2, sev, i % 2 ? "api" : "web"),
                               evidence(1000), {})
                    .ok());
  }
  std::vector<std::string> seen;
  AlertQuery q;
  q.limit = 7;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = s->list_alerts(q);
    ASSERT_TRUE(page.ok()) << page.status().to_string();
    for (const auto& a : page->alerts) seen.push_back(a.id);
    if (!page->next_cursor) break;
    q.before = *page->next_cursor;
  }
  ASSERT_EQ(seen.size(), 25u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], "id" + std::to_string(124 - i));

  AlertQuery crit;
  crit.severity = "critical";
  EXPECT_EQ(s->list_alerts(crit)->alerts.size(), 5u);
  AlertQuery api;
  api.keyset = "api";
  api.from_ms = 1006;
  auto a = s->list_alerts(api);
  ASSERT_TRUE(a.ok());
  for (const auto& x : a->alerts) {
    EXPECT_EQ(x.keyset, "api");
    EXPECT_GE(x.ts_ms, 1006);
  }
  EXPECT_EQ(a->alerts.size(), 6u);  // odd i with 1000 + i / 2 >= 1006: 13, 15, ..., 23
  LedgerEntry ack = evidence(1);
  ASSERT_TRUE(s->ack_alert("id100", "ops", "seen", 5, ack).ok());
  AlertQuery open_only;
  open_only.acknowledged = false;
  EXPECT_EQ(s->list_alerts(open_only)->alerts.size(), 24u);
  AlertQuery acked;
  acked.acknowledged = true;
  EXPECT_EQ(s->list_alerts(acked)->alerts.size(), 1u);
  AlertQuery bad;
  bad.before = "12:x;DROP TABLE alerts";
  EXPECT_EQ(s->list_alerts(bad).status().reason(), "bad_cursor");
}

TEST_P(StoreConformance, DeliveriesAreClaimedOnceRetriedAfterFailureOrExpiredClaimAndFinished) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->raise_alert(alert("a1", 1000), evidence(1000), {"hook"}).ok());
  ASSERT_TRUE(s->raise_alert(alert("a2", 1001), evidence(1001), {"hook"}).ok());
  EXPECT_TRUE(s->claim_alert_deliveries(999, 30000, 10)->empty()) << "nothing is due before its alert";

  auto first = s->claim_alert_deliveries(2000, 30000, 10);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].first.alert_id, "a1");
  EXPECT_EQ((*first)[0].second.summary, "a token signed by kid-1 is not in the ledger");
  EXPECT_EQ((*first)[0].first.attempts, 1);
  // Claimed: a second dispatcher (another instance) gets nothing until the claim runs out.
  auto other = open();
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->claim_alert_deliveries(2001, 30000, 10)->empty());

  ASSERT_TRUE(s->finish_alert_delivery("a1", "hook", true, 2100, 0, "").ok());
  ASSERT_TRUE(s->finish_alert_delivery("a2", "hook", false, 2100, 4000, "HTTP 500").ok());
  auto d2 = s->list_alert_deliveries("a2");
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ((*d2)[0].last_error, "HTTP 500");
  EXPECT_EQ((*d2)[0].next_attempt_ms, 4000);
  EXPECT_TRUE(other->claim_alert_deliveries(3999, 30000, 10)->empty());
  auto retry = other->claim_alert_deliveries(4000, 30000, 10);
  ASSERT_TRUE(retry.ok());
  ASSERT_EQ(retry->size(), 1u);
  EXPECT_EQ((*retry)[0].first.alert_id, "a2");
  EXPECT_EQ((*retry)[0].first.attempts, 2);
  // The dispatcher holding it dies: the claim runs out and another takes it.
  auto taken = s->claim_alert_deliveries(4000 + 30000, 30000, 10);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].first.attempts, 3);
  ASSERT_TRUE(s->finish_alert_delivery("a2", "hook", true, 40000, 0, "").ok());
  // A late failure report of the dead dispatcher does not undo the delivery.
  ASSERT_TRUE(other->finish_alert_delivery("a2", "hook", false, 40001, 50000, "timeout").ok());
  EXPECT_TRUE(s->claim_alert_deliveries(1'000'000, 30000, 10)->empty());
  auto stats = s->alert_stats();
  EXPECT_EQ(stats->deliveries_pending, 0);
  EXPECT_FALSE(stats->oldest_pending_ms.has_value());
  auto d1 = s->list_alert_deliveries("a1");
  EXPECT_EQ((*d1)[0].delivered_at_ms, 2100);
}

TEST_P(StoreConformance, ConcurrentDispatchersNeverClaimOneDeliveryTwice) {
  auto s1 = open();
  auto s2 = open();
  ASSERT_TRUE(s1 && s2);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(s1->raise_alert(alert("c" + std::to_string(i), 1000 + i), evidence(1000), {"hook"}).ok());
  }
  std::mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  auto run = [&](Store* st) {
    for (int round = 0; round < 40; ++round) {
      auto r = st->claim_alert_deliveries(100000, 1'000'000, 3);
      if (!r.ok()) {
        ++errors;
        continue;
      }
      std::lock_guard lk(mu);
      for (const auto& [d, a] : *r) claimed.push_back(d.alert_id);
    }
  };
  std::thread t1(run, s1.get()), t2(run, s2.get());
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), claimed.size()) << "a delivery was claimed twice";
  EXPECT_EQ(unique.size(), 40u);
}

TEST_P(StoreConformance, TwoInstancesRaisingOneAlertAtOnceStoreOneAlert) {
  auto s1 = open();
  auto s2 = open();
  ASSERT_TRUE(s1 && s2);
  std::atomic<int> created{0}, errors{0};
  auto run = [&](Store* st) {
    for (int i = 0; i < 20; ++i) {
      auto r = st->raise_alert(alert("same", 1000 + i), evidence(1000 + i), {"hook"});
      if (!r.ok()) ++errors;
      else if (*r) ++created;
    }
  };
  std::thread t1(run, s1.get()), t2(run, s2.get());
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(s1->get_alert("same")->occurrences, 40);
  EXPECT_EQ(s1->list_alert_deliveries("same")->size(), 1u);
}

TEST(AlertCursor, RoundTripsAndRejectsAnythingElse) {
  AlertRecord a;
  a.id = "leak_suspected-0a1B";
  a.ts_ms = 1700000000123;
  auto c = parse_alert_cursor(alert_cursor(a));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->first, a.ts_ms);
  EXPECT_EQ(c->second, a.id);
  for (const char* bad : {"", ":", "1:", ":x", "01:x", "-1:x", "1x:y", "1:x y", "1:x'", "99999999999999999999:x",
                          "1:x:y", "+1:x", "-0:a"}) {
    EXPECT_EQ(parse_alert_cursor(bad).status().reason(), "bad_cursor") << bad;
  }
  EXPECT_EQ(parse_alert_cursor("1:" + std::string(129, 'a')).status().reason(), "bad_cursor");
  EXPECT_TRUE(parse_alert_cursor("0:" + std::string(128, 'a')).ok());
}

// The monitor's first-seen record: the first time wins, for every instance and after restarts.
TEST_P(StoreConformance, FirstSeenKeepsTheFirstTimeAcrossInstances) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  auto first = a->note_first_seen("web", "audience", "https://api", 1000);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(*first, 1000);
  EXPECT_EQ(*b->note_first_seen("web", "audience", "https://api", 2000), 1000) << "recorded once";
  EXPECT_EQ(*a->note_first_seen("web", "audience", "https://api", 500), 1000) << "never moved";
  // Another keyset, kind or value is another record.
  EXPECT_EQ(*b->note_first_seen("api", "audience", "https://api", 3000), 3000);
  EXPECT_EQ(*b->note_first_seen("web", "address", "https://api", 3100), 3100);
  EXPECT_EQ(*a->note_first_seen("web", "audience", "https://api2", 3200), 3200);
  EXPECT_EQ(*a->note_first_seen("web", "audience", "", 3300), 3300) << "the empty value is a value";
  // Concurrent first sightings of one value: every caller gets the same time.
  std::vector<std::thread> threads;
  std::vector<int64_t> got(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = (t % 2 == 0 ? a : b)->note_first_seen("web", "api_token", "ops#t1", 5000 + t);
      got[static_cast<size_t>(t)] = r.ok() ? *r : -1;
    });
  }
  for (auto& th : threads) th.join();
  for (int64_t g : got) EXPECT_EQ(g, got[0]);
  EXPECT_GE(got[0], 5000);
  EXPECT_LT(got[0], 5008);
}

}  // namespace
}  // namespace keymgr::db::testing
