// SQLite implementation of Store (db/sqlite_store.h). What is not SQLite lives in the shared files:
// group commit (db/group_commit.h), chain linking and verification (db/ledger_chain.h), the hash
// (db/ledger_hash.h) and the signed checkpoint format (db/ledger_checkpoint.h).
//
// Concurrency layout:
//   write_mu_      guards the single write connection and the in-memory chain tail (head_,
//                  head_stale_). Every write (apply, group commit batches, ledger checkpoints, API
//                  tokens) runs under it, so seq order == commit order.
//   group_commit_  has its own queue lock, never held while its committer takes write_mu_.
//   pool_mu_       guards idle_readers_; readers run concurrently (WAL), each on its own connection.
//   wal_ckpt_mu_   guards the WAL checkpointer's request flags (leaf lock).
#include "db/sqlite_store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <variant>

#include "common/clock.h"
#include "common/encoding.h"
#include "db/group_commit.h"
#include "db/lease.h"
#include "db/ledger_chain.h"
#include "db/alert_cursor.h"
#include "db/ledger_hash.h"
#include "db/merkle.h"
#include "db/migrations.h"
#include "db/signing_admission.h"
#include "db/tree_extension.h"
#include "db/sqlite_util.h"

namespace keymgr::db {
namespace {

using sqlite::Connection;
using sqlite::kDatabaseUnavailable;
using sqlite::kLedgerUnavailable;
using sqlite::Query;
using sqlite::Transaction;

constexpr char kLedgerColumns[] =
    "seq, ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp, token_sha256, "
    "outcome, reason, detail, prev_hash, hash";

LedgerEntry read_entry(const Query& q) {
  LedgerEntry e;
  e.seq = q.int64(0);
  e.ts_ms = q.int64(1);
  e.kind = q.text(2);
  e.event = q.text(3);
  e.keyset = q.text(4);
  e.kid = q.text(5);
  e.alg = q.text(6);
  e.actor = q.text(7);
  e.actor_addr = q.text(8);
  e.jti = q.text(9);
  e.sub = q.text(10);
  e.aud = q.text(11);
  e.iat = q.int64(12);
  e.exp = q.int64(13);
  e.token_sha256 = q.text(14);
  e.outcome = q.text(15);
  e.reason = q.text(16);
  e.detail = q.text(17);
  e.prev_hash = q.blob(18);
  e.hash = q.blob(19);
  return e;
}

constexpr char kKeysetColumns[] = "id, name, issuer, alg, policy_json, disabled, created_at, updated_at, version";

KeysetRecord read_keyset(const Query& q) {
  KeysetRecord k;
  k.id = q.int64(0);
  k.name = q.text(1);
  k.issuer = q.text(2);
  k.alg = q.text(3);
  k.policy_json = q.text(4);
  k.disabled = q.int64(5) != 0;
  k.created_at = q.int64(6);
  k.updated_at = q.int64(7);
  k.version = q.int64(8);
  return k;
}

constexpr char kKeyColumns[] =
    "kid, hsm_id, keyset_id, alg, state, public_jwk, created_at, activate_at, deactivate_at, retire_at, "
    "destroy_at, state_changed_at, compromised_since, note, emergency";

KeyRecord read_key(const Query& q) {
  KeyRecord k;
  k.kid = q.text(0);
  k.hsm_id = q.text(1);
  k.keyset_id = q.int64(2);
  k.alg = q.text(3);
  k.state = q.text(4);
  k.public_jwk = q.text(5);
  k.created_at = q.int64(6);
  k.activate_at = q.int64(7);
  k.deactivate_at = q.int64(8);
  k.retire_at = q.int64(9);
  k.destroy_at = q.int64(10);
  k.state_changed_at = q.int64(11);
  k.compromised_since = q.opt_int64(12);
  k.note = q.text(13);
  k.emergency = q.int64(14) != 0;
  return k;
}

// Binds all KeyRecord columns except hsm_id, starting at `first`; returns the next free index.
int bind_key_fields(Query& q, const KeyRecord& k, int first) {
  int i = first;
  q.bind(i, k.kid).bind(i + 1, k.keyset_id).bind(i + 2, k.alg).bind(i + 3, k.state).bind(i + 4, k.public_jwk);
  q.bind(i + 5, k.created_at).bind(i + 6, k.activate_at).bind(i + 7, k.deactivate_at).bind(i + 8, k.retire_at);
  q.bind(i + 9, k.destroy_at).bind(i + 10, k.state_changed_at).bind(i + 11, k.compromised_since);
  q.bind(i + 12, k.note).bind(i + 13, static_cast<int64_t>(k.emergency ? 1 : 0));
  return i + 14;
}

constexpr char kTokenColumns[] = "id, name, role, keysets, secret_hash, created_at, revoked_at";

Result<ApiTokenRecord> read_token(const Query& q) {
  ApiTokenRecord t;
  t.id = q.text(0);
  t.name = q.text(1);
  t.role = q.text(2);
  auto ks = nlohmann::json::parse(q.text(3), nullptr, /*allow_exceptions=*/false);
  if (!ks.is_array()) return DataLoss("api token '" + t.id + "': keysets is not a JSON array", "database_corrupt");
  for (const auto& k : ks) {
    if (!k.is_string()) return DataLoss("api token '" + t.id + "': keysets holds a non-string", "database_corrupt");
    t.keysets.push_back(k.get<std::string>());
  }
  t.secret_hash = q.blob(4);
  t.created_at = q.int64(5);
  t.revoked_at = q.opt_int64(6);
  return t;
}

int64_t wall_clock_ms() { return to_unix_millis(SystemClock().now()); }

// Leases: SQLite has no server clock; it lives on one host, so this process's wall clock is the
// database's.
Result<std::optional<Lease>> read_lease_in(Connection& c, std::string_view name) {
  ASSIGN_OR_RETURN(auto q, c.prepare("SELECT holder, epoch, expires_at_ms FROM leases WHERE name = ?"));
  q.bind(1, name);
  ASSIGN_OR_RETURN(bool row, q.step("read lease"));
  if (!row) return std::optional<Lease>();
  return std::optional<Lease>(Lease{std::string(name), q.text(0), q.int64(1), q.int64(2)});
}

Status check_fence_in(Connection& c, const Fence& fence) {
  ASSIGN_OR_RETURN(auto stored, read_lease_in(c, fence.lease));
  return check_fence(fence, stored, wall_clock_ms());
}


// Which index drives a ledger query. Chosen here (and forced with INDEXED BY) rather than left to
// the planner: without statistics SQLite prefers walking the whole table in seq order to avoid a
// sort, which is the worst plan for a selective filter.
struct AccessPath {
  const char* index = nullptr;   // null: walk the table newest first
  const char* column = nullptr;  // the filter the index starts with
  bool time_ordered = false;     // index is (column, ts_ms): the two-phase page plan applies
};

AccessPath choose_access(const LedgerQuery& q) {
  if (q.jti) return {"ledger_jti", "jti", false};
  if (q.token_sha256) return {"ledger_token", "token_sha256", false};
  if (q.kid) return {"ledger_kid_ts", "kid", true};
  if (q.sub) return {"ledger_sub_ts", "sub", true};
  if (q.keyset) return {"ledger_keyset_ts", "keyset", true};
  if (q.actor) return {"ledger_actor_ts", "actor", true};
  return {};
}

// A ledger query compiled to SQL + bindings.
struct CompiledQuery {
  std::string sql;
  std::vector<std::variant<int64_t, std::string>> binds;
};

enum class Shape {
  kPage,        // full entries, ORDER BY seq DESC LIMIT ?
  kTsThreshold  // phase 1: the ts_ms of the limit-th newest-by-time match (LIMIT 1 OFFSET ?)
};

// `min_ts` adds "ts_ms >= ?" (phase 2 of the two-phase plan).
CompiledQuery compile(const LedgerQuery& q, const AccessPath& path, Shape shape, int64_t limit,
                      std::optional<int64_t> min_ts = std::nullopt) {
  CompiledQuery c;
  c.sql = shape == Shape::kPage ? std::string("SELECT ") + kLedgerColumns : std::string("SELECT ts_ms");
  c.sql += " FROM ledger";
  if (path.index != nullptr) {
    c.sql += " INDEXED BY ";
    c.sql += path.index;
  }
  c.sql += " WHERE 1";
  auto eq = [&](const std::optional<std::string>& v, const char* col, bool partial) {
    if (!v) return;
    // "+col" keeps a non-driving filter from being considered as an index (it is checked per row).
    bool driving = path.column != nullptr && std::string_view(col) == path.column;
    c.sql += driving ? " AND " : " AND +";
    c.sql += col;
    c.sql += " = ?";
    // Partial indexes (WHERE col <> '') are only usable when the query repeats that term.
    if (driving && partial) {
      c.sql += " AND ";
      c.sql += col;
      c.sql += " <> ''";
    }
    c.binds.emplace_back(*v);
  };
  eq(q.jti, "jti", true);
  eq(q.token_sha256, "token_sha256", true);
  eq(q.kid, "kid", false);
  eq(q.sub, "sub", true);
  eq(q.keyset, "keyset", false);
  eq(q.actor, "actor", false);
  eq(q.outcome, "outcome", false);
  eq(q.kind, "kind", false);
  std::optional<int64_t> from = q.from_ms;
  if (min_ts && (!from || *min_ts > *from)) from = min_ts;
  if (from) {
    c.sql += " AND ts_ms >= ?";
    c.binds.emplace_back(*from);
  }
  if (q.to_ms) {
    c.sql += " AND ts_ms <= ?";
    c.binds.emplace_back(*q.to_ms);
  }
  if (q.before_seq) {
    c.sql += " AND seq < ?";
    c.binds.emplace_back(*q.before_seq);
  }
  if (shape == Shape::kPage) {
    c.sql += " ORDER BY seq DESC LIMIT ?";
    c.binds.emplace_back(limit);
  } else {
    c.sql += " ORDER BY ts_ms DESC LIMIT 1 OFFSET ?";
    c.binds.emplace_back(limit - 1);
  }
  return c;
}

void bind_all(Query& q, const CompiledQuery& c) {
  int i = 1;
  for (const auto& b : c.binds) {
    if (const auto* s = std::get_if<std::string>(&b)) {
      q.bind(i++, std::string_view(*s));
    } else {
      q.bind(i++, std::get<int64_t>(b));
    }
  }
}

// verify_ledger_chain()'s reads, on one reader connection inside the caller's read transaction.
class SqliteChainReader final : public ChainReader {
 public:
  explicit SqliteChainReader(Connection& c) : c_(c) {}

