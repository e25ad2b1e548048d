// PostgreSQL implementation of Store (db/pg_store.h). What is not PostgreSQL lives in the shared
// files: group commit (db/group_commit.h), chain linking and verification (db/ledger_chain.h), the
// hash (db/ledger_hash.h), the tree (db/merkle.h).
//
// Concurrency layout:
//   committer_     the group committer's own connection (used only on its thread).
//   pool_mu_       guards idle_; every other call borrows one pooled connection for its duration.
//   sequence_mu_   serialises this process's sequencer and tree integrator (other processes are
//                  excluded by the ledger_head / tree_head row locks).
#include "db/pg_store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <poll.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "db/alert_cursor.h"
#include "db/group_commit.h"
#include "db/lease.h"
#include "db/ledger_chain.h"
#include "db/ledger_hash.h"
#include "db/merkle.h"
#include "db/pg_migrations.h"
#include "db/pg_util.h"
#include "db/signing_admission.h"
#include "db/tree_extension.h"

namespace keymgr::db {
namespace {

using pg::Connection;
using pg::Params;
using pg::Rows;
using pg::Transaction;

constexpr std::string_view kSnapshot = "ISOLATION LEVEL REPEATABLE READ READ ONLY";

// Entry content columns, shared by ledger and ledger_pending (the chain columns follow in ledger).
constexpr char kEntryColumns[] =
    "ts_ms, kind, event, keyset, kid, alg, actor, actor_addr, jti, sub, aud, iat, exp, token_sha256, outcome, "
    "reason, detail";
constexpr int kEntryColumnCount = 17;
const std::string kLedgerSelect = std::string("seq, ") + kEntryColumns + ", prev_hash, hash";
const std::string kPendingSelect = std::string("id, ") + kEntryColumns;

void read_content(const Rows& r, int row, int first, LedgerEntry& e) {
  int c = first;
  e.ts_ms = r.int64(row, c++);
  e.kind = r.text(row, c++);
  e.event = r.text(row, c++);
  e.keyset = r.text(row, c++);
  e.kid = r.text(row, c++);
  e.alg = r.text(row, c++);
  e.actor = r.text(row, c++);
  e.actor_addr = r.text(row, c++);
  e.jti = r.text(row, c++);
  e.sub = r.text(row, c++);
  e.aud = r.text(row, c++);
  e.iat = r.int64(row, c++);
  e.exp = r.int64(row, c++);
  e.token_sha256 = r.text(row, c++);
  e.outcome = r.text(row, c++);
  e.reason = r.text(row, c++);
  e.detail = r.text(row, c++);
}

// A row of kLedgerSelect.
LedgerEntry read_entry(const Rows& r, int row) {
  LedgerEntry e;
  e.seq = r.int64(row, 0);
  read_content(r, row, 1, e);
  e.prev_hash = r.blob(row, 1 + kEntryColumnCount);
  e.hash = r.blob(row, 2 + kEntryColumnCount);
  return e;
}

// A row of kPendingSelect: not sequenced yet (seq 0, no hashes). Returns the intake id.
int64_t read_pending(const Rows& r, int row, LedgerEntry& e) {
  e = LedgerEntry{};
  read_content(r, row, 1, e);
  return r.int64(row, 0);
}

void add_content(Params& p, const LedgerEntry& e) {
  p.add(e.ts_ms).add(e.kind).add(e.event).add(e.keyset).add(e.kid).add(e.alg).add(e.actor).add(e.actor_addr);
  p.add(e.jti).add(e.sub).add(e.aud).add(e.iat).add(e.exp).add(e.token_sha256).add(e.outcome).add(e.reason);
  p.add(e.detail);
}

// "($1,...,$k),($k+1,...)" for `rows` rows of `cols` placeholders.
std::string placeholders(size_t rows, int cols) {
  std::string out;
  int n = 1;
  for (size_t r = 0; r < rows; ++r) {
    out += r == 0 ? "(" : ",(";
    for (int c = 0; c < cols; ++c) {
      if (c > 0) out += ',';
      out += '$';
      out += std::to_string(n++);
    }
    out += ')';
  }
  return out;
}

// Rows per multi-row INSERT: one statement per chunk, a handful of cached shapes.
constexpr size_t kInsertChunk = 32;

// Inserts entries into the intake in order, in the caller's transaction.
Status insert_pending(Connection& c, const std::vector<const LedgerEntry*>& entries, std::string_view reason) {
  for (size_t at = 0; at < entries.size(); at += kInsertChunk) {
    const size_t n = std::min(kInsertChunk, entries.size() - at);
    Params p;
    for (size_t i = 0; i < n; ++i) add_content(p, *entries[at + i]);
    const std::string sql = std::string("INSERT INTO ledger_pending(") + kEntryColumns + ") VALUES " +
                            placeholders(n, kEntryColumnCount);
    RETURN_IF_ERROR(c.query(sql, p, "append ledger entries", reason).status());
  }
  return Status::Ok();
}

constexpr char kKeysetColumns[] = "id, name, issuer, alg, policy_json, disabled, created_at, updated_at, version";

KeysetRecord read_keyset(const Rows& r, int i) {
  KeysetRecord k;
  k.id = r.int64(i, 0);
  k.name = r.text(i, 1);
  k.issuer = r.text(i, 2);
  k.alg = r.text(i, 3);
  k.policy_json = r.text(i, 4);
  k.disabled = r.int64(i, 5) != 0;
  k.created_at = r.int64(i, 6);
  k.updated_at = r.int64(i, 7);
  k.version = r.int64(i, 8);
  return k;
}

constexpr char kKeyColumns[] =
    "kid, hsm_id, keyset_id, alg, state, public_jwk, created_at, activate_at, deactivate_at, retire_at, "
    "destroy_at, state_changed_at, compromised_since, note, emergency";

KeyRecord read_key(const Rows& r, int i) {
  KeyRecord k;
  k.kid = r.text(i, 0);
  k.hsm_id = r.text(i, 1);
  k.keyset_id = r.int64(i, 2);
  k.alg = r.text(i, 3);
  k.state = r.text(i, 4);
  k.public_jwk = r.text(i, 5);
  k.created_at = r.int64(i, 6);
  k.activate_at = r.int64(i, 7);
  k.deactivate_at = r.int64(i, 8);
  k.retire_at = r.int64(i, 9);
  k.destroy_at = r.int64(i, 10);
  k.state_changed_at = r.int64(i, 11);
  k.compromised_since = r.opt_int64(i, 12);
  k.note = r.text(i, 13);
  k.emergency = r.int64(i, 14) != 0;
  return k;
}

// kid, keyset_id, ..., emergency, then hsm_id (the order of the INSERT and UPDATE below).
Params key_params(const KeyRecord& k) {
  Params p;
  p.add(k.kid).add(k.keyset_id).add(k.alg).add(k.state).add(k.public_jwk).add(k.created_at).add(k.activate_at);
  p.add(k.deactivate_at).add(k.retire_at).add(k.destroy_at).add(k.state_changed_at).add(k.compromised_since);
  p.add(k.note).add(int64_t{k.emergency ? 1 : 0}).add(k.hsm_id);
  return p;
}

constexpr char kTokenColumns[] = "id, name, role, keysets, secret_hash, created_at, revoked_at";

Result<ApiTokenRecord> read_token(const Rows& r, int i) {
  ApiTokenRecord t;
  t.id = r.text(i, 0);
  t.name = r.text(i, 1);
  t.role = r.text(i, 2);
  auto ks = nlohmann::json::parse(r.text(i, 3), nullptr, /*allow_exceptions=*/false);
  if (!ks.is_array()) return DataLoss("api token '" + t.id + "': keysets is not a JSON array", "database_corrupt");
  for (const auto& k : ks) {
    if (!k.is_string()) return DataLoss("api token '" + t.id + "': keysets holds a non-string", "database_corrupt");
    t.keysets.push_back(k.get<std::string>());
  }
  t.secret_hash = r.blob(i, 4);
  t.created_at = r.int64(i, 5);
  t.revoked_at = r.opt_int64(i, 6);
  return t;
}

int64_t wall_clock_ms() { return to_unix_millis(SystemClock().now()); }

// The database server's clock in Unix ms: leases are timed by it, so instances whose clocks
// disagree still agree on who holds a lease.
constexpr char kDbNowMs[] = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

// The stored lease and the database's now, in the caller's transaction. `share` takes FOR KEY SHARE
// on the row: a fenced write holds it until commit, so a new grant (SELECT ... FOR UPDATE) waits
// for the write to finish and no write of an old epoch can land after a new epoch began, while the
// holder's own renewal (a plain UPDATE: FOR NO KEY UPDATE) does not wait for its writes. A holder
// stopped inside a fenced write cannot block a takeover for long: every session sets
// idle_in_transaction_session_timeout below the lease, so the server aborts that transaction.
Result<std::pair<std::optional<Lease>, int64_t>> read_lease_in(Connection& c, std::string_view name, bool share) {
  ASSIGN_OR_RETURN(auto rows, c.query(std::string("SELECT holder, epoch, expires_at_ms, ") + kDbNowMs +
                                          " FROM leases WHERE name = $1" + (share ? " FOR KEY SHARE" : ""),
                                      Params().add(name), "read lease"));
  if (rows.empty()) {
    ASSIGN_OR_RETURN(auto now, c.query(std::string("SELECT ") + kDbNowMs, "read the database clock"));
    return std::make_pair(std::optional<Lease>(), now.int64(0, 0));
  }
  return std::make_pair(std::optional<Lease>(Lease{std::string(name), rows.text(0, 0), rows.int64(0, 1), rows.int64(0, 2)}),
                        rows.int64(0, 3));
}

Status check_fence_in(Connection& c, const Fence& fence) {
  ASSIGN_OR_RETURN(auto stored, read_lease_in(c, fence.lease, /*share=*/true));
  return check_fence(fence, stored.first, stored.second);
}

// The sign-time rule (db/signing_admission.h) across instances. A per-keyset advisory lock orders
// recorded signatures against lifecycle writes without touching any row: apply() holds it
// exclusively for every keyset whose keys or settings it changes, a group commit that records
// signatures holds it shared from before it reads the key rows until it commits. So a signature is
// either committed before a suspend/compromise/disable commits, or its group commit reads the key
// rows after that change and refuses it. Advisory locks are in memory (no tuple writes, no WAL,
// no MultiXacts on the signing path). Both sides take them in keyset id order.
// The LISTEN/NOTIFY channel of ChangeFeed: one per schema (channels are database-wide, and two
// deployments in two schemas of one database must not wake each other), at most 63 bytes.
std::string change_channel(const std::string& schema) {
  std::string ch = "keymgr." + schema;
  if (ch.size() > 63) ch = "keymgr." + hex_encode(sha256(schema)).substr(0, 40);
  return ch;
}

constexpr int64_t kKeysetLockSpace = int64_t{0x6b6d6b73} << 32;  // "kmks"; the migration lock is elsewhere

Status lock_keysets_exclusive(Connection& c, const std::set<int64_t>& ids, std::string_view reason) {
  for (int64_t id : ids) {  // std::set: ascending
    RETURN_IF_ERROR(c.query("SELECT pg_advisory_xact_lock($1)", Params().add(kKeysetLockSpace | id),
                            "lock keyset for a change", reason)
                        .status());
  }
  return Status::Ok();
}

// Shared keyset locks for the keys `kids` (sorted, distinct), then their rows as committed.
Result<std::map<std::string, SigningKeyRow>> signing_key_rows_in(Connection& c, const std::vector<std::string>& kids) {
  Params p;
  std::string in;
  for (const auto& kid : kids) {
    p.add(kid);
    in += (in.empty() ? "$" : ",$") + std::to_string(p.size());
  }
  const std::string lock_space = std::to_string(kKeysetLockSpace);
  // OFFSET 0 keeps the ordered subquery from being flattened: the locks are taken in id order.
  RETURN_IF_ERROR(c.query("SELECT count(pg_advisory_xact_lock_shared(" + lock_space +
                              " | id)) FROM (SELECT DISTINCT keyset_id AS id FROM keys WHERE kid IN (" + in +
                              ") ORDER BY 1 OFFSET 0) s",
                          p, "lock keysets for signing", kLedgerUnavailable)
                      .status());
  // A new statement: its snapshot includes every change committed before the locks were granted.
  ASSIGN_OR_RETURN(auto rows, c.query("SELECT k.kid, s.name, s.disabled, k.state, k.activate_at, k.deactivate_at "
                                      "FROM keys k JOIN keysets s ON s.id = k.keyset_id WHERE k.kid IN (" + in + ")",
                                      p, "read the signing keys", kLedgerUnavailable));
  std::map<std::string, SigningKeyRow> out;
  for (int i = 0; i < rows.size(); ++i) {
    out[rows.text(i, 0)] =
        SigningKeyRow{rows.text(i, 1), rows.int64(i, 2) != 0, rows.text(i, 3), rows.int64(i, 4), rows.int64(i, 5)};
  }
  // The keys' usage rows, locked until commit (created when missing; a no-op update locks an
  // existing row and returns its count), in kid order like every writer of them: two instances'
  // group commits on one key count one after the other, so a usage limit is exact.
  std::string values;
  for (size_t i = 1; i <= kids.size(); ++i) values += (i == 1 ? "($" : ",($") + std::to_string(i) + ", 0, 0)";
  ASSIGN_OR_RETURN(auto usage, c.query("INSERT INTO key_usage(kid, signatures, last_signed_ms) VALUES " + values +
                                           " ON CONFLICT (kid) DO UPDATE SET signatures = key_usage.signatures "
                                           "RETURNING kid, signatures",
                                       p, "lock key usage", kLedgerUnavailable));
  for (int i = 0; i < usage.size(); ++i) {
    auto it = out.find(usage.text(i, 0));
    if (it != out.end()) it->second.signatures = usage.int64(i, 1);
  }
  return out;
}

// Adds the admitted signatures to their keys' usage rows (locked by signing_key_rows_in).
Status add_key_usage_in(Connection& c, const std::map<std::string, UsageDelta>& usage) {
  for (const auto& [kid, d] : usage) {
    RETURN_IF_ERROR(c.query("UPDATE key_usage SET signatures = signatures + $2, "
                            "last_signed_ms = GREATEST(last_signed_ms, $3) WHERE kid = $1",
                            Params().add(kid).add(d.signatures).add(d.last_signed_ms), "count key usage",
                            kLedgerUnavailable)
                        .status());
    // The hour rows are written only by holders of the key's usage row lock: no conflict between
    // instances, and no lock order to keep.
    for (const auto& [hour, n] : d.per_hour) {
      RETURN_IF_ERROR(c.query("INSERT INTO key_usage_hours(kid, hour_ms, signatures) VALUES($1, $2, $3) "
                              "ON CONFLICT (kid, hour_ms) DO UPDATE SET signatures = key_usage_hours.signatures + "
                              "excluded.signatures",
                              Params().add(kid).add(hour).add(n), "count key usage per hour", kLedgerUnavailable)
                          .status());
    }
  }
  return Status::Ok();
}

// The WHERE clause of a ledger query (without the cursor), with its parameters appended to `p`.
std::string filters(const LedgerQuery& q, Params& p) {
  std::string w = " WHERE TRUE";
  auto eq = [&](const std::optional<std::string>& v, const char* col) {
    if (!v) return;
    p.add(*v);
    w += std::string(" AND ") + col + " = $" + std::to_string(p.size());
  };
  eq(q.jti, "jti");
  eq(q.token_sha256, "token_sha256");
  eq(q.kid, "kid");
  eq(q.sub, "sub");
  eq(q.keyset, "keyset");
  eq(q.actor, "actor");
  eq(q.outcome, "outcome");
  eq(q.kind, "kind");
  if (q.from_ms) {
    p.add(*q.from_ms);
    w += " AND ts_ms >= $" + std::to_string(p.size());
  }
  if (q.to_ms) {
    p.add(*q.to_ms);
    w += " AND ts_ms <= $" + std::to_string(p.size());
  }
  return w;
}

// verify_ledger_chain()'s reads, inside the caller's snapshot.
class PgChainReader final : public ChainReader {
 public:
  explicit PgChainReader(Connection& c) : c_(c) {}

