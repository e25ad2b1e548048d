#include "cli/config.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "db/open_store.h"

namespace keymgr::cli {
namespace {

Status bad(const std::string& where, const std::string& what) {
  return InvalidArgument(where + ": " + what, "bad_config");
}

template <typename T>
Status get(const toml::table& t, std::string_view section, std::string_view key, T& out, const std::string& src) {
  auto node = t[section][key];
  if (!node) return Status::Ok();
  if constexpr (std::is_same_v<T, std::string>) {
    auto v = node.template value<std::string>();
    if (!v) return bad(src, std::string(section) + "." + std::string(key) + " must be a string");
    out = *v;
  } else if constexpr (std::is_same_v<T, bool>) {
    auto v = node.template value<bool>();
    if (!v) return bad(src, std::string(section) + "." + std::string(key) + " must be true or false");
    out = *v;
  } else {
    // Integers only: toml++ would cast a float (1e30, inf, nan) with undefined behaviour.
    if (!node.is_integer()) return bad(src, std::string(section) + "." + std::string(key) + " must be an integer");
    auto v = node.template value<int64_t>();
    if (!v || *v < 0 || *v > 1'000'000) return bad(src, std::string(section) + "." + std::string(key) + " must be a small non-negative integer");
    out = static_cast<T>(*v);
  }
  return Status::Ok();
}

// `allow_zero`: 0 / "0s" is accepted (a detector switched off).
Status get_duration(const toml::table& t, std::string_view section, std::string_view key, std::chrono::seconds& out,
                    const std::string& src, bool allow_zero = false) {
  auto node = t[section][key];
  if (!node) return Status::Ok();
  const int64_t min = allow_zero ? 0 : 1;
  if (node.is_integer()) {
    auto i = node.value<int64_t>();
    if (*i < min) return bad(src, std::string(section) + "." + std::string(key) + (allow_zero ? " must not be negative" : " must be positive"));
    out = std::chrono::seconds(*i);
    return Status::Ok();
  }
  auto s = node.value<std::string>();
  if (!s) return bad(src, std::string(section) + "." + std::string(key) + " must be a duration like \"10s\"");
  auto d = parse_duration(*s);
  if (!d.ok() || d->count() < min) return bad(src, std::string(section) + "." + std::string(key) + ": bad duration");
  out = *d;
  return Status::Ok();
}

const std::set<std::string>& known_keys(const std::string& section) {
  static const std::map<std::string, std::set<std::string>> kKnown = {
      {"server", {"listen", "port", "threads", "io_threads", "queue_max", "queue_timeout_ms", "max_connections",
                  "idle_timeout_s", "max_body_bytes", "tls_cert", "tls_key", "client_ca", "public_listen",
                  "public_port", "public_threads"}},
      {"hsm", {"module", "token_label", "token_serial", "pin_file", "pool_size", "call_timeout_ms", "admin_timeout_ms"}},
      {"database", {"path", "url", "cache_mib"}},
      {"scheduler", {"interval", "checkpoint_interval"}},
      {"cluster", {"instance_id", "lease_ttl", "change_poll_ms"}},
      {"ledger", {"origin", "integrate_max_delay", "checkpoint_interval", "audit_key_alg", "audit_key_lifetime", "audit_key_overlap",
                  "witnesses", "witness_quorum"}},
      {"log", {"level", "json"}},
      {"limits", {"token_sign_rate", "token_sign_burst"}},
      {"monitor", {"window", "unknown_kid_threshold", "refusal_threshold", "retry_initial_ms", "retry_max", "webhooks",
                   "dormant_after", "rate_factor", "rate_floor", "rate_warmup", "learning_period",
                   "hsm_error_threshold"}},
      {"bootstrap", {"keyset", "issuer", "alg"}},
  };
  static const std::set<std::string> kNone;
  auto it = kKnown.find(section);
  return it == kKnown.end() ? kNone : it->second;
}

// A `timeout` of a [[...]] table: seconds or a duration string, 1s..max.
template <typename Node>
std::optional<std::chrono::seconds> table_timeout(const Node& tn, std::chrono::seconds max) {
  std::optional<std::chrono::seconds> d;
  if (tn.is_integer()) {
    d = std::chrono::seconds(*tn.template value<int64_t>());
  } else if (auto ts = tn.template value<std::string>()) {
    if (auto p = parse_duration(*ts); p.ok()) d = *p;
  }
  if (!d || *d < std::chrono::seconds(1) || *d > max) return std::nullopt;
  return d;
}

// [[ledger.witnesses]]: name, url, key (a cosignature/v1 verifier key of that name), timeout.
Status parse_witnesses(const toml::table& t, WitnessOptions& out, const std::string& src) {
  auto node = t["ledger"]["witnesses"];
  if (!node) return Status::Ok();
  const toml::array* arr = node.as_array();
  if (arr == nullptr) return bad(src, "ledger.witnesses must be an array of tables ([[ledger.witnesses]])");
  if (arr->size() > 32) return bad(src, "ledger.witnesses: at most 32 witnesses");
  static const std::set<std::string> kKeys = {"name", "url", "key", "timeout"};
  std::set<std::string> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string where = "ledger.witnesses[" + std::to_string(i) + "]";
    const toml::table* w = (*arr)[i].as_table();
    if (w == nullptr) return bad(src, where + " must be a table with name, url and key");
    for (const auto& [k, v] : *w) {
      if (!kKeys.count(std::string(k.str()))) return bad(src, "unknown key " + where + "." + std::string(k.str()));
    }
    auto name = (*w)["name"].value<std::string>();
    if (!name || !note::is_valid_key_name(*name)) {
      return bad(src, where + ".name must be the witness's key name (no spaces, '+' or control characters)");
    }
    if (!names.insert(*name).second) return bad(src, where + ".name '" + *name + "' is configured twice");
    WitnessConfig wc;
    auto url = (*w)["url"].value<std::string>();
    if (!url) return bad(src, where + ".url must be a string (the witness's submission prefix)");
    if (auto u = parse_witness_url(*url); !u.ok()) return bad(src, where + ".url: " + u.status().message());
    wc.url = *url;
    auto vkey = (*w)["key"].value<std::string>();
    if (!vkey) return bad(src, where + ".key must be a string (the witness's verifier key)");
    auto key = note::parse_verifier_key(*vkey);
    if (!key.ok()) return bad(src, where + ".key: " + key.status().message());
    if (key->type != note::SigType::kCosignatureV1) {
      return bad(src, where + ".key must be a cosignature/v1 (type 0x04) verifier key");
    }
    if (key->name != *name) return bad(src, where + ".key is named '" + key->name + "', not '" + *name + "'");
    wc.key = std::move(*key);
    if (auto tn = (*w)["timeout"]; tn) {
      auto d = table_timeout(tn, std::chrono::seconds(300));
      if (!d) return bad(src, where + ".timeout must be a duration of 1s..300s");
      wc.timeout = *d;
    }
    out.witnesses.push_back(std::move(wc));
  }
  return Status::Ok();
}

// [[monitor.webhooks]]: name, url, secret_file, timeout.
Status parse_webhooks(const toml::table& t, MonitorOptions& out, const std::string& src) {
  auto node = t["monitor"]["webhooks"];
  if (!node) return Status::Ok();
  const toml::array* arr = node.as_array();
  if (arr == nullptr) return bad(src, "monitor.webhooks must be an array of tables ([[monitor.webhooks]])");
  if (arr->size() > 16) return bad(src, "monitor.webhooks: at most 16 webhooks");
  static const std::set<std::string> kKeys = {"name", "url", "secret_file", "timeout"};
  std::set<std::string> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string where = "monitor.webhooks[" + std::to_string(i) + "]";
    const toml::table* w = (*arr)[i].as_table();
    if (w == nullptr) return bad(src, where + " must be a table with name, url and secret_file");
    for (const auto& [k, v] : *w) {
      if (!kKeys.count(std::string(k.str()))) return bad(src, "unknown key " + where + "." + std::string(k.str()));
    }
    WebhookSink sink;
    auto name = (*w)["name"].value<std::string>();
    if (!name || !valid_sink_name(*name)) return bad(src, where + ".name must be 1..64 characters of [a-z0-9_-]");
    if (!names.insert(*name).second) return bad(src, where + ".name '" + *name + "' is configured twice");
    sink.name = *name;
    auto url = (*w)["url"].value<std::string>();
    if (!url) return bad(src, where + ".url must be a string");
    if (auto u = parse_webhook_url(*url); !u.ok()) return bad(src, where + ".url: " + u.status().message());
    sink.url = *url;
    auto secret_file = (*w)["secret_file"].value<std::string>();
    if (!secret_file || secret_file->empty()) {
      return bad(src, where + ".secret_file must name the file holding the HMAC secret (never the secret itself)");
    }
    sink.secret_file = *secret_file;
    if (auto tn = (*w)["timeout"]; tn) {
      auto d = table_timeout(tn, std::chrono::seconds(60));
      if (!d) return bad(src, where + ".timeout must be a duration of 1s..60s");
      sink.timeout = *d;
    }
    out.webhooks.push_back(std::move(sink));
  }
  return Status::Ok();
}

