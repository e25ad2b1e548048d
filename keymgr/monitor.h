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
//   dormant_key_used        warning   per key and idle period: a key signs after dormant_after idle
//   signing_rate_anomaly    warning   per keyset and hour: a minute far above the trailing average
//   first_seen_caller       info      per keyset, kind and value: a new API token, audience or
//                                     caller address signs for a keyset (after its learning period)
//   rotation_overdue        warning   per keyset and day (KeysetHealth::overdue)
//   hsm_errors              warning   per keyset and window, raised at the threshold
//   audit_failure           critical  per problem and day: the ledger's chain or tree fails
//   ledger_lag              critical  per day: durable entries not reaching the Merkle tree
//
// The unusual-use detectors (token_signed()) run on every signed token, so they keep their state in
// memory (one mutex, one map lookup per detector); the dormant and first-seen detectors confirm
// with the database before alerting (another instance may have signed), and first-seen values
// are stored (monitor_seen) so a restart does not make every caller new again. The rate
// detector's average is per process (each instance sees its share of the traffic).
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
#include <unordered_set>
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
  // Unusual use. dormant_after: a key that signs after being idle longer (0: off).
  std::chrono::seconds dormant_after{std::chrono::hours(24 * 7)};
  // A keyset's signatures in one minute above rate_factor x its trailing per-minute average (an
  // EWMA over about an hour) and above rate_floor, once rate_warmup of history is in (0: off).
  int rate_factor = 10;
  int rate_floor = 600;
  std::chrono::seconds rate_warmup{600};
  // First-seen API tokens, audiences and caller addresses are learned silently for this long after
  // monitoring first sees a keyset sign, then each new one raises first_seen_caller (0: off).
  std::chrono::seconds learning_period{std::chrono::hours(24)};
  // HSM failures on the signing path per keyset and window before hsm_errors is raised.
  int hsm_error_threshold = 5;
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
  // A token was signed (its ledger record is durable) at `at`: the unusual-use detectors.
  // `aud`: the token's audience as the ledger records it ("" none).
  void token_signed(std::string_view keyset, std::string_view kid, const Actor& actor, std::string_view aud, TimePoint at);
  // The HSM failed a signature for `keyset`.
  void hsm_error(std::string_view keyset, std::string_view kid, std::string_view error);
  // Key-health checks, run by the leader's scheduler: rotation overdue for each keyset in `overdue`
  // (name, problem), and a failed audit of the ledger (`problem` empty: it passed).
  void rotation_overdue(std::string_view keyset, std::string_view problem);
  void audit_failed(std::string_view problem, const nlohmann::json& detail);
  // Ledger entries are not reaching the Merkle tree (LedgerLog::lag().behind): new tokens cannot
  // be proven, and /readyz is not ready.
  void ledger_lag(int64_t pending, std::chrono::milliseconds oldest_age);

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
  // A ledger entry of kind "alert" (evidence or acknowledgement) at ts_ms by `actor`.
  static db::LedgerEntry alert_entry(int64_t ts_ms, std::string event, const db::AlertRecord& a, const Actor& actor);
  // Counts one event for (kind, keyset) in the current window; the window when the count reached
  // the threshold (or a multiple of it), else nullopt.
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

  // Unusual use (token_signed()).
  void check_dormant(std::string keyset, std::string kid, const Actor& actor, int64_t now_ms, int64_t cached_ms);
  void check_first_seen(const std::string& keyset, const std::string& kind, const std::string& value,
                        const Actor& actor, int64_t now_ms);
  struct Rate {
    int64_t minute = -1;   // the minute being counted
    int64_t count = 0;     // signatures in it
    double average = 0;    // EWMA of earlier minutes' counts
    int64_t history = 0;   // minutes folded into the average
    int64_t alerted = -1;  // the minute last alerted
  };
  std::map<std::string, int64_t, std::less<>> last_signed_;  // kid -> ms; guarded by mu_
  std::map<std::string, Rate, std::less<>> rates_;           // keyset; guarded by mu_
  std::map<std::string, int64_t, std::less<>> learning_since_;  // keyset -> ms; guarded by mu_
  // Periodic checks (rotation_overdue): alert ids raised within the last hour; guarded by mu_.
  bool recently_raised(const std::string& id, int64_t now_ms);
  std::map<std::string, int64_t, std::less<>> periodic_;
  std::unordered_set<std::string> seen_;  // "keyset\nkind\nvalue" known in the database; guarded by mu_
};

// The stable id of an alert: "<kind>-" and 24 hex digits of SHA-256 over the de-duplication key.
std::string alert_id(std::string_view kind, std::string_view dedup_key);

}  // namespace keymgr