  Status scan(int64_t after_seq, const std::function<bool(LedgerEntry&&)>& sink) override {
    ASSIGN_OR_RETURN(auto q,
                     c_.prepare(std::string("SELECT ") + kLedgerColumns + " FROM ledger WHERE seq > ? ORDER BY seq"));
    q.bind(1, after_seq);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.step("verify chain"));
      if (!row || !sink(read_entry(q))) return Status::Ok();
    }
  }

  Result<std::vector<LedgerCheckpoint>> newest_checkpoints(int n) override {
    ASSIGN_OR_RETURN(auto q, c_.prepare("SELECT seq, head FROM checkpoints ORDER BY seq DESC LIMIT ?"));
    q.bind(1, static_cast<int64_t>(n));
    std::vector<LedgerCheckpoint> out;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.step("read checkpoints"));
      if (!row) return out;
      LedgerCheckpoint cp;
      cp.seq = q.int64(0);
      cp.head = q.blob(1);
      out.push_back(std::move(cp));
    }
  }

  Result<std::optional<Bytes>> entry_hash(int64_t seq) override {
    ASSIGN_OR_RETURN(auto q, c_.prepare("SELECT hash FROM ledger WHERE seq = ?"));
    q.bind(1, seq);
    ASSIGN_OR_RETURN(bool found, q.step("read checkpointed entry"));
    if (!found) return std::optional<Bytes>();
    return std::optional<Bytes>(q.blob(0));
  }

  Result<std::optional<ChainTail>> metadata() override {
    ASSIGN_OR_RETURN(auto q, c_.prepare("SELECT name, value FROM ledger_meta"));
    ChainTail meta;
    meta.ts_disorder_ms = -1;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.step("read ledger metadata"));
      if (!row) return std::optional<ChainTail>(std::move(meta));
      if (q.text(0) == "max_ts_ms") meta.max_ts_ms = q.int64(1);
      if (q.text(0) == "ts_disorder_ms") meta.ts_disorder_ms = q.int64(1);
    }
  }

 private:
  Connection& c_;
};

// Stored subtree hashes of the ledger's Merkle tree, read from one connection (point lookups by
// index: a proof needs O(log n) of them).
class SqliteHashReader final : public merkle::HashReader {
 public:
  explicit SqliteHashReader(Connection& c) : c_(c) {}
  Result<std::vector<merkle::Hash>> read_hashes(std::span<const uint64_t> indexes) const override {
    ASSIGN_OR_RETURN(auto q, c_.prepare("SELECT hash FROM tree_hashes WHERE idx = ?"));
    std::vector<merkle::Hash> out;
    out.reserve(indexes.size());
    for (uint64_t idx : indexes) {
      q.reset();
      q.bind(1, static_cast<int64_t>(idx));
      ASSIGN_OR_RETURN(bool row, q.step("read tree hash"));
      if (!row) return DataLoss("tree hash " + std::to_string(idx) + " is not stored", "tree_hash_missing");
      auto h = merkle::hash_from_bytes(q.blob(0));
      if (!h.ok()) return DataLoss("tree hash " + std::to_string(idx) + " is not 32 bytes", "tree_hash_missing");
      out.push_back(*h);
    }
    return out;
  }

 private:
  Connection& c_;
};

