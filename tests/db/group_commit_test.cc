// Group commit under concurrency, and failing closed when the database cannot be written.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "tests/db/db_test_util.h"

namespace keymgr::db {
namespace {

using testing::open_or_die;
using testing::options_for;
using testing::RawDb;
using testing::sign_entry;
using testing::TempDir;

CommitStats stats_of(Store& s) {
  auto* src = dynamic_cast<CommitStatsSource*>(&s);
  EXPECT_NE(src, nullptr);
  return src ? src->commit_stats() : CommitStats{};
}

void expect_chain_ok(Store& s, int64_t entries) {
  auto rep = s.verify_chain();
  ASSERT_TRUE(rep.ok()) << rep.status().to_string();
  EXPECT_TRUE(rep->ok) << rep->problem << " at " << rep->first_bad_seq.value_or(-1);
  EXPECT_EQ(rep->entries, entries);
}

TEST(GroupCommit, ConcurrentAppendsShareCommits) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 500;
  std::vector<std::vector<int64_t>> seqs(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = s->append_ledger(sign_entry("k" + std::to_string(t), std::to_string(t) + "-" + std::to_string(i), i));
        if (!r.ok()) {
          ++failures;
          continue;
        }
        seqs[t].push_back(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  std::set<int64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    // A caller's own appends are ordered: each returns only after its entry is committed.
    EXPECT_TRUE(std::is_sorted(seqs[t].begin(), seqs[t].end()));
    all.insert(seqs[t].begin(), seqs[t].end());
  }
  constexpr int64_t kTotal = int64_t{kThreads} * kPerThread;
  ASSERT_EQ(static_cast<int64_t>(all.size()), kTotal);  // unique
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kTotal);  // dense: every seq present

  // Each returned seq holds the entry its caller appended.
  for (int t : {0, 7, 15}) {
    auto page = s->query_ledger(LedgerQuery{.jti = std::to_string(t) + "-123"});
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->entries.size(), 1u);
    EXPECT_EQ(page->entries[0].seq, seqs[t][123]);
  }
  expect_chain_ok(*s, kTotal);

  CommitStats st = stats_of(*s);
  std::cout << "[ stats    ] " << kTotal << " entries in " << st.transactions << " transactions, largest batch "
            << st.largest_batch << "\n";
  EXPECT_EQ(st.entries, kTotal);
  EXPECT_EQ(st.failed_transactions, 0);
  EXPECT_LT(st.transactions, kTotal / 2) << "group commit did not batch";
  EXPECT_GT(st.largest_batch, 1);
}

TEST(GroupCommit, MaxBatchIsRespected) {
  TempDir dir;
  auto o = options_for(dir.file("km.db"));
  o.max_batch = 4;
  auto s = open_or_die(o);
  ASSERT_TRUE(s);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", std::to_string(t * 1000 + i), i)).ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(stats_of(*s).largest_batch, 4);
  expect_chain_ok(*s, 400);
}

TEST(GroupCommit, AppendsAndChangeSetsInterleaveOnOneChain) {
  TempDir dir;
  auto s = open_or_die(options_for(dir.file("km.db")));
  ASSERT_TRUE(s);
  std::thread appender([&] {
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "a" + std::to_string(i), i)).ok());
  });
  std::thread applier([&] {
    for (int i = 0; i < 100; ++i) {
      ChangeSet cs;
      cs.ledger = {testing::lifecycle_entry("policy_changed", "k", i), testing::lifecycle_entry("key_activated", "k", i)};
      ASSERT_TRUE(s->apply(cs).ok());
    }
  });
  appender.join();
  applier.join();
  expect_chain_ok(*s, 500);
}

TEST(FailClosed, ExclusiveLockMakesAppendsUnavailableThenRecovers) {
  TempDir dir;
  auto path = dir.file("km.db");
  auto o = options_for(path);
  o.busy_timeout_ms = 50;
  auto s = open_or_die(o);
  ASSERT_TRUE(s);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "before" + std::to_string(i), i)).ok());

  {
    RawDb other(path, 0);
    ASSERT_EQ(other.exec("BEGIN EXCLUSIVE"), SQLITE_OK);

    // Several concurrent callers: every one of them must get the error, none may hang.
    std::vector<std::thread> threads;
    std::atomic<int> unavailable{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        auto r = s->append_ledger(sign_entry("k", "during" + std::to_string(t), 100));
        if (!r.ok() && r.status().code() == ErrorCode::kUnavailable && r.status().reason() == "ledger_unavailable") {
          ++unavailable;
        } else {
          ADD_FAILURE() << (r.ok() ? "append succeeded under lock" : r.status().to_string());
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(unavailable.load(), 4);

    ChangeSet cs;
    cs.ledger = {testing::lifecycle_entry("key_activated", "k", 100)};
    auto ar = s->apply(cs);
    EXPECT_EQ(ar.status().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(ar.status().reason(), "ledger_unavailable");
    auto w = s->check_writable();
    EXPECT_EQ(w.code(), ErrorCode::kUnavailable);
    EXPECT_EQ(w.reason(), "database_unavailable");
    EXPECT_NE(w.message().find("database is locked"), std::string::npos) << w.message();
    // Readers are not blocked by a writer in WAL mode.
    auto size = s->ledger_size();
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, 5);
    ASSERT_EQ(other.exec("ROLLBACK"), SQLITE_OK);
  }

  auto seq = s->append_ledger(sign_entry("k", "after", 200));
  ASSERT_TRUE(seq.ok()) << seq.status().to_string();
  EXPECT_EQ(*seq, 6);  // nothing of the failed batches took a seq
  EXPECT_TRUE(s->check_writable().ok());
  expect_chain_ok(*s, 6);
  LedgerQuery during;
  during.jti = "during0";
  auto page = s->query_ledger(during);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->entries.empty());
}