  Status scan(int64_t after_seq, const std::function<bool(LedgerEntry&&)>& sink) override {
    constexpr int64_t kBatch = 5000;
    for (;;) {
      ASSIGN_OR_RETURN(auto rows, c_.query("SELECT " + kLedgerSelect + " FROM ledger WHERE seq > $1 ORDER BY seq "
                                           "LIMIT $2",
                                           Params().add(after_seq).add(kBatch), "verify chain"));
      for (int i = 0; i < rows.size(); ++i) {
        LedgerEntry e = read_entry(rows, i);
        after_seq = e.seq;
        if (!sink(std::move(e))) return Status::Ok();
      }
      if (rows.size() < kBatch) return Status::Ok();
    }
  }

  Result<std::vector<LedgerCheckpoint>> newest_checkpoints(int n) override {
    ASSIGN_OR_RETURN(auto rows, c_.query("SELECT seq, head FROM checkpoints ORDER BY seq DESC LIMIT $1",
                                         Params().add(int64_t{n}), "read checkpoints"));
    std::vector<LedgerCheckpoint> out;
    for (int i = 0; i < rows.size(); ++i) {
      LedgerCheckpoint cp;
      cp.seq = rows.int64(i, 0);
      cp.head = rows.blob(i, 1);
      out.push_back(std::move(cp));
    }
    return out;
  }

  Result<std::optional<Bytes>> entry_hash(int64_t seq) override {
    ASSIGN_OR_RETURN(auto rows, c_.query("SELECT hash FROM ledger WHERE seq = $1", Params().add(seq),
                                         "read checkpointed entry"));
    if (rows.empty()) return std::optional<Bytes>();
    return std::optional<Bytes>(rows.blob(0, 0));
  }

  // PostgreSQL plans ledger pages itself; it keeps no paging metadata to check.
  Result<std::optional<ChainTail>> metadata() override { return std::optional<ChainTail>(); }

 private:
  Connection& c_;
};

class PgHashReader final : public merkle::HashReader {
 public:
  explicit PgHashReader(Connection& c) : c_(c) {}
  Result<std::vector<merkle::Hash>> read_hashes(std::span<const uint64_t> indexes) const override {
    std::vector<merkle::Hash> out;
    out.reserve(indexes.size());
    if (indexes.empty()) return out;
    // One round trip for a whole proof: idx = ANY of the indexes as a text array.
    std::string list = "{";
    for (size_t i = 0; i < indexes.size(); ++i) {
      if (i > 0) list += ',';
      list += std::to_string(indexes[i]);
    }
    list += '}';
    ASSIGN_OR_RETURN(auto rows, c_.query("SELECT idx, hash FROM tree_hashes WHERE idx = ANY($1::text::bigint[])",
                                         Params().add(list), "read tree hashes"));
    std::unordered_map<uint64_t, Bytes> found;
    for (int i = 0; i < rows.size(); ++i) found.emplace(static_cast<uint64_t>(rows.int64(i, 0)), rows.blob(i, 1));
    for (uint64_t idx : indexes) {
      auto it = found.find(idx);
      if (it == found.end()) return DataLoss("tree hash " + std::to_string(idx) + " is not stored", "tree_hash_missing");
      auto h = merkle::hash_from_bytes(it->second);
      if (!h.ok()) return DataLoss("tree hash " + std::to_string(idx) + " is not 32 bytes", "tree_hash_missing");
      out.push_back(*h);
    }
    return out;
  }