Result<TreeHead> read_tree_head(Connection& c) {
  ASSIGN_OR_RETURN(auto q, c.prepare("SELECT size, root, integrated_at_ms FROM tree_head WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, q.step("read tree head"));
  if (!row) return DataLoss("the tree head row is missing", "tree_head_missing");
  TreeHead h;
  h.size = q.int64(0);
  h.root = q.blob(1);
  h.integrated_at_ms = q.int64(2);
  return h;
}

constexpr char kTreeCheckpointColumns[] = "size, root, ts_ms, note";

TreeCheckpoint read_tree_checkpoint(const Query& q) {
  TreeCheckpoint cp;
  cp.size = q.int64(0);
  cp.root = q.blob(1);
  cp.ts_ms = q.int64(2);
  cp.note = q.text(3);
  return cp;
}

class SqliteStore final : public Store, public CommitStatsSource {
 public:
  SqliteStore(std::string path, const StoreOptions& opts, const SqliteOptions& sqlite)
      : path_(std::move(path)), opts_(opts), sqlite_(sqlite) {}
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status init();

  Result<std::vector<KeysetRecord>> list_keysets() override;
  Result<KeysetRecord> get_keyset(std::string_view name) override;
  Result<std::vector<KeyRecord>> list_keys(std::optional<int64_t> keyset_id) override;
  Result<KeyRecord> get_key_by_kid(std::string_view kid) override;
  Result<std::vector<KeysetVersion>> keyset_versions() override;
  Result<std::vector<int64_t>> apply(const ChangeSet& changes) override;

  Result<int64_t> append_ledger(LedgerEntry entry) override;
  Result<int64_t> append_signature(LedgerEntry entry) override;
  using Store::add_tree_checkpoint;
  using Store::integrate_tree;
  using Store::sequence_ledger;
  // Entries are chained at commit (one writer): nothing is ever pending, nothing is written.
  Result<int64_t> sequence_ledger(int64_t, const Fence*) override { return int64_t{0}; }
  Result<LedgerPage> query_ledger(const LedgerQuery& q) override;
  Status export_ledger(const LedgerQuery& q, const std::function<bool(const LedgerEntry&)>& sink) override;
  Status tokens_signed_since(std::string_view kid, int64_t since_ms, int64_t now_s,
                             const std::function<bool(const LedgerEntry&)>& sink) override;
  Result<int64_t> ledger_size() override;
  Result<ChainReport> verify_chain() override;
  Result<LedgerEntry> ledger_head() override;

  Status add_checkpoint(const LedgerCheckpoint& cp) override;
  Result<std::vector<LedgerCheckpoint>> list_checkpoints(int limit) override;

  Result<TreeHead> integrate_tree(int64_t max_entries, const Fence* fence) override;
  Result<TreeHead> tree_head() override;
  Result<std::vector<merkle::Hash>> read_tree_hashes(std::span<const uint64_t> indexes) override;
  Status scan_ledger(int64_t from_seq, int64_t to_seq, const std::function<bool(const LedgerEntry&)>& sink) override;
  Status scan_tree_hashes(uint64_t from_index, const std::function<bool(uint64_t, const Bytes&)>& sink) override;
  Status add_tree_checkpoint(const TreeCheckpoint& cp, const Fence* fence) override;
  Result<std::vector<TreeCheckpoint>> list_tree_checkpoints(int64_t before_size, int limit) override;
  Result<TreeCheckpoint> tree_checkpoint_at_most(int64_t at_most) override;
  Status add_cosignature(const Cosignature& c) override;
  Result<std::vector<Cosignature>> list_cosignatures(int64_t size) override;
  Status add_audit_key(const AuditKeyRecord& k) override;
  Status retire_audit_key(std::string_view verifier_key, int64_t at) override;
  Result<std::vector<AuditKeyRecord>> list_audit_keys() override;

  Status create_api_token(const ApiTokenRecord& t, const LedgerEntry& event) override;
  Result<ApiTokenRecord> get_api_token(std::string_view id) override;
  Result<std::vector<ApiTokenRecord>> list_api_tokens() override;
  Status revoke_api_token(std::string_view id, int64_t at, const LedgerEntry& event) override;

  Result<bool> raise_alert(const AlertRecord& a, const LedgerEntry& evidence,
                           const std::vector<std::string>& sinks) override;
  Result<AlertRecord> get_alert(std::string_view id) override;
  Result<AlertPage> list_alerts(const AlertQuery& q) override;
  Status ack_alert(std::string_view id, std::string_view by, std::string_view reason, int64_t at_ms,
                   const LedgerEntry& event) override;
  Result<std::vector<std::pair<AlertDelivery, AlertRecord>>> claim_alert_deliveries(int64_t now_ms, int64_t claim_ms,
                                                                                    int limit) override;
  Status finish_alert_delivery(std::string_view alert_id, std::string_view sink, bool delivered, int64_t at_ms,
                               int64_t retry_at_ms, std::string_view error) override;
  Result<std::vector<AlertDelivery>> list_alert_deliveries(std::string_view alert_id) override;
  Result<AlertStats> alert_stats() override;
  Result<std::vector<KeyUsage>> key_usage(const std::vector<std::string>& kids) override;
  Result<std::vector<KeyUsageHour>> key_usage_hours(const std::vector<std::string>& kids, int64_t from_ms,
                                                    int64_t to_ms) override;
  Result<int64_t> note_first_seen(std::string_view keyset, std::string_view kind, std::string_view value,
                                  int64_t ts_ms) override;

  Result<Lease> acquire_lease(std::string_view name, std::string_view holder, int64_t ttl_ms) override;
  Status release_lease(std::string_view name, std::string_view holder, int64_t epoch) override;
  Result<std::optional<Lease>> read_lease(std::string_view name) override;

  Status check_writable() override;

  CommitStats commit_stats() const override { return commits_.snapshot(); }
  SqliteStats sqlite_stats() const { return SqliteStats{wal_checkpoints_.load()}; }

 private:

  // Returns a reader to the pool when it goes out of scope.
  class ReaderLease {
   public:
    ReaderLease(SqliteStore* s, std::unique_ptr<Connection> c) : store_(s), conn_(std::move(c)) {}
    ~ReaderLease() { store_->release_reader(std::move(conn_)); }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    SqliteStore* store_;
    std::unique_ptr<Connection> conn_;
  };

  ReaderLease acquire_reader();
  void release_reader(std::unique_ptr<Connection> c);

  // REQUIRES: write_mu_ held. Reloads the head from the file after a failed commit, whose outcome
  // on disk is not known for certain (e.g. IOERR during COMMIT).
  Status refresh_head_locked();
  // REQUIRES: write_mu_ held and a write transaction open. Appends entries after *tail,
  // advancing it; the caller publishes it to head_ only after COMMIT succeeds.
  Status insert_ledger_locked(const std::vector<const LedgerEntry*>& entries, ChainTail* tail,
                              std::vector<int64_t>* seqs);
  // Runs `body` in one write transaction with `ledger` appended to the chain; all or nothing.
  // With `admit` (group commits): entries flagged there are signatures, written only if the
  // sign-time rule admits them (db/signing_admission.h); refused ones go to *refusals, get seq 0
  // and are not written.
  Status write_txn(std::string_view op, const std::vector<const LedgerEntry*>& ledger,
                   const std::function<Status(Connection&)>& body, std::vector<int64_t>* seqs = nullptr,
                   const std::vector<bool>* admit = nullptr, std::vector<Status>* refusals = nullptr);
  // REQUIRES: write_mu_ held and a write transaction open. The key rows the sign-time rule needs.
  Result<std::map<std::string, SigningKeyRow>> signing_key_rows_locked(const std::vector<std::string>& kids);
  void wal_checkpointer_loop();
  // sqlite3_wal_hook on the writer: runs in the committing thread right after each COMMIT.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int frames);

  Status apply_body(Connection& c, const ChangeSet& changes, std::vector<int64_t>* ids);
  Result<std::vector<LedgerEntry>> read_page(Connection& c, const LedgerQuery& q, int64_t limit);

  const std::string path_;
  const StoreOptions opts_;
  const SqliteOptions sqlite_;

  std::mutex write_mu_;
  std::unique_ptr<Connection> writer_;  // GUARDED_BY(write_mu_)
  ChainTail head_;                      // GUARDED_BY(write_mu_); last committed state
  bool head_stale_ = false;             // GUARDED_BY(write_mu_)
  int64_t data_version_ = -1;           // GUARDED_BY(write_mu_): PRAGMA data_version when head_ was loaded
  // Highest seq known committed; readable without write_mu_ (verify_chain's truncation check).
  std::atomic<int64_t> committed_seq_{0};

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // GUARDED_BY(pool_mu_)

  // Created last in init(); its committer runs write_txn() batches.
  std::unique_ptr<GroupCommitter> group_commit_;
  CommitCounter commits_;

  // WAL checkpoints run on their own connection and thread, off the commit path: a checkpoint
  // copies pages into the database file and fsyncs it, which would otherwise stall every caller
  // waiting on the group commit that happened to cross the threshold.
  std::unique_ptr<Connection> wal_checkpointer_conn_;  // used only by wal_checkpointer_
  std::mutex wal_ckpt_mu_;
  std::condition_variable wal_ckpt_cv_;
  bool wal_ckpt_requested_ = false;  // GUARDED_BY(wal_ckpt_mu_)
  bool wal_ckpt_stop_ = false;       // GUARDED_BY(wal_ckpt_mu_)
  std::thread wal_checkpointer_;
  std::atomic<int64_t> wal_checkpoints_{0};
};

SqliteStore::~SqliteStore() {
  // Answers every blocked append_ledger() caller before anything else goes away.
  if (group_commit_) group_commit_->stop();
  {
    std::lock_guard lk(wal_ckpt_mu_);
    wal_ckpt_stop_ = true;
  }
  wal_ckpt_cv_.notify_all();
  if (wal_checkpointer_.joinable()) wal_checkpointer_.join();
}

Status SqliteStore::init() {
  Connection::Options wopts;
  wopts.busy_timeout_ms = sqlite_.busy_timeout_ms;
  const int cache_kib = std::max(sqlite_.cache_mib, 2) * 1024;
  wopts.cache_kib = cache_kib / 2;  // the random-key indexes (jti, token hash) touch a page per entry
  // Token hashes, subjects and callers live here: owner-only, and so are -wal and -shm.
  RETURN_IF_ERROR(sqlite::create_private_file(path_));
  ASSIGN_OR_RETURN(writer_, Connection::open(path_, wopts));
  {
    // journal_mode answers with the mode in effect; anything but "wal" (e.g. on a filesystem without
    // shared memory) would silently lose concurrent readers, so refuse it.
    ASSIGN_OR_RETURN(auto q, writer_->prepare("PRAGMA journal_mode=WAL"));
    ASSIGN_OR_RETURN(bool row, q.step("set journal_mode=WAL"));
    if (!row || q.text(0) != "wal") {
      return Unavailable("database '" + path_ + "' cannot use WAL journal mode", std::string(kDatabaseUnavailable));
    }
  }
  RETURN_IF_ERROR(writer_->exec(opts_.unsafe_no_sync ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL",
                                "set synchronous", kDatabaseUnavailable));
  RETURN_IF_ERROR(migrate(*writer_, wall_clock_ms()));
  {
    std::lock_guard lk(write_mu_);
    RETURN_IF_ERROR(refresh_head_locked());
  }
  Connection::Options ropts;
  ropts.busy_timeout_ms = sqlite_.busy_timeout_ms;
  ropts.read_only = true;
  ropts.cache_kib = std::max(cache_kib / 2 / std::max(opts_.read_connections, 1), 256);
  for (int i = 0; i < std::max(1, opts_.read_connections); ++i) {
    ASSIGN_OR_RETURN(auto r, Connection::open(path_, ropts));
    idle_readers_.push_back(std::move(r));
  }
  Connection::Options copts;
  copts.busy_timeout_ms = sqlite_.busy_timeout_ms;
  ASSIGN_OR_RETURN(wal_checkpointer_conn_, Connection::open(path_, copts));
  // A WAL checkpoint syncs per its own connection's setting; it must match the writer's, or a
  // crash after the WAL is rewound could lose pages that were only in the WAL.
  RETURN_IF_ERROR(wal_checkpointer_conn_->exec(opts_.unsafe_no_sync ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL",
                                               "set synchronous", kDatabaseUnavailable));
  // Replaces SQLite's automatic checkpoint (which is itself a WAL hook) with on_wal_commit.
  sqlite3_wal_hook(writer_->handle(), &SqliteStore::on_wal_commit, this);
  wal_checkpointer_ = std::thread([this] { wal_checkpointer_loop(); });
  group_commit_ = std::make_unique<GroupCommitter>(
      opts_.max_batch, [this](const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit,
                              std::vector<int64_t>* seqs, std::vector<Status>* refusals) {
        return write_txn("append to ledger", entries, nullptr, seqs, &admit, refusals);
      });
  return Status::Ok();
}

SqliteStore::ReaderLease SqliteStore::acquire_reader() {
  std::unique_lock lk(pool_mu_);
  pool_cv_.wait(lk, [&] { return !idle_readers_.empty(); });
  auto c = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return ReaderLease(this, std::move(c));
}

void SqliteStore::release_reader(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lk(pool_mu_);
    idle_readers_.push_back(std::move(c));
  }
  pool_cv_.notify_one();
}

Status SqliteStore::refresh_head_locked() {
  ChainTail st;
  {
    ASSIGN_OR_RETURN(auto q, writer_->prepare("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool row, q.step("load ledger head"));
    st.seq = row ? q.int64(0) : 0;
    st.hash = row ? q.blob(1) : ledger_genesis_hash();
  }
  {
    ASSIGN_OR_RETURN(auto q, writer_->prepare("SELECT name, value FROM ledger_meta"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.step("load ledger metadata"));
      if (!row) break;
      std::string name = q.text(0);
      if (name == "max_ts_ms") st.max_ts_ms = q.int64(1);
      if (name == "ts_disorder_ms") st.ts_disorder_ms = q.int64(1);
    }
  }
  head_ = std::move(st);
  head_stale_ = false;
  committed_seq_.store(head_.seq);
  return Status::Ok();
}

Status SqliteStore::insert_ledger_locked(const std::vector<const LedgerEntry*>& entries, ChainTail* st,
                                         std::vector<int64_t>* seqs) {
  if (entries.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(auto q, writer_->prepare(
                               "INSERT INTO ledger(seq, ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, "
                               "sub, aud, iat, exp, token_sha256, outcome, reason, detail, prev_hash, hash) "
                               "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               kLedgerUnavailable));
  const int64_t old_disorder = st->ts_disorder_ms;
  for (const LedgerEntry* in : entries) {
    LedgerEntry e = *in;
    st->link(e);
    q.bind(1, e.seq).bind(2, e.ts_ms).bind(3, e.kind).bind(4, e.event).bind(5, e.keyset).bind(6, e.kid);
    q.bind(7, e.alg).bind(8, e.actor).bind(9, e.actor_addr).bind(10, e.jti).bind(11, e.sub).bind(12, e.aud);
    q.bind(13, e.iat).bind(14, e.exp).bind(15, e.token_sha256).bind(16, e.outcome).bind(17, e.reason);
    q.bind(18, e.detail).bind(19, e.prev_hash).bind(20, e.hash);
    RETURN_IF_ERROR(q.run("append ledger entry"));
    q.reset();  // the one cached statement is reused for every entry of the batch
    if (seqs != nullptr) seqs->push_back(e.seq);
  }
  ASSIGN_OR_RETURN(auto meta, writer_->prepare("UPDATE ledger_meta SET value = ? WHERE name = ?", kLedgerUnavailable));
  RETURN_IF_ERROR(meta.bind(1, st->max_ts_ms).bind(2, std::string_view("max_ts_ms")).run("update ledger metadata"));
  if (st->ts_disorder_ms != old_disorder) {
    meta.reset();
    RETURN_IF_ERROR(
        meta.bind(1, st->ts_disorder_ms).bind(2, std::string_view("ts_disorder_ms")).run("update ledger metadata"));
  }
  return Status::Ok();
}

Result<std::map<std::string, SigningKeyRow>> SqliteStore::signing_key_rows_locked(const std::vector<std::string>& kids) {
  std::map<std::string, SigningKeyRow> rows;
  if (kids.empty()) return rows;
  ASSIGN_OR_RETURN(auto q, writer_->prepare("SELECT s.name, s.disabled, k.state, k.activate_at, k.deactivate_at, "
                                            "coalesce(u.signatures, 0) FROM keys k JOIN keysets s ON s.id = k.keyset_id "
                                            "LEFT JOIN key_usage u ON u.kid = k.kid WHERE k.kid = ?",
                                            kLedgerUnavailable));
  for (const auto& kid : kids) {
    q.bind(1, kid);
    ASSIGN_OR_RETURN(bool row, q.step("read the signing key"));
    if (row) {
      rows[kid] = SigningKeyRow{q.text(0), q.int64(1) != 0, q.text(2), q.int64(3), q.int64(4), q.int64(5)};
    }
    q.reset();
  }
  return rows;
}

Status SqliteStore::write_txn(std::string_view op, const std::vector<const LedgerEntry*>& ledger,
                              const std::function<Status(Connection&)>& body, std::vector<int64_t>* seqs,
                              const std::vector<bool>* admit, std::vector<Status>* refusals) {
  std::string_view reason = ledger.empty() ? kDatabaseUnavailable : kLedgerUnavailable;
  std::lock_guard lk(write_mu_);
  ChainTail next;
  Status st = [&]() -> Status {
    // A failed ROLLBACK (e.g. I/O error) can leave the connection inside a transaction; every later
    // BEGIN would then fail for good. Try to clear it first.
    if (sqlite3_get_autocommit(writer_->handle()) == 0) {
      RETURN_IF_ERROR(writer_->exec("ROLLBACK", "roll back a stale transaction", reason));
      head_stale_ = true;
    }
    if (head_stale_) RETURN_IF_ERROR(refresh_head_locked());
    ASSIGN_OR_RETURN(auto txn, Transaction::begin_immediate(*writer_, reason));
    // Another process (the CLI creating an API token, a second instance) may have appended since
    // this connection last wrote: the in-memory head is trusted only while the file's
    // data_version is unchanged (it does not move for this connection's own commits).
    {
      ASSIGN_OR_RETURN(auto q, writer_->prepare("PRAGMA data_version"));
      ASSIGN_OR_RETURN(bool row, q.step("read data_version"));
      const int64_t dv = row ? q.int64(0) : -1;
      if (dv != data_version_) {
        RETURN_IF_ERROR(refresh_head_locked());
        data_version_ = dv;
      }
    }
    next = head_;
    if (body) RETURN_IF_ERROR(body(*writer_));
    const std::vector<std::string> kids = admit != nullptr ? kids_to_admit(ledger, *admit) : std::vector<std::string>{};
    if (kids.empty()) {
      RETURN_IF_ERROR(insert_ledger_locked(ledger, &next, seqs));
    } else {
      // The single writer holds the database: no lifecycle write can land between this read and
      // the commit, so the rule is exact.
      ASSIGN_OR_RETURN(auto rows, signing_key_rows_locked(kids));
      const auto admitted = admit_batch(ledger, *admit, rows, refusals);
      std::vector<int64_t> written;
      RETURN_IF_ERROR(insert_ledger_locked(admitted, &next, &written));
      const auto usage = usage_deltas(ledger, *admit, *refusals);
      if (!usage.empty()) {
        ASSIGN_OR_RETURN(auto u, writer_->prepare("INSERT INTO key_usage(kid, signatures, last_signed_ms) VALUES(?, ?, ?) "
                                                  "ON CONFLICT(kid) DO UPDATE SET signatures = signatures + "
                                                  "excluded.signatures, last_signed_ms = "
                                                  "max(last_signed_ms, excluded.last_signed_ms)",
                                                  kLedgerUnavailable));
        ASSIGN_OR_RETURN(auto h, writer_->prepare("INSERT INTO key_usage_hours(kid, hour_ms, signatures) VALUES(?, ?, ?) "
                                                  "ON CONFLICT(kid, hour_ms) DO UPDATE SET signatures = signatures + "
                                                  "excluded.signatures",
                                                  kLedgerUnavailable));
        for (const auto& [kid, d] : usage) {
          RETURN_IF_ERROR(u.bind(1, kid).bind(2, d.signatures).bind(3, d.last_signed_ms).run("count key usage"));
          u.reset();
          for (const auto& [hour, n] : d.per_hour) {
            RETURN_IF_ERROR(h.bind(1, kid).bind(2, hour).bind(3, n).run("count key usage per hour"));
            h.reset();
          }
        }
      }
      if (seqs != nullptr) *seqs = seqs_for_batch(*refusals, written);
    }
    Status c = txn.commit();
    // The outcome of a failed COMMIT is not certain (an I/O error may strike after the WAL frames
    // were written): re-read the head from the file before the next write rather than guess.
    if (!c.ok()) head_stale_ = true;
    return c;
  }();
  if (!ledger.empty()) commits_.record(ledger.size(), st.ok(), seqs != nullptr && body == nullptr);
  if (!st.ok()) {
    // Ledger writes fail closed with one reason whatever SQLite said, so callers can refuse to sign.
    if (!ledger.empty() && st.code() == ErrorCode::kUnavailable) {
      return Status(ErrorCode::kUnavailable, std::string(kLedgerUnavailable), st.message()).with_context(op);
    }
    return st.with_context(op);
  }
  head_ = std::move(next);
  committed_seq_.store(head_.seq);
  return Status::Ok();
}

// ---- WAL checkpoints ----

// Background WAL checkpoints start at SqliteOptions::wal_checkpoint_frames WAL frames.
// Safety net: past 4x that many frames the writer checkpoints inline. Under sustained load a
// PASSIVE checkpoint on another connection never quite catches up with the writer, and the WAL is
// only rewound once it has been copied completely; the writer, being the only writer, can always
// finish the copy.

int SqliteStore::on_wal_commit(void* self, sqlite3* db, const char* schema, int frames) {
  auto* store = static_cast<SqliteStore*>(self);
  if (frames >= 4 * store->sqlite_.wal_checkpoint_frames) {
    // The commit has already happened; a failed checkpoint only means the WAL stays long.
    int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK) ++store->wal_checkpoints_;
  } else if (frames >= store->sqlite_.wal_checkpoint_frames) {
    {
      std::lock_guard lk(store->wal_ckpt_mu_);
      store->wal_ckpt_requested_ = true;
    }
    store->wal_ckpt_cv_.notify_one();
  }
  return SQLITE_OK;  // anything else would report the (successful) commit as failed
}

void SqliteStore::wal_checkpointer_loop() {
  for (;;) {
    {
      std::unique_lock lk(wal_ckpt_mu_);
      wal_ckpt_cv_.wait(lk, [&] { return wal_ckpt_stop_ || wal_ckpt_requested_; });
      if (wal_ckpt_stop_) return;
      wal_ckpt_requested_ = false;
    }
    // PASSIVE never blocks the writer or readers; it copies what it can.
    int rc = sqlite3_wal_checkpoint_v2(wal_checkpointer_conn_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                       nullptr);
    if (rc == SQLITE_OK) ++wal_checkpoints_;
  }
}

// ---- group commit (db/group_commit.h) ----

Result<int64_t> SqliteStore::append_ledger(LedgerEntry entry) { return group_commit_->append(std::move(entry)); }
Result<int64_t> SqliteStore::append_signature(LedgerEntry entry) {
  return group_commit_->append(std::move(entry), /*admit=*/true);
}

// ---- keysets and keys ----

Result<std::vector<KeysetRecord>> SqliteStore::list_keysets() {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kKeysetColumns + " FROM keysets ORDER BY name"));
  std::vector<KeysetRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list keysets"));
    if (!row) break;
    out.push_back(read_keyset(q));
  }
  return out;
}

Result<KeysetRecord> SqliteStore::get_keyset(std::string_view name) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kKeysetColumns + " FROM keysets WHERE name = ?"));
  q.bind(1, name);
  ASSIGN_OR_RETURN(bool row, q.step("get keyset"));
  if (!row) return NotFound("keyset '" + std::string(name) + "' not found");
  return read_keyset(q);
}

