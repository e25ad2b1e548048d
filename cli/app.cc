#include "cli/app.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <future>

#include <spdlog/spdlog.h>

#include "db/open_store.h"
#include "hsm/deadline_hsm.h"
#include "hsm/pkcs11_hsm.h"

namespace keymgr::cli {

std::string make_instance_id(const Config& cfg) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  return std::string(host) + ":" + std::to_string(cfg.server.port);
}

Result<std::unique_ptr<db::Store>> open_configured_store(const Config& cfg) {
  db::StoreConfig sc;
  sc.location = cfg.db_location();
  sc.sqlite.cache_mib = cfg.db_cache_mib;
  // Below the lease: a paused leader's open transaction is aborted before its lease would pass.
  sc.postgres.idle_in_transaction_timeout_ms = static_cast<int>(
      std::max<int64_t>(1000, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.lease_ttl).count() / 3));
  auto store = db::open_store(sc);
  if (!store.ok()) return store.status().with_context("opening database " + db::redact_database_url(sc.location));
  return store;
}

Result<std::unique_ptr<hsm::Hsm>> open_configured_hsm(const Config& cfg) {
  hsm::Pkcs11Options ho;
  ho.module_path = cfg.hsm_module;
  ho.token_label = cfg.hsm_token_label;
  ho.token_serial = cfg.hsm_token_serial;
  ho.pool_size = cfg.hsm_pool_size;
  ASSIGN_OR_RETURN(ho.pin, load_hsm_pin(cfg));
  auto h = hsm::open_pkcs11_hsm(std::move(ho));
  if (!h.ok()) return h.status().with_context("opening HSM");
  return h;
}

