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

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "db/merkle.h"
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
  // Every keyset's version (KeysetRecord::version), by name: one cheap read that tells an
  // instance which of its cached keysets another instance changed.
  virtual Result<std::vector<KeysetVersion>> keyset_versions() = 0;

  // Applies the change set atomically (one transaction), ledger entries included, and bumps the
  // version of every keyset it touches (a keyset upsert, or a key row of that keyset other than
  // inserting or deleting a "generating" intent row, which no reader sees as a key).
  // Returns the keyset ids (for inserts, the new ids) in keyset_upserts order.
  virtual Result<std::vector<int64_t>> apply(const ChangeSet& changes) = 0;

  // ---- ledger ----
  // Appends one entry durably (group commit); returns its seq, or 0 from a backend that sequences
  // off the signing path (PostgreSQL): the entry is durable and readable (with seq 0, no hashes)
  // when the call returns, and gets its seq and chain link from the next sequence_ledger() /
  // integrate_tree(). Fails closed.
  virtual Result<int64_t> append_ledger(LedgerEntry entry) = 0;
  // append_ledger() for a signature the caller is about to hand out: in the same transaction, the
  // entry is written only if its key may sign (db/signing_admission.h: key row state "active", in
  // entry.keyset, keyset enabled, entry.ts_ms inside the key's signing window), read with a lock
  // that orders it against lifecycle writes (apply). Otherwise kFailedPrecondition
  // "key_not_signing" and nothing is written. So once a suspend, compromise or disable has been
  // applied, no instance on this database records a signature with that key — whatever its cache
  // says. Other entries of the same group commit are not affected.
  // The same transaction counts the signature in the key's usage (key_usage()); with
  // entry.usage_limit > 0 a signature beyond it is refused: kFailedPrecondition
  // "key_usage_exhausted", nothing written. The count is read under a row lock, so the limit is
  // exact across instances.
  virtual Result<int64_t> append_signature(LedgerEntry entry) = 0;
  // Signatures recorded so far for each of `kids` that has any (absent: never signed).
  virtual Result<std::vector<KeyUsage>> key_usage(const std::vector<std::string>& kids) = 0;
  // The same per hour, counted in the same transaction: the hours in [from_ms, to_ms) in which
  // each of `kids` signed, oldest first per kid (hours without signatures are absent).
  virtual Result<std::vector<KeyUsageHour>> key_usage_hours(const std::vector<std::string>& kids, int64_t from_ms,
                                                            int64_t to_ms) = 0;
  // Moves up to `max_entries` durable, not yet sequenced entries into the hash chain in intake
  // order (dense seqs) and returns how many it moved. Backends that sequence at commit (SQLite)
  // return 0. Sequencers exclude each other; signers never wait for them.
  virtual Result<int64_t> sequence_ledger(int64_t max_entries, const Fence* fence) = 0;
  Result<int64_t> sequence_ledger(int64_t max_entries) { return sequence_ledger(max_entries, nullptr); }

  // Newest first by seq; limit clamped to 1..1000; next_cursor set only when more entries match.
  // Entries not yet sequenced (seq 0) are newer than every sequenced one: they lead the first page
  // (no before_seq), newest first; when they fill it, next_cursor continues with the sequenced
  // entries (the rest of them are reached once sequenced).
  virtual Result<LedgerPage> query_ledger(const LedgerQuery& q) = 0;
  // Streams matching entries newest first (ignores q.limit) to `sink` until it returns false; not
  // yet sequenced entries first (all of them), then the sequenced ones.
  virtual Status export_ledger(const LedgerQuery& q, const std::function<bool(const LedgerEntry&)>& sink) = 0;
  // Sign entries with outcome ok for `kid` with ts >= since_ms and exp > now_s (still valid tokens),
  // oldest first.
  virtual Status tokens_signed_since(std::string_view kid, int64_t since_ms, int64_t now_s,
                                     const std::function<bool(const LedgerEntry&)>& sink) = 0;
  // Entries in the ledger, sequenced or not.
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

  // ---- the Merkle tree over the ledger (TreeHead, db/records.h) ----
  // Sequences pending entries first (sequence_ledger), then
  // integrates up to `max_entries` durable entries after the current tree size: computes their leaf
  // hashes and stores the new subtree hashes (db/merkle.h's layout) and the new head in one
  // transaction. The work is done outside the store's write lock; only the final write takes it, so
  // signing never waits for hashing. One integrator assigns positions; when another integrator
  // grew the tree meanwhile, this call integrates nothing and returns the current head.
  virtual Result<TreeHead> integrate_tree(int64_t max_entries, const Fence* fence) = 0;
  Result<TreeHead> integrate_tree(int64_t max_entries) { return integrate_tree(max_entries, nullptr); }
  virtual Result<TreeHead> tree_head() = 0;
  // Stored subtree hashes at `indexes` (merkle::stored_hash_index), in order; DataLoss
  // "tree_hash_missing" for an index that is not stored. Stored hashes are never rewritten, so no
  // snapshot is needed for reads below stored_hash_count(tree_head().size).
  virtual Result<std::vector<merkle::Hash>> read_tree_hashes(std::span<const uint64_t> indexes) = 0;
  // Ledger entries seq in [from_seq, to_seq], in seq order, to `sink` until it returns false.
  virtual Status scan_ledger(int64_t from_seq, int64_t to_seq, const std::function<bool(const LedgerEntry&)>& sink) = 0;
  // Stored hashes in index order from `from_index`, to `sink` until it returns false (tree audits).
  virtual Status scan_tree_hashes(uint64_t from_index, const std::function<bool(uint64_t, const Bytes&)>& sink) = 0;

  // ---- signed tree checkpoints ----
  // kFailedPrecondition "checkpoint_mismatch" unless cp.size <= tree size and cp.root is the tree's
  // root at cp.size; kFailedPrecondition "checkpoint_not_newer" unless cp.size is larger than every
  // stored checkpoint's (kAlreadyExists for the same size).
  virtual Status add_tree_checkpoint(const TreeCheckpoint& cp, const Fence* fence) = 0;
  Status add_tree_checkpoint(const TreeCheckpoint& cp) { return add_tree_checkpoint(cp, nullptr); }

  // Newest first, sizes < before_size (0: no bound); limit clamped to 1..1000.
  virtual Result<std::vector<TreeCheckpoint>> list_tree_checkpoints(int64_t before_size, int limit) = 0;
  // The newest checkpoint with size <= at_most (NotFound "no_checkpoint" when none).
  virtual Result<TreeCheckpoint> tree_checkpoint_at_most(int64_t at_most) = 0;
  // Cosignatures: one per (size, witness); a second from the same witness replaces the first.
  virtual Status add_cosignature(const Cosignature& c) = 0;
  virtual Result<std::vector<Cosignature>> list_cosignatures(int64_t size) = 0;

  // ---- audit keys (AuditKeyRecord) ----
  // kAlreadyExists for a verifier_key already stored.
  virtual Status add_audit_key(const AuditKeyRecord& k) = 0;
  // Sets retired_at (by verifier_key); kNotFound if absent.
  virtual Status retire_audit_key(std::string_view verifier_key, int64_t at) = 0;
  virtual Result<std::vector<AuditKeyRecord>> list_audit_keys() = 0;  // oldest first

  // ---- API tokens ----
  virtual Status create_api_token(const ApiTokenRecord& t, const LedgerEntry& event) = 0;
  virtual Result<ApiTokenRecord> get_api_token(std::string_view id) = 0;
  virtual Result<std::vector<ApiTokenRecord>> list_api_tokens() = 0;
  virtual Status revoke_api_token(std::string_view id, int64_t at, const LedgerEntry& event) = 0;

  // ---- alerts and their delivery outbox (AlertRecord, AlertDelivery) ----
  // In one transaction: appends `evidence` to the ledger and stores the alert with a pending
  // delivery per sink in `sinks`, or, when an alert with a.id exists, counts the occurrence on it
  // (occurrences + 1, last_seen_ms = a.ts_ms; no new deliveries). Returns true for a new alert.
  virtual Result<bool> raise_alert(const AlertRecord& a, const LedgerEntry& evidence,
                                   const std::vector<std::string>& sinks) = 0;
  virtual Result<AlertRecord> get_alert(std::string_view id) = 0;  // kNotFound "alert_not_found"
  // Newest first (ts_ms, then id); next_cursor set only when more match.
  virtual Result<AlertPage> list_alerts(const AlertQuery& q) = 0;
  // Sets the acknowledgement and appends `event`, in one transaction. kNotFound "alert_not_found";
  // kFailedPrecondition "already_acknowledged".
  virtual Status ack_alert(std::string_view id, std::string_view by, std::string_view reason, int64_t at_ms,
                           const LedgerEntry& event) = 0;
  // Claims up to `limit` undelivered deliveries due at now_ms (oldest alert first) for `claim_ms`:
  // their next_attempt_ms moves to now_ms + claim_ms and attempts grows by one, in one transaction,
  // so two dispatchers (instances) never hold the same delivery at once and a dispatcher killed
  // mid-delivery is retried when its claim runs out. Returns them with their alerts.
  virtual Result<std::vector<std::pair<AlertDelivery, AlertRecord>>> claim_alert_deliveries(int64_t now_ms,
                                                                                            int64_t claim_ms,
                                                                                            int limit) = 0;
  // Records the outcome of a claimed attempt: delivered (delivered_at_ms = at_ms) or failed
  // (last_error, next_attempt_ms = retry_at_ms).
  virtual Status finish_alert_delivery(std::string_view alert_id, std::string_view sink, bool delivered,
                                       int64_t at_ms, int64_t retry_at_ms, std::string_view error) = 0;
  virtual Result<std::vector<AlertDelivery>> list_alert_deliveries(std::string_view alert_id) = 0;
  virtual Result<AlertStats> alert_stats() = 0;
  // Records that `value` of `kind` (e.g. "api_token", "audience", "address") was seen for `keyset`
  // at ts_ms, unless it was recorded before; returns the first time it was recorded (ts_ms when
  // this call recorded it). Two instances recording one value at once: one time wins for both.
  virtual Result<int64_t> note_first_seen(std::string_view keyset, std::string_view kind, std::string_view value,
                                          int64_t ts_ms) = 0;

  // ---- leases and fencing (db/records.h Lease, Fence) ----
  // Grants `name` to `holder` for ttl_ms, by the database's clock (instances' clocks may differ):
  // when it is free, expired, or already held by `holder` (a renewal). The epoch grows whenever the
  // lease is granted anew (a new holder, or the same one after it had expired) and never otherwise.
  // Held by another holder and unexpired: kFailedPrecondition "lease_held" (the message names the
  // holder). A grant waits for fenced writes of the previous epoch that are still running.
  virtual Result<Lease> acquire_lease(std::string_view name, std::string_view holder, int64_t ttl_ms) = 0;
  // Ends the lease now if `holder` holds it at `epoch` (so another need not wait for expiry);
  // otherwise does nothing.
  virtual Status release_lease(std::string_view name, std::string_view holder, int64_t epoch) = 0;
  // The lease as stored (possibly expired); nullopt when never granted.
  virtual Result<std::optional<Lease>> read_lease(std::string_view name) = 0;
  // Fencing: sequence_ledger, integrate_tree, add_tree_checkpoint and apply (ChangeSet::fence) take
  // a Fence; with one, the write is refused with kFailedPrecondition "stale_leader" (nothing
  // written) unless fence->lease is held at fence->epoch and unexpired inside the write's own
  // transaction. A null fence writes unconditionally.

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

