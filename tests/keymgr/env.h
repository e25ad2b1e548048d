// A KeyService on a real SQLite file and either the in-memory FakeHsm or a real SoftHSM2 token,
// driven by a ManualClock. Tests that are parameterised over Backend run the same behaviour on
// both: the fake for speed and fault switches, SoftHSM2 as the real thing.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "db/sqlite_store.h"
#include "db/store.h"
#include "hsm/pkcs11_hsm.h"
#include "keymgr/key_service.h"
#include "keymgr/token_service.h"
#include "tests/support/fake_hsm.h"
#include "tests/support/softhsm_token.h"

namespace keymgr::testing {

enum class Backend { kFake, kSoftHsm };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kFake ? "Fake" : "SoftHsm";
}

// 2026-01-01T00:00:00Z
inline TimePoint kEpoch = from_unix_seconds(1767225600);

class Env {
 public:
  // `durable` false: synchronous=OFF (simulations measure logic, not fsync; still a real file).
  // `hook`: a PKCS#11 function-list hook (fault injection) for the SoftHsm backend.
  explicit Env(Backend backend, bool durable = true, std::function<void*(void*)> hook = nullptr)
      : clock(kEpoch), durable_(durable) {
    dir = make_temp_dir("km-keymgr");
    open_store();
    if (backend == Backend::kFake) {
      auto f = std::make_unique<FakeHsm>();
      fake = f.get();
      hsm = std::move(f);
    } else {
      token = std::make_unique<SoftHsmToken>();
      EXPECT_TRUE(token->ok()) << token->error();
      auto opts = token->options();
      opts.function_list_hook = std::move(hook);
      auto h = hsm::open_pkcs11_hsm(std::move(opts));
      EXPECT_TRUE(h.ok()) << h.status().to_string();
      if (h.ok()) hsm = std::move(*h);
    }
    reopen_service();
  }
  ~Env() {
    tokens.reset();
    keys.reset();
    store.reset();
    hsm.reset();
    token.reset();
    remove_tree(dir);
  }

  void open_store() {
    db::StoreOptions so;
    so.unsafe_no_sync = !durable_;
    auto s = db::open_sqlite_store(dir + "/keymgr.db", so);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store = std::move(*s);
  }

  // A fresh KeyService over the same store and HSM (a restart).
  void reopen_service() {
    tokens.reset();
    keys = std::make_unique<KeyService>(*hsm, *store, clock);
    auto rep = keys->load();
    ASSERT_TRUE(rep.ok()) << rep.status().to_string();
    last_reconcile = *rep;
    tokens = std::make_unique<TokenService>(*keys, *hsm, *store);
  }

  KeysetPtr create(const std::string& name, Algorithm alg = Algorithm::kES256, Policy p = Policy{}) {
    NewKeyset spec;
    spec.name = name;
    spec.issuer = "https://issuer.example/" + name;
    spec.alg = alg;
    spec.policy = p;
    auto ks = keys->create_keyset(spec, Actor{"test", ""});
    EXPECT_TRUE(ks.ok()) << ks.status().to_string();
    return ks.ok() ? *ks : nullptr;
  }

  Result<SignedToken> sign(const std::string& keyset, nlohmann::json claims = {{"sub", "alice"}},
                           std::optional<int64_t> ttl = std::nullopt) {
    SignRequest r;
    r.keyset = keyset;
    r.claims = std::move(claims);
    r.ttl_seconds = ttl;
    r.actor = Actor{"issuer-test", "127.0.0.1"};
    return tokens->sign(r);
  }

  ManualClock clock;
  bool durable_ = true;
  std::string dir;
  std::unique_ptr<SoftHsmToken> token;
  FakeHsm* fake = nullptr;
  std::unique_ptr<hsm::Hsm> hsm;
  std::unique_ptr<db::Store> store;
  std::unique_ptr<KeyService> keys;
  std::unique_ptr<TokenService> tokens;
  ReconcileReport last_reconcile;
};

// Policy with short periods for fast simulations (all bounds still hold).
inline Policy short_policy() {
  using namespace std::chrono;
  Policy p;
  p.verifier_cache = hours(1);
  p.jwks_max_age = minutes(5);
  p.clock_skew = minutes(1);
  p.max_token_ttl = minutes(30);
  p.prepublish = hours(2);
  p.sign_period = hours(24);
  p.verify_grace = hours(2);
  p.destroy_after = hours(12);
  p.rotation_lead = hours(2);
  return p;
}

}  // namespace keymgr::testing