Result<std::vector<KeyRecord>> SqliteStore::list_keys(std::optional<int64_t> keyset_id) {
  auto r = acquire_reader();
  std::string sql = std::string("SELECT ") + kKeyColumns + " FROM keys";
  sql += keyset_id ? " WHERE keyset_id = ? ORDER BY created_at, hsm_id" : " ORDER BY keyset_id, created_at, hsm_id";
  ASSIGN_OR_RETURN(auto q, r->prepare(sql));
  if (keyset_id) q.bind(1, *keyset_id);
  std::vector<KeyRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list keys"));
    if (!row) break;
    out.push_back(read_key(q));
  }
  return out;
}

Result<KeyRecord> SqliteStore::get_key_by_kid(std::string_view kid) {
  if (kid.empty()) return InvalidArgument("empty kid");
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kKeyColumns + " FROM keys WHERE kid = ? AND kid <> ''"));
  q.bind(1, kid);
  ASSIGN_OR_RETURN(bool row, q.step("get key"));
  if (!row) return NotFound("key '" + std::string(kid) + "' not found");
  return read_key(q);
}

Result<std::vector<KeysetVersion>> SqliteStore::keyset_versions() {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT id, name, version FROM keysets ORDER BY name"));
  std::vector<KeysetVersion> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list keyset versions"));
    if (!row) return out;
    out.push_back(KeysetVersion{q.int64(0), q.text(1), q.int64(2)});
  }
}

