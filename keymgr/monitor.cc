#include "keymgr/monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/encoding.h"

namespace keymgr {
namespace {
using nlohmann::json;

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kMinuteMs = 60'000;
constexpr double kRateAlpha = 2.0 / 61;      // EWMA over about 60 minutes
constexpr size_t kMaxSeenCached = 100'000;   // first-seen values held in memory (then re-learned from the DB)
constexpr std::string_view kFirstSeenKinds[] = {"api_token", "audience", "address"};
}  // namespace

namespace {
// A new alert record at ts_ms; its id is alert_id(kind, dedup_key), stable per incident.
db::AlertRecord new_alert(int64_t ts_ms, std::string kind, std::string severity, std::string keyset, std::string kid,
                          std::string_view dedup_key) {
  db::AlertRecord a;
  a.ts_ms = ts_ms;
  a.id = alert_id(kind, dedup_key);
  a.kind = std::move(kind);
  a.severity = std::move(severity);
  a.keyset = std::move(keyset);
  a.kid = std::move(kid);
  return a;
}
}  // namespace

bool valid_sink_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

Result<WebhookUrl> parse_webhook_url(std::string_view url) {
  const auto bad = [](const std::string& why) { return InvalidArgument("webhook url: " + why, "bad_webhook"); };
  if (url.size() > 2048) return bad("longer than 2048 characters");
  size_t scheme_end;
  if (url.starts_with("http://")) {
    scheme_end = 7;
  } else if (url.starts_with("https://")) {
    scheme_end = 8;
  } else {
    return bad("must start with http:// or https://");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '?' || c == '#' ||
        c == '\\') {
      return bad("no spaces, control or non-ASCII characters, backslash, query or fragment");
    }
  }
  const size_t slash = url.find('/', scheme_end);
  WebhookUrl out;
  out.scheme_host_port = std::string(url.substr(0, slash));
  const std::string_view authority = std::string_view(out.scheme_host_port).substr(scheme_end);
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string_view::npos) return bad("no user info (put the secret in secret_file)");
  if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos && authority.back() != ']') {
    const std::string_view port = authority.substr(colon + 1);
    if (colon == 0) return bad("no host");
    if (port.empty() || port.size() > 5) return bad("bad port");
    int v = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return bad("bad port");
      v = v * 10 + (c - '0');
    }
    if (v < 1 || v > 65535) return bad("port must be 1..65535");
  }
  out.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  return out;
}

std::string alert_id(std::string_view kind, std::string_view dedup_key) {
  std::string material(kind);
  material += '\n';
  material += dedup_key;
  return std::string(kind) + "-" + hex_encode(sha256(material)).substr(0, 24);
}

Monitor::Monitor(db::Store& store, const Clock& clock, MonitorOptions opts, Metrics* metrics)
    : store_(store), clock_(clock), opts_(std::move(opts)), metrics_(metrics) {
  for (const auto& w : opts_.webhooks) sinks_.push_back(w.name);
  if (metrics_ != nullptr) {
    metrics_->describe("keymgr_alerts_total", "counter", "Alerts raised by keymgr's detectors (new alerts, not repeats)");
    metrics_->describe("keymgr_alert_raise_failures_total", "counter",
                       "Detections that could not be written as alerts (database unavailable)");
  }
}

db::LedgerEntry Monitor::alert_entry(int64_t ts_ms, std::string event, const db::AlertRecord& a, const Actor& actor) {
  db::LedgerEntry e;
  e.ts_ms = ts_ms;
  e.kind = "alert";
  e.event = std::move(event);
  e.keyset = a.keyset;
  e.kid = a.kid;
  e.actor = actor.name;
  e.actor_addr = actor.addr;
  return e;
}

