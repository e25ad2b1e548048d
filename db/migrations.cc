#include "db/migrations.h"

#include <string>
#include <vector>

namespace keymgr::db {
namespace {

// Index notes (see docs/ledger.md, "Indexes"):
//  * Every ledger index ends implicitly in seq (the rowid), so (x, ts_ms) answers
//    "x = ? AND ts_ms BETWEEN ? AND ?" from the index alone and only the returned page touches the
//    table.
//  * jti, sub and token_sha256 are empty on lifecycle entries: partial indexes leave those out.
//    Queries must repeat the "<> ''" term for SQLite to pick the partial index.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: initial schema
      R"sql(
CREATE TABLE keysets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  issuer TEXT NOT NULL UNIQUE,
  alg TEXT NOT NULL,
  policy_json TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);

CREATE TABLE keys(
  hsm_id TEXT PRIMARY KEY,
  kid TEXT NOT NULL,
  keyset_id INTEGER NOT NULL REFERENCES keysets(id),
  alg TEXT NOT NULL,
  state TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  activate_at INTEGER NOT NULL,
  deactivate_at INTEGER NOT NULL,
  retire_at INTEGER NOT NULL,
  destroy_at INTEGER NOT NULL,
  state_changed_at INTEGER NOT NULL,
  compromised_since INTEGER,
  note TEXT NOT NULL,
  emergency INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX keys_kid ON keys(kid) WHERE kid <> '';
CREATE INDEX keys_keyset ON keys(keyset_id);

CREATE TABLE ledger(
  seq INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  event TEXT NOT NULL,
  keyset TEXT NOT NULL,
  kid TEXT NOT NULL,
  alg TEXT NOT NULL,
  actor TEXT NOT NULL,
  actor_addr TEXT NOT NULL,
  jti TEXT NOT NULL,
  sub TEXT NOT NULL,
  aud TEXT NOT NULL,
  iat INTEGER NOT NULL,
  exp INTEGER NOT NULL,
  token_sha256 TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL);
CREATE INDEX ledger_kid_ts ON ledger(kid, ts_ms);
CREATE INDEX ledger_keyset_ts ON ledger(keyset, ts_ms);
CREATE INDEX ledger_actor_ts ON ledger(actor, ts_ms);
CREATE INDEX ledger_sub_ts ON ledger(sub, ts_ms) WHERE sub <> '';
CREATE INDEX ledger_jti ON ledger(jti) WHERE jti <> '';
CREATE INDEX ledger_token ON ledger(token_sha256) WHERE token_sha256 <> '';

CREATE TABLE checkpoints(
  seq INTEGER PRIMARY KEY,
  head BLOB NOT NULL,
  ts_ms INTEGER NOT NULL,
  kid TEXT NOT NULL,
  alg TEXT NOT NULL,
  signature BLOB NOT NULL);

CREATE TABLE api_tokens(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  keysets TEXT NOT NULL,
  secret_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER);
)sql",
      // 2: query-planning metadata for the two-phase page plan (see SqliteStore::read_page).
      //    Computed from existing entries so a database written by version 1 gets exact values.
      R"sql(
CREATE TABLE ledger_meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO ledger_meta(name, value) SELECT 'max_ts_ms', coalesce(max(ts_ms), 0) FROM ledger;
INSERT INTO ledger_meta(name, value) SELECT 'ts_disorder_ms', max(0, coalesce(max(m - ts_ms), 0)) FROM (
  SELECT ts_ms, max(ts_ms) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS m
  FROM ledger);
)sql",
      // 3: the transparency log (docs/ledger.md, "The transparency log"). The tree over existing
      //    entries is built by the integrator after the upgrade (it catches up at >100k entries/s),
      //    not here, so the migration itself stays short.
      R"sql(
CREATE TABLE tree_hashes(idx INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE tree_head(id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, root BLOB NOT NULL,
  integrated_at_ms INTEGER NOT NULL);
INSERT INTO tree_head(id, size, root, integrated_at_ms)
  VALUES(1, 0, x'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0);
CREATE TABLE tree_checkpoints(size INTEGER PRIMARY KEY, root BLOB NOT NULL, ts_ms INTEGER NOT NULL,
  note TEXT NOT NULL);
CREATE TABLE tree_cosignatures(size INTEGER NOT NULL REFERENCES tree_checkpoints(size), witness TEXT NOT NULL,
  signature_line TEXT NOT NULL, received_at_ms INTEGER NOT NULL, PRIMARY KEY(size, witness));
CREATE TABLE audit_keys(verifier_key TEXT PRIMARY KEY, hsm_id TEXT NOT NULL, alg TEXT NOT NULL,
  created_at INTEGER NOT NULL, active_from INTEGER NOT NULL, retired_at INTEGER);
)sql",
      // 4: leases and their fencing epochs (db/store.h acquire_lease); keyset versions (change
      //    propagation between instances).
      R"sql(
CREATE TABLE leases(name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL);
ALTER TABLE keysets ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
)sql",
      // 5: alerts raised by keymgr's detectors and their delivery outbox (keymgr/monitor.h).
      R"sql(
