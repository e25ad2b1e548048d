// The scheduler acts when something is due, not on its interval, and a window that ends without a
// published successor is loud. The central property: for any policy that validation accepts, any
// scheduler interval and any tick lateness below the minimum rotation_lead, every key is published
// at least `prepublish` before its first signature and signing never stops. Checked over a
// simulated year on the FakeHsm and a shorter span on a real SoftHSM2 token, both on real SQLite.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>

#include "keymgr/scheduler.h"
#include "tests/keymgr/env.h"
#include "tests/keymgr/invariants.h"

namespace keymgr::testing {
namespace {
using namespace std::chrono;
using nlohmann::json;

std::vector<db::LedgerEntry> ledger_events(db::Store& store, const std::string& event) {
  db::LedgerQuery q;
  q.kind = "lifecycle";
  std::vector<db::LedgerEntry> out;
  EXPECT_TRUE(store.export_ledger(q, [&](const db::LedgerEntry& e) {
                     if (e.event == event) out.push_back(e);
                     return true;
                   }).ok());
  return out;
}

// The policy of issue 10's report, with what it takes for prepublish = 1s to pass validation.
Policy tiny_policy(seconds rotation_lead) {
  Policy p;
  p.sign_period = minutes(5);
  p.prepublish = seconds(1);
  p.rotation_lead = rotation_lead;
  p.verifier_cache = seconds(1);
  p.jwks_max_age = seconds(1);
  p.clock_skew = seconds(0);
  p.max_token_ttl = seconds(60);
  p.verify_grace = seconds(61);
  p.destroy_after = seconds(60);
  return p;
}

TEST(RotationPolicy, ALeadTheSchedulerCannotHonourIsRefusedWithTheNumbers) {
  Status st = validate_policy(tiny_policy(seconds(1)));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.reason(), "bad_policy");
  EXPECT_NE(st.message().find("rotation_lead 1s is below the 30s minimum"), std::string::npos) << st.message();
  EXPECT_TRUE(validate_policy(tiny_policy(seconds(30))).ok());

  Policy p = tiny_policy(seconds(30));
  p.prepublish = minutes(4);
  p.verify_grace = minutes(5);
  p.rotation_lead = seconds(90);  // 4m + 90s > 5m
  st = validate_policy(p);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("prepublish 4m + rotation_lead 90s = 330s exceeds sign_period 5m"), std::string::npos)
      << st.message();
}

TEST(RotationPolicy, NextEventIsTheEarliestThingAdvanceWillDo) {
  Keyset ks;
  ks.policy = tiny_policy(seconds(30));
  Key a;
  a.kid = "a";
  a.state = KeyState::kActive;
  a.created_at = kEpoch;
  a.activate_at = kEpoch;
  a.deactivate_at = kEpoch + minutes(5);
  a.retire_at = a.deactivate_at + ks.policy.verify_grace;
  ks.keys = {a};
  // No successor: its generation is due prepublish + rotation_lead before the window ends.
  const TimePoint gen = kEpoch + minutes(5) - seconds(31);
  EXPECT_EQ(next_event(ks, kEpoch + seconds(10)), gen);
  // A pass at `gen` that failed: retried after 1 s, 2 s, 4 s, then every 8 s...
  EXPECT_EQ(next_event(ks, gen, gen, 1), gen + seconds(1));
  EXPECT_EQ(next_event(ks, gen, gen, 3), gen + seconds(4));
  EXPECT_EQ(next_event(ks, gen, gen, 40), gen + seconds(8));
  // ...but a later event (overdue from deactivate_at - prepublish) is never held back by it.
  EXPECT_EQ(next_event(ks, gen + seconds(29), gen + seconds(25), 40), kEpoch + minutes(5) - seconds(1));
  // A pass that succeeded: what it did is not due again.
  EXPECT_EQ(next_event(ks, kEpoch + seconds(10), kEpoch + seconds(10), 0), gen);
  // With a successor, the next thing is the hand-over.
  Key b = a;
  b.kid = "b";
  b.state = KeyState::kPreActivation;
  b.created_at = kEpoch + seconds(269);
  b.activate_at = kEpoch + minutes(5);
  b.deactivate_at = b.activate_at + minutes(5);
  ks.keys = {b, a};
  EXPECT_EQ(next_event(ks, kEpoch + seconds(270)), kEpoch + minutes(5));
  // A disabled keyset promotes and generates nothing: only time-driven ends remain.
  ks.disabled = true;
  ks.keys = {a};
  EXPECT_EQ(next_event(ks, kEpoch), kEpoch + minutes(5));
  // Nothing signs and nothing is coming: due now.
  ks.disabled = false;
  a.state = KeyState::kCompromised;
  a.destroy_at = kEpoch + hours(1);
  ks.keys = {a};
  EXPECT_EQ(next_event(ks, kEpoch + seconds(10)), kEpoch + seconds(10));
}

