// The auditor's routes (AuditService): checkpoints (public), ledger query and streaming export,
// chain verification, tokens affected by a compromise.
#include "api/routes.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <set>

#include "common/encoding.h"
#include "keymgr/audit_service.h"

namespace keymgr::api::detail {
namespace {

Result<db::LedgerQuery> ledger_query(const httplib::Request& req) {
  db::LedgerQuery q;
  static const std::set<std::string> kKnown = {"keyset", "kid", "sub", "jti", "actor", "outcome", "kind",
                                               "token_sha256", "from", "to", "cursor", "limit", "format"};
  for (const auto& [k, v] : req.params) {
    if (!kKnown.count(k)) return InvalidArgument("unknown query parameter '" + k + "'", "bad_query");
    if (v.size() > 512) return InvalidArgument("query parameter '" + k + "' too long", "bad_query");
  }
  auto str = [&](const char* n, std::optional<std::string>& out) {
    if (req.has_param(n)) out = req.get_param_value(n);
  };
  str("keyset", q.keyset);
  str("kid", q.kid);
  str("sub", q.sub);
  str("jti", q.jti);
  str("actor", q.actor);
  str("outcome", q.outcome);
  str("kind", q.kind);
  str("token_sha256", q.token_sha256);
  if (req.has_param("from")) { ASSIGN_OR_RETURN(q.from_ms, parse_int(req.get_param_value("from"), "from")); }
  if (req.has_param("to")) { ASSIGN_OR_RETURN(q.to_ms, parse_int(req.get_param_value("to"), "to")); }
  if (req.has_param("cursor")) { ASSIGN_OR_RETURN(q.before_seq, parse_int(req.get_param_value("cursor"), "cursor")); }
  if (req.has_param("limit")) {
    ASSIGN_OR_RETURN(int64_t l, parse_int(req.get_param_value("limit"), "limit"));
    if (l < 1 || l > 1000) return InvalidArgument("limit must be 1..1000", "bad_query");
    q.limit = static_cast<int>(l);
  }
  return q;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_row(const db::LedgerEntry& e) {
  std::string out;
  for (const std::string& f :
       {std::to_string(e.seq), std::to_string(e.ts_ms), e.kind, e.event, e.keyset, e.kid, e.alg, e.actor,
        e.actor_addr, e.jti, e.sub, e.aud, std::to_string(e.iat), std::to_string(e.exp), e.token_sha256, e.outcome,
        e.reason, hex_encode(e.hash)}) {
    if (!out.empty()) out += ',';
    out += csv_field(f);
  }
  return out + "\n";
}
constexpr const char* kCsvHeader =
    "seq,ts_ms,kind,event,keyset,kid,alg,actor,actor_addr,jti,sub,aud,iat,exp,token_sha256,outcome,reason,hash\n";

}  // namespace

void add_audit_routes(Routes& h, const Wrap& wrap, const Services& s) {
  h.Get("/v1/audit/checkpoints", wrap(Access::kPublic, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(auto cps, s.audit->checkpoints(100));
          json arr = json::array();
          for (const auto& cp : cps) arr.push_back(checkpoint_to_json(cp));
          auto jwk = s.audit->public_jwk();
          return json_reply({{"checkpoints", arr}, {"audit_key", jwk.ok() ? *jwk : json(nullptr)}});
        }));
  h.Get("/v1/audit/ledger", wrap(Access::kAudit, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(db::LedgerQuery q, ledger_query(req));
          ASSIGN_OR_RETURN(db::LedgerPage page, s.audit->query(q));
          json arr = json::array();
          for (const auto& e : page.entries) arr.push_back(ledger_entry_to_json(e));
          return json_reply({{"entries", arr}, {"next_cursor", page.next_cursor ? json(*page.next_cursor) : json(nullptr)}});
        }));
  h.Get("/v1/audit/export", [s, wrap](const httplib::Request& req, httplib::Response& res) {
    // Authentication and validation through the wrapper; streaming outside it.
    bool ok = false;
    db::LedgerQuery q;
    std::string format = req.has_param("format") ? req.get_param_value("format") : "ndjson";
    wrap(Access::kAudit, [&](const httplib::Request& r, const Principal*) -> Result<Reply> {
      if (format != "ndjson" && format != "csv") return InvalidArgument("format must be ndjson or csv", "bad_query");
      ASSIGN_OR_RETURN(q, ledger_query(r));
      ok = true;
      return Reply{};
    })(req, res);
    if (!ok) return;
    AuditService* audit = s.audit;
    res.status = 200;
    res.set_chunked_content_provider(
        format == "csv" ? "text/csv" : "application/x-ndjson",
        [audit, q, format](size_t, httplib::DataSink& sink) {
          if (format == "csv") sink.write(kCsvHeader, strlen(kCsvHeader));
          std::string buf;
          Status st = audit->export_entries(q, [&](const db::LedgerEntry& e) {
            buf += format == "csv" ? csv_row(e) : ledger_entry_to_json(e).dump() + "\n";
            if (buf.size() > 64 * 1024) {
              if (!sink.write(buf.data(), buf.size())) return false;
              buf.clear();
            }
            return true;
          });
          if (!buf.empty()) sink.write(buf.data(), buf.size());
          if (!st.ok()) spdlog::error("ledger export failed: {}", st.to_string());
          sink.done();
          return true;
        });
  });
  h.Get("/v1/audit/verify", wrap(Access::kAudit, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(AuditReport rep, s.audit->verify());
          json j = {{"ok", rep.ok()},
                    {"entries", rep.chain.entries},
                    {"head", hex_encode(rep.chain.head)},
                    {"checkpoints_checked", rep.checkpoints_checked}};
          if (rep.chain.first_bad_seq) j["first_bad_seq"] = *rep.chain.first_bad_seq;
          if (!rep.chain.problem.empty()) j["problem"] = rep.chain.problem;
          if (rep.bad_checkpoint_seq) j["bad_checkpoint_seq"] = *rep.bad_checkpoint_seq;
          return json_reply(j);
        }));
  h.Get("/v1/audit/affected", wrap(Access::kAudit, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          if (!req.has_param("kid")) return InvalidArgument("'kid' is required", "bad_query");
          int64_t since = 0;
          if (req.has_param("since")) { ASSIGN_OR_RETURN(since, parse_int(req.get_param_value("since"), "since")); }
          json arr = json::array();
          RETURN_IF_ERROR(s.audit->affected_tokens(req.get_param_value("kid"), since, [&](const db::LedgerEntry& e) {
            arr.push_back(ledger_entry_to_json(e));
            return arr.size() < 100000;
          }));
          return json_reply({{"kid", req.get_param_value("kid")}, {"count", arr.size()}, {"tokens", arr}});
        }));
}

}  // namespace keymgr::api::detail
