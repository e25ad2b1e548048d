// The persistence seam. SQLite today (db/sqlite_store.cc); a PostgreSQL backend will implement the
// same interface, so no SQL leaves db/.
//
// Thread-safety: all methods may be called concurrently. Writes are serialised inside the store;
// reads run on their own connections and see committed data only.
// Durability: every write call returns only after its transaction is durable (WAL,
// synchronous=FULL). append_ledger() shares commits between concurrent callers (group commit).
// Errors: kUnavailable/"ledger_unavailable" (or "database_unavailable") when the file cannot be
// written (read-only, disk full, locked): nothing is half-written. kAlreadyExists on unique
// violations, kNotFound for missing rows.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "db/records.h"

namespace keymgr::db {

struct StoreOptions {
  std::string path;               // SQLite file
  int max_batch = 512;            // group commit: most entries per transaction
  int busy_timeout_ms = 5000;
  int read_connections = 4;
  // SQLite page cache budget: half for the writer (the random-key indexes touch a page per entry),
  // half shared by the readers. Memory use grows to this as the ledger is written and queried.
  int cache_mib = 128;
  // WAL frames (pages) after which a background checkpoint copies them into the database file.
  // Larger: hot index pages are written back once for more commits, and the WAL file grows to
  // about frames x 4 KiB. SQLite's own default is 1,000.
  int checkpoint_frames = 8192;
  // synchronous=OFF instead of FULL. For benchmark fills and one-off bulk imports only: a crash or
  // power loss may lose recent commits, which breaks "every write call returns durable".
  bool unsafe_no_sync = false;
};

// The bytes a checkpoint signature covers: "keymgr-checkpoint-v1\n<seq>\n<hex head>\n<ts_ms>".
std::string checkpoint_signing_input(const Checkpoint& cp);

class Store {
 public:
  virtual ~Store() = default;

  // ---- keysets and keys ----
  virtual Result<std::vector<KeysetRecord>> list_keysets() = 0;
  virtual Result<KeysetRecord> get_keyset(std::string_view name) = 0;
  virtual Result<std::vector<KeyRecord>> list_keys(std::optional<int64_t> keyset_id) = 0;
  virtual Result<KeyRecord> get_key_by_kid(std::string_view kid) = 0;

  // Applies the change set atomically (one transaction), ledger entries included.
  // Returns the keyset ids (for inserts, the new ids) in keyset_upserts order.
  virtual Result<std::vector<int64_t>> apply(const ChangeSet& changes) = 0;

  // ---- ledger ----
  // Appends one entry durably (group commit); returns its seq. Fails closed.
  virtual Result<int64_t> append_ledger(LedgerEntry entry) = 0;
  virtual Result<LedgerPage> query_ledger(const LedgerQuery& q) = 0;
  // Streams matching entries newest first (ignores q.limit) to `sink` until it returns false.
  virtual Status export_ledger(const LedgerQuery& q, const std::function<bool(const LedgerEntry&)>& sink) = 0;
  // Sign entries with outcome ok for `kid` with ts >= since_ms and exp > now_s (still valid tokens).
  virtual Status tokens_signed_since(std::string_view kid, int64_t since_ms, int64_t now_s,
                                     const std::function<bool(const LedgerEntry&)>& sink) = 0;
  virtual Result<int64_t> ledger_size() = 0;
  virtual Result<ChainReport> verify_chain() = 0;
  virtual Result<LedgerEntry> ledger_head() = 0;  // NotFound when empty

  // ---- checkpoints ----
  virtual Status add_checkpoint(const Checkpoint& cp) = 0;
  virtual Result<std::vector<Checkpoint>> list_checkpoints(int limit) = 0;  // newest first

  // ---- API tokens ----
  virtual Status create_api_token(const ApiTokenRecord& t, const LedgerEntry& event) = 0;
  virtual Result<ApiTokenRecord> get_api_token(std::string_view id) = 0;
  virtual Result<std::vector<ApiTokenRecord>> list_api_tokens() = 0;
  virtual Status revoke_api_token(std::string_view id, int64_t at, const LedgerEntry& event) = 0;

  // Quick write probe for readiness (BEGIN IMMEDIATE; ROLLBACK).
  virtual Status check_writable() = 0;
};

// Optional ability (not every backend has it): group-commit counters for tests, benchmarks and
// metrics. Obtain with dynamic_cast<CommitStatsSource*>(store). Thread-safe.
struct CommitStats {
  int64_t transactions = 0;         // committed ledger write transactions (group commits + apply())
  int64_t entries = 0;              // ledger entries in them
  int64_t failed_transactions = 0;  // rolled back; their callers got an error
  int64_t largest_batch = 0;        // most entries in one group commit
  int64_t wal_checkpoints = 0;      // WAL checkpoints run (background or inline safety net)
};

class CommitStatsSource {
 public:
  virtual ~CommitStatsSource() = default;
  virtual CommitStats commit_stats() const = 0;
};

// Opens (creating if needed) and migrates the SQLite database.
Result<std::unique_ptr<Store>> open_sqlite_store(const StoreOptions& opts);

}  // namespace keymgr::db
