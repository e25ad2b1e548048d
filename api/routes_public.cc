// Public routes: liveness, readiness, metrics, and the JWKS/discovery documents (public_docs.h).
#include "api/routes.h"

#include "api/public_docs.h"

namespace keymgr::api::detail {

void add_public_routes(Routes& h, const Wrap& wrap, const Services& s) {
  h.Get("/healthz", wrap(Access::kPublic, [](const httplib::Request&, const Principal*) -> Result<Reply> {
          return json_reply({{"status", "ok"}});
        }));

  h.Get("/readyz", wrap(Access::kPublic, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          const Readiness r = s.readiness->check();
          json checks = json::object();
          checks["hsm"] = r.hsm.ok() ? "ok" : r.hsm.to_string();
          checks["database"] = r.database.ok() ? "ok" : r.database.to_string();
          json ks = json::array();
          for (const auto& hlt : r.failing_keysets) {
            ks.push_back({{"keyset", hlt.keyset}, {"overdue", hlt.overdue}, {"problem", hlt.problem},
                          {"last_error", hlt.last_error}});
          }
          checks["keysets"] = ks.empty() ? json("ok") : ks;
          checks["ledger_log"] = r.ledger_log.ok() ? "ok" : r.ledger_log.to_string();
          checks["witnesses"] = r.witnesses.ok() ? "ok" : r.witnesses.to_string();
          return json_reply({{"status", r.ready() ? "ready" : "degraded"}, {"checks", checks}}, r.ready() ? 200 : 503);
        }));

  h.Get("/metrics", wrap(Access::kPublic, [s](const httplib::Request&, const Principal*) -> Result<Reply> {
          Reply r;
          r.body = s.metrics->render();
          r.content_type = "text/plain; version=0.0.4";
          return r;
        }));

  // One implementation for both listeners (public_docs.h); the patterns are for the route catalog.
  auto public_doc = [s](const httplib::Request& req, const Principal*) -> Result<Reply> {
    ASSIGN_OR_RETURN(PublicDoc d, public_document(*s.keys, req.path, req.get_header_value("If-None-Match"), s.log));
    Reply r;
    r.status = d.status;
    if (!d.etag.empty()) r.headers.push_back({"ETag", d.etag});
    if (d.max_age >= 0) r.headers.push_back({"Cache-Control", "public, max-age=" + std::to_string(d.max_age)});
    r.body = std::move(d.body);
    if (!d.content_type.empty()) r.content_type = std::move(d.content_type);
    return r;
  };
  h.Get(R"((.*)/\.well-known/jwks\.json)", wrap(Access::kPublic, public_doc));
  h.Get(R"((.*)/\.well-known/openid-configuration)", wrap(Access::kPublic, public_doc));
  h.Get(R"(/v1/keysets/([a-z0-9_-]+)/jwks\.json)", wrap(Access::kPublic, public_doc));
  h.Get(R"(/v1/keysets/([a-z0-9_-]+)/openid-configuration)", wrap(Access::kPublic, public_doc));
  h.Get(std::string(kCheckpointPath), wrap(Access::kPublic, public_doc));
}

}  // namespace keymgr::api::detail