void env_str(const char* name, std::string& out) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') out = v;
}

}  // namespace

Result<Config> parse_config(std::string_view text, const std::string& src) {
  Config c;
  c.source = src;
  toml::table t;
  try {
    t = toml::parse(text, src);
  } catch (const toml::parse_error& err) {
    return bad(src, "line " + std::to_string(err.source().begin.line) + ": " + std::string(err.description()));
  }
  // Unknown sections or keys are mistakes (a typo must not silently fall back to a default).
  for (const auto& [k, v] : t) {
    std::string section(k.str());
    if (known_keys(section).empty()) return bad(src, "unknown section [" + section + "]");
    if (!v.is_table()) return bad(src, "[" + section + "] must be a table");
    for (const auto& [kk, vv] : *v.as_table()) {
      if (!known_keys(section).count(std::string(kk.str()))) {
        return bad(src, "unknown key " + section + "." + std::string(kk.str()));
      }
    }
  }
  RETURN_IF_ERROR(get(t, "server", "listen", c.server.host, src));
  RETURN_IF_ERROR(get(t, "server", "port", c.server.port, src));
  RETURN_IF_ERROR(get(t, "server", "threads", c.server.threads, src));
  RETURN_IF_ERROR(get(t, "server", "io_threads", c.server.io_threads, src));
  RETURN_IF_ERROR(get(t, "server", "queue_max", c.server.queue_max, src));
  RETURN_IF_ERROR(get(t, "server", "queue_timeout_ms", c.server.queue_timeout_ms, src));
  RETURN_IF_ERROR(get(t, "server", "max_connections", c.server.max_connections, src));
  RETURN_IF_ERROR(get(t, "server", "idle_timeout_s", c.server.idle_timeout_s, src));
  RETURN_IF_ERROR(get(t, "server", "public_listen", c.server.public_host, src));
  RETURN_IF_ERROR(get(t, "server", "public_port", c.server.public_port, src));
  RETURN_IF_ERROR(get(t, "server", "public_threads", c.server.public_threads, src));
  RETURN_IF_ERROR(get(t, "server", "max_body_bytes", c.server.max_body_bytes, src));
  RETURN_IF_ERROR(get(t, "server", "tls_cert", c.server.tls_cert, src));
  RETURN_IF_ERROR(get(t, "server", "tls_key", c.server.tls_key, src));
  RETURN_IF_ERROR(get(t, "server", "client_ca", c.server.client_ca, src));
  RETURN_IF_ERROR(get(t, "hsm", "module", c.hsm_module, src));
  RETURN_IF_ERROR(get(t, "hsm", "token_label", c.hsm_token_label, src));
  RETURN_IF_ERROR(get(t, "hsm", "token_serial", c.hsm_token_serial, src));
  RETURN_IF_ERROR(get(t, "hsm", "pin_file", c.hsm_pin_file, src));
  RETURN_IF_ERROR(get(t, "hsm", "pool_size", c.hsm_pool_size, src));
  RETURN_IF_ERROR(get(t, "hsm", "call_timeout_ms", c.hsm_call_timeout_ms, src));
  RETURN_IF_ERROR(get(t, "hsm", "admin_timeout_ms", c.hsm_admin_timeout_ms, src));
  RETURN_IF_ERROR(get(t, "database", "path", c.db_path, src));
  RETURN_IF_ERROR(get(t, "database", "url", c.db_url, src));
  RETURN_IF_ERROR(get(t, "database", "cache_mib", c.db_cache_mib, src));
  RETURN_IF_ERROR(get_duration(t, "scheduler", "interval", c.scheduler_interval, src));
  RETURN_IF_ERROR(get(t, "cluster", "instance_id", c.instance_id, src));
  RETURN_IF_ERROR(get_duration(t, "cluster", "lease_ttl", c.lease_ttl, src));
  RETURN_IF_ERROR(get(t, "cluster", "change_poll_ms", c.change_poll_ms, src));
  RETURN_IF_ERROR(get_duration(t, "scheduler", "checkpoint_interval", c.ledger.checkpoint_interval, src));
  RETURN_IF_ERROR(get(t, "ledger", "origin", c.ledger.origin, src));
  {
    std::chrono::seconds d = std::chrono::duration_cast<std::chrono::seconds>(c.ledger.integrate_max_delay);
    RETURN_IF_ERROR(get_duration(t, "ledger", "integrate_max_delay", d, src));
    c.ledger.integrate_max_delay = d;
  }
  RETURN_IF_ERROR(get_duration(t, "ledger", "checkpoint_interval", c.ledger.checkpoint_interval, src));
  RETURN_IF_ERROR(get(t, "ledger", "audit_key_alg", c.ledger.audit_key_alg, src));
  RETURN_IF_ERROR(get_duration(t, "ledger", "audit_key_lifetime", c.ledger.audit_key_lifetime, src));
  RETURN_IF_ERROR(get_duration(t, "ledger", "audit_key_overlap", c.ledger.audit_key_overlap, src));
  RETURN_IF_ERROR(parse_witnesses(t, c.witnesses, src));
  RETURN_IF_ERROR(get(t, "ledger", "witness_quorum", c.witnesses.quorum, src));
  RETURN_IF_ERROR(get_duration(t, "monitor", "window", c.monitor.window, src));
  RETURN_IF_ERROR(get(t, "monitor", "unknown_kid_threshold", c.monitor.unknown_kid_threshold, src));
  RETURN_IF_ERROR(get(t, "monitor", "refusal_threshold", c.monitor.refusal_threshold, src));
  {
    int64_t retry_initial_ms = c.monitor.retry_initial.count();
    RETURN_IF_ERROR(get(t, "monitor", "retry_initial_ms", retry_initial_ms, src));
    if (retry_initial_ms < 10 || retry_initial_ms > 600000) return bad(src, "monitor.retry_initial_ms must be 10..600000");
    c.monitor.retry_initial = std::chrono::milliseconds(retry_initial_ms);
    std::chrono::seconds retry_max = std::chrono::duration_cast<std::chrono::seconds>(c.monitor.retry_max);
    RETURN_IF_ERROR(get_duration(t, "monitor", "retry_max", retry_max, src));
    if (retry_max > std::chrono::hours(24)) return bad(src, "monitor.retry_max must be at most 24h");
    c.monitor.retry_max = retry_max;
    if (c.monitor.retry_max < c.monitor.retry_initial) {
      return bad(src, "monitor.retry_max must not be shorter than monitor.retry_initial_ms");
    }
  }
  if (c.monitor.window > std::chrono::hours(24)) return bad(src, "monitor.window must be at most 24h");
  if (c.monitor.unknown_kid_threshold < 1 || c.monitor.unknown_kid_threshold > 1000000) {
    return bad(src, "monitor.unknown_kid_threshold must be 1..1000000");
  }
  if (c.monitor.refusal_threshold < 1 || c.monitor.refusal_threshold > 1000000) {
    return bad(src, "monitor.refusal_threshold must be 1..1000000");
  }
  RETURN_IF_ERROR(get_duration(t, "monitor", "dormant_after", c.monitor.dormant_after, src, /*allow_zero=*/true));
  RETURN_IF_ERROR(get(t, "monitor", "rate_factor", c.monitor.rate_factor, src));
  RETURN_IF_ERROR(get(t, "monitor", "rate_floor", c.monitor.rate_floor, src));
  RETURN_IF_ERROR(get_duration(t, "monitor", "rate_warmup", c.monitor.rate_warmup, src, /*allow_zero=*/true));
  RETURN_IF_ERROR(get_duration(t, "monitor", "learning_period", c.monitor.learning_period, src, /*allow_zero=*/true));
  RETURN_IF_ERROR(get(t, "monitor", "hsm_error_threshold", c.monitor.hsm_error_threshold, src));
  if (c.monitor.dormant_after > std::chrono::hours(24 * 3650)) return bad(src, "monitor.dormant_after must be at most 3650d");
  if (c.monitor.rate_factor < 0 || c.monitor.rate_factor > 1000) return bad(src, "monitor.rate_factor must be 0..1000");
  if (c.monitor.rate_floor < 1 || c.monitor.rate_floor > 100000000) {
    return bad(src, "monitor.rate_floor must be 1..100000000 signatures per minute");
  }
  if (c.monitor.rate_warmup > std::chrono::hours(24 * 7)) return bad(src, "monitor.rate_warmup must be at most 7d");
  if (c.monitor.learning_period > std::chrono::hours(24 * 365)) {
    return bad(src, "monitor.learning_period must be at most 365d");
  }
  if (c.monitor.hsm_error_threshold < 1 || c.monitor.hsm_error_threshold > 1000000) {
    return bad(src, "monitor.hsm_error_threshold must be 1..1000000");
  }
  RETURN_IF_ERROR(parse_webhooks(t, c.monitor, src));
  RETURN_IF_ERROR(get(t, "limits", "token_sign_rate", c.limits.token_sign_rate, src));
  RETURN_IF_ERROR(get(t, "limits", "token_sign_burst", c.limits.token_sign_burst, src));
  if (c.limits.token_sign_burst > 0 && c.limits.token_sign_rate == 0) {
    return bad(src, "limits.token_sign_burst needs limits.token_sign_rate (0 = no limit)");
  }
  RETURN_IF_ERROR(get(t, "log", "level", c.log.level, src));
  RETURN_IF_ERROR(get(t, "log", "json", c.log.json, src));
  RETURN_IF_ERROR(get(t, "bootstrap", "keyset", c.bootstrap_keyset, src));
  RETURN_IF_ERROR(get(t, "bootstrap", "issuer", c.bootstrap_issuer, src));
  RETURN_IF_ERROR(get(t, "bootstrap", "alg", c.bootstrap_alg, src));
  if (c.server.port > 65535) return bad(src, "server.port must be 0..65535");
  if (c.server.public_port > 65535) return bad(src, "server.public_port must be 0..65535");
  if (c.server.threads < 2 || c.server.threads > 1024) return bad(src, "server.threads must be 2..1024");
  if (c.server.io_threads < 1 || c.server.io_threads > 64) return bad(src, "server.io_threads must be 1..64");
  if (c.server.queue_max < 1 || c.server.queue_max > 1000000) return bad(src, "server.queue_max must be 1..1000000");
  if (c.server.queue_timeout_ms < 1 || c.server.queue_timeout_ms > 600000) {
    return bad(src, "server.queue_timeout_ms must be 1..600000");
  }
  if (c.server.max_connections < 1 || c.server.max_connections > 1000000) {
    return bad(src, "server.max_connections must be 1..1000000");
  }
  if (c.server.idle_timeout_s < 1 || c.server.idle_timeout_s > 3600) return bad(src, "server.idle_timeout_s must be 1..3600");
  if (c.server.public_threads < 1 || c.server.public_threads > 64) return bad(src, "server.public_threads must be 1..64");
  if (c.hsm_pool_size < 1 || c.hsm_pool_size > 256) return bad(src, "hsm.pool_size must be 1..256");
  if (c.db_cache_mib < 2 || c.db_cache_mib > 65536) return bad(src, "database.cache_mib must be 2..65536");
  if (!c.db_url.empty() && !db::is_postgresql_url(c.db_url)) {
    return bad(src, "database.url must start with postgresql:// or postgres:// (a SQLite file is database.path)");
  }
  if (!note::is_valid_key_name(c.ledger.origin) || c.ledger.origin.find("://") != std::string::npos) {
    return bad(src, "ledger.origin must be a schema-less URL-like name without spaces or '+', e.g. \"keymgr.example.com/ledger\"");
  }
  if (c.ledger.audit_key_alg != "auto" && c.ledger.audit_key_alg != "Ed25519" && c.ledger.audit_key_alg != "ES256") {
    return bad(src, "ledger.audit_key_alg must be auto, Ed25519 or ES256");
  }
  if (c.ledger.audit_key_overlap >= c.ledger.audit_key_lifetime) {
    return bad(src, "ledger.audit_key_overlap must be shorter than ledger.audit_key_lifetime");
  }
  if (c.witnesses.quorum > c.witnesses.witnesses.size()) {
    return bad(src, "ledger.witness_quorum must not exceed the number of [[ledger.witnesses]]");
  }
  {
    std::chrono::milliseconds longest{0};
    for (const auto& w : c.witnesses.witnesses) longest = std::max(longest, w.timeout);
    c.witnesses.quorum_grace = 3 * std::chrono::duration_cast<std::chrono::milliseconds>(c.ledger.checkpoint_interval) +
                               2 * longest;
    c.witnesses.retry_interval = c.ledger.checkpoint_interval;
  }
  if (c.hsm_admin_timeout_ms < 1) return bad(src, "hsm.admin_timeout_ms must be at least 1");
  if (c.change_poll_ms < 50 || c.change_poll_ms > 60000) return bad(src, "cluster.change_poll_ms must be 50..60000");
  if (c.lease_ttl < std::chrono::seconds(1) || c.lease_ttl > std::chrono::seconds(300)) {
    return bad(src, "cluster.lease_ttl must be 1s..300s");
  }
  if (c.instance_id.size() > 128 || c.instance_id.find_first_of(" \t\r\n") != std::string::npos) {
    return bad(src, "cluster.instance_id must be at most 128 characters without spaces");
  }
  if (c.server.tls_cert.empty() != c.server.tls_key.empty()) return bad(src, "server.tls_cert and tls_key go together");
  if (!c.server.client_ca.empty() && c.server.tls_cert.empty()) return bad(src, "server.client_ca needs TLS");
  return c;
}