// One simulated run: the scheduler's own wake-up rule (next_wake) drives a ManualClock, each pass
// lands late by a random jitter, a full sweep runs every interval, and signing is tried at random
// moments between passes (the sign path never waits for the scheduler).
struct RunResult {
  int passes = 0, signatures = 0, rotations = 0;
};

void simulate(Env& env, const std::string& name, const Policy& p, milliseconds interval, milliseconds max_jitter,
              seconds span, std::mt19937_64& rng, RunResult& out) {
  auto ks = env.create(name, Algorithm::kES256, p);
  ASSERT_NE(ks, nullptr);
  Scheduler sched(*env.keys, interval);
  std::uniform_int_distribution<int64_t> jitter_ms(0, max_jitter.count());
  const TimePoint start = env.clock.now();
  const TimePoint end = start + span;
  TimePoint last_sweep = start;
  std::map<std::string, TimePoint> first_signature;
  while (env.clock.now() < end) {
    const TimePoint before = env.clock.now();
    const TimePoint wake = sched.next_wake(before) + milliseconds(jitter_ms(rng));
    // A signature request at a random moment before the pass: something must sign.
    std::uniform_int_distribution<int64_t> at(0, duration_cast<milliseconds>(wake - before).count());
    env.clock.set(before + milliseconds(at(rng)));
    auto t = env.sign(name, {{"sub", "u"}}, 30);
    ASSERT_TRUE(t.ok()) << "signing stopped at +" << duration_cast<seconds>(env.clock.now() - start).count()
                        << "s: " << t.status().to_string();
    first_signature.emplace(t->kid, env.clock.now());
    ++out.signatures;
    env.clock.set(wake);
    if (wake - last_sweep >= interval) {
      auto rep = sched.tick();
      ASSERT_EQ(rep.failed, 0);
      last_sweep = wake;
    } else {
      auto rep = sched.tick_due();
      ASSERT_EQ(rep.failed, 0);
    }
    ++out.passes;
  }
  // Every key that signed was in the JWKS for at least prepublish before its first signature
  // (but the keyset's very first key, which signs at creation).
  auto final_ks = env.keys->find_keyset(name);
  const std::string first_kid = final_ks->keys.back().kid;
  for (const auto& [kid, first] : first_signature) {
    if (kid == first_kid) continue;
    const Key* k = final_ks->find(kid);
    ASSERT_NE(k, nullptr);
    EXPECT_GE(first - k->created_at, p.prepublish) << "key " << kid << " signed before it was pre-published";
    ++out.rotations;
  }
  // The signing windows of the keys that signed tile the span without a gap.
  std::vector<std::pair<TimePoint, TimePoint>> windows;
  for (const auto& k : final_ks->keys) {
    if (k.activate_at < k.deactivate_at && first_signature.count(k.kid)) windows.emplace_back(k.activate_at, k.deactivate_at);
  }
  std::sort(windows.begin(), windows.end());
  for (size_t i = 1; i < windows.size(); ++i) {
    EXPECT_LE(windows[i].first, windows[i - 1].second) << "signing gap between windows " << i - 1 << " and " << i;
  }
  EXPECT_TRUE(ledger_events(*env.store, "signing_gap").empty());
  EXPECT_TRUE(ledger_events(*env.store, "key_signs_unpublished").empty());
  EXPECT_TRUE(ledger_events(*env.store, "key_emergency_activated").empty());
  EXPECT_EQ(check_invariants(*env.keys, env.clock.now(), env.hsm.get(), name), 0);
}

// A random policy that validation accepts: log-uniform durations, then the derived bounds.
Policy random_policy(std::mt19937_64& rng) {
  auto log_uniform = [&](int64_t lo, int64_t hi) {
    std::uniform_real_distribution<double> d(std::log(double(lo)), std::log(double(hi)));
    return seconds(int64_t(std::exp(d(rng))));
  };
  for (;;) {
    Policy p;
    p.sign_period = log_uniform(300, 30 * 86400);
    p.verifier_cache = log_uniform(1, std::max<int64_t>(2, p.sign_period.count() / 8));
    p.jwks_max_age = std::min(p.verifier_cache, log_uniform(1, 3600));
    p.clock_skew = log_uniform(1, 300);
    p.max_token_ttl = log_uniform(1, p.sign_period.count());
    p.rotation_lead = log_uniform(kMinRotationLead.count(), std::max<int64_t>(31, p.sign_period.count() / 2));
    const seconds need_pre = std::max(p.verifier_cache, p.jwks_max_age) + p.clock_skew;
    p.prepublish = need_pre + log_uniform(1, std::max<int64_t>(2, p.sign_period.count() / 4));
    p.verify_grace = p.max_token_ttl + std::max(p.verifier_cache, p.jwks_max_age) + p.clock_skew + log_uniform(1, 3600);
    p.destroy_after = log_uniform(1, 86400);
    if (validate_policy(p).ok()) return p;  // else draw again (e.g. prepublish + lead > sign_period)
  }
}

