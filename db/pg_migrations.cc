#include "db/pg_migrations.h"

#include <string>
#include <vector>

namespace keymgr::db {
namespace {

// The advisory lock key that serialises migrations across instances ("keymgr" in ASCII).
constexpr int64_t kMigrationLock = 0x6b65796d6772;

// Index notes: ledger pages are "filter = ? ORDER BY seq DESC LIMIT n", so the indexes are
// (filter, seq) and PostgreSQL walks them backwards. tokens_signed_since walks (kid, ts_ms).
// ledger_pending is the intake of the off-path sequencer (db/pg_store.h): small (entries of the
// last integrate interval), indexed for the point lookups verification does.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: the schema of SQLite's version 3
      R"sql(
CREATE TABLE keysets(
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  issuer TEXT NOT NULL UNIQUE,
  alg TEXT NOT NULL,
  policy_json TEXT NOT NULL,
  disabled BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);

CREATE TABLE keys(
  hsm_id TEXT PRIMARY KEY,
  kid TEXT NOT NULL,
  keyset_id BIGINT NOT NULL REFERENCES keysets(id),
  alg TEXT NOT NULL,
  state TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activate_at BIGINT NOT NULL,
  deactivate_at BIGINT NOT NULL,
  retire_at BIGINT NOT NULL,
  destroy_at BIGINT NOT NULL,
  state_changed_at BIGINT NOT NULL,
  compromised_since BIGINT,
  note TEXT NOT NULL,
  emergency BIGINT NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX keys_kid ON keys(kid) WHERE kid <> '';
CREATE INDEX keys_keyset ON keys(keyset_id);

CREATE TABLE ledger(
  seq BIGINT PRIMARY KEY,
  ts_ms BIGINT NOT NULL,
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
  iat BIGINT NOT NULL,
  exp BIGINT NOT NULL,
  token_sha256 TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash BYTEA NOT NULL,
  hash BYTEA NOT NULL);
CREATE INDEX ledger_kid_seq ON ledger(kid, seq);
CREATE INDEX ledger_kid_ts ON ledger(kid, ts_ms);
CREATE INDEX ledger_keyset_seq ON ledger(keyset, seq);
CREATE INDEX ledger_actor_seq ON ledger(actor, seq);
CREATE INDEX ledger_sub_seq ON ledger(sub, seq) WHERE sub <> '';
CREATE INDEX ledger_jti ON ledger(jti) WHERE jti <> '';
CREATE INDEX ledger_token ON ledger(token_sha256) WHERE token_sha256 <> '';

CREATE TABLE ledger_pending(
  id BIGSERIAL PRIMARY KEY,
  ts_ms BIGINT NOT NULL,
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
  iat BIGINT NOT NULL,
  exp BIGINT NOT NULL,
  token_sha256 TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX ledger_pending_kid ON ledger_pending(kid);
CREATE INDEX ledger_pending_jti ON ledger_pending(jti) WHERE jti <> '';
CREATE INDEX ledger_pending_token ON ledger_pending(token_sha256) WHERE token_sha256 <> '';

-- The chain's tail as the sequencer left it; its row lock serialises sequencers (never signers).
CREATE TABLE ledger_head(
  id BIGINT PRIMARY KEY CHECK (id = 1),
  seq BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  max_ts_ms BIGINT NOT NULL,
  ts_disorder_ms BIGINT NOT NULL);
INSERT INTO ledger_head(id, seq, hash, max_ts_ms, ts_disorder_ms)
  VALUES(1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, 0, 0);

CREATE TABLE checkpoints(
  seq BIGINT PRIMARY KEY,
  head BYTEA NOT NULL,
  ts_ms BIGINT NOT NULL,
  kid TEXT NOT NULL,
  alg TEXT NOT NULL,
  signature BYTEA NOT NULL);

CREATE TABLE api_tokens(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  keysets TEXT NOT NULL,
  secret_hash BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT);

CREATE TABLE tree_hashes(idx BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE tree_head(id BIGINT PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, root BYTEA NOT NULL,
  integrated_at_ms BIGINT NOT NULL);
INSERT INTO tree_head(id, size, root, integrated_at_ms)
  VALUES(1, 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea, 0);
CREATE TABLE tree_checkpoints(size BIGINT PRIMARY KEY, root BYTEA NOT NULL, ts_ms BIGINT NOT NULL,
  note TEXT NOT NULL);
CREATE TABLE tree_cosignatures(size BIGINT NOT NULL REFERENCES tree_checkpoints(size), witness TEXT NOT NULL,
  signature_line TEXT NOT NULL, received_at_ms BIGINT NOT NULL, PRIMARY KEY(size, witness));
CREATE TABLE audit_keys(verifier_key TEXT PRIMARY KEY, hsm_id TEXT NOT NULL, alg TEXT NOT NULL,
  created_at BIGINT NOT NULL, active_from BIGINT NOT NULL, retired_at BIGINT);
)sql",
      // 2: leases and their fencing epochs (db/store.h acquire_lease); keyset versions (change
      //    propagation between instances).
      R"sql(
CREATE TABLE leases(name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL);
ALTER TABLE keysets ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
)sql",
      // 3: alerts raised by keymgr's detectors and their delivery outbox (keymgr/monitor.h).
      R"sql(
CREATE TABLE alerts(id TEXT PRIMARY KEY, ts_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL,
  occurrences BIGINT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, keyset TEXT NOT NULL,
  kid TEXT NOT NULL, summary TEXT NOT NULL, evidence TEXT NOT NULL, acked_at_ms BIGINT,
  acked_by TEXT NOT NULL DEFAULT '', ack_reason TEXT NOT NULL DEFAULT '');
CREATE INDEX alerts_by_ts ON alerts(ts_ms, id);
CREATE TABLE alert_deliveries(alert_id TEXT NOT NULL REFERENCES alerts(id), sink TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0, next_attempt_ms BIGINT NOT NULL, last_error TEXT NOT NULL DEFAULT '',
  delivered_at_ms BIGINT, PRIMARY KEY(alert_id, sink));
CREATE INDEX alert_deliveries_due ON alert_deliveries(next_attempt_ms) WHERE delivered_at_ms IS NULL;
)sql",
      // 4: how much each key has signed (Store::key_usage), counted with each recorded signature;
      //    filled from the ledger (sequenced and pending) for the keys that signed before; what the
      //    monitor has seen (Store::note_first_seen).
      R"sql(
CREATE TABLE key_usage(kid TEXT PRIMARY KEY, signatures BIGINT NOT NULL, last_signed_ms BIGINT NOT NULL);
INSERT INTO key_usage(kid, signatures, last_signed_ms)
  SELECT kid, count(*), max(ts_ms) FROM (
    SELECT kid, ts_ms FROM ledger WHERE kind = 'sign' AND outcome = 'ok'
    UNION ALL SELECT kid, ts_ms FROM ledger_pending WHERE kind = 'sign' AND outcome = 'ok') u
  WHERE kid <> '' GROUP BY kid;
CREATE TABLE key_usage_hours(kid TEXT NOT NULL, hour_ms BIGINT NOT NULL, signatures BIGINT NOT NULL,
  PRIMARY KEY(kid, hour_ms));
INSERT INTO key_usage_hours(kid, hour_ms, signatures)
  SELECT kid, ts_ms - ts_ms % 3600000, count(*) FROM (
    SELECT kid, ts_ms FROM ledger WHERE kind = 'sign' AND outcome = 'ok'
    UNION ALL SELECT kid, ts_ms FROM ledger_pending WHERE kind = 'sign' AND outcome = 'ok') u
  WHERE kid <> '' GROUP BY kid, ts_ms - ts_ms % 3600000;
CREATE TABLE monitor_seen(keyset TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  first_seen_ms BIGINT NOT NULL, PRIMARY KEY(keyset, kind, value));
)sql",
  };
  return kMigrations;
}

}  // namespace