Status SqliteStore::apply_body(Connection& c, const ChangeSet& ch, std::vector<int64_t>* ids) {
  std::string_view reason = ch.ledger.empty() ? kDatabaseUnavailable : kLedgerUnavailable;
  std::set<int64_t> touched;
  for (const auto& [id, version] : ch.expected_versions) {
    ASSIGN_OR_RETURN(auto q, c.prepare("SELECT version FROM keysets WHERE id = ?", reason));
    q.bind(1, id);
    ASSIGN_OR_RETURN(bool row, q.step("read keyset version"));
    if (!row || q.int64(0) != version) {
      return FailedPrecondition("keyset id " + std::to_string(id) + " was changed meanwhile (version " +
                                    (row ? std::to_string(q.int64(0)) : std::string("gone")) + ", expected " +
                                    std::to_string(version) + "); reload and retry",
                                "keyset_changed");
    }
  }
  for (const auto& k : ch.keyset_upserts) {
    if (k.id == 0) {
      ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO keysets(name, issuer, alg, policy_json, disabled, created_at, "
                                         "updated_at) VALUES(?,?,?,?,?,?,?)",
                                         reason));
      q.bind(1, k.name).bind(2, k.issuer).bind(3, k.alg).bind(4, k.policy_json);
      q.bind(5, static_cast<int64_t>(k.disabled ? 1 : 0)).bind(6, k.created_at).bind(7, k.updated_at);
      RETURN_IF_ERROR(q.run("insert keyset '" + k.name + "'"));
      ids->push_back(sqlite3_last_insert_rowid(c.handle()));
      touched.insert(ids->back());
    } else {
      ASSIGN_OR_RETURN(auto q, c.prepare("UPDATE keysets SET name=?, issuer=?, alg=?, policy_json=?, disabled=?, "
                                         "created_at=?, updated_at=? WHERE id=?",
                                         reason));
      q.bind(1, k.name).bind(2, k.issuer).bind(3, k.alg).bind(4, k.policy_json);
      q.bind(5, static_cast<int64_t>(k.disabled ? 1 : 0)).bind(6, k.created_at).bind(7, k.updated_at).bind(8, k.id);
      RETURN_IF_ERROR(q.run("update keyset '" + k.name + "'"));
      if (sqlite3_changes(c.handle()) == 0) return NotFound("keyset id " + std::to_string(k.id) + " not found");
      ids->push_back(k.id);
      touched.insert(k.id);
    }
  }
  for (const auto& k : ch.key_inserts) {
    ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO keys(kid, keyset_id, alg, state, public_jwk, created_at, "
                                       "activate_at, deactivate_at, retire_at, destroy_at, state_changed_at, "
                                       "compromised_since, note, emergency, hsm_id) "
                                       "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                       reason));
    int next = bind_key_fields(q, k, 1);
    q.bind(next, k.hsm_id);
    RETURN_IF_ERROR(q.run("insert key hsm_id=" + k.hsm_id + " kid='" + k.kid + "'"));
    if (k.state != "generating") touched.insert(k.keyset_id);
  }
  for (const auto& k : ch.key_updates) {
    ASSIGN_OR_RETURN(auto q, c.prepare("UPDATE keys SET kid=?, keyset_id=?, alg=?, state=?, public_jwk=?, "
                                       "created_at=?, activate_at=?, deactivate_at=?, retire_at=?, destroy_at=?, "
                                       "state_changed_at=?, compromised_since=?, note=?, emergency=? WHERE hsm_id=?",
                                       reason));
    int next = bind_key_fields(q, k, 1);
    q.bind(next, k.hsm_id);
    RETURN_IF_ERROR(q.run("update key hsm_id=" + k.hsm_id));
    if (sqlite3_changes(c.handle()) == 0) return NotFound("key hsm_id=" + k.hsm_id + " not found");
    touched.insert(k.keyset_id);
  }
  for (const auto& hsm_id : ch.key_deletes) {
    ASSIGN_OR_RETURN(auto q, c.prepare("DELETE FROM keys WHERE hsm_id=? AND state='generating'", reason));
    q.bind(1, hsm_id);
    RETURN_IF_ERROR(q.run("delete key hsm_id=" + hsm_id));
    if (sqlite3_changes(c.handle()) == 0) {
      return FailedPrecondition("key hsm_id=" + hsm_id + " does not exist or is past 'generating'",
                                "key_not_deletable");
    }
  }
  for (int64_t id : touched) {
    ASSIGN_OR_RETURN(auto q, c.prepare("UPDATE keysets SET version = version + 1 WHERE id = ?", reason));
    RETURN_IF_ERROR(q.bind(1, id).run("bump keyset version"));
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> SqliteStore::apply(const ChangeSet& changes) {
  std::vector<int64_t> ids;
  std::vector<const LedgerEntry*> ledger;
  ledger.reserve(changes.ledger.size());
  for (const auto& e : changes.ledger) ledger.push_back(&e);
  RETURN_IF_ERROR(write_txn("apply change set", ledger, [&](Connection& c) -> Status {
    if (changes.fence) RETURN_IF_ERROR(check_fence_in(c, *changes.fence));
    return apply_body(c, changes, &ids);
  }));
  return ids;
}

// ---- ledger reads ----

// Pages are newest first by seq, but the (x, ts_ms) indexes are ordered by time. Sorting every
// match in the range by seq costs O(range). Instead:
//   phase 1: walk the index newest-by-time and take T = ts_ms of the (limit)-th match;
//   phase 2: the page is the top `limit` by seq among matches with ts_ms >= T - D.
// D (ts_disorder_ms in ledger_meta) is the largest amount by which any entry's ts_ms was older
// than the newest ts_ms already in the ledger when it was appended. Every entry appended after
// entry y therefore has ts_ms >= ts(y) - D, so an entry with ts_ms < T - D has `limit` matches with
// higher seq (the phase-1 ones) and cannot be on the page. The answer is exact; its cost is
// O(limit + entries within D of T). D is a few ms in practice (concurrent appenders); a clock step
// backwards raises it and the plan degrades gracefully towards O(range), never to a wrong answer.
Result<std::vector<LedgerEntry>> SqliteStore::read_page(Connection& c, const LedgerQuery& lq, int64_t limit) {
  AccessPath path = choose_access(lq);
  std::optional<int64_t> min_ts;
  if (path.time_ordered) {
    ASSIGN_OR_RETURN(auto meta, c.prepare("SELECT value FROM ledger_meta WHERE name = 'ts_disorder_ms'"));
    ASSIGN_OR_RETURN(bool has_meta, meta.step("read ledger metadata"));
    int64_t disorder = has_meta ? meta.int64(0) : INT64_MAX;
    CompiledQuery p1 = compile(lq, path, Shape::kTsThreshold, limit);
    ASSIGN_OR_RETURN(auto q1, c.prepare(p1.sql));
    bind_all(q1, p1);
    ASSIGN_OR_RETURN(bool row, q1.step("query ledger (threshold)"));
    // No row: fewer than `limit` matches at all, phase 2 reads them all anyway.
    if (row && disorder != INT64_MAX) min_ts = saturating_sub(q1.int64(0), disorder);
  }
  CompiledQuery cq = compile(lq, path, Shape::kPage, limit, min_ts);
  ASSIGN_OR_RETURN(auto q, c.prepare(cq.sql));
  bind_all(q, cq);
  std::vector<LedgerEntry> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("query ledger"));
    if (!row) break;
    out.push_back(read_entry(q));
  }
  return out;
}

Result<LedgerPage> SqliteStore::query_ledger(const LedgerQuery& lq) {
  int limit = std::clamp(lq.limit, 1, 1000);
  auto r = acquire_reader();
  // One snapshot for metadata and both phases.
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin_read(*r));
  // One extra row tells whether another page exists, so the last page has no cursor.
  ASSIGN_OR_RETURN(auto entries, read_page(*r, lq, limit + 1));
  LedgerPage page;
  if (static_cast<int>(entries.size()) > limit) {
    entries.resize(static_cast<size_t>(limit));
    page.next_cursor = entries.back().seq;
  }
  page.entries = std::move(entries);
  return page;
}

// Walks the same pages as a client would: constant memory (one page), and each page is cheap.
// Later pages only hold older entries (seq < cursor), so appends during the export cannot make an
// entry appear twice or be skipped.
Status SqliteStore::export_ledger(const LedgerQuery& lq, const std::function<bool(const LedgerEntry&)>& sink) {
  constexpr int64_t kPage = 1000;
  LedgerQuery q = lq;
  for (;;) {
    std::vector<LedgerEntry> entries;
    {
      auto r = acquire_reader();
      ASSIGN_OR_RETURN(auto snapshot, Transaction::begin_read(*r));
      ASSIGN_OR_RETURN(entries, read_page(*r, q, kPage));
    }
    // The reader is back in the pool while the sink runs: a slow consumer holds no snapshot open
    // (which would stop WAL checkpoints from completing).
    for (const auto& e : entries) {
      if (!sink(e)) return Status::Ok();
    }
    if (static_cast<int64_t>(entries.size()) < kPage) return Status::Ok();
    q.before_seq = entries.back().seq;
  }
}

Status SqliteStore::tokens_signed_since(std::string_view kid, int64_t since_ms, int64_t now_s,
                                        const std::function<bool(const LedgerEntry&)>& sink) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kLedgerColumns +
                                      " FROM ledger INDEXED BY ledger_kid_ts WHERE kid = ? AND ts_ms >= ? AND +exp > ? AND +kind = 'sign' "
                                      "AND +outcome = 'ok' ORDER BY seq"));
  q.bind(1, kid).bind(2, since_ms).bind(3, now_s);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list tokens signed since"));
    if (!row || !sink(read_entry(q))) break;
  }
  return Status::Ok();
}