CREATE TABLE alerts(id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
  occurrences INTEGER NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, keyset TEXT NOT NULL,
  kid TEXT NOT NULL, summary TEXT NOT NULL, evidence TEXT NOT NULL, acked_at_ms INTEGER,
  acked_by TEXT NOT NULL DEFAULT '', ack_reason TEXT NOT NULL DEFAULT '');
CREATE INDEX alerts_by_ts ON alerts(ts_ms, id);
CREATE TABLE alert_deliveries(alert_id TEXT NOT NULL REFERENCES alerts(id), sink TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL, last_error TEXT NOT NULL DEFAULT '',
  delivered_at_ms INTEGER, PRIMARY KEY(alert_id, sink));
CREATE INDEX alert_deliveries_due ON alert_deliveries(next_attempt_ms) WHERE delivered_at_ms IS NULL;
)sql",
      // 6: how much each key has signed (Store::key_usage), counted with each recorded signature;
      //    filled from the ledger for the keys that signed before; what the monitor has seen.
      R"sql(
CREATE TABLE key_usage(kid TEXT PRIMARY KEY, signatures INTEGER NOT NULL, last_signed_ms INTEGER NOT NULL);
INSERT INTO key_usage(kid, signatures, last_signed_ms)
  SELECT kid, count(*), max(ts_ms) FROM ledger WHERE kind = 'sign' AND outcome = 'ok' AND kid <> '' GROUP BY kid;
-- The same per hour (Store::key_usage_hours): signing volume over time.
CREATE TABLE key_usage_hours(kid TEXT NOT NULL, hour_ms INTEGER NOT NULL, signatures INTEGER NOT NULL,
  PRIMARY KEY(kid, hour_ms));
INSERT INTO key_usage_hours(kid, hour_ms, signatures)
  SELECT kid, ts_ms - ts_ms % 3600000, count(*) FROM ledger WHERE kind = 'sign' AND outcome = 'ok' AND kid <> ''
  GROUP BY kid, ts_ms - ts_ms % 3600000;
-- What the monitor has seen signing for each keyset (Store::note_first_seen): API tokens,
-- audiences, caller addresses.
CREATE TABLE monitor_seen(keyset TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  first_seen_ms INTEGER NOT NULL, PRIMARY KEY(keyset, kind, value));
)sql",
  };
  return kMigrations;
}

}  // namespace

int64_t latest_schema_version() { return static_cast<int64_t>(migrations().size()); }

Status migrate(sqlite::Connection& conn, int64_t now_ms) {
  using sqlite::kDatabaseUnavailable;
  RETURN_IF_ERROR(conn.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
      "create schema_migrations", kDatabaseUnavailable));
  for (int64_t version = 1; version <= latest_schema_version(); ++version) {
    // Checked inside the transaction: two processes opening a fresh file race here otherwise.
    ASSIGN_OR_RETURN(auto txn, sqlite::Transaction::begin_immediate(conn, kDatabaseUnavailable));
    int64_t current = 0;
    {
      ASSIGN_OR_RETURN(auto q, conn.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations"));
      ASSIGN_OR_RETURN(bool row, q.step("read schema version"));
      if (row) current = q.int64(0);
    }
    if (current > latest_schema_version()) {
      return FailedPrecondition("database schema version " + std::to_string(current) +
                                    " is newer than this build supports (" +
                                    std::to_string(latest_schema_version()) + ")",
                                "schema_too_new");
    }
    if (current >= version) continue;  // txn rolls back: nothing was written
    std::string op = "apply schema migration " + std::to_string(version);
    RETURN_IF_ERROR(conn.exec(migrations()[static_cast<size_t>(version - 1)], op, kDatabaseUnavailable));
    {
      ASSIGN_OR_RETURN(auto q, conn.prepare("INSERT INTO schema_migrations(version, applied_at) VALUES(?, ?)"));
      RETURN_IF_ERROR(q.bind(1, version).bind(2, now_ms).run("record schema migration"));
    }
    RETURN_IF_ERROR(txn.commit().with_context(op));
  }
  return Status::Ok();
}

}  // namespace keymgr::db