int64_t latest_pg_schema_version() { return static_cast<int64_t>(migrations().size()); }

Status migrate_pg(pg::Connection& conn, int64_t now_ms) {
  ASSIGN_OR_RETURN(auto txn, pg::Transaction::begin(conn, kDatabaseUnavailable));
  RETURN_IF_ERROR(conn.query("SELECT pg_advisory_xact_lock($1)", pg::Params().add(kMigrationLock),
                             "wait for the schema migration lock")
                      .status());
  RETURN_IF_ERROR(conn.exec("CREATE TABLE IF NOT EXISTS schema_migrations(version BIGINT PRIMARY KEY, "
                            "applied_at BIGINT NOT NULL)",
                            "create schema_migrations"));
  ASSIGN_OR_RETURN(auto rows, conn.query("SELECT coalesce(max(version), 0) FROM schema_migrations",
                                         "read schema version"));
  const int64_t current = rows.int64(0, 0);
  if (current > latest_pg_schema_version()) {
    return FailedPrecondition("database schema version " + std::to_string(current) +
                                  " is newer than this build supports (" + std::to_string(latest_pg_schema_version()) +
                                  ")",
                              "schema_too_new");
  }
  for (int64_t version = current + 1; version <= latest_pg_schema_version(); ++version) {
    const std::string op = "apply schema migration " + std::to_string(version);
    RETURN_IF_ERROR(conn.exec(migrations()[static_cast<size_t>(version - 1)], op));
    RETURN_IF_ERROR(conn.query("INSERT INTO schema_migrations(version, applied_at) VALUES($1, $2)",
                               pg::Params().add(version).add(now_ms), "record schema migration")
                        .status());
  }
  return txn.commit();
}

}  // namespace keymgr::db
