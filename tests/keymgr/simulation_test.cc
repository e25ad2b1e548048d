// Two simulated years of several keysets with different policies and algorithms, on a real SQLite
// file and (in the SoftHsm instantiation) a real SoftHSM2 token. Every invariant is checked after
// every step; tokens are signed along the way and must verify and never outlive their key.
#include <gtest/gtest.h>

#include <chrono>

#include "keymgr/scheduler.h"
#include "tests/keymgr/env.h"
#include "tests/keymgr/invariants.h"
#include "tests/support/sanitizers.h"

namespace keymgr::testing {
namespace {
using namespace std::chrono;

class Simulation : public ::testing::TestWithParam<Backend> {};

TEST_P(Simulation, TwoYearsOfRotationsKeepEveryInvariant) {
  const auto wall_start = steady_clock::now();
  Env env(GetParam(), /*durable=*/false);
  Policy daily = short_policy();  // 24 h keys
  Policy weekly = short_policy();
  weekly.sign_period = hours(24 * 7);
  weekly.prepublish = hours(26);
  weekly.verify_grace = hours(6);
  weekly.rotation_lead = hours(12);
  Policy monthly;  // the defaults: 30 d keys, 24 h prepublish, 7 d destroy_after
  ASSERT_TRUE(env.create("daily-es256", Algorithm::kES256, daily));
  // (EdDSA on SoftHSM2 under ASan: see sanitizers.h)
  const Algorithm weekly_alg = kAsan && GetParam() == Backend::kSoftHsm ? Algorithm::kES256 : Algorithm::kEdDSA;
  ASSERT_TRUE(env.create("weekly-eddsa", weekly_alg, weekly));
  ASSERT_TRUE(env.create("weekly-es384", Algorithm::kES384, weekly));
  ASSERT_TRUE(env.create("monthly-rs256", Algorithm::kRS256, monthly));
  Scheduler sched(*env.keys, milliseconds(1000));

  // Under ASan the SoftHSM2 run takes ~7 minutes for two years, the CI's longest test: there it
  // stops after 450 days, past every operator event below (the last is on day 400); the plain
  // build runs both backends for two years.
  const int kHours = (kAsan && GetParam() == Backend::kSoftHsm ? 450 : 2 * 365) * 24;
  int tokens = 0, failures = 0;
  for (int h = 1; h <= kHours; ++h) {
    env.clock.advance(hours(1));
    auto rep = sched.tick();
    ASSERT_EQ(rep.failed, 0) << "hour " << h;
    const std::string where = "hour " + std::to_string(h);
    failures += check_invariants(*env.keys, env.clock.now(), (h % (24 * 30) == 0) ? env.hsm.get() : nullptr, where);
    ASSERT_EQ(failures, 0) << where;

    // Operator events along the way.
    const int day = h / 24;
    if (h % 24 == 0 && day == 100) {
      auto ks = env.keys->find_keyset("daily-es256");
      ASSERT_TRUE(env.keys->compromise(ks->name, ks->active_key()->kid, std::nullopt, Actor{"ops", ""}, "drill").ok());
    }
    if (h % 24 == 0 && day == 200) {
      ASSERT_TRUE(env.keys->emergency_rotate("weekly-eddsa", Actor{"ops", ""}, "drill").ok());
    }
    if (h % 24 == 0 && day == 300) {
      auto ks = env.keys->find_keyset("monthly-rs256");
      ASSERT_TRUE(env.keys->suspend(ks->name, ks->active_key()->kid, Actor{"ops", ""}, "audit").ok());
      EXPECT_FALSE(env.sign("monthly-rs256").ok());
    }
    if (h % 24 == 6 && day == 300) {
      auto ks = env.keys->find_keyset("monthly-rs256");
      // Resume may be refused only if the window ended meanwhile (then the scheduler replaced it).
      for (const auto& k : ks->keys) {
        if (k.state == KeyState::kSuspended) {
          ASSERT_TRUE(env.keys->resume(ks->name, k.kid, Actor{"ops", ""}, "ok").ok());
        }
      }
    }
    if (h % 24 == 0 && day == 400) {
      ASSERT_TRUE(env.keys->rotate("weekly-es384", Actor{"ops", ""}, "manual").ok());
    }
    if (h % 12 == 0) {
      for (const auto& ks : env.keys->keysets()) {
        bool paused = false;
        for (const auto& k : ks->keys) paused = paused || k.state == KeyState::kSuspended;
        if (paused) {
          EXPECT_FALSE(env.sign(ks->name).ok()) << where << ": a suspended keyset signed";
          continue;
        }
        auto t = env.sign(ks->name, {{"sub", "user-" + std::to_string(h)}}, 1800);
        ASSERT_TRUE(t.ok()) << where << " " << ks->name << ": " << t.status().to_string();
        const Key* k = env.keys->find_keyset(ks->name)->find(t->kid);
        ASSERT_NE(k, nullptr);
        EXPECT_LE(t->exp, to_unix_seconds(k->retire_at)) << where;
        auto v = env.tokens->verify(ks->name, t->token);
        ASSERT_TRUE(v.ok());
        ASSERT_TRUE(v->valid) << where << " " << ks->name;
        ++tokens;
      }
    }
  }
  // Count transitions recorded in the ledger.
  db::LedgerQuery q;
  q.kind = "lifecycle";
  int64_t transitions = 0;
  ASSERT_TRUE(env.store->export_ledger(q, [&](const db::LedgerEntry&) { return ++transitions, true; }).ok());
  EXPECT_GT(transitions, 2000);
  auto chain = env.store->verify_chain();
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok);
  EXPECT_EQ(check_invariants(*env.keys, env.clock.now(), env.hsm.get(), "end"), 0);
  const double secs = duration<double>(steady_clock::now() - wall_start).count();
  std::printf("simulation[%s]: %d hours, %lld lifecycle transitions, %d tokens, %.1f s\n",
              GetParam() == Backend::kFake ? "fake" : "softhsm", kHours, static_cast<long long>(transitions), tokens, secs);
  RecordProperty("seconds", std::to_string(secs));
}

INSTANTIATE_TEST_SUITE_P(Backends, Simulation, ::testing::Values(Backend::kFake, Backend::kSoftHsm), backend_name);

}  // namespace
}  // namespace keymgr::testing
