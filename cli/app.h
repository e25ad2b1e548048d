// The composition root: opens the store and the HSM, loads and repairs keysets, starts the
// scheduler and the HTTP server. Used by `keymgr serve` and by end-to-end tests in-process.
#pragma once

#include <memory>

#include "api/server.h"
#include "cli/config.h"
#include "common/metrics.h"
#include "db/store.h"
#include "hsm/deadline_hsm.h"
#include "hsm/hsm.h"
#include "keymgr/api_tokens.h"
#include "keymgr/audit_service.h"
#include "keymgr/ledger_log.h"
#include "keymgr/change_watcher.h"
#include "keymgr/key_service.h"
#include "keymgr/leadership.h"
#include "keymgr/readiness.h"
#include "keymgr/scheduler.h"
#include "keymgr/token_service.h"
#include "keymgr/witness_client.h"
#include "keymgr/alert_dispatcher.h"
#include "keymgr/monitor.h"

namespace keymgr::cli {

// The store the configuration names (database.path, database.cache_mib). One set-up for
// `keymgr serve` (App::open) and the local commands (token, audit verify). The database's
// directory must exist (App::open creates it).
Result<std::unique_ptr<db::Store>> open_configured_store(const Config& cfg);
// The default cluster.instance_id: host name and listening port (stable across restarts).
std::string make_instance_id(const Config& cfg);
// The PKCS#11 token the configuration names (module, token label or serial, PIN, session pool),
// without call deadlines (App::open adds them).
Result<std::unique_ptr<hsm::Hsm>> open_configured_hsm(const Config& cfg);

// Owns every service of one running keymgr and the order they start and stop in.
// Thread-safety: stop() may be called from any thread (signal handling); the accessors are for
// the thread that opened the App, and the services they return are themselves thread-safe.
class App {
 public:
  // `hsm` may be injected (tests); otherwise opened from the config.
  static Result<std::unique_ptr<App>> open(const Config& cfg, std::unique_ptr<hsm::Hsm> hsm = nullptr,
                                           const Clock* clock = nullptr);
  ~App();

  // Binds, starts the scheduler, serves in a background thread. Returns once listening.
  Status start();
  // Blocks until stop() (signal handlers call stop()).
  void wait();
  void stop();

  int port() const { return server_ ? server_->port() : 0; }
  int public_port() const { return server_ ? server_->public_port() : -1; }
  KeyService& keys() { return *keys_; }
  TokenService& tokens() { return *tokens_; }
  AuditService& audit() { return *audit_; }
  LedgerLog& log() { return *log_; }
  ApiTokenService& api_tokens() { return *api_tokens_; }
  Monitor& monitor() { return *monitor_; }
  AlertDispatcher& alert_dispatcher() { return *alert_dispatcher_; }
  Scheduler& scheduler() { return *scheduler_; }
  db::Store& store() { return *store_; }
  hsm::Hsm& hsm() { return *hsm_; }
  // The deadline wrapper around the HSM (null when hsm.call_timeout_ms = 0).
  hsm::DeadlineHsm* deadlines() { return deadlines_; }
  Metrics& metrics() { return metrics_; }
  const Clock& clock() const { return *clock_; }

 private:
  App() = default;
  void register_metrics();

  Config cfg_;
  SystemClock system_clock_;
  const Clock* clock_ = nullptr;
  Metrics metrics_;
  std::unique_ptr<db::Store> store_;
  std::unique_ptr<hsm::Hsm> hsm_;
  hsm::DeadlineHsm* deadlines_ = nullptr;  // == hsm_.get() when deadlines are on
  std::unique_ptr<Leadership> leadership_;  // which instance runs the scheduler and the integrator
  std::unique_ptr<KeyService> keys_;
  std::unique_ptr<ChangeWatcher> watcher_;  // reloads keysets other instances changed
  std::unique_ptr<TokenService> tokens_;
  std::unique_ptr<AuditService> audit_;
  std::unique_ptr<LedgerLog> log_;
  std::unique_ptr<WitnessClient> witnesses_;  // null without [[ledger.witnesses]]; uses log_
  std::unique_ptr<Monitor> monitor_;           // detectors and alerts (keymgr/monitor.h)
  std::unique_ptr<AlertDispatcher> alert_dispatcher_;  // webhook delivery of alerts
  std::unique_ptr<ApiTokenService> api_tokens_;
  std::unique_ptr<ReadinessService> readiness_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<api::Server> server_;
  std::thread serve_thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
};

}  // namespace keymgr::cli
