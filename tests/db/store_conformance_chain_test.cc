// The store conformance suite, part 2: tamper evidence. Edit the database behind the store's back
// and check that verify_chain() names the first bad seq and the kind of damage (docs/ledger.md).
// Runs against every backend (see store_conformance.h).
#include "db/ledger_hash.h"
#include "tests/db/store_conformance.h"
#include "tests/db/test_records.h"

namespace keymgr::db::testing {
namespace {

TEST_P(LedgerChainConformance, IntactChainVerifies) {
  auto rep = verify();
  EXPECT_TRUE(rep.ok) << rep.problem;
  EXPECT_EQ(rep.entries, 10);
  EXPECT_EQ(rep.head.size(), 32u);
  EXPECT_FALSE(rep.first_bad_seq.has_value());
}

TEST_P(LedgerChainConformance, EditedFieldIsReportedAsAltered) {
  backend().exec_sql("UPDATE ledger SET sub = 'mallory' WHERE seq = 6");
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 6);
  EXPECT_EQ(rep.problem.rfind("altered", 0), 0u) << rep.problem;
}

TEST_P(LedgerChainConformance, EditedTimestampIsReportedAsAltered) {
  backend().exec_sql("UPDATE ledger SET ts_ms = ts_ms + 1 WHERE seq = 1");
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 1);
  EXPECT_EQ(rep.problem.rfind("altered", 0), 0u) << rep.problem;
}

TEST_P(LedgerChainConformance, ForgedEntryWithRecomputedHashBreaksTheNextLink) {
  // An attacker who recomputes the edited entry's own hash still cannot fix the successor's link.
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto page = s->query_ledger(LedgerQuery{.jti = "j4"});
    ASSERT_TRUE(page.ok());
    LedgerEntry e = page->entries.at(0);
    e.sub = "mallory";
    Bytes forged = ledger_entry_hash(e.prev_hash, e);
    backend().exec_sql("UPDATE ledger SET sub = 'mallory', hash = " + backend().bytes_literal(forged) + " WHERE seq = 4");
  }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 5);
  EXPECT_NE(rep.problem.find("altered (prev_hash"), std::string::npos) << rep.problem;
}

TEST_P(LedgerChainConformance, DeletedMiddleEntryIsReportedAsRemoved) {
  backend().exec_sql("DELETE FROM ledger WHERE seq = 5");
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 6);  // the first entry whose seq is not previous + 1
  EXPECT_EQ(rep.problem.rfind("removed", 0), 0u) << rep.problem;
  EXPECT_NE(rep.problem.find("expected seq 5"), std::string::npos) << rep.problem;
}

TEST_P(LedgerChainConformance, SwappedEntriesAreReportedAsReordered) {
  // Swap every column but seq of entries 3 and 7 (content and stored hashes move together).
  const std::string cols = "ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp, "
                           "token_sha256, outcome, reason, detail, prev_hash, hash";
  backend().exec_sql("CREATE TEMP TABLE t AS SELECT * FROM ledger WHERE seq IN (3, 7); "
                     "UPDATE ledger SET (" + cols + ") = (SELECT " + cols + " FROM t WHERE t.seq = 10 - ledger.seq) "
                     "WHERE seq IN (3, 7)");
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 3);
  EXPECT_EQ(rep.problem.rfind("reordered", 0), 0u) << rep.problem;
}

TEST_P(LedgerChainConformance, SwappedContentOnlyIsReportedAsReordered) {
  // Swap only the content, leaving the stored prev_hash/hash in place.
  const std::string cols = "ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp, "
                           "token_sha256, outcome, reason, detail";
  backend().exec_sql("CREATE TEMP TABLE t AS SELECT * FROM ledger WHERE seq IN (2, 9); "
                     "UPDATE ledger SET (" + cols + ") = (SELECT " + cols + " FROM t WHERE t.seq = 11 - ledger.seq) "
                     "WHERE seq IN (2, 9)");
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 2);
  EXPECT_EQ(rep.problem.rfind("reordered", 0), 0u) << rep.problem;
}

TEST_P(LedgerChainConformance, TruncationBelowCheckpointIsReported) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto head = s->ledger_head();
    ASSERT_TRUE(head.ok());
    ASSERT_TRUE(s->add_checkpoint(LedgerCheckpoint{head->seq, head->hash, 1, "audit", "ES256", Bytes{9}}).ok());
  }
  // The remaining prefix is a perfectly valid chain: only the checkpoint can tell.
  backend().exec_sql("DELETE FROM ledger WHERE seq > 7");
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 8);
  EXPECT_EQ(rep.entries, 7);
  EXPECT_EQ(rep.problem.rfind("truncated", 0), 0u) << rep.problem;
}

TEST_P(LedgerChainConformance, RewrittenHistoryUnderCheckpointIsReported) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto head = s->ledger_head();
    ASSERT_TRUE(head.ok());
    ASSERT_TRUE(s->add_checkpoint(LedgerCheckpoint{head->seq, head->hash, 1, "audit", "ES256", Bytes{9}}).ok());
  }
  // Rebuild the whole chain consistently with one entry changed: links verify, the checkpoint does not.
  {
    auto s = open();
    ASSERT_TRUE(s);
    std::vector<LedgerEntry> all;
    ASSERT_TRUE(s->export_ledger(LedgerQuery{}, [&](const LedgerEntry& e) {
      all.insert(all.begin(), e);
      return true;
    }).ok());
    s.reset();
    all[2].sub = "mallory";
    Bytes prev = ledger_genesis_hash();
    std::string sql;
    for (auto& e : all) {
      e.hash = ledger_entry_hash(prev, e);
      sql += "UPDATE ledger SET sub = '" + e.sub + "', prev_hash = " + backend().bytes_literal(prev) +
             ", hash = " + backend().bytes_literal(e.hash) + " WHERE seq = " + std::to_string(e.seq) + "; ";
      prev = e.hash;
    }
    backend().exec_sql(sql);
  }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 10);
  EXPECT_EQ(rep.problem.rfind("checkpoint mismatch", 0), 0u) << rep.problem;
}

TEST_P(LedgerChainConformance, TruncationWhileRunningIsReportedWithoutCheckpoint) {
  auto s = open();
  ASSERT_TRUE(s);
  backend().exec_sql("DELETE FROM ledger WHERE seq > 8");
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_FALSE(rep->ok);
  EXPECT_EQ(rep->first_bad_seq, 9);
  EXPECT_EQ(rep->problem.rfind("truncated", 0), 0u) << rep->problem;
}

}  // namespace
}  // namespace keymgr::db::testing