class RotationProperty : public ::testing::TestWithParam<Backend> {};

TEST_P(RotationProperty, EveryKeyIsPrepublishedAndSigningNeverStops) {
  const bool fake = GetParam() == Backend::kFake;
  const int runs = fake ? 12 : 3;
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  RecordProperty("seed", std::to_string(seed));
  for (int i = 0; i < runs; ++i) {
    Env env(GetParam(), /*durable=*/false);
    Policy p = random_policy(rng);
    // About a year on the fake (at most ~150 rotations per run, so short windows get a shorter
    // span); about 12 rotations on SoftHSM2.
    const seconds span = fake ? std::min(seconds(365 * 86400), p.sign_period * 150) : p.sign_period * 12;
    // Scheduler intervals from 1 s to 1 day (at most ~8,000 interval-capped passes per run, to
    // keep the test fast); passes late by up to 90 % of the minimum lead.
    const double min_interval = std::max(1000.0, double(duration_cast<milliseconds>(span).count()) / 8000);
    const auto interval = milliseconds(int64_t(std::exp(std::uniform_real_distribution<double>(
        std::log(min_interval), std::log(std::max(min_interval, 86400000.0)))(rng))));
    const milliseconds max_jitter = duration_cast<milliseconds>(kMinRotationLead) * 9 / 10;
    SCOPED_TRACE("seed " + std::to_string(seed) + " run " + std::to_string(i) + ": policy " +
                 policy_to_json(p).dump() + ", interval " + std::to_string(interval.count()) + " ms");
    RunResult r;
    simulate(env, "prop" + std::to_string(i), p, interval, max_jitter, span, rng, r);
    if (HasFatalFailure() || HasFailure()) return;
    EXPECT_GE(r.rotations, std::min<int64_t>(5, span / p.sign_period - 1));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, RotationProperty, ::testing::Values(Backend::kFake, Backend::kSoftHsm),
                         backend_name);

// Issue 10's report, replayed: a 5-minute key and a scheduler interval of 10 s. Before, the
// successor's generation window fell between two ticks.
TEST(RotationSchedule, ShortWindowsRotateOnTimeWithATenSecondInterval) {
  Env env(Backend::kFake, /*durable=*/false);
  std::mt19937_64 rng(10);
  RunResult r;
  simulate(env, "tiny", tiny_policy(seconds(30)), milliseconds(10000), milliseconds(500), hours(24), rng, r);
  EXPECT_GE(r.rotations, 280);
}

// The scheduler thread itself, on the system clock: it wakes when the successor is due, not at
// its one-hour interval, and a committed change wakes it to recompute.
TEST(RotationSchedule, TheThreadWakesWhenWorkIsDueNotOnItsInterval) {
  Env env(Backend::kFake);
  SystemClock clock;
  auto keys = std::make_unique<KeyService>(*env.hsm, *env.store, clock);
  ASSERT_TRUE(keys->load().ok());
  Policy p = tiny_policy(seconds(30));
  p.prepublish = seconds(120);
  p.verify_grace = seconds(200);
  p.rotation_lead = seconds(177);  // generation due ~3 s after creation
  NewKeyset spec{"wake", "https://issuer.example/wake", Algorithm::kES256, p};
  ASSERT_TRUE(keys->create_keyset(spec, Actor{"test", ""}).ok());
  ASSERT_EQ(keys->find_keyset("wake")->successor(), nullptr);
  Scheduler sched(*keys, hours(1));
  sched.start();
  const auto deadline = steady_clock::now() + seconds(15);
  while (keys->find_keyset("wake")->successor() == nullptr && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  const Key* succ = keys->find_keyset("wake")->successor();
  ASSERT_NE(succ, nullptr) << "the successor was not generated when due";
  EXPECT_GE(succ->activate_at - succ->created_at, p.prepublish);

  // A change that makes work due now (a longer rotation_lead) wakes it at once.
  NewKeyset spec2{"wake2", "https://issuer.example/wake2", Algorithm::kES256, tiny_policy(seconds(30))};
  ASSERT_TRUE(keys->create_keyset(spec2, Actor{"test", ""}).ok());
  Policy longer = tiny_policy(seconds(299));
  ASSERT_TRUE(keys->update_policy("wake2", longer, Actor{"test", ""}).ok());
  const auto deadline2 = steady_clock::now() + seconds(5);
  while (keys->find_keyset("wake2")->successor() == nullptr && steady_clock::now() < deadline2) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_NE(keys->find_keyset("wake2")->successor(), nullptr) << "a policy change did not wake the scheduler";
  sched.stop();
}

// When the HSM refuses for the whole lead, the window ends without a successor: a recorded,
// logged, counted incident; the emergency key that then signs at once is reported as unpublished
// and keeps the keyset not ready until verifiers can have it.
TEST(RotationSchedule, AWindowEndingWithoutASuccessorIsALoudIncident) {
  Env env(Backend::kFake);
  Metrics metrics;
  env.tokens.reset();
  env.keys = std::make_unique<KeyService>(*env.hsm, *env.store, env.clock, &metrics);
  ASSERT_TRUE(env.keys->load().ok());
  env.tokens = std::make_unique<TokenService>(*env.keys, *env.hsm, *env.store);
  const Policy p = short_policy();
  auto ks = env.create("web", Algorithm::kES256, p);
  const Key first = *ks->active_key();
  env.fake->fail_next_generate(1000);
  Scheduler sched(*env.keys, minutes(1));
  env.clock.set(first.deactivate_at - p.prepublish - p.rotation_lead);
  sched.tick_due();
  EXPECT_GT(env.keys->health("web").consecutive_failures, 0);
  // Retries back off (1 s, 2 s, ...) but stay well inside the lead.
  EXPECT_LE(sched.next_wake(env.clock.now()), env.clock.now() + seconds(1));
  env.clock.set(first.deactivate_at - seconds(1));
  sched.tick_due();
  EXPECT_TRUE(env.keys->health("web").overdue);
  // The window ends; the HSM is still down.
  env.clock.set(first.deactivate_at);
  sched.tick_due();
  auto gaps = ledger_events(*env.store, "signing_gap");
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].outcome, "error");
  EXPECT_EQ(gaps[0].kid, first.kid);
  EXPECT_NE(gaps[0].reason.find("no successor had been generated"), std::string::npos) << gaps[0].reason;
  EXPECT_NE(gaps[0].reason.find("CKR_DEVICE_ERROR"), std::string::npos) << gaps[0].reason;
  auto h = env.keys->health("web");
  EXPECT_TRUE(h.overdue);
  EXPECT_FALSE(h.signing);
  EXPECT_EQ(h.signing_gaps, 1);
  EXPECT_NE(metrics.render().find("keymgr_signing_gaps_total{keyset=\"web\"} 1"), std::string::npos);
  auto refused = env.sign("web");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnavailable);

  // The HSM recovers: an emergency key signs at once, reported as unpublished.
  env.fake->fail_next_generate(0);
  env.clock.advance(seconds(8));
  sched.tick_due();
  auto t = env.sign("web");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  auto unpub = ledger_events(*env.store, "key_signs_unpublished");
  ASSERT_EQ(unpub.size(), 1u);
  EXPECT_EQ(unpub[0].kid, t->kid);
  const int64_t needed = (p.verifier_cache + p.clock_skew).count();
  EXPECT_EQ(json::parse(unpub[0].detail)["needed_s"], needed);
  EXPECT_NE(metrics.render().find("keymgr_unpublished_activations_total{keyset=\"web\"} 1"), std::string::npos);
  h = env.keys->health("web");
  EXPECT_TRUE(h.overdue) << "an unpublished signing key must keep /readyz not ready";
  ASSERT_TRUE(h.unpublished_until.has_value());
  // The scheduler's next event is the moment it becomes safe, and then the alarm clears.
  EXPECT_EQ(env.keys->next_event(), h.unpublished_until);
  env.clock.set(*h.unpublished_until);
  sched.tick_due();
  h = env.keys->health("web");
  EXPECT_FALSE(h.overdue) << h.problem;
  EXPECT_FALSE(h.unpublished_until.has_value());
}

// An operator's emergency rotation is sometimes the right call; it is never a silent one.
TEST(RotationSchedule, EmergencyRotationIsReportedAsUnpublished) {
  Env env(Backend::kFake);
  auto ks = env.create("web", Algorithm::kES256, short_policy());
  env.clock.advance(hours(1));
  auto after = env.keys->emergency_rotate("web", Actor{"ops", "10.0.0.9"}, "suspected leak");
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  auto unpub = ledger_events(*env.store, "key_signs_unpublished");
  ASSERT_EQ(unpub.size(), 1u);
  EXPECT_EQ(unpub[0].actor, "ops");
  EXPECT_EQ(unpub[0].kid, (*after)->active_key()->kid);
  ASSERT_TRUE(env.keys->advance("web").ok());
  auto h = env.keys->health("web");
  EXPECT_TRUE(h.unpublished_until.has_value());
  EXPECT_NE(h.problem.find("published only at"), std::string::npos) << h.problem;
  // Reported, but a deliberate operator action does not take the instance out of service.
  EXPECT_FALSE(h.overdue);
  EXPECT_TRUE(h.signing);
}

}  // namespace
}  // namespace keymgr::testing