Result<std::unique_ptr<App>> App::open(const Config& cfg, std::unique_ptr<hsm::Hsm> hsm, const Clock* clock) {
  std::unique_ptr<App> app(new App());
  app->cfg_ = cfg;
  app->clock_ = clock != nullptr ? clock : &app->system_clock_;

  const auto dir = std::filesystem::path(cfg.db_path).parent_path();
  if (cfg.db_url.empty() && !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  }
  // The HSM opens while the store opens and the keysets are read: SoftHSM2 reads and decrypts
  // every object file of its token in C_Initialize (most of a start-up at 10,000 keysets). Should
  // the store fail, the future waits for the HSM and closes it.
  std::future<Result<std::unique_ptr<hsm::Hsm>>> opening;
  if (!hsm) opening = std::async(std::launch::async, [&cfg] { return open_configured_hsm(cfg); });
  ASSIGN_OR_RETURN(app->store_, open_configured_store(cfg));
  auto stored = KeyService::read_stored(*app->store_);
  if (!stored.ok()) return stored.status().with_context("loading keysets");
  if (hsm) {
    app->hsm_ = std::move(hsm);
  } else {
    ASSIGN_OR_RETURN(app->hsm_, opening.get());
  }
  if (cfg.hsm_call_timeout_ms > 0) {
    hsm::DeadlineOptions d;
    d.call_timeout = std::chrono::milliseconds(cfg.hsm_call_timeout_ms);
    d.admin_timeout = std::chrono::milliseconds(cfg.hsm_admin_timeout_ms);
    d.workers = cfg.hsm_pool_size + 2;  // a few spare so a lookup is not queued behind signatures
    auto wrapped = hsm::with_deadlines(std::move(app->hsm_), d);
    app->deadlines_ = wrapped.get();
    app->hsm_ = std::move(wrapped);
  }

  LeadershipOptions lo;
  lo.instance_id = cfg.instance_id.empty() ? make_instance_id(cfg) : cfg.instance_id;
  lo.ttl = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.lease_ttl);
  app->leadership_ = std::make_unique<Leadership>(*app->store_, lo, &app->metrics_);
  // One attempt now: a lone instance leads from its first moment (start-up repair, bootstrap).
  const bool leader = app->leadership_->step();
  spdlog::info("instance {}: {}", app->leadership_->holder(), leader ? "leader" : "follower (another instance leads)");
  app->keys_ = std::make_unique<KeyService>(*app->hsm_, *app->store_, *app->clock_, &app->metrics_);
  app->keys_->set_instance_id(app->leadership_->holder());  // owner of this process's intents
  // Serve as soon as the keysets are loaded from the database. The repair against the HSM
  // (reconcile: unfinished generations, orphan objects, missing keys) lists every object of the
  // token, seconds with a large file-backed SoftHSM2 token; it runs as the scheduler's first tick,
  // in the background. It gates nothing: every signature uses its key in the HSM anyway, and a
  // key the HSM lacks fails closed (503) until the repair records it.
  auto rep = app->keys_->load_stored(std::move(stored).value(), /*repair=*/false);
  if (!rep.ok()) return rep.status().with_context("loading keysets");
  app->tokens_ = std::make_unique<TokenService>(*app->keys_, *app->hsm_, *app->store_, &app->metrics_);
  {
    // Only the dispatcher holds the webhook secrets; the monitor needs the sink names alone.
    MonitorOptions with_secrets = cfg.monitor;
    for (auto& w : with_secrets.webhooks) {
      auto secret = load_secret(w.secret_file, "", "webhook '" + w.name + "' secret");
      if (!secret.ok()) return secret.status().with_context("monitor.webhooks");
      w.secret = secret->reveal();
    }
    app->monitor_ = std::make_unique<Monitor>(*app->store_, *app->clock_, cfg.monitor, &app->metrics_);
    app->alert_dispatcher_ =
        std::make_unique<AlertDispatcher>(*app->store_, *app->clock_, std::move(with_secrets), &app->metrics_);
    app->monitor_->set_on_new_alert([d = app->alert_dispatcher_.get()] { d->wake(); });
    app->tokens_->set_monitor(app->monitor_.get());
    app->tokens_->set_rate_limits(cfg.limits);
  }
  app->audit_ = std::make_unique<AuditService>(*app->hsm_, *app->store_, *app->clock_);
  // The legacy hash-chain checkpoint key (if this database had one) is looked up on first use, not
  // here: the lookup lists every key of the token.
  app->api_tokens_ = std::make_unique<ApiTokenService>(*app->store_, *app->clock_);
  app->log_ = std::make_unique<LedgerLog>(*app->hsm_, *app->store_, *app->clock_, cfg.ledger, &app->metrics_);
  if (!cfg.witnesses.witnesses.empty()) {
    app->witnesses_ = std::make_unique<WitnessClient>(*app->log_, *app->store_, *app->clock_, cfg.witnesses, &app->metrics_);
    app->log_->set_on_checkpoint([w = app->witnesses_.get()](const db::TreeCheckpoint&) { w->notify(); });
  }
  // A failed audit of the ledger (API, CLI on this process) is an alert with its evidence.
  app->log_->set_on_audit_failure([m = app->monitor_.get()](const LogReport& r) {
    const std::string problem = !r.chain.ok ? "chain_" + r.chain.problem : r.problem;
    nlohmann::json d = {{"problem", problem}, {"tree_size", r.tree_size}, {"checkpoints", r.checkpoints}};
    if (r.chain.first_bad_seq) d["first_bad_seq"] = *r.chain.first_bad_seq;
    if (r.bad_checkpoint_size) d["bad_checkpoint_size"] = *r.bad_checkpoint_size;
    m->audit_failed(problem, d);
  });
  std::function<Status()> witness_check;
  if (WitnessClient* w = app->witnesses_.get()) witness_check = [w] { return w->quorum_status(); };
  app->readiness_ = std::make_unique<ReadinessService>(*app->hsm_, *app->store_, *app->keys_, app->log_.get(),
                                                       std::move(witness_check));

  if (leader && !cfg.bootstrap_keyset.empty() && app->keys_->keysets().empty()) {
    NewKeyset spec;
    spec.name = cfg.bootstrap_keyset;
    spec.issuer = cfg.bootstrap_issuer.empty()
                      ? "http://" + cfg.server.host + ":" + std::to_string(cfg.server.port) + "/" + cfg.bootstrap_keyset
                      : cfg.bootstrap_issuer;
    auto alg = parse_algorithm(cfg.bootstrap_alg);
    if (!alg) return InvalidArgument("bootstrap.alg '" + cfg.bootstrap_alg + "' is unknown", "bad_config");
    spec.alg = *alg;
    auto ks = app->keys_->create_keyset(spec, Actor{"bootstrap", ""});
    if (ks.ok()) {
      spdlog::info("created keyset '{}' for issuer {}", spec.name, spec.issuer);
    } else if (ks.status().code() != ErrorCode::kAlreadyExists) {  // another instance was first
      return ks.status().with_context("creating bootstrap keyset");
    }
  }

  app->watcher_ = std::make_unique<ChangeWatcher>(*app->keys_, std::chrono::milliseconds(cfg.change_poll_ms),
                                                  &app->metrics_, dynamic_cast<db::ChangeFeed*>(app->store_.get()));
  app->scheduler_ = std::make_unique<Scheduler>(*app->keys_, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.scheduler_interval));
  // Key health as alerts, on the leader's passes: a keyset whose rotation is overdue, ledger lag.
  app->scheduler_->add_job([keys = app->keys_.get(), m = app->monitor_.get(), log = app->log_.get(),
                            last_lag_check = std::chrono::steady_clock::time_point{}]() mutable {
    for (const auto& h : keys->health_all()) {
      if (h.overdue) m->rotation_overdue(h.keyset, h.problem);
    }
    // And ledger lag (one database read, at most every 30 s).
    const auto now = std::chrono::steady_clock::now();
    if (now - last_lag_check < std::chrono::seconds(30)) return;
    last_lag_check = now;
    if (auto lag = log->lag(); lag.ok() && lag->behind) m->ledger_lag(lag->pending, lag->oldest_age);
  });
  Leadership* lead = app->leadership_.get();
  app->scheduler_->set_fence_source([lead] { return lead->fence(); });
  app->scheduler_->set_on_stale([lead](const Status& st) { lead->report_refusal(st); });
  // Leading now: repair what the previous leader (or a dead incarnation) left half-done at once.
  Scheduler* sched = app->scheduler_.get();
  app->leadership_->set_on_change([sched](bool leader) {
    if (leader) sched->wake();
  });
  app->log_->set_fence_source([lead] { return lead->fence(); }, [lead](const Status& st) { lead->report_refusal(st); });
  if (leader) {
    if (Status st = app->log_->ensure_keys(); !st.ok()) spdlog::error("ledger log: audit key unavailable: {}", st.to_string());
  }
  api::Services svc{.keys = app->keys_.get(),
                    .tokens = app->tokens_.get(),
                    .audit = app->audit_.get(),
                    .log = app->log_.get(),
                    .api_tokens = app->api_tokens_.get(),
                    .readiness = app->readiness_.get(),
                    .metrics = &app->metrics_,
                    .monitor = app->monitor_.get()};
  app->server_ = std::make_unique<api::Server>(cfg.server, svc);
  if (api::Authenticator* auth = app->server_->authenticator()) {
    app->watcher_->set_on_token_revoked([auth](const std::string& id) { auth->forget(id); });
  }
  app->register_metrics();  // after the server: it reports the public listener too
  return app;
}

