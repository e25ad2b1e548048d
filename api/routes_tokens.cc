// Issuers' routes: signing (issuer tokens bound to the keyset) and verification.
#include "api/routes.h"

#include <set>

namespace keymgr::api::detail {

void add_token_routes(Routes& h, const Wrap& wrap, const Services& s) {
  h.Post(R"(/v1/keysets/([a-z0-9_-]+)/sign)",
         wrap(Access::kSign, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           const std::string name = req.matches[1].str();
           if (!s.keys->find_keyset(name)) return NotFound("no keyset named '" + name + "'", "keyset_not_found");
           if (!p->may_sign_for(name)) {
             s.tokens->record_refusal(name, actor_of(p, req), "issuer_not_bound");
             return PermissionDenied("this issuer token is not bound to keyset '" + name + "'", "issuer_not_bound");
           }
           ASSIGN_OR_RETURN(json body, optional_body_object(req));
           for (auto it = body.begin(); it != body.end(); ++it) {
             if (it.key() != "claims" && it.key() != "ttl") {
               return InvalidArgument("unknown field '" + it.key() + "' (expected claims, ttl)", "bad_request");
             }
           }
           SignRequest sr;
           sr.keyset = name;
           sr.claims = body.contains("claims") ? body["claims"] : json::object();
           if (body.contains("ttl")) {
             if (!body["ttl"].is_number_integer()) return InvalidArgument("'ttl' must be an integer (seconds)", "bad_ttl");
             sr.ttl_seconds = body["ttl"].get<int64_t>();
           }
           sr.actor = actor_of(p, req);
           ASSIGN_OR_RETURN(SignedToken t, s.tokens->sign(sr));
           return json_reply({{"token", t.token}, {"kid", t.kid}, {"alg", t.alg}, {"jti", t.jti}, {"iat", t.iat},
                              {"exp", t.exp},
                              // null: durable, and sequenced into the log shortly (PostgreSQL)
                              {"ledger_seq", t.ledger_seq > 0 ? json(t.ledger_seq) : json(nullptr)}});
         }));

  h.Post(R"(/v1/keysets/([a-z0-9_-]+)/verify)",
         wrap(Access::kAuthenticated, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           ASSIGN_OR_RETURN(json body, body_object(req));
           ASSIGN_OR_RETURN(std::string token, opt_string(body, "token", true));
           ASSIGN_OR_RETURN(VerifyResult v, s.tokens->verify(req.matches[1].str(), token, actor_of(p, req), "verify"));
           json checks = json::array();
           json reasons = json::array();
           for (const auto& c : v.checks) {
             checks.push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
             if (!c.ok) reasons.push_back(c.name + (c.detail.empty() ? "" : ": " + c.detail));
           }
           json out = {{"valid", v.valid}, {"checks", checks}, {"reasons", reasons}, {"kid", v.kid}};
           if (v.valid) out["claims"] = v.claims;
           if (v.ledger_seq) out["ledger_seq"] = *v.ledger_seq;
           if (v.leaf_index) {
             out["log"] = {{"leaf_index", *v.leaf_index},
                           {"checkpointed", v.checkpoint_size.has_value()},
                           {"checkpoint_size", v.checkpoint_size ? json(*v.checkpoint_size) : json(nullptr)}};
           }
           return json_reply(out);
         }));
}

}  // namespace keymgr::api::detail
