// API tokens (admin): list, create, revoke (ApiTokenService; revocation through the Authenticator
// so that its cache forgets the token at once).
#include "api/routes.h"

namespace keymgr::api::detail {

void add_api_token_routes(Routes& h, const Wrap& wrap, const Services& s, Authenticator* auth) {
  h.Get("/v1/tokens", wrap(Access::kAdmin, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          ASSIGN_OR_RETURN(auto list, s.api_tokens->list());
          json arr = json::array();
          for (const auto& t : list) {
            arr.push_back({{"id", t.id}, {"name", t.name}, {"role", t.role}, {"keysets", t.keysets},
                           {"created_at", t.created_at},
                           {"revoked_at", t.revoked_at ? json(*t.revoked_at) : json(nullptr)}});
          }
          return json_reply({{"tokens", arr}});
        }));
  h.Post("/v1/tokens", wrap(Access::kAdmin, [s](const httplib::Request& req, const Principal* p) -> Result<Reply> {
           ASSIGN_OR_RETURN(json body, body_object(req));
           ASSIGN_OR_RETURN(std::string name, opt_string(body, "name", true));
           ASSIGN_OR_RETURN(std::string role_s, opt_string(body, "role", true));
           auto role = parse_role(role_s);
           if (!role) return InvalidArgument("role must be admin, ops, issuer, auditor or verifier", "bad_role");
           std::vector<std::string> keysets;
           if (body.contains("keysets")) {
             if (!body["keysets"].is_array()) return InvalidArgument("'keysets' must be an array", "bad_request");
             for (const auto& k : body["keysets"]) {
               if (!k.is_string()) return InvalidArgument("'keysets' must hold strings", "bad_request");
               keysets.push_back(k.get<std::string>());
             }
           }
           ASSIGN_OR_RETURN(NewApiToken t, s.api_tokens->create(name, *role, keysets, actor_of(p, req).name));
           return json_reply({{"id", t.record.id}, {"name", name}, {"role", role_s}, {"keysets", keysets},
                              {"token", t.token}}, 201);
         }));
  h.Delete(R"(/v1/tokens/([0-9a-f]+))", wrap(Access::kAdmin, [auth](const httplib::Request& req, const Principal* p) -> Result<Reply> {
             RETURN_IF_ERROR(auth->revoke(req.matches[1].str(), actor_of(p, req).name));
             return json_reply({{"id", req.matches[1].str()}, {"revoked", true}});
           }));

  // The caller's own token, for clients that adapt to it (the console shows what the role may do).
  h.Get("/v1/whoami", wrap(Access::kAuthenticated, [](const httplib::Request&, const Principal* p) -> Result<Reply> {
          return json_reply({{"id", p->token_id}, {"name", p->name}, {"role", std::string(role_name(p->role))},
                             {"keysets", p->keysets}});
        }));
}

}  // namespace keymgr::api::detail