 private:
  Connection& c_;
};

Result<TreeHead> read_tree_head(Connection& c, bool for_update = false) {
  ASSIGN_OR_RETURN(auto rows, c.query(std::string("SELECT size, root, integrated_at_ms FROM tree_head WHERE id = 1") +
                                          (for_update ? " FOR UPDATE" : ""),
                                      "read tree head"));
  if (rows.empty()) return DataLoss("the tree head row is missing", "tree_head_missing");
  TreeHead h;
  h.size = rows.int64(0, 0);
  h.root = rows.blob(0, 1);
  h.integrated_at_ms = rows.int64(0, 2);
  return h;
}

constexpr char kTreeCheckpointColumns[] = "size, root, ts_ms, note";

TreeCheckpoint read_tree_checkpoint(const Rows& r, int i) {
  TreeCheckpoint cp;
  cp.size = r.int64(i, 0);
  cp.root = r.blob(i, 1);
  cp.ts_ms = r.int64(i, 2);
  cp.note = r.text(i, 3);
  return cp;
}

class PgStore final : public Store, public CommitStatsSource, public ChangeFeed {
 public:
  PgStore(std::string url, const StoreOptions& opts, const PostgresOptions& pg)
      : url_(std::move(url)), opts_(opts) {
    conn_opts_.connect_timeout_s = pg.connect_timeout_s;
    conn_opts_.statement_timeout_ms = pg.statement_timeout_ms;
    conn_opts_.idle_in_transaction_timeout_ms = pg.idle_in_transaction_timeout_ms;
  }
  ~PgStore() override {
    if (group_commit_) group_commit_->stop();
  }
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  Status init();

  Result<std::vector<KeysetRecord>> list_keysets() override;
  Result<KeysetRecord> get_keyset(std::string_view name) override;
  Result<std::vector<KeyRecord>> list_keys(std::optional<int64_t> keyset_id) override;
  Result<KeyRecord> get_key_by_kid(std::string_view kid) override;
  Result<std::vector<KeysetVersion>> keyset_versions() override;
  Result<std::vector<int64_t>> apply(const ChangeSet& changes) override;

  Result<int64_t> append_ledger(LedgerEntry entry) override { return group_commit_->append(std::move(entry)); }
  Result<int64_t> append_signature(LedgerEntry entry) override {
    return group_commit_->append(std::move(entry), /*admit=*/true);
  }
  using Store::add_tree_checkpoint;
  using Store::integrate_tree;
  using Store::sequence_ledger;
  Result<int64_t> sequence_ledger(int64_t max_entries, const Fence* fence) override;
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

  Result<std::vector<std::string>> wait_for_changes(std::chrono::milliseconds timeout) override;
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

 private:
  // A pooled connection, returned when it goes out of scope.
  class Borrowed {
   public:
    Borrowed(PgStore* s, std::unique_ptr<Connection> c) : store_(s), conn_(std::move(c)) {}
    ~Borrowed() { store_->release(std::move(conn_)); }
    Borrowed(const Borrowed&) = delete;
    Borrowed& operator=(const Borrowed&) = delete;
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    PgStore* store_;
    std::unique_ptr<Connection> conn_;
  };
  Borrowed acquire();
  void release(std::unique_ptr<Connection> c);

  // Runs `body` and appends `ledger` to the intake in one transaction on `c`; all or nothing.
  Status write_txn(Connection& c, std::string_view op, const std::vector<const LedgerEntry*>& ledger,
                   const std::function<Status(Connection&)>& body, bool group = false);
  Status write_txn(std::string_view op, const std::vector<const LedgerEntry*>& ledger,
                   const std::function<Status(Connection&)>& body) {
    auto c = acquire();
    return write_txn(*c, op, ledger, body);
  }
  Status apply_body(Connection& c, const ChangeSet& changes, std::vector<int64_t>* ids);
  // The group commit's CommitFn (on committer_).
  Status commit_group(const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit,
                      std::vector<int64_t>* seqs, std::vector<Status>* refusals);
  Result<int64_t> sequence_locked(int64_t max_entries, const Fence* fence);
  // Matching sequenced entries with seq < before (newest first), at most `limit`.
  Result<std::vector<LedgerEntry>> read_sequenced(Connection& c, const LedgerQuery& q, int64_t before, int64_t limit);
  // Matching pending entries, newest first, at most `limit` (all when limit <= 0).
  Result<std::vector<LedgerEntry>> read_pending_page(Connection& c, const LedgerQuery& q, int64_t limit);

  const std::string url_;
  const StoreOptions opts_;
  Connection::Options conn_opts_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(pool_mu_)

  std::mutex sequence_mu_;
  // Highest seq this process sequenced or saw sequenced (verify_chain's truncation check).
  std::atomic<int64_t> committed_seq_{0};

  std::unique_ptr<Connection> committer_;  // used only by group_commit_'s thread
  std::unique_ptr<GroupCommitter> group_commit_;
  std::string channel_;  // change_channel() of the schema; set by init()
  // LISTEN connection of wait_for_changes(); opened on first use, dropped when it breaks.
  std::mutex listen_mu_;
  std::unique_ptr<Connection> listener_;  // GUARDED_BY(listen_mu_)
  CommitCounter commits_;
};

Status PgStore::init() {
  ASSIGN_OR_RETURN(committer_, Connection::open(url_, conn_opts_));
  RETURN_IF_ERROR(migrate_pg(*committer_, wall_clock_ms()));
  if (opts_.unsafe_no_sync) {
    RETURN_IF_ERROR(committer_->exec("SET synchronous_commit = off", "configure bulk load"));
  }
  for (int i = 0; i < std::max(2, opts_.read_connections); ++i) {
    ASSIGN_OR_RETURN(auto c, Connection::open(url_, conn_opts_));
    idle_.push_back(std::move(c));
  }
  {
    auto c = acquire();
    ASSIGN_OR_RETURN(auto rows, c->query("SELECT seq FROM ledger_head WHERE id = 1", "read ledger head"));
    if (!rows.empty()) committed_seq_.store(rows.int64(0, 0));
    ASSIGN_OR_RETURN(auto schema, c->query("SELECT current_schema()::text", "read the schema"));
    channel_ = change_channel(schema.empty() ? std::string("public") : schema.text(0, 0));
  }
  group_commit_ = std::make_unique<GroupCommitter>(
      opts_.max_batch, [this](const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit,
                              std::vector<int64_t>* seqs, std::vector<Status>* refusals) {
        return commit_group(entries, admit, seqs, refusals);
      });
  return Status::Ok();
}

Status PgStore::commit_group(const std::vector<const LedgerEntry*>& entries, const std::vector<bool>& admit,
                             std::vector<int64_t>* seqs, std::vector<Status>* refusals) {
  const std::vector<std::string> kids = kids_to_admit(entries, admit);
  if (kids.empty()) {
    RETURN_IF_ERROR(write_txn(*committer_, "append to ledger", entries, nullptr, /*group=*/true));
    seqs->assign(entries.size(), 0);  // sequenced later, off the signing path
    return Status::Ok();
  }
  std::vector<const LedgerEntry*> admitted;
  Status st = [&]() -> Status {
    ASSIGN_OR_RETURN(auto txn, Transaction::begin(*committer_, kLedgerUnavailable));
    ASSIGN_OR_RETURN(auto rows, signing_key_rows_in(*committer_, kids));
    admitted = admit_batch(entries, admit, rows, refusals);
    RETURN_IF_ERROR(insert_pending(*committer_, admitted, kLedgerUnavailable));
    RETURN_IF_ERROR(add_key_usage_in(*committer_, usage_deltas(entries, admit, *refusals)));
    return txn.commit();
  }();
  commits_.record(admitted.size(), st.ok(), /*group=*/true);
  if (!st.ok()) {
    refusals->assign(entries.size(), Status::Ok());
    return st.with_context("append to ledger");
  }
  seqs->assign(entries.size(), 0);
  return Status::Ok();
}

PgStore::Borrowed PgStore::acquire() {
  std::unique_lock lk(pool_mu_);
  pool_cv_.wait(lk, [&] { return !idle_.empty(); });
  auto c = std::move(idle_.back());
  idle_.pop_back();
  return Borrowed(this, std::move(c));
}

void PgStore::release(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lk(pool_mu_);
    idle_.push_back(std::move(c));
  }
  pool_cv_.notify_one();
}

Status PgStore::write_txn(Connection& c, std::string_view op, const std::vector<const LedgerEntry*>& ledger,
                          const std::function<Status(Connection&)>& body, bool group) {
  const std::string_view reason = ledger.empty() ? kDatabaseUnavailable : kLedgerUnavailable;
  Status st = [&]() -> Status {
    ASSIGN_OR_RETURN(auto txn, Transaction::begin(c, reason));
    if (body) RETURN_IF_ERROR(body(c));
    RETURN_IF_ERROR(insert_pending(c, ledger, reason));
    return txn.commit();
  }();
  if (!ledger.empty()) commits_.record(ledger.size(), st.ok(), group);
  if (!st.ok()) {
    if (!ledger.empty() && st.code() == ErrorCode::kUnavailable) {
      return Status(ErrorCode::kUnavailable, std::string(kLedgerUnavailable), st.message()).with_context(op);
    }
    return st.with_context(op);
  }
  return Status::Ok();
}

// ---- keysets and keys ----

Result<std::vector<KeysetRecord>> PgStore::list_keysets() {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kKeysetColumns + " FROM keysets ORDER BY name",
                                       "list keysets"));
  std::vector<KeysetRecord> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(read_keyset(rows, i));
  return out;
}

Result<KeysetRecord> PgStore::get_keyset(std::string_view name) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kKeysetColumns + " FROM keysets WHERE name = $1",
                                       Params().add(name), "get keyset"));
  if (rows.empty()) return NotFound("keyset '" + std::string(name) + "' not found");
  return read_keyset(rows, 0);
}

Result<std::vector<KeyRecord>> PgStore::list_keys(std::optional<int64_t> keyset_id) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  std::string sql = std::string("SELECT ") + kKeyColumns + " FROM keys";
  Params p;
  if (keyset_id) {
    sql += " WHERE keyset_id = $1 ORDER BY created_at, hsm_id";
    p.add(*keyset_id);
  } else {
    sql += " ORDER BY keyset_id, created_at, hsm_id";
  }
  ASSIGN_OR_RETURN(auto rows, c->query(sql, p, "list keys"));
  std::vector<KeyRecord> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(read_key(rows, i));
  return out;
}

Result<KeyRecord> PgStore::get_key_by_kid(std::string_view kid) {
  if (kid.empty()) return InvalidArgument("empty kid");
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kKeyColumns + " FROM keys WHERE kid = $1 AND kid <> ''",
                                       Params().add(kid), "get key"));
  if (rows.empty()) return NotFound("key '" + std::string(kid) + "' not found");
  return read_key(rows, 0);
}