TEST(FailClosed, FailingEntryAbortsItsWholeBatchAndNothingRemains) {
  TempDir dir;
  auto path = dir.file("km.db");
  auto s = open_or_die(options_for(path));
  ASSERT_TRUE(s);
  // Simulates a write failure in the middle of a batch (after some rows were inserted).
  {
    RawDb raw(path);
    raw.exec("CREATE TRIGGER poison BEFORE INSERT ON ledger WHEN NEW.actor = 'poison' "
             "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  }
  constexpr int kThreads = 8, kPer = 100;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::string> ok_jtis, failed_jtis;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        auto e = sign_entry("k", std::to_string(t) + "-" + std::to_string(i), i);
        if (i % 37 == 5) e.actor = "poison";
        auto r = s->append_ledger(e);
        std::lock_guard lk(mu);
        if (r.ok()) {
          ok_jtis.insert(e.jti);
        } else {
          EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
          EXPECT_EQ(r.status().reason(), "ledger_unavailable");
          failed_jtis.insert(e.jti);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GE(failed_jtis.size(), 8u * 3);  // at least the poisoned ones
  EXPECT_EQ(ok_jtis.size() + failed_jtis.size(), size_t{kThreads} * kPer);
  std::set<std::string> stored;
  ASSERT_TRUE(s->export_ledger(LedgerQuery{}, [&](const LedgerEntry& e) {
    stored.insert(e.jti);
    return true;
  }).ok());
  EXPECT_EQ(stored, ok_jtis);
  EXPECT_GT(stats_of(*s).failed_transactions, 0);
  expect_chain_ok(*s, static_cast<int64_t>(ok_jtis.size()));
}

TEST(FailClosed, ReadOnlyFileWhenNotRoot) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores file permissions; the exclusive-lock test covers this";
  TempDir dir;
  auto path = dir.file("km.db");
  {
    auto s = open_or_die(options_for(path));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->append_ledger(sign_entry("k", "j1", 1)).ok());
  }
  for (const char* suffix : {"", "-wal", "-shm"}) chmod((path + suffix).c_str(), 0444);
  auto r = open_sqlite_store(options_for(path));
  if (r.ok()) {
    auto a = (*r)->append_ledger(sign_entry("k", "j2", 2));
    EXPECT_EQ(a.status().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(a.status().reason(), "ledger_unavailable");
  } else {
    EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status().to_string();
  }
  for (const char* suffix : {"", "-wal", "-shm"}) chmod((path + suffix).c_str(), 0644);
  auto s = open_or_die(options_for(path));
  ASSERT_TRUE(s);
  auto a = s->append_ledger(sign_entry("k", "j3", 3));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(*a, 2);
  expect_chain_ok(*s, 2);
}

TEST(GroupCommit, WalIsCheckpointedOffTheCommitPath) {
  TempDir dir;
  auto path = dir.file("km.db");
  auto opts = options_for(path);
  opts.checkpoint_frames = 1000;
  auto s = open_or_die(opts);
  ASSERT_TRUE(s);
  for (int b = 0; b < 30; ++b) {
    ChangeSet cs;
    for (int i = 0; i < 500; ++i) cs.ledger.push_back(sign_entry("k" + std::to_string(i % 50), std::to_string(b * 1000 + i), i));
    ASSERT_TRUE(s->apply(cs).ok());
  }
  for (int i = 0; i < 200 && stats_of(*s).wal_checkpoints == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(stats_of(*s).wal_checkpoints, 0);
  // The WAL is rewound once a checkpoint caught up, so it does not grow with the ledger.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "tail" + std::to_string(i), i)).ok());
  EXPECT_LT(std::filesystem::file_size(path + "-wal"), 64u << 20);
  expect_chain_ok(*s, 15020);
}

TEST(GroupCommit, AcknowledgedAppendsSurviveReopen) {
  TempDir dir;
  auto path = dir.file("km.db");
  std::atomic<int> ok{0};
  {
    auto s = open_or_die(options_for(path));
    ASSERT_TRUE(s);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          if (s->append_ledger(sign_entry("k", std::to_string(t * 100 + i), i)).ok()) ++ok;
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  auto s = open_or_die(options_for(path));
  ASSERT_TRUE(s);
  EXPECT_EQ(ok.load(), 160);
  expect_chain_ok(*s, 160);
}

}  // namespace
}  // namespace keymgr::db