// Optional ability: notice of changes committed through any Store on the same database, e.g. by
// another instance (PostgreSQL LISTEN/NOTIFY). A notice sent while the listener is disconnected is
// lost for good, so users still poll (keyset_versions); this only makes the usual case immediate.
// Obtain with dynamic_cast<ChangeFeed*>(store). Thread-safe; meant for one waiting thread.
class ChangeFeed {
 public:
  // Payloads: a keyset or key changed (Store::apply touched a keyset) ...
  static constexpr std::string_view kKeysetsChanged = "keysets";
  // ... or an API token was revoked: "api_token:<id>".
  static constexpr std::string_view kApiTokenPrefix = "api_token:";

  virtual ~ChangeFeed() = default;
  // Waits up to `timeout` for notices and returns their payloads (duplicates possible), or an
  // empty list on timeout. kUnavailable "database_unavailable" when the listening connection is
  // down; the next call reconnects (notices sent meanwhile are lost).
  virtual Result<std::vector<std::string>> wait_for_changes(std::chrono::milliseconds timeout) = 0;
};

// The tree as a merkle::HashReader (proofs and roots over a Store: merkle::inclusion_proof(i, n,
// StoreTreeReader(store))). Holds a reference; thread-safe as the Store is.
class StoreTreeReader final : public merkle::HashReader {
 public:
  explicit StoreTreeReader(Store& store) : store_(store) {}
  Result<std::vector<merkle::Hash>> read_hashes(std::span<const uint64_t> indexes) const override {
    return store_.read_tree_hashes(indexes);
  }

 private:
  Store& store_;
};

}  // namespace keymgr::db