Result<Config> load_config(const std::string& path) {
  Config c;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return InvalidArgument("cannot read config file '" + path + "'", "bad_config");
    std::stringstream ss;
    ss << in.rdbuf();
    ASSIGN_OR_RETURN(c, parse_config(ss.str(), path));
  }
  env_str("KEYMGR_LISTEN", c.server.host);
  if (const char* p = std::getenv("KEYMGR_PORT"); p != nullptr && *p) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (*end != '\0' || v < 0 || v > 65535) return InvalidArgument("KEYMGR_PORT must be 0..65535", "bad_config");
    c.server.port = static_cast<int>(v);
  }
  env_str("KEYMGR_DB", c.db_path);
  env_str("KEYMGR_DATABASE_URL", c.db_url);
  env_str("KEYMGR_INSTANCE_ID", c.instance_id);
  if (!c.db_url.empty() && !db::is_postgresql_url(c.db_url)) {
    return InvalidArgument("database.url / KEYMGR_DATABASE_URL must start with postgresql:// or postgres:// (a SQLite "
                           "file is database.path)",
                           "bad_config");
  }
  env_str("KEYMGR_HSM_MODULE", c.hsm_module);
  env_str("KEYMGR_HSM_TOKEN_LABEL", c.hsm_token_label);
  env_str("KEYMGR_HSM_PIN_FILE", c.hsm_pin_file);
  env_str("KEYMGR_LOG_LEVEL", c.log.level);
  if (const char* j = std::getenv("KEYMGR_LOG_JSON"); j != nullptr && *j) c.log.json = std::string(j) == "1" || std::string(j) == "true";
  return c;
}

Result<Secret> load_hsm_pin(const Config& c) { return load_secret(c.hsm_pin_file, "KEYMGR_HSM_PIN", "HSM PIN"); }

}  // namespace keymgr::cli
