// The key-state table (keymgr/key_state.h) against an expectation written out by hand below, from
// NIST SP 800-57 Part 1 Rev. 5 §7 ("Key states and transitions") and README.md's "Key states"
// table. Nothing here is derived from transition_table(): a wrong edit of the table fails here.
#include "keymgr/key_state.h"

#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string>
#include <tuple>

namespace keymgr {
namespace {

constexpr KeyState kPre = KeyState::kPreActivation;
constexpr KeyState kActive = KeyState::kActive;
constexpr KeyState kSuspended = KeyState::kSuspended;
constexpr KeyState kDeactivated = KeyState::kDeactivated;
constexpr KeyState kRetired = KeyState::kRetired;
constexpr KeyState kCompromised = KeyState::kCompromised;
constexpr KeyState kDestroyed = KeyState::kDestroyed;

struct Named {
  KeyState state;
  const char* name;  // as the API, the ledger and README spell it
};
constexpr Named kStates[] = {
    {kPre, "pre-activation"}, {kActive, "active"},           {kSuspended, "suspended"}, {kDeactivated, "deactivated"},
    {kRetired, "retired"},    {kCompromised, "compromised"}, {kDestroyed, "destroyed"},
};

struct NamedTrigger {
  Trigger trigger;
  const char* name;  // as the ledger records it
};
constexpr NamedTrigger kTriggers[] = {
    {Trigger::kSchedule, "schedule"},     {Trigger::kRotate, "rotate"},         {Trigger::kEmergency, "emergency"},
    {Trigger::kSuspend, "suspend"},       {Trigger::kResume, "resume"},         {Trigger::kCompromise, "compromise"},
    {Trigger::kDestroy, "destroy"},       {Trigger::kReconcile, "reconcile"},   {Trigger::kDiscard, "discard"},
    {Trigger::kExtend, "extend"},         {Trigger::kUsageLimit, "usage_limit"},
};

struct Allowed {
  KeyState from;
  KeyState to;
  Trigger by;
};

// Every allowed (from, to, trigger) triple, one per line; every other combination is refused.
//
// keymgr's states are NIST's, plus "retired" (not published, HSM object kept until destroy_after)
// between deactivated and destroyed. So NIST's "pre-activation -> destroyed" (key not needed) is
// pre-activation -> retired -> destroyed here, NIST's "deactivated -> destroyed" is
// deactivated -> retired -> destroyed, and NIST's "active/suspended -> destroyed" happens only when
// start-up repair (reconcile) finds the HSM object gone.
constexpr Allowed kAllowed[] = {
    // NIST: pre-activation -> active when the key becomes available for use.
    {kPre, kActive, Trigger::kSchedule},
    {kPre, kActive, Trigger::kRotate},
    {kPre, kActive, Trigger::kEmergency},
    {kPre, kActive, Trigger::kUsageLimit},  // the successor of a key that made its max_signatures
    // NIST: pre-activation -> compromised when the key's integrity becomes suspect.
    {kPre, kCompromised, Trigger::kCompromise},
    // NIST: pre-activation -> (not needed) -> destroyed; here through retired.
    {kPre, kRetired, Trigger::kDiscard},    // its window passed before it ever signed
    {kPre, kRetired, Trigger::kEmergency},  // an emergency key took its place
    // NIST: active -> suspended / deactivated / compromised.
    {kActive, kSuspended, Trigger::kSuspend},
    {kActive, kDeactivated, Trigger::kSchedule},
    {kActive, kDeactivated, Trigger::kRotate},
    {kActive, kDeactivated, Trigger::kEmergency},
    {kActive, kDeactivated, Trigger::kUsageLimit},  // it made its policy's max_signatures
    {kActive, kCompromised, Trigger::kCompromise},
    // NIST: suspended -> active (restored) / deactivated / compromised.
    {kSuspended, kActive, Trigger::kResume},
    {kSuspended, kDeactivated, Trigger::kSchedule},
    {kSuspended, kDeactivated, Trigger::kRotate},
    {kSuspended, kDeactivated, Trigger::kEmergency},
    {kSuspended, kCompromised, Trigger::kCompromise},
    // NIST: deactivated -> destroyed (here through retired, by the schedule only) / compromised.
    {kDeactivated, kRetired, Trigger::kSchedule},
    // Not NIST: an operator's recorded extension lets a deactivated, still-published key sign again.
    {kDeactivated, kActive, Trigger::kExtend},
    {kDeactivated, kCompromised, Trigger::kCompromise},
    // keymgr's retired: destroyed when destroy_after elapses, by ops, or found gone; or compromised.
    {kRetired, kDestroyed, Trigger::kSchedule},
    {kRetired, kDestroyed, Trigger::kDestroy},
    {kRetired, kDestroyed, Trigger::kReconcile},
    {kRetired, kCompromised, Trigger::kCompromise},
    // NIST: compromised -> destroyed.
    {kCompromised, kDestroyed, Trigger::kSchedule},
    {kCompromised, kDestroyed, Trigger::kDestroy},
    {kCompromised, kDestroyed, Trigger::kReconcile},
    // Start-up repair: the HSM object vanished; the metadata can only record that.
    {kPre, kDestroyed, Trigger::kReconcile},
    {kActive, kDestroyed, Trigger::kReconcile},
    {kSuspended, kDestroyed, Trigger::kReconcile},
    {kDeactivated, kDestroyed, Trigger::kReconcile},
};

std::string name(KeyState s) {
  for (const auto& n : kStates) {
    if (n.state == s) return n.name;
  }
  return "?";
}

std::string name(Trigger t) {
  for (const auto& n : kTriggers) {
    if (n.trigger == t) return n.name;
  }
  return "?";
}

bool expected_allowed(KeyState from, KeyState to, Trigger by) {
  for (const auto& a : kAllowed) {
    if (a.from == from && a.to == to && a.by == by) return true;
  }
  return false;
}

bool expected_pair(KeyState from, KeyState to) {
  for (const auto& a : kAllowed) {
    if (a.from == from && a.to == to) return true;
  }
  return false;
}

std::string describe(KeyState from, KeyState to, Trigger by) {
  return name(from) + " -> " + name(to) + " by " + name(by);
}

// The lists above name every enumerator: a new state or trigger must be added here (and to the
// expected table) before this test passes again.
TEST(KeyStateTable, TestListsCoverEveryStateAndTrigger) {
  for (const auto& n : kStates) EXPECT_EQ(key_state_name(n.state), n.name);
  for (const auto& n : kTriggers) EXPECT_EQ(trigger_name(n.trigger), n.name);
  EXPECT_EQ(key_state_name(static_cast<KeyState>(std::size(kStates))), "") << "a KeyState this test does not know";
  EXPECT_EQ(trigger_name(static_cast<Trigger>(std::size(kTriggers))), "") << "a Trigger this test does not know";
}

TEST(KeyStateTable, EveryCombinationMatchesTheWrittenOutTable) {
  size_t allowed = 0, refused = 0;
  for (const auto& from : kStates) {
    for (const auto& to : kStates) {
      for (const auto& by : kTriggers) {
        const std::string what = describe(from.state, to.state, by.trigger);
        const Status st = check_transition(from.state, to.state, by.trigger);
        if (expected_allowed(from.state, to.state, by.trigger)) {
          EXPECT_TRUE(st.ok()) << what << " should be allowed: " << st.to_string();
          ++allowed;
          continue;
        }
        ++refused;
        EXPECT_FALSE(st.ok()) << what << " should be refused";
        if (st.ok()) continue;
        EXPECT_EQ(st.code(), ErrorCode::kFailedPrecondition) << what;
        EXPECT_EQ(st.reason(), "transition_refused") << what;
        // The message tells an operator whether another trigger would do.
        const std::string expected_message =
            expected_pair(from.state, to.state)
                ? "key cannot go from " + std::string(from.name) + " to " + to.name + " by " + by.name
                : "no transition from " + std::string(from.name) + " to " + to.name;
        EXPECT_EQ(st.message(), expected_message) << what;
      }
    }
  }
  EXPECT_EQ(allowed, std::size(kAllowed));
  EXPECT_EQ(allowed + refused, std::size(kStates) * std::size(kStates) * std::size(kTriggers));
}

// transition_table() is what docs and callers read: exactly the expected triples, and no (from, to)
// pair twice (check_transition reads only the first row of a pair, so a second would be dead).
TEST(KeyStateTable, PublishedTableIsExactlyTheExpectedOne) {
  using Triple = std::tuple<KeyState, KeyState, Trigger>;
  std::set<Triple> expected, actual;
  for (const auto& a : kAllowed) EXPECT_TRUE(expected.insert({a.from, a.to, a.by}).second) << "duplicate in test";
  std::set<std::pair<KeyState, KeyState>> pairs;
  for (const auto& row : transition_table()) {
    EXPECT_TRUE(pairs.insert({row.from, row.to}).second) << name(row.from) << " -> " << name(row.to) << " twice";
    EXPECT_FALSE(row.triggers.empty()) << name(row.from) << " -> " << name(row.to) << " has no trigger";
    for (Trigger t : row.triggers) {
      EXPECT_TRUE(actual.insert({row.from, row.to, t}).second) << describe(row.from, row.to, t) << " listed twice";
    }
  }
  for (const auto& t : expected) {
    EXPECT_TRUE(actual.count(t)) << describe(std::get<0>(t), std::get<1>(t), std::get<2>(t)) << " missing";
  }
  for (const auto& t : actual) {
    EXPECT_TRUE(expected.count(t)) << describe(std::get<0>(t), std::get<1>(t), std::get<2>(t)) << " not expected";
  }
}

// The NIST rules the table must keep, stated as properties over every combination (a second,
// coarser check that does not depend on the list above being right).
TEST(KeyStateTable, NistRulesHold) {
  for (const auto& from : kStates) {
    for (const auto& to : kStates) {
      for (const auto& by : kTriggers) {
        const bool ok = check_transition(from.state, to.state, by.trigger).ok();
        if (!ok) continue;
        const std::string what = describe(from.state, to.state, by.trigger);
        EXPECT_NE(from.state, to.state) << what << ": a transition changes the state";
        EXPECT_NE(to.state, kPre) << what << ": pre-activation is entered only by generation";
        EXPECT_NE(from.state, kDestroyed) << what << ": destroyed is final";
        if (from.state == kCompromised) {
          EXPECT_EQ(to.state, kDestroyed) << what << ": a compromised key never returns";
        }
        if (to.state == kActive) {
          EXPECT_TRUE(from.state == kPre || from.state == kSuspended ||
                      (from.state == kDeactivated && by.trigger == Trigger::kExtend))
              << what << ": only new or suspended keys sign (or an operator's recorded extension)";
        }
        if (by.trigger == Trigger::kExtend) {
          EXPECT_TRUE(from.state == kDeactivated && to.state == kActive) << what << ": extend only revives a window";
        }
        EXPECT_EQ(to.state == kCompromised, by.trigger == Trigger::kCompromise) << what;
        if (by.trigger == Trigger::kReconcile) {
          EXPECT_EQ(to.state, kDestroyed) << what << ": reconcile only records a vanished object";
        }
        if (by.trigger == Trigger::kDiscard) {
          EXPECT_EQ(from.state, kPre) << what << ": only unused keys are discarded";
        }
      }
    }
  }
  // Any key not yet compromised or destroyed can be reported compromised, and any key not yet
  // destroyed can be recorded destroyed when its HSM object is gone.
  for (const auto& s : kStates) {
    if (s.state != kCompromised && s.state != kDestroyed) {
      EXPECT_TRUE(check_transition(s.state, kCompromised, Trigger::kCompromise).ok()) << s.name;
    }
    if (s.state != kDestroyed) {
      EXPECT_TRUE(check_transition(s.state, kDestroyed, Trigger::kReconcile).ok()) << s.name;
    }
  }
}

TEST(KeyStateTable, PublishedStates) {
  EXPECT_TRUE(is_published(kPre));
  EXPECT_TRUE(is_published(kActive));
  EXPECT_TRUE(is_published(kSuspended));
  EXPECT_TRUE(is_published(kDeactivated));
  EXPECT_FALSE(is_published(kRetired));
  EXPECT_FALSE(is_published(kCompromised));
  EXPECT_FALSE(is_published(kDestroyed));
}

}  // namespace
}  // namespace keymgr
