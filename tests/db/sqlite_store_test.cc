// What only the SQLite backend does: its schema file and WAL journal, failing closed on SQLite's
// locks, read-only files and mid-batch constraint failures, and WAL checkpoints off the commit path.
// The behaviour every backend shares is in the conformance suite (store_conformance.h).
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "db/ledger_hash.h"
#include "db/merkle.h"
#include "db/migrations.h"
#include "db/sqlite_store.h"
#include "tests/db/sqlite_test_util.h"

namespace keymgr::db {
namespace {

using testing::add_keyset;
using testing::expect_chain_ok;
using testing::open_or_die;
using testing::options_for;
using testing::RawDb;
using testing::sign_entry;
using testing::stats_of;
using testing::TempDir;

TEST(SqliteSchema, MigrationsAreIdempotentAndRecorded) {
  TempDir dir;
  auto path = dir.file("km.db");
  { auto s = open_or_die(options_for(path)); ASSERT_TRUE(s); add_keyset(*s, "web", "https://web"); }
  { auto s = open_or_die(options_for(path)); ASSERT_TRUE(s); ASSERT_TRUE(s->get_keyset("web").ok()); }
  RawDb raw(path);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM schema_migrations"), latest_schema_version());
  EXPECT_EQ(raw.scalar("SELECT max(version) FROM schema_migrations"), latest_schema_version());
  EXPECT_GE(latest_schema_version(), 2);
  EXPECT_GT(raw.scalar("SELECT applied_at FROM schema_migrations WHERE version = 1"), 1600000000000);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw.get(), "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
}

TEST(SqliteSchema, AVersion2LedgerGetsItsMerkleTreeOnUpgrade) {
  TempDir dir;
  auto path = dir.file("km.db");
  {
    auto s = open_or_die(options_for(path));
    ASSERT_TRUE(s);
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "j" + std::to_string(i), 100 + i)).ok());
  }
  {
    // What a version-2 database looks like: no tree tables, migration 3 not applied.
    RawDb raw(path);
    raw.exec("DROP TABLE tree_cosignatures; DROP TABLE tree_checkpoints; DROP TABLE tree_hashes; DROP TABLE tree_head; "
             "DROP TABLE audit_keys; DROP TABLE leases; ALTER TABLE keysets DROP COLUMN version; "
             "DROP TABLE alert_deliveries; DROP TABLE alerts; "
             "DROP TABLE key_usage; DROP TABLE key_usage_hours; DROP TABLE monitor_seen; "
             "DELETE FROM schema_migrations WHERE version >= 3");
  }
  auto s = open_or_die(options_for(path));
  ASSERT_TRUE(s);
  auto head = s->tree_head();
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  EXPECT_EQ(head->size, 0);  // the migration itself stays short; the integrator catches up
  head = s->integrate_tree(1000);
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  EXPECT_EQ(head->size, 25);
  // The root over the existing entries, computed here from their canonical encodings.
  std::vector<merkle::Hash> level;
  ASSERT_TRUE(s->scan_ledger(1, 25, [&](const LedgerEntry& e) {
                 level.push_back(merkle::leaf_hash(ledger_canonical_encoding(e)));
                 return true;
               }).ok());
  std::function<merkle::Hash(size_t, size_t)> mth = [&](size_t lo, size_t hi) {
    if (hi - lo == 1) return level[lo];
    size_t k = 1;
    while (k * 2 < hi - lo) k *= 2;
    return merkle::node_hash(mth(lo, lo + k), mth(lo + k, hi));
  };
  EXPECT_EQ(head->root, merkle::hash_bytes(mth(0, 25)));
  // Migration 6 counted the signatures already in the ledger into each key's usage.
  auto usage = s->key_usage({"k"});
  ASSERT_TRUE(usage.ok()) << usage.status().to_string();
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ(usage->front().signatures, 25);
  EXPECT_EQ(usage->front().last_signed_ms, 124);
  auto hours = s->key_usage_hours({"k"}, 0, 3'600'000);
  ASSERT_TRUE(hours.ok());
  ASSERT_EQ(hours->size(), 1u);
  EXPECT_EQ(hours->front().signatures, 25);
  RawDb raw(path);
  EXPECT_EQ(raw.scalar("SELECT max(version) FROM schema_migrations"), latest_schema_version());
}

TEST(SqliteSchema, RefusesNewerSchema) {
  TempDir dir;
  auto path = dir.file("km.db");
  { auto s = open_or_die(options_for(path)); ASSERT_TRUE(s); }
  { RawDb raw(path); raw.exec("INSERT INTO schema_migrations VALUES(99, 0)"); }
  auto r = open_store(options_for(path));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "schema_too_new");
}