Result<int64_t> SqliteStore::ledger_size() {
  // seq is dense (1..n) in an intact ledger, so max(seq) is the count, read from the end of the
  // table in O(log n) instead of a full count(*); verify_chain() counts for real.
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT coalesce(max(seq), 0) FROM ledger"));
  ASSIGN_OR_RETURN(bool row, q.step("ledger size"));
  return row ? q.int64(0) : 0;
}

Result<LedgerEntry> SqliteStore::ledger_head() {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kLedgerColumns + " FROM ledger ORDER BY seq DESC LIMIT 1"));
  ASSIGN_OR_RETURN(bool row, q.step("ledger head"));
  if (!row) return NotFound("ledger is empty", "ledger_empty");
  return read_entry(q);
}

Result<ChainReport> SqliteStore::verify_chain() {
  // Taken before the snapshot: everything up to here was committed, so the snapshot must hold it.
  const int64_t committed_before = committed_seq_.load();
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin_read(*r));
  SqliteChainReader reader(*r);
  return verify_ledger_chain(reader, committed_before);
}

// ---- signed ledger checkpoints ----

Status SqliteStore::add_checkpoint(const LedgerCheckpoint& cp) {
  return write_txn("add checkpoint", {}, [&](Connection& c) -> Status {
    {
      // Refuse a checkpoint that does not describe this ledger: storing it would make every later
      // verification report a mismatch.
      ASSIGN_OR_RETURN(auto q, c.prepare("SELECT hash FROM ledger WHERE seq = ?"));
      q.bind(1, cp.seq);
      ASSIGN_OR_RETURN(bool row, q.step("read checkpointed entry"));
      if (!row) return FailedPrecondition("checkpoint seq " + std::to_string(cp.seq) + " is not in the ledger", "checkpoint_mismatch");
      if (q.blob(0) != cp.head) return FailedPrecondition("checkpoint head does not match entry " + std::to_string(cp.seq), "checkpoint_mismatch");
    }
    ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO checkpoints(seq, head, ts_ms, kid, alg, signature) VALUES(?,?,?,?,?,?)"));
    q.bind(1, cp.seq).bind(2, cp.head).bind(3, cp.ts_ms).bind(4, cp.kid).bind(5, cp.alg).bind(6, cp.signature);
    return q.run("insert checkpoint");
  });
}

Result<std::vector<LedgerCheckpoint>> SqliteStore::list_checkpoints(int limit) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT seq, head, ts_ms, kid, alg, signature FROM checkpoints ORDER BY seq DESC LIMIT ?"));
  q.bind(1, static_cast<int64_t>(std::clamp(limit, 1, 1000)));
  std::vector<LedgerCheckpoint> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list checkpoints"));
    if (!row) break;
    LedgerCheckpoint cp;
    cp.seq = q.int64(0);
    cp.head = q.blob(1);
    cp.ts_ms = q.int64(2);
    cp.kid = q.text(3);
    cp.alg = q.text(4);
    cp.signature = q.blob(5);
    out.push_back(std::move(cp));
  }
  return out;
}

// ---- the Merkle tree ----

Result<TreeHead> SqliteStore::integrate_tree(int64_t max_entries, const Fence* fence) {
  const int64_t batch = std::clamp<int64_t>(max_entries, 1, int64_t{1} << 20);
  // Phase 1, on a reader in one snapshot, without the write lock: read the entries after the tree,
  // check each against the chain, hash them and compute the new subtree hashes and root.
  TreeHead before;
  std::vector<merkle::Hash> fresh;
  TreeHead after;
  {
    auto r = acquire_reader();
    ASSIGN_OR_RETURN(auto snapshot, Transaction::begin_read(*r));
    ASSIGN_OR_RETURN(before, read_tree_head(*r));
    TreeExtension ext(before.size);
    {
      ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kLedgerColumns +
                                          " FROM ledger WHERE seq >= ? AND seq <= ? ORDER BY seq"));
      q.bind(1, before.size).bind(2, before.size + batch);
      for (;;) {
        ASSIGN_OR_RETURN(bool row, q.step("read entries to integrate"));
        if (!row || !ext.add(read_entry(q))) break;
      }
    }
    // When the chain broke after a good prefix, the prefix is integrated now and the next call
    // (which integrates nothing) returns the error.
    if (ext.empty()) {
      RETURN_IF_ERROR(ext.chain_status());
      return before;
    }
    SqliteHashReader stored(*r);
    ASSIGN_OR_RETURN(auto computed, ext.compute(stored));
    fresh = std::move(computed.hashes);
    after = std::move(computed.head);
  }
  // Phase 2, under the write lock: append the hashes unless another integrator moved the tree.
  bool moved = false;
  after.integrated_at_ms = wall_clock_ms();
  Status st = write_txn("integrate ledger tree", {}, [&](Connection& c) -> Status {
    if (fence != nullptr) RETURN_IF_ERROR(check_fence_in(c, *fence));
    ASSIGN_OR_RETURN(TreeHead now, read_tree_head(c));
    if (now.size != before.size) {
      moved = true;
      return Status::Ok();
    }
    const int64_t base = static_cast<int64_t>(merkle::stored_hash_count(static_cast<uint64_t>(before.size)));
    ASSIGN_OR_RETURN(auto ins, c.prepare("INSERT INTO tree_hashes(idx, hash) VALUES(?, ?)"));
    for (size_t i = 0; i < fresh.size(); ++i) {
      ins.reset();
      const Bytes h = merkle::hash_bytes(fresh[i]);  // bound without a copy: must outlive run()
      ins.bind(1, base + static_cast<int64_t>(i)).bind(2, h);
      RETURN_IF_ERROR(ins.run("store tree hash"));
    }
    ASSIGN_OR_RETURN(auto up, c.prepare("UPDATE tree_head SET size = ?, root = ?, integrated_at_ms = ? WHERE id = 1"));
    return up.bind(1, after.size).bind(2, after.root).bind(3, after.integrated_at_ms).run("update tree head");
  });
  RETURN_IF_ERROR(st);
  if (moved) return tree_head();
  return after;
}

Result<TreeHead> SqliteStore::tree_head() {
  auto r = acquire_reader();
  return read_tree_head(*r);
}

Result<std::vector<merkle::Hash>> SqliteStore::read_tree_hashes(std::span<const uint64_t> indexes) {
  auto r = acquire_reader();
  return SqliteHashReader(*r).read_hashes(indexes);
}

Status SqliteStore::scan_ledger(int64_t from_seq, int64_t to_seq, const std::function<bool(const LedgerEntry&)>& sink) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin_read(*r));
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kLedgerColumns +
                                      " FROM ledger WHERE seq >= ? AND seq <= ? ORDER BY seq"));
  q.bind(1, from_seq).bind(2, to_seq);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("scan ledger"));
    if (!row || !sink(read_entry(q))) return Status::Ok();
  }
}

Status SqliteStore::scan_tree_hashes(uint64_t from_index, const std::function<bool(uint64_t, const Bytes&)>& sink) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin_read(*r));
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT idx, hash FROM tree_hashes WHERE idx >= ? ORDER BY idx"));
  q.bind(1, static_cast<int64_t>(from_index));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("scan tree hashes"));
    if (!row || !sink(static_cast<uint64_t>(q.int64(0)), q.blob(1))) return Status::Ok();
  }
}

Status SqliteStore::add_tree_checkpoint(const TreeCheckpoint& cp, const Fence* fence) {
  return write_txn("add tree checkpoint", {}, [&](Connection& c) -> Status {
    if (fence != nullptr) RETURN_IF_ERROR(check_fence_in(c, *fence));
    ASSIGN_OR_RETURN(TreeHead head, read_tree_head(c));
    if (cp.size < 0 || cp.size > head.size) {
      return FailedPrecondition("checkpoint size " + std::to_string(cp.size) + " is beyond the tree (" +
                                    std::to_string(head.size) + ")",
                                "checkpoint_mismatch");
    }
    SqliteHashReader reader(c);
    ASSIGN_OR_RETURN(merkle::Hash root, merkle::tree_hash(static_cast<uint64_t>(cp.size), reader));
    if (merkle::hash_bytes(root) != cp.root) {
      return FailedPrecondition("checkpoint root is not the tree's root at size " + std::to_string(cp.size),
                                "checkpoint_mismatch");
    }
    {
      ASSIGN_OR_RETURN(auto q, c.prepare("SELECT coalesce(max(size), -1) FROM tree_checkpoints"));
      ASSIGN_OR_RETURN(bool row, q.step("read newest checkpoint"));
      const int64_t newest = row ? q.int64(0) : -1;
      if (newest == cp.size) return AlreadyExists("a checkpoint of size " + std::to_string(cp.size) + " exists");
      if (newest > cp.size) {
        return FailedPrecondition("a checkpoint of size " + std::to_string(newest) + " already exists",
                                  "checkpoint_not_newer");
      }
    }
    ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO tree_checkpoints(size, root, ts_ms, note) VALUES(?,?,?,?)"));
    return q.bind(1, cp.size).bind(2, cp.root).bind(3, cp.ts_ms).bind(4, cp.note).run("insert tree checkpoint");
  });
}

Result<std::vector<TreeCheckpoint>> SqliteStore::list_tree_checkpoints(int64_t before_size, int limit) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kTreeCheckpointColumns +
                                      " FROM tree_checkpoints WHERE size < ? ORDER BY size DESC LIMIT ?"));
  q.bind(1, before_size > 0 ? before_size : std::numeric_limits<int64_t>::max());
  q.bind(2, static_cast<int64_t>(std::clamp(limit, 1, 1000)));
  std::vector<TreeCheckpoint> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list tree checkpoints"));
    if (!row) return out;
    out.push_back(read_tree_checkpoint(q));
  }
}

Result<TreeCheckpoint> SqliteStore::tree_checkpoint_at_most(int64_t at_most) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kTreeCheckpointColumns +
                                      " FROM tree_checkpoints WHERE size <= ? ORDER BY size DESC LIMIT 1"));
  q.bind(1, at_most);
  ASSIGN_OR_RETURN(bool row, q.step("read tree checkpoint"));
  if (!row) return NotFound("no signed checkpoint covers size " + std::to_string(at_most) + " yet", "no_checkpoint");
  return read_tree_checkpoint(q);
}

