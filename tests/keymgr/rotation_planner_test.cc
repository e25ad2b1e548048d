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

}  // namespace
}  // namespace keymgr::testing
