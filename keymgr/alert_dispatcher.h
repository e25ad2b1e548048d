// Delivers alerts from the database outbox (db/store.h claim_alert_deliveries) to the configured
// webhooks (MonitorOptions::webhooks), at least once per alert and sink, in the background.
//
// Each round claims the due deliveries for MonitorOptions::claim, POSTs each as JSON with
// X-Keymgr-Signature: sha256=<hex HMAC-SHA256 of the body under the sink's secret>,
// X-Keymgr-Alert-Id and X-Keymgr-Delivery-Attempt, and records the outcome: any 2xx is delivered;
// anything else (no answer, timeout, other status) is retried after an exponential backoff
// (retry_initial x 2^(attempt-1), at most retry_max). A dispatcher killed mid-round leaves its
// claims to run out, then any instance's dispatcher retries them: receivers see an alert id more
// than once only then, and de-duplicate by it. Several instances may run dispatchers on one
// database; the claims keep them from sending the same delivery at once.
//
// Metrics: keymgr_alert_deliveries_total{sink,outcome}, gauges keymgr_alerts_open{severity},
// keymgr_alert_deliveries_pending, keymgr_alert_oldest_pending_seconds (read at scrape time).
// Thread-safety: start/stop/wake from any thread.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/metrics.h"
#include "db/store.h"
#include "keymgr/monitor.h"

namespace keymgr {

class WebhookHttp;

// The JSON body a sink receives for an alert (also what tests and receivers parse).
nlohmann::json alert_webhook_body(const db::AlertRecord& a, const db::AlertDelivery& d, int64_t sent_at_ms);

class AlertDispatcher {
 public:
  AlertDispatcher(db::Store& store, const Clock& clock, MonitorOptions opts, Metrics* metrics = nullptr);
  ~AlertDispatcher();
  AlertDispatcher(const AlertDispatcher&) = delete;
  AlertDispatcher& operator=(const AlertDispatcher&) = delete;

  void start();  // no thread when no webhook is configured
  void stop();   // waits for the round in progress (bounded by the sinks' timeouts)
  void wake();   // a new alert: deliver now instead of at the next poll
  // One round on the caller's thread (tests): claims and delivers what is due; returns how many
  // deliveries it attempted.
  Result<int> deliver_due();

 private:
  void run();
  Status deliver(const db::AlertDelivery& d, const db::AlertRecord& a);

  db::Store& store_;
  const Clock& clock_;
  MonitorOptions opts_;
  Metrics* metrics_;
  std::map<std::string, std::unique_ptr<WebhookHttp>> http_;  // by sink name
  std::map<std::string, const WebhookSink*> sinks_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool woken_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace keymgr