Result<std::vector<KeysetVersion>> PgStore::keyset_versions() {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT id, name, version FROM keysets ORDER BY name", "list keyset versions"));
  std::vector<KeysetVersion> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(KeysetVersion{rows.int64(i, 0), rows.text(i, 1), rows.int64(i, 2)});
  return out;
}

Status PgStore::apply_body(Connection& c, const ChangeSet& ch, std::vector<int64_t>* ids) {
  const std::string_view reason = ch.ledger.empty() ? kDatabaseUnavailable : kLedgerUnavailable;
  {
    // Every existing keyset whose signing could change: locked before any row is read or written
    // (the sign-time rule; see kKeysetLockSpace).
    std::set<int64_t> changing;
    for (const auto& k : ch.keyset_upserts) {
      if (k.id != 0) changing.insert(k.id);
    }
    for (const auto& k : ch.key_updates) changing.insert(k.keyset_id);
    for (const auto& k : ch.key_inserts) {
      if (k.state != "generating") changing.insert(k.keyset_id);
    }
    RETURN_IF_ERROR(lock_keysets_exclusive(c, changing, reason));
  }
  std::set<int64_t> touched;
  for (const auto& [id, version] : ch.expected_versions) {
    // FOR UPDATE: a concurrent change to the same keyset (another instance) waits for this one and
    // then finds the version moved.
    ASSIGN_OR_RETURN(auto rows, c.query("SELECT version FROM keysets WHERE id = $1 FOR UPDATE", Params().add(id),
                                        "read keyset version", reason));
    if (rows.empty() || rows.int64(0, 0) != version) {
      return FailedPrecondition("keyset id " + std::to_string(id) + " was changed meanwhile (version " +
                                    (rows.empty() ? std::string("gone") : std::to_string(rows.int64(0, 0))) +
                                    ", expected " + std::to_string(version) + "); reload and retry",
                                "keyset_changed");
    }
  }
  for (const auto& k : ch.keyset_upserts) {
    Params p;
    p.add(k.name).add(k.issuer).add(k.alg).add(k.policy_json).add(int64_t{k.disabled ? 1 : 0}).add(k.created_at);
    p.add(k.updated_at);
    if (k.id == 0) {
      ASSIGN_OR_RETURN(auto rows, c.query("INSERT INTO keysets(name, issuer, alg, policy_json, disabled, created_at, "
                                          "updated_at) VALUES($1,$2,$3,$4,$5,$6,$7) RETURNING id",
                                          p, "insert keyset '" + k.name + "'", reason));
      ids->push_back(rows.int64(0, 0));
      touched.insert(ids->back());
    } else {
      p.add(k.id);
      ASSIGN_OR_RETURN(auto rows, c.query("UPDATE keysets SET name=$1, issuer=$2, alg=$3, policy_json=$4, disabled=$5, "
                                          "created_at=$6, updated_at=$7 WHERE id=$8",
                                          p, "update keyset '" + k.name + "'", reason));
      if (rows.affected() == 0) return NotFound("keyset id " + std::to_string(k.id) + " not found");
      ids->push_back(k.id);
      touched.insert(k.id);
    }
  }
  for (const auto& k : ch.key_inserts) {
    RETURN_IF_ERROR(c.query("INSERT INTO keys(kid, keyset_id, alg, state, public_jwk, created_at, activate_at, "
                            "deactivate_at, retire_at, destroy_at, state_changed_at, compromised_since, note, emergency, "
                            "hsm_id) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
                            key_params(k), "insert key hsm_id=" + k.hsm_id + " kid='" + k.kid + "'", reason)
                        .status());
    if (k.state != "generating") touched.insert(k.keyset_id);
  }
  for (const auto& k : ch.key_updates) {
    ASSIGN_OR_RETURN(auto rows, c.query("UPDATE keys SET kid=$1, keyset_id=$2, alg=$3, state=$4, public_jwk=$5, "
                                        "created_at=$6, activate_at=$7, deactivate_at=$8, retire_at=$9, destroy_at=$10, "
                                        "state_changed_at=$11, compromised_since=$12, note=$13, emergency=$14 "
                                        "WHERE hsm_id=$15",
                                        key_params(k), "update key hsm_id=" + k.hsm_id, reason));
    if (rows.affected() == 0) return NotFound("key hsm_id=" + k.hsm_id + " not found");
    touched.insert(k.keyset_id);
  }
  for (const auto& hsm_id : ch.key_deletes) {
    ASSIGN_OR_RETURN(auto rows, c.query("DELETE FROM keys WHERE hsm_id=$1 AND state='generating'",
                                        Params().add(hsm_id), "delete key hsm_id=" + hsm_id, reason));
    if (rows.affected() == 0) {
      return FailedPrecondition("key hsm_id=" + hsm_id + " does not exist or is past 'generating'",
                                "key_not_deletable");
    }
  }
  for (int64_t id : touched) {
    RETURN_IF_ERROR(c.query("UPDATE keysets SET version = version + 1 WHERE id = $1", Params().add(id),
                            "bump keyset version", reason)
                        .status());
  }
  if (!touched.empty()) {
    // Delivered to listeners when (and only if) this transaction commits.
    RETURN_IF_ERROR(c.query("SELECT pg_notify($1, $2)", Params().add(channel_).add(ChangeFeed::kKeysetsChanged),
                            "notify keyset change", reason)
                        .status());
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> PgStore::apply(const ChangeSet& changes) {
  std::vector<int64_t> ids;
  std::vector<const LedgerEntry*> ledger;
  ledger.reserve(changes.ledger.size());
  for (const auto& e : changes.ledger) ledger.push_back(&e);
  RETURN_IF_ERROR(write_txn("apply change set", ledger, [&](Connection& c) -> Status {
    ids.clear();  // a retried body must not accumulate
    if (changes.fence) RETURN_IF_ERROR(check_fence_in(c, *changes.fence));
    return apply_body(c, changes, &ids);
  }));
  return ids;
}

// ---- sequencing ----

Result<int64_t> PgStore::sequence_ledger(int64_t max_entries, const Fence* fence) {
  std::lock_guard lk(sequence_mu_);
  return sequence_locked(max_entries, fence);
}

Result<int64_t> PgStore::sequence_locked(int64_t max_entries, const Fence* fence) {
  const int64_t batch = std::clamp<int64_t>(max_entries, 1, 100000);
  auto c = acquire();
  int64_t moved = 0;
  ChainTail tail;
  Status st = [&]() -> Status {
    ASSIGN_OR_RETURN(auto txn, Transaction::begin(*c, kLedgerUnavailable));
    if (fence != nullptr) RETURN_IF_ERROR(check_fence_in(*c, *fence));
    // The head row lock excludes other sequencers (another instance's, a stale leader's) until
    // commit; appenders never touch this row.
    ASSIGN_OR_RETURN(auto head, c->query("SELECT seq, hash, max_ts_ms, ts_disorder_ms FROM ledger_head WHERE id = 1 "
                                         "FOR UPDATE",
                                         "lock the ledger head", kLedgerUnavailable));
    if (head.empty()) return DataLoss("the ledger head row is missing", "ledger_head_missing");
    tail.seq = head.int64(0, 0);
    tail.hash = head.blob(0, 1);
    tail.max_ts_ms = head.int64(0, 2);
    tail.ts_disorder_ms = head.int64(0, 3);
    // Only committed intake rows are visible; one committed later with a lower id is simply
    // sequenced by a later call.
    ASSIGN_OR_RETURN(auto rows, c->query("DELETE FROM ledger_pending WHERE id IN (SELECT id FROM ledger_pending "
                                         "ORDER BY id LIMIT $1) RETURNING " + kPendingSelect,
                                         Params().add(batch), "take pending ledger entries", kLedgerUnavailable));
    if (rows.empty()) return Status::Ok();
    std::vector<std::pair<int64_t, LedgerEntry>> pending(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) pending[i].first = read_pending(rows, i, pending[i].second);
    std::sort(pending.begin(), pending.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t at = 0; at < pending.size(); at += kInsertChunk) {
      const size_t n = std::min(kInsertChunk, pending.size() - at);
      Params p;
      for (size_t i = 0; i < n; ++i) {
        LedgerEntry& e = pending[at + i].second;
        tail.link(e);
        p.add(e.seq);
        add_content(p, e);
        p.add(e.prev_hash).add(e.hash);
      }
      const std::string sql = "INSERT INTO ledger(" + kLedgerSelect + ") VALUES " +
                              placeholders(n, kEntryColumnCount + 3);
      RETURN_IF_ERROR(c->query(sql, p, "sequence ledger entries", kLedgerUnavailable).status());
    }
    RETURN_IF_ERROR(c->query("UPDATE ledger_head SET seq = $1, hash = $2, max_ts_ms = $3, ts_disorder_ms = $4 "
                             "WHERE id = 1",
                             Params().add(tail.seq).add(tail.hash).add(tail.max_ts_ms).add(tail.ts_disorder_ms),
                             "advance the ledger head", kLedgerUnavailable)
                        .status());
    RETURN_IF_ERROR(txn.commit());
    moved = static_cast<int64_t>(pending.size());
    return Status::Ok();
  }();
  RETURN_IF_ERROR(st.with_context("sequence ledger"));
  if (moved > 0) {
    int64_t prev = committed_seq_.load();
    while (prev < tail.seq && !committed_seq_.compare_exchange_weak(prev, tail.seq)) {
    }
  }
  return moved;
}

// ---- ledger reads ----

Result<std::vector<LedgerEntry>> PgStore::read_sequenced(Connection& c, const LedgerQuery& lq, int64_t before,
                                                         int64_t limit) {
  Params p;
  std::string sql = "SELECT " + kLedgerSelect + " FROM ledger" + filters(lq, p);
  p.add(before);
  sql += " AND seq < $" + std::to_string(p.size());
  p.add(limit);
  sql += " ORDER BY seq DESC LIMIT $" + std::to_string(p.size());
  ASSIGN_OR_RETURN(auto rows, c.query(sql, p, "query ledger"));
  std::vector<LedgerEntry> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(read_entry(rows, i));
  return out;
}

Result<std::vector<LedgerEntry>> PgStore::read_pending_page(Connection& c, const LedgerQuery& lq, int64_t limit) {
  Params p;
  std::string sql = "SELECT " + kPendingSelect + " FROM ledger_pending" + filters(lq, p) + " ORDER BY id DESC";
  if (limit > 0) {
    p.add(limit);
    sql += " LIMIT $" + std::to_string(p.size());
  }
  ASSIGN_OR_RETURN(auto rows, c.query(sql, p, "query pending ledger entries"));
  std::vector<LedgerEntry> out(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) read_pending(rows, i, out[static_cast<size_t>(i)]);
  return out;
}

Result<LedgerPage> PgStore::query_ledger(const LedgerQuery& lq) {
  const int64_t limit = std::clamp(lq.limit, 1, 1000);
  auto c = acquire();
  // One snapshot: an entry moving from the intake into the chain meanwhile is seen exactly once.
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
  std::vector<LedgerEntry> entries;
  int64_t before = std::numeric_limits<int64_t>::max();
  if (lq.before_seq) {
    before = *lq.before_seq;
  } else {
    ASSIGN_OR_RETURN(entries, read_pending_page(*c, lq, limit + 1));
    ASSIGN_OR_RETURN(auto head, c->query("SELECT seq FROM ledger_head WHERE id = 1", "read ledger head"));
    if (!head.empty()) before = head.int64(0, 0) + 1;
  }
  const int64_t want = limit + 1 - static_cast<int64_t>(entries.size());
  if (want > 0) {
    ASSIGN_OR_RETURN(auto seqd, read_sequenced(*c, lq, before, want));
    for (auto& e : seqd) entries.push_back(std::move(e));
  }
  LedgerPage page;
  if (static_cast<int64_t>(entries.size()) > limit) {
    entries.resize(static_cast<size_t>(limit));
    // A page of pending entries only continues with the sequenced ones.
    page.next_cursor = entries.back().seq > 0 ? entries.back().seq : before;
  }
  page.entries = std::move(entries);
  return page;
}

Status PgStore::export_ledger(const LedgerQuery& lq, const std::function<bool(const LedgerEntry&)>& sink) {
  constexpr int64_t kPage = 1000;
  LedgerQuery q = lq;
  int64_t before = std::numeric_limits<int64_t>::max();
  bool first = !lq.before_seq.has_value();
  if (lq.before_seq) before = *lq.before_seq;
  for (;;) {
    std::vector<LedgerEntry> pending;
    std::vector<LedgerEntry> entries;
    {
      auto c = acquire();
      ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
      if (first) {
        // The intake and the chain's first page in one snapshot: entries sequenced after it have
        // seqs above `before` and are not met again.
        ASSIGN_OR_RETURN(pending, read_pending_page(*c, q, 0));
        ASSIGN_OR_RETURN(auto head, c->query("SELECT seq FROM ledger_head WHERE id = 1", "read ledger head"));
        if (!head.empty()) before = head.int64(0, 0) + 1;
      }
      ASSIGN_OR_RETURN(entries, read_sequenced(*c, q, before, kPage));
    }
    first = false;
    // The connection is back in the pool while the sink runs.
    for (const auto& e : pending) {
      if (!sink(e)) return Status::Ok();
    }
    for (const auto& e : entries) {
      if (!sink(e)) return Status::Ok();
    }
    if (static_cast<int64_t>(entries.size()) < kPage) return Status::Ok();
    before = entries.back().seq;
  }
}

Status PgStore::tokens_signed_since(std::string_view kid, int64_t since_ms, int64_t now_s,
                                    const std::function<bool(const LedgerEntry&)>& sink) {
  std::vector<LedgerEntry> out;
  {
    auto c = acquire();
    ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
    const std::string where = " WHERE kid = $1 AND ts_ms >= $2 AND exp > $3 AND kind = 'sign' AND outcome = 'ok'";
    Params p;
    p.add(kid).add(since_ms).add(now_s);
    ASSIGN_OR_RETURN(auto rows, c->query("SELECT " + kLedgerSelect + " FROM ledger" + where + " ORDER BY seq", p,
                                         "list tokens signed since"));
    for (int i = 0; i < rows.size(); ++i) out.push_back(read_entry(rows, i));
    ASSIGN_OR_RETURN(auto pending, c->query("SELECT " + kPendingSelect + " FROM ledger_pending" + where + " ORDER BY id",
                                            p, "list pending tokens signed since"));
    for (int i = 0; i < pending.size(); ++i) {
      LedgerEntry e;
      read_pending(pending, i, e);
      out.push_back(std::move(e));
    }
  }
  for (const auto& e : out) {
    if (!sink(e)) break;
  }
  return Status::Ok();
}

Result<int64_t> PgStore::ledger_size() {
  auto c = acquire();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT (SELECT seq FROM ledger_head WHERE id = 1) + "
                                       "(SELECT count(*) FROM ledger_pending)",
                                       "ledger size"));
  return rows.int64(0, 0);
}

