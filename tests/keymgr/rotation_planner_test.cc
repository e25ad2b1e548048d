// The rotation planner on its own: a pure function of (keyset, now), so a year of rotations runs
// here with no HSM, no database and no clock — the plan is applied to an in-memory keyset the way
// KeyService applies it to the store.
#include <gtest/gtest.h>

#include "keymgr/key_window.h"
#include "keymgr/rotation_planner.h"
#include "tests/keymgr/env.h"

namespace keymgr::testing {
namespace {
using namespace std::chrono;

// Applies a plan and a generation to `ks` as KeyService would (every change checked against the
// state table), minting fake keys.
void apply(Keyset& ks, const RotationPlan& plan, TimePoint now, int& serial) {
  for (const auto& c : plan.changes) {
    ASSERT_TRUE(check_transition(c.before.state, c.after.state, c.trigger).ok()) << c.before.kid << " " << c.reason;
    for (auto& k : ks.keys) {
      if (k.kid == c.after.kid) k = c.after;
    }
  }
  for (const auto& kid : plan.destroy_kids) {
    for (auto& k : ks.keys) {
      if (k.kid == kid) k.state = KeyState::kDestroyed;
    }
  }
  if (auto need = plan_generation(ks, now)) {
    Key k;
    k.kid = "k" + std::to_string(++serial);
    k.created_at = whole_second(now);
    k.state = need->kind == KeyToGenerate::Kind::kSuccessor ? KeyState::kPreActivation : KeyState::kActive;
    set_window(k, need->activate_at, ks.policy);
    ks.keys.insert(ks.keys.begin(), k);
  }
}

TEST(RotationPlanner, AYearOfDailyKeysWithoutHsmOrDatabase) {
  Keyset ks;
  ks.name = "daily";
  ks.policy = short_policy();  // 24 h keys, 2 h prepublish, 2 h lead
  TimePoint now = kEpoch;
  int serial = 0;
  apply(ks, plan_transitions(ks, now), now, serial);
  ASSERT_EQ(ks.keys.size(), 1u);
  ASSERT_EQ(ks.active_key()->kid, "k1");
  int passes = 0;
  while (now < kEpoch + hours(24 * 365)) {
    // Wake exactly when the planner says (as the scheduler does), then run a pass.
    auto ev = next_event(ks, now, now, 0);
    ASSERT_TRUE(ev.has_value());
    ASSERT_GT(*ev, now) << "a pass left work behind";
    now = *ev;
    const RotationPlan plan = plan_transitions(ks, now);
    EXPECT_TRUE(plan.gap.empty()) << plan.gap;
    apply(ks, plan, now, serial);
    ++passes;
    const Key* a = ks.active_key();
    ASSERT_NE(a, nullptr) << "nothing signs at +" << duration_cast<hours>(now - kEpoch).count() << "h";
    EXPECT_TRUE(a->can_sign_at(now));
    if (a->kid != "k1") {
      EXPECT_GE(a->activate_at - a->created_at, ks.policy.prepublish) << a->kid;
    }
    const KeysetHealth h = assess_health(ks, now, std::nullopt);
    EXPECT_FALSE(h.overdue) << h.problem;
  }
  EXPECT_GE(serial, 365);
  EXPECT_LT(passes, 365 * 8);  // a handful of passes per key, not one per interval
}

TEST(RotationPlanner, AWindowThatEndsWithNoSuccessorIsAGapWithItsReason) {
  Keyset ks;
  ks.name = "web";
  ks.policy = short_policy();
  int serial = 0;
  apply(ks, plan_transitions(ks, kEpoch), kEpoch, serial);
  const TimePoint end = ks.active_key()->deactivate_at;
  const RotationPlan plan = plan_transitions(ks, end, "C_GenerateKeyPair: CKR_DEVICE_ERROR");
  EXPECT_EQ(plan.gap_kid, "k1");
  EXPECT_NE(plan.gap.find("no successor had been generated"), std::string::npos) << plan.gap;
  EXPECT_NE(plan.gap.find("CKR_DEVICE_ERROR"), std::string::npos) << plan.gap;
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].after.state, KeyState::kDeactivated);
  // Nothing signs now: an emergency key, which the health verdict reports as unpublished.
  apply(ks, plan, end, serial);
  ASSERT_NE(ks.active_key(), nullptr);
  EXPECT_EQ(ks.active_key()->kid, "k2");
  const KeysetHealth h = assess_health(ks, end, end);
  EXPECT_TRUE(h.overdue);
  ASSERT_TRUE(h.unpublished_until.has_value());
  EXPECT_EQ(*h.unpublished_until, end + ks.policy.verifier_cache + ks.policy.clock_skew);
}


TEST(RotationPlanner, UsageRotationIsDueAtNinetyPercentOrWhenTheRateReachesTheLimitWithinTheLead) {
  Keyset ks;
  ks.name = "web";
  ks.policy = short_policy();  // prepublish 2 h + rotation_lead 2 h = 14400 s
  int serial = 0;
  apply(ks, plan_transitions(ks, kEpoch), kEpoch, serial);
  ASSERT_NE(ks.active_key(), nullptr);
  // No limit: never.
  EXPECT_FALSE(usage_rotation_due(ks, 1'000'000, 1e6));
  ks.policy.max_signatures = 1000;
  EXPECT_FALSE(usage_rotation_due(ks, 0, 0));
  EXPECT_FALSE(usage_rotation_due(ks, 899, 0)) << "below 90% with no rate known";
  EXPECT_TRUE(usage_rotation_due(ks, 900, 0)) << "90% used";
  EXPECT_TRUE(usage_rotation_due(ks, 1000, 0));
  EXPECT_TRUE(usage_rotation_due(ks, 1500, 0)) << "beyond the limit (another instance's count)";
  // By rate: 500 left at 500/14400 per second comes exactly within the lead; slower does not.
  EXPECT_TRUE(usage_rotation_due(ks, 500, 500.0 / 14400));
  EXPECT_FALSE(usage_rotation_due(ks, 500, 499.0 / 14400));
  EXPECT_FALSE(usage_rotation_due(ks, 500, -1)) << "a negative rate is unknown";
  // Limits that do not divide by ten: due once at least 90% are used (13 of 15 is 86.7%).
  ks.policy.max_signatures = 15;
  EXPECT_FALSE(usage_rotation_due(ks, 13, 0));
  EXPECT_TRUE(usage_rotation_due(ks, 14, 0));
  ks.policy.max_signatures = 1;
  EXPECT_FALSE(usage_rotation_due(ks, 0, 0));
  EXPECT_TRUE(usage_rotation_due(ks, 0, 1.0)) << "known to come within the lead";
  EXPECT_TRUE(usage_rotation_due(ks, 1, 0));
  // A successor already there, or no signing key: nothing to do.
  ks.policy.max_signatures = 1000;
  Keyset with_successor = ks;
  Key next;
  next.kid = "next";
  next.state = KeyState::kPreActivation;
  next.created_at = kEpoch;
  set_window(next, kEpoch + hours(2), ks.policy);
  with_successor.keys.insert(with_successor.keys.begin(), next);
  ASSERT_NE(with_successor.successor(), nullptr);
  EXPECT_FALSE(usage_rotation_due(with_successor, 999, 1e6));
  Keyset none = ks;
  none.keys.clear();
  EXPECT_FALSE(usage_rotation_due(none, 999, 1e6));
}

}  // namespace
}  // namespace keymgr::testing
