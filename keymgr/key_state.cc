#include "keymgr/key_state.h"

#include <algorithm>
#include <string>

namespace keymgr {

std::string_view trigger_name(Trigger t) {
  switch (t) {
    case Trigger::kSchedule: return "schedule";
    case Trigger::kRotate: return "rotate";
    case Trigger::kEmergency: return "emergency";
    case Trigger::kSuspend: return "suspend";
    case Trigger::kResume: return "resume";
    case Trigger::kCompromise: return "compromise";
    case Trigger::kDestroy: return "destroy";
    case Trigger::kReconcile: return "reconcile";
    case Trigger::kDiscard: return "discard";
    case Trigger::kExtend: return "extend";
    case Trigger::kUsageLimit: return "usage_limit";
  }
  return "";
}

const std::vector<Transition>& transition_table() {
  using S = KeyState;
  using T = Trigger;
  static const std::vector<Transition> kTable = {
      // A pre-published key starts signing on schedule, when ops rotate, or in an emergency.
      {S::kPreActivation, S::kActive, {T::kSchedule, T::kRotate, T::kEmergency, T::kUsageLimit}},
      {S::kPreActivation, S::kCompromised, {T::kCompromise}},
      // Discarded before use: its window passed unused, or an emergency key replaced it.
      {S::kPreActivation, S::kRetired, {T::kDiscard, T::kEmergency}},
      {S::kActive, S::kSuspended, {T::kSuspend}},
      {S::kActive, S::kDeactivated, {T::kSchedule, T::kRotate, T::kEmergency, T::kUsageLimit}},
      {S::kActive, S::kCompromised, {T::kCompromise}},
      {S::kSuspended, S::kActive, {T::kResume}},
      {S::kSuspended, S::kDeactivated, {T::kSchedule, T::kRotate, T::kEmergency}},
      {S::kSuspended, S::kCompromised, {T::kCompromise}},
      {S::kDeactivated, S::kRetired, {T::kSchedule}},
      // The one way back to signing after a window ended: an operator's recorded extension, while
      // the key is still published (KeyService::extend bounds it to one sign_period).
      {S::kDeactivated, S::kActive, {T::kExtend}},
      {S::kDeactivated, S::kCompromised, {T::kCompromise}},
      {S::kRetired, S::kDestroyed, {T::kSchedule, T::kDestroy, T::kReconcile}},
      {S::kRetired, S::kCompromised, {T::kCompromise}},
      {S::kCompromised, S::kDestroyed, {T::kSchedule, T::kDestroy, T::kReconcile}},
      // Start-up repair: metadata whose HSM object is gone can only be recorded as destroyed.
      {S::kPreActivation, S::kDestroyed, {T::kReconcile}},
      {S::kActive, S::kDestroyed, {T::kReconcile}},
      {S::kSuspended, S::kDestroyed, {T::kReconcile}},
      {S::kDeactivated, S::kDestroyed, {T::kReconcile}},
  };
  return kTable;
}

Status check_transition(KeyState from, KeyState to, Trigger trigger) {
  for (const auto& t : transition_table()) {
    if (t.from == from && t.to == to) {
      if (std::find(t.triggers.begin(), t.triggers.end(), trigger) != t.triggers.end()) return Status::Ok();
      return FailedPrecondition("key cannot go from " + std::string(key_state_name(from)) + " to " +
                                    std::string(key_state_name(to)) + " by " + std::string(trigger_name(trigger)),
                                "transition_refused");
    }
  }
  return FailedPrecondition("no transition from " + std::string(key_state_name(from)) + " to " +
                                std::string(key_state_name(to)),
                            "transition_refused");
}

bool is_published(KeyState s) {
  return s == KeyState::kPreActivation || s == KeyState::kActive || s == KeyState::kSuspended ||
         s == KeyState::kDeactivated;
}

}  // namespace keymgr