Result<LedgerEntry> PgStore::ledger_head() {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT " + kLedgerSelect + " FROM ledger ORDER BY seq DESC LIMIT 1",
                                       "ledger head"));
  if (rows.empty()) return NotFound("ledger is empty", "ledger_empty");
  return read_entry(rows, 0);
}

Result<ChainReport> PgStore::verify_chain() {
  const int64_t committed_before = committed_seq_.load();
  auto c = acquire();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
  // The head row records how far the chain was sequenced: a shorter chain was cut.
  ASSIGN_OR_RETURN(auto head, c->query("SELECT seq FROM ledger_head WHERE id = 1", "read ledger head"));
  const int64_t sequenced = head.empty() ? 0 : head.int64(0, 0);
  PgChainReader reader(*c);
  return verify_ledger_chain(reader, std::max(committed_before, sequenced));
}

// ---- signed ledger checkpoints ----

Status PgStore::add_checkpoint(const LedgerCheckpoint& cp) {
  return write_txn("add checkpoint", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto rows, c.query("SELECT hash FROM ledger WHERE seq = $1", Params().add(cp.seq),
                                        "read checkpointed entry"));
    if (rows.empty()) {
      return FailedPrecondition("checkpoint seq " + std::to_string(cp.seq) + " is not in the ledger",
                                "checkpoint_mismatch");
    }
    if (rows.blob(0, 0) != cp.head) {
      return FailedPrecondition("checkpoint head does not match entry " + std::to_string(cp.seq),
                                "checkpoint_mismatch");
    }
    Params p;
    p.add(cp.seq).add(cp.head).add(cp.ts_ms).add(cp.kid).add(cp.alg).add(cp.signature);
    return c.query("INSERT INTO checkpoints(seq, head, ts_ms, kid, alg, signature) VALUES($1,$2,$3,$4,$5,$6)", p,
                   "insert checkpoint")
        .status();
  });
}

Result<std::vector<LedgerCheckpoint>> PgStore::list_checkpoints(int limit) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT seq, head, ts_ms, kid, alg, signature FROM checkpoints "
                                       "ORDER BY seq DESC LIMIT $1",
                                       Params().add(int64_t{std::clamp(limit, 1, 1000)}), "list checkpoints"));
  std::vector<LedgerCheckpoint> out;
  for (int i = 0; i < rows.size(); ++i) {
    LedgerCheckpoint cp;
    cp.seq = rows.int64(i, 0);
    cp.head = rows.blob(i, 1);
    cp.ts_ms = rows.int64(i, 2);
    cp.kid = rows.text(i, 3);
    cp.alg = rows.text(i, 4);
    cp.signature = rows.blob(i, 5);
    out.push_back(std::move(cp));
  }
  return out;
}

// ---- the Merkle tree ----

Result<TreeHead> PgStore::integrate_tree(int64_t max_entries, const Fence* fence) {
  const int64_t batch = std::clamp<int64_t>(max_entries, 1, int64_t{1} << 20);
  std::lock_guard lk(sequence_mu_);
  // Sequence everything pending first (in bounded transactions), so the tree can cover it.
  for (int64_t total = 0; total < batch;) {
    ASSIGN_OR_RETURN(int64_t n, sequence_locked(std::min<int64_t>(batch - total, 10000), fence));
    if (n == 0) break;
    total += n;
  }
  // Phase 1, in one read snapshot, without locks: read the entries after the tree, check each
  // against the chain, hash them and compute the new subtree hashes and root.
  TreeHead before;
  std::vector<merkle::Hash> fresh;
  TreeHead after;
  auto c = acquire();
  {
    ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
    ASSIGN_OR_RETURN(before, read_tree_head(*c));
    TreeExtension ext(before.size);
    for (int64_t from = before.size, last = before.size + batch; from <= last;) {
      const int64_t to = std::min(last, from + 4999);
      ASSIGN_OR_RETURN(auto rows, c->query("SELECT " + kLedgerSelect + " FROM ledger WHERE seq >= $1 AND seq <= $2 "
                                           "ORDER BY seq",
                                           Params().add(from).add(to), "read entries to integrate"));
      bool more = !rows.empty() && rows.int64(rows.size() - 1, 0) == to;  // the range was full: read on
      for (int i = 0; i < rows.size(); ++i) {
        if (!ext.add(read_entry(rows, i))) {
          more = false;
          break;
        }
      }
      if (!more) break;
      from = to + 1;
    }
    if (ext.empty()) {
      RETURN_IF_ERROR(ext.chain_status());
      return before;
    }
    PgHashReader stored(*c);
    ASSIGN_OR_RETURN(auto computed, ext.compute(stored));
    fresh = std::move(computed.hashes);
    after = std::move(computed.head);
  }
  // Phase 2: append the hashes unless another integrator moved the tree (its row lock orders us).
  bool moved = false;
  after.integrated_at_ms = wall_clock_ms();
  RETURN_IF_ERROR(write_txn(*c, "integrate ledger tree", {}, [&](Connection& w) -> Status {
    if (fence != nullptr) RETURN_IF_ERROR(check_fence_in(w, *fence));
    ASSIGN_OR_RETURN(TreeHead now, read_tree_head(w, /*for_update=*/true));
    if (now.size != before.size) {
      moved = true;
      return Status::Ok();
    }
    const int64_t base = static_cast<int64_t>(merkle::stored_hash_count(static_cast<uint64_t>(before.size)));
    for (size_t at = 0; at < fresh.size(); at += 256) {
      const size_t k = std::min<size_t>(256, fresh.size() - at);
      Params p;
      for (size_t i = 0; i < k; ++i) p.add(base + static_cast<int64_t>(at + i)).add(merkle::hash_bytes(fresh[at + i]));
      RETURN_IF_ERROR(
          w.query("INSERT INTO tree_hashes(idx, hash) VALUES " + placeholders(k, 2), p, "store tree hashes").status());
    }
    return w.query("UPDATE tree_head SET size = $1, root = $2, integrated_at_ms = $3 WHERE id = 1",
                   Params().add(after.size).add(after.root).add(after.integrated_at_ms), "update tree head")
        .status();
  }));
  if (moved) return read_tree_head(*c);
  return after;
}

