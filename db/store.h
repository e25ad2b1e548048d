// The persistence contract: everything keymgr keeps (keysets, keys, the hash-chained ledger, signed
// ledger checkpoints, API tokens) goes through Store, so no SQL leaves db/. Backends implement it
// (db/sqlite_store.h today); db/open_store.h picks one from the configured location. The behaviour
// below is what tests/db/store_conformance.h checks against every backend.
//
// Owns: the database connections and background threads of one open store; destroying the Store
// answers every blocked caller, then stops them. Non-copyable.
// Thread-safety: all methods may be called concurrently. Writes are serialised inside the store, so
// ledger seq order is commit order; reads see committed data only.
// Durability: every write call returns only after its transaction is durable (unless
// StoreOptions::unsafe_no_sync). append_ledger() shares commits between concurrent callers (group
// commit, db/group_commit.h): no caller gets a seq before its entry is durable.
// Several stores on one database (a second process, another instance) continue one chain: each
// write links to the head as committed, never to a stale in-memory copy.
// Errors: kUnavailable with reason kLedgerUnavailable (a write with ledger entries) or
// kDatabaseUnavailable (any other write, or opening) when the database cannot take a write now
// (read-only, disk full, locked, unreachable): nothing is half-written. kAlreadyExists on unique
// violations, kNotFound for missing rows.
// Callers hold no lock of the store's; the sinks passed to export_ledger()/tokens_signed_since()
// must not call back into the store's write methods (a reader is held while some of them run).
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

// Status::reason() of kUnavailable errors (see Errors above).
inline constexpr std::string_view kDatabaseUnavailable = "database_unavailable";
inline constexpr std::string_view kLedgerUnavailable = "ledger_unavailable";

// Settings every backend honours. Backend-specific settings (file, URL, caches) are the backend's
// own options (e.g. SqliteOptions).
struct StoreOptions {
  int max_batch = 512;       // group commit: most ledger entries per transaction
  int read_connections = 4;  // readers that run concurrently with the writer
  // Commits stop waiting for durable storage. For benchmark fills and one-off bulk imports only: a
  // crash or power loss may lose recent commits, which breaks "every write call returns durable".
  bool unsafe_no_sync = false;
};

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
  // Newest first by seq; limit clamped to 1..1000; next_cursor set only when more entries match.
  virtual Result<LedgerPage> query_ledger(const LedgerQuery& q) = 0;
  // Streams matching entries newest first (ignores q.limit) to `sink` until it returns false.
  virtual Status export_ledger(const LedgerQuery& q, const std::function<bool(const LedgerEntry&)>& sink) = 0;
  // Sign entries with outcome ok for `kid` with ts >= since_ms and exp > now_s (still valid tokens),
  // oldest first.
  virtual Status tokens_signed_since(std::string_view kid, int64_t since_ms, int64_t now_s,
                                     const std::function<bool(const LedgerEntry&)>& sink) = 0;
  virtual Result<int64_t> ledger_size() = 0;
  // Re-walks the whole chain (db/ledger_chain.h); a damaged ledger is a report with ok == false,
  // not an error.
  virtual Result<ChainReport> verify_chain() = 0;
  virtual Result<LedgerEntry> ledger_head() = 0;  // NotFound when empty

  // ---- signed ledger checkpoints (db/ledger_checkpoint.h) ----
  // kFailedPrecondition "checkpoint_mismatch" unless cp.head is the hash of entry cp.seq;
  // kAlreadyExists for a second checkpoint at the same seq.
  virtual Status add_checkpoint(const LedgerCheckpoint& cp) = 0;
  virtual Result<std::vector<LedgerCheckpoint>> list_checkpoints(int limit) = 0;  // newest first

  // ---- API tokens ----
  virtual Status create_api_token(const ApiTokenRecord& t, const LedgerEntry& event) = 0;
  virtual Result<ApiTokenRecord> get_api_token(std::string_view id) = 0;
  virtual Result<std::vector<ApiTokenRecord>> list_api_tokens() = 0;
  virtual Status revoke_api_token(std::string_view id, int64_t at, const LedgerEntry& event) = 0;

  // Readiness probe: Ok when the store can commit a write now; kUnavailable "database_unavailable"
  // otherwise. Writes nothing.
  virtual Status check_writable() = 0;
};

// Optional ability (not every backend has it): ledger commit counters for tests, benchmarks and
// metrics. Obtain with dynamic_cast<CommitStatsSource*>(store). Thread-safe.
struct CommitStats {
  int64_t transactions = 0;         // committed ledger write transactions (group commits + apply())
  int64_t entries = 0;              // ledger entries in them
  int64_t failed_transactions = 0;  // rolled back; their callers got an error
  int64_t largest_batch = 0;        // most entries in one group commit
};

class CommitStatsSource {
 public:
  virtual ~CommitStatsSource() = default;
  virtual CommitStats commit_stats() const = 0;
};

}  // namespace keymgr::db