Result<bool> Monitor::raise(db::AlertRecord a, const Actor& actor, std::string_view token_sha256) {
  if (a.ts_ms == 0) a.ts_ms = to_unix_millis(clock_.now());
  a.last_seen_ms = a.ts_ms;
  db::LedgerEntry e = alert_entry(a.ts_ms, a.kind, a, actor);
  e.token_sha256 = std::string(token_sha256);
  e.outcome = a.severity;
  e.reason = a.id;
  e.detail = a.evidence;
  auto created = store_.raise_alert(a, e, sinks_);
  if (!created.ok()) {
    spdlog::error("monitor: could not record alert {} ({}, keyset '{}', kid '{}'): {}", a.id, a.kind, a.keyset, a.kid,
                  created.status().to_string());
    if (metrics_ != nullptr) metrics_->inc("keymgr_alert_raise_failures_total", "kind=\"" + a.kind + "\"");
    return created.status();
  }
  if (*created) {
    if (on_new_) on_new_();
    if (metrics_ != nullptr) {
      metrics_->inc("keymgr_alerts_total", "kind=\"" + a.kind + "\",severity=\"" + a.severity + "\"");
    }
    if (a.severity == "critical") {
      spdlog::error("ALERT {} [{}] keyset '{}' kid '{}': {}", a.id, a.severity, a.keyset, a.kid, a.summary);
    } else {
      spdlog::warn("ALERT {} [{}] keyset '{}' kid '{}': {}", a.id, a.severity, a.keyset, a.kid, a.summary);
    }
  }
  return created;
}

void Monitor::token_suspect(const SuspectToken& t, const Actor& presenter) {
  const int64_t now_ms = to_unix_millis(clock_.now());
  db::AlertRecord a = new_alert(now_ms, "leak_suspected", "critical", t.keyset, t.kid,
                                t.keyset + "\n" + t.kid + "\n" + std::to_string(now_ms / kDayMs));
  static const std::map<std::string, std::string, std::less<>> kWhy = {
      {"not_in_ledger", "a token with a valid signature by this key is not in the signing ledger: keymgr did not "
                        "issue it, so the key may be in someone else's hands"},
      {"ledger_other_key", "a token with a valid signature by this key is recorded in the ledger for another key"},
  };
  auto it = kWhy.find(t.why);
  a.summary = "key " + t.kid + " of keyset '" + t.keyset + "': " + (it != kWhy.end() ? it->second : t.why);
  a.evidence = json{{"why", t.why},
                    {"token_sha256", t.token_sha256},
                    {"key_state", t.key_state},
                    {"source", t.source},
                    {"presented_by", presenter.name},
                    {"presented_from", presenter.addr}}
                   .dump();
  (void)raise(std::move(a), presenter, t.token_sha256);
}

std::optional<Monitor::Window> Monitor::count_in_window(const std::string& kind, std::string_view keyset,
                                                        int threshold) {
  Window w;
  w.now_ms = to_unix_millis(clock_.now());
  const int64_t window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.window).count();
  w.index = w.now_ms / window_ms;
  w.start_ms = w.index * window_ms;
  {
    std::lock_guard lk(mu_);
    Counter& c = counters_[kind + "\n" + std::string(keyset)];
    if (c.window != w.index) {
      c.window = w.index;
      c.count = 0;
    }
    w.count = ++c.count;
  }
  // At the threshold and at each multiple of it: the alert's occurrences grow with the events
  // without a ledger entry per request.
  if (w.count % std::max(1, threshold) != 0) return std::nullopt;
  return w;
}

void Monitor::raise_windowed(const Window& w, std::string kind, std::string_view keyset, std::string_view kid,
                             std::string summary, json evidence, const Actor& actor) {
  db::AlertRecord a = new_alert(w.now_ms, std::move(kind), "warning", std::string(keyset), std::string(kid),
                                std::string(keyset) + "\n" + std::to_string(w.index));
  a.summary = std::move(summary);
  evidence["count"] = w.count;
  evidence["window_s"] = opts_.window.count();
  evidence["window_start_ms"] = w.start_ms;
  a.evidence = evidence.dump();
  (void)raise(std::move(a), actor);
}