Result<TreeHead> PgStore::tree_head() {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  return read_tree_head(*c);
}

Result<std::vector<merkle::Hash>> PgStore::read_tree_hashes(std::span<const uint64_t> indexes) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  return PgHashReader(*c).read_hashes(indexes);
}

Status PgStore::scan_ledger(int64_t from_seq, int64_t to_seq, const std::function<bool(const LedgerEntry&)>& sink) {
  auto c = acquire();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
  constexpr int64_t kBatch = 5000;
  for (int64_t from = from_seq; from <= to_seq;) {
    const int64_t to = std::min(to_seq, from + kBatch - 1);
    ASSIGN_OR_RETURN(auto rows, c->query("SELECT " + kLedgerSelect + " FROM ledger WHERE seq >= $1 AND seq <= $2 "
                                         "ORDER BY seq",
                                         Params().add(from).add(to), "scan ledger"));
    for (int i = 0; i < rows.size(); ++i) {
      if (!sink(read_entry(rows, i))) return Status::Ok();
    }
    if (to == std::numeric_limits<int64_t>::max()) break;
    from = to + 1;
    if (rows.empty()) {
      // Nothing in this range: jump to the next stored seq instead of walking an empty range.
      ASSIGN_OR_RETURN(auto next, c->query("SELECT min(seq) FROM ledger WHERE seq >= $1", Params().add(from),
                                           "scan ledger"));
      if (next.is_null(0, 0)) break;
      from = next.int64(0, 0);
    }
  }
  return Status::Ok();
}

Status PgStore::scan_tree_hashes(uint64_t from_index, const std::function<bool(uint64_t, const Bytes&)>& sink) {
  auto c = acquire();
  ASSIGN_OR_RETURN(auto snapshot, Transaction::begin(*c, kDatabaseUnavailable, kSnapshot));
  int64_t from = static_cast<int64_t>(from_index);
  constexpr int64_t kBatch = 10000;
  for (;;) {
    ASSIGN_OR_RETURN(auto rows, c->query("SELECT idx, hash FROM tree_hashes WHERE idx >= $1 ORDER BY idx LIMIT $2",
                                         Params().add(from).add(kBatch), "scan tree hashes"));
    for (int i = 0; i < rows.size(); ++i) {
      if (!sink(static_cast<uint64_t>(rows.int64(i, 0)), rows.blob(i, 1))) return Status::Ok();
    }
    if (rows.size() < kBatch) return Status::Ok();
    from = rows.int64(rows.size() - 1, 0) + 1;
  }
}

Status PgStore::add_tree_checkpoint(const TreeCheckpoint& cp, const Fence* fence) {
  return write_txn("add tree checkpoint", {}, [&](Connection& c) -> Status {
    if (fence != nullptr) RETURN_IF_ERROR(check_fence_in(c, *fence));
    // The tree head row lock orders this against integration and other checkpoint writers.
    ASSIGN_OR_RETURN(TreeHead head, read_tree_head(c, /*for_update=*/true));
    if (cp.size < 0 || cp.size > head.size) {
      return FailedPrecondition("checkpoint size " + std::to_string(cp.size) + " is beyond the tree (" +
                                    std::to_string(head.size) + ")",
                                "checkpoint_mismatch");
    }
    PgHashReader reader(c);
    ASSIGN_OR_RETURN(merkle::Hash root, merkle::tree_hash(static_cast<uint64_t>(cp.size), reader));
    if (merkle::hash_bytes(root) != cp.root) {
      return FailedPrecondition("checkpoint root is not the tree's root at size " + std::to_string(cp.size),
                                "checkpoint_mismatch");
    }
    ASSIGN_OR_RETURN(auto newest, c.query("SELECT coalesce(max(size), -1) FROM tree_checkpoints",
                                          "read newest checkpoint"));
    const int64_t n = newest.int64(0, 0);
    if (n == cp.size) return AlreadyExists("a checkpoint of size " + std::to_string(cp.size) + " exists");
    if (n > cp.size) {
      return FailedPrecondition("a checkpoint of size " + std::to_string(n) + " already exists",
                                "checkpoint_not_newer");
    }
    return c.query("INSERT INTO tree_checkpoints(size, root, ts_ms, note) VALUES($1,$2,$3,$4)",
                   Params().add(cp.size).add(cp.root).add(cp.ts_ms).add(cp.note), "insert tree checkpoint")
        .status();
  });
}

Result<std::vector<TreeCheckpoint>> PgStore::list_tree_checkpoints(int64_t before_size, int limit) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  Params p;
  p.add(before_size > 0 ? before_size : std::numeric_limits<int64_t>::max());
  p.add(int64_t{std::clamp(limit, 1, 1000)});
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kTreeCheckpointColumns +
                                           " FROM tree_checkpoints WHERE size < $1 ORDER BY size DESC LIMIT $2",
                                       p, "list tree checkpoints"));
  std::vector<TreeCheckpoint> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(read_tree_checkpoint(rows, i));
  return out;
}

Result<TreeCheckpoint> PgStore::tree_checkpoint_at_most(int64_t at_most) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kTreeCheckpointColumns +
                                           " FROM tree_checkpoints WHERE size <= $1 ORDER BY size DESC LIMIT 1",
                                       Params().add(at_most), "read tree checkpoint"));
  if (rows.empty()) {
    return NotFound("no signed checkpoint covers size " + std::to_string(at_most) + " yet", "no_checkpoint");
  }
  return read_tree_checkpoint(rows, 0);
}

Status PgStore::add_cosignature(const Cosignature& cs) {
  return write_txn("add cosignature", {}, [&](Connection& c) -> Status {
    return c.query("INSERT INTO tree_cosignatures(size, witness, signature_line, received_at_ms) VALUES($1,$2,$3,$4) "
                   "ON CONFLICT(size, witness) DO UPDATE SET signature_line = excluded.signature_line, "
                   "received_at_ms = excluded.received_at_ms",
                   Params().add(cs.size).add(cs.witness).add(cs.signature_line).add(cs.received_at_ms),
                   "store cosignature")
        .status();
  });
}

Result<std::vector<Cosignature>> PgStore::list_cosignatures(int64_t size) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT size, witness, signature_line, received_at_ms FROM tree_cosignatures "
                                       "WHERE size = $1 ORDER BY witness",
                                       Params().add(size), "list cosignatures"));
  std::vector<Cosignature> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(Cosignature{rows.int64(i, 0), rows.text(i, 1), rows.text(i, 2), rows.int64(i, 3)});
  }
  return out;
}

Status PgStore::add_audit_key(const AuditKeyRecord& k) {
  return write_txn("add audit key", {}, [&](Connection& c) -> Status {
    Params p;
    p.add(k.verifier_key).add(k.hsm_id).add(k.alg).add(k.created_at).add(k.active_from).add(k.retired_at);
    return c.query("INSERT INTO audit_keys(verifier_key, hsm_id, alg, created_at, active_from, retired_at) "
                   "VALUES($1,$2,$3,$4,$5,$6)",
                   p, "insert audit key")
        .status();
  });
}

Status PgStore::retire_audit_key(std::string_view verifier_key, int64_t at) {
  return write_txn("retire audit key", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto rows, c.query("UPDATE audit_keys SET retired_at = $1 WHERE verifier_key = $2",
                                        Params().add(at).add(verifier_key), "retire audit key"));
    if (rows.affected() == 0) return NotFound("audit key not found", "audit_key_not_found");
    return Status::Ok();
  });
}

Result<std::vector<AuditKeyRecord>> PgStore::list_audit_keys() {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT verifier_key, hsm_id, alg, created_at, active_from, retired_at "
                                       "FROM audit_keys ORDER BY active_from, created_at, verifier_key",
                                       "list audit keys"));
  std::vector<AuditKeyRecord> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(AuditKeyRecord{rows.text(i, 0), rows.text(i, 1), rows.text(i, 2), rows.int64(i, 3),
                                 rows.int64(i, 4), rows.opt_int64(i, 5)});
  }
  return out;
}

// ---- API tokens ----

Status PgStore::create_api_token(const ApiTokenRecord& t, const LedgerEntry& event) {
  const std::string keysets = nlohmann::json(t.keysets).dump();
  return write_txn("create api token", {&event}, [&](Connection& c) -> Status {
    Params p;
    p.add(t.id).add(t.name).add(t.role).add(keysets).add(t.secret_hash).add(t.created_at).add(t.revoked_at);
    return c.query("INSERT INTO api_tokens(id, name, role, keysets, secret_hash, created_at, revoked_at) "
                   "VALUES($1,$2,$3,$4,$5,$6,$7)",
                   p, "insert api token '" + t.id + "'", kLedgerUnavailable)
        .status();
  });
}

Result<ApiTokenRecord> PgStore::get_api_token(std::string_view id) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kTokenColumns + " FROM api_tokens WHERE id = $1",
                                       Params().add(id), "get api token"));
  if (rows.empty()) return NotFound("api token not found", "token_not_found");
  return read_token(rows, 0);
}

Result<std::vector<ApiTokenRecord>> PgStore::list_api_tokens() {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kTokenColumns + " FROM api_tokens ORDER BY created_at, id",
                                       "list api tokens"));
  std::vector<ApiTokenRecord> out;
  for (int i = 0; i < rows.size(); ++i) {
    ASSIGN_OR_RETURN(auto t, read_token(rows, i));
    out.push_back(std::move(t));
  }
  return out;
}

