// Monitoring routes (keymgr/monitor.h): alerts — list, read with their deliveries, acknowledge —
// and the bulk token check for relying parties, which feeds the same leak detector as verify.
#include "api/routes.h"

#include <set>

#include "db/alert_cursor.h"
#include "keymgr/monitor.h"

namespace keymgr::api::detail {
namespace {

constexpr size_t kMaxCheckTokens = 1000;

json alert_json(const db::AlertRecord& a) {
  auto evidence = json::parse(a.evidence, nullptr, /*allow_exceptions=*/false);
  if (evidence.is_discarded()) evidence = a.evidence;
  json out = {{"id", a.id},           {"kind", a.kind},       {"severity", a.severity},
              {"keyset", a.keyset},   {"kid", a.kid},         {"summary", a.summary},
              {"evidence", evidence}, {"raised_at_ms", a.ts_ms}, {"last_seen_ms", a.last_seen_ms},
              {"occurrences", a.occurrences}, {"acknowledged", a.acked_at_ms.has_value()}};
  if (a.acked_at_ms) {
    out["acknowledgement"] = {{"at_ms", *a.acked_at_ms}, {"by", a.acked_by}, {"reason", a.ack_reason}};
  }
  return out;
}

Result<db::AlertQuery> alert_query(const httplib::Request& req) {
  static const std::set<std::string> kKnown = {"keyset", "kind", "severity", "state", "from", "cursor", "limit"};
  for (const auto& [k, v] : req.params) {
    if (!kKnown.count(k)) return InvalidArgument("unknown query parameter '" + k + "'", "bad_query");
    if (v.size() > 256) return InvalidArgument("query parameter '" + k + "' too long", "bad_query");
  }
  db::AlertQuery q;
  if (req.has_param("keyset")) q.keyset = req.get_param_value("keyset");
  if (req.has_param("kind")) q.kind = req.get_param_value("kind");
  if (req.has_param("severity")) {
    q.severity = req.get_param_value("severity");
    if (*q.severity != "critical" && *q.severity != "warning" && *q.severity != "info") {
      return InvalidArgument("severity must be critical, warning or info", "bad_query");
    }
  }
  if (req.has_param("state")) {
    const std::string st = req.get_param_value("state");
    if (st == "open") {
      q.acknowledged = false;
    } else if (st == "acknowledged") {
      q.acknowledged = true;
    } else if (st != "all") {
      return InvalidArgument("state must be open, acknowledged or all", "bad_query");
    }
  }
  if (req.has_param("from")) { ASSIGN_OR_RETURN(q.from_ms, parse_int(req.get_param_value("from"), "from")); }
  if (req.has_param("cursor")) {
    q.before = req.get_param_value("cursor");
    RETURN_IF_ERROR(db::parse_alert_cursor(*q.before).status());
  }
  if (req.has_param("limit")) {
    ASSIGN_OR_RETURN(int64_t l, parse_int(req.get_param_value("limit"), "limit"));
    if (l < 1 || l > 1000) return InvalidArgument("limit must be 1..1000", "bad_query");
    q.limit = static_cast<int>(l);
  }
  return q;
}

Result<Monitor*> monitor_of(const Services& s) {
  if (s.monitor == nullptr) return Unavailable("monitoring is not running", "monitoring_unavailable");
  return s.monitor;
}

// What a relying party learns about one token seen in the wild.
json check_one(const Services& s, const std::string& keyset, const json& item, const Actor& actor) {
  if (!item.is_string()) return {{"verdict", "malformed"}, {"detail", "not a string"}};
  auto v = s.tokens->verify(keyset, item.get<std::string>(), actor, "check");
  if (!v.ok()) return {{"verdict", "error"}, {"detail", v.status().message()}};
  std::map<std::string, const VerifyCheck*> by;
  for (const auto& c : v->checks) by[c.name] = &c;
  auto ok = [&](const char* n) { return by.count(n) > 0 && by[n]->ok; };
  json out = {{"kid", v->kid}, {"valid_now", v->valid}};
  if (by.count("format") && !ok("format")) {
    out["verdict"] = "malformed";
    out["detail"] = by["format"]->detail;
  } else if (!ok("kid")) {
    out["verdict"] = "unknown_key";
    out["detail"] = by.count("kid") ? by["kid"]->detail : "";
  } else if (!ok("signature")) {
    out["verdict"] = "tampered";  // the signature does not verify: not made with keymgr's key
    out["detail"] = by["signature"]->detail;
  } else if (!ok("provenance")) {
    out["verdict"] = "forged";  // a good signature keymgr did not make: the key is in other hands
    out["detail"] = by["provenance"]->detail;
  } else {
    out["verdict"] = "genuine";
    if (v->ledger_seq) out["ledger_seq"] = *v->ledger_seq;
    // Genuine but not acceptable now (expired, key compromised, wrong issuer...): say why.
    json reasons = json::array();
    for (const auto& c : v->checks) {
      if (!c.ok) reasons.push_back(c.name + (c.detail.empty() ? "" : ": " + c.detail));
    }
    if (!reasons.empty()) out["reasons"] = reasons;
  }
  return out;
}

}  // namespace

void add_alert_routes(Routes& h, const Wrap& wrap, const Services& s) {
  h.Get(R"(/v1/alerts)", wrap(Access::kMonitor, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(Monitor * m, monitor_of(s));
          ASSIGN_OR_RETURN(db::AlertQuery q, alert_query(req));
          ASSIGN_OR_RETURN(db::AlertPage page, m->list(q));
          json items = json::array();
          for (const auto& a : page.alerts) items.push_back(alert_json(a));
          return json_reply({{"alerts", items},
                             {"next_cursor", page.next_cursor ? json(*page.next_cursor) : json(nullptr)}});
        }));