void Monitor::unknown_kid(std::string_view keyset, std::string_view kid, const Actor& presenter) {
  auto w = count_in_window("unknown_kid_probe", keyset, opts_.unknown_kid_threshold);
  if (!w) return;
  raise_windowed(*w, "unknown_kid_probe", keyset, "",
                 std::to_string(w->count) + " verifications for keyset '" + std::string(keyset) +
                     "' named kids it does not have within " + std::to_string(opts_.window.count()) +
                     " s: someone may be probing",
                 json{{"last_kid", std::string(kid).substr(0, 128)},
                      {"last_presented_by", presenter.name},
                      {"last_presented_from", presenter.addr}},
                 presenter);
}

void Monitor::signing_refused(std::string_view keyset, std::string_view kid, std::string_view reason,
                              const Actor& actor) {
  auto w = count_in_window("signing_outside_policy", keyset, opts_.refusal_threshold);
  if (!w) return;
  raise_windowed(*w, "signing_outside_policy", keyset, kid,
                 std::to_string(w->count) + " signing attempts for keyset '" + std::string(keyset) +
                     "' were refused by policy within " + std::to_string(opts_.window.count()) + " s (last: " +
                     std::string(reason) + ")",
                 json{{"last_reason", std::string(reason)}, {"last_actor", actor.name}, {"last_actor_addr", actor.addr}},
                 actor);
}

