// Window arithmetic of one key: when it signs (activate_at .. deactivate_at), how long it stays
// published after (retire_at = deactivate_at + verify_grace) and when its HSM object goes
// (destroy_at = retire_at + destroy_after). All times are whole seconds. Pure functions.
#pragma once

#include "keymgr/keyset.h"

namespace keymgr {

// `t` truncated to its whole second.
TimePoint whole_second(TimePoint t);
// The end of a window cut at `now`: the end of the second `now` lies in, so a token signed
// earlier in that second (iat = that second) still lies inside its key's window; the state change
// already stops new signatures.
TimePoint end_of_second(TimePoint now);

// The full window of a key that signs from `activate_at` under `p`.
void set_window(Key& k, TimePoint activate_at, const Policy& p);
// Ends a key's signing window at `end` (never later than it was), keeping it published long
// enough for every token it may have signed. `end` is whole seconds.
void end_window(Key& k, TimePoint end, const Policy& p);
// A successor discarded before it ever signed: its window collapses to `at`.
void collapse_window(Key& k, TimePoint at, const Policy& p);

}  // namespace keymgr
