// keymgr's configuration: one TOML file (see docs/keymgr.example.toml) with environment overrides
// for secrets and deployment paths. Secrets are read from files or the environment, never argv.
#pragma once

#include <string>

#include "api/server.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/secret.h"
#include "keymgr/keyset_rules.h"
#include "keymgr/ledger_log.h"
#include "keymgr/monitor.h"
#include "keymgr/rate_limiter.h"
#include "keymgr/policy.h"
#include "keymgr/witness_client.h"

namespace keymgr::cli {

struct Config {
  api::ServerOptions server;
  // HSM
  std::string hsm_module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string hsm_token_label = "keymgr";
  std::string hsm_token_serial;
  std::string hsm_pin_file;  // else $KEYMGR_HSM_PIN
  int hsm_pool_size = 4;
  // Deadlines (hsm/deadline_hsm.h): signing, lookups and health checks; key generation, listing
  // and destruction. 0 for call_timeout_ms runs HSM calls on the caller's thread with no
  // deadline (not recommended: a hung module then hangs the requests).
  int hsm_call_timeout_ms = 2000;
  int hsm_admin_timeout_ms = 60000;
  // Database
  std::string db_path = "data/keymgr.db";
  // A PostgreSQL URL (database.url / KEYMGR_DATABASE_URL): when set, the store is PostgreSQL and
  // db_path is unused. May carry a password; it is only ever logged redacted.
  std::string db_url;
  // Where the store lives: db_url when set, else db_path.
  const std::string& db_location() const { return db_url.empty() ? db_path : db_url; }
  int db_cache_mib = 128;  // SQLite page caches, all connections together
  // Scheduler
  std::chrono::seconds scheduler_interval{10};
  // [cluster]: several instances on one database (keymgr/leadership.h). instance_id "" = made up at
  // start (host name, pid, random); lease_ttl: a dead leader is replaced within lease_ttl * 4/3.
  std::string instance_id;
  std::chrono::seconds lease_ttl{10};
  // How often each instance checks for keysets other instances changed (cluster.change_poll_ms).
  int change_poll_ms = 500;
  // The ledger as a transparency log ([ledger]: origin, integrate_max_delay, checkpoint_interval,
  // audit_key_lifetime, audit_key_overlap). scheduler.checkpoint_interval is the old spelling of
  // ledger.checkpoint_interval.
  LedgerLogOptions ledger;
  // [[ledger.witnesses]] (name, url, key, timeout) and ledger.witness_quorum. quorum_grace is
  // 3 x checkpoint_interval + 2 x the longest witness timeout; retry_interval the checkpoint_interval.
  WitnessOptions witnesses;
  LogOptions log;
  // [monitor]: detector windows and thresholds, delivery backoff, [[monitor.webhooks]] (name, url,
  // secret_file, timeout). The webhook secrets are read by App::open from their files.
  MonitorOptions monitor;
  // [limits]: token_sign_rate / token_sign_burst, per API token (per keyset: the keyset's policy).
  RateLimitOptions limits;
  // A keyset created at start-up when the database has none (empty name: none).
  std::string bootstrap_keyset = "default";
  std::string bootstrap_issuer;  // default: http://<host>:<port>/default
  std::string bootstrap_alg = std::string(algorithm_name(kDefaultAlgorithm));
  std::string source;            // file the config came from ("" = defaults)
};

// Reads `path` (may be empty: defaults), then applies environment overrides:
// KEYMGR_LISTEN, KEYMGR_PORT, KEYMGR_DB, KEYMGR_HSM_MODULE, KEYMGR_HSM_TOKEN_LABEL,
// KEYMGR_HSM_PIN_FILE, KEYMGR_LOG_LEVEL, KEYMGR_LOG_JSON. (The PIN itself: KEYMGR_HSM_PIN.)
Result<Config> load_config(const std::string& path);
// Parses TOML text (exposed for tests and fuzzing).
Result<Config> parse_config(std::string_view toml_text, const std::string& source_name);

Result<Secret> load_hsm_pin(const Config& c);

}  // namespace keymgr::cli