Status PgStore::revoke_api_token(std::string_view id, int64_t at, const LedgerEntry& event) {
  return write_txn("revoke api token", {&event}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto rows, c.query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                                        Params().add(at).add(id), "revoke api token", kLedgerUnavailable));
    if (rows.affected() == 0) return NotFound("api token not found or already revoked", "token_not_found");
    return c.query("SELECT pg_notify($1, $2)",
                   Params().add(channel_).add(std::string(ChangeFeed::kApiTokenPrefix) + std::string(id)),
                   "notify token revocation", kLedgerUnavailable)
        .status();
  });
}

// ---- change notices ----

Result<std::vector<std::string>> PgStore::wait_for_changes(std::chrono::milliseconds timeout) {
  std::lock_guard lk(listen_mu_);
  auto down = [&](const std::string& why) -> Status {
    listener_.reset();
    return Unavailable("change notices: " + why, std::string(kDatabaseUnavailable));
  };
  if (listener_ && listener_->broken()) listener_.reset();
  if (!listener_) {
    ASSIGN_OR_RETURN(listener_, Connection::open(url_, conn_opts_));
    std::string quoted = "\"";
    for (char ch : channel_) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    quoted += '"';
    if (Status st = listener_->exec("LISTEN " + quoted, "listen for changes"); !st.ok()) {
      return down(st.message());
    }
  }
  PGconn* pc = listener_->handle();
  std::vector<std::string> out;
  auto drain = [&] {
    while (PGnotify* n = PQnotifies(pc)) {
      out.emplace_back(n->extra != nullptr ? n->extra : "");
      PQfreemem(n);
    }
  };
  if (PQconsumeInput(pc) == 0) return down(PQerrorMessage(pc));
  drain();
  if (!out.empty()) return out;
  pollfd pfd{PQsocket(pc), POLLIN, 0};
  const int r = ::poll(&pfd, 1, static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, 60000)));
  if (r < 0) {
    if (errno == EINTR) return out;
    return down(std::string("poll: ") + std::strerror(errno));
  }
  if (r > 0) {
    if (PQconsumeInput(pc) == 0) return down(PQerrorMessage(pc));
    drain();
  }
  return out;
}

// ---- alerts ----

constexpr char kAlertColumns[] =
    "id, ts_ms, last_seen_ms, occurrences, kind, severity, keyset, kid, summary, evidence, acked_at_ms, acked_by, "
    "ack_reason";

AlertRecord read_alert(const Rows& rows, int i, int first = 0) {
  AlertRecord a;
  a.id = rows.text(i, first + 0);
  a.ts_ms = rows.int64(i, first + 1);
  a.last_seen_ms = rows.int64(i, first + 2);
  a.occurrences = rows.int64(i, first + 3);
  a.kind = rows.text(i, first + 4);
  a.severity = rows.text(i, first + 5);
  a.keyset = rows.text(i, first + 6);
  a.kid = rows.text(i, first + 7);
  a.summary = rows.text(i, first + 8);
  a.evidence = rows.text(i, first + 9);
  a.acked_at_ms = rows.opt_int64(i, first + 10);
  a.acked_by = rows.text(i, first + 11);
  a.ack_reason = rows.text(i, first + 12);
  return a;
}

Result<bool> PgStore::raise_alert(const AlertRecord& a, const LedgerEntry& evidence,
                                  const std::vector<std::string>& sinks) {
  bool created = false;
  RETURN_IF_ERROR(write_txn("raise alert", {&evidence}, [&](Connection& c) -> Status {
    // One statement, so two instances raising the same alert at once both succeed: one inserts,
    // the other counts an occurrence (xmax = 0 only for the inserted row version).
    Params p;
    p.add(a.id).add(a.ts_ms).add(a.kind).add(a.severity).add(a.keyset).add(a.kid).add(a.summary).add(a.evidence);
    ASSIGN_OR_RETURN(auto rows, c.query(std::string("INSERT INTO alerts(") + kAlertColumns +
                                            ") VALUES($1,$2,$2,1,$3,$4,$5,$6,$7,$8,NULL,'','') "
                                            "ON CONFLICT(id) DO UPDATE SET occurrences = alerts.occurrences + 1, "
                                            "last_seen_ms = GREATEST(alerts.last_seen_ms, EXCLUDED.last_seen_ms) "
                                            "RETURNING (xmax = 0)",
                                        p, "insert alert", kLedgerUnavailable));
    created = !rows.empty() && rows.int64(0, 0) != 0;
    if (!created) return Status::Ok();
    for (const auto& sink : sinks) {
      RETURN_IF_ERROR(c.query("INSERT INTO alert_deliveries(alert_id, sink, next_attempt_ms) VALUES($1,$2,$3)",
                              Params().add(a.id).add(sink).add(a.ts_ms), "queue alert delivery", kLedgerUnavailable)
                          .status());
    }
    return Status::Ok();
  }));
  return created;
}

Result<AlertRecord> PgStore::get_alert(std::string_view id) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE id = $1",
                                       Params().add(id), "get alert"));
  if (rows.empty()) return NotFound("no alert with id '" + std::string(id) + "'", "alert_not_found");
  return read_alert(rows, 0);
}

Result<AlertPage> PgStore::list_alerts(const AlertQuery& in) {
  const int limit = std::clamp(in.limit, 1, 1000);
  std::string sql = std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE true";
  Params p;
  int n = 0;
  auto next = [&] { return "$" + std::to_string(++n); };
  auto text_eq = [&](const char* col, const std::optional<std::string>& v) {
    if (!v) return;
    sql += std::string(" AND ") + col + " = " + next();
    p.add(*v);
  };
  text_eq("keyset", in.keyset);
  text_eq("kind", in.kind);
  text_eq("severity", in.severity);
  if (in.acknowledged) sql += *in.acknowledged ? " AND acked_at_ms IS NOT NULL" : " AND acked_at_ms IS NULL";
  if (in.from_ms) {
    sql += " AND ts_ms >= " + next();
    p.add(*in.from_ms);
  }
  if (in.before) {
    ASSIGN_OR_RETURN(auto cur, parse_alert_cursor(*in.before));
    const std::string ts = next();
    const std::string id = next();
    sql += " AND (ts_ms < " + ts + " OR (ts_ms = " + ts + " AND id < " + id + "))";
    p.add(cur.first).add(cur.second);
  }
  sql += " ORDER BY ts_ms DESC, id DESC LIMIT " + next();
  p.add(static_cast<int64_t>(limit) + 1);
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query(sql, p, "list alerts"));
  AlertPage page;
  for (int i = 0; i < rows.size(); ++i) page.alerts.push_back(read_alert(rows, i));
  if (page.alerts.size() > static_cast<size_t>(limit)) {
    page.alerts.resize(static_cast<size_t>(limit));
    page.next_cursor = alert_cursor(page.alerts.back());
  }
  return page;
}

Status PgStore::ack_alert(std::string_view id, std::string_view by, std::string_view reason, int64_t at_ms,
                          const LedgerEntry& event) {
  return write_txn("acknowledge alert", {&event}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto rows, c.query("SELECT acked_at_ms FROM alerts WHERE id = $1 FOR UPDATE", Params().add(id),
                                        "read alert", kLedgerUnavailable));
    if (rows.empty()) return NotFound("no alert with id '" + std::string(id) + "'", "alert_not_found");
    if (!rows.is_null(0, 0)) return FailedPrecondition("the alert is already acknowledged", "already_acknowledged");
    return c.query("UPDATE alerts SET acked_at_ms = $1, acked_by = $2, ack_reason = $3 WHERE id = $4",
                   Params().add(at_ms).add(by).add(reason).add(id), "acknowledge alert", kLedgerUnavailable)
        .status();
  });
}

Result<std::vector<std::pair<AlertDelivery, AlertRecord>>> PgStore::claim_alert_deliveries(int64_t now_ms,
                                                                                           int64_t claim_ms,
                                                                                           int limit) {
  std::vector<std::pair<AlertDelivery, AlertRecord>> out;
  RETURN_IF_ERROR(write_txn("claim alert deliveries", {}, [&](Connection& c) -> Status {
    out.clear();
    // SKIP LOCKED: two dispatchers claiming at once take different rows instead of waiting.
    ASSIGN_OR_RETURN(auto rows,
                     c.query(std::string("WITH due AS (SELECT alert_id, sink FROM alert_deliveries "
                                         "WHERE delivered_at_ms IS NULL AND next_attempt_ms <= $1 "
                                         "ORDER BY next_attempt_ms, alert_id, sink LIMIT $3 FOR UPDATE SKIP LOCKED), "
                                         "claimed AS (UPDATE alert_deliveries d SET attempts = d.attempts + 1, "
                                         "next_attempt_ms = $1 + $2 FROM due WHERE d.alert_id = due.alert_id AND "
                                         "d.sink = due.sink RETURNING d.alert_id, d.sink, d.attempts, "
                                         "d.next_attempt_ms, d.last_error) "
                                         "SELECT claimed.alert_id, claimed.sink, claimed.attempts, "
                                         "claimed.next_attempt_ms, claimed.last_error, ") +
                                 "a.id, a.ts_ms, a.last_seen_ms, a.occurrences, a.kind, a.severity, a.keyset, "
                                 "a.kid, a.summary, a.evidence, a.acked_at_ms, a.acked_by, a.ack_reason "
                                 "FROM claimed JOIN alerts a ON a.id = claimed.alert_id "
                                 "ORDER BY a.ts_ms, claimed.alert_id, claimed.sink",
                             Params().add(now_ms).add(claim_ms).add(static_cast<int64_t>(std::max(limit, 1))),
                             "claim alert deliveries"));
    for (int i = 0; i < rows.size(); ++i) {
      out.emplace_back(AlertDelivery{rows.text(i, 0), rows.text(i, 1), rows.int64(i, 2), rows.int64(i, 3),
                                     rows.text(i, 4), std::nullopt},
                       read_alert(rows, i, 5));
    }
    return Status::Ok();
  }));
  return out;
}