void App::register_metrics() {
  metrics_.describe("keymgr_signatures_total", "counter", "Signing attempts by keyset, algorithm and outcome");
  metrics_.describe("keymgr_sign_duration_seconds", "histogram", "End-to-end signing latency incl. durable ledger write");
  metrics_.describe("keymgr_hsm_errors_total", "counter", "HSM operations that failed");
  metrics_.describe("keymgr_http_requests_total", "counter", "HTTP responses by status code");
  metrics_.describe("keymgr_signing_gaps_total", "counter",
                    "Signing windows that ended with no successor ready (signing stopped or an emergency key took over)");
  metrics_.describe("keymgr_usage_limit_rotations_total", "counter",
                    "Keys that made their policy's max_signatures and were replaced by their successor");
  metrics_.describe("keymgr_unpublished_activations_total", "counter",
                    "Keys made to sign before they were published for verifier_cache + clock_skew (emergency keys)");
  KeyService* keys = keys_.get();
  const Clock* clk = clock_;
  metrics_.gauge("keymgr_key_age_seconds", "Age of each keyset's active key", [keys, clk] {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& ks : keys->keysets()) {
      if (const Key* a = ks->active_key()) {
        out.push_back({"keyset=\"" + Metrics::label_value(ks->name) + "\"",
                       std::chrono::duration<double>(clk->now() - a->activate_at).count()});
      }
    }
    return out;
  });
  metrics_.gauge("keymgr_rotation_overdue", "1 when a keyset's rotation is overdue", [keys] {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& h : keys->health_all()) {
      out.push_back({"keyset=\"" + Metrics::label_value(h.keyset) + "\"", h.overdue ? 1.0 : 0.0});
    }
    return out;
  });
  metrics_.gauge("keymgr_keyset_signing", "1 when a keyset has a key that may sign now", [keys] {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& h : keys->health_all()) {
      out.push_back({"keyset=\"" + Metrics::label_value(h.keyset) + "\"", h.signing ? 1.0 : 0.0});
    }
    return out;
  });
  metrics_.gauge("keymgr_scheduler_failures", "Consecutive scheduler failures per keyset", [keys] {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& h : keys->health_all()) {
      out.push_back({"keyset=\"" + Metrics::label_value(h.keyset) + "\"", static_cast<double>(h.consecutive_failures)});
    }
    return out;
  });
  if (hsm::DeadlineHsm* d = deadlines_) {
    metrics_.gauge("keymgr_hsm_timeouts", "HSM calls refused or abandoned at their deadline since start (503 hsm_timeout)", [d] {
      const auto s = d->deadline_stats();
      return std::vector<std::pair<std::string, double>>{{"", static_cast<double>(s.timeouts + s.fast_fails)}};
    });
    metrics_.gauge("keymgr_hsm_calls_overdue", "HSM calls still inside the module past their deadline", [d] {
      return std::vector<std::pair<std::string, double>>{{"", static_cast<double>(d->deadline_stats().overdue)}};
    });
    if (const auto* p = dynamic_cast<const hsm::Pkcs11Hsm*>(&d->inner())) {
      metrics_.gauge("keymgr_hsm_reinitializations",
                     "C_Finalize + C_Initialize of the PKCS#11 library since start, by cause (view: re-read the "
                     "token's objects before answering key_not_found or recording a key missing; other: the "
                     "library said it was broken, e.g. a p11-kit server that went away)",
                     [p] {
                       const auto s = p->pool_stats();
                       const double view = static_cast<double>(std::min(s.view_refreshes, s.reinitializations));
                       return std::vector<std::pair<std::string, double>>{
                           {"cause=\"view\"", view}, {"cause=\"other\"", static_cast<double>(s.reinitializations) - view}};
                     });
      metrics_.gauge("keymgr_hsm_reinit_drain_timeouts",
                     "PKCS#11 re-initialisations given up because a call in progress did not finish within 1 s",
                     [p] {
                       return std::vector<std::pair<std::string, double>>{
                           {"", static_cast<double>(p->pool_stats().drain_timeouts)}};
                     });
    }
  }
  if (const api::PublicListener* pl = server_ ? server_->public_listener() : nullptr) {
    metrics_.gauge("keymgr_public_requests", "Requests answered by the public listener since start, by outcome", [pl] {
      const auto s = pl->stats();
      return std::vector<std::pair<std::string, double>>{{"outcome=\"ok\"", static_cast<double>(s.requests - s.errors)},
                                                         {"outcome=\"error\"", static_cast<double>(s.errors)}};
    });
    metrics_.gauge("keymgr_public_connections_refused", "Connections closed at once over max_connections", [pl] {
      return std::vector<std::pair<std::string, double>>{{"", static_cast<double>(pl->stats().refused)}};
    });
  }
  db::Store* store = store_.get();
  LedgerLog* log = log_.get();
  metrics_.describe("keymgr_ledger_log_errors_total", "counter", "Ledger log integration or checkpoint failures (each start of one)");
  metrics_.describe("keymgr_ledger_checkpoints_total", "counter", "Signed ledger checkpoints");
  metrics_.describe("keymgr_ledger_inconsistencies_total", "counter",
                    "Times the stored tree did not extend the newest signed checkpoint (signing refused)");
  metrics_.describe("keymgr_witness_cosignatures_total", "counter", "Witness cosignatures received, verified and stored");
  metrics_.describe("keymgr_witness_conflicts_total", "counter",
                    "Witnesses that refused this log's history (409/422: a fork or rollback signal)");
  metrics_.describe("keymgr_witness_errors_total", "counter", "Witness submissions that failed otherwise");
  metrics_.gauge("keymgr_ledger_integration_lag_seconds", "Age of the oldest durable ledger entry not yet in the Merkle tree", [log] {
    auto l = log->lag();
    return std::vector<std::pair<std::string, double>>{{"", l.ok() ? l->oldest_age.count() / 1000.0 : -1.0}};
  });
  metrics_.gauge("keymgr_ledger_integration_pending", "Durable ledger entries not yet in the Merkle tree", [log] {
    auto l = log->lag();
    return std::vector<std::pair<std::string, double>>{{"", l.ok() ? static_cast<double>(l->pending) : -1.0}};
  });
  metrics_.gauge("keymgr_ledger_checkpoint_size", "Entries covered by the newest signed checkpoint", [log] {
    auto cp = log->latest_checkpoint();
    return std::vector<std::pair<std::string, double>>{{"", cp.ok() ? static_cast<double>(cp->size) : 0.0}};
  });
  Leadership* lead = leadership_.get();
  metrics_.gauge("keymgr_leader", "1 while this instance leads (runs the scheduler, reconcile and the ledger integrator)",
                 [lead] { return std::vector<std::pair<std::string, double>>{{"", lead->is_leader() ? 1.0 : 0.0}}; });
  metrics_.describe("keymgr_keyset_reloads_total", "counter", "Keysets reloaded because another instance changed them");
  metrics_.describe("keymgr_change_notices_total", "counter",
                    "Change notices received from the database (PostgreSQL LISTEN/NOTIFY)");
  metrics_.describe("keymgr_stale_key_refusals_total", "counter",
                    "Signatures the database refused because another instance had changed the key meanwhile");
  metrics_.describe("keymgr_stale_leader_refusals_total", "counter",
                    "Writes made as leader that the database refused because the lease had passed (fencing)");
  metrics_.describe("keymgr_leadership_changes_total", "counter", "This instance started or stopped leading");
  metrics_.describe("keymgr_keyset_conflicts_total", "counter",
                    "Keyset changes not applied because another instance changed the keyset first (the keyset is reloaded)");
  metrics_.gauge("keymgr_ledger_entries", "Entries in the signing ledger", [store] {
    auto n = store->ledger_size();
    return std::vector<std::pair<std::string, double>>{{"", n.ok() ? static_cast<double>(*n) : -1.0}};
  });
}

Status App::start() {
  RETURN_IF_ERROR(server_->bind());
  leadership_->start();
  watcher_->start();
  scheduler_->start();
  log_->start();
  if (witnesses_) witnesses_->start();
  alert_dispatcher_->start();
  serve_thread_ = std::thread([this] { server_->serve(); });
  return Status::Ok();
}

void App::wait() {
  std::unique_lock lk(stop_mu_);
  stop_cv_.wait(lk, [this] { return stopped_; });
}

void App::stop() {
  {
    std::lock_guard lk(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (server_) server_->stop();
  if (serve_thread_.joinable()) serve_thread_.join();
  if (scheduler_) scheduler_->stop();
  if (watcher_) watcher_->stop();
  if (log_) log_->stop();
  if (witnesses_) witnesses_->stop();
  if (alert_dispatcher_) alert_dispatcher_->stop();
  if (leadership_) leadership_->stop();  // releases the lease: another instance takes over at once
  stop_cv_.notify_all();
}

App::~App() { stop(); }

}  // namespace keymgr::cli
