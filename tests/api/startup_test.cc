// Start-up: keymgr serves once its keysets are loaded from the database; the repair against the
// HSM (reconcile) runs in the background as the scheduler's first pass and still happens without
// anything asking for it. Real SoftHSM2 token, SQLite file, HTTP on 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "keymgr/keyset.h"
#include "tests/api/app_env.h"
#include "tests/support/hsm_key_lookup.h"

namespace keymgr::testing {
namespace {
using nlohmann::json;
using namespace std::chrono_literals;

TEST(StartupTest, TheHsmRepairRunsInTheBackgroundAfterTheServerIsUp) {
  SoftHsmToken token;
  ASSERT_TRUE(token.ok()) << token.error();
  const std::string dir = make_temp_dir("km-startup");
  cli::Config cfg = test_config(dir);
  std::unique_ptr<cli::App> app;
  ASSERT_NO_FATAL_FAILURE(start_test_app(token, cfg, app));
  const std::string ops = api_token(*app, "ops", api::Role::kOps);
  {
    httplib::Client c("127.0.0.1", app->port());
    auto r = c.Post("/v1/keysets", {{"Authorization", "Bearer " + ops}},
                    json{{"name", "web"}, {"issuer", "https://login.example/web"}, {"alg", "ES256"}}.dump(),
                    "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
  }
  const std::string issuer = api_token(*app, "iss", api::Role::kIssuer, {"web"});
  app.reset();

  // While keymgr is down, a key pair with keymgr's label and no row appears in the token (what a
  // generation whose intent row was removed leaves behind).
  const std::string orphan_id = "0a0b0c0d0e0f";
  {
    auto h = hsm::open_pkcs11_hsm(token.options());
    ASSERT_TRUE(h.ok()) << h.status().to_string();
    auto k = (*h)->generate_key(Algorithm::kES256, orphan_id, std::string(kKeyLabelPrefix) + "orphan");
    ASSERT_TRUE(k.ok()) << k.status().to_string();
  }

  ASSERT_NO_FATAL_FAILURE(start_test_app(token, cfg, app));
  httplib::Client c("127.0.0.1", app->port());
  auto r = c.Post("/v1/keysets/web/sign", {{"Authorization", "Bearer " + issuer}}, R"({"claims":{"sub":"u"}})",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // Nothing asks for the repair: the scheduler's first pass destroys the orphan.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto found = find_hsm_key(app->hsm(), orphan_id);
    gone = !found.ok() && found.status().code() == ErrorCode::kNotFound;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "the orphan HSM key was not repaired within 10 s of start-up";
  app.reset();
  remove_tree(dir);
}

}  // namespace
}  // namespace keymgr::testing
