// Key-usage monitoring (issue 15): detectors that turn what keymgr sees (verifications, signing
// refusals) into alerts, and the alerts themselves (list, acknowledge).
//
// An alert is written to the database in one transaction with its evidence (a ledger entry of
// kind "alert") and a pending delivery per configured webhook (the outbox, db/store.h); the
// AlertDispatcher (keymgr/alert_dispatcher.h) delivers them. So an alert that was raised is never
// lost: a crash before delivery delays it. Detectors never fail the request that triggered them:
// if the alert cannot be written, the failure is logged and counted
// (keymgr_alert_raise_failures_total), and the request's own answer is unchanged.
//
// Alert ids are stable per incident, so repeats count on one alert (occurrences) and receivers
// de-duplicate by id:
//   leak_suspected          critical  per keyset, kid and UTC day
//   unknown_kid_probe       warning   per keyset and window, raised at the threshold
//   signing_outside_policy  warning   per keyset and window, raised at the threshold
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "db/records.h"
#include "db/store.h"
#include "keymgr/keyset.h"

namespace keymgr {

// One webhook that receives every alert as JSON (POST), signed with HMAC-SHA256 over the body in
// X-Keymgr-Signature ("sha256=<hex>") under `secret`.
struct WebhookSink {
  std::string name;  // [a-z0-9_-]{1,64}; the delivery rows' sink
  std::string url;   // http(s)://host[:port]/path, no user info, query or fragment
  std::string secret;       // the HMAC key (App reads it from secret_file)
  std::string secret_file;  // config: where the secret is (first line; never in the config itself)
  std::chrono::milliseconds timeout{5000};
};

struct MonitorOptions {
  std::vector<WebhookSink> webhooks;
  // Counting windows of the threshold detectors.
  std::chrono::seconds window{300};
  int unknown_kid_threshold = 20;    // verifications naming a kid the keyset does not have
  int refusal_threshold = 10;        // signing attempts refused by policy (disabled, not bound, ...)
  // Delivery: exponential backoff from retry_initial, doubled per failed attempt up to retry_max;
  // a claimed delivery that its dispatcher never finished is retried after claim.
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{600000};
  std::chrono::milliseconds claim{60000};
  std::chrono::milliseconds poll{1000};
};

// A webhook URL split for the HTTP client. InvalidArgument "bad_webhook" unless the shape above.
struct WebhookUrl {
  std::string scheme_host_port;
  std::string path;  // "/" when none
};
Result<WebhookUrl> parse_webhook_url(std::string_view url);
// The sink name rule of WebhookSink::name.
bool valid_sink_name(std::string_view name);

// Why a token presented to keymgr looks forged or misused (leak_suspected evidence).
struct SuspectToken {
  std::string keyset, kid;
  std::string token_sha256;
  std::string why;        // "not_in_ledger" | "ledger_other_key"
  std::string key_state;  // the key's state when it was presented
  std::string source;     // "verify" | "check"
};

class Monitor {
 public:
  Monitor(db::Store& store, const Clock& clock, MonitorOptions opts, Metrics* metrics = nullptr);

  // ---- detectors ----
  // A token with a good signature under a keymgr key (in any state: active, retired, compromised)
  // that keymgr did not issue: the signal of a stolen key.
  void token_suspect(const SuspectToken& t, const Actor& presenter);
  // A verification named a kid that the keyset does not have.
  void unknown_kid(std::string_view keyset, std::string_view kid, const Actor& presenter);
  // A signing attempt was refused by policy (not for unavailability).
  void signing_refused(std::string_view keyset, std::string_view kid, std::string_view reason, const Actor& actor);

  // ---- alerts ----
  // Writes the alert with its evidence and deliveries (see above); true when it is new.
  Result<bool> raise(db::AlertRecord a, const Actor& actor, std::string_view token_sha256 = {});
  Result<db::AlertPage> list(const db::AlertQuery& q) { return store_.list_alerts(q); }
  Result<db::AlertRecord> get(std::string_view id) { return store_.get_alert(id); }
  Result<std::vector<db::AlertDelivery>> deliveries(std::string_view id) { return store_.list_alert_deliveries(id); }
  // Recorded in the ledger with the operator's identity. `reason` must be non-empty
  // (InvalidArgument "reason_required").
  Status acknowledge(std::string_view id, const Actor& actor, std::string_view reason);

  // Called after a new alert is stored (the dispatcher's wake()). Set before serving.
  void set_on_new_alert(std::function<void()> fn) { on_new_ = std::move(fn); }

 private:
  struct Window {
    int64_t now_ms = 0, index = 0, start_ms = 0, count = 0;
  };
  // Counts one event for (kind, keyset) in the current window; the window when the count reached
  // the threshold (or a multiple of it), else nullopt.
  // A ledger entry of kind "alert" (evidence or acknowledgement) at ts_ms by `actor`.
  static db::LedgerEntry alert_entry(int64_t ts_ms, std::string event, const db::AlertRecord& a, const Actor& actor);
  std::optional<Window> count_in_window(const std::string& kind, std::string_view keyset, int threshold);
  // Raises the warning alert of a threshold detector for `w` (one alert per keyset and window).
  void raise_windowed(const Window& w, std::string kind, std::string_view keyset, std::string_view kid,
                      std::string summary, nlohmann::json evidence, const Actor& actor);

  db::Store& store_;
  const Clock& clock_;
  MonitorOptions opts_;
  Metrics* metrics_;
  std::vector<std::string> sinks_;
  std::function<void()> on_new_;
  std::mutex mu_;
  struct Counter {
    int64_t window = -1;
    int64_t count = 0;
  };
  std::map<std::string, Counter> counters_;  // "kind\nkeyset"; guarded by mu_
};

// The stable id of an alert: "<kind>-" and 24 hex digits of SHA-256 over the de-duplication key.
std::string alert_id(std::string_view kind, std::string_view dedup_key);

}  // namespace keymgr