TEST(SqliteFailClosed, ExclusiveLockMakesAppendsUnavailableThenRecovers) {
  TempDir dir;
  auto path = dir.file("km.db");
  auto o = options_for(path);
  o.sqlite.busy_timeout_ms = 50;
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

TEST(SqliteFailClosed, FailingEntryAbortsItsWholeBatchAndNothingRemains) {
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

TEST(SqliteFailClosed, ReadOnlyFileWhenNotRoot) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores file permissions; the exclusive-lock test covers this";
  TempDir dir;
  auto path = dir.file("km.db");
  {
    auto s = open_or_die(options_for(path));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->append_ledger(sign_entry("k", "j1", 1)).ok());
  }
  for (const char* suffix : {"", "-wal", "-shm"}) chmod((path + suffix).c_str(), 0444);
  auto r = open_store(options_for(path));
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

TEST(SqliteWal, CheckpointedOffTheCommitPath) {
  TempDir dir;
  auto path = dir.file("km.db");
  auto opts = options_for(path);
  opts.sqlite.wal_checkpoint_frames = 1000;
  auto s = open_or_die(opts);
  ASSERT_TRUE(s);
  for (int b = 0; b < 30; ++b) {
    ChangeSet cs;
    for (int i = 0; i < 500; ++i) cs.ledger.push_back(sign_entry("k" + std::to_string(i % 50), std::to_string(b * 1000 + i), i));
    ASSERT_TRUE(s->apply(cs).ok());
  }
  auto wal_checkpoints = [&] { return sqlite_stats(*s).value_or(SqliteStats{}).wal_checkpoints; };
  for (int i = 0; i < 200 && wal_checkpoints() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(wal_checkpoints(), 0);
  // The WAL is rewound once a checkpoint caught up, so it does not grow with the ledger.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->append_ledger(sign_entry("k", "tail" + std::to_string(i), i)).ok());
  EXPECT_LT(std::filesystem::file_size(path + "-wal"), 64u << 20);
  expect_chain_ok(*s, 15020);
}

// open_store() picks the backend from the location: a path is SQLite; a PostgreSQL URL is the
// PostgreSQL backend, which fails closed when the server is unreachable, and never echoes the
// URL's password.
TEST(OpenStore, PathSelectsSqliteAndUrlSelectsPostgres) {
  TempDir dir;
  auto s = open_store(options_for(dir.file("km.db")));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE(sqlite_stats(**s).has_value());
  for (const char* url : {"postgresql://keymgr:secret@127.0.0.1:1/keymgr", "postgres://keymgr:secret@127.0.0.1:1/db"}) {
    auto r = open_store(options_for(url));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status().to_string();
    EXPECT_EQ(r.status().reason(), "database_unavailable");
    EXPECT_EQ(r.status().message().find("secret"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("***"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(open_store(options_for("")).status().code(), ErrorCode::kInvalidArgument);
}

TEST(OpenStore, DatabaseUrlPasswordsAreRedacted) {
  EXPECT_EQ(redact_database_url("postgresql://u:pw@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(redact_database_url("postgresql://u@h/db?password=pw&sslmode=require"),
            "postgresql://u@h/db?password=***&sslmode=require");
  EXPECT_EQ(redact_database_url("postgresql://h/db"), "postgresql://h/db");
  // Found by the dburl fuzzer: a '?' inside the user info is not where the parameters start.
  EXPECT_EQ(redact_database_url("postgres://u?x=1@h/db?%70assword=secret"), "postgres://u?x=1@h/db?%70assword=***");
  EXPECT_EQ(redact_database_url("postgresql:///db?host=/tmp/x"), "postgresql:///db?host=/tmp/x");
}

// The database holds token hashes, subjects and callers: the file and its -wal/-shm are the
// owner's alone even when the process umask would let others read them.
TEST(StoreFiles, DatabaseWalAndShmAreOwnerOnlyWhateverTheUmask) {
  for (const mode_t mask : {mode_t{022}, mode_t{0}, mode_t{0277}}) {
    TempDir dir;
    const std::string path = dir.file("keymgr.db");
    const mode_t old = ::umask(mask);
    auto s = open_or_die(options_for(path));
    const bool appended = s && s->append_ledger(sign_entry("k", "j1", 1)).ok();  // the WAL has frames
    ::umask(old);
    ASSERT_TRUE(appended);
    for (const std::string suffix : {"", "-wal", "-shm"}) {
      struct stat st {};
      ASSERT_EQ(::stat((path + suffix).c_str(), &st), 0) << path + suffix;
      EXPECT_EQ(st.st_mode & 07777, 0600u) << "keymgr.db" << suffix << " under umask 0" << std::oct << mask;
    }
  }
}

}  // namespace
}  // namespace keymgr::db