void Monitor::token_signed(std::string_view keyset, std::string_view kid, const Actor& actor, std::string_view aud,
                     TimePoint at) {
  const int64_t now_ms = to_unix_millis(at);
  const int64_t dormant_ms = opts_.dormant_after.count() * 1000;
  std::optional<int64_t> dormant_since;  // the cached last signature (0: none cached)
  std::optional<std::pair<int64_t, double>> spike;
  std::vector<std::pair<std::string_view, std::string>> unseen;
  {
    std::lock_guard lk(mu_);
    if (dormant_ms > 0) {
      auto it = last_signed_.find(kid);
      if (it == last_signed_.end()) {
        last_signed_.emplace(std::string(kid), now_ms);
        dormant_since = 0;  // not known here: ask the ledger
      } else {
        if (now_ms - it->second > dormant_ms) dormant_since = it->second;
        it->second = std::max(it->second, now_ms);
      }
    }
    if (opts_.rate_factor > 0) {
      auto it = rates_.find(keyset);
      if (it == rates_.end()) it = rates_.emplace(std::string(keyset), Rate{}).first;
      Rate& r = it->second;
      const int64_t minute = now_ms / kMinuteMs;
      if (r.minute < 0) {
        r.minute = minute;
      } else if (minute > r.minute) {
        r.average = kRateAlpha * static_cast<double>(r.count) + (1 - kRateAlpha) * r.average;
        r.average *= std::pow(1 - kRateAlpha, static_cast<double>(std::min<int64_t>(minute - r.minute - 1, 100'000)));
        r.history += minute - r.minute;
        r.minute = minute;
        r.count = 0;
      }
      ++r.count;  // a clock stepping back counts in the current minute
      if (r.history * 60 >= opts_.rate_warmup.count() && r.count > opts_.rate_floor &&
          static_cast<double>(r.count) > opts_.rate_factor * r.average && r.alerted != r.minute) {
        r.alerted = r.minute;
        spike = {r.count, r.average};
      }
    }
    if (opts_.learning_period.count() > 0) {
      const std::string_view values[] = {actor.name, aud, actor.addr};
      for (size_t i = 0; i < 3; ++i) {
        if (values[i].empty()) continue;
        std::string key = std::string(keyset) + '\n' + std::string(kFirstSeenKinds[i]) + '\n' + std::string(values[i]);
        if (seen_.count(key) > 0) continue;
        if (seen_.size() >= kMaxSeenCached) seen_.clear();  // the database still knows them
        seen_.insert(std::move(key));
        unseen.emplace_back(kFirstSeenKinds[i], std::string(values[i]));
      }
    }
  }
  if (dormant_since) check_dormant(std::string(keyset), std::string(kid), actor, now_ms, *dormant_since);
  if (spike) {
    db::AlertRecord a = new_alert(now_ms, "signing_rate_anomaly", "warning", std::string(keyset), std::string(kid),
                                  std::string(keyset) + "\n" + std::to_string(now_ms / (60 * kMinuteMs)));
    char avg[32];
    std::snprintf(avg, sizeof avg, "%.1f", spike->second);
    a.summary = "keyset '" + a.keyset + "' signed " + std::to_string(spike->first) + " tokens within a minute, " +
                "over " + std::to_string(opts_.rate_factor) + "x its trailing average of " + avg + " per minute";
    a.evidence = json{{"minute_count", spike->first},
                      {"trailing_average_per_minute", spike->second},
                      {"factor", opts_.rate_factor},
                      {"floor", opts_.rate_floor},
                      {"last_actor", actor.name},
                      {"last_actor_addr", actor.addr}}
                     .dump();
    (void)raise(std::move(a), actor);
  }
  for (const auto& [kind, value] : unseen) check_first_seen(std::string(keyset), std::string(kind), value, actor, now_ms);
}

void Monitor::check_dormant(std::string keyset, std::string kid, const Actor& actor, int64_t now_ms,
                            int64_t cached_ms) {
  // The ledger has the truth (another instance may have signed meanwhile): the key's newest
  // signature before this one.
  db::LedgerQuery q;
  q.kid = kid;
  q.kind = "sign";
  q.outcome = "ok";
  q.to_ms = now_ms - 1;
  q.limit = 1;
  auto page = store_.query_ledger(q);
  if (!page.ok()) {
    spdlog::warn("monitor: cannot check whether key {} was dormant: {}", kid, page.status().to_string());
    return;
  }
  if (page->entries.empty()) return;  // its first signature
  const int64_t prev_ms = std::max(page->entries.front().ts_ms, cached_ms);
  const int64_t idle_s = (now_ms - prev_ms) / 1000;
  if (idle_s <= opts_.dormant_after.count()) return;
  db::AlertRecord a =
      new_alert(now_ms, "dormant_key_used", "warning", std::move(keyset), kid, kid + "\n" + std::to_string(prev_ms));
  a.summary = "key " + a.kid + " of keyset '" + a.keyset + "' signed after " + std::to_string(idle_s) +
              " s without signing (dormant_after " + std::to_string(opts_.dormant_after.count()) + " s)";
  a.evidence = json{{"idle_s", idle_s},
                    {"previous_signature_ms", prev_ms},
                    {"dormant_after_s", opts_.dormant_after.count()},
                    {"actor", actor.name},
                    {"actor_addr", actor.addr}}
                   .dump();
  (void)raise(std::move(a), actor);
}

void Monitor::check_first_seen(const std::string& keyset, const std::string& kind, const std::string& value,
                               const Actor& actor, int64_t now_ms) {
  auto forget = [&] {  // not recorded: try again with a later signature
    std::lock_guard lk(mu_);
    seen_.erase(keyset + '\n' + kind + '\n' + value);
  };
  std::optional<int64_t> since;
  {
    std::lock_guard lk(mu_);
    if (auto it = learning_since_.find(keyset); it != learning_since_.end()) since = it->second;
  }
  if (!since) {
    // When monitoring first saw this keyset sign (stored, so a restart does not learn again).
    auto first = store_.note_first_seen(keyset, "keyset", "", now_ms);
    if (!first.ok()) {
      spdlog::warn("monitor: cannot record first-seen values for keyset '{}': {}", keyset, first.status().to_string());
      forget();
      return;
    }
    since = *first;
    std::lock_guard lk(mu_);
    learning_since_[keyset] = *first;
  }
  auto first = store_.note_first_seen(keyset, kind, value, now_ms);
  if (!first.ok()) {
    spdlog::warn("monitor: cannot record first-seen values for keyset '{}': {}", keyset, first.status().to_string());
    forget();
    return;
  }
  const int64_t learning_ms = opts_.learning_period.count() * 1000;
  if (*first != now_ms || now_ms < *since + learning_ms) return;  // known, or still learning
  static const std::map<std::string, std::string, std::less<>> kWhat = {
      {"api_token", "API token"}, {"audience", "audience"}, {"address", "caller address"}};
  db::AlertRecord a = new_alert(now_ms, "first_seen_caller", "info", keyset, "", keyset + "\n" + kind + "\n" + value);
  a.summary = "first signature for keyset '" + keyset + "' by a new " + kWhat.at(kind) + ": " + value.substr(0, 200);
  a.evidence = json{{"what", kind},
                    {"value", value.substr(0, 512)},
                    {"monitoring_since_ms", *since},
                    {"actor", actor.name},
                    {"actor_addr", actor.addr}}
                   .dump();
  (void)raise(std::move(a), actor);
}

void Monitor::hsm_error(std::string_view keyset, std::string_view kid, std::string_view error) {
  auto w = count_in_window("hsm_errors", keyset, opts_.hsm_error_threshold);
  if (!w) return;
  raise_windowed(*w, "hsm_errors", keyset, kid,
                 std::to_string(w->count) + " signatures for keyset '" + std::string(keyset) +
                     "' failed in the HSM within " + std::to_string(opts_.window.count()) + " s",
                 json{{"last_error", std::string(error).substr(0, 512)}}, Actor{"monitor", "local"});
}

bool Monitor::recently_raised(const std::string& id, int64_t now_ms) {
  std::lock_guard lk(mu_);
  auto [it, inserted] = periodic_.try_emplace(id, now_ms);
  if (!inserted && now_ms - it->second < 3'600'000) return true;
  it->second = now_ms;
  return false;
}

void Monitor::rotation_overdue(std::string_view keyset, std::string_view problem) {
  const int64_t now_ms = to_unix_millis(clock_.now());
  db::AlertRecord a = new_alert(now_ms, "rotation_overdue", "warning", std::string(keyset), "",
                                std::string(keyset) + "\n" + std::to_string(now_ms / kDayMs));
  if (recently_raised(a.id, now_ms)) return;  // checked every pass; counted at most hourly
  a.summary = "keyset '" + a.keyset + "': rotation overdue: " + std::string(problem);
  a.evidence = json{{"problem", std::string(problem)}}.dump();
  (void)raise(std::move(a), Actor{"scheduler", "local"});
}

void Monitor::ledger_lag(int64_t pending, std::chrono::milliseconds oldest_age) {
  const int64_t now_ms = to_unix_millis(clock_.now());
  db::AlertRecord a = new_alert(now_ms, "ledger_lag", "critical", "", "", std::to_string(now_ms / kDayMs));
  if (recently_raised(a.id, now_ms)) return;
  a.summary = std::to_string(pending) + " ledger entries are not in the Merkle tree; the oldest waited " +
              std::to_string(oldest_age.count() / 1000) + " s: new tokens cannot be proven";
  a.evidence = json{{"pending", pending}, {"oldest_age_ms", oldest_age.count()}}.dump();
  (void)raise(std::move(a), Actor{"scheduler", "local"});
}

void Monitor::audit_failed(std::string_view problem, const json& detail) {
  const int64_t now_ms = to_unix_millis(clock_.now());
  db::AlertRecord a = new_alert(now_ms, "audit_failure", "critical", "", "",
                                std::string(problem) + "\n" + std::to_string(now_ms / kDayMs));
  a.summary = "the ledger audit failed: " + std::string(problem);
  a.evidence = detail.dump();
  (void)raise(std::move(a), Actor{"audit", "local"});
}

Status Monitor::acknowledge(std::string_view id, const Actor& actor, std::string_view reason) {
  if (reason.empty() || reason.size() > 1000) {
    return InvalidArgument("an acknowledgement needs a reason (1..1000 characters)", "reason_required");
  }
  ASSIGN_OR_RETURN(db::AlertRecord a, store_.get_alert(id));
  const int64_t now_ms = to_unix_millis(clock_.now());
  db::LedgerEntry e = alert_entry(now_ms, "alert_acknowledged", a, actor);
  e.outcome = "ok";
  e.reason = a.id;
  e.detail = json{{"alert", a.id}, {"kind", a.kind}, {"reason", std::string(reason)}}.dump();
  return store_.ack_alert(id, actor.name, reason, now_ms, e);
}

}  // namespace keymgr
