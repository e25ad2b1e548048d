// Operations on keysets and keys (KeyService), answered with the keyset's JSON.
#include "api/routes.h"

#include <map>
#include <set>

#include "keymgr/policy.h"

namespace keymgr::api::detail {
namespace {

using UsageByKid = std::map<std::string, db::KeyUsage, std::less<>>;

json key_to_json(const Key& k, const UsageByKid* usage) {
  json j = {{"kid", k.kid},
            {"alg", std::string(jws_alg(k.alg))},
            {"key_type", std::string(algorithm_name(k.alg))},
            {"state", std::string(key_state_name(k.state))},
            {"created_at", to_unix_seconds(k.created_at)},
            {"activate_at", to_unix_seconds(k.activate_at)},
            {"deactivate_at", to_unix_seconds(k.deactivate_at)},
            {"retire_at", to_unix_seconds(k.retire_at)},
            {"destroy_at", to_unix_seconds(k.destroy_at)},
            {"state_changed_at", to_unix_seconds(k.state_changed_at)},
            {"emergency", k.emergency},
            {"note", k.note}};
  if (k.compromised_since) j["compromised_since"] = to_unix_seconds(*k.compromised_since);
  if (usage != nullptr) {
    // How much the key has signed and when it last did (exact across instances and restarts).
    auto it = usage->find(k.kid);
    j["signatures"] = it == usage->end() ? 0 : it->second.signatures;
    if (it != usage->end() && it->second.last_signed_ms > 0) j["last_signed_at"] = it->second.last_signed_ms / 1000;
  }
  return j;
}

json keyset_to_json(const Keyset& ks, const KeysetHealth& h, bool with_keys, const UsageByKid* usage = nullptr) {
  json j = {{"name", ks.name},
            {"issuer", ks.issuer},
            {"alg", std::string(algorithm_name(ks.alg))},
            {"policy", policy_to_json(ks.policy)},
            {"disabled", ks.disabled},
            {"created_at", to_unix_seconds(ks.created_at)},
            {"updated_at", to_unix_seconds(ks.updated_at)},
            {"jwks_uri", ks.issuer + "/.well-known/jwks.json"},
            {"health", {{"signing", h.signing}, {"overdue", h.overdue}, {"problem", h.problem},
                        {"consecutive_failures", h.consecutive_failures}, {"last_error", h.last_error}}}};
  const Key* a = ks.active_key();
  j["active_kid"] = a ? json(a->kid) : json(nullptr);
  if (with_keys) {
    json keys = json::array();
    for (const auto& k : ks.keys) keys.push_back(key_to_json(k, usage));
    j["keys"] = std::move(keys);
  }
  return j;
}

// The keyset with its keys and their usage. `strict`: a usage read failure fails the request (a
// GET); otherwise (the reply to an operation that already committed) the usage is left out.
Result<json> keyset_detail(const Services& s, const Keyset& ks, bool strict) {
  auto usage = s.keys->key_usage(ks.name);
  if (!usage.ok() && strict) return usage.status();
  UsageByKid by_kid;
  if (usage.ok()) {
    for (auto& u : *usage) by_kid.emplace(u.kid, std::move(u));
  }
  return keyset_to_json(ks, s.keys->health(ks.name), true, usage.ok() ? &by_kid : nullptr);
}

}  // namespace

void add_keyset_routes(Routes& h, const Wrap& wrap, const Services& s) {
  h.Get("/v1/keysets", wrap(Access::kAuthenticated, [s](const httplib::Request&, const Principal* p) -> Result<Reply> {
          json arr = json::array();
          for (const auto& ks : s.keys->keysets()) {
            if (p->role == Role::kIssuer && !p->may_sign_for(ks->name)) continue;
            arr.push_back(keyset_to_json(*ks, s.keys->health(ks->name), false));
          }
          return json_reply({{"keysets", arr}});
        }));
  h.Get(R"(/v1/keysets/([a-z0-9_-]+))",
        wrap(Access::kAuthenticated, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
          const std::string name = req.matches[1].str();
          KeysetPtr ks = s.keys->find_keyset(name);
          if (!ks || (p->role == Role::kIssuer && !p->may_sign_for(name))) {
            return NotFound("no keyset named '" + name + "'", "keyset_not_found");
          }
          ASSIGN_OR_RETURN(json j, keyset_detail(s, *ks, true));
          return json_reply(j);
        }));
  // Signing volume per key and hour (the console's timeline), from counters kept with each signature.
  h.Get(R"(/v1/keysets/([a-z0-9_-]+)/usage)",
        wrap(Access::kAuthenticated, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
          const std::string name = req.matches[1].str();
          KeysetPtr ks = s.keys->find_keyset(name);
          if (!ks || (p->role == Role::kIssuer && !p->may_sign_for(name))) {
            return NotFound("no keyset named '" + name + "'", "keyset_not_found");
          }
          constexpr int64_t kHour = 3600;
          constexpr int64_t kMaxHours = 24 * 400;
          int64_t to = to_unix_seconds(s.keys->clock().now()) / kHour * kHour + kHour;  // through this hour
          if (req.has_param("to")) { ASSIGN_OR_RETURN(to, parse_int(req.get_param_value("to"), "to")); }
          int64_t from = to - 7 * 24 * kHour;
          if (req.has_param("from")) { ASSIGN_OR_RETURN(from, parse_int(req.get_param_value("from"), "from")); }
          if (from < 0 || to <= from || to - from > kMaxHours * kHour) {
            return InvalidArgument("need 0 <= from < to (Unix seconds) and at most " + std::to_string(kMaxHours) +
                                       " hours between them",
                                   "bad_query");
          }
          ASSIGN_OR_RETURN(auto usage, s.keys->key_usage(name));
          ASSIGN_OR_RETURN(auto hours, s.keys->key_usage_hours(name, from_unix_seconds(from), from_unix_seconds(to)));
          std::map<std::string, json, std::less<>> series;
          for (const auto& h : hours) {
            series[h.kid].push_back({{"hour", h.hour_ms / 1000}, {"signatures", h.signatures}});
          }
          std::map<std::string, const db::KeyUsage*, std::less<>> totals;
          for (const auto& u : usage) totals[u.kid] = &u;
          json keys = json::array();
          for (const auto& k : ks->keys) {
            json j = {{"kid", k.kid}, {"state", std::string(key_state_name(k.state))}};
            auto t = totals.find(k.kid);
            j["signatures"] = t == totals.end() ? 0 : t->second->signatures;
            if (t != totals.end() && t->second->last_signed_ms > 0) j["last_signed_at"] = t->second->last_signed_ms / 1000;
            auto it = series.find(k.kid);
            j["hours"] = it == series.end() ? json::array() : std::move(it->second);
            keys.push_back(std::move(j));
          }
          return json_reply({{"keyset", name}, {"from", from}, {"to", to}, {"keys", std::move(keys)}});
        }));
  h.Post("/v1/keysets", wrap(Access::kOps, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           ASSIGN_OR_RETURN(json body, body_object(req));
           NewKeyset spec;
           ASSIGN_OR_RETURN(spec.name, opt_string(body, "name", true));
           ASSIGN_OR_RETURN(spec.issuer, opt_string(body, "issuer", true));
           ASSIGN_OR_RETURN(std::string alg, opt_string(body, "alg"));
           if (!alg.empty()) {  // else NewKeyset's kDefaultAlgorithm (keyset_rules.h)
             auto a = parse_algorithm(alg);
             if (!a) return InvalidArgument("unknown alg '" + alg + "'", "bad_algorithm");
             spec.alg = *a;
           }
           if (body.contains("policy")) { ASSIGN_OR_RETURN(spec.policy, policy_from_json(body["policy"])); }
           for (auto it = body.begin(); it != body.end(); ++it) {
             static const std::set<std::string> kKnown = {"name", "issuer", "alg", "policy"};
             if (!kKnown.count(it.key())) return InvalidArgument("unknown field '" + it.key() + "'", "bad_request");
           }
           ASSIGN_OR_RETURN(KeysetPtr ks, s.keys->create_keyset(spec, actor_of(p, req)));
           return json_reply(keyset_to_json(*ks, s.keys->health(ks->name), true), 201);
         }));
  h.Patch(R"(/v1/keysets/([a-z0-9_-]+))",
          wrap(Access::kOps, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
            const std::string name = req.matches[1].str();
            ASSIGN_OR_RETURN(json body, optional_body_object(req));
            KeysetPtr ks = s.keys->find_keyset(name);
            if (!ks) return NotFound("no keyset named '" + name + "'", "keyset_not_found");
            for (auto it = body.begin(); it != body.end(); ++it) {
              if (it.key() != "policy" && it.key() != "disabled" && it.key() != "reason") {
                return InvalidArgument("unknown field '" + it.key() + "' (expected policy, disabled, reason)", "bad_request");
              }
            }
            ASSIGN_OR_RETURN(std::string reason, opt_string(body, "reason"));
            if (body.contains("policy")) {
              ASSIGN_OR_RETURN(Policy np, policy_from_json(body["policy"], ks->policy));
              ASSIGN_OR_RETURN(ks, s.keys->update_policy(name, np, actor_of(p, req)));
            }
            if (body.contains("disabled")) {
              if (!body["disabled"].is_boolean()) return InvalidArgument("'disabled' must be a boolean", "bad_request");
              ASSIGN_OR_RETURN(ks, s.keys->set_disabled(name, body["disabled"].get<bool>(), actor_of(p, req), reason));
            }
            return json_reply(*keyset_detail(s, *ks, false));
          }));

  auto keyset_op = [&](const std::string& path, std::function<Result<KeysetPtr>(const std::string&, const json&,
                                                                                 const Actor&)> op) {
    h.Post(path, wrap(Access::kOps, [s, op](const httplib::Request& req, const Principal* p) -> Result<Reply> {
             ASSIGN_OR_RETURN(json body, optional_body_object(req));
             ASSIGN_OR_RETURN(KeysetPtr ks, op(req.matches[1].str(), body, actor_of(p, req)));
             return json_reply(*keyset_detail(s, *ks, false));
           }));
  };
  KeyService* keys = s.keys;
  keyset_op(R"(/v1/keysets/([a-z0-9_-]+)/rotate)", [keys](const std::string& n, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->rotate(n, a, reason);
  });
  keyset_op(R"(/v1/keysets/([a-z0-9_-]+)/emergency-rotate)",
            [keys](const std::string& n, const json& b, const Actor& a) -> Result<KeysetPtr> {
              ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason", true));
              return keys->emergency_rotate(n, a, reason);
            });
  auto key_op = [&](const std::string& verb,
                    std::function<Result<KeysetPtr>(const std::string&, const std::string&, const json&, const Actor&)> op) {
    h.Post(R"(/v1/keysets/([a-z0-9_-]+)/keys/([A-Za-z0-9_-]+)/)" + verb,
           wrap(Access::kOps, [s, op](const httplib::Request& req, const Principal* p) -> Result<Reply> {
             ASSIGN_OR_RETURN(json body, optional_body_object(req));
             ASSIGN_OR_RETURN(KeysetPtr ks, op(req.matches[1].str(), req.matches[2].str(), body, actor_of(p, req)));
             return json_reply(*keyset_detail(s, *ks, false));
           }));
  };
  key_op("suspend", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->suspend(n, kid, a, reason);
  });
  key_op("resume", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->resume(n, kid, a, reason);
  });
  key_op("compromise", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason", true));
    std::optional<TimePoint> since;
    if (b.contains("suspected_since")) {
      if (!b["suspected_since"].is_number_integer()) {
        return InvalidArgument("'suspected_since' must be Unix seconds", "bad_time");
      }
      since = from_unix_seconds(b["suspected_since"].get<int64_t>());
    }
    return keys->compromise(n, kid, since, a, reason);
  });
  key_op("destroy", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason"));
    return keys->destroy(n, kid, a, reason);
  });
  key_op("extend", [keys](const std::string& n, const std::string& kid, const json& b, const Actor& a) -> Result<KeysetPtr> {
    ASSIGN_OR_RETURN(std::string reason, opt_string(b, "reason", true));
    if (!b.contains("until") || !b["until"].is_number_integer()) {
      return InvalidArgument("'until' (Unix seconds) is required", "bad_time");
    }
    return keys->extend(n, kid, from_unix_seconds(b["until"].get<int64_t>()), a, reason);
  });
}

}  // namespace keymgr::api::detail
