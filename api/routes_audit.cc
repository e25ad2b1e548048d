// The auditor's routes (AuditService): checkpoints (public), ledger query and streaming export,
// chain verification, tokens affected by a compromise.
#include "api/routes.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <set>

#include "common/encoding.h"
#include "keymgr/audit_service.h"
#include "keymgr/ledger_log.h"
#include "keymgr/tlog_text.h"
#include "common/crypto.h"

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


Reply text_reply(std::string body) {
  Reply r;
  r.body = std::move(body);
  r.content_type = "text/plain; charset=utf-8";
  return r;
}

json hashes_json(const db::merkle::Proof& p) {
  json arr = json::array();
  for (const auto& h : p) arr.push_back(base64_encode(h.data(), h.size()));
  return arr;
}

// One proof answer: JSON (default) or the C2SP tlog-proof text file (?format=text).
Result<Reply> inclusion_reply(const InclusionProof& p, const std::string& format) {
  tlog::InclusionProofFile f;
  f.extra = Bytes(p.leaf_data.begin(), p.leaf_data.end());
  f.index = p.index;
  f.proof = p.path;
  ASSIGN_OR_RETURN(f.checkpoint, note::parse_note(p.checkpoint.note));
  ASSIGN_OR_RETURN(std::string text, tlog::format_inclusion_proof(f));
  if (format == "text") return text_reply(std::move(text));
  return json_reply({{"seq", p.entry.seq},
                     {"index", p.index},
                     {"tree_size", p.checkpoint.size},
                     {"entry", ledger_entry_to_json(p.entry)},
                     {"leaf_data", base64_encode(reinterpret_cast<const uint8_t*>(p.leaf_data.data()), p.leaf_data.size())},
                     {"leaf_hash", base64_encode(p.leaf_hash.data(), p.leaf_hash.size())},
                     {"path", hashes_json(p.path)},
                     {"checkpoint", p.checkpoint.note},
                     {"proof", text}});
}

Result<std::string> format_param(const httplib::Request& req) {
  std::string f = req.has_param("format") ? req.get_param_value("format") : "json";
  if (f != "json" && f != "text") return InvalidArgument("format must be json or text", "bad_query");
  return f;
}

// The one entry a proof request names: ?seq=, ?jti= or ?token_sha256= (exactly one).
Result<int64_t> entry_seq(AuditService& audit, const httplib::Request& req) {
  int given = 0;
  for (const char* k : {"seq", "jti", "token_sha256"}) given += req.has_param(k) ? 1 : 0;
  for (const auto& [k, v] : req.params) {
    if (k != "seq" && k != "jti" && k != "token_sha256" && k != "format") {
      return InvalidArgument("unknown query parameter '" + k + "'", "bad_query");
    }
  }
  if (given != 1) return InvalidArgument("give exactly one of seq, jti, token_sha256", "bad_query");
  if (req.has_param("seq")) return parse_int(req.get_param_value("seq"), "seq");
  db::LedgerQuery q;
  q.kind = "sign";
  q.outcome = "ok";
  q.limit = 2;
  if (req.has_param("jti")) q.jti = req.get_param_value("jti");
  if (req.has_param("token_sha256")) q.token_sha256 = req.get_param_value("token_sha256");
  ASSIGN_OR_RETURN(db::LedgerPage page, audit.query(q));
  if (page.entries.empty()) return NotFound("no token with that identifier is in the ledger", "entry_not_found");
  if (page.entries.size() > 1) {
    return FailedPrecondition("more than one ledger entry matches; ask by seq or token_sha256", "ambiguous_entry");
  }
  return page.entries.front().seq;
}
}  // namespace