Status SqliteStore::add_cosignature(const Cosignature& cs) {
  return write_txn("add cosignature", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO tree_cosignatures(size, witness, signature_line, received_at_ms) "
                                       "VALUES(?,?,?,?) ON CONFLICT(size, witness) DO UPDATE SET "
                                       "signature_line = excluded.signature_line, received_at_ms = excluded.received_at_ms"));
    return q.bind(1, cs.size).bind(2, cs.witness).bind(3, cs.signature_line).bind(4, cs.received_at_ms).run(
        "store cosignature");
  });
}

Result<std::vector<Cosignature>> SqliteStore::list_cosignatures(int64_t size) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT size, witness, signature_line, received_at_ms FROM tree_cosignatures "
                                      "WHERE size = ? ORDER BY witness"));
  q.bind(1, size);
  std::vector<Cosignature> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list cosignatures"));
    if (!row) return out;
    out.push_back(Cosignature{q.int64(0), q.text(1), q.text(2), q.int64(3)});
  }
}

Status SqliteStore::add_audit_key(const AuditKeyRecord& k) {
  return write_txn("add audit key", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO audit_keys(verifier_key, hsm_id, alg, created_at, active_from, "
                                       "retired_at) VALUES(?,?,?,?,?,?)"));
    return q.bind(1, k.verifier_key).bind(2, k.hsm_id).bind(3, k.alg).bind(4, k.created_at).bind(5, k.active_from)
        .bind(6, k.retired_at)
        .run("insert audit key");
  });
}

Status SqliteStore::retire_audit_key(std::string_view verifier_key, int64_t at) {
  return write_txn("retire audit key", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto q, c.prepare("UPDATE audit_keys SET retired_at = ? WHERE verifier_key = ?"));
    RETURN_IF_ERROR(q.bind(1, at).bind(2, verifier_key).run("retire audit key"));
    if (sqlite3_changes(c.handle()) == 0) return NotFound("audit key not found", "audit_key_not_found");
    return Status::Ok();
  });
}

Result<std::vector<AuditKeyRecord>> SqliteStore::list_audit_keys() {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT verifier_key, hsm_id, alg, created_at, active_from, retired_at "
                                      "FROM audit_keys ORDER BY active_from, created_at, verifier_key"));
  std::vector<AuditKeyRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list audit keys"));
    if (!row) return out;
    out.push_back(AuditKeyRecord{q.text(0), q.text(1), q.text(2), q.int64(3), q.int64(4), q.opt_int64(5)});
  }
}

// ---- API tokens ----

Status SqliteStore::create_api_token(const ApiTokenRecord& t, const LedgerEntry& event) {
  std::string keysets = nlohmann::json(t.keysets).dump();
  return write_txn("create api token", {&event}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO api_tokens(id, name, role, keysets, secret_hash, created_at, "
                                       "revoked_at) VALUES(?,?,?,?,?,?,?)",
                                       kLedgerUnavailable));
    q.bind(1, t.id).bind(2, t.name).bind(3, t.role).bind(4, keysets).bind(5, t.secret_hash).bind(6, t.created_at);
    q.bind(7, t.revoked_at);
    return q.run("insert api token '" + t.id + "'");
  });
}

Result<ApiTokenRecord> SqliteStore::get_api_token(std::string_view id) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kTokenColumns + " FROM api_tokens WHERE id = ?"));
  q.bind(1, id);
  ASSIGN_OR_RETURN(bool row, q.step("get api token"));
  if (!row) return NotFound("api token not found", "token_not_found");
  return read_token(q);
}

Result<std::vector<ApiTokenRecord>> SqliteStore::list_api_tokens() {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kTokenColumns + " FROM api_tokens ORDER BY created_at, id"));
  std::vector<ApiTokenRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list api tokens"));
    if (!row) break;
    ASSIGN_OR_RETURN(auto t, read_token(q));
    out.push_back(std::move(t));
  }
  return out;
}

Status SqliteStore::revoke_api_token(std::string_view id, int64_t at, const LedgerEntry& event) {
  return write_txn("revoke api token", {&event}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto q, c.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                       kLedgerUnavailable));
    q.bind(1, at).bind(2, id);
    RETURN_IF_ERROR(q.run("revoke api token"));
    if (sqlite3_changes(c.handle()) == 0) return NotFound("api token not found or already revoked", "token_not_found");
    return Status::Ok();
  });
}

// ---- alerts ----

constexpr char kAlertColumns[] =
    "id, ts_ms, last_seen_ms, occurrences, kind, severity, keyset, kid, summary, evidence, acked_at_ms, acked_by, "
    "ack_reason";

AlertRecord read_alert(const Query& q, int first = 0) {
  AlertRecord a;
  a.id = q.text(first + 0);
  a.ts_ms = q.int64(first + 1);
  a.last_seen_ms = q.int64(first + 2);
  a.occurrences = q.int64(first + 3);
  a.kind = q.text(first + 4);
  a.severity = q.text(first + 5);
  a.keyset = q.text(first + 6);
  a.kid = q.text(first + 7);
  a.summary = q.text(first + 8);
  a.evidence = q.text(first + 9);
  a.acked_at_ms = q.opt_int64(first + 10);
  a.acked_by = q.text(first + 11);
  a.ack_reason = q.text(first + 12);
  return a;
}

Result<bool> SqliteStore::raise_alert(const AlertRecord& a, const LedgerEntry& evidence,
                                      const std::vector<std::string>& sinks) {
  bool created = false;
  RETURN_IF_ERROR(write_txn("raise alert", {&evidence}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto bump, c.prepare("UPDATE alerts SET occurrences = occurrences + 1, "
                                          "last_seen_ms = max(last_seen_ms, ?) WHERE id = ?",
                                          kLedgerUnavailable));
    RETURN_IF_ERROR(bump.bind(1, a.ts_ms).bind(2, a.id).run("count alert occurrence"));
    if (sqlite3_changes(c.handle()) > 0) return Status::Ok();
    created = true;
    ASSIGN_OR_RETURN(auto ins, c.prepare(std::string("INSERT INTO alerts(") + kAlertColumns +
                                             ") VALUES(?,?,?,1,?,?,?,?,?,?,NULL,'','')",
                                         kLedgerUnavailable));
    ins.bind(1, a.id).bind(2, a.ts_ms).bind(3, a.ts_ms).bind(4, a.kind).bind(5, a.severity).bind(6, a.keyset);
    ins.bind(7, a.kid).bind(8, a.summary).bind(9, a.evidence);
    RETURN_IF_ERROR(ins.run("insert alert"));
    for (const auto& sink : sinks) {
      ASSIGN_OR_RETURN(auto d, c.prepare("INSERT INTO alert_deliveries(alert_id, sink, next_attempt_ms) VALUES(?,?,?)",
                                         kLedgerUnavailable));
      RETURN_IF_ERROR(d.bind(1, a.id).bind(2, sink).bind(3, a.ts_ms).run("queue alert delivery"));
    }
    return Status::Ok();
  }));
  return created;
}

Result<AlertRecord> SqliteStore::get_alert(std::string_view id) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE id = ?"));
  q.bind(1, id);
  ASSIGN_OR_RETURN(bool row, q.step("get alert"));
  if (!row) return NotFound("no alert with id '" + std::string(id) + "'", "alert_not_found");
  return read_alert(q);
}

Result<AlertPage> SqliteStore::list_alerts(const AlertQuery& in) {
  const int limit = std::clamp(in.limit, 1, 1000);
  std::string sql = std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE 1=1";
  std::vector<std::variant<std::string, int64_t>> binds;
  auto text_eq = [&](const char* col, const std::optional<std::string>& v) {
    if (!v) return;
    sql += std::string(" AND ") + col + " = ?";
    binds.emplace_back(*v);
  };
  text_eq("keyset", in.keyset);
  text_eq("kind", in.kind);
  text_eq("severity", in.severity);
  if (in.acknowledged) sql += *in.acknowledged ? " AND acked_at_ms IS NOT NULL" : " AND acked_at_ms IS NULL";
  if (in.from_ms) {
    sql += " AND ts_ms >= ?";
    binds.emplace_back(*in.from_ms);
  }
  if (in.before) {
    ASSIGN_OR_RETURN(auto cur, parse_alert_cursor(*in.before));
    sql += " AND (ts_ms < ? OR (ts_ms = ? AND id < ?))";
    binds.emplace_back(cur.first);
    binds.emplace_back(cur.first);
    binds.emplace_back(cur.second);
  }
  sql += " ORDER BY ts_ms DESC, id DESC LIMIT ?";
  binds.emplace_back(static_cast<int64_t>(limit) + 1);
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare(sql));
  for (size_t i = 0; i < binds.size(); ++i) {
    if (const auto* t = std::get_if<std::string>(&binds[i])) {
      q.bind(static_cast<int>(i) + 1, std::string_view(*t));
    } else {
      q.bind(static_cast<int>(i) + 1, std::get<int64_t>(binds[i]));
    }
  }
  AlertPage page;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list alerts"));
    if (!row) break;
    page.alerts.push_back(read_alert(q));
  }
  if (page.alerts.size() > static_cast<size_t>(limit)) {
    page.alerts.resize(static_cast<size_t>(limit));
    page.next_cursor = alert_cursor(page.alerts.back());
  }
  return page;
}

