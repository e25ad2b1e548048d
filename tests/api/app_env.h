// The in-process keymgr the API tests run against: a real SoftHSM2 token (optionally through a
// PKCS#11 function-list hook, for fault injection), a SQLite file under the test's directory, the
// HTTP server on an ephemeral 127.0.0.1 port, no bootstrap keyset.
#pragma once

#include "tests/support/sanitizers.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/auth.h"
#include "common/clock.h"
#include "cli/app.h"
#include "hsm/pkcs11_hsm.h"
#include "tests/support/softhsm_token.h"

namespace keymgr::testing {

// Database in `dir`, port 0 (ephemeral), no bootstrap keyset; everything else the defaults.
inline cli::Config test_config(const std::string& dir) {
  cli::Config cfg;
  cfg.db_path = dir + "/keymgr.db";
  cfg.server.port = 0;
  cfg.bootstrap_keyset = "";
  // SoftHSM2 leaks inside Ed25519 C_Sign, unsuppressibly under ASan (tests/support/sanitizers.h):
  // the audit key signs checkpoints with ES256 there. Ed25519 audit keys are tested in plain builds.
  if (kAsan) cfg.ledger.audit_key_alg = "ES256";
  // Tests drive the transparency log themselves (LedgerLog::integrate/checkpoint): the background
  // integrator's first tick is 15 minutes away, so it cannot race them.
  cfg.ledger.integrate_max_delay = std::chrono::hours(1);
  return cfg;
}

// Opens the token (through `hook` when set) and the App, without starting it. `clock`: the App's
// clock (a test's ManualClock, which must outlive the App); the system clock when null.
inline Result<std::unique_ptr<cli::App>> open_test_app(const SoftHsmToken& token, const cli::Config& cfg,
                                                       std::function<void*(void*)> hook = {},
                                                       const Clock* clock = nullptr) {
  auto opts = token.options();
  opts.function_list_hook = std::move(hook);
  auto h = hsm::open_pkcs11_hsm(std::move(opts));
  if (!h.ok()) return h.status();
  return cli::App::open(cfg, std::move(*h), clock);
}

// Opens and starts the App into `out`; a gtest failure otherwise (wrap the call in
// ASSERT_NO_FATAL_FAILURE).
inline void start_test_app(const SoftHsmToken& token, const cli::Config& cfg, std::unique_ptr<cli::App>& out,
                           std::function<void*(void*)> hook = {}, const Clock* clock = nullptr) {
  auto app = open_test_app(token, cfg, std::move(hook), clock);
  ASSERT_TRUE(app.ok()) << app.status().to_string();
  out = std::move(*app);
  Status st = out->start();
  ASSERT_TRUE(st.ok()) << st.to_string();
}

// A bearer token for `role` in the App's store ("" and a gtest failure if it cannot be made).
inline std::string api_token(cli::App& app, const std::string& name, api::Role role,
                             const std::vector<std::string>& keysets = {}) {
  auto t = app.api_tokens().create(name, role, keysets, "test");
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? t->token : "";
}

}  // namespace keymgr::testing