void add_audit_routes(Routes& h, const Wrap& wrap, const Services& s) {
  h.Get("/v1/audit/checkpoints", wrap(Access::kPublic, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          int64_t before = 0;
          if (req.has_param("before")) { ASSIGN_OR_RETURN(before, parse_int(req.get_param_value("before"), "before")); }
          ASSIGN_OR_RETURN(auto cps, s.log->checkpoints(before, 100));
          json arr = json::array();
          for (const auto& cp : cps) arr.push_back(tree_checkpoint_to_json(cp));
          // Checkpoints of the hash chain from before the Merkle tree (keymgr-checkpoint-v1).
          ASSIGN_OR_RETURN(auto legacy, s.audit->checkpoints(100));
          json old = json::array();
          for (const auto& cp : legacy) old.push_back(checkpoint_to_json(cp));
          json j = {{"origin", s.log->options().origin}, {"checkpoints", arr}, {"legacy_checkpoints", old}};
          if (!cps.empty() && cps.size() == 100) j["next_before"] = cps.back().size;
          return json_reply(j);
        }));
  // ---- the transparency log (LedgerLog) ----
  h.Get("/v1/audit/keys", wrap(Access::kPublic, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(auto keys, s.log->keys());
          if (req.has_param("format") && req.get_param_value("format") == "text") {
            std::string lines;
            for (const auto& k : keys) lines += k.record.verifier_key + "\n";
            Reply r = text_reply(std::move(lines));
            r.headers.push_back({"Cache-Control", "public, max-age=60"});
            return r;
          }
          json arr = json::array();
          for (const auto& k : keys) arr.push_back(audit_key_to_json(k));
          auto legacy = s.audit->public_jwk();
          return json_reply({{"origin", s.log->options().origin},
                             {"keys", arr},
                             {"legacy_checkpoint_key", legacy.ok() ? *legacy : json(nullptr)}});
        }));
  h.Post("/v1/audit/keys/rotate", wrap(Access::kAdmin, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
           ASSIGN_OR_RETURN(AuditKeyView k, s.log->rotate_key());
           return json_reply(audit_key_to_json(k), 201);
         }));
  h.Get("/v1/audit/proof", wrap(Access::kAudit, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(std::string format, format_param(req));
          ASSIGN_OR_RETURN(int64_t seq, entry_seq(*s.audit, req));
          ASSIGN_OR_RETURN(InclusionProof p, s.log->prove_entry(seq));
          return inclusion_reply(p, format);
        }));
  // A token's holder asks with the token itself (in the body, so it is not in URLs or access logs):
  // holding the token is the authorisation to see its own ledger entry.
  h.Post("/v1/audit/proof", wrap(Access::kPublic, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
           ASSIGN_OR_RETURN(std::string format, format_param(req));
           ASSIGN_OR_RETURN(json body, body_object(req));
           ASSIGN_OR_RETURN(std::string token, opt_string(body, "token", true));
           if (token.size() > 64 * 1024) return InvalidArgument("token too long", "bad_request");
           db::LedgerQuery q;
           q.token_sha256 = hex_encode(sha256(token));
           q.kind = "sign";
           q.outcome = "ok";
           q.limit = 1;
           ASSIGN_OR_RETURN(db::LedgerPage page, s.audit->query(q));
           if (page.entries.empty()) {
             return NotFound("this token is not in the ledger: keymgr did not issue it", "entry_not_found");
           }
           ASSIGN_OR_RETURN(InclusionProof p, s.log->prove_entry(page.entries.front().seq));
           return inclusion_reply(p, format);
         }));
  h.Get("/v1/audit/proof/consistency", wrap(Access::kPublic, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(std::string format, format_param(req));
          for (const auto& [k, v] : req.params) {
            if (k != "from" && k != "to" && k != "format") return InvalidArgument("unknown query parameter '" + k + "'", "bad_query");
          }
          if (!req.has_param("from")) return InvalidArgument("'from' (the older tree size) is required", "bad_query");
          ASSIGN_OR_RETURN(int64_t from, parse_int(req.get_param_value("from"), "from"));
          int64_t to = 0;
          if (req.has_param("to")) { ASSIGN_OR_RETURN(to, parse_int(req.get_param_value("to"), "to")); }
          ASSIGN_OR_RETURN(ConsistencyProof p, s.log->prove_consistency(from, to));
          tlog::ConsistencyProofFile f;
          f.old_size = static_cast<uint64_t>(p.from.size);
          f.proof = p.path;
          ASSIGN_OR_RETURN(f.checkpoint, note::parse_note(p.to.note));
          ASSIGN_OR_RETURN(std::string text, tlog::format_consistency_proof(f));
          if (format == "text") return text_reply(std::move(text));
          return json_reply({{"from", p.from.size},
                             {"from_root", base64_encode(p.from.root)},
                             {"to", p.to.size},
                             {"to_root", base64_encode(p.to.root)},
                             {"path", hashes_json(p.path)},
                             {"checkpoint", p.to.note},
                             {"proof", text}});
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
          ASSIGN_OR_RETURN(LogReport rep, s.log->verify());
          return json_reply(log_report_to_json(rep));
        }));
  // Also for ops: the compromise response is theirs (the console shows the affected tokens).
  h.Get("/v1/audit/affected", wrap(Access::kMonitor, [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
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
