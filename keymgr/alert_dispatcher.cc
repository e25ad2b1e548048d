#include "keymgr/alert_dispatcher.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/crypto.h"
#include "common/encoding.h"

namespace keymgr {

// One sink's HTTP client, bounded by its timeout; no redirects (a redirect is a failure).
class WebhookHttp {
 public:
  WebhookHttp(const WebhookUrl& url, std::chrono::milliseconds timeout) : client_(url.scheme_host_port), path_(url.path) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout - s);
    client_.set_connection_timeout(s.count(), us.count());
    client_.set_read_timeout(s.count(), us.count());
    client_.set_write_timeout(s.count(), us.count());
    client_.set_keep_alive(false);
    client_.set_follow_location(false);
  }
  // The HTTP status, or an error when there was no answer.
  Result<int> post(const std::string& body, const httplib::Headers& headers) {
    std::lock_guard lk(mu_);
    httplib::Result res = client_.Post(path_, headers, body, "application/json");
    if (!res) return Unavailable("no answer: " + httplib::to_string(res.error()), "webhook_unreachable");
    return res->status;
  }
  void stop() { client_.stop(); }

 private:
  std::mutex mu_;
  httplib::Client client_;
  std::string path_;
};

nlohmann::json alert_webhook_body(const db::AlertRecord& a, const db::AlertDelivery& d, int64_t sent_at_ms) {
  auto evidence = nlohmann::json::parse(a.evidence, nullptr, /*allow_exceptions=*/false);
  if (evidence.is_discarded()) evidence = a.evidence;
  return {{"id", a.id},
          {"kind", a.kind},
          {"severity", a.severity},
          {"keyset", a.keyset},
          {"kid", a.kid},
          {"summary", a.summary},
          {"evidence", evidence},
          {"raised_at_ms", a.ts_ms},
          {"occurrences", a.occurrences},
          {"sink", d.sink},
          {"attempt", d.attempts},
          {"sent_at_ms", sent_at_ms}};
}

AlertDispatcher::AlertDispatcher(db::Store& store, const Clock& clock, MonitorOptions opts, Metrics* metrics)
    : store_(store), clock_(clock), opts_(std::move(opts)), metrics_(metrics) {
  for (const auto& w : opts_.webhooks) {
    auto url = parse_webhook_url(w.url);
    // The config checked the url; an unusable one gets a client that reaches nothing.
    http_[w.name] = std::make_unique<WebhookHttp>(url.ok() ? *url : WebhookUrl{"http://invalid.invalid", "/"},
                                                  w.timeout);
    sinks_[w.name] = &w;
  }
  if (metrics_ != nullptr) {
    metrics_->describe("keymgr_alert_deliveries_total", "counter",
                       "Webhook delivery attempts of alerts by sink and outcome (delivered, failed)");
    db::Store* st = &store_;
    const Clock* ck = &clock_;
    metrics_->gauge("keymgr_alerts_open", "Alerts not acknowledged, by severity",
                    [st]() -> std::vector<std::pair<std::string, double>> {
                      auto s = st->alert_stats();
                      if (!s.ok()) return {};
                      return {{"severity=\"critical\"", static_cast<double>(s->open_critical)},
                              {"severity=\"warning\"", static_cast<double>(s->open_warning)},
                              {"severity=\"info\"", static_cast<double>(s->open_info)}};
                    });
    metrics_->gauge("keymgr_alert_deliveries_pending", "Alert deliveries (alert x webhook) not yet delivered",
                    [st]() -> std::vector<std::pair<std::string, double>> {
                      auto s = st->alert_stats();
                      if (!s.ok()) return {};
                      return {{"", static_cast<double>(s->deliveries_pending)}};
                    });
    metrics_->gauge("keymgr_alert_oldest_pending_seconds",
                    "Age of the oldest alert with an undelivered webhook delivery (0 when none)",
                    [st, ck]() -> std::vector<std::pair<std::string, double>> {
                      auto s = st->alert_stats();
                      if (!s.ok()) return {};
                      const double age = s->oldest_pending_ms
                                             ? std::max<double>(0, static_cast<double>(to_unix_millis(ck->now()) -
                                                                                       *s->oldest_pending_ms) / 1000.0)
                                             : 0.0;
                      return {{"", age}};
                    });
  }
}