Status SqliteStore::ack_alert(std::string_view id, std::string_view by, std::string_view reason, int64_t at_ms,
                              const LedgerEntry& event) {
  return write_txn("acknowledge alert", {&event}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto q, c.prepare("SELECT acked_at_ms FROM alerts WHERE id = ?", kLedgerUnavailable));
    q.bind(1, id);
    ASSIGN_OR_RETURN(bool row, q.step("read alert"));
    if (!row) return NotFound("no alert with id '" + std::string(id) + "'", "alert_not_found");
    if (!q.is_null(0)) return FailedPrecondition("the alert is already acknowledged", "already_acknowledged");
    ASSIGN_OR_RETURN(auto u, c.prepare("UPDATE alerts SET acked_at_ms = ?, acked_by = ?, ack_reason = ? WHERE id = ?",
                                       kLedgerUnavailable));
    return u.bind(1, at_ms).bind(2, by).bind(3, reason).bind(4, id).run("acknowledge alert");
  });
}

Result<std::vector<std::pair<AlertDelivery, AlertRecord>>> SqliteStore::claim_alert_deliveries(int64_t now_ms,
                                                                                               int64_t claim_ms,
                                                                                               int limit) {
  std::vector<std::pair<AlertDelivery, AlertRecord>> out;
  RETURN_IF_ERROR(write_txn("claim alert deliveries", {}, [&](Connection& c) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto q, c.prepare(std::string("SELECT d.alert_id, d.sink, d.attempts, d.next_attempt_ms, "
                                                   "d.last_error, ") +
                                       "a.id, a.ts_ms, a.last_seen_ms, a.occurrences, a.kind, a.severity, a.keyset, "
                                       "a.kid, a.summary, a.evidence, a.acked_at_ms, a.acked_by, a.ack_reason "
                                       "FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
                                       "WHERE d.delivered_at_ms IS NULL AND d.next_attempt_ms <= ? "
                                       "ORDER BY d.next_attempt_ms, d.alert_id, d.sink LIMIT ?"));
    q.bind(1, now_ms).bind(2, static_cast<int64_t>(std::max(limit, 1)));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.step("read due alert deliveries"));
      if (!row) break;
      AlertDelivery d;
      d.alert_id = q.text(0);
      d.sink = q.text(1);
      d.attempts = q.int64(2) + 1;
      d.next_attempt_ms = now_ms + claim_ms;
      d.last_error = q.text(4);
      out.emplace_back(std::move(d), read_alert(q, 5));
    }
    q.reset();
    for (const auto& [d, a] : out) {
      ASSIGN_OR_RETURN(auto u, c.prepare("UPDATE alert_deliveries SET attempts = attempts + 1, next_attempt_ms = ? "
                                         "WHERE alert_id = ? AND sink = ?"));
      RETURN_IF_ERROR(u.bind(1, d.next_attempt_ms).bind(2, d.alert_id).bind(3, d.sink).run("claim alert delivery"));
    }
    return Status::Ok();
  }));
  return out;
}

Status SqliteStore::finish_alert_delivery(std::string_view alert_id, std::string_view sink, bool delivered,
                                          int64_t at_ms, int64_t retry_at_ms, std::string_view error) {
  return write_txn("record alert delivery", {}, [&](Connection& c) -> Status {
    if (delivered) {
      ASSIGN_OR_RETURN(auto u, c.prepare("UPDATE alert_deliveries SET delivered_at_ms = ?, last_error = '' "
                                         "WHERE alert_id = ? AND sink = ? AND delivered_at_ms IS NULL"));
      return u.bind(1, at_ms).bind(2, alert_id).bind(3, sink).run("mark alert delivered");
    }
    ASSIGN_OR_RETURN(auto u, c.prepare("UPDATE alert_deliveries SET next_attempt_ms = ?, last_error = ? "
                                       "WHERE alert_id = ? AND sink = ? AND delivered_at_ms IS NULL"));
    return u.bind(1, retry_at_ms).bind(2, error).bind(3, alert_id).bind(4, sink).run("record failed delivery");
  });
}

Result<std::vector<AlertDelivery>> SqliteStore::list_alert_deliveries(std::string_view alert_id) {
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT alert_id, sink, attempts, next_attempt_ms, last_error, delivered_at_ms "
                                      "FROM alert_deliveries WHERE alert_id = ? ORDER BY sink"));
  q.bind(1, alert_id);
  std::vector<AlertDelivery> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.step("list alert deliveries"));
    if (!row) return out;
    out.push_back(AlertDelivery{q.text(0), q.text(1), q.int64(2), q.int64(3), q.text(4), q.opt_int64(5)});
  }
}

Result<std::vector<KeyUsage>> SqliteStore::key_usage(const std::vector<std::string>& kids) {
  std::vector<KeyUsage> out;
  if (kids.empty()) return out;
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT signatures, last_signed_ms FROM key_usage WHERE kid = ?"));
  for (const auto& kid : kids) {
    q.bind(1, kid);
    ASSIGN_OR_RETURN(bool row, q.step("read key usage"));
    if (row) out.push_back(KeyUsage{kid, q.int64(0), q.int64(1)});
    q.reset();
  }
  return out;
}

Result<std::vector<KeyUsageHour>> SqliteStore::key_usage_hours(const std::vector<std::string>& kids, int64_t from_ms,
                                                               int64_t to_ms) {
  std::vector<KeyUsageHour> out;
  if (kids.empty()) return out;
  auto r = acquire_reader();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin_read(*r));
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT hour_ms, signatures FROM key_usage_hours WHERE kid = ? AND hour_ms >= ? "
                                      "AND hour_ms < ? ORDER BY hour_ms"));
  for (const auto& kid : kids) {
    q.bind(1, kid).bind(2, from_ms).bind(3, to_ms);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.step("read key usage per hour"));
      if (!row) break;
      out.push_back(KeyUsageHour{kid, q.int64(0), q.int64(1)});
    }
    q.reset();
  }
  return out;
}

Result<int64_t> SqliteStore::note_first_seen(std::string_view keyset, std::string_view kind, std::string_view value,
                                             int64_t ts_ms) {
  int64_t first = ts_ms;
  RETURN_IF_ERROR(write_txn("note first seen", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto ins, c.prepare("INSERT OR IGNORE INTO monitor_seen(keyset, kind, value, first_seen_ms) "
                                         "VALUES(?, ?, ?, ?)"));
    RETURN_IF_ERROR(ins.bind(1, keyset).bind(2, kind).bind(3, value).bind(4, ts_ms).run("note first seen"));
    ASSIGN_OR_RETURN(auto q, c.prepare("SELECT first_seen_ms FROM monitor_seen WHERE keyset = ? AND kind = ? AND value = ?"));
    q.bind(1, keyset).bind(2, kind).bind(3, value);
    ASSIGN_OR_RETURN(bool row, q.step("read first seen"));
    if (row) first = q.int64(0);
    return Status::Ok();
  }));
  return first;
}

Result<AlertStats> SqliteStore::alert_stats() {
  auto r = acquire_reader();
  AlertStats st;
  {
    ASSIGN_OR_RETURN(auto q, r->prepare("SELECT severity, count(*) FROM alerts WHERE acked_at_ms IS NULL GROUP BY severity"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.step("count open alerts"));
      if (!row) break;
      const std::string sev = q.text(0);
      (sev == "critical" ? st.open_critical : sev == "warning" ? st.open_warning : st.open_info) += q.int64(1);
    }
  }
  ASSIGN_OR_RETURN(auto q, r->prepare("SELECT count(*), min(a.ts_ms) FROM alert_deliveries d JOIN alerts a "
                                      "ON a.id = d.alert_id WHERE d.delivered_at_ms IS NULL"));
  ASSIGN_OR_RETURN(bool row, q.step("count pending deliveries"));
  if (row) {
    st.deliveries_pending = q.int64(0);
    st.oldest_pending_ms = q.opt_int64(1);
  }
  return st;
}

// ---- leases ----

Result<Lease> SqliteStore::acquire_lease(std::string_view name, std::string_view holder, int64_t ttl_ms) {
  Lease granted;
  RETURN_IF_ERROR(write_txn("acquire lease", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto stored, read_lease_in(c, name));
    ASSIGN_OR_RETURN(granted, grant_lease(name, holder, ttl_ms, stored, wall_clock_ms()));
    ASSIGN_OR_RETURN(auto q, c.prepare("INSERT INTO leases(name, holder, epoch, expires_at_ms) VALUES(?,?,?,?) "
                                       "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
                                       "epoch = excluded.epoch, expires_at_ms = excluded.expires_at_ms"));
    return q.bind(1, granted.name).bind(2, granted.holder).bind(3, granted.epoch).bind(4, granted.expires_at_ms)
        .run("store lease");
  }));
  return granted;
}

Status SqliteStore::release_lease(std::string_view name, std::string_view holder, int64_t epoch) {
  return write_txn("release lease", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto q, c.prepare("UPDATE leases SET expires_at_ms = ? WHERE name = ? AND holder = ? AND epoch = ? "
                                       "AND expires_at_ms > ?"));
    const int64_t now = wall_clock_ms();
    return q.bind(1, now).bind(2, name).bind(3, holder).bind(4, epoch).bind(5, now).run("release lease");
  });
}

Result<std::optional<Lease>> SqliteStore::read_lease(std::string_view name) {
  auto r = acquire_reader();
  return read_lease_in(*r, name);
}

Status SqliteStore::check_writable() {
  std::lock_guard lk(write_mu_);
  ASSIGN_OR_RETURN(auto txn, Transaction::begin_immediate(*writer_, kDatabaseUnavailable));
  return Status::Ok();  // txn rolls back
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, const StoreOptions& opts,
                                                 const SqliteOptions& sqlite) {
  if (path.empty()) return InvalidArgument("store path is empty");
  auto store = std::make_unique<SqliteStore>(path, opts, sqlite);
  RETURN_IF_ERROR(store->init().with_context("open ledger store '" + path + "'"));
  return std::unique_ptr<Store>(std::move(store));
}

std::optional<SqliteStats> sqlite_stats(const Store& store) {
  const auto* s = dynamic_cast<const SqliteStore*>(&store);
  if (s == nullptr) return std::nullopt;
  return s->sqlite_stats();
}

}  // namespace keymgr::db
