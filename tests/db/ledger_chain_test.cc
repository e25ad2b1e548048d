// Tamper evidence: edit the file behind the store's back with raw SQLite and check that
// verify_chain() names the first bad seq and the kind of damage.
#include "db/ledger_hash.h"
#include "tests/db/db_test_util.h"

namespace keymgr::db {
namespace {

using testing::open_or_die;
using testing::options_for;
using testing::RawDb;
using testing::sign_entry;
using testing::TempDir;

class LedgerChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("km.db");
    auto s = open_or_die(options_for(path_));
    ASSERT_TRUE(s);
    for (int i = 1; i <= 10; ++i) {
      auto seq = s->append_ledger(sign_entry("k" + std::to_string(i % 3), "j" + std::to_string(i), i * 10));
      ASSERT_TRUE(seq.ok());
      ASSERT_EQ(*seq, i);
    }
  }

  ChainReport verify() {
    auto s = open_or_die(options_for(path_));
    EXPECT_TRUE(s);
    if (!s) return {};
    auto r = s->verify_chain();
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : ChainReport{};
  }

  TempDir dir_;
  std::string path_;
};

TEST_F(LedgerChainTest, IntactChainVerifies) {
  auto rep = verify();
  EXPECT_TRUE(rep.ok) << rep.problem;
  EXPECT_EQ(rep.entries, 10);
  EXPECT_EQ(rep.head.size(), 32u);
  EXPECT_FALSE(rep.first_bad_seq.has_value());
}

TEST_F(LedgerChainTest, EditedFieldIsReportedAsAltered) {
  { RawDb raw(path_); raw.exec("UPDATE ledger SET sub = 'mallory' WHERE seq = 6"); }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 6);
  EXPECT_EQ(rep.problem.rfind("altered", 0), 0u) << rep.problem;
}

TEST_F(LedgerChainTest, EditedTimestampIsReportedAsAltered) {
  { RawDb raw(path_); raw.exec("UPDATE ledger SET ts_ms = ts_ms + 1 WHERE seq = 1"); }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 1);
  EXPECT_EQ(rep.problem.rfind("altered", 0), 0u) << rep.problem;
}

TEST_F(LedgerChainTest, ForgedEntryWithRecomputedHashBreaksTheNextLink) {
  // An attacker who recomputes the edited entry's own hash still cannot fix the successor's link.
  {
    auto s = open_or_die(options_for(path_));
    auto page = s->query_ledger(LedgerQuery{.jti = "j4"});
    ASSERT_TRUE(page.ok());
    LedgerEntry e = page->entries.at(0);
    e.sub = "mallory";
    Bytes forged = ledger_entry_hash(e.prev_hash, e);
    RawDb raw(path_);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw.get(), "UPDATE ledger SET sub='mallory', hash=? WHERE seq=4", -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_blob(st, 1, forged.data(), static_cast<int>(forged.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
  }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 5);
  EXPECT_NE(rep.problem.find("altered (prev_hash"), std::string::npos) << rep.problem;
}

TEST_F(LedgerChainTest, DeletedMiddleEntryIsReportedAsRemoved) {
  { RawDb raw(path_); raw.exec("DELETE FROM ledger WHERE seq = 5"); }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 6);  // the first entry whose seq is not previous + 1
  EXPECT_EQ(rep.problem.rfind("removed", 0), 0u) << rep.problem;
  EXPECT_NE(rep.problem.find("expected seq 5"), std::string::npos) << rep.problem;
}

TEST_F(LedgerChainTest, SwappedEntriesAreReportedAsReordered) {
  // Swap every column but seq of entries 3 and 7 (content and stored hashes move together).
  {
    RawDb raw(path_);
    const std::string cols = "ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp, "
                             "token_sha256, outcome, reason, detail, prev_hash, hash";
    raw.exec("CREATE TEMP TABLE t AS SELECT * FROM ledger WHERE seq IN (3, 7)");
    raw.exec("UPDATE ledger SET (" + cols + ") = (SELECT " + cols + " FROM t WHERE t.seq = 10 - ledger.seq) "
             "WHERE seq IN (3, 7)");
  }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 3);
  EXPECT_EQ(rep.problem.rfind("reordered", 0), 0u) << rep.problem;
}

