// The rotation planner: pure functions from (keyset, now) to what must happen to it. KeyService
// applies the plan (store, HSM, ledger); the planner touches neither, so a year of rotations, every
// policy and every clock jump can be tested without an HSM, a database or a thread.
//
// The scheduler's pass over one keyset is, in order:
//   1. plan_transitions: time-driven transitions (windows that end, the successor that takes over,
//      grace that ends, unused successors discarded), the signing gap if a window ends with no
//      successor ready, and the keys whose HSM objects are due for destruction;
//   2. plan_generation (on the keyset after 1): a key to generate, and when it activates;
//   3. assess_health: the verdict operators and /readyz see;
//   4. next_event: when the next pass has anything to do.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "keymgr/keyset.h"

namespace keymgr {

// What the scheduler and operators see about a keyset's rotation health.
struct KeysetHealth {
  std::string keyset;
  bool signing = false;          // has a key that may sign now
  bool overdue = false;          // an alert that keeps /readyz not ready
  std::string problem;           // human text when not fine
  int64_t consecutive_failures = 0;
  std::string last_error;
  std::optional<TimePoint> active_since;  // for the key-age metric
  // The signing key was activated before it had been published for verifier_cache + clock_skew
  // (an emergency key): verifiers holding an older JWKS reject its tokens until this time.
  std::optional<TimePoint> unpublished_until;
  int64_t signing_gaps = 0;  // windows that ended with no successor ready, since start
};

// One key transition: `after` holds the new state and windows.
struct KeyChange {
  Key before;
  Key after;
  Trigger trigger = Trigger::kSchedule;
  std::string reason;
};

struct RotationPlan {
  std::vector<KeyChange> changes;  // in order; a key may change twice (before = the earlier after)
  // A signing window ends with no successor ready: why (human), the key, and the facts.
  std::string gap;
  std::string gap_kid;
  nlohmann::json gap_detail;
  std::vector<std::string> destroy_kids;  // retired or compromised keys whose destroy_at came
};

// What advance() owes keyset `ks` at `now`. `last_error`: the scheduler's last error for it (named
// in a signing gap's reason).
RotationPlan plan_transitions(const Keyset& ks, TimePoint now, const std::string& last_error = "");

// Whether a transition that ends or starts signing is due at `t` (signers are paused only then).
bool signing_change_due(const Keyset& ks, TimePoint t);

struct KeyToGenerate {
  enum class Kind { kFirst, kEmergency, kSuccessor } kind;
  TimePoint activate_at;
};
// The key `ks` needs now, if any: the first key of a new keyset, an emergency key when nothing
// signs and nothing is coming, or the successor once deactivate_at - prepublish - rotation_lead
// has come (activating when its predecessor's window ends, and never before now + prepublish).
std::optional<KeyToGenerate> plan_generation(const Keyset& ks, TimePoint now);

// Whether the signing key of `ks`, which has made `signatures` of its policy's max_signatures,
// should get its successor now: once 90% are used, or when at `rate` signatures per second (the
// caller's estimate; <= 0 unknown) it would reach the limit within prepublish + rotation_lead, so
// the successor is published long enough when the limit comes. False without a limit, without an
// active key, or when a successor is already there.
bool usage_rotation_due(const Keyset& ks, int64_t signatures, double rate);

// The health verdict of `ks` at `now` (failure counters are the caller's). `last_gap_at`: the
// last signing gap, which makes an unpublished key that took over after it an incident.
KeysetHealth assess_health(const Keyset& ks, TimePoint now, std::optional<TimePoint> last_gap_at);

// When a key published (generated) at `published_at` is safe for every verifier to see sign:
// published_at + max(verifier_cache, jwks_max_age) + clock_skew.
TimePoint published_safe_at(const Policy& p, TimePoint published_at);

// When advance() next has something to do for `ks`: a window that ends or starts, a successor to
// generate, grace and destroy times, or a moment when its health verdict changes. `last_pass`: when
// advance() last ran for it (events up to then are done; work still listed from then means that
// pass failed, retried after a back-off of 1, 2, 4, then 8 s by `failures`). A result <= now means
// due now; nullopt: nothing is scheduled.
std::optional<TimePoint> next_event(const Keyset& ks, TimePoint now, std::optional<TimePoint> last_pass = std::nullopt,
                                    int64_t failures = 0);

}  // namespace keymgr
