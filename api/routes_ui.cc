// The web console (console/, issue 16): its static files under /ui/, built into the binary
// (api/ui_assets.h). The files hold no data: the console reads and acts only through the REST
// API with the operator's bearer token, so these routes are public. Every /ui/ answer, errors
// included, carries the console's security headers: a CSP that allows only keymgr's own origin
// and no inline script or style, no framing, no referrer, no MIME sniffing.
#include "api/routes.h"

#include "api/ui_assets.h"

namespace keymgr::api::detail {
namespace {

void add_security_headers(Reply& r) {
  r.headers.push_back({"Content-Security-Policy", std::string(kUiContentSecurityPolicy)});
  r.headers.push_back({"X-Frame-Options", "DENY"});
  r.headers.push_back({"Referrer-Policy", "no-referrer"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"Cross-Origin-Opener-Policy", "same-origin"});
}

const UiAsset* find_asset(std::string_view path) {
  for (const auto& a : ui_assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

Reply asset_reply(const httplib::Request& req, std::string_view path) {
  Reply r;
  add_security_headers(r);
  const UiAsset* a = find_asset(path);
  if (a == nullptr) {
    r = json_reply({{"error", "asset_not_found"}, {"message", "no such console file"}}, 404);
    add_security_headers(r);
    return r;
  }
  // Names are not content-hashed: revalidate each time, a 304 when unchanged.
  r.headers.push_back({"Cache-Control", "no-cache"});
  r.headers.push_back({"ETag", std::string(a->etag)});
  if (req.get_header_value("If-None-Match") == a->etag) {
    r.status = 304;
    return r;
  }
  r.body = std::string(a->body);
  r.content_type = std::string(a->content_type);
  return r;
}

}  // namespace

void add_ui_routes(Routes& h, const Wrap& wrap) {
  h.Get("/ui", wrap(Access::kPublic, [](const httplib::Request&, const Principal*) -> Result<Reply> {
          Reply r;
          r.status = 308;
          r.content_type = "text/plain; charset=utf-8";
          r.body = "/ui/\n";
          add_security_headers(r);
          r.headers.push_back({"Location", "/ui/"});
          return r;
        }));
  h.Get("/ui/", wrap(Access::kPublic, [](const httplib::Request& req, const Principal*) -> Result<Reply> {
          return asset_reply(req, "index.html");
        }));
  h.Get(R"(/ui/([A-Za-z0-9_.-]+))", wrap(Access::kPublic, [](const httplib::Request& req, const Principal*) -> Result<Reply> {
          return asset_reply(req, req.matches[1].str());
        }));
}

}  // namespace keymgr::api::detail