TEST_F(LedgerChainTest, SwappedContentOnlyIsReportedAsReordered) {
  // Swap only the content, leaving the stored prev_hash/hash in place.
  {
    RawDb raw(path_);
    const std::string cols = "ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp, "
                             "token_sha256, outcome, reason, detail";
    raw.exec("CREATE TEMP TABLE t AS SELECT * FROM ledger WHERE seq IN (2, 9)");
    raw.exec("UPDATE ledger SET (" + cols + ") = (SELECT " + cols + " FROM t WHERE t.seq = 11 - ledger.seq) "
             "WHERE seq IN (2, 9)");
  }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 2);
  EXPECT_EQ(rep.problem.rfind("reordered", 0), 0u) << rep.problem;
}

TEST_F(LedgerChainTest, TruncationBelowCheckpointIsReported) {
  {
    auto s = open_or_die(options_for(path_));
    auto head = s->ledger_head();
    ASSERT_TRUE(head.ok());
    ASSERT_TRUE(s->add_checkpoint(Checkpoint{head->seq, head->hash, 1, "audit", "ES256", Bytes{9}}).ok());
  }
  // The remaining prefix is a perfectly valid chain: only the checkpoint can tell.
  { RawDb raw(path_); raw.exec("DELETE FROM ledger WHERE seq > 7"); }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 8);
  EXPECT_EQ(rep.entries, 7);
  EXPECT_EQ(rep.problem.rfind("truncated", 0), 0u) << rep.problem;
}

TEST_F(LedgerChainTest, RewrittenHistoryUnderCheckpointIsReported) {
  {
    auto s = open_or_die(options_for(path_));
    auto head = s->ledger_head();
    ASSERT_TRUE(head.ok());
    ASSERT_TRUE(s->add_checkpoint(Checkpoint{head->seq, head->hash, 1, "audit", "ES256", Bytes{9}}).ok());
  }
  // Rebuild the whole chain consistently with one entry changed: links verify, the checkpoint does not.
  {
    auto s = open_or_die(options_for(path_));
    std::vector<LedgerEntry> all;
    ASSERT_TRUE(s->export_ledger(LedgerQuery{}, [&](const LedgerEntry& e) {
      all.insert(all.begin(), e);
      return true;
    }).ok());
    s.reset();
    all[2].sub = "mallory";
    Bytes prev = ledger_genesis_hash();
    RawDb raw(path_);
    for (auto& e : all) {
      e.hash = ledger_entry_hash(prev, e);
      sqlite3_stmt* st = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(raw.get(), "UPDATE ledger SET sub=?, prev_hash=?, hash=? WHERE seq=?", -1, &st,
                                   nullptr),
                SQLITE_OK);
      sqlite3_bind_text(st, 1, e.sub.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 2, prev.data(), 32, SQLITE_TRANSIENT);
      sqlite3_bind_blob(st, 3, e.hash.data(), 32, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 4, e.seq);
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
      sqlite3_finalize(st);
      prev = e.hash;
    }
  }
  auto rep = verify();
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.first_bad_seq, 10);
  EXPECT_EQ(rep.problem.rfind("checkpoint mismatch", 0), 0u) << rep.problem;
}

TEST_F(LedgerChainTest, TruncationWhileRunningIsReportedWithoutCheckpoint) {
  auto s = open_or_die(options_for(path_));
  ASSERT_TRUE(s);
  { RawDb raw(path_); raw.exec("DELETE FROM ledger WHERE seq > 8"); }
  auto rep = s->verify_chain();
  ASSERT_TRUE(rep.ok());
  EXPECT_FALSE(rep->ok);
  EXPECT_EQ(rep->first_bad_seq, 9);
  EXPECT_EQ(rep->problem.rfind("truncated", 0), 0u) << rep->problem;
}

TEST(LedgerHash, EncodingIsLengthPrefixed) {
  LedgerEntry a, b;
  a.kind = "ab";
  a.event = "c";
  b.kind = "a";
  b.event = "bc";
  EXPECT_NE(ledger_canonical_encoding(a), ledger_canonical_encoding(b));
  EXPECT_NE(ledger_entry_hash(ledger_genesis_hash(), a), ledger_entry_hash(ledger_genesis_hash(), b));
  a.seq = 1;
  std::string enc = ledger_canonical_encoding(a);
  EXPECT_EQ(enc.substr(0, 4), std::string("\0\0\0\x10", 4));
  EXPECT_EQ(enc.substr(4, 16), "keymgr-ledger-v1");
  EXPECT_EQ(enc.substr(20, 8), std::string("\0\0\0\0\0\0\0\x01", 8));
}

}  // namespace
}  // namespace keymgr::db