Status PgStore::finish_alert_delivery(std::string_view alert_id, std::string_view sink, bool delivered, int64_t at_ms,
                                      int64_t retry_at_ms, std::string_view error) {
  return write_txn("record alert delivery", {}, [&](Connection& c) -> Status {
    if (delivered) {
      return c.query("UPDATE alert_deliveries SET delivered_at_ms = $1, last_error = '' "
                     "WHERE alert_id = $2 AND sink = $3 AND delivered_at_ms IS NULL",
                     Params().add(at_ms).add(alert_id).add(sink), "mark alert delivered")
          .status();
    }
    return c.query("UPDATE alert_deliveries SET next_attempt_ms = $1, last_error = $2 "
                   "WHERE alert_id = $3 AND sink = $4 AND delivered_at_ms IS NULL",
                   Params().add(retry_at_ms).add(error).add(alert_id).add(sink), "record failed delivery")
        .status();
  });
}

Result<std::vector<AlertDelivery>> PgStore::list_alert_deliveries(std::string_view alert_id) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT alert_id, sink, attempts, next_attempt_ms, last_error, delivered_at_ms "
                                       "FROM alert_deliveries WHERE alert_id = $1 ORDER BY sink",
                                       Params().add(alert_id), "list alert deliveries"));
  std::vector<AlertDelivery> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(AlertDelivery{rows.text(i, 0), rows.text(i, 1), rows.int64(i, 2), rows.int64(i, 3),
                                rows.text(i, 4), rows.opt_int64(i, 5)});
  }
  return out;
}

Result<std::vector<KeyUsage>> PgStore::key_usage(const std::vector<std::string>& kids) {
  std::vector<KeyUsage> out;
  if (kids.empty()) return out;
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  Params p;
  std::string in;
  for (const auto& kid : kids) {
    p.add(kid);
    in += (in.empty() ? "$" : ",$") + std::to_string(p.size());
  }
  // A row with 0 signatures is a lock placeholder of a signature that was refused.
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT kid, signatures, last_signed_ms FROM key_usage WHERE kid IN (" + in +
                                           ") AND signatures > 0",
                                       p, "read key usage"));
  for (int i = 0; i < rows.size(); ++i) out.push_back(KeyUsage{rows.text(i, 0), rows.int64(i, 1), rows.int64(i, 2)});
  return out;
}

Result<std::vector<KeyUsageHour>> PgStore::key_usage_hours(const std::vector<std::string>& kids, int64_t from_ms,
                                                           int64_t to_ms) {
  std::vector<KeyUsageHour> out;
  if (kids.empty()) return out;
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  Params p;
  p.add(from_ms).add(to_ms);
  std::string in;
  for (const auto& kid : kids) {
    p.add(kid);
    in += (in.empty() ? "$" : ",$") + std::to_string(p.size());
  }
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT kid, hour_ms, signatures FROM key_usage_hours WHERE hour_ms >= $1 AND "
                                       "hour_ms < $2 AND kid IN (" + in + ") ORDER BY kid, hour_ms",
                                       p, "read key usage per hour"));
  for (int i = 0; i < rows.size(); ++i) out.push_back(KeyUsageHour{rows.text(i, 0), rows.int64(i, 1), rows.int64(i, 2)});
  return out;
}

Result<int64_t> PgStore::note_first_seen(std::string_view keyset, std::string_view kind, std::string_view value,
                                         int64_t ts_ms) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  // DO UPDATE (a no-op) rather than DO NOTHING: RETURNING then yields the stored row either way.
  ASSIGN_OR_RETURN(auto rows, c->query("INSERT INTO monitor_seen(keyset, kind, value, first_seen_ms) VALUES($1, $2, $3, $4) "
                                       "ON CONFLICT (keyset, kind, value) DO UPDATE SET first_seen_ms = "
                                       "monitor_seen.first_seen_ms RETURNING first_seen_ms",
                                       Params().add(keyset).add(kind).add(value).add(ts_ms), "note first seen"));
  if (rows.empty()) return Internal("note first seen: no row returned", "database_error");
  return rows.int64(0, 0);
}

Result<AlertStats> PgStore::alert_stats() {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  AlertStats st;
  ASSIGN_OR_RETURN(auto open, c->query("SELECT severity, count(*) FROM alerts WHERE acked_at_ms IS NULL GROUP BY severity",
                                       "count open alerts"));
  for (int i = 0; i < open.size(); ++i) {
    const std::string sev = open.text(i, 0);
    (sev == "critical" ? st.open_critical : sev == "warning" ? st.open_warning : st.open_info) += open.int64(i, 1);
  }
  ASSIGN_OR_RETURN(auto pend, c->query("SELECT count(*), min(a.ts_ms) FROM alert_deliveries d JOIN alerts a "
                                       "ON a.id = d.alert_id WHERE d.delivered_at_ms IS NULL",
                                       "count pending deliveries"));
  if (!pend.empty()) {
    st.deliveries_pending = pend.int64(0, 0);
    st.oldest_pending_ms = pend.opt_int64(0, 1);
  }
  return st;
}

// ---- leases ----

Result<Lease> PgStore::acquire_lease(std::string_view name, std::string_view holder, int64_t ttl_ms) {
  Lease granted;
  bool renewed = false;
  // A renewal by the live holder: one UPDATE that waits for nothing but another renewal.
  RETURN_IF_ERROR(write_txn("renew lease", {}, [&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(auto rows, c.query(std::string("UPDATE leases SET expires_at_ms = ") + kDbNowMs + " + $3 " +
                                            "WHERE name = $1 AND holder = $2 AND epoch > 0 AND expires_at_ms > " +
                                            kDbNowMs + " RETURNING epoch, expires_at_ms",
                                        Params().add(name).add(holder).add(ttl_ms), "renew lease"));
    if (rows.empty()) return Status::Ok();
    granted = Lease{std::string(name), std::string(holder), rows.int64(0, 0), rows.int64(0, 1)};
    renewed = true;
    return Status::Ok();
  }));
  if (renewed) return granted;
  RETURN_IF_ERROR(write_txn("acquire lease", {}, [&](Connection& c) -> Status {
    // A takeover waits for the previous epoch's running fenced writes, but not for long: a holder
    // busy past this is still acting, and the next attempt comes soon.
    RETURN_IF_ERROR(c.exec("SET LOCAL lock_timeout = '1s'", "bound the lease wait"));
    // The first grant inserts the row; ON CONFLICT DO NOTHING lets two first grants race safely.
    RETURN_IF_ERROR(c.query("INSERT INTO leases(name, holder, epoch, expires_at_ms) VALUES($1, '', 0, 0) "
                            "ON CONFLICT(name) DO NOTHING",
                            Params().add(name), "create lease")
                        .status());
    // FOR UPDATE: waits for running fenced writes of the current epoch (they hold FOR KEY SHARE).
    ASSIGN_OR_RETURN(auto rows, c.query(std::string("SELECT holder, epoch, expires_at_ms, ") + kDbNowMs +
                                            " FROM leases WHERE name = $1 FOR UPDATE",
                                        Params().add(name), "lock lease"));
    std::optional<Lease> stored;
    if (rows.int64(0, 1) > 0) stored = Lease{std::string(name), rows.text(0, 0), rows.int64(0, 1), rows.int64(0, 2)};
    ASSIGN_OR_RETURN(granted, grant_lease(name, holder, ttl_ms, stored, rows.int64(0, 3)));
    return c.query("UPDATE leases SET holder = $2, epoch = $3, expires_at_ms = $4 WHERE name = $1",
                   Params().add(granted.name).add(granted.holder).add(granted.epoch).add(granted.expires_at_ms),
                   "store lease")
        .status();
  }));
  return granted;
}

Status PgStore::release_lease(std::string_view name, std::string_view holder, int64_t epoch) {
  return write_txn("release lease", {}, [&](Connection& c) -> Status {
    return c.query(std::string("UPDATE leases SET expires_at_ms = ") + kDbNowMs +
                       " WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at_ms > " + kDbNowMs,
                   Params().add(name).add(holder).add(epoch), "release lease")
        .status();
  });
}

Result<std::optional<Lease>> PgStore::read_lease(std::string_view name) {
  auto c = acquire();
  RETURN_IF_ERROR(c->ensure_connected(kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto stored, read_lease_in(*c, name, /*share=*/false));
  if (stored.first && stored.first->epoch == 0) return std::optional<Lease>();  // created, never granted
  return stored.first;
}

Status PgStore::check_writable() {
  auto c = acquire();
  ASSIGN_OR_RETURN(auto txn, Transaction::begin(*c, kDatabaseUnavailable));
  ASSIGN_OR_RETURN(auto rows, c->query("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'",
                                       "check the database is writable"));
  if (rows.int64(0, 0) != 0) {
    return Unavailable("the database is read-only (a standby, or default_transaction_read_only)",
                       std::string(kDatabaseUnavailable));
  }
  return Status::Ok();  // txn rolls back
}

}  // namespace

std::string redact_database_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  std::string out = url;
  // user:password@ — libpq ends the user info at the first '@' before any '/'.
  size_t hosts = scheme + 3;  // where the host list starts (after any user info)
  const size_t at = out.find_first_of("@/", scheme + 3);
  if (at != std::string::npos && out[at] == '@') {
    const size_t colon = out.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) out = out.substr(0, colon + 1) + "***" + out.substr(at);
    hosts = out.find('@', scheme + 3) + 1;
  }
  // ?...&password=...: the parameters start at the first '?' after the user info; keys are
  // percent-decoded by libpq, so compare decoded keys.
  const size_t q = out.find('?', hosts);
  if (q == std::string::npos) return out;
  auto decode = [](std::string_view s) {
    std::string d;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        d += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        d += s[i];
      }
    }
    return d;
  };
  std::string rebuilt = out.substr(0, q + 1);
  std::string_view rest = std::string_view(out).substr(q + 1);
  bool first = true;
  while (true) {
    const size_t amp = rest.find('&');
    std::string_view param = rest.substr(0, amp);
    const size_t eq = param.find('=');
    if (!first) rebuilt += '&';
    first = false;
    if (eq != std::string_view::npos && decode(param.substr(0, eq)) == "password") {
      rebuilt += std::string(param.substr(0, eq + 1)) + "***";
    } else {
      rebuilt += std::string(param);
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return rebuilt;
}

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url, const StoreOptions& opts,
                                                   const PostgresOptions& pg) {
  if (url.empty()) return InvalidArgument("database URL is empty");
  auto store = std::make_unique<PgStore>(url, opts, pg);
  RETURN_IF_ERROR(store->init().with_context("open PostgreSQL store '" + redact_database_url(url) + "'"));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace keymgr::db