  h.Get(R"(/v1/alerts/([a-z_]+-[0-9a-f]+))",
        wrap(Access::kMonitor, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(Monitor * m, monitor_of(s));
          const std::string id = req.matches[1].str();
          ASSIGN_OR_RETURN(db::AlertRecord a, m->get(id));
          ASSIGN_OR_RETURN(auto deliveries, m->deliveries(id));
          json out = alert_json(a);
          json ds = json::array();
          for (const auto& d : deliveries) {
            ds.push_back({{"sink", d.sink},
                          {"attempts", d.attempts},
                          {"delivered", d.delivered_at_ms.has_value()},
                          {"delivered_at_ms", d.delivered_at_ms ? json(*d.delivered_at_ms) : json(nullptr)},
                          {"next_attempt_ms", d.delivered_at_ms ? json(nullptr) : json(d.next_attempt_ms)},
                          {"last_error", d.last_error}});
          }
          out["deliveries"] = ds;
          return json_reply(out);
        }));

  h.Post(R"(/v1/alerts/([a-z_]+-[0-9a-f]+)/ack)",
         wrap(Access::kOps, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           ASSIGN_OR_RETURN(Monitor * m, monitor_of(s));
           ASSIGN_OR_RETURN(json body, body_object(req));
           for (auto it = body.begin(); it != body.end(); ++it) {
             if (it.key() != "reason") return InvalidArgument("unknown field '" + it.key() + "' (expected reason)", "bad_request");
           }
           ASSIGN_OR_RETURN(std::string reason, opt_string(body, "reason", true));
           const std::string id = req.matches[1].str();
           RETURN_IF_ERROR(m->acknowledge(id, actor_of(p, req), reason));
           ASSIGN_OR_RETURN(db::AlertRecord a, m->get(id));
           return json_reply(alert_json(a));
         }));

  h.Post(R"(/v1/keysets/([a-z0-9_-]+)/check)",
         wrap(Access::kCheck, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           const std::string name = req.matches[1].str();
           if (!s.keys->find_keyset(name)) return NotFound("no keyset named '" + name + "'", "keyset_not_found");
           ASSIGN_OR_RETURN(json body, body_object(req));
           for (auto it = body.begin(); it != body.end(); ++it) {
             if (it.key() != "tokens") return InvalidArgument("unknown field '" + it.key() + "' (expected tokens)", "bad_request");
           }
           if (!body.contains("tokens") || !body["tokens"].is_array()) {
             return InvalidArgument("'tokens' must be an array of compact JWS strings", "bad_request");
           }
           const json& tokens = body["tokens"];
           if (tokens.size() > kMaxCheckTokens) {
             return InvalidArgument("at most " + std::to_string(kMaxCheckTokens) + " tokens per check", "too_many_tokens");
           }
           const Actor actor = actor_of(p, req);
           json results = json::array();
           std::map<std::string, int> summary = {{"genuine", 0}, {"forged", 0}, {"tampered", 0},
                                                 {"unknown_key", 0}, {"malformed", 0}, {"error", 0}};
           for (size_t i = 0; i < tokens.size(); ++i) {
             json r = check_one(s, name, tokens[i], actor);
             r["index"] = i;
             ++summary[r["verdict"].get<std::string>()];
             results.push_back(std::move(r));
           }
           return json_reply({{"keyset", name}, {"results", results}, {"summary", summary}});
         }));
}

}  // namespace keymgr::api::detail