AlertDispatcher::~AlertDispatcher() { stop(); }

void AlertDispatcher::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable() || opts_.webhooks.empty()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void AlertDispatcher::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& [name, h] : http_) h->stop();
  if (thread_.joinable()) thread_.join();
}

void AlertDispatcher::wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void AlertDispatcher::run() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      if (stop_) return;
    }
    auto n = deliver_due();
    if (!n.ok()) spdlog::warn("alerts: could not read the delivery outbox: {}", n.status().to_string());
    std::unique_lock lk(mu_);
    if (stop_) return;
    // A full round may have left more due: go on at once.
    if (n.ok() && *n >= 32) continue;
    cv_.wait_for(lk, opts_.poll, [&] { return stop_ || woken_; });
    woken_ = false;
  }
}

Result<int> AlertDispatcher::deliver_due() {
  const int64_t now_ms = to_unix_millis(clock_.now());
  ASSIGN_OR_RETURN(auto due, store_.claim_alert_deliveries(now_ms, opts_.claim.count(), 32));
  int attempted = 0;
  for (const auto& [d, a] : due) {
    bool stopping;
    {
      std::lock_guard lk(mu_);
      stopping = stop_;
    }
    if (stopping) {
      // Give the claim back so that the next dispatcher (a restart, another instance) need not
      // wait for it to run out.
      const int64_t at = to_unix_millis(clock_.now());
      (void)store_.finish_alert_delivery(d.alert_id, d.sink, false, at, at, "dispatcher stopped before the attempt");
      continue;
    }
    ++attempted;
    Status st = deliver(d, a);
    const int64_t at = to_unix_millis(clock_.now());
    int64_t backoff = opts_.retry_initial.count();
    for (int64_t i = 1; i < d.attempts && backoff < opts_.retry_max.count(); ++i) backoff *= 2;
    backoff = std::min<int64_t>(backoff, opts_.retry_max.count());
    if (metrics_ != nullptr) {
      metrics_->inc("keymgr_alert_deliveries_total", "sink=\"" + Metrics::label_value(d.sink) + "\",outcome=\"" +
                                                         (st.ok() ? "delivered" : "failed") + "\"");
    }
    if (!st.ok()) {
      spdlog::warn("alerts: delivery of {} to '{}' failed (attempt {}), retry in {} ms: {}", d.alert_id, d.sink,
                   d.attempts, backoff, st.message());
    }
    Status fin = store_.finish_alert_delivery(d.alert_id, d.sink, st.ok(), at, at + backoff,
                                              st.ok() ? std::string() : st.message().substr(0, 500));
    if (!fin.ok()) {
      // The claim runs out and the delivery is retried: a receiver may see it twice.
      spdlog::warn("alerts: could not record the delivery of {} to '{}': {}", d.alert_id, d.sink, fin.to_string());
    }
  }
  return attempted;
}

Status AlertDispatcher::deliver(const db::AlertDelivery& d, const db::AlertRecord& a) {
  auto sink = sinks_.find(d.sink);
  if (sink == sinks_.end()) {
    // A sink removed from the configuration: its deliveries wait (and show as pending) until it
    // is configured again or an operator acknowledges the backlog.
    return FailedPrecondition("sink '" + d.sink + "' is not configured", "sink_not_configured");
  }
  const std::string body = alert_webhook_body(a, d, to_unix_millis(clock_.now())).dump();
  const std::string sig = "sha256=" + hex_encode(hmac_sha256(sink->second->secret, body));
  httplib::Headers headers = {{"X-Keymgr-Signature", sig},
                              {"X-Keymgr-Alert-Id", a.id},
                              {"X-Keymgr-Delivery-Attempt", std::to_string(d.attempts)},
                              {"User-Agent", "keymgr-alerts"}};
  ASSIGN_OR_RETURN(int status, http_.at(d.sink)->post(body, headers));
  if (status < 200 || status > 299) return Unavailable("HTTP " + std::to_string(status), "webhook_refused");
  return Status::Ok();
}

}  // namespace keymgr
