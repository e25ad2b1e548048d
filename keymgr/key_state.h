// The one table of allowed key-state transitions. Every state change in keymgr goes through
// check_transition(); anything not in the table is refused with a clear error.
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace keymgr {

// Who or what asks for a transition. Recorded with every transition.
enum class Trigger {
  kSchedule,    // the scheduler, because a key's time came
  kRotate,      // ops: rotate now (promote the pre-published key)
  kEmergency,   // ops or scheduler: emergency rotation (new key signs at once)
  kSuspend,     // ops
  kResume,      // ops
  kCompromise,  // ops: key leaked or suspected
  kDestroy,     // ops: destroy the HSM object now
  kReconcile,   // start-up repair: the HSM object is gone
  kDiscard,     // the scheduler: a successor's window passed before it ever signed
  kExtend,      // ops: let a deactivated, still-published key sign again (recorded, bounded)
  kUsageLimit,  // a key made its policy's max_signatures: it stops, its successor signs
};

std::string_view trigger_name(Trigger t);

struct Transition {
  KeyState from;
  KeyState to;
  std::vector<Trigger> triggers;
};

// The whole table (for docs and tests).
const std::vector<Transition>& transition_table();

// OK if `from -> to` is allowed for `trigger`; else kFailedPrecondition "transition_refused", with
// "key cannot go from <from> to <to> by <trigger>" when the pair is in the table for other
// triggers, and "no transition from <from> to <to>" when it is not in the table at all.
Status check_transition(KeyState from, KeyState to, Trigger trigger);

// States whose keys appear in the JWKS.
bool is_published(KeyState s);

}  // namespace keymgr
